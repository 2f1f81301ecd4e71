"""Which chart each rendered object comes from, when helm's ``# Source:`` lines are missing or odd.

Post-renderers: Helm 3 takes an executable; Helm 4 a ``postrenderer/v1`` plugin, and keeps the sources
of the objects itself (it names what the post-renderer added ``generated-by-postrender-<n>.yaml``).
"""
from __future__ import annotations

import pytest
from conftest import EXAMPLES, cm, rendered, write_chart

from helm_ac.analysis import graph as graphmod
from helm_ac.analysis import model
from helm_ac.analysis.lint import checks
from helm_ac.rendering import manifests
from helm_ac.rendering.chart import load_chart
from helm_ac.rendering.helm import HelmArgs

WORDPRESS = EXAMPLES / "wordpress"
STRIP = "#!/bin/sh\ngrep -v '^# Source:'\n"
# ... and rename the headless Service of the MariaDB subchart (it keeps its helm.sh/chart label), add a ConfigMap
STRIP_RENAME_ADD = ("#!/bin/sh\ngrep -v '^# Source:' | sed 's/^  name: wp-mariadb-headless$/  name: x-mariadb-headless/'\n"
                    "printf -- '---\\napiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: added\\n'\n")
PLUGIN_YAML = """apiVersion: v1
type: postrenderer/v1
name: strip-sources
version: 0.1.0
runtime: subprocess
runtimeConfig:
  platformCommand:
  - command: ${HELM_PLUGIN_DIR}/run.sh
"""


@pytest.fixture
def post_renderer(helm, tmp_path):
    """A post-renderer running ``script``, as each helm takes it: the flags to pass."""

    def make(script: str) -> list[str]:
        if helm.major == "3":
            exe = tmp_path / "post-render.sh"
            exe.write_text(script)
            exe.chmod(0o755)
            return ["--post-renderer", str(exe)]
        plugin = helm.home / "data" / "plugins" / "strip-sources"  # $HELM_DATA_HOME/plugins: where helm 4 looks
        plugin.mkdir(parents=True, exist_ok=True)
        (plugin / "plugin.yaml").write_text(PLUGIN_YAML)
        (plugin / "run.sh").write_text(script)
        (plugin / "run.sh").chmod(0o755)
        return ["--post-renderer", "strip-sources"]

    return make


def _nodes(cli, *args: str) -> dict[str, tuple]:
    r = cli("graph", "wp", str(WORDPRESS), "-o", "json", *args)
    assert r.code == 0, r.out + r.err
    return {n["id"]: (tuple(n["chart"]), n.get("file"), n["level"]) for n in r.json()["nodes"]}


@pytest.mark.helm
def test_post_renderer_dropping_sources_keeps_charts_templates_and_order(cli, helm, post_renderer):
    flags = post_renderer(STRIP)
    plain = _nodes(cli)
    assert plain["deployment/wp-wordpress"][2] > plain["statefulset/wp-mariadb"][2]
    assert _nodes(cli, *flags) == plain
    r = cli("lint", str(WORDPRESS), *flags, "-o", "json")
    chart = r.json()["charts"][0]
    plain_lint = cli("lint", str(WORDPRESS), "-o", "json").json()["charts"][0]
    assert r.code == 0 and chart["findings"] == [] and chart["dependencies"] == plain_lint["dependencies"]
    # helm 3 loses the sources and helm-ac renders once more; helm 4 keeps them through its post-renderer
    assert bool(chart["notes"]) is (helm.major == "3")
    r = cli("lint", str(WORDPRESS), *flags, "--post-renderer-args", "--ignored", "-o", "json")
    assert r.code == 0 and r.json()["charts"][0]["findings"] == []


@pytest.mark.helm
def test_objects_renamed_or_added_by_the_post_renderer(cli, helm, post_renderer, tmp_path):
    flags = post_renderer(STRIP_RENAME_ADD)
    nodes = _nodes(cli, *flags)
    assert nodes["service/x-mariadb-headless"][0] == ("wordpress", "mariadb")  # by its helm.sh/chart label
    assert nodes["configmap/added"][0] == ("wordpress",)  # nothing tells: the top-level chart, with a warning
    r = cli("lint", str(WORDPRESS), *flags, "-o", "json")
    findings = r.json()["charts"][0]["findings"]
    assert r.code == 0 and [(f["rule"], f["object"]) for f in findings] == [("unattributed-object", "configmap/added")]
    assert "post-renderer" in findings[0]["message"] and "helm.sh/chart" in findings[0]["hint"]
    assert cli("lint", str(WORDPRESS), *flags, "--strict").code == 1
    for fmt in ("appcontroller", "plain"):  # every object is written, the added one where Helm 4 puts it
        out = tmp_path / fmt
        r = cli("template", "wp", str(WORDPRESS), *flags, "--format", fmt, "--output-dir", str(out))
        assert r.code == 0, r.err
        [added] = [p for p in out.rglob("generated-by-postrender*.yaml")]
        assert added.parent == out and "name: added" in added.read_text()


# ------------------------------------------------------------------ pure

