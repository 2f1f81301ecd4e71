"""`helm ac status` (actions/status.py) and the release view it prints (controller/view.py): each
object's state, what it waits for, attempts and time, from the Definitions' statuses, the
Dependencies and the ReleaseGraph; checked on snapshots built here and on the embedded API server
after a real rollout by the controller."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import yaml
from controllerkit import CHAIN, cmap, embedded, emitted
from conftest import ROOT

from helm_ac.controller import view
from helm_ac.controller.status import status
from helm_ac.engine.events import State

NOW = 1_800_000_000.0


def _split(docs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    return ([d for d in docs if d["kind"] == "Definition"], [d for d in docs if d["kind"] == "Dependency"],
            next(d for d in docs if d["kind"] == "ReleaseGraph"))


def _observed(d: dict[str, Any], state: State, t: float, **kw: Any) -> dict[str, Any]:
    d["metadata"]["generation"] = 1
    d["status"] = status(state, generation=1, time=t, **kw)
    return d


def test_a_release_nobody_has_observed_is_pending_and_each_object_waits_for_its_parents():
    defs, deps, rg = _split(emitted("r", CHAIN))
    for d in defs:
        d["metadata"]["generation"] = 1
    v = view.snapshot("r", "default", defs, deps, rg)
    rows = {r.key: r for r in v.rows}
    assert [r.key for r in v.rows] == ["configmap/a", "configmap/b", "configmap/c", "configmap/d"]
    assert all(r.state is State.PENDING and not r.observed for r in v.rows)
    assert rows["configmap/a"].waiting_for == () and rows["configmap/d"].waiting_for == ("configmap/b", "configmap/c")
    assert v.complete and v.phase == "Progressing" and not v.done


def test_states_come_from_the_statuses_of_the_current_generation():
    defs, deps, rg = _split(emitted("r", CHAIN))
    by = {d["metadata"]["name"]: d for d in defs}
    _observed(by["configmap-a"], State.READY, NOW - 10)
    _observed(by["configmap-b"], State.FAILED, NOW - 5, message="API error: 422", attempts=2)
    _observed(by["configmap-c"], State.WAITING, NOW - 3)
    _observed(by["configmap-d"], State.BLOCKED, NOW - 5, blocked_by=("configmap/b",))
    v = view.snapshot("r", "default", defs, deps, rg)
    rows = {r.key: r for r in v.rows}
    assert [rows[k].state for k in ("configmap/a", "configmap/b", "configmap/c", "configmap/d")] == [
        State.READY, State.FAILED, State.WAITING, State.BLOCKED]
    assert rows["configmap/b"].attempts == 2 and "422" in rows["configmap/b"].message
    assert rows["configmap/d"].blocked_by == ("configmap/b",)
    assert v.phase == "Failed" and [r.key for r in v.failed] == ["configmap/b"]
    assert rows["configmap/c"].elapsed(NOW) == 3.0
    # a Definition changed since (generation 2): its old status does not count
    by["configmap-a"]["metadata"]["generation"] = by["configmap-c"]["metadata"]["generation"] = 2
    again = {r.key: r for r in view.snapshot("r", "default", defs, deps, rg).rows}
    assert again["configmap/a"].state is State.PENDING and not again["configmap/a"].observed
    assert again["configmap/c"].waiting_for == ("configmap/a",)


def test_the_release_is_done_only_once_its_graph_is_and_a_failed_prune_fails_it():
    """Every object ready is not the end while the ReleaseGraph (for this graph) reads Progressing:
    the prune after the rollout is on. A prune that left objects fails the release, naming them."""
    from helm_ac.controller.status import RunSummary

    defs, deps, rg = _split(emitted("r", CHAIN))
    for d in defs:
        _observed(d, State.READY, NOW - 1)
    summary = RunSummary(rg, [f"configmap/{n}" for n in "abcd"], NOW - 5)
    for key in summary.states:
        summary.on_state(key, State.READY)
    summary.on_end(True, NOW - 1)
    assert view.snapshot("r", "default", defs, deps, rg).ok  # no status on the ReleaseGraph: the objects say
    summary.pruning = True
    rg["status"] = summary.status(NOW)
    v = view.snapshot("r", "default", defs, deps, rg)
    assert not v.done and v.phase == "Progressing"
    # the status of an earlier graph (an upgrade the controller has not reported on yet): not done either
    rg["status"] = {**summary.status(NOW), "phase": "Ready", "digest": "an earlier graph"}
    v = view.snapshot("r", "default", defs, deps, rg)
    assert not v.done and v.phase == "Progressing"
    summary.on_pruned({"deployment/old": "API error: 429: slow down"})
    rg["status"] = summary.status(NOW)
    v = view.snapshot("r", "default", defs, deps, rg)
    assert v.done and not v.ok and v.phase == "Failed"
    assert v.failure_report() == ["deployment/old not removed (the release no longer has it): API error: 429: slow down"]
    assert "NOT REMOVED: deployment/old: API error: 429: slow down" in v.table(NOW)
    assert v.as_dict(NOW)["pruneFailed"] == {"deployment/old": "API error: 429: slow down"}
    summary.on_pruned({})
    rg["status"] = summary.status(NOW)
    assert view.snapshot("r", "default", defs, deps, rg).ok


def test_part_of_a_graph_is_shown_as_incomplete():
    defs, deps, rg = _split(emitted("r", CHAIN))
    v = view.snapshot("r", "default", defs[1:], deps, rg)
    assert not v.complete and v.phase == "Incomplete" and "holds 3 of 4 Definitions" in v.problem


def test_changes_between_two_snapshots_are_the_engines_state_events():
    defs, deps, rg = _split(emitted("r", CHAIN))
    for d in defs:
        d["metadata"]["generation"] = 1
    before = view.snapshot("r", "default", defs, deps, rg)
    _observed(defs[0], State.READY, NOW)
    after = view.snapshot("r", "default", defs, deps, rg)
    events = view.changes(before, after, NOW)
    # a is ready; b and c no longer wait for it (their message says so); d still waits for b and c
    assert [(e.key, e.state) for e in events] == [("configmap/a", State.READY), ("configmap/b", State.PENDING),
                                                  ("configmap/c", State.PENDING)]
    assert events[1].message == "not yet observed by a controller"
    assert [e.key for e in view.changes(None, after, NOW)] == [r.key for r in after.rows]


def _status(kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "helm_ac", "status", *args, "--kubeconfig", kubeconfig],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_status_of_a_release_rolled_out_by_the_controller(tmp_path, capsys):
    with embedded(tmp_path) as server:
        server.create(emitted("r", CHAIN + [cmap("e", "configmap/d")]))
        kc = str(server.srv.kubeconfig)
        before = json.loads(_status(kc, "r", "-n", "default", "-o", "json").stdout)
        assert before["phase"] == "Progressing" and before["counts"] == {"pending": 5}
        code, _ = server.run("r", capsys)
        assert code == 0
        table = _status(kc, "r", "-n", "default")
        assert table.returncode == 0, table.stderr
        lines = table.stdout.splitlines()
        assert lines[0].split() == ["RELEASE:", "r", "NAMESPACE:", "default", "PHASE:", "Ready", "READY:", "5/5"]
        assert lines[2].split()[:6] == ["OBJECT", "STATE", "WAITING", "FOR", "ATTEMPTS", "ELAPSED"]
        assert [line.split()[:4] for line in lines[3:]] == [[f"configmap/{n}", "ready", "-", "1"] for n in "abcde"]
        got = yaml.safe_load(_status(kc, "r", "-n", "default", "-o", "yaml").stdout)
        assert got["phase"] == "Ready" and got["counts"] == {"ready": 5} and got["complete"] is True
        missing = _status(kc, "nope", "-n", "default")
        assert missing.returncode == 1 and "release nope: no helm-ac objects" in missing.stderr
        assert "Traceback" not in missing.stderr


def test_status_without_the_crds_says_how_to_install_them(tmp_path):
    from helm_ac.apiserver import server as apiserver

    with apiserver.running(apiserver.Options()) as srv:
        r = _status(str(srv.kubeconfig), "r")
    assert r.returncode == 2 and "helm-ac CRDs are not installed" in r.stderr and "helm ac crds" in r.stderr
    assert "Traceback" not in r.stderr


def _follow(kubeconfig: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "helm_ac", "status", "r", "-n", "default", "--watch",
                             "--kubeconfig", kubeconfig, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_status_watch_follows_a_rollout_to_its_end(tmp_path, capsys):
    """`status --watch -o jsonl` started before the controller: the plan, each object's way to ready
    in dependency order, the summary, exit 0."""
    with embedded(tmp_path) as server:
        server.create(emitted("r", CHAIN))
        kc = str(server.srv.kubeconfig)
        watcher = _follow(kc, "-o", "jsonl", "--timeout", "60s")
        assert watcher.stdout is not None
        first = watcher.stdout.readline()  # the watcher has listed the Definitions (all pending)
        code, _ = server.run("r", capsys)
        assert code == 0
        out = watcher.stdout.read()  # (not communicate(): it would skip what readline buffered)
        watcher.wait(60)
        assert watcher.stderr is not None
        err = watcher.stderr.read()
        watches = [r["uri"] for r in server.audit() if r["verb"] == "watch" and r["group"] == "appcontroller.k8s"]
        assert len(watches) >= 3 and all("labelSelector=appcontroller.k8s/release%3Dr" in u for u in watches), watches
    assert watcher.returncode == 0, err
    events = [json.loads(line) for line in (first + out).splitlines()]
    assert events[0]["type"] == "plan" and events[0]["objects"] == [f"configmap/{n}" for n in "abcd"]
    assert events[-1]["type"] == "summary" and events[-1]["ok"] is True
    states = [(e["key"], e["state"]) for e in events if e["type"] == "state"]
    ready = [k for k, s in states if s == "ready"]
    assert sorted(ready) == [f"configmap/{n}" for n in "abcd"]
    assert ready.index("configmap/a") < ready.index("configmap/b") < ready.index("configmap/d")
    assert ("configmap/d", "pending") in states, events  # seen waiting first
    waiting = next(e for e in events if e.get("key") == "configmap/d" and e["state"] == "pending")
    assert waiting["message"].startswith("waiting for configmap/b")


def test_status_watch_of_a_failed_rollout_names_the_failure_and_what_it_blocks(tmp_path, capsys):
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"}, "data": {"k": {"not": "a string"}}}
    with embedded(tmp_path) as server:
        server.create(emitted("r", [bad, cmap("a", "configmap/bad"), cmap("b", "configmap/a"), cmap("free")]))
        code, _ = server.run("r", capsys)
        assert code == 1
        watcher = _follow(str(server.srv.kubeconfig), "--timeout", "30s")
        out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 1
    assert "Error: configmap/bad failed:" in err and "blocked because of it: configmap/a, configmap/b" in err
    assert "configmap/free" in out and "Traceback" not in err


def test_status_watch_gives_up_at_the_timeout(tmp_path):
    with embedded(tmp_path) as server:
        server.create(emitted("r", CHAIN))
        watcher = _follow(str(server.srv.kubeconfig), "--timeout", "1s")
        out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 1 and "release r not ready after 1s: Progressing" in err
