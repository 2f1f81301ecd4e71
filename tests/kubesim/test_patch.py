"""The four PATCH bodies and field ownership of the in-memory Kubernetes (helm_ac.kubesim.patch),
and the OpenAPI schemas they read (helm_ac.kubesim.schemas)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from helm_ac.kubesim import patch as P
from helm_ac.kubesim.errors import StatusError
from helm_ac.kubesim.schemas import Schema, schema_for, schema_from_crd

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
NOW = "2026-11-30T17:00:00Z"
LATER = "2026-11-30T17:05:00Z"
DEPLOYMENT = schema_for("apps/v1", "Deployment")
CONFIGMAP = schema_for("v1", "ConfigMap")


# ------------------------------------------------------------------------------------------ schemas
def test_schema_reads_kubernetes_merge_keys_and_list_types():
    assert DEPLOYMENT is not None
    pod = DEPLOYMENT.field("spec").field("template").field("spec")  # type: ignore[union-attr]
    containers = pod.field("containers")
    assert (containers.type, containers.patch_strategy, containers.patch_merge_key) == ("array", "merge", "name")
    assert (containers.list_type, containers.list_map_keys) == ("map", ("name",))
    ports = containers.items.field("ports")
    assert ports.list_map_keys == ("containerPort", "protocol") and ports.patch_merge_key == "containerPort"
    meta = DEPLOYMENT.field("metadata")
    assert meta.field("finalizers").list_type == "set" and meta.field("finalizers").smd_list == ("set", ())
    assert meta.field("labels").additional.type == "string" and meta.field("labels").field("x") is None
    assert DEPLOYMENT.field("spec").field("strategy").patch_strategy == "retainKeys"
    assert DEPLOYMENT.field("spec").field("selector").map_type == "atomic"
    assert pod.field("containers").items.field("ports").items.field("containerPort").type == "integer"
    svc_port = schema_for("v1", "Service").field("spec").field("ports").items  # type: ignore[union-attr]
    assert svc_port.field("targetPort").int_or_string and svc_port.field("targetPort").type is None


def test_schema_for_knows_built_ins_by_group_version_kind_only():
    assert schema_for("rbac.authorization.k8s.io/v1", "ClusterRole") is not None
    assert schema_for("v1", "Deployment") is None          # Deployment is apps/v1
    assert schema_for("example.com/v1", "Widget") is None  # a custom resource


def test_schema_from_crd_adds_object_meta():
    s = schema_from_crd({"type": "object", "properties": {"spec": {
        "type": "object", "properties": {"items": {"type": "array", "x-kubernetes-list-type": "map",
                                                   "x-kubernetes-list-map-keys": ["id"],
                                                   "items": {"type": "object"}},
                                         "port": {"x-kubernetes-int-or-string": True},
                                         "keyless": {"type": "array", "x-kubernetes-list-type": "map",
                                                     "items": {"type": "object"}}},
        "x-kubernetes-preserve-unknown-fields": True}}})
    assert s.field("metadata").field("labels").additional is not None
    assert s.field("spec").field("items").smd_list == ("map", ("id",))
    assert s.field("spec").preserve_unknown_fields and s.field("spec").field("port").int_or_string
    assert s.field("spec").field("keyless").smd_list == ("atomic", ())  # a map list needs keys to merge


def test_schemas_are_not_loaded_at_import():
    code = ("import sys, helm_ac.kubesim.patch, helm_ac.kubesim.schemas as s; "
            "print(s.definitions.cache_info().currsize, 'kubernetes_validate' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.split()
    assert out == ["0", "False"]


# --------------------------------------------------------------------------------------- JSON patch
def test_json_patch_applies_and_leaves_its_input_alone():
    obj = {"spec": {"replicas": 1, "ports": [1, 2]}}
    out = P.json_patch(obj, [{"op": "test", "path": "/spec/replicas", "value": 1},
                             {"op": "replace", "path": "/spec/replicas", "value": 3},
                             {"op": "add", "path": "/spec/ports/-", "value": 3},
                             {"op": "remove", "path": "/spec/ports/0"}])
    assert out == {"spec": {"replicas": 3, "ports": [2, 3]}}
    assert obj == {"spec": {"replicas": 1, "ports": [1, 2]}}


@pytest.mark.parametrize("ops", [
    [{"op": "test", "path": "/spec/replicas", "value": 2}],   # a failed test
    [{"op": "remove", "path": "/spec/missing"}],               # a missing path
    [{"op": "replace", "path": "/nope/x", "value": 1}],
    [{"op": "frobnicate", "path": "/spec"}],                   # an unknown op
])
def test_json_patch_that_does_not_apply_is_422_invalid(ops):
    with pytest.raises(StatusError) as e:
        P.json_patch({"spec": {"replicas": 1}}, ops)
    assert (e.value.code, e.value.reason, e.value.message) == (
        422, "Invalid", "the server rejected our request due to an error in our request")


def test_json_patch_body_that_is_not_a_list_of_operations_is_400():
    with pytest.raises(StatusError) as e:
        P.json_patch({}, {"op": "add"})  # type: ignore[arg-type]
    assert (e.value.code, e.value.reason) == (400, "BadRequest")


# -------------------------------------------------------------------------------------- merge patch
#: RFC 7386, Appendix A.
RFC7386 = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC7386)
def test_merge_patch_rfc7386_examples(target, patch, result):
    assert P.merge_patch(target, patch) == result


def _diff(a: dict, b: dict) -> dict:
    """The merge patch that turns a into b (b without nulls)."""
    out: dict[str, Any] = {k: None for k in a if k not in b}
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(a.get(k), dict):
            sub = _diff(a[k], v)
            if sub:
                out[k] = sub
        elif k not in a or a[k] != v:
            out[k] = v
    return out


_scalars = st.one_of(st.booleans(), st.integers(-5, 5), st.text("ab", max_size=2))
_json = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.sampled_from("abcd"), inner, max_size=3)),
                     max_leaves=12)
_docs = st.dictionaries(st.sampled_from("abcd"), _json, max_size=4)


@settings(max_examples=150, deadline=None)
@given(_docs, _docs)
def test_merge_patch_of_a_diff_gives_the_target(a, b):
    assert P.merge_patch(a, _diff(a, b)) == b


# ---------------------------------------------------------------------------- strategic merge patch
MERGE_ITEM_DOC = json.loads((DATA / "mergeitem-schema.json").read_text())["components"]["schemas"]
MERGE_ITEM = Schema({"$ref": "#/components/schemas/mergeItem"}, lambda: MERGE_ITEM_DOC)
FIXTURES = yaml.safe_load((DATA / "strategicpatch-cases.yaml").read_text())


def _applications():
    for group in ("cases", "custom"):
        for c in FIXTURES[group]:
            if "expectedError" in c:
                continue
            two = c.get("twoWayResult", c.get("modified"))
            if "twoWay" in c and two is not None:
                yield pytest.param(c.get("original") or {}, c["twoWay"], two, id=f"{c['description']} (2-way)")
            if "threeWay" in c and c.get("result") is not None:
                yield pytest.param(c.get("current") or {}, c["threeWay"], c["result"],
                                   id=f"{c['description']} (3-way)")


@pytest.mark.parametrize(("original", "patch", "expected"), list(_applications()))
def test_strategic_merge_patch_kubernetes_fixtures(original, patch, expected):
    """Kubernetes' own table: the result, list order included (the server then drops nulls)."""
    assert P.strategic_merge_patch(original, patch, MERGE_ITEM) == P._drop_nulls(expected)


