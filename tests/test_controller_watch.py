"""The controller's watch mode (helm_ac/controller/watch.py, docs/controller.md *Upgrade*,
*Release-level summary*, *Health, logs*): runs started, superseded and stopped as the release's
graph changes, the ReleaseGraph's summary status (also in the one-shot mode) and the health
endpoints, on the embedded API server; the order is checked from its audit log and the engine's
events."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

from helm_ac.controller import watch as watch_mod
from helm_ac.controller.run import LeaseOptions
from helm_ac.controller.status import RunSummary, graph_status
from helm_ac.engine.events import PlanEvent, State, StateEvent
from helm_ac.engine.scheduler import Engine
from helm_ac.kube.config import connect
from helm_ac.output import crds

from controllerkit import CHAIN, Server, cmap, deployment, embedded, emitted

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import get_helm  # noqa: E402


def _cond(st: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in st["conditions"]}


# ---------------------------------------------------------------- the summary status (pure)

def test_the_release_graph_status_reads_as_kstatus_expects_and_validates_against_its_crd():
    jsonschema = pytest.importorskip("jsonschema")
    schema = crds.schema_of("ReleaseGraph")["properties"]["status"]
    rg = emitted("r", CHAIN)[-1]
    rg["metadata"]["generation"] = 3
    s = RunSummary(rg, ["configmap/a", "configmap/b"], 100.0)
    going = s.status(101.0)
    assert going["phase"] == "Progressing" and going["observedGeneration"] == 3
    assert going["digest"] == rg["spec"]["digest"] and going["counts"] == {"Pending": 2}
    assert _cond(going) == {"Ready": "False", "Reconciling": "True", "Stalled": "False"}  # kstatus: InProgress
    s.on_state("configmap/a", State.READY)
    s.on_state("configmap/b", State.TIMED_OUT)
    s.on_end(False, 130.0)
    failed = s.status(130.0, previous=going)
    assert failed["phase"] == "Failed" and failed["failed"] == ["configmap/b"]
    assert failed["counts"] == {"Ready": 1, "TimedOut": 1} and "configmap/b" in failed["message"]
    assert _cond(failed) == {"Ready": "False", "Reconciling": "False", "Stalled": "True"}  # kstatus: Failed
    assert failed["startedAt"] == "1970-01-01T00:01:40Z" and failed["finishedAt"] == "1970-01-01T00:02:10Z"
    ready = RunSummary(rg, ["configmap/a"], 100.0)
    ready.on_state("configmap/a", State.READY)
    ready.on_end(True, 120.0)
    assert _cond(ready.status(120.0)) == {"Ready": "True", "Reconciling": "False", "Stalled": "False"}
    stalled = graph_status("Stalled", generation=3, digest="d" * 64, time=1e9, message="cycle")
    assert stalled["reason"] == "InvalidGraph" and _cond(stalled)["Stalled"] == "True"
    # an ok run reads in progress while its prune goes, then Ready, or Failed naming what stayed
    ready.pruning = True
    pruning = ready.status(120.0)
    assert (pruning["phase"], pruning["reason"]) == ("Progressing", "Pruning") and _cond(pruning)["Reconciling"] == "True"
    ready.on_pruned({})
    assert ready.status(121.0)["phase"] == "Ready" and "pruneFailed" not in ready.status(121.0)
    ready.on_pruned({"deployment/old": "API error: 403: forbidden"})
    left = ready.status(121.0)
    assert (left["phase"], left["reason"]) == ("Failed", "PruneFailed") and _cond(left)["Stalled"] == "True"
    assert left["pruneFailed"] == {"deployment/old": "API error: 403: forbidden"}
    assert "deployment/old: API error: 403: forbidden" in left["message"]
    for st in (going, failed, ready.status(120.0), stalled, pruning, left):
        jsonschema.validate(st, schema)
        assert set(st) <= set(schema["properties"]), set(st) - set(schema["properties"])


# ---------------------------------------------------------------- helpers

class Watching:
    """The watch mode in a thread (its own asyncio loop), as the process runs it."""

    def __init__(self, server: Server, release: str = "r", identity: str = "ctl", duration: int = 15,
                 debounce: float = watch_mod.DEBOUNCE) -> None:
        self.server, self.release, self.debounce = server, release, debounce
        self.lines: list[dict[str, Any]] = []
        self.events: list[Any] = []
        self.health = watch_mod.Health()
        self.result: Any = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main(identity, duration)), daemon=True)
        self.thread.start()
        assert self._ready.wait(30)

    async def _main(self, identity: str, duration: int) -> None:
        self.loop = asyncio.get_running_loop()
        api = connect(kubeconfig=str(self.server.srv.kubeconfig), env={}).api
        self.task = asyncio.ensure_future(watch_mod.watch(
            api, "default", self.release, lease=LeaseOptions(identity, duration), health=self.health,
            debounce=self.debounce,
            emit=lambda line: self.lines.append(json.loads(line)), sink=self.events.append))
        self._ready.set()
        try:
            self.result = await self.task
        except BaseException as exc:  # noqa: BLE001 - looked at by the tests
            self.result = exc

    def until(self, what: Callable[[], Any], limit: float = 60.0) -> Any:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            got = what()
            if got:
                return got
            assert self.thread.is_alive() or self.result is not None, self.result
            time.sleep(0.02)
        raise AssertionError(f"not reached in {limit} s; log: {self.lines[-5:]}")

    def said(self, msg: str) -> list[dict[str, Any]]:
        return [r for r in self.lines if str(r.get("msg", "")).startswith(msg)]

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(30)


def _res(server: Server, kind: str) -> Any:
    return server.dyn.resources.get(api_version=crds.API_VERSION, kind=kind)


def graph_of(server: Server, release: str = "r") -> dict[str, Any]:
    try:
        return server.dyn.get(_res(server, "ReleaseGraph"), name=release, namespace="default").to_dict()
    except Exception:  # noqa: BLE001 - not there (yet)
        return {}


def upgrade(server: Server, docs: list[dict[str, Any]], old: list[dict[str, Any]] = ()) -> None:  # type: ignore[assignment]
    """As `helm upgrade`: each object created or replaced, in order; those of ``old`` not in
    ``docs`` deleted."""
    from kubernetes.client.exceptions import ApiException

    for d in docs:
        res = server.dyn.resources.get(api_version=d["apiVersion"], kind=d["kind"])
        for _ in range(20):  # a status write between the get and the replace: a conflict, try again
            try:
                live = server.dyn.get(res, name=d["metadata"]["name"], namespace="default").to_dict()
            except ApiException as exc:
                assert exc.status == 404
                server.dyn.create(res, body=d, namespace="default")
                break
            body = {**d, "metadata": {**d["metadata"], "resourceVersion": live["metadata"]["resourceVersion"]}}
            try:
                server.dyn.replace(res, body=body, name=d["metadata"]["name"], namespace="default")
                break
            except ApiException as exc:
                assert exc.status == 409
        else:
            raise AssertionError(f"{d['kind']} {d['metadata']['name']}: conflicts all along")
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for d in old:
        if (d["kind"], d["metadata"]["name"]) not in names:
            server.dyn.delete(server.dyn.resources.get(api_version=d["apiVersion"], kind=d["kind"]),
                              name=d["metadata"]["name"], namespace="default")


def applies(server: Server, resource: str = "configmaps") -> list[tuple[str, int]]:
    """(name, code) of every apply of ``resource``, in the order the server took them."""
    return [(r["name"], r["code"]) for r in server.audit() if r["verb"] == "patch" and not r["subresource"]
            and r["resource"] == resource and r["code"] in (200, 201)]


def rg_writes(server: Server) -> int:
    return sum(1 for r in server.audit() if r["resource"] == "releasegraphs" and r["subresource"] == "status")


def settled(server: Server, digest: str, phase: str = "Ready") -> Callable[[], bool]:
    return lambda: (graph_of(server).get("status") or {}).get("digest") == digest and \
        graph_of(server)["status"].get("phase") == phase


@pytest.fixture
def server(tmp_path):
    with embedded(tmp_path) as srv:
        yield srv


# ---------------------------------------------------------------- runs

def test_a_release_created_after_the_controller_started_rolls_out_once_complete(server):
    """Definitions arrive one at a time (the ReleaseGraph first here): nothing is applied before
    the last one; then the graph rolls out in order, the ReleaseGraph reads Ready for kstatus, and
    the finished run stays finished (the statuses it writes start nothing)."""
    w = Watching(server)
    try:
        w.until(lambda: w.said("waiting for the ReleaseGraph"))
        assert w.health.ready  # Lease held, lists in
        docs = emitted("r", CHAIN)
        rg, rest = docs[-1], docs[:-1]
        server.create([rg])
        for d in rest:
            assert applies(server) == [], "applied before the graph was complete"
            server.create([d])
            time.sleep(0.15)  # longer than the debounce: each one is looked at alone
        digest = rg["spec"]["digest"]
        w.until(settled(server, digest))
        assert len(w.said("graph " + digest[:12] + " not complete yet")) == 1  # said once, no error
        assert sorted(n for n, _ in applies(server)) == ["a", "b", "c", "d"]
        order = [n for n, _ in applies(server)]
        assert order.index("a") < order.index("b") < order.index("d") and order.index("c") < order.index("d")
        st = graph_of(server)
        assert st["status"]["observedGeneration"] == st["metadata"]["generation"]
        assert _cond(st["status"]) == {"Ready": "True", "Reconciling": "False", "Stalled": "False"}
        assert st["status"]["counts"] == {"Ready": 4} and "failed" not in st["status"]
        assert all(d["status"]["phase"] == "Ready" for d in server.definitions("r").values())
        writes = rg_writes(server)
        time.sleep(0.5)  # what it wrote comes back as watch events: no new run from them
        assert len(w.said("graph read")) == 1 and len(applies(server)) == 4 and rg_writes(server) == writes
        # Progressing, (an update 0.5 s later), Ready, or fewer: the writer sends only the newest of
        # statuses queued behind writes in flight
        assert 1 <= writes <= 3, writes
        # kubectl wait on the ReleaseGraph's Ready condition (kubectl 1.34)
        kubectl = str(get_helm.fetch_kubectl(quiet=True))
        waited = subprocess.run([kubectl, "--kubeconfig", str(server.srv.kubeconfig), "-n", "default", "wait",
                                 "--for=condition=Ready", "releasegraph/r", "--timeout=30s"],
                                capture_output=True, text=True, timeout=60, check=False)
        assert waited.returncode == 0, waited.stderr
        assert "condition met" in waited.stdout
    finally:
        w.stop()
    assert w.result is not None and not isinstance(w.result, int)  # cancelled: it runs until told


def test_an_upgrade_runs_the_changed_and_added_objects_in_order(server):
    """After a finished rollout, `helm upgrade` changes b and adds e under d: a new run applies b
    again (a, its parent, unchanged and ready: not applied again) and creates e (d, unchanged and
    ready, passes at once: e need not wait for b)."""
    old = emitted("r", CHAIN)
    w = Watching(server)
    try:
        server.create(old)
        w.until(settled(server, old[-1]["spec"]["digest"]))
        first = len(applies(server))
        changed = [CHAIN[0], {**CHAIN[1], "data": {"x": "b2"}}, CHAIN[2], CHAIN[3], cmap("e", "configmap/d")]
        new = emitted("r", changed)
        upgrade(server, new, old)
        w.until(settled(server, new[-1]["spec"]["digest"]))
        second = applies(server)[first:]
        names = [n for n, _ in second]
        assert ("e", 201) in second and names.count("b") == 1  # e created; b applied again, once
        # unchanged and ready (seeded); e needs only d, unchanged and ready: it may go before b
        assert "a" not in names and "c" not in names and "d" not in names
        live_b = server.dyn.get(server.dyn.resources.get(api_version="v1", kind="ConfigMap"), name="b",
                                namespace="default").to_dict()
        assert live_b["data"] == {"x": "b2"}
        defs = server.definitions("r")
        assert defs["configmap-b"]["metadata"]["generation"] == 2
        assert all(d["status"]["observedGeneration"] == d["metadata"]["generation"] and d["status"]["phase"] == "Ready"
                   for d in defs.values())
        st = graph_of(server)["status"]
        assert st["counts"] == {"Ready": 5} and st["observedGeneration"] == graph_of(server)["metadata"]["generation"] == 2
        assert len(w.said("graph read")) == 2
    finally:
        w.stop()


def test_an_upgrade_does_not_reapply_unchanged_objects_behind_their_parents(server):
    old = emitted("r", CHAIN)
    w = Watching(server)
    try:
        server.create(old)
        w.until(settled(server, old[-1]["spec"]["digest"]))
        first = len(applies(server))
        new = emitted("r", [CHAIN[0], {**CHAIN[1], "data": {"x": "b2"}}, CHAIN[2], CHAIN[3]])
        upgrade(server, new, old)
        w.until(settled(server, new[-1]["spec"]["digest"]))
        assert [n for n, _ in applies(server)[first:]] == ["b"]  # a, c, d: unchanged, ready: not re-applied
    finally:
        w.stop()


def test_an_upgrade_arriving_mid_run_supersedes_the_run(tmp_path):
    """The first graph's chain of Deployments is under way (one created) when a second graph drops
    `three` and adds configmap `x`: the first run stops; nothing of the old graph alone is applied
    after the new run started (three never), and the new graph rolls out."""
    with embedded(tmp_path, seconds=0.5) as server:
        old = emitted("r", [deployment("one"), deployment("two", "deployment/one"),
                            deployment("three", "deployment/two")])
        w = Watching(server)
        try:
            server.create(old)
            w.until(lambda: applies(server, "deployments"))  # one is on its way
            new = emitted("r", [deployment("one"), deployment("two", "deployment/one"), cmap("x", "deployment/two")])
            upgrade(server, new, old)
            w.until(settled(server, new[-1]["spec"]["digest"]))
            assert [r for r in w.said("graph read") if r.get("superseding")]
            plans = [i for i, e in enumerate(w.events) if isinstance(e, PlanEvent)]
            assert len(plans) == 2
            after = w.events[plans[1]:]
            assert not [e for e in after if isinstance(e, StateEvent) and e.key == "deployment/three"]
            # the old run emitted nothing once superseded: every event after the new plan is of the new graph
            assert {e.key for e in after if isinstance(e, StateEvent)} == {"deployment/one", "deployment/two",
                                                                         "configmap/x"}
            assert "three" not in [n for n, _ in applies(server, "deployments")]
            assert [n for n, _ in applies(server, "configmaps")] == ["x"]
            assert graph_of(server)["status"]["counts"] == {"Ready": 3}
        finally:
            w.stop()


def test_an_invalid_graph_reads_stalled_and_a_fixed_one_then_rolls_out(server):
    bad = emitted("r", CHAIN)
    dep = next(d for d in bad if d["kind"] == "Dependency")
    dep["parent"] = "configmap/zz"
    w = Watching(server)
    try:
        server.create(bad)
        w.until(settled(server, bad[-1]["spec"]["digest"], "Stalled"))
        st = graph_of(server)["status"]
        assert st["reason"] == "InvalidGraph" and "'configmap/zz', which no Definition" in st["message"]
        assert _cond(st) == {"Ready": "False", "Reconciling": "False", "Stalled": "True"}
        assert st["observedGeneration"] == 1 and applies(server) == []
        assert w.result is None  # still running
        good = emitted("r", CHAIN + [cmap("e")])
        upgrade(server, good, bad)
        w.until(settled(server, good[-1]["spec"]["digest"]))
        assert sorted(n for n, _ in applies(server)) == ["a", "b", "c", "d", "e"]
        assert _cond(graph_of(server)["status"])["Stalled"] == "False"
    finally:
        w.stop()


def test_the_one_shot_mode_writes_the_release_graph_status_too(server, capsys):
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"}, "data": {"k": {"not": "a string"}}}
    server.create(emitted("r", [bad, cmap("a", "configmap/bad"), cmap("free")]))
    code, log = server.run("r", capsys)
    assert code == 1, log
    st = graph_of(server)["status"]
    assert st["phase"] == "Failed" and st["failed"] == ["configmap/bad"] and st["reason"] == "RolloutFailed"
    assert st["counts"] == {"Blocked": 1, "Failed": 1, "Ready": 1}
    assert _cond(st) == {"Ready": "False", "Reconciling": "False", "Stalled": "True"}
    assert st["observedGeneration"] == graph_of(server)["metadata"]["generation"]


# ---------------------------------------------------------------- the process

def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_process_serves_health_and_exits_0_giving_the_lease_up_when_the_release_is_uninstalled(server):
    cmd = [sys.executable, "-m", "helm_ac.controller", "--release", "r", "-n", "default", "--watch",
           "--kubeconfig", str(server.srv.kubeconfig), "--identity", "ctl", "--health-port", "0",
           "--health-address", "127.0.0.1"]
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()

    def until(what: Callable[[], Any], limit: float = 60.0) -> Any:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            got = what()
            if got:
                return got
            assert proc.poll() is None, "".join(lines)
            time.sleep(0.02)
        raise AssertionError("".join(lines))

    try:
        served = until(lambda: [json.loads(x) for x in lines if '"health endpoints served"' in x])
        base = f"http://127.0.0.1:{served[0]['port']}"
        assert _get(base + "/healthz")[0] == 200
        until(lambda: any("waiting for the ReleaseGraph" in x for x in lines))
        code, text = _get(base + "/readyz")
        assert code == 200 and "ready" in text
        assert _get(base + "/nothing")[0] == 404
        docs = emitted("r", CHAIN)
        server.create(docs)
        until(settled(server, docs[-1]["spec"]["digest"]))
        res = server.dyn.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")
        assert server.dyn.get(res, name="helm-ac-r", namespace="default").to_dict()["spec"]["holderIdentity"] == "ctl"
        server.dyn.delete(_res(server, "ReleaseGraph"), name="r", namespace="default")  # helm uninstall
        assert proc.wait(60) == 0, "".join(lines)
        reader.join(10)
        assert not server.dyn.get(res, name="helm-ac-r", namespace="default").to_dict()["spec"].get("holderIdentity")
        assert "Traceback" not in "".join(lines)
        assert any("ReleaseGraph is deleted" in x for x in lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_health_port_without_watch_is_a_usage_error(capsys):
    from helm_ac.controller import __main__ as entry
    with pytest.raises(SystemExit) as exc:
        entry.main(["--release", "r", "--health-port", "8080"])
    assert exc.value.code == 2 and "--health-port needs --watch" in capsys.readouterr().err


def test_healthz_fails_when_the_loop_stops_answering():
    from helm_ac.controller.health import HealthServer
    health = watch_mod.Health(lease_held=True, graph_read=lambda: True)
    srv = HealthServer(health, "127.0.0.1", 0, stale=10.0).start()
    try:
        base = f"http://127.0.0.1:{srv.port}"
        assert _get(base + "/healthz")[0] == 200 and _get(base + "/readyz")[0] == 200
        health.heartbeat -= 11  # no tick for 11 s
        code, text = _get(base + "/healthz")
        assert code == 503 and "last answered" in text
        health.lease_held = False
        assert _get(base + "/readyz") == (503, "not ok: waiting for the release's Lease\n")
    finally:
        srv.close()


def test_sigterm_stops_the_watching_process_and_gives_its_lease_up(server):
    cmd = [sys.executable, "-m", "helm_ac.controller", "--release", "r", "-n", "default", "--watch",
           "--kubeconfig", str(server.srv.kubeconfig), "--identity", "ctl"]
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True)
    res = server.dyn.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")

    def holder() -> Any:
        try:
            return server.dyn.get(res, name="helm-ac-r", namespace="default").to_dict()["spec"].get("holderIdentity")
        except Exception:  # noqa: BLE001 - not created yet
            return None

    try:
        deadline = time.monotonic() + 60
        while holder() != "ctl":
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert not holder()


def test_a_lease_lost_while_watching_stops_the_run_and_raises(server):
    from helm_ac.controller.lease import LeaseLost

    w = Watching(server, duration=3)  # renewed every second
    try:
        w.until(lambda: w.said("waiting for the ReleaseGraph"))
        res = server.dyn.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")
        lease = server.dyn.get(res, name="helm-ac-r", namespace="default").to_dict()
        lease["spec"]["holderIdentity"] = "other"
        server.dyn.replace(res, body=lease, name="helm-ac-r", namespace="default")
        w.thread.join(30)
        assert isinstance(w.result, LeaseLost) and "held by other" in str(w.result)
        assert not w.health.lease_held
        # not given up by the loser
        assert server.dyn.get(res, name="helm-ac-r", namespace="default").to_dict()["spec"]["holderIdentity"] == "other"
    finally:
        w.stop()


def test_dropped_watches_of_the_graph_are_resumed_and_nothing_is_missed(tmp_path):
    """The server drops the Definition and ReleaseGraph watches (twice each, 100 ms into them)
    while the release is being created: the streams resume from their version and the release
    still rolls out, once."""
    faults = ("verb=watch,resource=definitions.appcontroller.k8s,drop=watch,after=100ms,count=2",
              "verb=watch,resource=releasegraphs.appcontroller.k8s,drop=watch,after=100ms,count=2")
    with embedded(tmp_path, faults=faults) as server:
        w = Watching(server)
        try:
            w.until(lambda: w.said("waiting for the ReleaseGraph"))
            docs = emitted("r", CHAIN)
            for d in docs:
                server.create([d])
                time.sleep(0.05)
            w.until(settled(server, docs[-1]["spec"]["digest"]))
            drops = [r for r in server.audit() if r["verb"] == "watch" and r["group"] == "appcontroller.k8s"
                     and r["resource"] in ("definitions", "releasegraphs")]
            # (a watch is audited when it ends) the first two of each kind were dropped: the third is open
            assert sorted(r["resource"] for r in drops) == ["definitions"] * 2 + ["releasegraphs"] * 2
            assert all("resourceVersion=" in r["uri"] for r in drops)  # resumed from a version ...
            assert sum(r["verb"] == "list" and r["resource"] == "definitions" for r in server.audit()) == 1  # not listed
            assert sorted(n for n, _ in applies(server)) == ["a", "b", "c", "d"]
            assert len(w.said("graph read")) == 1
        finally:
            w.stop()


def test_the_informer_ignores_status_writes_relists_after_410_and_forgets_what_the_relist_lacks():
    from helm_ac.engine.cluster import ApiError, Synced, WatchClosed, WatchEvent
    from helm_ac.kinds import ObjectKey

    opened: list[tuple[str, str | None, Any]] = []

    class Handle:
        def stop(self) -> None:
            pass

    class Cluster:
        def watch(self, stream: Any, version: str, sink: Any, *, label_selector: str | None = None) -> Handle:
            opened.append((version, label_selector, sink))
            return Handle()

    def obj(name: str, generation: int = 1, phase: str = "", uid: str = "u") -> dict[str, Any]:
        return {"metadata": {"name": name, "uid": uid + name, "generation": generation, "annotations": {"g": "1"}},
                "status": {"phase": phase}}

    def ev(type_: str, o: dict[str, Any], rv: str) -> WatchEvent:
        return WatchEvent(type_, ObjectKey("appcontroller.k8s", "Definition", "default", o["metadata"]["name"]), o, rv)

    changes: list[int] = []
    loop = asyncio.new_event_loop()
    try:
        inf = watch_mod.Informer(Cluster(), "Definition", "default", "sel", lambda: changes.append(1), loop)  # type: ignore[arg-type]
        inf.start()
        assert opened[-1][:2] == ("", "sel")
        sink = opened[-1][2]
        sink(ev("ADDED", obj("a"), "1"))
        sink(ev("ADDED", obj("b"), "2"))
        assert changes == []  # not before the list is in
        sink(Synced("2"))
        assert inf.synced and changes == [1] and set(inf.objects) == {"a", "b"}
        sink(ev("MODIFIED", obj("a", phase="Ready"), "3"))  # a status write: nothing to look at
        assert changes == [1] and inf.objects["a"]["status"]["phase"] == "Ready"
        sink(ev("MODIFIED", obj("a", generation=2), "4"))  # a new generation
        assert changes == [1, 1]
        sink(WatchClosed(ApiError(410, "too old")))  # relist at once
        assert opened[-1][0] == "" and len(opened) == 2
        sink(ev("ADDED", obj("z"), "9"))  # the old stream's late message: ignored
        assert "z" not in inf.objects
        relist = opened[-1][2]
        relist(ev("ADDED", obj("a", generation=2), "10"))
        relist(Synced("10"))  # b was deleted while nobody watched
        assert set(inf.objects) == {"a"} and len(changes) == 3
        relist(WatchClosed(None))  # dropped: resumed from its version, at once
        assert loop.run_until_complete(asyncio.sleep(0.01)) is None and opened[-1][0] == "10"
        inf.stop()
    finally:
        loop.close()


def test_helm_install_upgrade_and_uninstall_under_a_watching_controller(helm, tmp_path):
    """Real helm (3 and 4) creates, upgrades and deletes the release's objects one by one: the
    controller runs the installed graph, then the upgraded one (e added under b), and exits 0 with
    the Lease given up once `helm uninstall` has deleted the ReleaseGraph."""
    from conftest import write_chart
    import yaml

    with embedded(tmp_path) as server:
        kube = ["-n", "default", "--kubeconfig", str(server.srv.kubeconfig)]
        w = Watching(server)
        try:
            v1 = emitted("r", CHAIN)
            chart = write_chart(tmp_path, "app", {"graph.yaml": yaml.safe_dump_all(v1)})
            helm.run("install", "r", str(chart), *kube)
            w.until(settled(server, v1[-1]["spec"]["digest"]))
            first = len(applies(server))
            v2 = emitted("r", CHAIN + [cmap("e", "configmap/b")])
            (chart / "templates" / "graph.yaml").write_text(yaml.safe_dump_all(v2))
            helm.run("upgrade", "r", str(chart), *kube)
            w.until(settled(server, v2[-1]["spec"]["digest"]))
            names = [n for n, _ in applies(server)[first:]]
            assert ("e", 201) in applies(server) and names == ["e"]  # the rest unchanged and ready: seeded
            assert graph_of(server)["status"]["counts"] == {"Ready": 5}
            helm.run("uninstall", "r", *kube)
            w.thread.join(60)
            assert w.result == 0, w.lines[-3:]
            res = server.dyn.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")
            assert not server.dyn.get(res, name="helm-ac-r", namespace="default").to_dict()["spec"].get("holderIdentity")
        finally:
            w.stop()


def test_the_one_shot_controller_finds_what_helm_installed(helm, tmp_path, capsys):
    """Helm labels everything it creates `app.kubernetes.io/managed-by: Helm`: a selector asking for
    `helm-ac` found no Definition and the run did nothing, successfully."""
    from conftest import write_chart
    import yaml

    with embedded(tmp_path) as server:
        docs = emitted("r", CHAIN)
        chart = write_chart(tmp_path, "app", {"graph.yaml": yaml.safe_dump_all(docs)})
        helm.run("install", "r", str(chart), "-n", "default", "--kubeconfig", str(server.srv.kubeconfig))
        code, log = server.run("r", capsys)
        assert code == 0, log
        assert sorted(n for n, _ in applies(server)) == ["a", "b", "c", "d"]
        assert graph_of(server)["status"]["phase"] == "Ready"


def test_a_superseding_run_waits_for_the_stopped_runs_last_apply(tmp_path):
    """The first graph's apply of `slow` takes 1 s to answer (the server's latency, that call only)
    when an upgrade changes `slow`: the new run's apply must land after it, or the old body would win.
    (Before, the new run applied at once and the old apply, landing later, put the old content back.)"""
    faults = ("verb=patch,resource=configmaps,name=slow,latency=1s,count=1",)
    with embedded(tmp_path, faults=faults) as server:
        old = emitted("r", [cmap("slow")])
        new = emitted("r", [{**cmap("slow"), "data": {"x": "new"}}])
        w = Watching(server)
        try:
            server.create(old)
            w.until(lambda: [e for e in w.events if isinstance(e, StateEvent) and e.state is State.APPLYING])
            upgrade(server, new, old)
            w.until(settled(server, new[-1]["spec"]["digest"]))
            w.until(lambda: len(applies(server)) == 2)  # both applies landed
            live = server.dyn.get(server.dyn.resources.get(api_version="v1", kind="ConfigMap"), name="slow",
                                  namespace="default").to_dict()
            assert live["data"] == {"x": "new"}
            assert w.said("waiting for the superseded run's calls")
        finally:
            w.stop()


@pytest.mark.parametrize("from_start", [False, True])
def test_a_release_graph_marked_for_teardown_ends_the_controller_and_frees_the_lease(server, from_start):
    """`--teardown` marks the ReleaseGraph, then takes the Lease: a watching controller (also one
    that starts after the mark, a restarted pod) gives the Lease up and exits 0."""
    docs = emitted("r", CHAIN)
    res = _res(server, "ReleaseGraph")

    def mark() -> None:
        rg = graph_of(server)
        rg["metadata"].setdefault("annotations", {})[watch_mod.TEARDOWN_ANNOTATION] = "true"
        server.dyn.replace(res, body=rg, name="r", namespace="default")

    server.create(docs)
    if from_start:
        mark()
    w = Watching(server)
    try:
        if not from_start:
            w.until(settled(server, docs[-1]["spec"]["digest"]))
            mark()
        w.thread.join(30)
        assert w.result == 0, w.lines[-3:]
        assert w.said("the release's ReleaseGraph is marked for teardown")
        lease = server.dyn.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")
        assert not server.dyn.get(lease, name="helm-ac-r", namespace="default").to_dict()["spec"].get("holderIdentity")
        if from_start:
            assert applies(server) == []  # nothing run
    finally:
        w.stop()


def test_a_run_superseded_before_it_started_still_waits_for_the_first_runs_calls(tmp_path):
    """A's apply of `slow` is delayed 1 s; B supersedes A and waits for it; C supersedes B before B
    started: C too must wait for A's apply, or A's body lands last."""
    faults = ("verb=patch,resource=configmaps,name=slow,latency=1s,count=1",)
    with embedded(tmp_path, faults=faults) as server:
        a = emitted("r", [cmap("slow")])
        b = emitted("r", [{**cmap("slow"), "data": {"x": "b"}}])
        c = emitted("r", [{**cmap("slow"), "data": {"x": "c"}}])
        w = Watching(server)
        try:
            server.create(a)
            w.until(lambda: [e for e in w.events if isinstance(e, StateEvent) and e.state is State.APPLYING])
            upgrade(server, b, a)
            w.until(lambda: w.said("waiting for the superseded run's calls"))
            upgrade(server, c, b)
            w.until(settled(server, c[-1]["spec"]["digest"]))
            w.until(lambda: len(applies(server)) == 2)  # A's and C's (B never started)
            live = server.dyn.get(server.dyn.resources.get(api_version="v1", kind="ConfigMap"), name="slow",
                                  namespace="default").to_dict()
            assert live["data"] == {"x": "c"}
        finally:
            w.stop()


def test_a_refused_record_of_the_applied_kinds_is_logged_and_the_rollout_goes_on(tmp_path):
    """The ReleaseGraph's status.appliedKinds cannot be written (every try refused): the watching
    controller logs it and rolls the release out all the same. (The log line was made from the
    exception after its except block had ended: a NameError in the loop, nothing logged.)"""
    faults = ("verb=patch,resource=releasegraphs.appcontroller.k8s,error=429,retry-after=0,count=6",)
    with embedded(tmp_path, faults=faults) as server:
        w = Watching(server)
        try:
            w.until(lambda: w.said("waiting for the ReleaseGraph"))
            docs = emitted("r", CHAIN)
            server.create(docs)
            w.until(settled(server, docs[-1]["spec"]["digest"]))
            (line,) = w.said("status.appliedKinds of ReleaseGraph r not written: 429")
            assert sorted(n for n, _ in applies(server)) == ["a", "b", "c", "d"]
        finally:
            w.stop()
