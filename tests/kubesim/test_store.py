"""The in-memory store: Kubernetes' write, delete, garbage-collection, list and watch semantics."""
from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helm_ac.clock import VirtualLoop
from helm_ac.kubesim.errors import StatusError
from helm_ac.kubesim.resources import Registry, Resource
from helm_ac.kubesim.store import Change, Operation, Store

BUILTIN = Registry.builtin()
WIDGETS = Resource(group="example.com", version="v1", kind="Widget", plural="widgets", namespaced=True,
                   verbs=("create", "delete", "get", "list", "patch", "update", "watch"), crd="widgets.example.com")
GADGETS = Resource(group="example.com", version="v1", kind="Gadget", plural="gadgets", namespaced=True,
                   verbs=WIDGETS.verbs, subresources=("status",), crd="gadgets.example.com")
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@pytest.fixture
def reg() -> Registry:
    r = Registry(dict(BUILTIN.by_plural), dict(BUILTIN.by_kind))
    r.add(WIDGETS)
    r.add(GADGETS)
    return r


@pytest.fixture
def loop() -> VirtualLoop:
    return VirtualLoop(T0)


@pytest.fixture
def store(reg: Registry, loop: VirtualLoop) -> Store:
    return Store(reg, loop)


def res(reg: Registry, plural: str, group: str = "", version: str = "v1") -> Resource:
    r = reg.lookup(group, version, plural)
    assert r is not None, plural
    return r


@pytest.fixture
def R(reg: Registry):  # noqa: N802 - reads like a type: R("pods")
    return lambda plural, group="", version="v1": res(reg, plural, group, version)


def cm(name: str, ns: str | None = None, **meta: Any) -> dict:
    m: dict[str, Any] = {"name": name, **meta}
    if ns:
        m["namespace"] = ns
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": m, "data": {"k": "v"}}


def owner_ref(owner: dict, *, block: bool = False) -> dict:
    ref = {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
           "uid": owner["metadata"]["uid"], "controller": True}
    if block:
        ref["blockOwnerDeletion"] = True
    return ref


def events_of(store: Store, r: Resource, ns: str | None = None, **kw: Any) -> list[dict]:
    got: list[dict] = []
    store.watch(r, ns, got.append, resource_version=store.resource_version, **kw)
    return got


def summary(events: list[dict]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]


def err(fn, *a, **kw) -> StatusError:
    with pytest.raises(StatusError) as e:
        fn(*a, **kw)
    return e.value


# ---------------------------------------------------------------------------------------------- create

def test_system_namespaces_exist_and_namespaces_get_their_finalizer_and_phase(store, R):
    names = [o["metadata"]["name"] for o in store.list(R("namespaces"), None)["items"]]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
    ns = store.create(R("namespaces"), None, {"metadata": {"name": "team"}})
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    assert ns["status"] == {"phase": "Active"}
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == "team"
    assert (ns["apiVersion"], ns["kind"]) == ("v1", "Namespace")


def test_create_fills_system_fields_and_does_not_touch_the_callers_dict(store, R):
    body = cm("a")
    before = copy.deepcopy(body)
    rv0 = int(store.resource_version)
    out = store.create(R("configmaps"), "default", body)
    assert body == before
    m = out["metadata"]
    assert m["namespace"] == "default"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", m["uid"])
    assert m["creationTimestamp"] == "2027-01-15T08:00:00Z"
    assert m["resourceVersion"] == str(rv0 + 1) == store.resource_version
    assert "generation" not in m  # a ConfigMap has none (its strategy does not track it)
    assert store.get(R("configmaps"), "default", "a") == out


def test_create_namespace_rules(store, R):
    e = err(store.create, R("configmaps"), "default", cm("a", ns="other"))
    assert (e.code, e.reason) == (400, "BadRequest")
    assert e.message == "the namespace of the provided object does not match the namespace sent on the request"
    e = err(store.create, R("configmaps"), "nope", cm("a"))
    assert (e.code, e.reason, e.message) == (404, "NotFound", 'namespaces "nope" not found')


def test_create_in_a_terminating_namespace_is_forbidden(store, R):
    store.create(R("namespaces"), None, {"metadata": {"name": "old"}})
    store.create(R("configmaps"), "old", cm("held", finalizers=["example.com/hold"]))
    store.delete(R("namespaces"), None, "old")
    assert store.get(R("namespaces"), None, "old")["status"]["phase"] == "Terminating"
    e = err(store.create, R("configmaps"), "old", cm("new"))
    assert (e.code, e.reason) == (403, "Forbidden")
    assert e.message == ('configmaps "new" is forbidden: unable to create new content in namespace old '
                         'because it is being terminated')


def test_generate_name_is_seeded_by_the_store(reg, loop, R):
    names = []
    for _ in range(2):
        s = Store(reg, VirtualLoop(T0), seed=7)
        names.append([s.create(R("configmaps"), "default", {"metadata": {"generateName": "job-"}})["metadata"]["name"]
                      for _ in range(3)])
    assert names[0] == names[1]
    assert len(set(names[0])) == 3
    for n in names[0]:
        assert re.fullmatch(r"job-[bcdfghjklmnpqrstvwxz2456789]{5}", n)
    long = Store(reg, loop).create(R("configmaps"), "default", {"metadata": {"generateName": "x" * 70}})
    assert len(long["metadata"]["name"]) == 63


@pytest.mark.parametrize("plural,group,name,ok", [
    ("configmaps", "", "a.b-c", True), ("configmaps", "", "Upper", False), ("configmaps", "", "a_b", False),
    ("configmaps", "", "x" * 254, False), ("namespaces", "", "a.b", False), ("namespaces", "", "a-b", True),
    ("services", "", "1abc", False), ("services", "", "abc-1", True),
    ("clusterroles", "rbac.authorization.k8s.io", "system:controller:x", True),
    ("clusterroles", "rbac.authorization.k8s.io", "a/b", False),
])
def test_name_validation(store, R, plural, group, name, ok):
    r = R(plural, group)
    body = {"metadata": {"name": name}}
    ns = "default" if r.namespaced else None
    if ok:
        assert store.create(r, ns, body)["metadata"]["name"] == name
        return
    e = err(store.create, r, ns, body)
    assert (e.code, e.reason) == (422, "Invalid")
    assert e.details and e.details["causes"][0]["field"] == "metadata.name"
    assert e.message.startswith(f'{r.kind}{"." + group if group else ""} "{name}" is invalid: metadata.name: '
                                f'Invalid value: "{name}": ')