@pytest.mark.parametrize("case", [c for c in FIXTURES["custom"] if "expectedError" in c],
                         ids=lambda c: c["description"])
def test_strategic_merge_patch_kubernetes_fixture_errors(case):
    with pytest.raises(StatusError) as e:
        P.strategic_merge_patch(case.get("original") or {}, case["twoWay"], MERGE_ITEM)
    assert case["expectedError"] in e.value.message


def _live_deployment() -> dict:
    """A Deployment as the server holds it: defaults and status besides what the chart set."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "demo", "uid": "u1", "resourceVersion": "7",
                     "labels": {"app": "web"}, "annotations": {"meta.helm.sh/release-name": "demo",
                                                               "old": "x"},
                     "finalizers": ["example.com/a"]},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                     "containers": [
                         {"name": "web", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
                          "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                          "ports": [{"containerPort": 80, "protocol": "TCP"},
                                    {"containerPort": 9090, "protocol": "TCP"}],
                          "readinessProbe": {"httpGet": {"path": "/", "port": 80}},
                          "terminationMessagePath": "/dev/termination-log"},
                         {"name": "sidecar", "image": "busybox"}],
                     "restartPolicy": "Always"}}},
        "status": {"replicas": 2, "readyReplicas": 2},
    }


def test_strategic_merge_patch_helm3_upgrade():
    """The three-way patch Helm 3 sends on upgrade (strategicpatch.CreateThreeWayMergePatch):
    image changed, env B and port 9090 removed from the chart (delete directives with the
    surviving items' order), a probe and an annotation removed (nulls), a container added."""
    patch = {
        "metadata": {"annotations": {"old": None}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "web"}, {"name": "metrics"}, {"name": "sidecar"}],
            "containers": [
                {"$setElementOrder/env": [{"name": "A"}], "$setElementOrder/ports": [{"containerPort": 80}],
                 "env": [{"$patch": "delete", "name": "B"}], "image": "nginx:1.27", "name": "web",
                 "ports": [{"$patch": "delete", "containerPort": 9090}], "readinessProbe": None},
                {"image": "exporter:2", "name": "metrics"}]}}}}
    live = _live_deployment()
    out = P.strategic_merge_patch(live, patch, DEPLOYMENT)
    expected = _live_deployment()
    del expected["metadata"]["annotations"]["old"]
    web = expected["spec"]["template"]["spec"]["containers"][0]
    web.update(image="nginx:1.27", env=[{"name": "A", "value": "1"}],
               ports=[{"containerPort": 80, "protocol": "TCP"}])
    del web["readinessProbe"]
    expected["spec"]["template"]["spec"]["containers"] = [
        web, {"image": "exporter:2", "name": "metrics"}, {"name": "sidecar", "image": "busybox"}]
    assert out == expected
    assert live == _live_deployment()  # untouched


