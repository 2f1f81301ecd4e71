"""Every lint rule, triggered on the pure core (rendered text + chart tree), with its message and hint."""
import pytest
from conftest import cm, rendered, write_chart

from helm_ac.analysis import graph, model
from helm_ac.analysis.lint import RULES, checks
from helm_ac.rendering import manifests
from helm_ac.rendering.chart import load_chart


def lint(*docs, chart=None, namespace="default"):
    a = model.analyze(manifests.split(rendered(*docs)), chart, namespace)
    return checks.run_all(a, graph.collect(a), "chart")


def only(findings, rule):
    got = [f for f in findings if f.rule == rule]
    assert got, f"no {rule} in {[(f.rule, f.message) for f in findings]}"
    return got


DEP = "appcontroller.k8s/depends-on"


def test_clean_chart_has_no_findings():
    assert lint(("c/templates/a.yaml", cm("a", {DEP: "configmap/b", "appcontroller.k8s/timeout": "5m",
                                                "appcontroller.k8s/on-error": "ignore-all",
                                                "appcontroller.k8s/retry": "2",
                                                "appcontroller.k8s/success-factor": "80",
                                                "appcontroller.k8s/ready-when": "exists"})),
                ("c/templates/b.yaml", cm("b"))) == []


def test_invalid_manifest():
    [f] = only(lint(("c/templates/x.yaml", "a: [\n")), "invalid-manifest")
    assert f.file == "templates/x.yaml" and "invalid YAML" in f.message


def test_unknown_annotation_with_did_you_mean():
    [f] = only(lint(("c/templates/a.yaml", cm("a", {"appcontroller.k8s/depend-on": "configmap/b"}))),
               "unknown-annotation")
    assert "did you mean appcontroller.k8s/depends-on?" in f.message and f.object == "configmap/a"


def test_chart_annotation_on_an_object_is_explained():
    [f] = only(lint(("c/templates/a.yaml", cm("a", {"appcontroller.k8s/subchart-order": "a -> b"}))),
               "unknown-annotation")
    assert "Chart.yaml" in f.hint


@pytest.mark.parametrize("key,value,fragment", [
    ("timeout", "soon", "not a Go duration"),
    ("timeout", "0s", "greater than zero"),
    ("on-error", "explode", "not an on-error policy"),
    ("success-factor", "250", "percentage from 1 to 100"),
    ("success-factor", "0", "percentage from 1 to 100"),
    ("retry", "-1", "whole number"),
    ("ready-when", "maybe", "ready-when clause"),
])
def test_invalid_annotation_value(key, value, fragment):
    [f] = only(lint(("c/templates/a.yaml", cm("a", {f"appcontroller.k8s/{key}": value}))), "invalid-annotation-value")
    assert fragment in f.message and f.hint


@pytest.mark.parametrize("raw,shown", [(3, "an integer"), ("true", "a boolean"), ("1.5", "a number")])
def test_non_string_annotation(raw, shown):
    body = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations:\n"
            f"    appcontroller.k8s/retry: {raw}\n")
    fs = lint(("c/templates/a.yaml", body))
    [f] = only(fs, "non-string-annotation")
    assert shown in f.message and "quote the value" in f.hint


def test_invalid_reference():
    [f] = only(lint(("c/templates/a.yaml", cm("a", {DEP: "configmap/b configmap/c"}))), "invalid-reference")
    assert "whitespace" in f.message and "commas" in f.hint


@pytest.mark.parametrize("ref,suggestion", [
    ("service/payments", "deployment/payments"),  # same name, other kind
    ("deploymnet/payments", "deployment/payments"),  # kind typo
    ("deploy/payments", "deployment/payments"),  # kubectl short name
    ("deployment/payment", "deployment/payments"),  # name typo
    ("other/deployment/payments", None),  # explicit other namespace: nothing there
    ("deployment.batch/payments", "deployment.apps/payments"),  # wrong group
])
def test_unresolved_reference_did_you_mean(ref, suggestion):
    dep = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: payments\n"
    [f] = only(lint(("c/templates/d.yaml", dep), ("c/templates/a.yaml", cm("a", {DEP: ref}))), "unresolved-reference")
    if suggestion:
        assert f"did you mean {suggestion}?" in f.message
    assert f.message.startswith(f"depends-on {ref}: no such object")


