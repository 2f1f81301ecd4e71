"""Removals (docs/controller.md, *Upgrade* and *Teardown on uninstall, never stuck*): what the
controller applies carries the release label, its key, its parents and an ownerReference to the
ReleaseGraph; a run that ends ok prunes what no Definition wraps any more, dependents first;
``--teardown`` deletes everything in reverse order, each delete awaited; the ReleaseGraph deleted
alone lets the garbage collector remove the rest. On the embedded API server through the real client."""
from __future__ import annotations

import contextlib
import copy
import datetime
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import json

import yaml
from kubernetes import client

from helm_ac.analysis import graph, model
from helm_ac.analysis.graph import Barrier, object_parents
from helm_ac.analysis.keys import Keys
from helm_ac.apiserver import server as apiserver
from helm_ac.controller import __main__ as entry
from helm_ac.controller import removal
from helm_ac.controller.release import KEY_ANNOTATION, PARENTS_ANNOTATION, RELEASE_LABEL, build, decorate
from helm_ac.extension import spec
from helm_ac.kinds import ObjectKey
from helm_ac.output import appcontroller, crds
from helm_ac.rendering import manifests
from helm_ac.rendering.chart import load_chart

from controllerkit import Server, _ts, cmap, deployment, embedded, emitted, objects_of

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "charts"
GC = "system:serviceaccount:kube-system:generic-garbage-collector"  # its requests are not audited: in the store


def _graph_object(uid: str = "u-1") -> dict[str, Any]:
    return {**appcontroller.release_graph("r", "default", "0" * 64, 0, 0),
            "metadata": {"name": "r", "namespace": "default", "uid": uid}}


# ---------------------------------------------------------------- the applied body (pure)

def test_applied_objects_carry_release_key_parents_and_owner():
    docs = [cmap("a"), cmap("b", "configmap/a"), cmap("c", "configmap/a, configmap/b"),
            {**cmap("other"), "metadata": {"name": "other", "namespace": "elsewhere",
                                          "annotations": {spec.DEPENDS_ON: "configmap/c"}}}]
    _, _, defs, deps = objects_of("r", docs)
    rel = build("r", "default", defs, deps)
    before = {k: rel.analysis.objects[k].obj.body for k in rel.analysis.order}
    rel.graph_object = _graph_object()
    decorate(rel)
    body = {k.name: rel.analysis.objects[k].obj.body for k in rel.analysis.order}
    assert all(b["metadata"]["labels"][RELEASE_LABEL] == "r" for b in body.values())
    assert body["c"]["metadata"]["annotations"][KEY_ANNOTATION] == "configmap/c"
    assert body["c"]["metadata"]["annotations"][PARENTS_ANNOTATION] == "configmap/a,configmap/b"
    assert PARENTS_ANNOTATION not in body["a"]["metadata"]["annotations"]
    owner = {"apiVersion": crds.API_VERSION, "kind": "ReleaseGraph", "name": "r", "uid": "u-1"}
    assert body["a"]["metadata"]["ownerReferences"] == [owner]
    assert "ownerReferences" not in body["other"]["metadata"]  # another namespace: no namespaced owner
    assert body["other"]["metadata"]["annotations"][KEY_ANNOTATION] == "elsewhere/configmap/other"
    # only metadata changes: what readiness reads (data, spec) is as wrapped
    for k, b in before.items():
        after = rel.analysis.objects[k].obj.body
        assert {x: y for x, y in after.items() if x != "metadata"} == {x: y for x, y in b.items() if x != "metadata"}
    # without a ReleaseGraph (a graph written by hand): no owner
    rel2 = build("r", "default", defs, deps)
    decorate(rel2)
    assert all("ownerReferences" not in rel2.analysis.objects[k].obj.body["metadata"] for k in rel2.analysis.order)


