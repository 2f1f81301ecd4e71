"""The example charts, linted through real helm 3 and 4: clean ones are clean, broken ones break as documented."""
import pytest
from conftest import EXAMPLES

pytestmark = pytest.mark.helm

CLEAN = ["wordpress", "migrations", "crd-operator"]

# (rule, object, file) per broken chart; see examples/charts/broken/README.md
BROKEN = {
    "refs": {
        ("unresolved-reference", "configmap/payments-config", "templates/configmap.yaml"),
        ("self-dependency", "deployment/payments", "templates/deployment.yaml"),
        ("invalid-reference", "ingress/payments", "templates/ingress.yaml"),
        ("unresolved-reference", "poddisruptionbudget/payments", "templates/pdb.yaml"),
        ("unresolved-reference", "service/payments-api", "templates/service.yaml"),
    },
    "values": {
        ("invalid-annotation-value", "deployment/reports", "templates/deployment.yaml"),
        ("non-string-annotation", "deployment/reports", "templates/deployment.yaml"),
        ("unknown-annotation", "job/reports-warmup", "templates/job.yaml"),
        ("invalid-annotation-value", "job/reports-warmup", "templates/job.yaml"),
        ("invalid-annotation-value", "persistentvolumeclaim/reports-data", "templates/pvc.yaml"),
    },
    "cycle": {
        ("dependency-cycle", "statefulset/cache", "charts/cache/templates/statefulset.yaml"),
        ("dependency-cycle", "deployment/api", "templates/deployments.yaml"),
    },
    "disabled-subchart": {
        ("disabled-subchart-reference", None, "Chart.yaml"),
        ("disabled-subchart-reference", "deployment/dashboard", "templates/deployment.yaml"),
        ("unknown-subchart-reference", "deployment/dashboard", "templates/deployment.yaml"),
    },
    "hooks": {
        ("duplicate-object", "configmap/inventory-config", "templates/configmap.yaml"),
        ("hook-reference", "deployment/inventory", "templates/deployment.yaml"),
        ("hook-annotations-ignored", "job/db-init", "templates/job-db-init.yaml"),
    },
}


@pytest.mark.parametrize("name", CLEAN)
def test_examples_are_clean(cli, name):
    r = cli("lint", str(EXAMPLES / name), "--strict")
    assert r.code == 0, r.out + r.err
    assert "no problems" in r.out


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_examples_report_what_their_readme_says(cli, name):
    r = cli("lint", str(EXAMPLES / "broken" / name), "-o", "json")
    assert r.code == 1, r.out + r.err
    findings = r.json()["charts"][0]["findings"]
    assert {(f["rule"], f["object"], f["file"]) for f in findings} == BROKEN[name]
    assert all(f["line"] for f in findings), findings
    assert _readme_table(name) == {(f["rule"], f["severity"], f["object"], f["file"]) for f in findings}


def _readme_table(name):
    """(rule, severity, object, file) of the rows of the README's table for one broken chart."""
    readme = (EXAMPLES / "broken" / "README.md").read_text()
    section = readme.split(f"\n## {name}/\n", 1)[1].split("\n## ", 1)[0]
    rows = set()
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) >= 4:
            rows.add((cells[0], cells[1], None if cells[2] == "(chart)" else cells[2], cells[3]))
    return rows


def test_wordpress_waits_for_mariadb_and_without_it_does_not(cli):
    r = cli("lint", str(EXAMPLES / "wordpress"), "-o", "json")
    with_db = r.json()["charts"][0]
    r = cli("lint", str(EXAMPLES / "wordpress"), "--set", "mariadb.enabled=false", "-o", "json")
    without = r.json()["charts"][0]
    assert r.code == 0 and without["objects"] < with_db["objects"] and not without["findings"]


def test_examples_stay_plain_helm_charts(helm):
    """`helm lint` and `helm template` accept every example unchanged, deterministically."""
    for chart in [EXAMPLES / n for n in CLEAN] + [EXAMPLES / "broken" / n for n in BROKEN]:
        lint = helm.run("lint", str(chart), check=False)
        assert lint.returncode == 0, lint.stdout + lint.stderr
        a = helm.run("template", str(chart), "--include-crds").stdout
        assert a == helm.run("template", str(chart), "--include-crds").stdout
