"""What the controller's benchmark (benchmarks/controller_bench.py) found and what was fixed: the
kube face's discovery asks only for the group versions it needs, and the graph is read in pages
of plain dicts."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

from controllerkit import embedded, objects_of

from helm_ac.controller import release as release_mod
from helm_ac.kinds import ObjectKey
from helm_ac.kube.cluster import KubeCluster
from helm_ac.kube.config import connect


def _uris(audit: Path) -> list[str]:
    return [json.loads(line)["uri"] for line in audit.read_text().splitlines()]


def test_discovery_fetches_only_the_group_versions_it_looks_up(tmp_path):
    """A core kind (``v1``) used to make the client fetch the ``v1`` of every API group (20-odd
    requests per process start); a lookup now asks only for its own group version."""
    with embedded(tmp_path) as server:
        loop = asyncio.new_event_loop()
        cluster = KubeCluster(connect(kubeconfig=str(server.srv.kubeconfig), env={}).api, loop)
        try:
            before = len(_uris(tmp_path / "audit.jsonl"))
            assert cluster.resource("v1", "ConfigMap").name == "configmaps"
            assert cluster.resource("apps/v1", "Deployment").name == "deployments"
            assert cluster._resource_of(ObjectKey("", "Secret", "default", "s")).name == "secrets"
            assert cluster._resource_of(ObjectKey("batch", "Job", "default", "j")).name == "jobs"
            assert cluster.resource("appcontroller.k8s/v1alpha1", "Definition").namespaced
            asked = [u for u in _uris(tmp_path / "audit.jsonl")[before:] if u.startswith(("/api/", "/apis/"))]
            assert sorted(asked) == ["/api/v1", "/apis/appcontroller.k8s/v1alpha1", "/apis/apps/v1",
                                     "/apis/batch/v1"]
        finally:
            cluster.close()
            loop.close()


def test_the_graph_is_read_in_pages(tmp_path):
    """The Definitions and Dependencies are listed in pages (one snapshot), not in one response
    turned into the client's objects: the 10,000-object benchmark's peak memory."""
    docs = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}, "data": {"x": str(i)}}
            for i in range(5)]
    for i in range(1, 5):
        docs[i]["metadata"]["annotations"] = {"appcontroller.k8s/depends-on": f"configmap/c{i - 1}"}
    _, g, defs, deps = objects_of("r", docs)
    with embedded(tmp_path) as server:
        server.create(defs + deps)
        loop = asyncio.new_event_loop()
        cluster = KubeCluster(connect(kubeconfig=str(server.srv.kubeconfig), env={}).api, loop)
        cluster.list_page = 2
        try:
            rel = release_mod.read(cluster, "default", "r")
        finally:
            cluster.close()
            loop.close()
        assert sorted(rel.definitions) == [f"configmap/c{i}" for i in range(5)]
        assert rel.graph.number_of_edges() == g.number_of_edges() == 4
        lists = [r for r in server.audit() if r["verb"] == "list" and r["resource"] in ("definitions", "dependencies")]
        assert [r["resource"] for r in lists] == ["definitions"] * 3 + ["dependencies"] * 2
        assert all("limit=2" in r["uri"] and "labelSelector=" in r["uri"] for r in lists)
        assert all(d["metadata"].get("managedFields") for d in server.definitions("r").values())  # the server has them


def test_listed_objects_come_without_managed_fields(tmp_path):
    """What the controller lists (its graph) is kept without ``managedFields``, as client-go informers
    trim them: a 10,000-object graph read with them peaked about 30 MiB higher."""
    with embedded(tmp_path) as server:
        server.create([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}", "labels": {"a": "b"}},
                        "data": {"x": str(i)}} for i in range(3)])
        loop = asyncio.new_event_loop()
        cluster = KubeCluster(connect(kubeconfig=str(server.srv.kubeconfig), env={}).api, loop)
        try:
            items = cluster.list_all("v1", "ConfigMap", "default", "a=b")
        finally:
            cluster.close()
            loop.close()
    assert [i["metadata"]["name"] for i in items] == ["c0", "c1", "c2"]
    assert all("managedFields" not in i["metadata"] and i["data"] for i in items)


def test_an_in_progress_status_settles_before_it_is_written():
    """A Definition's in-progress statuses wait ``settle`` seconds and are replaced by newer ones: an
    object applied and ready meanwhile costs one status write, not four (the benchmark's calls per
    object: 1 apply + 4 status writes for a Deployment); a final status goes at once; closing sends
    what is still settling."""
    import threading
    from typing import Any

    from helm_ac.controller.status import StatusWriter, status
    from helm_ac.engine.events import State

    sent: list[tuple[str, str]] = []
    landed = threading.Event()

    class Res:
        def path(self, name: str, namespace: str) -> str:
            return name

    class Dynamic:
        def request(self, verb: str, path: str, body: Any, content_type: str) -> None:
            sent.append((path.removesuffix("/status"), body["status"]["phase"]))
            landed.set()

    class Cluster:
        dynamic = Dynamic()

        def resource(self, api_version: str, kind: str) -> Res:
            return Res()

    w = StatusWriter(Cluster(), "ns", settle=3600)  # type: ignore[arg-type]  # never due before close
    for state in (State.PENDING, State.APPLYING, State.WAITING):
        w.write("a", status(state, generation=1, time=1))
    w.write("b", status(State.APPLYING, generation=1, time=1))
    w.write("a", status(State.READY, generation=1, time=2))
    assert landed.wait(30)  # the final status went at once, b's is still settling
    assert sent == [("a", "Ready")]
    w.write("b", status(State.WAITING, generation=1, time=3))
    w.write("c", status(State.FAILED, generation=1, time=3))
    w.close()
    assert sent == [("a", "Ready"), ("c", "Failed"), ("b", "WaitingReady")] and w.writes == 3


def test_watched_objects_come_without_managed_fields(tmp_path):
    """The engine's watches (list, then events) hand objects over without ``managedFields`` too."""
    from helm_ac.engine.cluster import Apply, Stream, Synced, WatchEvent

    with embedded(tmp_path) as server:
        server.create([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old"}, "data": {"x": "1"}}])
        loop = asyncio.new_event_loop()
        cluster = KubeCluster(connect(kubeconfig=str(server.srv.kubeconfig), env={}).api, loop)
        msgs: list = []

        async def until(cond) -> None:
            while not cond():
                await asyncio.sleep(0.01)

        try:
            cluster.watch(Stream("v1", "ConfigMap", "default"), "", msgs.append)
            loop.run_until_complete(asyncio.wait_for(until(lambda: any(isinstance(m, Synced) for m in msgs)), 30))
            cluster.call(Apply(ObjectKey("", "ConfigMap", "default", "new"),
                               {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}}), msgs.append)
            loop.run_until_complete(asyncio.wait_for(until(lambda: any(
                isinstance(m, WatchEvent) and m.key and m.key.name == "new" for m in msgs)), 30))
        finally:
            cluster.close()
            loop.close()
    events = {m.key.name: m.obj for m in msgs if isinstance(m, WatchEvent) and m.key}
    assert set(events) >= {"old", "new"}  # listed, then watched
    assert all(obj["metadata"]["uid"] and "managedFields" not in obj["metadata"] for obj in events.values())
