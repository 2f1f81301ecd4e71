"""Resuming after a restart (docs/controller.md, *Resuming after a restart*): the seeds read from
the Definitions' statuses (pure), and restarted controllers on the embedded API server, checked
from its audit log: attempts count on across a SIGKILL, and a release found ready is confirmed,
not rolled out again behind its parents."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from helm_ac.controller.release import build
from helm_ac.controller.resume import seed, seeds
from helm_ac.controller.status import status
from helm_ac.engine.events import State
from helm_ac.engine.seed import Seed
from helm_ac.extension import spec
from helm_ac.kinds import ObjectKey

from controllerkit import CHAIN, cmap, deployment, embedded, objects_of

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- seeds from statuses (pure)

def test_statuses_are_read_with_the_graph_and_seed_only_the_current_generation():
    _, _, defs, deps = objects_of("r", CHAIN)
    by_name = {d["metadata"]["name"]: d for d in defs}
    for d in defs:
        d["metadata"]["generation"] = 2
    by_name["configmap-a"]["status"] = status(State.READY, generation=2, time=1000, attempts=1)
    by_name["configmap-b"]["status"] = status(State.WAITING, generation=1, time=1000, attempts=1)  # changed since
    rel = build("r", "default", defs, deps)
    assert rel.statuses["configmap/a"]["phase"] == "Ready" and rel.statuses["configmap/c"] == {}
    keys = {rel.keys.key(k): k for k in rel.graph}
    got = seeds(rel.statuses, rel.definitions, keys)  # type: ignore[arg-type]
    assert got == {ObjectKey("", "ConfigMap", "default", "a"): Seed(State.READY, 1, 1000.0)}


def test_a_seed_times_the_attempt_in_flight_from_its_recorded_start():
    first = status(State.APPLYING, generation=1, time=1000, attempts=1)
    waiting = status(State.WAITING, generation=1, time=1010, attempts=1, previous=first)
    assert seed(waiting, 1) == Seed(State.WAITING, 1, 1000.0)
    second = status(State.APPLYING, generation=1, time=1100, attempts=2, message="retry 1/1 after: x",
                    previous=waiting)
    assert second["startedAt"] == first["startedAt"] and second["attemptStartedAt"] == "1970-01-01T00:18:20Z"
    assert seed(second, 1) == Seed(State.APPLYING, 2, 1100.0)
    legacy = {k: v for k, v in waiting.items() if k != "attemptStartedAt"}  # an older controller's status
    assert seed(legacy, 1) == Seed(State.WAITING, 1, 1000.0)
    assert seed({**legacy, "attempts": 2}, 1) == Seed(State.WAITING, 2, None)


def test_statuses_that_seed_nothing():
    ready = status(State.READY, generation=1, time=1000, attempts=1)
    assert seed({}, 1) is None
    assert seed({"observedGeneration": 0, "phase": "Pending", "reason": "NotObserved"}, 1) is None  # the CRD default
    assert seed(status(State.PENDING, generation=1, time=1000), 1) is None
    assert seed(ready, 2) is None  # the Definition changed since
    assert seed({**ready, "attempts": "1"}, 1) is None and seed({**ready, "attempts": -1}, 1) is None
    assert seed({**ready, "attemptStartedAt": "yesterday"}, 1) == Seed(State.READY, 1, 1000.0)
    blocked = status(State.BLOCKED, generation=1, time=1000, attempts=0, blocked_by=("x/y",))
    assert seed(blocked, 1) is None


def test_a_status_found_unchanged_keeps_its_times():
    ready = status(State.READY, generation=1, time=1000, attempts=1,
                   previous=status(State.APPLYING, generation=1, time=900, attempts=1))
    again = status(State.READY, generation=1, time=5000, attempts=1, previous=ready)
    assert again == ready  # nothing to write
    retried = status(State.READY, generation=1, time=5000, attempts=2, previous=ready)
    assert retried["finishedAt"] != ready["finishedAt"] and retried["startedAt"] == ready["startedAt"]


# ---------------------------------------------------------------- restarts on the embedded server

def _cmd(server: Any) -> list[str]:
    return [sys.executable, "-m", "helm_ac.controller", "--release", "r", "-n", "default",
            "--kubeconfig", str(server.srv.kubeconfig), "--identity", "ctl"]


def test_a_controller_killed_after_a_failed_attempt_resumes_with_the_next_attempt(tmp_path):
    """`never` (retry 1, timeout 1 s) never becomes ready; it carries a finalizer so that attempt
    1's delete leaves it terminating. The controller is SIGKILLed once that delete is in the audit
    log, the finalizer is then removed, and a new controller resumes: attempt 2, the last one (the
    budget is not reset). Audit: one create, one delete, one create. (Before, the restart began
    again at attempt 1: a second create, delete, and a wait for the re-created object's finalizer.)"""
    never = cmap("never", **{spec.PREFIX + "ready-when": "{.data.x} == other", spec.PREFIX + "timeout": "1s",
                             spec.PREFIX + "retry": "1"})
    never["metadata"]["finalizers"] = ["example.com/hold"]
    _, _, defs, deps = objects_of("r", [never, cmap("after", "configmap/never")])
    with embedded(tmp_path) as server:
        server.create(defs + deps)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}

        def verbs() -> list[tuple[str, int]]:
            return [(r["verb"], r["code"]) for r in server.audit() if r["resource"] == "configmaps"
                    and r["name"] == "never" and r["verb"] in ("patch", "delete", "create")]

        first = subprocess.Popen(_cmd(server), env=env, stderr=subprocess.PIPE, text=True)
        try:
            while ("delete", 200) not in verbs():
                assert first.poll() is None, first.communicate()[1]
                time.sleep(0.02)
            first.send_signal(signal.SIGKILL)
        finally:
            first.wait(30)
        recorded = server.definitions("r")["configmap-never"]["status"]
        assert recorded["attempts"] == 1 and recorded["phase"] in ("Applying", "WaitingReady")
        res = server.dyn.resources.get(api_version="v1", kind="ConfigMap")
        live = server.dyn.get(res, name="never", namespace="default").to_dict()
        assert live["metadata"].get("deletionTimestamp")  # attempt 1's object, going
        live["metadata"]["finalizers"] = [f for f in live["metadata"]["finalizers"] if f != "example.com/hold"]
        server.dyn.replace(res, body=live, namespace="default")  # an update: not among the verbs counted

        again = subprocess.run(_cmd(server), env=env, stderr=subprocess.PIPE, text=True, timeout=60, check=False)
        assert again.returncode == 1, again.stderr  # given up after attempt 2: `after` is blocked
        st = server.definitions("r")["configmap-never"]["status"]
        assert st["phase"] == "TimedOut" and st["attempts"] == 2
        assert st["startedAt"] == recorded["startedAt"]  # the first attempt's start, kept
        assert verbs() == [("patch", 201), ("delete", 200), ("patch", 201)]
        assert '"state":"applying","attempt":2' in again.stderr and '"attempt":1' not in again.stderr