def test_strategic_merge_patch_directives_on_a_deployment():
    live = _live_deployment()
    patch = {"metadata": {"finalizers": ["example.com/b"], "$deleteFromPrimitiveList/finalizers": ["example.com/a"]},
             "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                      "selector": {"matchLabels": {"tier": "x"}},
                      "template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}
    out = P.strategic_merge_patch(live, patch, DEPLOYMENT)
    assert out["metadata"]["finalizers"] == ["example.com/b"]
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    assert out["spec"]["selector"] == {"matchLabels": {"app": "web", "tier": "x"}}  # maps merge
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["web"]
    # finalizers (merge strategy, no key) are a union; a list without strategy is replaced
    out = P.strategic_merge_patch(live, {"metadata": {"finalizers": ["example.com/b", "example.com/a"]},
                                         "spec": {"template": {"spec": {"containers": [
                                             {"name": "web", "args": ["x"]}]}}}}, DEPLOYMENT)
    assert out["metadata"]["finalizers"] == ["example.com/b", "example.com/a"]
    assert out["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    out = P.strategic_merge_patch(out, {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "args": ["y"]}]}}}}, DEPLOYMENT)
    assert out["spec"]["template"]["spec"]["containers"][0]["args"] == ["y"]
    out = P.strategic_merge_patch(live, {"spec": {"template": {"spec": {"containers": [
        {"$patch": "replace"}, {"name": "only", "image": "x"}]}}}}, DEPLOYMENT)
    assert out["spec"]["template"]["spec"]["containers"] == [{"name": "only", "image": "x"}]


def test_strategic_merge_patch_of_a_custom_resource_is_415():
    with pytest.raises(StatusError) as e:
        P.strategic_merge_patch({"spec": {}}, {"spec": {"a": 1}}, None)
    assert (e.value.code, e.value.reason, e.value.message) == (
        415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types "
        "include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")


@pytest.mark.parametrize(("patch", "code", "text"), [
    ({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}, 500,
     "map: map[image:x] does not contain declared merge key: name"),
    ({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}, 400, "invalid patch format of retainKeys"),
    ({"spec": {"template": {"spec": {"containers": [{"name": "web", "$patch": "frob"}]}}}}, 500,
     "unknown patch type: frob in map: map[$patch:frob name:web]"),
])
def test_strategic_merge_patch_errors(patch, code, text):
    with pytest.raises(StatusError) as e:
        P.strategic_merge_patch(_live_deployment(), patch, DEPLOYMENT)
    assert (e.value.code, e.value.message) == (code, text)


# ------------------------------------------------------------------------------- server-side apply
def _deployment_config(replicas: int | None = 2, image: str = "nginx:1.25", env: bool = True) -> dict:
    c: dict[str, Any] = {"name": "web", "image": image, "ports": [{"containerPort": 80}]}
    if env:
        c["env"] = [{"name": "A", "value": "1"}]
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": "web"}},
                            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [c]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "demo"},
            "spec": spec}


def _entries(obj: dict) -> list[dict]:
    return obj["metadata"]["managedFields"]


def test_apply_creates_the_object_with_its_field_set():
    out = P.server_side_apply(None, _deployment_config(), manager="helm", force=False, schema=DEPLOYMENT, now=NOW)
    expected = _deployment_config()
    expected["metadata"]["managedFields"] = [{
        "manager": "helm", "operation": "Apply", "apiVersion": "apps/v1", "time": NOW, "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {
            "f:replicas": {},
            "f:selector": {},  # an atomic map is owned whole
            "f:template": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:containers": {
                'k:{"name":"web"}': {".": {}, "f:env": {'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}},
                                     "f:image": {}, "f:name": {},
                                     "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {
                                         ".": {}, "f:containerPort": {}}}}}}}}}}]
    assert out == expected


def test_fields_v1_round_trip_and_paths():
    out = P.server_side_apply(None, _deployment_config(), manager="helm", force=False, schema=DEPLOYMENT, now=NOW)
    fields = _entries(out)[0]["fieldsV1"]
    paths = P.parse_fields_v1(fields)
    assert P.fields_v1(paths) == fields
    img = (("f", "spec"), ("f", "template"), ("f", "spec"), ("f", "containers"), ("k", '{"name":"web"}'),
           ("f", "image"))
    assert img in paths and P.path_str(img) == '.spec.template.spec.containers[name="web"].image'
    assert P.path_str((("f", "metadata"), ("f", "finalizers"), ("v", '"a"'))) == '.metadata.finalizers[="a"]'


def test_apply_stops_owning_what_it_no_longer_applies_and_removes_it():
    live = P.server_side_apply(None, _deployment_config(), manager="helm", force=False, schema=DEPLOYMENT, now=NOW)
    out = P.server_side_apply(live, _deployment_config(replicas=None, env=False), manager="helm", force=False,
                              schema=DEPLOYMENT, now=LATER)
    assert "replicas" not in out["spec"]
    assert "env" not in out["spec"]["template"]["spec"]["containers"][0]
    assert "f:replicas" not in _entries(out)[0]["fieldsV1"]["f:spec"]
    assert _entries(out)[0]["time"] == LATER


