"""The kube face (helm_ac/kube): KubeCluster's own behaviour against the embedded API server
(the contract scenarios run in tests/test_engine_contract.py), its error mapping, the Helm-like
configuration, and example charts rolled out in order on the embedded server."""
from __future__ import annotations

import asyncio
import base64
import datetime
import json
from pathlib import Path
from typing import Any, Callable

import pytest
import urllib3
import yaml
from kubernetes.client.exceptions import ApiException

from helm_ac.analysis import graph, model
from helm_ac.analysis.graph import object_parents
from helm_ac.analysis.keys import Keys
from helm_ac.apiserver import server as apiserver
from helm_ac.engine.cluster import Apply, Delete, Get, Reply, Stream, Synced, WatchClosed, WatchEvent
from helm_ac.engine.events import State, StateEvent
from helm_ac.engine.scheduler import Engine, Options
from helm_ac.kinds import ObjectKey
from helm_ac.kube.aio import AsyncioClock, drive
from helm_ac.kube.cluster import KubeCluster, api_error
from helm_ac.kube.config import KubeConfigError, connect
from helm_ac.rendering import manifests
from helm_ac.rendering.chart import load_chart

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "charts"


def cmap(name: str, data: str = "1") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"x": data}}


class Face:
    def __init__(self, srv: apiserver.Running, **kw: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.cluster = KubeCluster(connect(kubeconfig=str(srv.kubeconfig), env={}).api, self.loop, **kw)

    def call(self, request: Any) -> Reply:
        got: list[Reply] = []
        self.cluster.call(request, got.append)
        self.until(lambda: got)
        return got[0]

    def until(self, cond: Callable[[], Any], limit: float = 30) -> None:
        async def poll() -> None:
            while not cond():
                await asyncio.sleep(0.01)
        self.loop.run_until_complete(asyncio.wait_for(poll(), limit))

    def close(self) -> None:
        self.cluster.close()
        self.loop.close()


@pytest.fixture
def face():
    with apiserver.running() as srv:
        f = Face(srv)
        yield f
        f.close()


K = ObjectKey("", "ConfigMap", "default", "a")


def test_apply_is_server_side_as_helm_ac_and_does_not_force_conflicts(face):
    out = face.call(Apply(K, cmap("a")))
    assert out.error is None and out.obj["metadata"]["uid"]
    managers = {m["manager"]: m["operation"] for m in out.obj["metadata"]["managedFields"]}
    assert managers == {"helm-ac": "Apply"}
    # another manager takes the field: without force, as Helm 4, the apply is refused naming it
    res = face.cluster.resource("v1", "ConfigMap")
    face.cluster.dynamic.server_side_apply(res, body=cmap("a", "2"), name="a", namespace="default",
                                           field_manager="kubectl", force_conflicts=True)
    refused = face.call(Apply(K, cmap("a", "3")))
    assert refused.error is not None and refused.error.code == 409 and "kubectl" in refused.error.message
    face.cluster.force_conflicts = True  # --force-conflicts
    assert face.call(Apply(K, cmap("a", "3"))).obj["data"] == {"x": "3"}


def test_delete_guards_the_uid_and_waits_for_dependents(face):
    uid = face.call(Apply(K, cmap("a"))).obj["metadata"]["uid"]
    other = face.call(Delete(K, "another-uid"))
    assert other.error is not None and other.error.code == 409
    # Foreground: the object stays (foregroundDeletion) until its dependents are gone; a dependent
    # held by a finalizer keeps it, so a retry's re-create waits for the old attempt's dependents
    res = face.cluster.resource("v1", "ConfigMap")
    face.cluster.dynamic.create(res, namespace="default", body={
        **cmap("child"), "metadata": {"name": "child", "finalizers": ["example.com/hold"], "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "a", "uid": uid, "blockOwnerDeletion": True}]}})
    assert face.call(Delete(K, uid)).error is None
    face.loop.run_until_complete(asyncio.sleep(0.2))  # the server's garbage collector has its turn
    live = face.call(Get(K)).obj
    assert live["metadata"]["deletionTimestamp"] and "foregroundDeletion" in live["metadata"]["finalizers"]
    face.cluster.dynamic.patch(res, name="child", namespace="default", body={"metadata": {"finalizers": None}},
                               content_type="application/merge-patch+json")
    for _ in range(100):
        if face.call(Get(K)).obj is None:
            break
        face.loop.run_until_complete(asyncio.sleep(0.05))
    assert face.call(Get(K)).obj is None
    missing = face.call(Delete(ObjectKey("", "ConfigMap", "default", "nope")))
    assert missing.error is not None and missing.error.code == 404


def test_get_and_delete_find_the_resource_by_group_and_kind(face):
    """Get and Delete name only the key: cluster-scoped and grouped kinds are found by discovery."""
    role = ObjectKey("rbac.authorization.k8s.io", "ClusterRole", None, "reader")
    body = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    uid = face.call(Apply(role, body)).obj["metadata"]["uid"]
    assert face.call(Get(role)).obj["metadata"]["uid"] == uid
    deploy = ObjectKey("apps", "Deployment", "default", "web")
    assert face.call(Get(deploy)) == Reply()
    assert face.call(Delete(role, uid)).error is None and face.call(Get(role)) == Reply()


def test_a_kind_the_server_does_not_serve_is_a_clear_404(face):
    key = ObjectKey("example.com", "Widget", "default", "w")
    out = face.call(Apply(key, {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}))
    assert out.error is not None and out.error.code == 404
    assert "Widget in example.com/v1" in out.error.message and "CustomResourceDefinition" in out.error.message


def test_discovery_is_refreshed_for_a_crd_created_during_the_run(face):
    face.call(Apply(K, cmap("a")))  # discovery is cached now
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object",
                                                                 "x-kubernetes-preserve-unknown-fields": True}}}]}}
    assert face.call(Apply(ObjectKey("apiextensions.k8s.io", "CustomResourceDefinition", None,
                                     "widgets.example.com"), crd)).error is None
    key = ObjectKey("example.com", "Widget", "default", "w")
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    for _ in range(100):  # until Established (the server's CRD controller: 0.2 s)
        out = face.call(Apply(key, body))
        if out.error is None:
            break
        face.loop.run_until_complete(asyncio.sleep(0.05))
    assert out.error is None and out.obj["kind"] == "Widget"


