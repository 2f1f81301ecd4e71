"""The controller (helm_ac/controller, docs/controller.md): a release's graph read back from its
Definitions and Dependencies, Definition status, and rollouts on the embedded API server through
the real client (the process entry point, in-process), the order checked from the server's audit and
readiness logs."""
from __future__ import annotations

import asyncio
import datetime
import json
import re
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from helm_ac.analysis import graph, model
from helm_ac.analysis.graph import Barrier, object_parents
from helm_ac.analysis.keys import Keys
from helm_ac.apiserver import server as apiserver
from helm_ac.controller import __main__ as entry
from helm_ac.controller.lease import Lease, LeaseLost
from helm_ac.controller.release import ReleaseError, build, complete, current
from helm_ac.controller.run import LeaseOptions, rollout
from helm_ac.controller.status import StatusWriter, status
from helm_ac.engine.events import State, StateEvent
from helm_ac.engine.scheduler import Options
from helm_ac.extension import spec
from helm_ac.kinds import ObjectKey
from helm_ac.kube.config import connect
from helm_ac.output import appcontroller, crds
from helm_ac.rendering import manifests
from helm_ac.rendering.chart import load_chart

from controllerkit import CHAIN, Server, _ts, cmap, deployment, embedded, emitted, objects_of

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "charts"
DEPENDS_ON = spec.DEPENDS_ON


def _edges(g: Any, keys: Keys) -> set[tuple[str, str]]:
    return {(keys.key(p), keys.key(c)) for p, c in g.edges}


def test_the_graph_read_back_is_the_graph_template_wrote():
    a, g, defs, deps = objects_of("r", CHAIN)
    rel = build("r", "default", defs, deps)
    assert _edges(rel.graph, rel.keys) == _edges(g, Keys(a, "r")) == {
        ("configmap/a", "configmap/b"), ("configmap/a", "configmap/c"),
        ("configmap/b", "configmap/d"), ("configmap/c", "configmap/d")}
    b = rel.analysis.objects[ObjectKey("", "ConfigMap", "default", "b")]
    assert b.setting("timeout") == 90 and b.setting("retry") == 2
    assert b.obj.body == defs[1]["configmap"]  # what is applied: the wrapped object, as wrapped
    assert rel.definitions["configmap/d"] == ("configmap-d", 0)


def test_meta_wins_over_the_objects_annotations():
    """The Definition is the record: its meta (e.g. edited, or a chart default) is what runs."""
    a, g, defs, deps = objects_of("r", CHAIN)
    defs[1]["meta"]["timeout"] = 5
    defs[1]["meta"]["on-error"] = "ignore"
    b = build("r", "default", defs, deps).analysis.objects[ObjectKey("", "ConfigMap", "default", "b")]
    assert b.setting("timeout") == 5 and b.setting("on-error") == "ignore"


def test_void_barriers_of_subcharts_are_kept(helm):
    out = helm.run("template", "ex", str(EXAMPLES / "wordpress"), "--namespace", "default").stdout
    a = model.analyze(manifests.split(out), load_chart(EXAMPLES / "wordpress"), "default")
    g = graph.build(a)
    keys = Keys(a, "ex")
    deps = appcontroller.dependencies(a, g, keys)
    assert any(d["parent"].startswith("void/") for d in deps)  # the test covers barriers
    rel = build("ex", "default", [appcontroller.definition(a, k, keys) for k in a.order], deps)
    assert _edges(rel.graph, rel.keys) == _edges(g, keys)
    assert sum(isinstance(n, Barrier) for n in rel.graph) == sum(isinstance(n, Barrier) for n in g)