def test_unresolved_reference_into_another_namespace_is_explained():
    fs = lint(("c/templates/b.yaml", cm("b", namespace="db")), ("c/templates/a.yaml", cm("a", {DEP: "configmap/b"})))
    [f] = only(fs, "unresolved-reference")
    assert "did you mean db/configmap/b (it is in namespace db)?" in f.message


def test_ambiguous_reference():
    x = "apiVersion: a.io/v1\nkind: Cert\nmetadata:\n  name: tls\n"
    y = "apiVersion: b.io/v1\nkind: Cert\nmetadata:\n  name: tls\n"
    [f] = only(lint(("c/templates/x.yaml", x), ("c/templates/y.yaml", y),
                    ("c/templates/a.yaml", cm("a", {DEP: "cert/tls"}))), "ambiguous-reference")
    assert "cert.a.io/tls, cert.b.io/tls" in f.message


def test_duplicate_reference():
    only(lint(("c/templates/b.yaml", cm("b")), ("c/templates/a.yaml", cm("a", {DEP: "configmap/b, ConfigMap/b"}))),
         "duplicate-reference")


def test_self_dependency():
    [f] = only(lint(("c/templates/a.yaml", cm("a", {DEP: "configmap/a"}))), "self-dependency")
    assert f.object == "configmap/a"
    assert not [x for x in lint(("c/templates/a.yaml", cm("a", {DEP: "configmap/a"}))) if x.rule == "dependency-cycle"]


def test_dependency_cycle_prints_the_path_and_the_edges():
    fs = lint(("c/templates/a.yaml", cm("a", {DEP: "configmap/b"})),
              ("c/templates/b.yaml", cm("b", {DEP: "configmap/c"})),
              ("c/templates/c.yaml", cm("c", {DEP: "configmap/a"})))
    [f] = only(fs, "dependency-cycle")
    assert "configmap/a → configmap/b → configmap/c → configmap/a" in f.message
    assert "configmap/a depends-on configmap/b (templates/a.yaml)" in f.hint


def test_cycle_through_the_subchart_rule(tmp_path):
    d = write_chart(tmp_path, "top", {}, subcharts={"cache": {"templates": {}}})
    fs = lint(("top/templates/web.yaml", cm("web")),
              ("top/charts/cache/templates/c.yaml", cm("c", {DEP: "configmap/web"})), chart=load_chart(d))
    [f] = only(fs, "dependency-cycle")
    assert "configmap/c → configmap/web → [top own objects] → [top/cache ready] → configmap/c" in f.message
    assert "waits for its subchart cache (Chart.yaml)" in f.hint
    assert f.file == "charts/cache/templates/c.yaml"


@pytest.fixture
def tree(tmp_path):
    d = write_chart(tmp_path, "top", {}, values="redis:\n  enabled: false\n", chart_yaml=(
        "dependencies:\n- name: redis\n  version: 0.1.0\n  condition: redis.enabled\n"
        "- name: metrics\n  version: 0.1.0\n  tags: [monitoring]\n- name: common\n  version: 0.1.0\n"
        "- name: app\n  version: 0.1.0\n"),
        subcharts={"redis": {"templates": {}}, "metrics": {"templates": {}}, "app": {"templates": {}},
                   "common": {"templates": {}, "chart_yaml": "type: library\n"}})
    return load_chart(d)


def test_disabled_subchart_reference_names_the_condition_and_tags(tree):
    fs = lint(("top/templates/w.yaml", cm("w", {DEP: "chart:redis, chart:metrics"})), chart=tree)
    f1, f2 = only(fs, "disabled-subchart-reference")
    assert "condition redis.enabled" in f1.message + f2.message
    assert "tags monitoring" in f1.message + f2.message
    assert RULES["disabled-subchart-reference"].severity.value == "warning"


