"""Naming, estimates, the manifest split's edge cases, find_line and the Dependency emitter, on the pure core."""
import re

import pytest
from conftest import cm, rendered, write_chart

from helm_ac.analysis import graph, model
from helm_ac.analysis.estimates import DEFAULT_SECONDS, Estimates
from helm_ac.analysis.keys import Keys, slug
from helm_ac.kinds import ObjectKey
from helm_ac.output import appcontroller
from helm_ac.rendering import manifests
from helm_ac.rendering.chart import find_line, load_chart

DEP = "appcontroller.k8s/depends-on"


def analyze(*docs, namespace="default"):
    return model.analyze(manifests.split(rendered(*docs)), None, namespace)


def test_slug_keeps_valid_names_and_hashes_mangled_or_long_ones():
    assert slug("configmap-web.v1") == "configmap-web.v1"
    assert re.fullmatch(r"a-b-[0-9a-f]{8}", slug("a--b"))  # "--" is valid DNS-1123 but AppController-unsafe
    assert re.fullmatch(r"web-api-[0-9a-f]{8}", slug("Web_API"))
    long1, long2 = slug("x" * 300 + "1"), slug("x" * 300 + "2")
    assert len(long1) == len(long2) == 253 and long1 != long2 and re.search(r"-[0-9a-f]{8}$", long1)


def test_keys_qualify_kinds_of_two_groups_and_other_namespaces():
    x = "apiVersion: a.example.com/v1\nkind: Certificate\nmetadata:\n  name: tls\n"
    y = "apiVersion: b.example.com/v1\nkind: Certificate\nmetadata:\n  name: tls\n"
    a = analyze(("c/templates/x.yaml", x), ("c/templates/y.yaml", y), ("c/templates/o.yaml", cm("o", namespace="db")),
                ("c/templates/h.yaml", cm("h")))
    keys = Keys(a, "r")
    assert sorted(keys.key(k) for k in a.order) == [
        "certificate.a.example.com/tls", "certificate.b.example.com/tls", "configmap/h", "db/configmap/o"]


def test_estimate_precedence_object_then_annotation_then_kind_then_default():
    sts, web = ObjectKey("apps", "StatefulSet", "d", "db"), ObjectKey("apps", "StatefulSet", "d", "web")
    est = Estimates({"StatefulSet": 600, "statefulset/db": 5}, {sts: 7, web: 9})
    assert est.seconds(sts) == 5 and est.seconds(web) == 9
    assert Estimates({"StatefulSet": 600}).seconds(web) == 600
    assert Estimates().seconds(web) == DEFAULT_SECONDS["StatefulSet"]


def test_a_template_file_named_charts_is_not_a_subchart():
    assert manifests.parse_source("c/charts/x.yaml") == (("c",), "charts/x.yaml")


def test_a_custom_resource_whose_kind_ends_in_list_is_an_object():
    body = "apiVersion: example.com/v1\nkind: WidgetList\nmetadata:\n  name: w\nitems:\n- a\n"
    r = manifests.split(rendered(("c/templates/w.yaml", body)))
    assert [(o.key.group, str(o.key)) for o in r.objects] == [("example.com", "widgetlist/w")] and not r.problems


def test_api_version_and_kind_must_be_strings():
    r = manifests.split(rendered(("c/templates/x.yaml", "apiVersion: 1\nkind: ConfigMap\nmetadata:\n  name: x\n")))
    [p] = r.problems
    assert p.message == "object without apiVersion" and not r.objects


def test_find_line_matches_whole_tokens_outside_comments(tmp_path):
    d = write_chart(tmp_path, "c", {"a.yaml": (
        "# depends on deployment/web\n"                      # 1: YAML comment
        "{{/* deployment/web */}}\n"                          # 2: template comment
        "    x: deployment/web-api\n"                         # 3: a longer name
        "    y: 1 # deployment/web\n"                         # 4: trailing comment
        "    appcontroller.k8s/depends-on: deployment/web\n"  # 5
    )})
    assert find_line(load_chart(d), "templates/a.yaml", "deployment/web") == 5


def test_dependencies_carry_success_factor_and_present_gates_sorted_by_child():
    text = rendered(("c/templates/k.yaml", cm("k", {"appcontroller.k8s/success-factor": "80"})),
                    ("c/templates/w.yaml", cm("w", {"werf.io/deploy-dependency-k": "state=present,kind=ConfigMap,name=k"})),
                    ("c/templates/b.yaml", cm("b", {"werf.io/deploy-dependency-k": "state=present,kind=ConfigMap,name=k",
                                                    DEP: "configmap/k"})),
                    ("c/templates/a.yaml", cm("a", {DEP: "configmap/w"})))
    a = model.analyze(manifests.split(text), None, "default")
    deps = appcontroller.dependencies(a, graph.build(a), Keys(a, "r"))
    assert [(d["parent"], d["child"], d.get("meta")) for d in deps] == [
        ("configmap/w", "configmap/a", None),
        ("configmap/k", "configmap/b", {"success_factor": "80"}),  # ready and present: waits for ready
        ("configmap/k", "configmap/w", {"success_factor": "80", "gate": "present"}),
    ]


@pytest.mark.parametrize("name", ["db", "db-0"])
def test_definition_names_follow_kubeac_wrap(name):
    a = analyze(("c/templates/s.yaml", f"apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: {name}\n"))
    [k] = a.order
    assert Keys(a, "r").definition_name(k) == f"statefulset-{name}"