def test_parents_are_the_nearest_objects_through_barriers():
    import networkx as nx
    a, b, c = (ObjectKey("", "ConfigMap", "default", n) for n in "abc")
    v1, v2 = Barrier("void", ("x",)), Barrier("void", ("y",))
    g = nx.DiGraph([(a, v1), (v1, v2), (v2, c), (b, c), (a, b)])
    assert object_parents(g, c) == {a, b}
    assert object_parents(g, a) == set()


# ---------------------------------------------------------------- on the embedded server

def _objects(server: Any, resource: str, release: str = "r") -> dict[str, dict[str, Any]]:
    kind = {"configmaps": ("v1", "ConfigMap"), "deployments": ("apps/v1", "Deployment")}[resource]
    res = server.dyn.resources.get(api_version=kind[0], kind=kind[1])
    items = server.dyn.get(res, namespace="default", label_selector=f"{RELEASE_LABEL}={release}").to_dict()["items"]
    return {o["metadata"]["name"]: o for o in items}


def _graph(server: Any, release: str = "r") -> dict[str, Any]:
    res = server.dyn.resources.get(api_version=crds.API_VERSION, kind="ReleaseGraph")
    out: dict[str, Any] = server.dyn.get(res, name=release, namespace="default").to_dict()
    return out


def _deletes(server: Any, since: int = 0) -> list[tuple[str, str, datetime.datetime]]:
    """(resource, name, time) of the controller's deletes in the audit log (not the collector's)."""
    return [(r["resource"], r["name"], _ts(r["time"])) for r in server.audit()[since:]
            if r["verb"] == "delete" and r["user"] != GC and r["resource"] not in ("leases",)]


def _upgrade(server: Any, docs: list[dict[str, Any]]) -> None:
    """What `helm upgrade` does with what `helm ac template` emits for ``docs``: the new
    Definitions and Dependencies created or replaced, the old ones not emitted any more deleted,
    the ReleaseGraph updated in place."""
    new = emitted("r", docs)
    names = {(d["kind"], d["metadata"]["name"]) for d in new}
    for kind in ("Definition", "Dependency", "ReleaseGraph"):
        res = server.dyn.resources.get(api_version=crds.API_VERSION, kind=kind)
        old = {d["metadata"]["name"]: d for d in server.dyn.get(res, namespace="default").to_dict()["items"]}
        for d in new:
            if d["kind"] != kind:
                continue
            if d["metadata"]["name"] in old:
                have = old[d["metadata"]["name"]]
                body = {**d, "metadata": {**d["metadata"], "resourceVersion": have["metadata"]["resourceVersion"]}}
                if "status" in have:
                    body["status"] = have["status"]
                server.dyn.replace(res, body=body, namespace="default")
            else:
                server.dyn.create(res, body=d, namespace="default")
        for name in old:
            if (kind, name) not in names:
                server.dyn.delete(res, name=name, namespace="default")


@contextlib.contextmanager
def _removals(server: Any, kinds: list[tuple[str, str]]) -> Iterator[dict[str, int]]:
    """Name -> the resourceVersion of its removal (the server's order: one counter for all kinds),
    for the objects of ``kinds`` in the namespace removed while the block runs."""
    out: dict[str, int] = {}
    stop = threading.Event()
    started = threading.Barrier(len(kinds) + 1)

    def follow(api: str, kind: str) -> None:
        res = server.dyn.resources.get(api_version=api, kind=kind)
        version = server.dyn.get(res, namespace="default").to_dict()["metadata"]["resourceVersion"]
        started.wait()
        while not stop.is_set():
            for ev in server.dyn.watch(res, namespace="default", resource_version=version, timeout=1):
                version = ev["object"].metadata.resourceVersion
                if ev["type"] == "DELETED":
                    out[ev["object"].metadata.name] = int(version)

    threads = [threading.Thread(target=follow, args=k, daemon=True) for k in kinds]
    for t in threads:
        t.start()
    started.wait()
    try:
        yield out
    finally:
        stop.set()
        for t in threads:
            t.join()