@pytest.mark.parametrize("change, message", [
    (lambda defs, deps: defs[0].update(secret={"kind": "Secret"}), "Definition configmap-a must wrap exactly one"),
    (lambda defs, deps: defs[0].update(configmap={**defs[0]["configmap"], "kind": "Secret"}),
     "Definition configmap-a: the object under 'configmap' is of kind 'Secret'"),
    (lambda defs, deps: defs[1]["meta"].update(timeout=-1), "Definition configmap-b: meta.timeout"),
    (lambda defs, deps: defs[2]["configmap"]["metadata"].update(annotations={"helm.sh/hook": "pre-install"}),
     "Definition configmap-c wraps a Helm hook (pre-install)"),
    (lambda defs, deps: defs.append({**defs[0], "metadata": {**defs[0]["metadata"], "name": "again"}}),
     "Definitions again and configmap-a wrap the same object (configmap/a)"),
    (lambda defs, deps: deps[0].update(parent="configmap/zz"), "names 'configmap/zz', which no Definition"),
    (lambda defs, deps: deps.append({**deps[0], "metadata": {"name": "back"}, "parent": deps[0]["child"],
                                     "child": deps[0]["parent"]}), "form a cycle"),
])
def test_a_graph_that_cannot_run_is_a_clear_error(change, message):
    _, _, defs, deps = objects_of("r", CHAIN)
    change(defs, deps)
    with pytest.raises(ReleaseError, match=re.escape(message)) as exc:
        build("r", "default", defs, deps)
    assert exc.value.hint


# ---------------------------------------------------------------- status (pure)

def _cond(st: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in st["conditions"]}


def test_status_is_kstatus_compatible_and_keeps_transition_times():
    pending = status(State.PENDING, generation=3, time=100)
    assert pending["observedGeneration"] == 3 and pending["phase"] == "Pending"
    assert _cond(pending) == {"Ready": "False", "Reconciling": "True", "Stalled": "False"}  # kstatus: InProgress
    assert "startedAt" not in pending and "finishedAt" not in pending
    applying = status(State.APPLYING, generation=3, time=160, attempts=1, previous=pending)
    assert applying["startedAt"] == "1970-01-01T00:02:40Z"
    # Reconciling stayed True: its transition time is the first one's
    rec = {c["type"]: c for c in applying["conditions"]}["Reconciling"]
    assert rec["lastTransitionTime"] == "1970-01-01T00:01:40Z" and rec["reason"] == "Applying"
    ready = status(State.READY, generation=3, time=200, attempts=1, previous=applying)
    assert _cond(ready) == {"Ready": "True", "Reconciling": "False", "Stalled": "False"}  # kstatus: Current
    assert ready["startedAt"] == applying["startedAt"] and ready["finishedAt"] == "1970-01-01T00:03:20Z"
    blocked = status(State.BLOCKED, generation=1, time=50, message="blocked by job/migrate",
                     blocked_by=("job/migrate",))
    assert _cond(blocked)["Stalled"] == "True" and blocked["blockedBy"] == ["job/migrate"]
    assert blocked["reason"] == "ParentFailed" and "startedAt" not in blocked