def test_a_watch_lists_then_follows_and_a_too_old_version_is_410():
    with apiserver.running(apiserver.Options(history=2)) as srv:
        face = Face(srv)
        try:
            first = face.call(Apply(K, cmap("a")))
            msgs: list[Any] = []
            face.cluster.watch(Stream("v1", "ConfigMap", "default"), "", msgs.append)
            face.until(lambda: any(isinstance(m, Synced) for m in msgs))
            assert isinstance(msgs[0], WatchEvent) and msgs[0].type == "ADDED" and msgs[0].key == K
            face.call(Apply(ObjectKey("", "ConfigMap", "default", "b"), cmap("b")))
            face.until(lambda: any(isinstance(m, WatchEvent) and m.key and m.key.name == "b" for m in msgs))
            for i in range(5):  # the history (2 events) forgets the first object's version
                face.call(Apply(ObjectKey("", "ConfigMap", "default", f"x{i}"), cmap(f"x{i}")))
            old: list[Any] = []
            face.cluster.watch(Stream("v1", "ConfigMap", "default"), first.obj["metadata"]["resourceVersion"],
                               old.append)
            face.until(lambda: old)
            assert isinstance(old[-1], WatchClosed) and old[-1].error is not None and old[-1].error.code == 410
            assert len(face.cluster.watches) == 1  # the closed one is gone; the first still runs
        finally:
            face.close()


def test_a_long_list_comes_in_pages_as_one_snapshot(tmp_path):
    audit = tmp_path / "audit.jsonl"
    with apiserver.running(apiserver.Options(audit_log=audit)) as srv:
        face = Face(srv)
        try:
            for i in range(5):
                face.call(Apply(ObjectKey("", "ConfigMap", "default", f"c{i}"), cmap(f"c{i}")))
            face.cluster.list_page = 2
            msgs: list[Any] = []
            face.cluster.watch(Stream("v1", "ConfigMap", "default"), "", msgs.append)
            face.until(lambda: any(isinstance(m, Synced) for m in msgs))
            names = [m.key.name for m in msgs if isinstance(m, WatchEvent)]
            assert [n for n in names if n.startswith("c")] == [f"c{i}" for i in range(5)]
            lists = [json.loads(line) for line in audit.read_text().splitlines()]
            lists = [r for r in lists if r["verb"] == "list" and r["resource"] == "configmaps"]
            assert len(lists) >= 3 and all("limit=2" in r["uri"] for r in lists)
        finally:
            face.close()