def _until(check: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.05)


RELEASE = [cmap("a"), deployment("web", "configmap/a"), cmap("b", "configmap/a"),
           cmap("c", "deployment/web, configmap/b")]


def _slow(docs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """``docs`` with ``name`` held by the finalizer ``example.com/slow`` (see :func:`_release_slowly`)."""
    docs = copy.deepcopy(docs)
    for d in docs:
        if d["metadata"]["name"] == name:
            d["metadata"]["finalizers"] = ["example.com/slow"]
    return docs


@contextlib.contextmanager
def _release_slowly(server: Any, api: str, kind: str, name: str) -> Iterator[None]:
    """Another controller's finalizer: removed a while after the object is marked for deletion, so
    the object stays Terminating meanwhile (what an awaited delete must wait for)."""
    stop = threading.Event()
    res = server.dyn.resources.get(api_version=api, kind=kind)

    def work() -> None:
        while not stop.is_set():
            obj = server.dyn.get(res, name=name, namespace="default").to_dict()
            if obj["metadata"].get("deletionTimestamp"):
                time.sleep(0.5)
                server.dyn.patch(res, name=name, namespace="default", body={"metadata": {"finalizers": None}},
                                 content_type="application/merge-patch+json")
                return
            time.sleep(0.05)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


def test_teardown_deletes_in_reverse_order_each_awaited(tmp_path, capsys):
    with embedded(tmp_path, seconds=0.05) as server:
        server.create(emitted("r", _slow(RELEASE, "web")))
        server.create(emitted("other", [cmap("a2"), cmap("b2", "configmap/a2")]))
        code, _ = server.run("r", capsys)
        assert code == 0
        assert server.run("other", capsys)[0] == 0
        kinds = _graph(server)["status"]["appliedKinds"]
        assert kinds == [{"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "default"},
                         {"apiVersion": "v1", "kind": "ConfigMap", "namespace": "default"}]
        web = _objects(server, "deployments")["web"]
        assert web["metadata"]["annotations"][PARENTS_ANNOTATION] == "configmap/a"
        assert web["metadata"]["ownerReferences"][0]["uid"] == _graph(server)["metadata"]["uid"]
        mark = len(server.audit())

        with _removals(server, [("v1", "ConfigMap"), ("apps/v1", "Deployment")]) as gone, \
                _release_slowly(server, "apps/v1", "Deployment", "web"):
            code, log = server.run("r", capsys, "--teardown")
        assert code == 0, log
        assert _objects(server, "configmaps") == {} and _objects(server, "deployments") == {}
        assert set(_objects(server, "configmaps", "other")) == {"a2", "b2"}  # the other release is left alone
        deletes = _deletes(server, mark)
        at = {name: t for _, name, t in deletes}
        assert sorted(at) == ["a", "b", "c", "web"]  # each deleted once
        for parent, child in (("a", "web"), ("a", "b"), ("web", "c"), ("b", "c")):
            assert at[child] < at[parent], (parent, child)
        # each parent went after its children were gone (the server's resourceVersions of their
        # removals); a ConfigMap goes at its delete, web only once its finalizer is removed
        assert sorted(gone, key=gone.__getitem__) in (["c", "b", "web", "a"], ["c", "web", "b", "a"])
        states = [(r["object"], r["state"]) for r in log if "state" in r]
        assert states.index(("deployment/web", "deleted")) < states.index(("configmap/a", "deleting"))
        assert states.index(("configmap/b", "deleted")) < states.index(("configmap/a", "deleting"))
        graph = _graph(server)
        assert graph["metadata"]["annotations"][removal.TEARDOWN_ANNOTATION] == "true"
        assert graph["status"]["phase"] == "TearingDown" and graph["status"]["reason"] == "TornDown"
        defs = server.definitions("r")
        assert {d["status"]["reason"] for d in defs.values()} == {"Deleted"}
        assert {d["status"]["phase"] for d in defs.values()} == {"Ready"}  # the phases are the rollout's


def test_teardown_works_with_the_definitions_already_gone(tmp_path, capsys):
    """The kinds from appliedKinds (a cluster-scoped one included), the order from the objects."""
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "r-reader", "annotations": {spec.DEPENDS_ON: "configmap/c"}},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}
    with embedded(tmp_path, seconds=0.05) as server:
        server.create(emitted("r", [cmap("a"), cmap("b", "configmap/a"), cmap("c", "configmap/b"), role]))
        assert server.run("r", capsys)[0] == 0
        assert {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "namespace": ""} \
            in _graph(server)["status"]["appliedKinds"]
        roles = server.dyn.resources.get(api_version="rbac.authorization.k8s.io/v1", kind="ClusterRole")
        assert "ownerReferences" not in server.dyn.get(roles, name="r-reader").to_dict()["metadata"]
        for kind in ("Definition", "Dependency"):
            res = server.dyn.resources.get(api_version=crds.API_VERSION, kind=kind)
            for d in server.dyn.get(res, namespace="default").to_dict()["items"]:
                server.dyn.delete(res, name=d["metadata"]["name"], namespace="default")
        mark = len(server.audit())
        code, log = server.run("r", capsys, "--teardown")
        assert code == 0, log
        assert [name for _, name, _ in _deletes(server, mark)] == ["r-reader", "c", "b", "a"]
        assert _objects(server, "configmaps") == {}