def test_missing_name_is_required(store, R):
    e = err(store.create, R("configmaps"), "default", {"metadata": {}})
    assert e.code == 422
    assert e.message == 'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required'


def test_already_exists(store, R):
    store.create(R("configmaps"), "default", cm("a"))
    e = err(store.create, R("configmaps"), "default", cm("a"))
    assert (e.code, e.reason, e.message) == (409, "AlreadyExists", 'configmaps "a" already exists')
    store.create(R("deployments", "apps"), "default", {"metadata": {"name": "d"}, "spec": {}})
    e = err(store.create, R("deployments", "apps"), "default", {"metadata": {"name": "d"}, "spec": {}})
    assert e.message == 'deployments.apps "d" already exists'


def test_status_is_dropped_on_create_where_status_is_a_subresource(store, R):
    d = store.create(R("deployments", "apps"), "default",
                     {"metadata": {"name": "d"}, "spec": {"replicas": 1}, "status": {"replicas": 5}})
    assert "status" not in d
    g = store.create(GADGETS, "default", {"metadata": {"name": "g"}, "status": {"ok": True}})
    assert "status" not in g
    w = store.create(WIDGETS, "default", {"metadata": {"name": "w"}, "status": {"ok": True}})
    assert w["status"] == {"ok": True}
    p = store.create(R("pods"), "default", {"metadata": {"name": "p"}, "spec": {"containers": []}})
    assert p["status"]["phase"] == "Pending"


# ---------------------------------------------------------------------------------------------- update

def test_update_conflicts_on_a_stale_resource_version(store, R):
    a = store.create(R("configmaps"), "default", cm("a"))
    store.update(R("configmaps"), "default", "a", {**a, "data": {"k": "2"}})
    e = err(store.update, R("configmaps"), "default", "a", {**a, "data": {"k": "3"}})
    assert (e.code, e.reason) == (409, "Conflict")
    assert e.message == ('Operation cannot be fulfilled on configmaps "a": the object has been modified; please '
                         'apply your changes to the latest version and try again')
    # without a resourceVersion the update is unconditional
    body = copy.deepcopy(a)
    del body["metadata"]["resourceVersion"]
    body["data"] = {"k": "4"}
    assert store.update(R("configmaps"), "default", "a", body)["data"] == {"k": "4"}


def test_update_never_creates(store, R):
    e = err(store.update, R("configmaps"), "default", "ghost", cm("ghost"))
    assert (e.code, e.message) == (404, 'configmaps "ghost" not found')


def test_generation_moves_on_spec_changes_only(store, R):
    d = store.create(R("deployments", "apps"), "default", {"metadata": {"name": "d"}, "spec": {"replicas": 1}})
    d = store.update(R("deployments", "apps"), "default", "d",
                     {**d, "metadata": {**d["metadata"], "labels": {"a": "b"}}})
    assert d["metadata"]["generation"] == 1
    d = store.update(R("deployments", "apps"), "default", "d", {**d, "spec": {"replicas": 2}})
    assert d["metadata"]["generation"] == 2
    # Deployments also count annotations (they are copied to the ReplicaSets)
    d = store.update(R("deployments", "apps"), "default", "d",
                     {**d, "metadata": {**d["metadata"], "annotations": {"x": "y"}}})
    assert d["metadata"]["generation"] == 3
    # a custom resource without a status subresource: a status change is a change
    w = store.create(WIDGETS, "default", {"metadata": {"name": "w"}, "spec": {"a": 1}})
    w = store.update(WIDGETS, "default", "w", {**w, "status": {"x": 1}})
    assert w["metadata"]["generation"] == 2


def test_status_subresource(store, R):
    dep = R("deployments", "apps")
    d = store.create(dep, "default", {"metadata": {"name": "d"}, "spec": {"replicas": 1}})
    d2 = store.update(dep, "default", "d", {**d, "spec": {"replicas": 9}, "status": {"replicas": 1}},
                      subresource="status")
    assert d2["spec"] == {"replicas": 1} and d2["status"] == {"replicas": 1}
    assert d2["metadata"]["generation"] == 1
    d3 = store.update(dep, "default", "d", {**d2, "status": {"replicas": 7}, "spec": {"replicas": 2}})
    assert d3["status"] == {"replicas": 1} and d3["spec"] == {"replicas": 2}
    assert d3["metadata"]["generation"] == 2


def test_immutable_metadata(store, R):
    a = store.create(R("configmaps"), "default", cm("a"))
    e = err(store.update, R("configmaps"), "default", "a", {**a, "metadata": {**a["metadata"], "uid": "x"}})
    assert (e.code, e.details["causes"][0]["field"]) == (422, "metadata.uid")
    e = err(store.update, R("configmaps"), "default", "a", {**a, "metadata": {**a["metadata"], "name": "b"}})
    assert e.code == 400 and "does not match the name on the URL" in e.message
    e = err(store.update, R("configmaps"), "default", "a",
            {**a, "metadata": {**a["metadata"], "namespace": "kube-system"}})
    assert e.code == 400
    out = store.update(R("configmaps"), "default", "a",
                       {**a, "metadata": {**a["metadata"], "creationTimestamp": "2000-01-01T00:00:00Z"},
                        "data": {"k": "new"}})
    assert out["metadata"]["creationTimestamp"] == a["metadata"]["creationTimestamp"]


def test_a_no_op_update_neither_bumps_the_version_nor_emits(store, R):
    a = store.create(R("configmaps"), "default", cm("a"))
    seen = events_of(store, R("configmaps"))
    assert store.update(R("configmaps"), "default", "a", a)["metadata"]["resourceVersion"] == \
        a["metadata"]["resourceVersion"]
    assert seen == []


# ---------------------------------------------------------------------------------------------- finalizers