def test_apply_keeps_a_field_another_manager_still_owns():
    live = P.server_side_apply(None, _deployment_config(), manager="helm", force=False, schema=DEPLOYMENT, now=NOW)
    live = P.server_side_apply(live, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                                      "spec": {"replicas": 2}}, manager="hpa", force=False, schema=DEPLOYMENT,
                               now=NOW)
    out = P.server_side_apply(live, _deployment_config(replicas=None), manager="helm", force=False,
                              schema=DEPLOYMENT, now=LATER)
    assert out["spec"]["replicas"] == 2
    owners = {e["manager"]: e["fieldsV1"] for e in _entries(out)}
    assert "f:replicas" in owners["hpa"]["f:spec"] and "f:replicas" not in owners["helm"]["f:spec"]


def test_apply_leaves_fields_it_never_owned():
    live = _live_deployment()
    live["metadata"]["managedFields"] = P.record_update(None, live, manager="creator", schema=DEPLOYMENT, now=NOW)
    out = P.server_side_apply(live, _deployment_config(replicas=3), manager="kubectl", force=True,
                              schema=DEPLOYMENT, now=NOW)
    out = P.server_side_apply(out, _deployment_config(replicas=None), manager="kubectl", force=False,
                              schema=DEPLOYMENT, now=NOW)
    assert "replicas" not in out["spec"]  # it took it by force, nobody else owned it then
    assert out["status"] == live["status"] and out["spec"]["strategy"] == live["spec"]["strategy"]
    assert out["spec"]["template"]["spec"]["containers"][1] == {"name": "sidecar", "image": "busybox"}


def test_apply_to_an_untracked_object_conflicts_with_before_first_apply():
    live = _live_deployment()  # created when nobody tracked fields: no managedFields
    with pytest.raises(StatusError) as e:
        P.server_side_apply(live, _deployment_config(replicas=3), manager="kubectl", force=False,
                            schema=DEPLOYMENT, now=NOW)
    assert e.value.message == ('Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: '
                               '.spec.replicas')
    out = P.server_side_apply(live, _deployment_config(replicas=2), manager="kubectl", force=False,
                              schema=DEPLOYMENT, now=NOW)
    assert [(m["manager"], m["operation"]) for m in _entries(out)] == [
        ("kubectl", "Apply"), ("before-first-apply", "Update")]
    # an update of such an object does not start tracking; a create does
    assert P.record_update(live, live, manager="helm", schema=DEPLOYMENT, now=NOW) == []
    assert P.record_update(None, live, manager="helm", schema=DEPLOYMENT, now=NOW) != []


def test_apply_conflicts_with_an_update_manager_unless_forced():
    created = _deployment_config(replicas=1)
    created["metadata"]["managedFields"] = P.record_update(None, created, manager="helm", schema=DEPLOYMENT, now=NOW)
    with pytest.raises(StatusError) as e:
        P.server_side_apply(created, _deployment_config(replicas=5), manager="kubectl", force=False,
                            schema=DEPLOYMENT, now=LATER)
    assert (e.value.code, e.value.reason) == (409, "Conflict")
    assert e.value.message == 'Apply failed with 1 conflict: conflict with "helm" using apps/v1: .spec.replicas'
    assert e.value.details == {"causes": [{"reason": "FieldManagerConflict",
                                           "message": 'conflict with "helm" using apps/v1',
                                           "field": ".spec.replicas"}]}
    # the same values are no conflict: both own them
    same = P.server_side_apply(created, _deployment_config(replicas=1), manager="kubectl", force=False,
                               schema=DEPLOYMENT, now=LATER)
    owners = {e["manager"]: e["fieldsV1"] for e in _entries(same)}
    assert "f:replicas" in owners["helm"]["f:spec"] and "f:replicas" in owners["kubectl"]["f:spec"]
    # forced: the field changes hands
    forced = P.server_side_apply(created, _deployment_config(replicas=5), manager="kubectl", force=True,
                                 schema=DEPLOYMENT, now=LATER)
    assert forced["spec"]["replicas"] == 5
    owners = {e["manager"]: e["fieldsV1"] for e in _entries(forced)}
    assert "f:replicas" not in owners["helm"]["f:spec"] and "f:replicas" in owners["kubectl"]["f:spec"]
    assert [(e["manager"], e["operation"]) for e in _entries(forced)] == [("kubectl", "Apply"), ("helm", "Update")]


def test_apply_conflicts_list_every_field_and_name_appliers_without_version():
    live = P.server_side_apply(None, _deployment_config(), manager="helm", force=False, schema=DEPLOYMENT, now=NOW)
    with pytest.raises(StatusError) as e:
        P.server_side_apply(live, _deployment_config(replicas=3, image="nginx:2"), manager="kubectl", force=False,
                            schema=DEPLOYMENT, now=NOW)
    assert e.value.message == ('Apply failed with 2 conflicts: conflicts with "helm":\n- .spec.replicas\n'
                               '- .spec.template.spec.containers[name="web"].image')
    assert [c["field"] for c in e.value.details["causes"]] == [  # type: ignore[index]
        ".spec.replicas", '.spec.template.spec.containers[name="web"].image']


