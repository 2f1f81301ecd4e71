"""The API server with the real store and controllers, driven by the official ``kubernetes`` Python
client over TLS: what helm-ac's own cluster code and users' scripts do."""
from __future__ import annotations

import uuid
from typing import Any, Callable, Iterator

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from controllerkit import wait

from helm_ac.apiserver.server import Options, running

NS = "default"


@pytest.fixture(scope="module")
def api() -> Iterator[client.ApiClient]:
    with running(Options(bookmark_interval=0.2, history=1000)) as r:
        c = config.new_client_from_config(config_file=str(r.kubeconfig))
        yield c
        c.close()


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def apps(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


def name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def cm(n: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "labels": labels or {}}, "data": data}


def eventually(check: Callable[[], Any], what: str, seconds: float = 20.0) -> Any:
    """Poll until ``check()`` is truthy (the simulated controllers work in real time)."""
    return wait(what, check, seconds)


def test_crud_and_201(core: client.CoreV1Api) -> None:
    n = name()
    obj, code, _ = core.create_namespaced_config_map_with_http_info(NS, cm(n, a="1"))
    assert code == 201 and obj.metadata.uid and obj.metadata.resource_version
    assert obj.metadata.creation_timestamp is not None
    got = core.read_namespaced_config_map(n, NS)
    assert got.data == {"a": "1"}
    got.data["b"] = "2"
    replaced = core.replace_namespaced_config_map(n, NS, got)
    assert replaced.data == {"a": "1", "b": "2"}
    assert int(replaced.metadata.resource_version) > int(obj.metadata.resource_version)
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(NS, cm(n))
    assert e.value.status == 409 and '"reason":"AlreadyExists"' in e.value.body.replace(" ", "")
    core.delete_namespaced_config_map(n, NS)
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map(n, NS)
    assert e.value.status == 404


def test_generate_name(core: client.CoreV1Api) -> None:
    obj = core.create_namespaced_config_map(NS, {"metadata": {"generateName": "gen-"}})
    assert obj.metadata.name.startswith("gen-") and len(obj.metadata.name) == len("gen-") + 5


def test_replace_with_stale_resource_version_conflicts(core: client.CoreV1Api) -> None:
    n = name()
    first = core.create_namespaced_config_map(NS, cm(n, a="1"))
    core.replace_namespaced_config_map(n, NS, cm(n, a="2"))
    first.data = {"a": "3"}
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map(n, NS, first)
    assert e.value.status == 409
    assert "the object has been modified" in e.value.body


def test_list_selectors_and_paging(core: client.CoreV1Api) -> None:
    run = uuid.uuid4().hex[:8]
    for i in range(5):
        core.create_namespaced_config_map(NS, cm(f"page-{run}-{i}", {"run": run, "parity": "even" if i % 2 == 0 else "odd"}))
    lst = core.list_namespaced_config_map(NS, label_selector=f"run={run},parity=even")
    assert [o.metadata.name for o in lst.items] == [f"page-{run}-{i}" for i in (0, 2, 4)]
    assert lst.kind == "ConfigMapList"
    lst = core.list_namespaced_config_map(NS, label_selector=f"run={run},parity notin (even)")
    assert [o.metadata.name for o in lst.items] == [f"page-{run}-{i}" for i in (1, 3)]
    lst = core.list_namespaced_config_map(NS, field_selector=f"metadata.name=page-{run}-3")
    assert [o.metadata.name for o in lst.items] == [f"page-{run}-3"]
    names, token = [], None
    while True:
        page = core.list_namespaced_config_map(NS, label_selector=f"run={run}", limit=2, _continue=token)
        assert len(page.items) <= 2
        names += [o.metadata.name for o in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert names == [f"page-{run}-{i}" for i in range(5)]
    with pytest.raises(ApiException) as e:
        core.list_namespaced_config_map(NS, label_selector="a in (")
    assert e.value.status == 400


def test_list_all_namespaces_and_namespaces_resource(core: client.CoreV1Api) -> None:
    ns = name("ns")
    created, code, _ = core.create_namespace_with_http_info({"metadata": {"name": ns}})
    assert code == 201 and created.status.phase == "Active"
    core.create_namespaced_config_map(ns, cm("x"))
    everywhere = core.list_config_map_for_all_namespaces(field_selector=f"metadata.namespace={ns}")
    assert [(o.metadata.namespace, o.metadata.name) for o in everywhere.items] == [(ns, "x")]
    core.delete_namespace(ns)
    eventually(lambda: not [n for n in core.list_namespace().items if n.metadata.name == ns], "namespace gone")


def deployment(n: str, image: str = "nginx:1", replicas: int = 2) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": n},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": n}},
                     "template": {"metadata": {"labels": {"app": n}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


def test_deployment_rolls_out_and_delete_collects_garbage(apps: client.AppsV1Api, core: client.CoreV1Api) -> None:
    n = name("web")
    apps.create_namespaced_deployment(NS, deployment(n))

    def available() -> bool:
        d = apps.read_namespaced_deployment(n, NS)
        conds = {c.type: c.status for c in d.status.conditions or []}
        return bool(d.status.observed_generation == d.metadata.generation and d.status.ready_replicas == 2
                    and conds.get("Available") == "True")

    eventually(available, "deployment available")
    rs = apps.list_namespaced_replica_set(NS, label_selector=f"app={n}").items
    assert len(rs) == 1 and rs[0].metadata.owner_references[0].name == n
    assert len(core.list_namespaced_pod(NS, label_selector=f"app={n}").items) == 2
    apps.delete_namespaced_deployment(n, NS, propagation_policy="Background")
    eventually(lambda: not apps.list_namespaced_replica_set(NS, label_selector=f"app={n}").items, "RS collected")
    eventually(lambda: not core.list_namespaced_pod(NS, label_selector=f"app={n}").items, "pods collected")


def test_delete_orphan_keeps_dependents(apps: client.AppsV1Api) -> None:
    n = name("orph")
    apps.create_namespaced_deployment(NS, deployment(n, replicas=1))
    eventually(lambda: apps.list_namespaced_replica_set(NS, label_selector=f"app={n}").items, "RS created")
    apps.delete_namespaced_deployment(n, NS, body=client.V1DeleteOptions(propagation_policy="Orphan"))
    eventually(lambda: not [d for d in apps.list_namespaced_deployment(NS).items if d.metadata.name == n], "gone")
    (rs,) = apps.list_namespaced_replica_set(NS, label_selector=f"app={n}").items
    assert not rs.metadata.owner_references


def test_watch_resume(core: client.CoreV1Api) -> None:
    run = uuid.uuid4().hex[:8]
    rv = core.list_namespaced_config_map(NS).metadata.resource_version
    core.create_namespaced_config_map(NS, cm(f"w-{run}-a", {"w": run}))
    core.create_namespaced_config_map(NS, cm(f"w-{run}-b", {"w": run}))
    core.delete_namespaced_config_map(f"w-{run}-a", NS)
    events = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        core.list_namespaced_config_map, NS, label_selector=f"w={run}", resource_version=rv, timeout_seconds=1)]
    assert events == [("ADDED", f"w-{run}-a"), ("ADDED", f"w-{run}-b"), ("DELETED", f"w-{run}-a")]