def test_a_restart_after_everything_was_ready_confirms_it_without_rolling_out_again(tmp_path, capsys):
    """A chain a -> one -> two -> three (Deployments ready 0.5 s after each apply) rolled out; then
    `two` is deleted behind the controller's back, and a controller starts again. Each object is
    taken as it is now: `one` and `three` are ready at once (`three` not held behind its parent
    `two`), nothing of them is applied or written again; only `two` is applied (created once more,
    its attempts counting on). Before, every object was applied again, in order behind its parents,
    and every status written again from Pending."""
    docs = [cmap("a"), deployment("one", "configmap/a"), deployment("two", "deployment/one"),
            deployment("three", "deployment/two")]
    _, _, defs, deps = objects_of("r", docs)
    with embedded(tmp_path, seconds=0.5) as server:
        server.create(defs + deps)
        code, _ = server.run("r", capsys)
        assert code == 0
        before = {name: d["status"] for name, d in server.definitions("r").items()}
        res = server.dyn.resources.get(api_version="apps/v1", kind="Deployment")
        server.dyn.delete(res, name="two", namespace="default")
        mark = len(server.audit())

        code, log = server.run("r", capsys)
        assert code == 0, log
        audit = server.audit()[mark:]
        applies = [(r["resource"], r["name"], r["code"]) for r in audit
                   if r["verb"] == "patch" and not r["subresource"] and r["resource"] != "leases"]
        assert applies == [("deployments", "two", 201)]
        assert {r["name"] for r in audit if r["subresource"] == "status"} == {"deployment-two"}
        after = {name: d["status"] for name, d in server.definitions("r").items()}
        for name in ("configmap-a", "deployment-one", "deployment-three"):
            assert after[name] == before[name]  # unchanged, times included
        assert after["deployment-two"]["attempts"] == 2 and after["deployment-two"]["phase"] == "Ready"
        assert after["deployment-two"]["startedAt"] == before["deployment-two"]["startedAt"]
        states = [(r["object"], r["state"]) for r in log if "state" in r]
        # `three` is ready before its parent `two` is: not sequenced behind it
        assert states.index(("deployment/three", "ready")) < states.index(("deployment/two", "ready"))
        assert [s for o, s in states if o == "deployment/three"] == ["ready"]
        assert [s for o, s in states if o == "deployment/two"] == ["applying", "waiting-ready", "ready"]