def test_status_is_reset_on_the_main_resource_and_only_status_is_written_on_status():
    live = _live_deployment()
    live["metadata"]["managedFields"] = P.record_update(None, _deployment_config(), manager="helm",
                                                        schema=DEPLOYMENT, now=NOW)
    cfg = _deployment_config(replicas=2) | {"status": {"replicas": 9, "conditions": []}}
    out = P.server_side_apply(live, cfg, manager="kubectl", force=False, schema=DEPLOYMENT, now=NOW)
    assert out["status"] == live["status"]
    assert all("f:status" not in e["fieldsV1"] for e in _entries(out))
    created = P.server_side_apply(None, cfg, manager="kubectl", force=False, schema=DEPLOYMENT, now=NOW)
    assert "status" not in created
    # the controller writes status through /status: it owns status only, in its own entry
    new = json.loads(json.dumps(out))
    new["status"]["readyReplicas"] = 1
    new["spec"]["replicas"] = 7
    entries = P.record_update(out, new, manager="kube-controller-manager", schema=DEPLOYMENT, now=LATER,
                              subresource="status")
    kcm = next(e for e in entries if e["manager"] == "kube-controller-manager")
    assert kcm["subresource"] == "status" and kcm["fieldsV1"] == {"f:status": {"f:readyReplicas": {}}}
    applied = P.server_side_apply(out, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                                        "spec": {"replicas": 7}, "status": {"observedGeneration": 3}},
                                  manager="ctl", force=False, schema=DEPLOYMENT, now=LATER, subresource="status")
    assert applied["spec"] == out["spec"] and applied["status"]["observedGeneration"] == 3
    # a custom resource without a status subresource: the caller says nothing is reset
    cr = P.server_side_apply(None, {"apiVersion": "example.com/v1", "kind": "W", "metadata": {"name": "w"},
                                    "status": {"ok": True}},
                             manager="m", force=False, schema=schema_from_crd({"type": "object", "properties": {
                                 "status": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}}),
                             now=NOW, reset=())
    assert cr["status"] == {"ok": True}


def test_apply_refuses_duplicate_items_and_another_version():
    cfg = _deployment_config()
    web = cfg["spec"]["template"]["spec"]["containers"][0]
    web["env"] = [{"name": "FOO", "value": "x"}, {"name": "FOO", "value": "y"}]
    with pytest.raises(StatusError) as e:
        P.server_side_apply(None, cfg, manager="helm", force=False, schema=DEPLOYMENT, now=NOW)
    assert (e.value.code, e.value.message) == (500, (
        'failed to create typed patch object (demo/web; apps/v1, Kind=Deployment): '
        '.spec.template.spec.containers[name="web"].env: duplicate entries for key [name="FOO"]'))
    web["ports"] = [{"containerPort": 93}, {"containerPort": 93, "protocol": "TCP"}]
    with pytest.raises(StatusError) as e:
        P.server_side_apply(None, cfg, manager="helm", force=False, schema=DEPLOYMENT, now=NOW)
    assert e.value.message.endswith(
        'errors:\n  .spec.template.spec.containers[name="web"].env: duplicate entries for key [name="FOO"]\n'
        '  .spec.template.spec.containers[name="web"].ports: duplicate entries for key '
        '[containerPort=93,protocol="TCP"]')
    live = P.server_side_apply(None, _deployment_config(), manager="helm", force=False, schema=DEPLOYMENT, now=NOW)
    with pytest.raises(StatusError) as e:
        P.server_side_apply(live, _deployment_config() | {"apiVersion": "apps/v1beta2"}, manager="helm",
                            force=False, schema=DEPLOYMENT, now=NOW)
    assert (e.value.code, e.value.message) == (400, "Incorrect version specified in apply patch. Specified patch "
                                                    "version: apps/v1beta2, expected: apps/v1")


def test_apply_rejects_managed_fields_in_the_configuration():
    cfg = _deployment_config()
    cfg["metadata"]["managedFields"] = [{"manager": "x"}]
    with pytest.raises(StatusError) as e:
        P.server_side_apply(None, cfg, manager="helm", force=False, schema=DEPLOYMENT, now=NOW)
    assert (e.value.code, e.value.message) == (400, "metadata.managedFields must be nil")


def test_apply_merges_lists_by_their_type():
    live = P.server_side_apply(None, {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "metadata": {"name": "web", "finalizers": ["a", "b"]},
                                      "spec": {"selector": {"matchLabels": {"a": "1"}}}},
                               manager="one", force=False, schema=DEPLOYMENT, now=NOW)
    out = P.server_side_apply(live, {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "metadata": {"name": "web", "finalizers": ["c"]},
                                     "spec": {"selector": {"matchLabels": {"b": "2"}}}},
                              manager="two", force=True, schema=DEPLOYMENT, now=NOW)
    assert out["metadata"]["finalizers"] == ["a", "b", "c"]           # a set list: union
    assert out["spec"]["selector"] == {"matchLabels": {"b": "2"}}     # an atomic map: replaced
    two = next(e for e in _entries(out) if e["manager"] == "two")["fieldsV1"]
    assert two["f:metadata"] == {"f:finalizers": {'v:"c"': {}}}
    one = next(e for e in _entries(out) if e["manager"] == "one")["fieldsV1"]
    assert one == {"f:metadata": {"f:finalizers": {'v:"a"': {}, 'v:"b"': {}}}}  # the selector was forced away