def test_upgrade_prunes_removed_objects_dependents_first(tmp_path, capsys):
    """A removed chain of three (m <- k <- t) goes t, k, m; the objects kept and the one added
    are applied; appliedKinds is the union of both runs."""
    first = [cmap("a"), cmap("b", "configmap/a"), cmap("m", "configmap/a"), cmap("k", "configmap/m"),
             cmap("t", "configmap/k")]
    with embedded(tmp_path, seconds=0.05) as server:
        server.create(emitted("r", first))
        assert server.run("r", capsys)[0] == 0
        _upgrade(server, [cmap("a"), cmap("b", "configmap/a"), deployment("web", "configmap/b")])
        mark = len(server.audit())
        code, log = server.run("r", capsys)
        assert code == 0, log
        assert set(_objects(server, "configmaps")) == {"a", "b"} and set(_objects(server, "deployments")) == {"web"}
        assert [name for _, name, _ in _deletes(server, mark)] == ["t", "k", "m"]
        assert log[-1]["msg"] == "rollout finished" and log[-1]["pruned"] == ["configmap/t", "configmap/k",
                                                                             "configmap/m"]
        assert {(k["kind"]) for k in _graph(server)["status"]["appliedKinds"]} == {"ConfigMap", "Deployment"}
        # a run with nothing removed deletes nothing
        mark = len(server.audit())
        assert server.run("r", capsys)[0] == 0
        assert _deletes(server, mark) == []


def test_the_releasegraph_deleted_alone_lets_the_collector_remove_everything(tmp_path, capsys):
    """`helm uninstall --no-hooks`: no teardown; Helm deletes the ReleaseGraph (with the
    Definitions, Dependencies); the garbage collector removes every object it owns."""
    with embedded(tmp_path, seconds=0.05) as server:
        server.create(emitted("r", RELEASE))
        assert server.run("r", capsys)[0] == 0
        assert _objects(server, "deployments")
        for kind in ("Definition", "Dependency", "ReleaseGraph"):  # what Helm deletes itself
            res = server.dyn.resources.get(api_version=crds.API_VERSION, kind=kind)
            for d in server.dyn.get(res, namespace="default").to_dict()["items"]:
                server.dyn.delete(res, name=d["metadata"]["name"], namespace="default")
        _until(lambda: not _objects(server, "configmaps") and not _objects(server, "deployments"))
        for kind, api in (("Pod", "v1"), ("ReplicaSet", "apps/v1")):  # the Deployment's own, too
            res = server.dyn.resources.get(api_version=api, kind=kind)
            _until(lambda res=res: not server.dyn.get(res, namespace="default").to_dict()["items"])