def test_statuses_validate_against_the_definition_crd():
    """Every field written is declared: the API server prunes undeclared status fields (the status
    schema keeps no unknown fields), which the embedded server does not model."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = crds.schema_of("Definition")["properties"]["status"]
    for state in State:
        st = status(state, generation=1, time=1e9, blocked_by=("x/y",))
        jsonschema.validate(st, schema)
        assert set(st) <= set(schema["properties"]), set(st) - set(schema["properties"])


# ---------------------------------------------------------------- rollouts on the embedded server

@pytest.fixture
def server(tmp_path):
    with embedded(tmp_path) as srv:
        yield srv


def test_the_controller_rolls_a_release_out_in_order_and_writes_each_status(server, capsys):
    _, _, defs, deps = objects_of("r", CHAIN)
    _, _, others, other_deps = objects_of("other", [cmap("z")])  # another release, same namespace
    server.create(defs + deps + others + other_deps)
    code, log = server.run("r", capsys)
    assert code == 0, log
    applied = server.first_applies("configmaps")
    assert set(applied) == {"a", "b", "c", "d"}  # release "other" untouched
    for parent, child in (("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")):
        assert applied[child] >= applied[parent], f"{child} applied before {parent}"
    applies = [r for r in server.audit() if r["verb"] == "patch" and not r["subresource"]
               and r["resource"] == "configmaps"]
    assert len(applies) == 4  # each object applied once
    # each Definition's status written as it went (from Pending at the start), ending Ready
    audit = server.audit()
    status_writes = [i for i, r in enumerate(audit) if r["resource"] == "definitions" and r["subresource"] == "status"]
    assert {audit[i]["name"] for i in status_writes} == {"configmap-a", "configmap-b", "configmap-c", "configmap-d"}
    assert all(audit[i]["code"] == 200 for i in status_writes)
    apply_d = next(i for i, r in enumerate(audit) if r["resource"] == "configmaps" and r["name"] == "d")
    assert status_writes[0] < apply_d
    got = server.definitions("r")
    for d in got.values():
        st = d["status"]
        assert st["phase"] == "Ready" and st["observedGeneration"] == d["metadata"]["generation"]
        assert _cond(st) == {"Ready": "True", "Reconciling": "False", "Stalled": "False"}
        assert st["attempts"] == 1 and _ts(st["finishedAt"]) >= _ts(st["startedAt"])
    assert server.definitions("other")["configmap-z"]["status"] == crds.STATUS_DEFAULT  # untouched: the default
    # d started only after b and c finished: the statuses tell the order too
    assert _ts(got["configmap-d"]["status"]["startedAt"]) >= _ts(got["configmap-b"]["status"]["finishedAt"])
    states = [(r["object"], r["state"]) for r in log if "state" in r]
    assert states.index(("configmap/d", "applying")) > states.index(("configmap/b", "ready"))
    assert log[-1]["msg"] == "rollout finished" and log[-1]["ok"] is True


def _kinds(docs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    return ([d for d in docs if d["kind"] == "Definition"], [d for d in docs if d["kind"] == "Dependency"],
            next(d for d in docs if d["kind"] == "ReleaseGraph"))


def test_a_graph_is_complete_when_its_release_graph_counts_what_carries_its_digest():
    defs, deps, rg = _kinds(emitted("r", CHAIN))
    assert complete(defs, deps, rg) and current(defs, deps, rg) == (defs, deps)
    assert not complete(defs[1:], deps, rg) and not complete(defs, deps[1:], rg)  # Helm still creating
    assert not complete(defs, deps, None)
    assert current(defs, deps, None) == (defs, deps)  # a graph written by hand: all of it
    # an upgrade under way: the new graph's objects next to the old one's
    new_defs, new_deps, new_rg = _kinds(emitted("r", CHAIN[:-1]))
    assert not complete(defs, deps, new_rg)
    assert complete(defs + new_defs, deps + new_deps, new_rg)
    assert current(defs + new_defs, deps + new_deps, new_rg) == (new_defs, new_deps)


def test_the_controller_runs_the_graph_its_release_graph_describes_and_refuses_part_of_one(server, capsys):
    old = [d for d in emitted("r", CHAIN + [cmap("gone")]) if d["kind"] == "Definition"]
    stale = next(d for d in old if d["metadata"]["name"] == "configmap-gone")  # Helm has not deleted it yet
    docs = emitted("r", CHAIN)
    defs, deps, rg = _kinds(docs)
    server.create([d for d in docs if d is not defs[0]] + [stale])
    code = entry.main(["--release", "r", "-n", "default", "--kubeconfig", str(server.srv.kubeconfig)])
    err = capsys.readouterr().err
    assert code == 2 and "release r is incomplete: its ReleaseGraph counts 4 Definitions and 4 Dependencies" in err
    assert "the cluster holds 3 and 4" in err and "Traceback" not in err
    assert not server.first_applies("configmaps")  # nothing applied from part of a graph
    server.create([defs[0]])
    code, log = server.run("r", capsys)
    assert code == 0, log
    assert set(server.first_applies("configmaps")) == {"a", "b", "c", "d"}  # not the stale one


def test_a_failing_object_blocks_its_descendants_and_their_status_says_so(server, capsys):
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"},
           "data": {"k": {"not": "a string"}}}  # the server refuses it: 400, a permanent error
    docs = [bad, cmap("a", "configmap/bad"), cmap("b", "configmap/a"), cmap("free")]
    _, _, defs, deps = objects_of("r", docs)
    server.create(defs + deps)
    code, log = server.run("r", capsys)
    assert code == 1
    got = server.definitions("r")
    assert got["configmap-bad"]["status"]["phase"] == "Failed"
    assert _cond(got["configmap-bad"]["status"])["Stalled"] == "True"
    assert got["configmap-bad"]["status"]["message"].startswith("API error: 400")
    for name in ("configmap-a", "configmap-b"):
        st = got[name]["status"]
        assert st["phase"] == "Blocked" and _cond(st) == {"Ready": "False", "Reconciling": "False", "Stalled": "True"}
    assert got["configmap-a"]["status"]["blockedBy"] == ["configmap/bad"]
    assert got["configmap-free"]["status"]["phase"] == "Ready"
    assert set(server.first_applies("configmaps")) == {"free"}


def test_a_timeout_retried_then_given_up_is_in_the_status(server, capsys):
    never = cmap("never", **{spec.PREFIX + "ready-when": "{.data.x} == other", spec.PREFIX + "timeout": "1s",
                             spec.PREFIX + "retry": "1"})
    _, _, defs, deps = objects_of("r", [never, cmap("after", "configmap/never")])
    server.create(defs + deps)
    code, log = server.run("r", capsys)
    assert code == 1
    st = server.definitions("r")["configmap-never"]["status"]
    assert st["phase"] == "TimedOut" and st["attempts"] == 2 and _cond(st)["Stalled"] == "True"
    assert server.definitions("r")["configmap-after"]["status"]["blockedBy"] == ["configmap/never"]
    # the retry deleted the first attempt's object (uid precondition) and created it again
    verbs = [(r["verb"], r["code"]) for r in server.audit() if r["resource"] == "configmaps" and r["name"] == "never"
             and r["verb"] in ("patch", "delete")]
    assert verbs == [("patch", 201), ("delete", 200), ("patch", 201)]
    assert [r["attempt"] for r in log if r.get("object") == "configmap/never" and r["state"] == "applying"] == [1, 2]


def test_status_writes_refused_for_a_while_are_retried_until_the_status_is_written(tmp_path, capsys):
    """The first two status writes of configmap-d (of about two) are refused (503): d's last status still lands.
    (Before, a failed write was dropped, so a Definition whose last writes failed kept an old
    status, here none at all: kstatus would have taken it as done.)"""
    fault = "verb=patch,resource=definitions.appcontroller.k8s,name=configmap-d,error=503,count=2"
    with embedded(tmp_path, faults=(fault,)) as server:
        _, _, defs, deps = objects_of("r", CHAIN)
        server.create(defs + deps)
        code, log = server.run("r", capsys)
        assert code == 0
        refused = [r for r in server.audit() if r["name"] == "configmap-d" and r["subresource"] == "status"
                   and r["code"] == 503]
        assert len(refused) == 2  # the fault did hit
        st = server.definitions("r")["configmap-d"].get("status") or {}
        assert st.get("phase") == "Ready" and _cond(st)["Ready"] == "True"


def test_a_rollout_through_api_faults_completes_in_order_creating_each_object_once(tmp_path):
    """429 with Retry-After, 5xx and dropped watches (the engine's backoff shortened to 50 ms)."""
    faults = ("verb=patch,resource=configmaps,error=429,retry-after=1,count=1",
              "verb=patch,resource=configmaps,error=500|503,count=2",
              "verb=watch,resource=configmaps,drop=watch,after=100ms,count=2")
    with embedded(tmp_path, faults=faults) as server:
        _, _, defs, deps = objects_of("r", CHAIN)
        server.create(defs + deps)
        api = connect(kubeconfig=str(server.srv.kubeconfig), env={}).api
        summary = asyncio.run(rollout(api, "default", "r", options=Options(backoff=0.05)))
        assert summary.ok, summary
        audit = server.audit()
        assert sum(r["code"] in (429, 500, 503) for r in audit if r["resource"] == "configmaps") == 3  # hit
        creates = sorted(r["name"] for r in audit if r["resource"] == "configmaps" and r["code"] == 201)
        assert creates == ["a", "b", "c", "d"]
        applied = server.first_applies("configmaps")
        for parent, child in (("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")):
            assert applied[child] >= applied[parent]
        assert all(d["status"]["phase"] == "Ready" for d in server.definitions("r").values())


def test_the_graph_read_through_transient_refusals_is_retried(tmp_path, capsys):
    """Before, a 503 on listing the Definitions ended the controller at once (exit 2, as if the
    input were bad)."""
    faults = ("verb=list,resource=definitions.appcontroller.k8s,error=503,count=1",
              "verb=list,resource=dependencies.appcontroller.k8s,error=429,count=1")
    with embedded(tmp_path, faults=faults) as server:
        _, _, defs, deps = objects_of("r", CHAIN)
        server.create(defs + deps)
        code, log = server.run("r", capsys)
        assert code == 0, log
        assert [(r["resource"], r["code"]) for r in server.audit()
                if r["verb"] == "list" and r["group"] == "appcontroller.k8s"] \
            == [("definitions", 503), ("definitions", 200), ("dependencies", 429), ("dependencies", 200),
                ("releasegraphs", 200)]


@pytest.mark.parametrize("chart", ["wordpress", "migrations"])
def test_an_example_chart_rolls_out_in_order_from_its_definitions(helm, chart, server, capsys):
    out = helm.run("template", "ex", str(EXAMPLES / chart), "--namespace", "default").stdout
    a = model.analyze(manifests.split(out), load_chart(EXAMPLES / chart), "default")
    g = graph.build(a)
    keys = Keys(a, "ex")
    server.create([appcontroller.definition(a, k, keys) for k in a.order] + appcontroller.dependencies(a, g, keys))
    code, log = server.run("ex", capsys)
    assert code == 0, [r for r in log if r.get("state") not in ("ready", "pending")]
    objects = [k for k in g if isinstance(k, ObjectKey)]
    plural = {k: server.dyn.resources.get(api_version=str(a.objects[k].obj.body["apiVersion"]), kind=k.kind).name
              for k in objects}
    applied = {p: server.first_applies(p) for p in set(plural.values())}
    ready = server.ready()

    checked = 0
    for child in objects:
        for parent in object_parents(g, child):  # through barriers (subchart order)
            when = ready.get((parent.kind, parent.name), applied[plural[parent]][parent.name])
            assert applied[plural[child]][child.name] >= when, f"{child} applied before {parent} was ready"
            checked += 1
    assert checked >= 3
    assert all(d["status"]["phase"] == "Ready" for d in server.definitions("ex").values())


def test_a_cluster_without_the_crds_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    with apiserver.running() as srv:
        code = entry.main(["--release", "r", "-n", "default", "--kubeconfig", str(srv.kubeconfig)])
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot list the Definition objects of release r in namespace default" in err
    assert "Traceback" not in err and "helm ac crds" in err


# ---------------------------------------------------------------- the release's Lease

def _lease(server: Server, release: str = "r") -> dict[str, Any]:
    res = server.dyn.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")
    return server.dyn.get(res, name=f"helm-ac-{release}", namespace="default").to_dict()


def test_two_controllers_on_one_release_never_act_at_once(server):
    """B starts while A holds the Lease: B waits, A finishes and gives the Lease up, B takes it and
    resumes from A's statuses: every object is still ready, so B only confirms it (nothing applied
    or created again)."""
    _, _, defs, deps = objects_of("r", CHAIN)
    server.create(defs + deps)
    a_holds, b_waits = threading.Event(), threading.Event()
    events: list[tuple[str, str, str]] = []  # (controller, object, state), in the order they happen
    results: dict[str, Any] = {}

    def controller(me: str) -> None:
        def emit(line: str) -> None:
            rec = json.loads(line)
            if me == "a" and rec.get("msg") == "Lease taken":
                a_holds.set()
            if me == "b" and rec.get("msg") == "waiting for the Lease" and rec["holder"] == "ctl-a":
                b_waits.set()

        def sink(e: Any) -> None:
            if isinstance(e, StateEvent):
                if me == "a" and not events:  # A's first move: hold on until B is waiting for the Lease
                    b_waits.wait(30)
                events.append((me, e.key, e.state.value))

        api = connect(kubeconfig=str(server.srv.kubeconfig), env={}).api
        try:
            results[me] = asyncio.run(rollout(api, "default", "r", lease=LeaseOptions(f"ctl-{me}"),
                                              emit=emit, sink=sink))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[me] = exc

    a = threading.Thread(target=controller, args=("a",))
    a.start()
    assert a_holds.wait(30)
    b = threading.Thread(target=controller, args=("b",))
    b.start()
    a.join(60)
    b.join(60)
    assert b_waits.is_set()
    assert results["a"].ok and results["b"].ok, results
    who = [me for me, _, _ in events]
    assert who == sorted(who) and who.count("a") > 0  # all of A's, then all of B's
    assert sorted(key for me, key, state in events if me == "b" and state == "ready") == \
        sorted(key for me, key, state in events if me == "a" and state == "ready")
    assert {state for me, _, state in events if me == "b"} == {"ready"}
    creates = [r["name"] for r in server.audit() if r["resource"] == "configmaps" and r["verb"] == "patch"
               and r["code"] == 201]
    assert sorted(creates) == ["a", "b", "c", "d"]  # each created once
    assert len([r for r in server.audit() if r["resource"] == "configmaps" and r["verb"] == "patch"]) == 4
    spec = _lease(server)["spec"]
    assert not spec.get("holderIdentity") and spec["leaseTransitions"] == 1  # given up at the end; A then B


def test_a_lease_whose_holder_stopped_renewing_is_taken_over(server, capsys):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    res = server.dyn.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")
    server.dyn.create(res, namespace="default", body={
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "helm-ac-r"},
        "spec": {"holderIdentity": "ghost", "leaseDurationSeconds": 1, "renewTime": now, "leaseTransitions": 4}})
    _, _, defs, deps = objects_of("r", CHAIN)
    server.create(defs + deps)
    code, log = server.run("r", capsys, "--identity", "ctl")
    assert code == 0
    assert any(r.get("msg") == "waiting for the Lease" and r["holder"] == "ghost" for r in log)
    taken = next(i for i, r in enumerate(log) if r.get("msg") == "Lease taken")
    assert taken < next(i for i, r in enumerate(log) if "state" in r)  # acting only once it holds the Lease
    assert _lease(server)["spec"]["leaseTransitions"] == 5