def test_apply_of_a_custom_resource_uses_the_crd_schema_or_deduces():
    crd = schema_from_crd({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"],
                  "items": {"type": "object", "properties": {"id": {"type": "string"}, "v": {"type": "integer"}}}},
        "tags": {"type": "array", "items": {"type": "string"}}}}}})
    cfg = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
           "spec": {"items": [{"id": "a", "v": 1}], "tags": ["x"]}}
    for schema in (crd, None):
        out = P.server_side_apply(None, cfg, manager="m", force=False, schema=schema, now=NOW)
        spec = _entries(out)[0]["fieldsV1"]["f:spec"]
        if schema is crd:
            assert spec == {"f:items": {'k:{"id":"a"}': {".": {}, "f:id": {}, "f:v": {}}}, "f:tags": {}}
        else:  # no schema: lists are atomic, map keys are members
            assert spec == {".": {}, "f:items": {}, "f:tags": {}}


def test_record_update_gives_the_writer_what_it_set_and_takes_it_from_others():
    obj = _deployment_config()
    obj["metadata"]["labels"] = {"app": "web"}
    entries = P.record_update(None, obj, manager="helm", schema=DEPLOYMENT, now=NOW)
    assert len(entries) == 1 and entries[0]["operation"] == "Update" and entries[0]["apiVersion"] == "apps/v1"
    fields = entries[0]["fieldsV1"]
    assert fields["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}  # an added map is owned with '.'
    assert "f:name" not in fields["f:metadata"] and "f:apiVersion" not in fields
    obj["metadata"]["managedFields"] = entries
    new = json.loads(json.dumps(obj))
    new["spec"]["replicas"] = 4
    new["spec"]["template"]["spec"]["containers"][0].pop("env")
    entries2 = P.record_update(obj, new, manager="scaler", schema=DEPLOYMENT, now=LATER)
    owners = {e["manager"]: e for e in entries2}
    assert owners["scaler"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}} and owners["scaler"]["time"] == LATER
    helm = owners["helm"]["fieldsV1"]["f:spec"]
    assert "f:replicas" not in helm and "f:env" not in helm["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert owners["helm"]["time"] == NOW
    # a write that changes nothing adds no manager; an empty managedFields list resets them
    assert P.record_update(new | {"metadata": {**new["metadata"], "managedFields": entries2}},
                           new | {"metadata": {**new["metadata"], "managedFields": entries2}},
                           manager="noop", schema=DEPLOYMENT, now=LATER) == entries2
    reset = new | {"metadata": {**new["metadata"], "managedFields": []}}
    assert P.record_update(new | {"metadata": {**new["metadata"], "managedFields": entries2}}, reset,
                           manager="x", schema=DEPLOYMENT, now=LATER) == []


# --------------------------------------------------------------------------- apply: properties
_keys = st.sampled_from(["a", "b", "c", "d"])
_data = st.dictionaries(_keys, st.text("xyz", min_size=1, max_size=2), max_size=4)


def _cm(data: dict, labels: dict) -> dict:
    meta: dict[str, Any] = {"name": "cm", "namespace": "demo"}
    if labels:
        meta["labels"] = labels
    cm: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
    if data:
        cm["data"] = data
    return cm


@settings(max_examples=80, deadline=None)
@given(_data, _data, _data)
def test_apply_twice_is_idempotent(data, labels, other):
    live = P.server_side_apply(None, _cm(other, {}), manager="other", force=False, schema=CONFIGMAP, now=NOW)
    once = P.server_side_apply(live, _cm(data, labels), manager="helm", force=True, schema=CONFIGMAP, now=NOW)
    twice = P.server_side_apply(once, _cm(data, labels), manager="helm", force=False, schema=CONFIGMAP, now=NOW)
    assert twice == once


@settings(max_examples=80, deadline=None)
@given(_data, _data)
def test_apply_without_a_field_removes_it(first, second):
    live = P.server_side_apply(None, _cm(first, first), manager="helm", force=False, schema=CONFIGMAP, now=NOW)
    out = P.server_side_apply(live, _cm(second, second), manager="helm", force=False, schema=CONFIGMAP, now=NOW)
    assert out.get("data", {}) == second
    assert out["metadata"].get("labels", {}) == second


# ------------------------------------------------- apply: structured-merge-diff's own scenarios
#: The schemas of structured-merge-diff's merge tests (merge/multiple_appliers_test.go), as OpenAPI.
_NAME_ITEM = {"type": "object", "properties": {"name": {"type": "string"}, "value": {"type": "integer"}}}
SMD_SCHEMA = Schema({"type": "object", "properties": {
    "list": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
             "items": _NAME_ITEM},
    "listOfLists": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "properties": {
                        "name": {"type": "string"},
                        "value": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}}},
    "struct": {"type": "object", "properties": {
        "name": {"type": "string"}, "scalarField": {"type": "string"},
        "complexField": {"type": "object", "properties": {"name": {"type": "string"}}}}},
    "atomicMap": {"type": "object", "x-kubernetes-map-type": "atomic", "additionalProperties": {"type": "string"}},
}})