def test_finalizers_hold_a_deleted_object_until_removed(store, R, loop):
    r = R("configmaps")
    store.create(r, "default", cm("a", finalizers=["example.com/a", "example.com/b"]))
    seen = events_of(store, r)
    loop.call_later(5, lambda: None)
    loop.run()
    held = store.delete(r, "default", "a")
    assert held["metadata"]["deletionTimestamp"] == "2027-01-15T08:00:05Z"
    assert held["metadata"]["deletionGracePeriodSeconds"] == 0
    assert "generation" not in held["metadata"]  # a ConfigMap has none; a Deployment's moves (test_generation.py)
    assert store.get(r, "default", "a") == held
    e = err(store.update, r, "default", "a",
            {**held, "metadata": {**held["metadata"], "finalizers": ["example.com/a", "example.com/b", "c/d"]}})
    assert e.code == 422 and "no new finalizers can be added if the object is being deleted" in e.message
    one = store.update(r, "default", "a", {**held, "metadata": {**held["metadata"], "finalizers": ["example.com/b"]}})
    assert one["metadata"]["deletionTimestamp"] == held["metadata"]["deletionTimestamp"]
    store.update(r, "default", "a", {**one, "metadata": {**one["metadata"], "finalizers": []}})
    assert store.find(r, "default", "a") is None
    assert summary(seen) == [("MODIFIED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


def test_delete_preconditions(store, R):
    r = R("configmaps")
    a = store.create(r, "default", cm("a"))
    e = err(store.delete, r, "default", "a", preconditions={"uid": "other"})
    assert (e.code, e.reason) == (409, "Conflict")
    assert "Precondition failed: UID in precondition: other" in e.message
    e = err(store.delete, r, "default", "a", preconditions={"resourceVersion": "1"})
    assert "Precondition failed: ResourceVersion in precondition: 1" in e.message
    gone = store.delete(r, "default", "a", preconditions={"uid": a["metadata"]["uid"],
                                                          "resourceVersion": a["metadata"]["resourceVersion"]})
    assert gone["metadata"]["uid"] == a["metadata"]["uid"]
    assert err(store.delete, r, "default", "a").code == 404


# ---------------------------------------------------------------------------------------------- garbage collection

def _chain(store: Store, R, *, block: bool = False, pod_finalizers: list[str] | None = None):
    dep = store.create(R("deployments", "apps"), "default", {"metadata": {"name": "web"}, "spec": {}})
    rs = store.create(R("replicasets", "apps"), "default",
                      {"metadata": {"name": "web-1", "ownerReferences": [owner_ref(dep, block=block)]}, "spec": {}})
    pods = [store.create(R("pods"), "default",
                         {"metadata": {"name": f"web-1-{i}", "ownerReferences": [owner_ref(rs, block=block)],
                                       **({"finalizers": pod_finalizers} if pod_finalizers else {})},
                          "spec": {"containers": []}}) for i in range(2)]
    return dep, rs, pods


def test_background_deletion_collects_dependents_of_dependents(store, R):
    _chain(store, R)
    store.delete(R("deployments", "apps"), "default", "web")
    assert store.find(R("deployments", "apps"), "default", "web") is None
    assert store.list(R("replicasets", "apps"), "default")["items"] == []
    assert store.list(R("pods"), "default")["items"] == []


def test_a_dependent_with_another_owner_survives_and_loses_the_dangling_reference(store, R):
    a = store.create(R("configmaps"), "default", cm("owner-a"))
    b = store.create(R("configmaps"), "default", cm("owner-b"))
    store.create(R("secrets"), "default", {"metadata": {"name": "s", "ownerReferences": [owner_ref(a), owner_ref(b)]}})
    store.delete(R("configmaps"), "default", "owner-a")
    s = store.get(R("secrets"), "default", "s")
    assert [r["name"] for r in s["metadata"]["ownerReferences"]] == ["owner-b"]
    store.delete(R("configmaps"), "default", "owner-b")
    assert store.find(R("secrets"), "default", "s") is None


def test_an_object_created_with_a_missing_owner_is_collected(store, R):
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ghost", "uid": "no-such-uid"}}
    store.create(R("secrets"), "default", {"metadata": {"name": "s", "ownerReferences": [owner_ref(ghost)]}})
    assert store.find(R("secrets"), "default", "s") is None


def test_foreground_deletion_waits_for_blocking_dependents(store, R):
    dep, rs, pods = _chain(store, R, block=True, pod_finalizers=["example.com/hold"])
    d = store.delete(R("deployments", "apps"), "default", "web", propagation="Foreground")
    assert "foregroundDeletion" in d["metadata"]["finalizers"] and d["metadata"]["deletionTimestamp"]
    # the chain is deleted in the foreground too: the ReplicaSet waits for its Pods, the Deployment for it
    rs_now = store.get(R("replicasets", "apps"), "default", "web-1")
    assert rs_now["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert all(p["metadata"].get("deletionTimestamp") for p in store.list(R("pods"), "default")["items"])
    assert store.find(R("deployments", "apps"), "default", "web") is not None
    for p in store.list(R("pods"), "default")["items"]:
        store.update(R("pods"), "default", p["metadata"]["name"],
                     {**p, "metadata": {**p["metadata"], "finalizers": []}})
    assert store.find(R("replicasets", "apps"), "default", "web-1") is None
    assert store.find(R("deployments", "apps"), "default", "web") is None


def test_orphan_deletion_keeps_dependents_without_the_reference(store, R):
    _chain(store, R)
    store.delete(R("deployments", "apps"), "default", "web", propagation="Orphan")
    assert store.find(R("deployments", "apps"), "default", "web") is None
    rs = store.get(R("replicasets", "apps"), "default", "web-1")
    assert "ownerReferences" not in rs["metadata"]
    assert len(store.list(R("pods"), "default")["items"]) == 2  # the ReplicaSet still owns its Pods


def test_bad_propagation_policy(store, R):
    store.create(R("configmaps"), "default", cm("a"))
    assert err(store.delete, R("configmaps"), "default", "a", propagation="Sideways").code == 422


# ---------------------------------------------------------------------------------------------- namespaces, CRDs

def test_namespace_deletion_deletes_its_content_then_itself(store, R):
    nsr = R("namespaces")
    store.create(nsr, None, {"metadata": {"name": "app"}})
    store.create(R("configmaps"), "app", cm("plain"))
    store.create(R("secrets"), "app", {"metadata": {"name": "held", "finalizers": ["example.com/x"]}})
    store.create(R("configmaps"), "default", cm("elsewhere"))
    seen = events_of(store, nsr)
    store.delete(nsr, None, "app")
    assert store.find(R("configmaps"), "app", "plain") is None
    held = store.get(R("secrets"), "app", "held")
    assert held["metadata"]["deletionTimestamp"]
    status = store.get(nsr, None, "app")["status"]
    assert status["phase"] == "Terminating"
    conditions = {c["type"]: (c["status"], c["message"]) for c in status["conditions"]}
    assert conditions["NamespaceContentRemaining"] == ("True", "Some resources are remaining: secrets. has 1 "
                                                               "resource instances")
    assert conditions["NamespaceFinalizersRemaining"] == ("True", "Some content in the namespace has finalizers "
                                                                  "remaining: example.com/x in 1 resource instances")
    store.update(R("secrets"), "app", "held", {**held, "metadata": {**held["metadata"], "finalizers": []}})
    assert store.find(nsr, None, "app") is None
    assert store.find(R("configmaps"), "default", "elsewhere") is not None
    assert summary(seen) == [("MODIFIED", "app"), ("MODIFIED", "app"), ("DELETED", "app")]


def test_deleting_a_crd_deletes_its_custom_resources_first(store, R):
    crds = R("customresourcedefinitions", "apiextensions.k8s.io")
    store.create(crds, None, {"metadata": {"name": "widgets.example.com"},
                              "spec": {"group": "example.com", "names": {"plural": "widgets", "kind": "Widget"},
                                       "scope": "Namespaced", "versions": [{"name": "v1", "served": True,
                                                                            "storage": True}]}})
    store.create(WIDGETS, "default", {"metadata": {"name": "w1"}})
    store.create(WIDGETS, "kube-system", {"metadata": {"name": "w2", "finalizers": ["example.com/x"]}})
    changes: list[Change] = []
    store.subscribe(changes.append)
    crd = store.delete(crds, None, "widgets.example.com")
    assert "customresourcecleanup.apiextensions.k8s.io" in crd["metadata"]["finalizers"]
    assert any(c["type"] == "Terminating" for c in crd["status"]["conditions"])
    assert store.find(WIDGETS, "default", "w1") is None
    assert store.find(crds, None, "widgets.example.com") is not None  # w2 still held by its finalizer
    w2 = store.get(WIDGETS, "kube-system", "w2")
    store.update(WIDGETS, "kube-system", "w2", {**w2, "metadata": {**w2["metadata"], "finalizers": []}})
    assert store.find(crds, None, "widgets.example.com") is None
    assert [(c.type, c.obj["metadata"]["name"]) for c in changes][-1] == ("DELETED", "widgets.example.com")


# ---------------------------------------------------------------------------------------------- list

def test_list_shape_sorting_and_selectors(store, R):
    r = R("configmaps")
    for ns, name, labels in [("kube-system", "b", {"app": "x"}), ("default", "z", {"app": "y", "tier": "web"}),
                             ("default", "a", {"app": "x"})]:
        store.create(r, ns, cm(name, labels=labels))
    out = store.list(r, None)
    assert (out["kind"], out["apiVersion"]) == ("ConfigMapList", "v1")
    assert out["metadata"] == {"resourceVersion": store.resource_version}
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in out["items"]] == \
        [("default", "a"), ("default", "z"), ("kube-system", "b")]
    assert all(o["kind"] == "ConfigMap" and o["apiVersion"] == "v1" for o in out["items"])

    def names(**kw):
        return [o["metadata"]["name"] for o in store.list(r, kw.pop("ns", None), **kw)["items"]]
    assert names(ns="default") == ["a", "z"]
    assert names(label_selector="app=x") == ["a", "b"]
    assert names(label_selector="app in (y),tier") == ["z"]
    assert names(label_selector="!tier,app!=y") == ["a", "b"]
    assert names(field_selector="metadata.name=z") == ["z"]
    assert names(field_selector="metadata.namespace!=default") == ["b"]
    e = err(store.list, r, None, label_selector="app in x")
    assert (e.code, e.reason) == (400, "BadRequest")
    e = err(store.list, r, None, field_selector="spec.nodeName=n1")
    assert (e.code, e.message) == (400, "field label not supported: spec.nodeName")


def test_pod_and_secret_field_selectors(store, R):
    p = store.create(R("pods"), "default", {"metadata": {"name": "p1"}, "spec": {"nodeName": "n1", "containers": []}})
    store.create(R("pods"), "default", {"metadata": {"name": "p2"}, "spec": {"containers": []}})
    store.update(R("pods"), "default", "p1", {**p, "status": {"phase": "Running"}}, subresource="status")
    pods = R("pods")
    assert [o["metadata"]["name"] for o in store.list(pods, None, field_selector="status.phase=Running")["items"]] \
        == ["p1"]
    assert [o["metadata"]["name"] for o in store.list(pods, None, field_selector="spec.nodeName=")["items"]] == ["p2"]
    store.create(R("secrets"), "default", {"metadata": {"name": "rel"}, "type": "helm.sh/release.v1"})
    store.create(R("secrets"), "default", {"metadata": {"name": "other"}, "type": "Opaque"})
    got = store.list(R("secrets"), "default", field_selector="type=helm.sh/release.v1")["items"]
    assert [o["metadata"]["name"] for o in got] == ["rel"]


def test_paging_is_a_consistent_snapshot(store, R):
    r = R("configmaps")
    for i in range(5):
        store.create(r, "default", cm(f"c{i}"))
    first = store.list(r, "default", limit=2)
    assert [o["metadata"]["name"] for o in first["items"]] == ["c0", "c1"]
    assert first["metadata"]["remainingItemCount"] == 3
    token = first["metadata"]["continue"]
    store.delete(r, "default", "c3")
    store.create(r, "default", cm("c2a"))
    c4 = store.get(r, "default", "c4")
    store.update(r, "default", "c4", {**c4, "data": {"k": "changed"}})
    second = store.list(r, "default", limit=2, continue_=token)
    assert [o["metadata"]["name"] for o in second["items"]] == ["c2", "c3"]
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    third = store.list(r, "default", limit=2, continue_=second["metadata"]["continue"])
    assert [o["metadata"]["name"] for o in third["items"]] == ["c4"]
    assert third["items"][0]["data"] == {"k": "v"}
    assert "continue" not in third["metadata"]
    assert err(store.list, r, "default", continue_="not-a-token").code == 400


def test_a_continue_token_older_than_the_history_expires(reg, loop, R):
    s = Store(reg, loop, history=3)
    r = R("configmaps")
    for i in range(3):
        s.create(r, "default", cm(f"c{i}"))
    token = s.list(r, "default", limit=1)["metadata"]["continue"]
    for i in range(3):
        s.create(r, "default", cm(f"d{i}"))
    # the three events since the token are all still in the history: the snapshot can be rebuilt
    assert [o["metadata"]["name"] for o in s.list(r, "default", continue_=token)["items"]] == ["c1", "c2"]
    s.create(r, "default", cm("d3"))
    e = err(s.list, r, "default", limit=1, continue_=token)
    assert (e.code, e.reason) == (410, "Expired")
    assert e.message.startswith("The provided continue parameter is too old")


def test_selectors_without_limit_have_no_remaining_count(store, R):
    r = R("configmaps")
    for i in range(3):
        store.create(r, "default", cm(f"c{i}", labels={"a": "b"}))
    out = store.list(r, "default", limit=1, label_selector="a=b")
    assert "remainingItemCount" not in out["metadata"] and out["metadata"]["continue"]


# ---------------------------------------------------------------------------------------------- watch

def test_watch_initial_events_and_the_end_bookmark(store, R):
    r = R("configmaps")
    store.create(r, "default", cm("b"))
    store.create(r, "default", cm("a"))
    got: list[dict] = []
    store.watch(r, "default", got.append, send_initial_events=True, allow_bookmarks=True)
    assert summary(got[:2]) == [("ADDED", "a"), ("ADDED", "b")]
    assert got[2]["type"] == "BOOKMARK"
    assert got[2]["object"]["metadata"] == {"resourceVersion": store.resource_version,
                                            "annotations": {"k8s.io/initial-events-end": "true"}}
    assert got[2]["object"]["kind"] == "ConfigMap"
    plain: list[dict] = []
    store.watch(r, "default", plain.append, resource_version="0")
    assert [e["type"] for e in plain] == ["ADDED", "ADDED"]  # no bookmark unless asked for


def test_watch_resume_replays_history_and_too_old_is_410(reg, loop, R):
    s = Store(reg, loop, history=4)
    r = R("configmaps")
    a = s.create(r, "default", cm("a"))
    rv = a["metadata"]["resourceVersion"]
    s.update(r, "default", "a", {**a, "data": {"k": "2"}})
    s.delete(r, "default", "a")
    got: list[dict] = []
    s.watch(r, None, got.append, resource_version=rv)
    assert summary(got) == [("MODIFIED", "a"), ("DELETED", "a")]
    assert int(got[1]["object"]["metadata"]["resourceVersion"]) == int(rv) + 2
    for i in range(4):
        s.create(r, "default", cm(f"x{i}"))
    e = err(s.watch, r, None, got.append, resource_version=rv)
    assert (e.code, e.reason) == (410, "Expired")
    assert re.fullmatch(rf"too old resource version: {rv} \(\d+\)", e.message)


def test_watch_selector_transitions(store, R):
    r = R("configmaps")
    store.create(r, "default", cm("a", labels={"app": "x"}))
    got = events_of(store, r, label_selector="app=x")
    a = store.get(r, "default", "a")
    a = store.update(r, "default", "a", {**a, "data": {"k": "2"}})
    a = store.update(r, "default", "a", {**a, "metadata": {**a["metadata"], "labels": {"app": "y"}}})
    a = store.update(r, "default", "a", {**a, "data": {"k": "3"}})  # outside: nothing
    a = store.update(r, "default", "a", {**a, "metadata": {**a["metadata"], "labels": {"app": "x"}}})
    store.create(r, "default", cm("other", labels={"app": "y"}))
    assert summary(got) == [("MODIFIED", "a"), ("DELETED", "a"), ("ADDED", "a")]
    assert got[1]["object"]["metadata"]["labels"] == {"app": "x"}  # the previous content, at the event's rv
    assert got[1]["object"]["metadata"]["resourceVersion"] == str(int(got[0]["object"]["metadata"]
                                                                       ["resourceVersion"]) + 1)


def test_watch_namespace_filter_stop_and_bookmark(store, R):
    r = R("configmaps")
    got: list[dict] = []
    w = store.watch(r, "default", got.append, resource_version=store.resource_version, allow_bookmarks=True)
    store.create(r, "kube-system", cm("elsewhere"))
    store.create(r, "default", cm("here"))
    w.bookmark()
    assert summary(got) == [("ADDED", "here"), ("BOOKMARK", "")]
    assert got[1]["object"]["metadata"]["resourceVersion"] == store.resource_version
    w.stop()
    store.create(r, "default", cm("after"))
    assert len(got) == 2


def test_watch_of_all_resources(store, R):
    got: list[dict] = []
    store.watch(None, "default", got.append, resource_version=store.resource_version)
    store.create(R("configmaps"), "default", cm("a"))
    store.create(R("secrets"), "default", {"metadata": {"name": "s"}})
    assert [(e["type"], e["object"]["kind"]) for e in got] == [("ADDED", "ConfigMap"), ("ADDED", "Secret")]


def test_a_failing_sink_stops_its_watch_not_the_write(store, R):
    def bad(event: dict) -> None:
        raise RuntimeError("client went away")
    w = store.watch(R("configmaps"), None, bad, resource_version=store.resource_version)
    store.create(R("configmaps"), "default", cm("a"))
    assert w.stopped and isinstance(w.error, RuntimeError)
    assert store.find(R("configmaps"), "default", "a") is not None


# ---------------------------------------------------------------------------------------------- hooks

def test_subscribers_may_write_long_chains_without_recursion(store, R):
    r = R("configmaps")
    order: list[tuple[str, str, int]] = []

    def next_link(ch: Change) -> None:
        order.append((ch.type, ch.obj["metadata"]["name"], int(ch.obj["metadata"]["resourceVersion"])))
        name = ch.obj["metadata"]["name"]
        if ch.type == "ADDED" and name.startswith("link-"):
            i = int(name[5:])
            if i < 3000:
                store.create(r, "default", cm(f"link-{i + 1}"))
    unsubscribe = store.subscribe(next_link)
    store.create(r, "default", cm("link-0"))
    assert store.count(r) == 3001
    assert [rv for _, _, rv in order] == sorted(rv for _, _, rv in order)
    unsubscribe()
    store.create(r, "default", cm("free"))
    assert order[-1][1] == "link-3000"


def test_a_subscriber_error_reaches_the_caller_after_the_others_ran(store, R):
    seen: list[str] = []

    def boom(ch: Change) -> None:
        raise RuntimeError("controller bug")
    store.subscribe(boom)
    store.subscribe(lambda ch: seen.append(ch.obj["metadata"]["name"]))
    with pytest.raises(RuntimeError):
        store.create(R("configmaps"), "default", cm("a"))
    assert seen == ["a"] and store.find(R("configmaps"), "default", "a") is not None


def test_admission_mutates_or_refuses(store, R):
    ops: list[Operation] = []

    def admit(op: Operation) -> None:
        ops.append(op)
        if op.verb == "create" and op.resource.plural == "services":
            op.obj["spec"]["clusterIP"] = "10.96.0.10"  # type: ignore[index]
        if op.obj is not None and op.obj["metadata"]["name"] == "refused":
            raise StatusError(422, "Invalid", "no")
    store.add_admission(admit)
    svc = store.create(R("services"), "default", {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})
    assert svc["spec"]["clusterIP"] == "10.96.0.10"
    rv = store.resource_version
    assert err(store.create, R("configmaps"), "default", cm("refused")).code == 422
    assert store.resource_version == rv and store.find(R("configmaps"), "default", "refused") is None
    store.delete(R("services"), "default", "web")
    assert [(o.verb, o.resource.plural, o.name) for o in ops] == \
        [("create", "services", "web"), ("create", "configmaps", "refused"), ("delete", "services", "web")]
    assert ops[-1].old is not None and ops[-1].obj is None


def test_dry_run_changes_nothing(store, R):
    r = R("configmaps")
    rv = store.resource_version
    out = store.create(r, "default", cm("a"), dry_run=True)
    assert out["metadata"]["uid"] and store.find(r, "default", "a") is None and store.resource_version == rv
    store.create(r, "default", cm("b"))
    rv = store.resource_version
    b = store.get(r, "default", "b")
    assert store.update(r, "default", "b", {**b, "data": {}}, dry_run=True)["data"] == {}
    store.delete(r, "default", "b", dry_run=True)
    assert store.get(r, "default", "b") == b and store.resource_version == rv


def test_delete_collection(store, R):
    r = R("configmaps")
    for name, app in [("a", "x"), ("b", "y"), ("c", "x")]:
        store.create(r, "default", cm(name, labels={"app": app}))
    out = store.delete_collection(r, "default", label_selector="app=x")
    assert [o["metadata"]["name"] for o in out["items"]] == ["a", "c"]
    assert [o["metadata"]["name"] for o in store.list(r, "default")["items"]] == ["b"]


# ---------------------------------------------------------------------------------------------- patch

def test_merge_and_json_patches(store, R):
    r = R("configmaps")
    store.create(r, "default", cm("a"), field_manager="tester")
    out, created = store.patch(r, "default", "a", "merge", b'{"data": {"k": null, "n": "1"}}')
    assert (out["data"], created) == ({"n": "1"}, False)
    out, _ = store.patch(r, "default", "a", "json", [{"op": "add", "path": "/data/m", "value": "2"}])
    assert out["data"] == {"n": "1", "m": "2"}
    assert out["metadata"]["managedFields"]
    e = err(store.patch, r, "default", "a", "merge", {"metadata": {"resourceVersion": "1"}, "data": {}})
    assert (e.code, e.reason) == (409, "Conflict")
    assert err(store.patch, r, "default", "ghost", "merge", {}).code == 404
    e = err(store.patch, r, "default", "a", "merge", {}, force=True)
    assert e.message == ('PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for '
                         'non-apply patch')
    # given at all (false too) is refused, as kube-apiserver (and the HTTP face) do: the store was
    # checking only a true force; and the options come before the body (a bad one was a 400)
    assert err(store.patch, r, "default", "a", "merge", {}, force=False).code == 422
    assert err(store.patch, r, "default", "a", "json", b"not json", force=True).code == 422


def test_apply_creates_then_updates(store, R):
    r = R("configmaps")
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n"
    e = err(store.patch, r, "default", "a", "apply", body)
    assert (e.code, e.message) == (422, 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is '
                                        'required for apply patch')
    out, created = store.patch(r, "default", "a", "apply", body, field_manager="helm")
    assert created and out["data"] == {"k": "v"} and out["metadata"]["uid"]
    assert out["metadata"]["managedFields"][0]["manager"] == "helm"
    out, created = store.patch(r, "default", "a", "apply", body.replace(b"k: v", b"k: w"), field_manager="helm")
    assert not created and out["data"] == {"k": "w"}


def test_namespace_finalizers_change_only_through_finalize(store, R):
    nsr = R("namespaces")
    ns = store.create(nsr, None, {"metadata": {"name": "team"}})
    out = store.update(nsr, None, "team", {**ns, "spec": {}, "metadata": {**ns["metadata"], "labels": {"a": "b",
                                                                          "kubernetes.io/metadata.name": "team"}}})
    assert out["spec"] == {"finalizers": ["kubernetes"]} and out["metadata"]["labels"]["a"] == "b"
    out = store.update(nsr, None, "team", {**out, "spec": {}}, subresource="finalize")
    assert out["spec"] == {}


def test_the_system_namespaces_may_not_be_deleted(store, R):
    e = err(store.delete, R("namespaces"), None, "kube-system")
    assert (e.code, e.reason, e.message) == (403, "Forbidden",
                                             'namespaces "kube-system" is forbidden: this namespace may not be deleted')
    store.delete(R("namespaces"), None, "kube-node-lease")  # not one of the immortal three
    assert store.find(R("namespaces"), None, "kube-node-lease") is None


def test_all_versions_of_a_resource_share_one_storage(store, R):
    v2 = R("horizontalpodautoscalers", "autoscaling", "v2")
    v1 = R("horizontalpodautoscalers", "autoscaling", "v1")
    store.create(v2, "default", {"metadata": {"name": "h"}, "spec": {"maxReplicas": 3}})
    assert store.get(v1, "default", "h")["apiVersion"] == "autoscaling/v1"
    assert [o["apiVersion"] for o in store.list(v1, None)["items"]] == ["autoscaling/v1"]
    assert store.get(v2, "default", "h")["apiVersion"] == "autoscaling/v2"


def test_managed_fields_follow_every_write(store, R):
    r = R("configmaps")
    a = store.create(r, "default", cm("a"), field_manager="helm")
    assert [(m["manager"], m["operation"]) for m in a["metadata"]["managedFields"]] == [("helm", "Update")]
    a = store.update(r, "default", "a", {**a, "data": {"k": "v", "extra": "1"}}, field_manager="kubectl-edit")
    assert [m["manager"] for m in a["metadata"]["managedFields"]] == ["helm", "kubectl-edit"]
    assert a["metadata"]["managedFields"][0]["time"] == "2027-01-15T08:00:00Z"


def test_strategic_merge_patch_uses_the_kinds_schema(store, R):
    dep = R("deployments", "apps")
    store.create(dep, "default", {"metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}})
    out, _ = store.patch(dep, "default", "d", "strategic",
                         {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "b:2"}]}}}})
    assert out["spec"]["template"]["spec"]["containers"] == [{"name": "a", "image": "a:1"},
                                                             {"name": "b", "image": "b:2"}]
    assert out["metadata"]["generation"] == 2
    store.create(WIDGETS, "default", {"metadata": {"name": "w"}})
    assert err(store.patch, WIDGETS, "default", "w", "strategic", {"spec": {}}).code == 415