def test_unknown_subchart_reference(tree):
    [f] = only(lint(("top/templates/w.yaml", cm("w", {DEP: "chart:reddis"})), chart=tree), "unknown-subchart-reference")
    assert "did you mean chart:redis?" in f.message


def test_relative_chart_reference_suggests_the_absolute_one(tree):
    fs = lint(("top/charts/app/templates/a.yaml", cm("a", {DEP: "chart:redis"})), chart=tree)
    [f] = only(fs, "unknown-subchart-reference")
    assert "did you mean chart:/redis?" in f.message
    assert f.hint == "a reference without a leading / starts at the object's own chart"


def test_empty_subchart_reference(tree):
    [f] = only(lint(("top/templates/w.yaml", cm("w", {DEP: "chart:common"})), chart=tree), "empty-subchart-reference")
    assert "library chart" in f.message


def test_chart_annotations_are_checked(tmp_path):
    d = write_chart(tmp_path, "top", {}, chart_yaml=(
        "annotations:\n  appcontroller.k8s/subchart-order: redis -> cach\n"
        "  appcontroller.k8s/wait-for-subcharts: maybe not\n  appcontroller.k8s/waitfor-subcharts: 'false'\n"),
        subcharts={"redis": {"templates": {}}, "cache": {"templates": {}}})
    fs = lint(("top/templates/w.yaml", cm("w")), ("top/charts/redis/templates/r.yaml", cm("r")),
              ("top/charts/cache/templates/c.yaml", cm("c")), chart=load_chart(d))
    [u] = only(fs, "unknown-subchart-reference")
    assert "did you mean cache?" in u.message and u.file == "Chart.yaml" and u.line == 5
    [i] = only(fs, "invalid-chart-annotation")
    assert "neither true, false" in i.message
    [k] = only(fs, "unknown-annotation")
    assert "did you mean appcontroller.k8s/wait-for-subcharts?" in k.message


def test_hook_reference_and_ignored_hook_annotations():
    hook = ("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: init\n  annotations:\n    helm.sh/hook: pre-install\n"
            "    appcontroller.k8s/timeout: 1m\n")
    fs = lint(("c/templates/j.yaml", hook), ("c/templates/a.yaml", cm("a", {DEP: "job/init"})))
    [r] = only(fs, "hook-reference")
    assert "pre-install" in r.message
    [h] = only(fs, "hook-annotations-ignored")
    assert h.object == "job/init"


def test_duplicate_object():
    [f] = only(lint(("c/templates/a.yaml", cm("a")), ("c/templates/b.yaml", cm("a"))), "duplicate-object")
    assert f.file == "templates/b.yaml" and "templates/a.yaml" in f.message


def test_every_rule_is_documented_and_has_a_check():
    import inspect

    source = inspect.getsource(checks)
    docs = open(__file__.replace("tests/test_lint_rules.py", "docs/lint-rules.md")).read()
    for rule_id in RULES:
        assert f'"{rule_id}"' in source, rule_id
        assert f"## {rule_id}" in docs, rule_id


@pytest.mark.parametrize("ref,suggestion", [("sts/db", "statefulset/db"), ("cm/db", "configmap/db")])
def test_kubectl_short_names_pick_their_kind_among_objects_of_the_same_name(ref, suggestion):
    sts = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n"
    fs = lint(("c/templates/s.yaml", sts), ("c/templates/d.yaml", cm("db")), ("c/templates/a.yaml", cm("a", {DEP: ref})))
    [f] = only(fs, "unresolved-reference")
    assert f.message == f"depends-on {ref}: no such object in the rendered chart; did you mean {suggestion}?"


def test_an_unresolved_reference_never_suggests_its_own_object():
    [f] = only(lint(("c/templates/a.yaml", cm("a", {DEP: "service/a"}))), "unresolved-reference")
    assert f.message == "depends-on service/a: no such object in the rendered chart"