#: (name, operations, final object, owners) -- operations are (verb, manager, object[, conflicts]).
SMD_CASES = [
    ("remove_one", [
        ("apply", "apply-one", {"list": [{"name": "a"}, {"name": "b"}]}),
        ("apply", "apply-two", {"list": [{"name": "c"}]}),
        ("apply", "apply-one", {"list": [{"name": "a"}]})],
     {"list": [{"name": "a"}, {"name": "c"}]},
     {"apply-one": {'.list[name="a"]', '.list[name="a"].name'},
      "apply-two": {'.list[name="c"]', '.list[name="c"].name'}}),
    ("same_value_no_conflict", [
        ("apply", "apply-one", {"list": [{"name": "a", "value": 0}]}),
        ("apply", "apply-two", {"list": [{"name": "a", "value": 0}]})],
     {"list": [{"name": "a", "value": 0}]},
     {m: {'.list[name="a"]', '.list[name="a"].name', '.list[name="a"].value'} for m in ("apply-one", "apply-two")}),
    ("change_value_yes_conflict", [
        ("apply", "apply-one", {"list": [{"name": "a", "value": 0}]}),
        ("apply", "apply-two", {"list": [{"name": "a", "value": 1}]}, ['.list[name="a"].value'])],
     {"list": [{"name": "a", "value": 0}]},
     {"apply-one": {'.list[name="a"]', '.list[name="a"].name', '.list[name="a"].value'}}),
    ("remove_one_keep_one", [
        ("apply", "apply-one", {"list": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}),
        ("apply", "apply-two", {"list": [{"name": "c"}, {"name": "d"}]}),
        ("apply", "apply-one", {"list": [{"name": "a"}]})],
     {"list": [{"name": "a"}, {"name": "c"}, {"name": "d"}]},
     {"apply-one": {'.list[name="a"]', '.list[name="a"].name'},
      "apply-two": {'.list[name="c"]', '.list[name="c"].name', '.list[name="d"]', '.list[name="d"].name'}}),
    ("unset_scalar_sole_owner", [
        ("apply", "apply-one", {"struct": {"name": "a", "scalarField": "a"}}),
        ("apply", "apply-one", {"struct": {"name": "a"}})],
     {"struct": {"name": "a"}}, {"apply-one": {".struct.name"}}),
    ("unset_scalar_shared_with_applier", [
        ("apply", "apply-one", {"struct": {"name": "a", "scalarField": "a"}}),
        ("apply", "apply-two", {"struct": {"scalarField": "a"}}),
        ("apply", "apply-one", {"struct": {"name": "a"}})],
     {"struct": {"name": "a", "scalarField": "a"}},
     {"apply-one": {".struct.name"}, "apply-two": {".struct.scalarField"}}),
    ("unset_scalar_shared_with_updater", [
        ("update", "updater", {"struct": {"name": "a", "scalarField": "a"}}),
        ("apply", "applier", {"struct": {"name": "a", "scalarField": "a"}}),
        ("apply", "applier", {"struct": {"name": "a"}})],
     {"struct": {"name": "a", "scalarField": "a"}},
     {"updater": {".struct", ".struct.name", ".struct.scalarField"}, "applier": {".struct.name"}}),
    ("updater_claims_field", [
        ("apply", "applier", {"struct": {"name": "a", "scalarField": "a"}}),
        ("update", "updater", {"struct": {"name": "a", "scalarField": "b"}})],
     {"struct": {"name": "a", "scalarField": "b"}},
     {"updater": {".struct.scalarField"}, "applier": {".struct.name"}}),
    ("unset_complex_sole_owner", [
        ("apply", "apply-one", {"struct": {"name": "a", "complexField": {"name": "b"}}}),
        ("apply", "apply-one", {"struct": {"name": "a"}})],
     {"struct": {"name": "a"}}, {"apply-one": {".struct.name"}}),
    ("remove_one_keep_one_with_two_sub_items", [
        ("apply", "apply-one", {"listOfLists": [{"name": "a"}, {"name": "b", "value": ["c"]}]}),
        ("apply", "apply-two", {"listOfLists": [{"name": "b", "value": ["d"]}]}),
        ("apply", "apply-one", {"listOfLists": [{"name": "a"}]})],
     {"listOfLists": [{"name": "a"}, {"name": "b", "value": ["d"]}]},
     {"apply-one": {'.listOfLists[name="a"]', '.listOfLists[name="a"].name'},
      "apply-two": {'.listOfLists[name="b"]', '.listOfLists[name="b"].name', '.listOfLists[name="b"].value[="d"]'}}),
    ("remove_one_keep_one_with_dangling_subitem", [
        ("apply", "apply-one", {"listOfLists": [{"name": "a"}, {"name": "b", "value": ["c"]}]}),
        ("apply", "apply-two", {"listOfLists": [{"name": "b", "value": ["d"]}]}),
        ("update", "controller", {"listOfLists": [{"name": "a"}, {"name": "b", "value": ["c", "d", "e"]}]}),
        ("apply", "apply-one", {"listOfLists": [{"name": "a"}]})],
     {"listOfLists": [{"name": "a"}, {"name": "b", "value": ["d", "e"]}]},
     {"apply-one": {'.listOfLists[name="a"]', '.listOfLists[name="a"].name'},
      "apply-two": {'.listOfLists[name="b"]', '.listOfLists[name="b"].name', '.listOfLists[name="b"].value[="d"]'},
      "controller": {'.listOfLists[name="b"].value[="e"]'}}),
    ("remove_one_with_dangling_subitem_keep_one", [
        ("apply", "apply-one", {"listOfLists": [{"name": "a"}, {"name": "b", "value": ["c"]}]}),
        ("apply", "apply-two", {"listOfLists": [{"name": "a", "value": ["b"]}]}),
        ("update", "controller", {"listOfLists": [{"name": "a", "value": ["b"]}, {"name": "b", "value": ["c", "d"]}]}),
        ("apply", "apply-one", {"listOfLists": [{"name": "a"}]})],
     {"listOfLists": [{"name": "a", "value": ["b"]}]},
     {"apply-one": {'.listOfLists[name="a"]', '.listOfLists[name="a"].name'},
      "apply-two": {'.listOfLists[name="a"]', '.listOfLists[name="a"].name', '.listOfLists[name="a"].value[="b"]'}}),
    ("atomic_map_force", [
        ("apply", "apply-one", {"atomicMap": {"field1": "a"}}),
        ("apply", "apply-two", {"atomicMap": {"field2": "b"}}, [".atomicMap"]),
        ("force", "apply-two", {"atomicMap": {"field2": "b"}})],
     {"atomicMap": {"field2": "b"}}, {"apply-two": {".atomicMap"}}),
]