def test_apply_conflicts_unless_forced(store, R):
    r = R("configmaps")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}
    store.patch(r, "default", "a", "apply", body, field_manager="helm")
    other = {**body, "data": {"k": "mine"}}
    e = err(store.patch, r, "default", "a", "apply", other, field_manager="kubectl")
    assert (e.code, e.reason) == (409, "Conflict")
    out, created = store.patch(r, "default", "a", "apply", other, field_manager="kubectl", force=True)
    assert not created and out["data"] == {"k": "mine"}
    # a field the manager no longer applies is removed
    store.patch(r, "default", "b", "apply", {**body, "metadata": {"name": "b"}, "data": {"x": "1", "y": "2"}},
                field_manager="helm")
    out, _ = store.patch(r, "default", "b", "apply", {**body, "metadata": {"name": "b"}, "data": {"x": "1"}},
                         field_manager="helm")
    assert out["data"] == {"x": "1"}


def test_a_watch_from_the_future_is_too_large(store, R):
    future = int(store.resource_version) + 10
    e = err(store.watch, R("configmaps"), None, lambda ev: None, resource_version=str(future))
    assert (e.code, e.reason) == (504, "Timeout")
    assert e.message == f"Timeout: Too large resource version: {future}, current: {store.resource_version}"
    assert e.details and e.details["causes"][0]["reason"] == "ResourceVersionTooLarge"


