"""Graph views and exports on the pure core: exact levels, waves, critical path and "waits for" lines."""
from conftest import cm, rendered, write_chart

from helm_ac.analysis import graph, model
from helm_ac.analysis.estimates import Estimates
from helm_ac.analysis.keys import Keys
from helm_ac.kinds import ObjectKey
from helm_ac.output import exports, views
from helm_ac.rendering import manifests
from helm_ac.rendering.chart import load_chart

DEP = "appcontroller.k8s/depends-on"


def _chart_with_subchart(tmp_path):
    """top: a → b, c alone, and top's own objects wait for subchart db (s1 → s2)."""
    d = write_chart(tmp_path, "top", {}, subcharts={"db": {"templates": {}}})
    text = rendered(("top/charts/db/templates/s.yaml", cm("s1")),
                    ("top/charts/db/templates/s.yaml", cm("s2", {DEP: "configmap/s1"})),
                    ("top/templates/a.yaml", cm("a")),
                    ("top/templates/b.yaml", cm("b", {DEP: "configmap/a"})),
                    ("top/templates/c.yaml", cm("c")))
    a = model.analyze(manifests.split(text), load_chart(d), "default")
    return a, graph.build(a)


def _key(name):
    return ObjectKey("", "ConfigMap", "default", name)


def test_levels_count_objects_not_barriers(tmp_path):
    a, g = _chart_with_subchart(tmp_path)
    v = views.GraphView(a, g, Keys(a, "r"), Estimates())
    assert {k.name: v.level[k] for k in v.objects()} == {"s1": 1, "s2": 2, "a": 3, "c": 3, "b": 4}


def test_argocd_waves_start_at_zero_and_follow_levels(tmp_path):
    a, g = _chart_with_subchart(tmp_path)
    waves = exports.annotations(a, g, Keys(a, "r"), "argocd")
    by_name = {a.objects[k].obj.key.name: int(waves[a.objects[k].obj.index][exports.ARGOCD_WAVE]) for k in a.order}
    assert by_name == {"s1": 0, "s2": 1, "a": 2, "c": 2, "b": 3}


def test_cli_utils_depends_on_looks_through_barriers(tmp_path):
    a, g = _chart_with_subchart(tmp_path)
    out = exports.annotations(a, g, Keys(a, "r"), "cli-utils")
    deps = {a.objects[k].obj.key.name: out.get(a.objects[k].obj.index, {}).get(exports.CLI_UTILS_DEPENDS_ON)
            for k in a.order}
    # a waits for all of db through done(db) and gate(top): both of db's objects, by name
    assert deps["a"] == "/namespaces/default/ConfigMap/s1,/namespaces/default/ConfigMap/s2"
    assert deps["b"] == "/namespaces/default/ConfigMap/a," + deps["a"]
    assert deps["s1"] is None and deps["s2"] == "/namespaces/default/ConfigMap/s1"


def test_critical_path_names_the_subchart_barrier(tmp_path):
    a, g = _chart_with_subchart(tmp_path)
    v = views.GraphView(a, g, Keys(a, "r"), Estimates())
    assert v.critical_labels() == ["configmap/s1", "configmap/s2", "[db ready]", "configmap/a", "configmap/b"]
    assert v.waits_for(_key("b")) == ["configmap/a", "all of db"]


def test_waits_for_marks_a_present_gate():
    text = rendered(("c/templates/k.yaml", cm("k")),
                    ("c/templates/w.yaml", cm("w", {"werf.io/deploy-dependency-k": "state=present,kind=ConfigMap,name=k"})),
                    ("c/templates/x.yaml", cm("x", {DEP: "configmap/k"})))
    a = model.analyze(manifests.split(text), None, "default")
    v = views.GraphView(a, graph.build(a), Keys(a, "r"), Estimates())
    assert v.waits_for(_key("w")) == ["configmap/k (exists)"]
    assert v.waits_for(_key("x")) == ["configmap/k"]