@pytest.mark.parametrize(("ops", "final", "owners"), [pytest.param(*c[1:], id=c[0]) for c in SMD_CASES])
def test_apply_structured_merge_diff_scenarios(ops, final, owners):
    live: dict | None = None
    for verb, manager, body, *conflicts in ops:
        obj = {"apiVersion": "v1", "kind": "T", **body}
        if verb == "update":
            entries = P.record_update(live, obj, manager=manager, schema=SMD_SCHEMA, now=NOW)
            live = {**obj, "metadata": {"managedFields": entries}}
        elif conflicts:
            with pytest.raises(StatusError) as e:
                P.server_side_apply(live, obj, manager=manager, force=False, schema=SMD_SCHEMA, now=NOW)
            assert [c["field"] for c in e.value.details["causes"]] == conflicts[0]  # type: ignore[index]
        else:
            live = P.server_side_apply(live, obj, manager=manager, force=verb == "force", schema=SMD_SCHEMA, now=NOW)
    assert live is not None
    assert {k: v for k, v in live.items() if k not in ("apiVersion", "kind", "metadata")} == final
    got = {e["manager"]: {P.path_str(p) for p in P.parse_fields_v1(e["fieldsV1"])}
           for e in live["metadata"]["managedFields"]}
    assert got == owners


_env = st.fixed_dictionaries({"name": st.sampled_from(["A", "B", "C"])}, optional={"value": st.sampled_from(["1", "2"])})
_container = st.fixed_dictionaries(
    {"name": st.sampled_from(["web", "side", "init"]), "image": st.sampled_from(["a:1", "a:2"])},
    optional={"env": st.lists(_env, min_size=1, max_size=3, unique_by=lambda e: e["name"]),
              "args": st.lists(st.sampled_from(["-v", "-q"]), min_size=1, max_size=2)})
_spec = st.fixed_dictionaries(
    {"template": st.fixed_dictionaries({"spec": st.fixed_dictionaries({"containers": st.lists(
        _container, min_size=1, max_size=3, unique_by=lambda c: c["name"])})})},
    optional={"replicas": st.integers(0, 3), "paused": st.booleans()})
_deployments = st.builds(lambda spec, labels: {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "demo", **({"labels": labels} if labels else {})}, "spec": spec},
    _spec, _data)


@settings(max_examples=60, deadline=None)
@given(_deployments, _deployments)
def test_apply_by_a_sole_manager_gives_what_it_applies(first, second):
    """What one manager applies over its own earlier apply is exactly its new configuration:
    fields, list items and map keys it no longer applies are gone (and applying it again changes
    nothing)."""
    fresh = P.server_side_apply(None, second, manager="helm", force=False, schema=DEPLOYMENT, now=NOW)
    live = P.server_side_apply(None, first, manager="helm", force=False, schema=DEPLOYMENT, now=NOW)
    out = P.server_side_apply(live, second, manager="helm", force=False, schema=DEPLOYMENT, now=NOW)
    assert out == fresh
    assert P.server_side_apply(out, second, manager="helm", force=False, schema=DEPLOYMENT, now=NOW) == out