def _pod(name: str, *, node: str = "", phase: str = "", **spec: Any) -> dict:
    body: dict[str, Any] = {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "i"}], **spec}}
    if node:
        body["spec"]["nodeName"] = node
    return body


def test_a_scheduled_pod_is_deleted_gracefully(store, R, loop):
    pods = R("pods")
    store.create(pods, "default", _pod("p", node="n1"))
    seen = events_of(store, pods)
    held = store.delete(pods, "default", "p")
    assert held["metadata"]["deletionGracePeriodSeconds"] == 30
    assert held["metadata"]["deletionTimestamp"] == "2027-01-15T08:00:30Z"
    # the kubelet may still write status; a longer grace period changes nothing
    p = store.update(pods, "default", "p", {**held, "status": {"phase": "Running"}}, subresource="status")
    assert store.delete(pods, "default", "p", grace_period=60) == p
    short = store.delete(pods, "default", "p", grace_period=5)
    assert (short["metadata"]["deletionGracePeriodSeconds"], short["metadata"]["deletionTimestamp"]) == \
        (5, "2027-01-15T08:00:05Z")
    store.delete(pods, "default", "p", grace_period=0)
    assert store.find(pods, "default", "p") is None
    assert [t for t, _ in summary(seen)] == ["MODIFIED", "MODIFIED", "MODIFIED", "DELETED"]


