"""`helm ac template`, `helm ac graph` and `helm ac crds` through real helm 3 and 4."""
import json
import shutil
import subprocess
import sys

import jsonschema
import networkx as nx
import pytest
import yaml
from conftest import EXAMPLES, ROOT, HelmEnv

from helm_ac.analysis.keys import Keys
from helm_ac.output import crds

pytestmark = pytest.mark.helm
WP = str(EXAMPLES / "wordpress")


def docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


def test_template_is_deterministic(cli, helm):
    a = cli("template", "wp", WP)
    b = cli("template", "wp", WP)
    assert a.code == 0 and a.out == b.out, a.err
    assert a.out.startswith("---\n# Source: wordpress/")


@pytest.mark.parametrize("argv,marker", [
    (("template", "wp", WP), "kind: Definition"),
    (("graph", "wp", WP, "-o", "json"), '"deployment/wp-wordpress"'),
    (("template", "wp", WP, "--format", "argocd"), "argocd.argoproj.io/sync-wave"),
], ids=["template", "graph", "argocd"])
def test_the_same_on_both_helms(helm_binaries, tmp_path, argv, marker):
    """Helm 3 and Helm 4 render the example alike, so helm-ac's output must be byte-identical."""
    outs = {}
    for major, binary in sorted(helm_binaries.items()):
        env = HelmEnv(major, binary, tmp_path / f"helm{major}").env
        p = subprocess.run([sys.executable, "-m", "helm_ac", *argv], capture_output=True, text=True, cwd=ROOT, env=env,
                           timeout=300)
        assert p.returncode == 0, p.stderr
        outs[major] = p.stdout
    assert len(outs) == 2 and marker in outs["3"]
    assert outs["3"] == outs["4"]


def test_wordpress_follows_mariadb(cli):
    out = docs(cli("template", "wp", WP).out)
    deps = [d for d in out if d["kind"] == "Dependency"]
    g = nx.DiGraph((d["parent"], d["child"]) for d in deps)
    assert nx.has_path(g, "statefulset/wp-mariadb", "deployment/wp-wordpress")
    assert nx.has_path(g, "secret/wp-mariadb", "service/wp-wordpress")
    assert not nx.has_path(g, "deployment/wp-wordpress", "statefulset/wp-mariadb")
    assert nx.is_directed_acyclic_graph(g)
    # barriers instead of a cross product: 4 MariaDB objects x 6 WordPress objects would be 24 edges
    assert len(deps) < 20 and any(d["parent"].startswith("void/") for d in deps)


def test_definitions_and_dependencies_follow_appcontroller_and_our_crds(cli):
    out = docs(cli("template", "wp", WP).out)
    defs = [d for d in out if d["kind"] == "Definition"]
    deps = [d for d in out if d["kind"] == "Dependency"]
    assert len(defs) == 11 and {d["apiVersion"] for d in defs + deps} == {"appcontroller.k8s/v1alpha1"}
    dep_schema, def_schema = crds.schema_of("Dependency"), crds.schema_of("Definition")
    for d in defs:
        jsonschema.validate(d, def_schema)
        [kind_key] = [k for k in d if k not in ("apiVersion", "kind", "metadata", "meta", "payload")]
        assert d[kind_key]["kind"].lower() == kind_key
        assert d["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "helm-ac", "appcontroller.k8s/release": "wp",
                                           "app.kubernetes.io/instance": "wp"}
    for d in deps:
        jsonschema.validate(d, dep_schema)
    names = [d["metadata"]["name"] for d in defs + deps]
    assert len(names) == len(set(names))
    sts = next(d for d in defs if d["metadata"]["name"] == "statefulset-wp-mariadb")
    assert sts["meta"]["timeout"] == 300  # appcontroller.k8s/timeout: "5m"
    test_pod = [d for d in out if d["kind"] == "Pod"]
    assert len(test_pod) == 1  # the helm test hook stays as helm rendered it


