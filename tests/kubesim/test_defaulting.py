"""CRD structural defaulting (apiextensions-apiserver's schema/defaulting), pure and in the store."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from helm_ac.clock import VirtualLoop
from helm_ac.kubesim import defaulting
from helm_ac.kubesim.resources import Registry, Resource
from helm_ac.kubesim.store import Store

BUILTIN = Registry.builtin()
GADGETS = Resource(group="example.com", version="v1", kind="Gadget", plural="gadgets", namespaced=True,
                   verbs=("create", "delete", "get", "list", "patch", "update", "watch"), subresources=("status",),
                   crd="gadgets.example.com")
PLAIN = Resource(group="example.com", version="v1", kind="Plain", plural="plains", namespaced=True,
                 verbs=GADGETS.verbs, subresources=("status",), crd="plains.example.com")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {"type": "object", "properties": {
            "size": {"type": "integer", "default": 3},
            "color": {"type": "string"},
            "shape": {"type": "string", "nullable": True, "default": "round"},
            "inner": {"type": "object", "properties": {"deep": {"type": "string", "default": "d"}}},
            "made": {"type": "object", "default": {}, "properties": {"by": {"type": "string", "default": "me"}}},
            "ports": {"type": "array", "items": {"type": "object", "default": {"port": 80}, "properties": {
                "port": {"type": "integer"}, "protocol": {"type": "string", "default": "TCP"}}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string", "default": "x"}},
        }},
        "status": {"type": "object", "default": {"phase": "Pending", "observedGeneration": 0},
                   "properties": {"phase": {"type": "string"}, "observedGeneration": {"type": "integer"}}},
    },
}


def d(obj: Any, schema: dict[str, Any] = SCHEMA) -> Any:
    return defaulting.default(defaulting.defaulter_of(schema), obj)


# ---------------------------------------------------------------------------------------------- the algorithm

def test_absent_fields_get_their_defaults_and_nested_ones_only_under_an_existing_parent():
    out = d({"spec": {}})
    assert out["spec"]["size"] == 3 and out["spec"]["shape"] == "round"
    assert "inner" not in out["spec"]  # no parent object: its default does not apply
    assert out["spec"]["made"] == {"by": "me"}  # a default is itself defaulted
    assert out["status"] == {"phase": "Pending", "observedGeneration": 0}
    assert d({})["status"] == {"phase": "Pending", "observedGeneration": 0}
    assert "spec" not in d({})
    assert d({"spec": {"inner": {}}})["spec"]["inner"] == {"deep": "d"}


def test_given_values_are_kept_and_nulls_follow_nullable():
    out = d({"spec": {"size": 5, "shape": None, "made": None, "color": None}})
    assert out["spec"]["size"] == 5
    assert out["spec"]["shape"] is None  # nullable: null is a value
    assert out["spec"]["made"] == {"by": "me"}  # not nullable: null takes the default
    assert out["spec"]["color"] is None  # no default: left for pruning (prune_nulls)


def test_items_and_additional_properties_are_defaulted():
    out = d({"spec": {"ports": [{"port": 8080}, None], "labels": {"a": "b", "c": None}}})
    assert out["spec"]["ports"] == [{"port": 8080, "protocol": "TCP"}, {"port": 80, "protocol": "TCP"}]
    assert out["spec"]["labels"] == {"a": "b", "c": "x"}


def test_a_declared_property_is_not_defaulted_by_additional_properties():
    schema = {"type": "object", "properties": {"known": {"type": "string"}},
              "additionalProperties": {"type": "string", "default": "x"}}
    assert d({"known": None, "other": None}, schema) == {"known": None, "other": "x"}


def test_copy_on_write_and_defaults_are_copies():
    obj = {"spec": {"size": 1, "inner": {"deep": "z"}}, "status": {"phase": "Ready"}, "other": {"k": 1}}
    before = copy.deepcopy(obj)
    out = d(obj)
    assert obj == before  # the argument is never modified
    assert out is not obj and out["other"] is obj["other"]  # copied only along the changed path
    done = d({"spec": {"size": 1, "shape": "s", "made": {"by": "x"}}, "status": {}})
    assert d(done) is done  # nothing to add: the same object
    a, b = d({}), d({})
    a["status"]["phase"] = "changed"
    assert b["status"]["phase"] == "Pending"


def test_a_schema_without_defaults_compiles_to_nothing():
    assert defaulting.defaulter_of({"type": "object", "properties": {"a": {"type": "string"}}}) is None
    assert defaulting.defaulter_of(None) is None
    assert defaulting.defaulter_of({"type": "object", "properties": {"a": {"type": "string", "default": None}}}) \
        is None  # a null default is no default


def test_prune_nulls_drops_the_nulls_neither_allowed_nor_defaulted():
    obj = {"spec": {"color": None, "shape": None, "made": None, "ports": [None], "labels": {"a": None}},
           "unknown": None}
    out = defaulting.prune_nulls(obj, SCHEMA)
    assert out["spec"] == {"shape": None, "made": None, "ports": [None], "labels": {"a": None}}
    assert out["unknown"] is None  # no schema for it: left to pruning of unknown fields
    assert obj["spec"]["color"] is None  # not modified
    plain = {"spec": {"size": 1}}
    assert defaulting.prune_nulls(plain, SCHEMA) is plain


# ---------------------------------------------------------------------------------------------- in the store

def crd(name: str, plural: str, kind: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"plural": plural, "kind": kind},
                     "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": schema}}]}}


@pytest.fixture
def store() -> Store:
    r = Registry(dict(BUILTIN.by_plural), dict(BUILTIN.by_kind))
    r.add(GADGETS)
    r.add(PLAIN)
    s = Store(r, VirtualLoop(1_800_000_000.0))
    crds = r.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    assert crds is not None
    s.create(crds, None, crd("gadgets.example.com", "gadgets", "Gadget", SCHEMA))
    s.create(crds, None, crd("plains.example.com", "plains", "Plain",
                             {"type": "object", "x-kubernetes-preserve-unknown-fields": True}))
    return s


def gadget(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": name}, "spec": spec}


def test_every_read_carries_the_defaults_the_create_dropped_status_included(store):
    events: list[dict] = []
    store.watch(GADGETS, "default", events.append, resource_version=store.resource_version)
    created = store.create(GADGETS, "default", {**gadget("g", color=None), "status": {"phase": "Ready"}})
    pending = {"phase": "Pending", "observedGeneration": 0}
    assert created["status"] == pending  # the request's status dropped, the default read back
    assert created["spec"] == {"size": 3, "shape": "round", "made": {"by": "me"}}  # null color pruned
    assert store.get(GADGETS, "default", "g")["status"] == pending
    assert store.list(GADGETS, "default")["items"][0]["status"] == pending
    assert events[0]["object"]["status"] == pending
    initial: list[dict] = []
    store.watch(GADGETS, "default", initial.append, resource_version="")
    assert initial[0]["object"]["status"] == pending
    everything: list[dict] = []
    store.watch(None, None, everything.append, resource_version=store.resource_version)
    store.patch(GADGETS, "default", "g", "merge", {"metadata": {"labels": {"a": "b"}}})
    assert everything[-1]["object"]["status"] == pending


def test_defaults_read_are_not_written_back(store):
    store.create(GADGETS, "default", gadget("g"))
    crds = store.registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    assert crds is not None
    live = copy.deepcopy(store.get(crds, None, "gadgets.example.com"))
    changed = copy.deepcopy(SCHEMA)
    changed["properties"]["status"]["default"] = {"phase": "Unknown"}
    live["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = changed
    store.update(crds, None, "gadgets.example.com", live)
    # the stored object never held the first default: reads now show the new one
    assert store.get(GADGETS, "default", "g")["status"] == {"phase": "Unknown"}
    assert store.get(GADGETS, "default", "g")["spec"]["size"] == 3  # the spec's default was decoded in the create


def test_a_status_write_replaces_the_default_and_a_patch_starts_from_it(store):
    store.create(GADGETS, "default", gadget("g"))
    out, _ = store.patch(GADGETS, "default", "g", "merge", {"status": {"phase": "Ready"}}, subresource="status")
    assert out["status"] == {"phase": "Ready", "observedGeneration": 0}  # merged onto the status as read
    assert store.get(GADGETS, "default", "g")["status"] == {"phase": "Ready", "observedGeneration": 0}
    out, _ = store.patch(GADGETS, "default", "g", "merge", {"status": {"observedGeneration": 1}},
                         subresource="status")
    assert out["status"] == {"phase": "Ready", "observedGeneration": 1}


def test_update_and_apply_bodies_are_defaulted(store):
    g = store.create(GADGETS, "default", gadget("g", size=7))
    body = copy.deepcopy(g)
    body["spec"] = {"inner": {}}
    out = store.update(GADGETS, "default", "g", body)
    assert out["spec"]["size"] == 3 and out["spec"]["inner"] == {"deep": "d"}
    assert out["metadata"]["generation"] == 2
    out, created = store.patch(GADGETS, "default", "h", "apply",
                               {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "h"},
                                "spec": {"ports": [{"port": 1}]}}, field_manager="me")
    assert created and out["spec"]["ports"] == [{"port": 1, "protocol": "TCP"}]
    assert out["status"] == {"phase": "Pending", "observedGeneration": 0}


def test_a_crd_without_defaults_hands_out_the_stored_object(store):
    store.create(PLAIN, "default", {"apiVersion": "example.com/v1", "kind": "Plain", "metadata": {"name": "p"},
                                    "spec": {"a": None}})
    first = store.get(PLAIN, "default", "p")
    assert store.get(PLAIN, "default", "p") is first  # no defaulting pass, no copy
    assert store._defaulter(PLAIN) is None
    assert first["spec"] == {"a": None}  # preserved unknown fields: no schema, no null pruning


# ---------------------------------------------------------------------------------------------- CRD validation

def test_a_crd_whose_defaults_do_not_fit_their_schema_is_refused():
    from helm_ac.kubesim import validation
    from helm_ac.kubesim.errors import StatusError

    bad = copy.deepcopy(SCHEMA)
    bad["properties"]["status"]["properties"]["phase"]["enum"] = ["Pending", "Ready"]
    bad["properties"]["status"]["default"] = {"phase": "Done", "observedGeneration": "x", "extra": 1}
    bad["properties"]["spec"]["properties"]["size"]["default"] = "three"
    obj = crd("gadgets.example.com", "gadgets", "Gadget", bad)
    base = "spec.versions[0].schema.openAPIV3Schema.properties"
    got = {(c["field"], c["reason"]) for c in validation.default_causes(obj)}
    assert got == {
        (f"{base}[spec].properties[size].default", "FieldValueTypeInvalid"),
        (f"{base}[status].default", "FieldValueInvalid"),  # must not have unknown fields
        (f"{base}[status].default.phase", "FieldValueNotSupported"),
        (f"{base}[status].default.observedGeneration", "FieldValueTypeInvalid"),
    }
    crds_res = BUILTIN.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    assert crds_res is not None
    with pytest.raises(StatusError) as e:
        validation.validate(crds_res, obj)
    assert e.value.code == 422 and "must not have unknown fields" in str(e.value.status())
    assert validation.default_causes(crd("gadgets.example.com", "gadgets", "Gadget", SCHEMA)) == []


def test_deletes_answer_the_object_as_read(store):
    store.create(GADGETS, "default", {**gadget("g"), "metadata": {"name": "g", "finalizers": ["example.com/hold"]}})
    store.create(GADGETS, "default", {**gadget("h"), "metadata": {"name": "h", "finalizers": ["example.com/hold"]}})
    pending = {"phase": "Pending", "observedGeneration": 0}
    assert store.delete(GADGETS, "default", "g")["status"] == pending  # held by its finalizer: the object
    listed = store.delete_collection(GADGETS, "default")
    assert [o["status"] for o in listed["items"]] == [pending, pending]
