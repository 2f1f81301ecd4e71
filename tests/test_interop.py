"""Other tools' ordering annotations in, and the graph exported to other tools."""
import networkx as nx
import pytest
import yaml
from conftest import EXAMPLES, cm, rendered, write_chart

from helm_ac.analysis import graph, model
from helm_ac.analysis.graph import Barrier
from helm_ac.analysis.lint import checks
from helm_ac.extension import interop
from helm_ac.extension.refs import RefSyntaxError
from helm_ac.kinds import ObjectKey
from helm_ac.rendering import manifests
from helm_ac.rendering.chart import load_chart


def analyze(*docs, chart=None):
    a = model.analyze(manifests.split(rendered(*docs)), chart, "default")
    return a, graph.build(a), None


def lint(*docs, chart=None):
    a, _, _ = analyze(*docs, chart=chart)
    return checks.run_all(a, graph.collect(a), "c")


def K(kind, name, group=""):
    return ObjectKey(group, kind, "default", name)


@pytest.mark.parametrize("text,expected", [
    ("apps/namespaces/default/StatefulSet/db", ("statefulset", "db", "apps", "default")),
    ("/namespaces/prod/ConfigMap/cfg", ("configmap", "cfg", "", "prod")),
    ("rbac.authorization.k8s.io/ClusterRole/reader", ("clusterrole", "reader", "rbac.authorization.k8s.io", None)),
])
def test_cli_utils_references(text, expected):
    r = interop.parse_cli_utils(text)
    assert (r.kind, r.name, r.group, r.namespace) == expected


@pytest.mark.parametrize("text", ["StatefulSet/db", "apps/namespace/default/StatefulSet/db", "a/b/c/d/e/f"])
def test_bad_cli_utils_references(text):
    with pytest.raises(RefSyntaxError, match="is not a cli-utils object reference"):
        interop.parse_cli_utils(text)


def test_werf_references():
    ref, state = interop.parse_werf("state=present,kind=StatefulSet,name=postgres,namespace=db,group=apps")
    assert (ref.kind, ref.name, ref.namespace, ref.group, state) == ("statefulset", "postgres", "db", "apps", "present")
    for bad, reason in (("kind=Deployment", "needs kind= and name="), ("state=gone,kind=A,name=b", "has state='gone'"),
                        ("kind=A,name=b,colour=red", "has unknown field 'colour'"), ("kind=A name=b", "needs kind= and name="),
                        ("kind=A,name", "has 'name' without '='")):
        with pytest.raises(RefSyntaxError) as e:
            interop.parse_werf(bad)
        assert reason in e.value.reason, (bad, e.value.reason)


def test_foreign_annotations_become_edges():
    a, g, _ = analyze(
        ("c/templates/db.yaml", cm("db", {"helm.sh/resource-group": "database"})),
        ("c/templates/s.yaml", cm("s", {"helm.sh/resource-group": "database"})),
        ("c/templates/m.yaml", cm("m", {"helm.sh/depends-on/resource-groups": '["database"]'})),
        ("c/templates/k.yaml", cm("k", {"config.kubernetes.io/depends-on": "/namespaces/default/ConfigMap/m"})),
        ("c/templates/w.yaml", cm("w", {"werf.io/deploy-dependency-k": "state=present,kind=ConfigMap,name=k"})))
    grp = Barrier("group:database", ("c",))
    assert g.has_edge(K("ConfigMap", "db"), grp) and g.has_edge(grp, K("ConfigMap", "m"))
    assert nx.has_path(g, K("ConfigMap", "s"), K("ConfigMap", "w"))
    assert [w.gate for w in g[K("ConfigMap", "k")][K("ConfigMap", "w")]["why"]] == ["present"]
    assert [w.rule for w in g[K("ConfigMap", "m")][K("ConfigMap", "k")]["why"]] == ["config.kubernetes.io/depends-on"]


def test_foreign_annotations_are_linted():
    fs = lint(("c/templates/db.yaml", cm("db", {"helm.sh/resource-group": "database"})),
              ("c/templates/m.yaml", cm("m", {"helm.sh/depends-on/resource-groups": '["databse"]'})),
              ("c/templates/x.yaml", cm("x", {"helm.sh/depends-on/resource-groups": "database"})),
              ("c/templates/k.yaml", cm("k", {"config.kubernetes.io/depends-on": "/namespaces/default/Secret/m"})),
              ("c/templates/w.yaml", cm("w", {"werf.io/deploy-dependency-a": "state=ready,kind=ConfigMap"})))
    by_rule = {}
    for f in fs:
        by_rule.setdefault(f.rule, []).append(f)
    [group] = [f for f in by_rule["unresolved-reference"] if "resource group" in f.message]
    assert "did you mean 'database'?" in group.message
    [cu] = [f for f in by_rule["unresolved-reference"] if f.object == "configmap/k"]
    assert cu.message.startswith("config.kubernetes.io/depends-on /namespaces/default/Secret/m: no such object")
    assert "did you mean configmap/m?" in cu.message
    invalid = {f.object for f in by_rule["invalid-reference"]}
    assert invalid == {"configmap/x", "configmap/w"}
    assert {f.object for f in by_rule["invalid-annotation-key"]} == {"configmap/m", "configmap/x"}
    # helm ac does not install (yet): the hint names what strips the key
    assert all("helm ac template" in f.hint and "installs" not in f.hint for f in by_rule["invalid-annotation-key"])