def test_stopping_a_watch_ends_its_thread_and_closes_its_connection(tmp_path):
    """The server ends its side too (its audit log records a watch once the stream is over): a
    stopped stream's connection is closed, not put back into the pool half read."""
    audit = tmp_path / "audit.jsonl"
    with apiserver.running(apiserver.Options(audit_log=audit)) as srv:
        face = Face(srv)
        try:
            msgs: list[Any] = []
            w = face.cluster.watch(Stream("v1", "ConfigMap", "default"), "", msgs.append)
            face.until(lambda: msgs)
            face.until(lambda: w._response is not None)
            w.stop()
            w.thread.join(5)
            assert not w.thread.is_alive() and face.cluster.watches == set()
            watches_ended = lambda n: sum(json.loads(line)["verb"] == "watch"  # noqa: E731
                                          for line in audit.read_text().splitlines()) >= n
            face.until(lambda: watches_ended(1), 10)
            # stopped while its WATCH request was being answered (before the thread kept the response)
            dyn = face.cluster.dynamic
            real = dyn.request
            racing: list[Any] = []

            def request(*args: Any, **kw: Any) -> Any:
                resp = real(*args, **kw)
                if kw.get("watch"):
                    racing[0].stop()
                return resp

            dyn.request = request  # type: ignore[method-assign]
            racing.append(face.cluster.watch(Stream("v1", "ConfigMap", "default"), "", msgs.append))
            racing[0].thread.join(5)
            dyn.request = real  # type: ignore[method-assign]
            face.until(lambda: watches_ended(2), 10)
            assert face.call(Apply(K, cmap("a"))).error is None  # the pool still serves
        finally:
            face.close()


def test_errors_are_mapped_with_retry_after_and_connection_failures_as_0():
    e = ApiException(status=429, reason="Too Many Requests")
    e.body = json.dumps({"kind": "Status", "message": "Too many requests, please try again later.",
                         "details": {"retryAfterSeconds": 3}})
    e.headers = {"Retry-After": "2"}
    got = api_error(e)
    assert (got.code, got.message, got.retry_after, got.transient) == (
        429, "Too many requests, please try again later.", 2.0, True)
    e.headers = {}
    assert api_error(e).retry_after == 3.0
    e5 = ApiException(status=500, reason="Internal Server Error")
    e5.body = "not json"
    assert (api_error(e5).code, api_error(e5).message, api_error(e5).retry_after) == (500, "Internal Server Error", None)
    conn = api_error(urllib3.exceptions.MaxRetryError(None, "/api", reason=ConnectionRefusedError("refused")))
    assert conn.code == 0 and conn.transient and "refused" in conn.message
    assert api_error(ApiException(status=403)).transient is False


def test_a_server_that_is_gone_answers_code_0(tmp_path):
    with apiserver.running() as srv:
        cfg = tmp_path / "kubeconfig"
        cfg.write_text(srv.kubeconfig.read_text())
    face = Face(apiserver.Running(srv.url, cfg, srv.token))
    try:
        out = face.call(Apply(K, cmap("a")))
        assert out.error is not None and out.error.code == 0 and out.error.transient
        msgs: list[Any] = []
        face.cluster.watch(Stream("v1", "ConfigMap", "default"), "", msgs.append)
        face.until(lambda: msgs)
        assert isinstance(msgs[0], WatchClosed) and msgs[0].error is not None and msgs[0].error.code == 0
    finally:
        face.close()


# ---------------------------------------------------------------- configuration, as Helm's


def kubeconfig(path: Path, contexts: dict[str, str | None], current: str, server: str = "https://127.0.0.1:1") -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": [{"name": server, "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": n, "context": {"cluster": server, "user": "u", **({"namespace": ns} if ns else {})}}
                     for n, ns in contexts.items()],
        "current-context": current}))
    return path