def test_the_release_graph_names_the_digest_every_definition_and_dependency_carries(cli):
    """The ReleaseGraph (last, named as the release) counts the graph's Definitions and Dependencies,
    each of which carries its digest; a change to one object's content changes the digest; hooks
    carry nothing."""
    from helm_ac.output import appcontroller

    out = docs(cli("template", "wp", WP).out)
    rg = out[-1]
    assert rg["kind"] == "ReleaseGraph" and rg["metadata"]["name"] == "wp"
    assert rg["metadata"]["labels"] == appcontroller.labels("wp")
    jsonschema.validate(rg, crds.schema_of("ReleaseGraph"))
    defs = [d for d in out if d["kind"] == "Definition"]
    deps = [d for d in out if d["kind"] == "Dependency"]
    assert (rg["spec"]["definitions"], rg["spec"]["dependencies"]) == (len(defs), len(deps)) == (11, len(deps))
    digest = rg["spec"]["digest"]
    assert len(digest) == 64 and digest != appcontroller.DIGEST_PLACEHOLDER
    assert {d["metadata"]["annotations"][appcontroller.GRAPH_ANNOTATION] for d in defs + deps} == {digest}
    assert all(appcontroller.GRAPH_ANNOTATION not in (d["metadata"].get("annotations") or {})
               for d in out if d["kind"] == "Pod")  # the test hook
    changed = docs(cli("template", "wp", WP, "--set", "replicaCount=2").out)
    assert changed[-1]["spec"]["digest"] != digest
    assert docs(cli("template", "wp", WP).out)[-1]["spec"]["digest"] == digest


@pytest.mark.parametrize("name", ["wordpress", "migrations", "crd-operator", "interop"])
def test_every_emitted_object_validates(cli, name):
    """Kubernetes objects against Kubernetes 1.30's schemas (kubernetes-validate, offline), custom resources
    against their CRD in the chart, Definitions and Dependencies against our CRDs."""
    import kubernetes_validate as kv

    chart = str(EXAMPLES / name)
    plain = docs(cli("template", "rel", chart, "--format", "plain").out)
    crd_schemas = {(c["spec"]["group"], c["spec"]["names"]["kind"]): c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
                   for c in plain if c["kind"] == "CustomResourceDefinition"}
    for d in plain:
        group = d["apiVersion"].rsplit("/", 1)[0] if "/" in d["apiVersion"] else ""
        if d["apiVersion"].startswith("appcontroller.k8s/"):
            jsonschema.validate(d, crds.schema_of(d["kind"]))
        elif (group, d["kind"]) in crd_schemas:
            jsonschema.validate(d, crd_schemas[(group, d["kind"])])
        else:
            kv.validate(d, "1.30", strict=True)
    for d in docs(cli("template", "rel", chart).out):
        if d["apiVersion"].startswith("appcontroller.k8s/"):
            jsonschema.validate(d, crds.schema_of(d["kind"]))
    for c in docs(cli("crds").out):
        kv.validate(c, "1.30", strict=True)


def test_plain_format_is_helms_output_then_dependencies(cli, helm):
    ours = cli("template", "wp", WP, "--format", "plain").out
    helms = helm.run("template", "wp", WP, "--include-crds").stdout
    assert ours.startswith(helms.rstrip("\n") + "\n")
    rest = docs(ours[len(helms.rstrip("\n")):])
    assert rest and {d["kind"] for d in rest} == {"Dependency"}


def test_output_dir(cli, tmp_path):
    r = cli("template", "wp", WP, "--output-dir", str(tmp_path / "out"))
    assert r.code == 0 and "wrote" in r.out
    deps = tmp_path / "out" / "wordpress" / "appcontroller" / "dependencies.yaml"
    sts = tmp_path / "out" / "wordpress" / "charts" / "mariadb" / "templates" / "statefulset.yaml"
    assert deps.exists() and sts.exists()
    assert docs(sts.read_text())[0]["kind"] == "Definition"
    r = cli("template", "wp", WP, "--format", "plain", "--output-dir", str(tmp_path / "plain"))
    assert docs((tmp_path / "plain" / "wordpress" / "charts" / "mariadb" / "templates" / "statefulset.yaml")
                .read_text())[0]["kind"] == "StatefulSet"