@pytest.mark.parametrize("kind", ["unscheduled", "succeeded", "zero"])
def test_pods_deleted_at_once(store, R, kind):
    pods = R("pods")
    body = _pod("p", node="" if kind == "unscheduled" else "n1",
                **({"terminationGracePeriodSeconds": 0} if kind == "zero" else {}))
    p = store.create(pods, "default", body)
    if kind == "succeeded":
        store.update(pods, "default", "p", {**p, "status": {"phase": "Succeeded"}}, subresource="status")
    store.delete(pods, "default", "p")
    assert store.find(pods, "default", "p") is None


def test_garbage_collected_pods_terminate_gracefully(store, R):
    rs = store.create(R("replicasets", "apps"), "default", {"metadata": {"name": "rs"}, "spec": {}})
    body = _pod("p", node="n1")
    body["metadata"]["ownerReferences"] = [owner_ref(rs)]
    store.create(R("pods"), "default", body)
    store.delete(R("replicasets", "apps"), "default", "rs")
    assert store.get(R("pods"), "default", "p")["metadata"]["deletionGracePeriodSeconds"] == 30


# ---------------------------------------------------------------------------------------------- properties

OPS = st.lists(st.tuples(st.sampled_from(["create", "relabel", "delete", "touch"]), st.integers(0, 5),
                         st.sampled_from(["x", "y", None])), max_size=40)