def test_a_lease_taken_by_another_is_lost_at_the_next_renewal(server):
    mine = Lease(server.dyn, "default", "r", "ctl-a")
    assert mine.try_acquire() is None
    mine.renew_once()  # still ours
    assert Lease(server.dyn, "default", "r", "ctl-b").try_acquire() == "ctl-a"  # held: B may not take it
    current = _lease(server)
    current["spec"]["holderIdentity"] = "ctl-b"  # ... unless it writes over it
    res = server.dyn.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")
    server.dyn.replace(res, body=current, name="helm-ac-r", namespace="default")
    with pytest.raises(LeaseLost, match="held by ctl-b"):
        mine.renew_once()
    mine.give_up()  # not ours: left alone
    assert _lease(server)["spec"]["holderIdentity"] == "ctl-b"


# ---------------------------------------------------------------- restarts

def test_a_controller_killed_mid_rollout_and_started_again_completes_creating_nothing_twice(tmp_path):
    """The process (python -m helm_ac.controller) is SIGKILLed once the first Deployment is created,
    before the rest; started again (same identity: its Lease at once), it finishes the rollout from
    what the cluster holds, and the audit log has one create per object."""
    docs = [cmap("a"), deployment("one", "configmap/a"), deployment("two", "deployment/one"),
            deployment("three", "deployment/two"), cmap("z", "deployment/three")]
    _, _, defs, deps = objects_of("r", docs)
    with embedded(tmp_path, seconds=0.5) as server:
        server.create(defs + deps)
        cmd = [sys.executable, "-m", "helm_ac.controller", "--release", "r", "-n", "default",
               "--kubeconfig", str(server.srv.kubeconfig), "--identity", "ctl"]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}

        def created() -> list[tuple[str, str]]:
            return [(r["resource"], r["name"]) for r in server.audit()
                    if r["verb"] == "patch" and r["code"] == 201 and not r["subresource"]]

        first = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
        try:
            while ("deployments", "one") not in created():
                assert first.poll() is None, first.communicate()[1]
                time.sleep(0.02)
            first.send_signal(signal.SIGKILL)
        finally:
            first.wait(30)
        at_kill = created()
        assert ("configmaps", "z") not in at_kill and ("deployments", "three") not in at_kill  # mid-rollout
        again = subprocess.run(cmd, env=env, stderr=subprocess.PIPE, text=True, timeout=120, check=False)
        assert again.returncode == 0, again.stderr
        got = created()
        assert sorted(got) == sorted({("configmaps", "a"), ("configmaps", "z"), ("deployments", "one"),
                                      ("deployments", "two"), ("deployments", "three")})  # each once
        assert all(d["status"]["phase"] == "Ready" for d in server.definitions("r").values())
        applied = server.first_applies("deployments")
        assert applied["one"] <= applied["two"] <= applied["three"]