def test_a_stuck_object_is_reported_and_the_rest_torn_down(tmp_path, capsys):
    """b keeps a finalizer nobody removes: its delete times out (its Definition's 1 s) naming the
    finalizer; a, its parent, is kept; the unrelated chain goes; exit 1."""
    held = cmap("b", "configmap/a", **{spec.PREFIX + "timeout": "1s"})
    held["metadata"]["finalizers"] = ["example.com/hold"]
    docs = [cmap("a"), held, cmap("c", "configmap/b"), cmap("p"), cmap("q", "configmap/p")]
    with embedded(tmp_path, seconds=0.05) as server:
        server.create(emitted("r", docs))
        assert server.run("r", capsys)[0] == 0
        code, log = server.run("r", capsys, "--teardown")
        assert code == 1
        assert set(_objects(server, "configmaps")) == {"a", "b"}
        failed = {r["object"]: r for r in log if r.get("state") == "failed"}
        assert list(failed) == ["configmap/b"]
        assert "still there 1s after its delete; it is held by the finalizer example.com/hold" \
            in failed["configmap/b"]["message"]
        blocked = [r for r in log if r.get("state") == "blocked"]
        assert [(r["object"], r["blockedBy"]) for r in blocked] == [("configmap/a", ["configmap/b"])]
        assert log[-1]["msg"] == "teardown finished" and log[-1]["ok"] is False
        defs = server.definitions("r")
        assert defs["configmap-b"]["status"]["reason"] == "DeleteFailed"
        assert {c["type"]: c["status"] for c in defs["configmap-b"]["status"]["conditions"]}["Stalled"] == "True"
        assert defs["configmap-a"]["status"]["reason"] == "DeleteBlocked"
        assert _graph(server)["status"]["reason"] == "TeardownFailed"


def test_a_delete_refused_by_rbac_is_reported_and_the_rest_torn_down(tmp_path, capsys):
    """The controller may delete every ConfigMap but b (RBAC): b fails with the server's 403
    message, its parent a is kept, the rest goes; exit 1."""
    opts = apiserver.Options(rbac=True, audit_log=tmp_path / "audit.jsonl")
    with apiserver.running(opts) as srv:
        server = Server(srv, tmp_path)
        server.create(emitted("r", [cmap("a"), cmap("b", "configmap/a"), cmap("c", "configmap/b"), cmap("p"),
                                    cmap("q", "configmap/p")]))
        assert server.run("r", capsys)[0] == 0  # as the admin
        core = client.CoreV1Api(server.dyn.client)
        rbac = client.RbacAuthorizationV1Api(server.dyn.client)
        core.create_namespaced_service_account("default", {"metadata": {"name": "ctl"}})
        token = core.create_namespaced_service_account_token(
            "ctl", "default", {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                               "spec": {"expirationSeconds": 3600}}).status.token
        rbac.create_namespaced_role("default", {"metadata": {"name": "ctl"}, "rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch", "create", "update", "patch"]},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["delete"], "resourceNames": ["a", "c", "p", "q"]},
        ]})
        rbac.create_namespaced_role_binding("default", {
            "metadata": {"name": "ctl"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                     "name": "ctl"},
            "subjects": [{"kind": "ServiceAccount", "name": "ctl", "namespace": "default"}]})
        conf = yaml.safe_load(srv.kubeconfig.read_text())
        for u in conf["users"]:
            u["user"] = {"token": token}
        kubeconfig = tmp_path / "ctl.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(conf))
        code = entry.main(["--release", "r", "-n", "default", "--kubeconfig", str(kubeconfig), "--teardown"])
        log = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
        assert code == 1, log
        assert set(_objects(server, "configmaps")) == {"a", "b"}
        failed = {r["object"]: r["message"] for r in log if r.get("state") == "failed"}
        assert list(failed) == ["configmap/b"]
        assert failed["configmap/b"].startswith("delete refused: 403: ") and 'cannot delete resource "configmaps"' \
            in failed["configmap/b"]
        assert [(r["object"], r["blockedBy"]) for r in log if r.get("state") == "blocked"] == \
            [("configmap/a", ["configmap/b"])]