def test_kubeconfig_flag_env_context_and_namespace(tmp_path):
    cfg = kubeconfig(tmp_path / "a", {"one": "team-a", "two": None}, "one")
    assert connect(kubeconfig=str(cfg), env={}).namespace == "team-a"
    assert connect(env={"KUBECONFIG": str(cfg)}).namespace == "team-a"
    assert connect(kubeconfig=str(cfg), context="two", env={}).namespace == "default"
    assert connect(kubeconfig=str(cfg), env={"HELM_KUBECONTEXT": "two"}).namespace == "default"
    assert connect(kubeconfig=str(cfg), namespace="x", env={"HELM_NAMESPACE": "y"}).namespace == "x"
    assert connect(kubeconfig=str(cfg), env={"HELM_NAMESPACE": "y"}).namespace == "y"
    other = kubeconfig(tmp_path / "b", {"three": "team-c"}, "three", "https://127.0.0.1:3")
    merged = connect(env={"KUBECONFIG": f"{cfg}:{other}"}, context="three")  # a list, merged as kubectl does
    assert merged.namespace == "team-c" and merged.api.configuration.host == "https://127.0.0.1:3"
    with pytest.raises(KubeConfigError, match=r"no context 'nope' \(it has: one, two\)"):
        connect(kubeconfig=str(cfg), context="nope", env={})
    with pytest.raises(KubeConfigError, match="no such file"):
        connect(kubeconfig=str(tmp_path / "missing"), env={})
    (tmp_path / "bad").write_text("clusters: [")
    with pytest.raises(KubeConfigError, match=f"kubeconfig {tmp_path / 'bad'}"):
        connect(kubeconfig=str(tmp_path / "bad"), env={})


def test_in_cluster_configuration(tmp_path):
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("sa-token")
    with apiserver.running() as srv:  # any CA will do: the file must exist
        ca = yaml.safe_load(srv.kubeconfig.read_text())["clusters"][0]["cluster"]["certificate-authority-data"]
    (sa / "ca.crt").write_bytes(base64.b64decode(ca))
    (sa / "namespace").write_text("apps\n")
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443", "HOME": str(tmp_path)}
    conn = connect(env=env, service_account=sa)
    assert conn.source == "in-cluster" and conn.namespace == "apps"
    assert conn.api.configuration.host == "https://10.96.0.1:443"
    assert conn.api.configuration.api_key["BearerToken"].endswith("sa-token")
    with pytest.raises(KubeConfigError, match="in-cluster configuration"):
        connect(env=env, service_account=tmp_path / "nothing")
    # a kubeconfig (flag or KUBECONFIG) wins over the in-cluster configuration, as for helm
    cfg = kubeconfig(tmp_path / "k", {"one": "team-a"}, "one")
    assert connect(env={**env, "KUBECONFIG": str(cfg)}, service_account=sa).namespace == "team-a"


# ---------------------------------------------------------------- example charts, rolled out in order