def test_the_status_writer_sends_only_the_newest_status_of_a_definition_already_queued():
    """Three statuses of `x` asked while the first write of `a` is on its way: one write of `x`,
    the newest; the order of first asking is kept."""
    sent: list[tuple[str, str]] = []
    busy, go = threading.Event(), threading.Event()

    class Res:
        def path(self, name: str, namespace: str) -> str:
            return f"/{namespace}/{name}"

    class Dynamic:
        def request(self, verb: str, path: str, body: Any, content_type: str) -> None:
            busy.set()
            go.wait(30)
            sent.append((path, body["status"]["phase"]))

    class Cluster:
        dynamic = Dynamic()

        def resource(self, api_version: str, kind: str) -> Res:
            return Res()

    w = StatusWriter(Cluster(), "ns")  # type: ignore[arg-type]
    w.write("a", status(State.PENDING, generation=1, time=1))
    assert busy.wait(30)  # a's write is on its way
    for state in (State.PENDING, State.APPLYING, State.READY):
        w.write("x", status(state, generation=1, time=2))
    w.write("b", status(State.APPLYING, generation=1, time=3))
    w.write("x", status(State.FAILED, generation=1, time=4))
    go.set()
    w.close()
    assert sent == [("/ns/a/status", "Pending"), ("/ns/x/status", "Failed"), ("/ns/b/status", "Applying")]
    assert w.writes == 3 and w.failures == 0
    assert w.last("x")["phase"] == "Failed"
    # closing with discard (the Lease lost): what is pending is dropped, the write on its way lands
    sent.clear()
    busy.clear()
    go.clear()
    w = StatusWriter(Cluster(), "ns")  # type: ignore[arg-type]
    w.write("a", status(State.PENDING, generation=1, time=1))
    assert busy.wait(30)
    w.write("b", status(State.PENDING, generation=1, time=1))
    closing = threading.Thread(target=w.close, kwargs={"discard": True})
    closing.start()
    while not w._closed:  # close() has dropped what was pending (same critical section)
        time.sleep(0.001)
    go.set()
    closing.join(30)
    assert sent == [("/ns/a/status", "Pending")]