def test_applied_kinds_are_recorded_before_the_first_apply_and_only_when_new(tmp_path, capsys):
    with embedded(tmp_path, seconds=0.05) as server:
        server.create(emitted("r", [cmap("a"), deployment("web", "configmap/a")]))
        code, log = server.run("r", capsys)
        assert code == 0
        audit = server.audit()
        writes = [i for i, r in enumerate(audit) if r["resource"] == "releasegraphs" and r["verb"] == "patch"]
        applies = [i for i, r in enumerate(audit) if r["resource"] in ("configmaps", "deployments")
                   and r["verb"] == "patch"]
        # the ReleaseGraph's status: appliedKinds (first, before any apply), then the run's summary
        summary_writes = log[-1]["statusWrites"].get("ReleaseGraph", 0)
        assert len(writes) == 1 + summary_writes and all(audit[i]["subresource"] == "status" for i in writes)
        assert writes[0] < min(applies)
        graph = server.dyn.get(server.dyn.resources.get(api_version=crds.API_VERSION, kind="ReleaseGraph"),
                               name="r", namespace="default").to_dict()
        assert {k["kind"] for k in graph["status"]["appliedKinds"]} == {"ConfigMap", "Deployment"}
        mark = len(audit)
        code, log = server.run("r", capsys)  # nothing new: appliedKinds not written again (the summary is)
        assert code == 0
        again = [r for r in server.audit()[mark:] if r["resource"] == "releasegraphs" and r["verb"] == "patch"]
        assert len(again) == log[-1]["statusWrites"].get("ReleaseGraph", 0)


def test_without_a_releasegraph_objects_are_marked_but_not_owned(tmp_path, capsys):
    """A graph written by hand (no ReleaseGraph): nothing recorded, no owner; removals still work."""
    with embedded(tmp_path, seconds=0.05) as server:
        _, _, defs, deps = objects_of("r", [cmap("a"), cmap("b", "configmap/a")])
        server.create(defs + deps)
        assert server.run("r", capsys)[0] == 0
        b = _objects(server, "configmaps")["b"]
        assert b["metadata"]["labels"][RELEASE_LABEL] == "r" and "ownerReferences" not in b["metadata"]
        assert b["metadata"]["annotations"][PARENTS_ANNOTATION] == "configmap/a"
        assert not [r for r in server.audit() if r["resource"] == "releasegraphs" and r["verb"] != "list"]
        mark = len(server.audit())
        code, log = server.run("r", capsys, "--teardown")
        assert code == 0, log
        assert [name for _, name, _ in _deletes(server, mark)] == ["b", "a"]


def test_teardown_through_refused_deletes_and_dropped_watches(tmp_path, capsys):
    """Transient refusals of a delete (503, 429 with Retry-After) are tried again; a watch the
    server drops is resumed: the teardown completes, each object deleted once."""
    faults = ("verb=delete,resource=configmaps,error=503,count=2",
              "verb=delete,resource=configmaps,name=a,error=429,retry-after=0.1,count=1",
              "drop=watch,resource=configmaps,after=0.3s,count=2")
    with embedded(tmp_path, seconds=0.05, faults=faults) as server:
        soon = {spec.PREFIX + "timeout": "5s"}  # a failure ends soon
        docs = [cmap("a", **soon), cmap("b", "configmap/a", **soon), cmap("c", "configmap/b", **soon)]
        server.create(emitted("r", _slow(docs, "b")))
        assert server.run("r", capsys)[0] == 0
        mark = len(server.audit())
        with _release_slowly(server, "v1", "ConfigMap", "b"):
            code, log = server.run("r", capsys, "--teardown")
        assert code == 0, log
        assert _objects(server, "configmaps") == {}
        ok = [(r["name"], r["code"]) for r in server.audit()[mark:] if r["verb"] == "delete" and r["code"] < 300]
        assert [name for name, _ in ok] == ["c", "b", "a"]
        refused = [r["code"] for r in server.audit()[mark:] if r["verb"] == "delete" and r["code"] >= 400]
        assert sorted(refused) == [429, 503, 503]
        watches = [r for r in server.audit()[mark:] if r["verb"] == "watch" and r["resource"] == "configmaps"]
        assert len(watches) >= 2  # dropped, resumed


