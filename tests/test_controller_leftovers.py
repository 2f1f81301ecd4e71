"""Issue 10's remaining goals (part `leftovers`): a failing Job blocks only its descendants, on the
embedded API server through the real client; the graph read keeps only what the run needs."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import yaml

from controllerkit import Server, cmap, deployment, emitted
from helm_ac.apiserver import server as apiserver
from helm_ac.controller import release


@contextlib.contextmanager
def embedded_with_rules(tmp_path: Path, rules: list[str], seconds: float = 0.2) -> Iterator[Server]:
    """controllerkit's ``embedded`` with the server's ``--rule`` behaviour rules."""
    behaviour = tmp_path / "behaviour.yaml"
    behaviour.write_text(yaml.safe_dump({"jitter": 0, "seconds": {k: seconds for k in (
        "Pod", "ReplicaSet", "Deployment", "Job")}}))
    opts = apiserver.Options(audit_log=tmp_path / "audit.jsonl", readiness_log=tmp_path / "ready.jsonl",
                             behaviour=behaviour, rules=rules)
    with apiserver.running(opts) as srv:
        yield Server(srv, tmp_path)


def job(name: str, depends: str | None = None) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, **({"annotations": {"appcontroller.k8s/depends-on": depends}} if depends else {})},
            "spec": {"backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "m", "image": "example/migrate:1"}]}}}}


def _cond(st: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in st.get("conditions") or []}


def test_a_failing_job_blocks_only_its_descendants(tmp_path, capsys):
    #   root ─┬─ job/migrate ── deployment/app ── configmap/after      (the Job fails: its subtree blocked)
    #         └─ configmap/sibling                                      (the Job's sibling: rolled out)
    #   configmap/unrelated                                             (no relation: rolled out)
    docs = [cmap("root"), job("migrate", "configmap/root"), deployment("app", "job/migrate"),
            cmap("after", "deployment/app"), cmap("sibling", "configmap/root"), cmap("unrelated")]
    with embedded_with_rules(tmp_path, ["Job/default/migrate=fail"]) as server:
        server.create(emitted("r", docs))
        code, log = server.run("r", capsys)
        got = {name: d["status"] for name, d in server.definitions("r").items()}
        applied = server.first_applies("configmaps")
        deployments = server.first_applies("deployments")
        jobs = server.first_applies("jobs")
        ready = server.ready()
    assert code == 1, log
    for name in ("configmap-root", "configmap-sibling", "configmap-unrelated"):
        assert got[name]["phase"] == "Ready" and _cond(got[name])["Ready"] == "True", (name, got[name])
    failed = got["job-migrate"]
    assert failed["phase"] == "Failed" and failed["reason"] == "Failed", failed
    assert "BackoffLimitExceeded" in failed["message"], failed  # the Job's own reason, as its condition says
    assert _cond(failed) == {"Ready": "False", "Reconciling": "False", "Stalled": "True"}
    for name in ("deployment-app", "configmap-after"):
        st = got[name]
        assert st["phase"] == "Blocked" and st["reason"] == "ParentFailed", (name, st)
        assert "job/migrate" in st["message"] and _cond(st)["Stalled"] == "True", (name, st)
    assert got["deployment-app"]["blockedBy"] == ["job/migrate"]
    assert got["configmap-after"]["blockedBy"] == ["job/migrate"]  # the failure it waits for, not its blocked parent
    # the descendants were never applied; the Job once (no retry was asked for), after its parent was ready
    assert "app" not in deployments and set(applied) == {"root", "sibling", "unrelated"}
    assert list(jobs) == ["migrate"] and jobs["migrate"] >= applied["root"]
    assert ("Job", "migrate") not in ready
    finished = [r for r in log if r.get("msg") == "rollout finished"]
    assert finished and finished[0]["ok"] is False


def test_the_graph_read_keeps_only_what_the_run_needs():
    """The listed Definitions and Dependencies are compacted page by page: their edges, names,
    generations, graph digests, ``meta``, statuses, payload names and wrapped objects stay."""
    d = {"apiVersion": "appcontroller.k8s/v1alpha1", "kind": "Definition",
         "metadata": {"name": "configmap-a", "namespace": "default", "uid": "u", "resourceVersion": "7",
                      "generation": 3, "labels": {"appcontroller.k8s/release": "r"},
                      "annotations": {"appcontroller.k8s/graph": "abc", "other": "x"},
                      "creationTimestamp": "2026-01-01T00:00:00Z"},
         "meta": {"timeout": 5}, "status": {"phase": "Ready"}, "payload": {"secretName": "p"},
         "configmap": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}}
    assert release.compact_definition(d) == {
        "metadata": {"name": "configmap-a", "generation": 3, "annotations": {"appcontroller.k8s/graph": "abc"}},
        "meta": {"timeout": 5}, "status": {"phase": "Ready"}, "payload": {"secretName": "p"},
        "configmap": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}}
    dep = {"apiVersion": "appcontroller.k8s/v1alpha1", "kind": "Dependency",
           "metadata": {"name": "d1", "uid": "u", "labels": {"x": "y"}}, "parent": "configmap/a",
           "child": "void/b", "meta": {"gate": "present"}}
    assert release.compact_dependency(dep) == {"metadata": {"name": "d1"}, "parent": "configmap/a",
                                              "child": "void/b", "meta": {"gate": "present"}}


def test_a_prune_lists_in_pages_and_keeps_none_of_the_kept_objects(tmp_path):
    """The prune after a rollout lists each applied kind in pages, trimmed, and holds only the objects
    it may delete: after a 10,000-object rollout that removes nothing, one unpaged list turned
    into the client's dicts was the controller's peak memory (247 MiB)."""
    import asyncio

    from controllerkit import embedded
    from helm_ac.controller import removal
    from helm_ac.kube.cluster import KubeCluster
    from helm_ac.kube.config import connect

    with embedded(tmp_path) as server:
        server.create([{"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": f"c{i}", "labels": {release.RELEASE_LABEL: "r"},
                                      "annotations": {release.KEY_ANNOTATION: f"configmap/c{i}"}},
                         "data": {"x": str(i)}} for i in range(5)])
        loop = asyncio.new_event_loop()
        cluster = KubeCluster(connect(kubeconfig=str(server.srv.kubeconfig), env={}).api, loop)
        cluster.list_page = 2
        try:
            got = removal._list(cluster, removal.kind_entry("v1", "ConfigMap", "default"), "r", "default",
                                {"configmap/c0", "configmap/c2", "configmap/c3"})
        finally:
            cluster.close()
            loop.close()
        lists = [r for r in server.audit() if r["verb"] == "list" and r["resource"] == "configmaps"]
    assert got is not None
    stream, items, version = got
    assert [i["metadata"]["name"] for i in items] == ["c1", "c4"]
    assert all("managedFields" not in i["metadata"] and i["kind"] == "ConfigMap" for i in items)
    assert version and (stream.kind, stream.namespace) == ("ConfigMap", "default")
    assert len(lists) == 3 and all("limit=2" in r["uri"] for r in lists)