@pytest.mark.parametrize("code, calls", [(404, 1), (422, 1), (503, 4), (429, 4)])
def test_the_status_writer_retries_transient_refusals_only(code, calls):
    from kubernetes.client.exceptions import ApiException

    seen: list[str] = []

    class Res:
        def path(self, name: str, namespace: str) -> str:
            return f"/{namespace}/{name}"

    class Dynamic:
        def request(self, verb: str, path: str, body: Any, content_type: str) -> None:
            seen.append(path)
            raise ApiException(status=code, reason="refused")

    class Cluster:
        dynamic = Dynamic()

        def resource(self, api_version: str, kind: str) -> Res:
            return Res()

    w = StatusWriter(Cluster(), "ns", tries=4, backoff=0.001)  # type: ignore[arg-type]
    w.write("a", status(State.READY, generation=1, time=1))
    w.close()
    assert len(seen) == calls and w.failures == 1 and w.writes == 0


def test_sigterm_stops_the_controller_and_gives_its_lease_up(tmp_path):
    """The pod deleted: SIGTERM mid-rollout ends the process (128 + 15) with the Lease given up, so
    a replacement need not wait for it to expire."""
    docs = [cmap("a"), deployment("one", "configmap/a"), deployment("two", "deployment/one")]
    _, _, defs, deps = objects_of("r", docs)
    with embedded(tmp_path, seconds=0.5) as server:
        server.create(defs + deps)
        cmd = [sys.executable, "-m", "helm_ac.controller", "--release", "r", "-n", "default",
               "--kubeconfig", str(server.srv.kubeconfig), "--identity", "ctl"]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
        try:
            while not any(r["resource"] == "deployments" and r["code"] == 201 for r in server.audit()):
                assert proc.poll() is None, proc.communicate()[1]
                time.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert "stopped by SIGTERM" in err and "Traceback" not in err
        assert not _lease(server)["spec"].get("holderIdentity")
        assert ("deployments", "two") not in [(r["resource"], r["name"]) for r in server.audit() if r["code"] == 201]