def _apply(store: Store, r: Resource, op: str, i: int, app: str | None) -> None:
    name = f"c{i}"
    cur = store.find(r, "default", name)
    labels = {"app": app} if app else {}
    if op == "create" and cur is None:
        store.create(r, "default", cm(name, labels=labels))
    elif op == "relabel" and cur is not None:
        store.update(r, "default", name, {**cur, "metadata": {**cur["metadata"], "labels": labels}})
    elif op == "touch" and cur is not None:
        store.update(r, "default", name, {**cur, "data": {"n": str(int(cur["data"].get("n", "0")) + 1)}})
    elif op == "delete" and cur is not None:
        store.delete(r, "default", name)


def _mirror_sink(mirror: dict[str, dict]):
    def sink(ev: dict) -> None:
        name = ev["object"]["metadata"]["name"]
        if ev["type"] == "ADDED":
            assert name not in mirror
        else:
            assert name in mirror
        if ev["type"] == "DELETED":
            del mirror[name]
        else:
            mirror[name] = ev["object"]
    return sink


@settings(max_examples=60, deadline=None)
@given(OPS, OPS, st.sampled_from(["", "app=x", "app!=x", "app", "!app", "app in (x,y)"]))
def test_a_filtered_watch_mirrors_the_filtered_list(before, after, selector):
    """Initial events then live ones, or a resume from the middle on top of the list there, rebuild
    exactly what list answers: selector transitions included."""
    reg = Registry(dict(BUILTIN.by_plural), dict(BUILTIN.by_kind))
    store = Store(reg, VirtualLoop(T0))
    r = res(reg, "configmaps")
    for op in before:
        _apply(store, r, *op)
    live: dict[str, dict] = {}
    store.watch(r, "default", _mirror_sink(live), label_selector=selector)
    at_middle = {o["metadata"]["name"]: o for o in store.list(r, "default", label_selector=selector)["items"]}
    middle = store.resource_version
    for op in after:
        _apply(store, r, *op)
    listed = {o["metadata"]["name"]: o for o in store.list(r, "default", label_selector=selector)["items"]}
    assert live == listed
    resumed = dict(at_middle)
    store.watch(r, "default", _mirror_sink(resumed), resource_version=middle, label_selector=selector)
    assert resumed == listed