def test_output_dir_that_cannot_be_written_is_named(cli, tmp_path):
    """A file where a chart's directory must go was an internal error (NotADirectoryError, exit 3)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "wordpress").write_text("in the way\n")
    r = cli("template", "wp", WP, "--output-dir", str(out))
    assert r.code == 2 and r.out == "" and "internal error" not in r.err
    assert f"Error: --output-dir {out}/wordpress/" in r.err and ": cannot write the file: Not a directory" in r.err


def test_template_refuses_a_chart_with_errors(cli):
    r = cli("template", "x", str(EXAMPLES / "broken" / "cycle"))
    assert r.code == 1 and r.out == "" and "dependency-cycle" in r.err and "nothing was emitted" in r.err


def test_template_needs_a_release_name_with_generate_name(cli):
    r = cli("template", WP, "--generate-name")
    assert r.code == 2 and "release name" in r.err


def test_implicit_rules_can_be_switched_off(cli):
    chart = str(EXAMPLES / "crd-operator")
    with_rules = docs(cli("template", "x", chart).out)
    without = docs(cli("template", "x", chart, "--implicit", "none").out)
    reasons = {d["metadata"]["annotations"]["appcontroller.k8s/reason"] for d in with_rules if d["kind"] == "Dependency"}
    assert "implicit-crd" in ",".join(reasons)
    assert "implicit-crd" not in ",".join(d["metadata"]["annotations"]["appcontroller.k8s/reason"]
                                          for d in without if d["kind"] == "Dependency")
    assert cli("template", "x", chart, "--implicit", "bogus").code == 2


def test_graph_text_and_critical_path(cli):
    r = cli("graph", "wp", WP)
    assert r.code == 0
    assert "critical path (3m2s" in r.out
    assert "deployment/wp-wordpress" in r.out and "waits for configmap/wp-wordpress, secret/wp-wordpress, all of mariadb" in r.out
    r = cli("graph", "wp", WP, "--estimate", "StatefulSet=10m", "--estimate", "deployment/wp-wordpress=30s")
    assert "critical path (10m32s" in r.out


def test_graph_estimates_file_and_bad_estimates(cli, tmp_path):
    f = tmp_path / "est.yaml"
    f.write_text("StatefulSet: 1m\nDeployment: 2m\n")
    assert "critical path (3m2s" in cli("graph", "wp", WP, "--estimates", str(f)).out
    r = cli("graph", "wp", WP, "--estimate", "Deployment=soon")
    assert r.code == 2 and "not a duration" in r.err


def test_graph_json(cli):
    doc = json.loads(cli("graph", "wp", WP, "-o", "json").out)
    assert doc["version"] == 1 and doc["release"] == "wp" and doc["chart"] == "wordpress"
    ids = {n["id"] for n in doc["nodes"]}
    assert all(e["parent"] in ids and e["child"] in ids for e in doc["edges"])
    assert doc["criticalPath"]["seconds"] == 182
    assert doc["criticalPath"]["nodes"][0] == "configmap/wp-mariadb"
    dep = next(n for n in doc["nodes"] if n["id"] == "deployment/wp-wordpress")
    assert dep["kind"] == "Deployment" and dep["file"] == "templates/deployment.yaml" and dep["level"] == 4


def test_graph_dot_and_mermaid(cli, tmp_path):
    dot = cli("graph", "wp", WP, "-o", "dot").out
    assert dot.startswith('digraph "wp" {') and dot.rstrip().endswith("}") and "color=red" in dot
    mermaid = cli("graph", "wp", WP, "-o", "mermaid").out
    assert mermaid.startswith("flowchart LR") and "-->" in mermaid and "linkStyle" in mermaid
    svg = tmp_path / "g.svg"
    r = cli("graph", "wp", WP, "--svg", str(svg))
    if shutil.which("dot"):
        assert r.code == 0 and svg.read_text().lstrip().startswith(("<?xml", "<svg"))
    else:
        assert r.code == 2 and "Graphviz" in r.err


def test_crds_command(cli):
    out = docs(cli("crds").out)
    assert [c["metadata"]["name"] for c in out] == ["definitions.appcontroller.k8s", "dependencies.appcontroller.k8s",
                                                    "releasegraphs.appcontroller.k8s"]


@pytest.mark.parametrize("name", ["wordpress", "migrations", "crd-operator", "interop"])
def test_embedded_definitions_equal_dumped_ones(helm, name):
    """The fast path (rendered text embedded under the kind key) says exactly what the dict says."""
    from helm_ac.analysis import graph, model
    from helm_ac.output import appcontroller
    from helm_ac.rendering import manifests

    out = helm.run("template", "rel", str(EXAMPLES / name), "--include-crds").stdout
    a = model.analyze(manifests.split(out), None, "default")
    keys = Keys(a, "rel")
    for key in a.order:
        assert yaml.safe_load(appcontroller.definition_text(a, key, keys)) == appcontroller.definition(a, key, keys)
    for dep in appcontroller.dependencies(a, graph.build(a), keys):
        assert yaml.safe_load(appcontroller.dependency_text(dep)) == dep