def _analyze(chart_dir, text):
    chart = load_chart(chart_dir)
    a = model.analyze(manifests.split(text), chart, "default")
    return a, checks.run_all(a, graphmod.collect(a), str(chart_dir))


def test_helm3_path_of_a_subchart_under_an_aliased_chart_maps_to_the_last_alias(tmp_path):
    c = write_chart(tmp_path, "top", {"t.yaml": cm("top")}, chart_yaml=(
        "dependencies:\n- name: redis\n  version: 0.1.0\n  alias: queue\n- name: redis\n  version: 0.1.0\n"
        "  alias: cache\n"),
        subcharts={"redis": {"templates": {"r.yaml": cm("r")},
                             "subcharts": {"sentinel": {"templates": {"s.yaml": cm("s")}}}}})
    text = rendered(("top/charts/redis/charts/sentinel/templates/s.yaml", cm("s")),  # as helm 3.17 prints it
                    ("top/charts/cache/templates/r.yaml", cm("r-c")), ("top/templates/t.yaml", cm("top")))
    a, findings = _analyze(c, text)
    info = next(i for k, i in a.objects.items() if k.name == "s")
    assert info.obj.chart == ("top", "cache", "sentinel") and info.obj.chart_file == \
        "charts/cache/charts/sentinel/templates/s.yaml"
    assert ("top", "redis") not in a.charts and findings == []


def test_objects_without_source(tmp_path):
    def labelled(text: str, chart: str) -> str:
        return text.replace("metadata:\n", f"metadata:\n  labels:\n    helm.sh/chart: {chart}\n")

    c = write_chart(tmp_path, "app", {"a.yaml": cm("a")}, subcharts={"db": {"templates": {"d.yaml": cm("d")}}})
    text = ("---\n" + labelled(cm("a", {"appcontroller.k8s/depends-on": "chart:db"}), "app-0.1.0")
            + "---\n" + labelled(cm("d"), "db-0.1.0-rc.1")
            + "---\n" + cm("stray"))
    a, findings = _analyze(c, text)
    charts = {k.name: i.obj.chart for k, i in a.objects.items()}
    assert charts == {"a": ("app",), "d": ("app", "db"), "stray": ("app",)}
    assert [(f.rule, f.object) for f in findings] == [("unattributed-object", "configmap/stray")]
    # the chart:db reference resolves (it used to name a chart "" + "db")
    assert a.objects[next(k for k in a.objects if k.name == "a")].references[0].chart_target == ("app", "db")
    # a chart without subcharts: every object belongs to it, nothing to report
    single = write_chart(tmp_path / "single", "one", {"a.yaml": cm("a")})
    a, findings = _analyze(single, "---\n" + cm("a") + "---\n" + cm("stray"))
    assert {i.obj.chart for i in a.objects.values()} == {("one",)} and findings == []


def test_attribute_from_a_render_without_the_post_renderer():
    ns = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: elsewhere\n"
    post = manifests.split("---\n" + cm("a") + "---\n" + ns + "---\n" + cm("new"))
    plain = manifests.split(rendered(("app/templates/a.yaml", cm("a")), ("app/charts/db/templates/b.yaml", cm("b"))))
    left = manifests.attribute_from(post, plain)
    assert [(o.key.name, o.chart, o.template) for o in post.objects] == [
        ("a", ("app",), "templates/a.yaml"), ("b", ("app", "db"), "templates/b.yaml"), ("new", ("",), "")]
    assert [o.key.name for o in left] == ["new"]


def test_without_post_renderer():
    from helm_ac.actions.render import without_post_renderer

    args = HelmArgs(("c",), ("--post-renderer", "x", "--set", "a=1", "--post-renderer-args", "-v",
                             "--post-renderer-args=--w", "--post-renderer=y", "--skip-crds"))
    assert without_post_renderer(args) == HelmArgs(("c",), ("--set", "a=1", "--skip-crds"))


def test_only_the_documents_of_a_crds_file_share_its_source_line():
    crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: {}\n"
    text = ("---\n# Source: app/charts/op/crds/c.yaml\n" + crd.format("xs.e.com") + "---\n" + crd.format("ys.e.com")
            + "---\n# Source: app/templates/a.yaml\n" + cm("a") + "---\n" + cm("added-by-a-post-renderer"))
    got = [(o.key.name, o.source) for o in manifests.split(text).objects]
    assert got == [("xs.e.com", "app/charts/op/crds/c.yaml"), ("ys.e.com", "app/charts/op/crds/c.yaml"),
                   ("a", "app/templates/a.yaml"), ("added-by-a-post-renderer", "")]


def test_an_object_without_source_whose_body_does_not_parse(tmp_path):
    """Its labels cannot be read: placed in the top-level chart, not a crash (the body error is another rule's)."""
    c = write_chart(tmp_path, "app", {"a.yaml": cm("a")}, subcharts={"db": {"templates": {"d.yaml": cm("d")}}})
    a, findings = _analyze(c, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: {a: [}\n")
    assert [i.obj.chart for i in a.objects.values()] == [("app",)]
    assert ("unattributed-object", "configmap/x") in [(f.rule, f.object) for f in findings]