def test_watch_too_old_is_410_then_relist() -> None:
    with running(Options(tls=False, history=3)) as r:
        core = client.CoreV1Api(config.new_client_from_config(config_file=str(r.kubeconfig)))
        old = core.list_namespaced_config_map(NS).metadata.resource_version
        for i in range(6):
            core.create_namespaced_config_map(NS, cm(f"old-{i}"))
        with pytest.raises(ApiException) as e:
            list(watch.Watch().stream(core.list_namespaced_config_map, NS, resource_version=old, timeout_seconds=1))
        assert e.value.status == 410 and e.value.reason.startswith("Expired")
        relisted = core.list_namespaced_config_map(NS)
        core.create_namespaced_config_map(NS, cm("after-relist"))
        events = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
            core.list_namespaced_config_map, NS, resource_version=relisted.metadata.resource_version,
            timeout_seconds=1)]
        assert events == [("ADDED", "after-relist")]


def test_watch_bookmarks_and_initial_events_end(core: client.CoreV1Api) -> None:
    n = name("bm")
    core.create_namespaced_config_map(NS, cm(n))
    # what Helm 4's kstatus watcher asks (client-go's WatchList)
    events = list(watch.Watch().stream(
        core.list_namespaced_config_map, NS, allow_watch_bookmarks=True, send_initial_events=True,
        resource_version_match="NotOlderThan", timeout_seconds=1, field_selector=f"metadata.name={n}"))
    types = [e["type"] for e in events]
    assert types[0] == "ADDED" and events[0]["object"].metadata.name == n
    assert types[1] == "BOOKMARK"
    assert events[1]["raw_object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert types.count("BOOKMARK") >= 2  # the periodic ones every bookmark_interval (0.2 s here)


def test_four_patch_types(apps: client.AppsV1Api, core: client.CoreV1Api, api: client.ApiClient) -> None:
    n = name("p")
    core.create_namespaced_config_map(NS, cm(n, a="1", b="2"))
    out = core.patch_namespaced_config_map(n, NS, {"data": {"b": None, "c": "3"}})  # the client's default: merge
    assert out.data == {"a": "1", "c": "3"}
    api.set_default_header("Content-Type", "application/json-patch+json")
    try:
        out = core.patch_namespaced_config_map(n, NS, [{"op": "replace", "path": "/data/a", "value": "9"}])
    finally:
        api.default_headers.pop("Content-Type")
    assert out.data == {"a": "9", "c": "3"}
    d = name("smp")
    apps.create_namespaced_deployment(NS, deployment(d))
    # merged by the containers' merge key (name): a merge patch would replace the whole list
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox"}]}}}}
    api.set_default_header("Content-Type", "application/strategic-merge-patch+json")
    try:
        out = apps.patch_namespaced_deployment(d, NS, patch)
    finally:
        api.default_headers.pop("Content-Type")
    assert [(c.name, c.image) for c in out.spec.template.spec.containers] == [("side", "busybox"), ("c", "nginx:1")]
    assert out.metadata.generation == 2


def test_server_side_apply_creates_then_owns_fields(core: client.CoreV1Api, api: client.ApiClient) -> None:
    n = name("ssa")
    api.set_default_header("Content-Type", "application/apply-patch+yaml")
    try:
        first, code, _ = core.patch_namespaced_config_map_with_http_info(n, NS, cm(n, a="1", b="2"),
                                                                         field_manager="tester", force=True)
        assert code == 201 and first.data == {"a": "1", "b": "2"}
        assert [m.manager for m in first.metadata.managed_fields] == ["tester"]
        again, code, _ = core.patch_namespaced_config_map_with_http_info(n, NS, cm(n, a="1"), field_manager="tester")
        assert code == 200 and again.data == {"a": "1"}  # b no longer applied: removed
        with pytest.raises(ApiException) as e:
            core.patch_namespaced_config_map(n, NS, cm(n, a="other"), field_manager="someone-else")
        assert e.value.status == 409 and "conflict" in e.value.body.lower()
    finally:
        api.default_headers.pop("Content-Type")


def test_discovery_openapi_and_a_crd(api: client.ApiClient) -> None:
    import json

    def raw(path: str, accept: str = "application/json") -> tuple[int, dict[str, str], Any]:
        resp = api.rest_client.pool_manager.request(  # the client's own TLS settings and token
            "GET", api.configuration.host + path,
            headers={"Accept": accept, "Authorization": api.configuration.get_api_key_with_prefix("BearerToken")})
        return resp.status, dict(resp.headers), json.loads(resp.data) if resp.status == 200 else resp.data

    assert raw("/api/v1")[2]["groupVersion"] == "v1"
    assert raw("/version")[2]["gitVersion"].startswith("v1.")
    status, headers, body = raw("/apis", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                                         "application/json")
    assert body["kind"] == "APIGroupDiscoveryList" and "apidiscovery.k8s.io" in headers["Content-Type"]
    assert "apps" in [g["name"] for g in raw("/apis")[2]["groups"]]
    assert raw("/openapi/v2")[0] == 404
    root = raw("/openapi/v3")[2]["paths"]
    assert raw(root["apis/apps/v1"]["serverRelativeURL"])[0] == 200

    ext = client.ApiextensionsV1Api(api)
    ext.create_custom_resource_definition({
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                   "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}})

    def established() -> bool:
        crd = ext.read_custom_resource_definition("widgets.example.com")
        return any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])

    eventually(established, "CRD Established")
    assert [r["name"] for r in raw("/apis/example.com/v1")[2]["resources"]] == ["widgets"]
    assert "apis/example.com/v1" in raw("/openapi/v3")[2]["paths"]
    custom = client.CustomObjectsApi(api)
    w = custom.create_namespaced_custom_object("example.com", "v1", NS, "widgets", {
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3}})
    assert w["spec"] == {"size": 3}
    with pytest.raises(ApiException) as e:
        custom.create_namespaced_custom_object("example.com", "v1", NS, "widgets", {
            "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "bad"}, "spec": {"size": "x"}})
    assert e.value.status == 422
    ext.delete_custom_resource_definition("widgets.example.com")
    eventually(lambda: raw("/apis/example.com/v1")[0] == 404, "the CRD's group-version gone from discovery")


def test_delete_answers(api: client.ApiClient, core: client.CoreV1Api) -> None:
    import json

    def delete(path: str) -> Any:
        resp = api.rest_client.pool_manager.request(
            "DELETE", api.configuration.host + path,
            headers={"Authorization": api.configuration.get_api_key_with_prefix("BearerToken")})
        assert resp.status == 200
        return json.loads(resp.data)

    n = name()
    uid = core.create_namespaced_config_map(NS, cm(n)).metadata.uid
    assert delete(f"/api/v1/namespaces/{NS}/configmaps/{n}") == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": n, "group": "", "kind": "configmaps", "uid": uid}}
    ns = name("ns")
    core.create_namespace({"metadata": {"name": ns}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    gone = delete(f"/api/v1/namespaces/{ns}")  # pending: the Namespace itself, Terminating
    assert gone["kind"] == "Namespace" and gone["status"]["phase"] == "Terminating"
    held = delete(f"/api/v1/namespaces/{ns}/configmaps/held")
    assert held["kind"] == "ConfigMap" and held["metadata"]["deletionTimestamp"]
    core.patch_namespaced_config_map("held", ns, {"metadata": {"finalizers": None}})
    eventually(lambda: ns not in [x.metadata.name for x in core.list_namespace().items], "namespace gone")


def test_delete_collection_by_label(core: client.CoreV1Api) -> None:
    run = uuid.uuid4().hex[:8]
    for i in range(3):
        core.create_namespaced_config_map(NS, cm(f"dc-{run}-{i}", {"dc": run, "keep": "yes" if i == 2 else "no"}))
    core.delete_collection_namespaced_config_map(NS, label_selector=f"dc={run},keep=no")
    left = core.list_namespaced_config_map(NS, label_selector=f"dc={run}").items
    assert [o.metadata.name for o in left] == [f"dc-{run}-2"]