def _ts(s: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


@pytest.mark.parametrize("chart", ["wordpress", "migrations", "crd-operator"])
def test_an_example_chart_rolls_out_in_order_on_the_embedded_server(helm, chart, tmp_path):
    # as helm install does, the CRDs of crds/ too (crd-operator's CRD, before its custom resources)
    out = helm.run("template", "ex", str(EXAMPLES / chart), "--namespace", "default", "--include-crds").stdout
    a = model.analyze(manifests.split(out), load_chart(EXAMPLES / chart), "default")
    g = graph.build(a)
    behaviour = tmp_path / "behaviour.yaml"  # quick, and without jitter: the order is what counts
    behaviour.write_text(yaml.safe_dump({"jitter": 0, "seconds": {k: 0.2 for k in (
        "Pod", "ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "Job", "PersistentVolumeClaim")}}))
    audit, ready_log = tmp_path / "audit.jsonl", tmp_path / "ready.jsonl"
    with apiserver.running(apiserver.Options(audit_log=audit, readiness_log=ready_log, behaviour=behaviour)) as srv:
        loop = asyncio.new_event_loop()
        cluster = KubeCluster(connect(kubeconfig=str(srv.kubeconfig), env={}).api, loop)
        events: list[Any] = []

        def operator(name: str) -> None:  # crd-operator's operator accepts each Backup (Ready)
            backups = cluster.resource("example.com/v1alpha1", "Backup")
            cluster.dynamic.request("patch", backups.path(name=name, namespace="default") + "/status",
                                    body={"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
                                    content_type="application/merge-patch+json")

        def sink(e: Any) -> None:
            events.append(e)
            if isinstance(e, StateEvent) and e.key.startswith("backup/") and e.state is State.WAITING:
                cluster.pool.submit(operator, e.key.partition("/")[2])

        engine = Engine(a, g, cluster, AsyncioClock(loop), Keys(a, "ex"), Options(), sink)
        try:
            summary = loop.run_until_complete(asyncio.wait_for(drive(engine), 120))
            plural = {k: cluster.resource(str(a.objects[k].obj.body.get("apiVersion")), k.kind).name
                      for k in g if isinstance(k, ObjectKey)}
        finally:
            cluster.close()
            loop.close()
    assert summary.ok, summary
    objects = [k for k in g if isinstance(k, ObjectKey)]
    assert {e.key for e in events if isinstance(e, StateEvent) and e.state is State.READY} >= \
        {Keys(a, "ex").key(k) for k in objects}
    applied: dict[tuple[str, str], datetime.datetime] = {}  # (resource, name) -> first apply
    for line in audit.read_text().splitlines():
        rec = json.loads(line)
        if rec["verb"] == "patch" and rec["code"] in (200, 201) and not rec["subresource"]:
            applied.setdefault((rec["resource"], rec["name"]), _ts(rec["time"]))
    ready: dict[tuple[str, str], datetime.datetime] = {}
    for line in ready_log.read_text().splitlines():
        rec = json.loads(line)
        if rec["state"] == "ready":
            ready.setdefault((rec["kind"], rec["name"]), _ts(rec["time"]))
    assert all((plural[k], k.name) in applied for k in objects)  # each applied, once created

    checked = 0
    for child in objects:
        for parent in object_parents(g, child):  # through barriers (subchart order)
            # ready: from the readiness log (controlled kinds), else at its creation (ready on existence)
            when = ready.get((parent.kind, parent.name), applied[(plural[parent], parent.name)])
            assert applied[(plural[child], child.name)] >= when, f"{child} applied before {parent} was ready"
            checked += 1
    assert checked >= 3


def test_a_request_the_client_cannot_send_is_a_permanent_error_not_a_lost_connection(face):
    """Only a failed connection is code 0 (retried): a body the client cannot serialize is refused
    at once, naming the object."""
    out = face.call(Apply(K, {**cmap("a"), "data": {"x": {1, 2}}}))
    assert out.error is not None and not out.error.transient and out.error.code == 400
    assert "configmap/a" in out.error.message.lower() or "ConfigMap default/a" in out.error.message


def test_retrying_sends_again_on_transient_refusals_only():
    """One helper for every blocking call of the controller (graph read, payloads, prune lists,
    status patches): Retry-After when given, else doubled back-off up to its cap; the tries counted."""
    from kubernetes.client.exceptions import ApiException

    from helm_ac.engine.cluster import ApiError
    from helm_ac.kube.cluster import retrying

    slept: list[float] = []
    answers: list[Any] = [ApiError(429, "slow down", retry_after=3), ApiError(503, "busy"), OSError("reset"),
                          ApiError(500, "oops"), "ok"]

    def call() -> str:
        a = answers.pop(0)
        if isinstance(a, BaseException):
            raise a
        return str(a)

    assert retrying(call, backoff=0.5, cap=1.0, sleep=slept.append) == "ok"
    assert slept == [3, 1.0, 1.0, 1.0]  # Retry-After, then 0.5 * 2, 0.5 * 4 capped at 1 ...
    forbidden = ApiException(status=403, reason="Forbidden")
    with pytest.raises(ApiError) as e:
        retrying(lambda: (_ for _ in ()).throw(forbidden), sleep=slept.append)
    assert e.value.code == 403 and e.value.tries == 1
    with pytest.raises(ApiError) as e:
        retrying(lambda: (_ for _ in ()).throw(ApiError(502, "bad gateway")), tries=3, sleep=lambda s: None)
    assert e.value.code == 502 and e.value.tries == 3