def test_hip_chart_annotations(tmp_path):
    d = write_chart(tmp_path, "top", {}, chart_yaml=(
        "annotations:\n  helm.sh/depends-on/subcharts: '[\"db\"]'\n"
        "dependencies:\n- name: db\n  version: 0.1.0\n- name: cache\n  version: 0.1.0\n"
        "- name: app\n  version: 0.1.0\n  depends-on: [db, cache]\n"),
        subcharts={"db": {"templates": {}}, "cache": {"templates": {}}, "app": {"templates": {}}})
    a, g, _ = analyze(("top/templates/t.yaml", cm("t")), ("top/charts/db/templates/d.yaml", cm("d")),
                      ("top/charts/cache/templates/c.yaml", cm("c")), ("top/charts/app/templates/a.yaml", cm("a")),
                      chart=load_chart(d))
    assert nx.has_path(g, K("ConfigMap", "d"), K("ConfigMap", "t"))
    assert not nx.has_path(g, K("ConfigMap", "c"), K("ConfigMap", "t"))  # waits for db only
    assert nx.has_path(g, K("ConfigMap", "c"), K("ConfigMap", "a")) and nx.has_path(g, K("ConfigMap", "d"),
                                                                                    K("ConfigMap", "a"))
    d2 = write_chart(tmp_path / "bad", "top", {}, chart_yaml=(
        "annotations:\n  helm.sh/depends-on/subcharts: 'db'\n"), subcharts={"db": {"templates": {}}})
    fs = lint(("top/templates/t.yaml", cm("t")), ("top/charts/db/templates/d.yaml", cm("d")), chart=load_chart(d2))
    assert [f.rule for f in fs] == ["invalid-chart-annotation"]


# ------------------------------------------------------------- through helm

INTEROP = str(EXAMPLES / "interop")


def docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.mark.helm
def test_interop_example_lints_with_one_warning(cli):
    r = cli("lint", INTEROP, "-o", "json")
    assert r.code == 0
    assert [f["rule"] for f in r.json()["charts"][0]["findings"]] == ["invalid-annotation-key"]
    assert cli("lint", INTEROP, "--strict").code == 1


@pytest.mark.helm
def test_interop_example_orders_and_strips_the_invalid_key(cli):
    out = docs(cli("template", "shop", INTEROP).out)
    for d in out:
        if d["kind"] == "Definition":
            [body] = [v for k, v in d.items() if k not in ("apiVersion", "kind", "metadata", "meta", "payload")]
            assert "helm.sh/depends-on/resource-groups" not in (body["metadata"].get("annotations") or {})
    deps = [d for d in out if d["kind"] == "Dependency"]
    g = nx.DiGraph((d["parent"], d["child"]) for d in deps)
    assert nx.has_path(g, "statefulset/shop-db", "job/shop-migrate")
    assert nx.has_path(g, "job/shop-migrate", "deployment/shop-api")
    assert nx.has_path(g, "statefulset/shop-queue", "statefulset/shop-db")
    present = [d for d in deps if d.get("meta", {}).get("gate") == "present"]
    assert [(d["parent"], d["child"]) for d in present] == [("configmap/shop-api", "deployment/shop-api")]


@pytest.mark.helm
def test_export_to_argocd_waves(cli):
    objs = docs(cli("template", "shop", INTEROP, "--format", "argocd").out)
    wave = {o["metadata"]["name"] + "/" + o["kind"]: int(o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
            for o in objs}
    assert wave["shop-queue/StatefulSet"] < wave["shop-db/StatefulSet"] < wave["shop-migrate/Job"] \
        < wave["shop-api/Deployment"]
    assert all("helm.sh/depends-on/resource-groups" not in o["metadata"]["annotations"] for o in objs)
    assert not [o for o in objs if o["kind"] == "Dependency"]


@pytest.mark.helm
def test_export_to_cli_utils_round_trips(cli):
    objs = docs(cli("template", "shop", INTEROP, "--format", "cli-utils").out)
    api = next(o for o in objs if o["kind"] == "Deployment")
    refs = api["metadata"]["annotations"]["config.kubernetes.io/depends-on"].split(",")
    assert "batch/namespaces/default/Job/shop-migrate" in refs and "/namespaces/default/ConfigMap/shop-api" in refs
    for ref in refs:
        interop.parse_cli_utils(ref)  # what we write, cli-utils' grammar reads
    assert all("helm.sh/depends-on/resource-groups" not in (o["metadata"].get("annotations") or {}) for o in objs)



@pytest.mark.parametrize("value", ['["database", ""]', "[1]", '"database"', "[database]"])
def test_hip_group_lists_must_be_json_lists_of_names(value):
    with pytest.raises(ValueError, match="is not a JSON list of strings"):
        interop.json_string_list(value)


def test_werf_skips_empty_fields_and_checks_kind_and_name():
    ref, state = interop.parse_werf("kind=ConfigMap,, name=a ,")
    assert (ref.kind, ref.name, state) == ("configmap", "a", "ready")
    for bad in ("kind=ConfigMap,name=-a", "kind=ConfigMap,name=a b", "kind=Config-Map,name=a"):
        with pytest.raises(RefSyntaxError, match="has an invalid kind or name"):
            interop.parse_werf(bad)


def test_cli_utils_lists_are_split_on_commas_and_trimmed():
    [r1, r2] = interop.foreign_references({interop.CLI_UTILS_DEPENDS_ON:
                                           " /namespaces/default/ConfigMap/a , /namespaces/default/ConfigMap/b,"})
    assert (r1.text, r1.ref.name, r2.text, r2.ref.name) == ("/namespaces/default/ConfigMap/a", "a",
                                                            "/namespaces/default/ConfigMap/b", "b")
    assert r1.error is None and r2.error is None