@settings(max_examples=60, deadline=None)
@given(OPS, OPS, st.integers(1, 4))
def test_paging_returns_the_first_pages_snapshot(before, during, limit):
    reg = Registry(dict(BUILTIN.by_plural), dict(BUILTIN.by_kind))
    store = Store(reg, VirtualLoop(T0))
    r = res(reg, "configmaps")
    for op in before:
        _apply(store, r, *op)
    expected = [(o["metadata"]["name"], o["metadata"]["resourceVersion"]) for o in store.list(r, "default")["items"]]
    page = store.list(r, "default", limit=limit)
    got = [(o["metadata"]["name"], o["metadata"]["resourceVersion"]) for o in page["items"]]
    for op in during:  # everything may change before the next pages are asked for
        _apply(store, r, *op)
    while page["metadata"].get("continue"):
        page = store.list(r, "default", limit=limit, continue_=page["metadata"]["continue"])
        got += [(o["metadata"]["name"], o["metadata"]["resourceVersion"]) for o in page["items"]]
    assert got == expected


def test_only_served_subresources_are_written(store, R):
    w = store.create(WIDGETS, "default", {"metadata": {"name": "w"}})
    e = err(store.update, WIDGETS, "default", "w", {**w, "status": {"x": 1}}, subresource="status")
    assert (e.code, e.reason) == (404, "NotFound")
    assert store.get(WIDGETS, "default", "w") == w


def test_paging_across_namespaces_that_prefix_each_other(store, R):
    """etcd orders by the key "<namespace>/<name>": "a-x/b" comes before "a/z" ('-' < '/')."""
    for ns in ("a", "a-x"):
        store.create(R("namespaces"), None, {"metadata": {"name": ns}})
    store.create(R("configmaps"), "a", cm("z"))
    store.create(R("configmaps"), "a-x", cm("b"))
    full = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in store.list(R("configmaps"), None)["items"]]
    assert full == [("a-x", "b"), ("a", "z")]
    page = store.list(R("configmaps"), None, limit=1)
    got = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in page["items"]]
    while page["metadata"].get("continue"):
        page = store.list(R("configmaps"), None, limit=1, continue_=page["metadata"]["continue"])
        got += [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in page["items"]]
    assert got == full


def test_status_writes_record_the_same_managed_fields_as_on_whole_objects(store, R):
    from helm_ac.kubesim import patch as kpatch
    from helm_ac.kubesim.schemas import schema_for

    dep = R("deployments", "apps")
    d = store.create(dep, "default", {"metadata": {"name": "d"}, "spec": {"replicas": 2, "template": {
        "spec": {"containers": [{"name": "c", "image": "i"}]}}}}, field_manager="helm")
    out = store.update(dep, "default", "d", {**d, "status": {"replicas": 2, "readyReplicas": 1}},
                       subresource="status", field_manager="kube-controller-manager")
    sent = {**out, "metadata": {k: v for k, v in out["metadata"].items() if k != "managedFields"}}
    whole = kpatch.record_update(d, sent, manager="kube-controller-manager",
                                 schema=schema_for("apps/v1", "Deployment"), now=store._now(), subresource="status")
    assert out["metadata"]["managedFields"] == whole
    assert [(m["manager"], m.get("subresource")) for m in whole] == [("helm", None),
                                                                   ("kube-controller-manager", "status")]


def test_the_scale_subresource(store, R):
    dep = R("deployments", "apps")
    d = store.create(dep, "default", {"metadata": {"name": "d"}, "spec": {"replicas": 1, "selector": {
        "matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]}}})
    scale = store.get_scale(dep, "default", "d")
    assert scale == {"kind": "Scale", "apiVersion": "autoscaling/v1",
                     "metadata": {k: d["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                                "creationTimestamp")},
                     "spec": {"replicas": 1}, "status": {"replicas": 0, "selector": "app=web,tier in (a,b)"}}
    out = store.update(dep, "default", "d", {**scale, "spec": {"replicas": 3}}, subresource="scale",
                       field_manager="kubectl")
    assert out["kind"] == "Scale" and out["spec"] == {"replicas": 3}
    d = store.get(dep, "default", "d")
    assert d["spec"]["replicas"] == 3 and d["metadata"]["generation"] == 2
    assert ("kubectl", "scale") in [(m["manager"], m.get("subresource")) for m in d["metadata"]["managedFields"]]
    e = err(store.update, dep, "default", "d", {**scale, "spec": {"replicas": 4}}, subresource="scale")
    assert e.code == 409  # the Scale's resourceVersion is stale
    out, created = store.patch(dep, "default", "d", "merge", {"spec": {"replicas": 5}}, subresource="scale")
    assert (out["spec"]["replicas"], created) == (5, False)
    assert store.get(dep, "default", "d")["spec"]["replicas"] == 5
    e = err(store.update, dep, "default", "d", {"spec": {"replicas": -1}}, subresource="scale")
    assert (e.code, e.message) == (422, 'Scale.autoscaling "d" is invalid: spec.replicas: Invalid value: -1: must '
                                        'be greater than or equal to 0')
    assert err(store.get_scale, R("configmaps"), "default", "x").code == 404