def _emitted_chart(release: str, out: str, chart_dir: Path) -> tuple[Any, list[dict[str, Any]]]:
    """controllerkit.emitted for a chart rendered by helm (its chart-level annotations kept)."""
    a = model.analyze(manifests.split(out), load_chart(chart_dir), "default")
    g = graph.build(a)
    keys = Keys(a, release)
    ph = appcontroller.DIGEST_PLACEHOLDER
    deps = appcontroller.dependencies(a, g, keys, ph)
    texts, digest = appcontroller.stamp([appcontroller.definition_text(a, k, keys, ph) for k in a.order]
                                        + [appcontroller.dependency_text(d) for d in deps])
    return (a, g), [yaml.safe_load(t) for t in texts] + [
        appcontroller.release_graph(release, "default", digest, len(a.order), len(deps))]


def test_an_example_chart_is_torn_down_in_reverse_order(helm, tmp_path, capsys):
    """wordpress (its subchart ordered through void/ barriers), rendered by each helm: rolled out,
    then --teardown deletes each object after every object that depends on it (audit log)."""
    chart = EXAMPLES / "wordpress"
    out = helm.run("template", "ex", str(chart), "--namespace", "default").stdout
    (a, g), docs = _emitted_chart("ex", out, chart)
    with embedded(tmp_path, seconds=0.05) as server:
        server.create(docs)
        code, log = server.run("ex", capsys)
        assert code == 0, [r for r in log if r.get("state") not in ("ready", "pending")]
        mark = len(server.audit())
        code, log = server.run("ex", capsys, "--teardown")
        assert code == 0, [r for r in log if r.get("state") == "failed"]
        objects = [k for k in g if isinstance(k, ObjectKey)]
        plural = {k: server.dyn.resources.get(api_version=str(a.objects[k].obj.body["apiVersion"]), kind=k.kind).name
                  for k in objects}
        deleted = {(res, name): t for res, name, t in _deletes(server, mark)}
        assert set(deleted) == {(plural[k], k.name) for k in objects}  # each once, all of them

        def parents(node: Any) -> set[ObjectKey]:  # through barriers (subchart order)
            found: set[ObjectKey] = set()
            for p in g.predecessors(node):
                found |= parents(p) if isinstance(p, Barrier) else {p}
            return found

        checked = 0
        for child in objects:
            for parent in parents(child):
                assert deleted[(plural[child], child.name)] < deleted[(plural[parent], parent.name)], \
                    f"{parent} deleted before its child {child}"
                checked += 1
        assert checked >= 3 and any(isinstance(n, Barrier) for n in g)
        for k in objects:  # every object gone
            res = server.dyn.resources.get(api_version=str(a.objects[k].obj.body["apiVersion"]), kind=k.kind)
            assert not server.dyn.get(res, namespace="default", label_selector=f"{RELEASE_LABEL}=ex").to_dict()["items"]


def test_teardown_on_a_cluster_without_the_crds_is_a_clear_error(capsys):
    with apiserver.running() as srv:
        code = entry.main(["--release", "r", "-n", "default", "--kubeconfig", str(srv.kubeconfig), "--teardown"])
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot list the ReleaseGraph objects of release r in namespace default" in err
    assert "Traceback" not in err
