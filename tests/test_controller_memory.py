"""The controller's memory at scale (issue 10 point 6, docs/controller.md *Figures*): what it holds
per object through a run. The status writer keeps each Definition's last status packed, not as
whole dicts; the objects are decorated as each apply is sent, not all copied up front. Pure."""
from __future__ import annotations

import gc
import tracemalloc
from typing import Any, Callable

import pytest

from helm_ac.controller import release as release_mod
from helm_ac.controller.release import KEY_ANNOTATION, PARENTS_ANNOTATION, RELEASE_LABEL, assemble, decorated
from helm_ac.controller.status import StatusWriter, pack, status, unpack
from helm_ac.engine.cluster import Apply, Get, Reply
from helm_ac.engine.events import State
from helm_ac.output import appcontroller

from controllerkit import cmap, objects_of


class _Accepting:
    """A cluster the writer's patches all succeed on."""

    class _Res:
        def path(self, name: str, namespace: str) -> str:
            return f"/{namespace}/{name}"

    class _Dynamic:
        def request(self, *args: Any, **kwargs: Any) -> None:
            return None

    dynamic = _Dynamic()

    def resource(self, api_version: str, kind: str) -> "_Accepting._Res":
        return self._Res()


def _statuses(state: State) -> list[dict[str, Any]]:
    """One Definition's statuses through a run ending in ``state`` (each with the one before)."""
    out: list[dict[str, Any]] = []
    prev = None
    for s, t, kw in ((State.PENDING, 0.0, {}), (State.APPLYING, 1.0, {"attempts": 1}),
                     (State.WAITING, 2.0, {"attempts": 1}), (state, 3.0, {"attempts": 1})):
        prev = status(s, generation=2, time=1.7e9 + t, previous=prev, **kw)
        out.append(prev)
    return out


@pytest.mark.parametrize("final", [State.READY, State.FAILED, State.TIMED_OUT, State.SKIPPED])
def test_packed_statuses_read_back_equal(final: State) -> None:
    for st in [*_statuses(final), status(State.BLOCKED, generation=1, time=1.7e9, blocked_by=("job/a", "job/b"))]:
        packed = pack(st)
        assert isinstance(packed, tuple)
        assert unpack(packed) == st


def test_a_status_of_another_shape_is_kept_as_it_is() -> None:
    st = status(State.READY, generation=1, time=1.7e9)
    other = [{**st, "extra": 1}, {**st, "conditions": st["conditions"][:2]},
             {**st, "conditions": [{**st["conditions"][0], "reason": "Other"}, *st["conditions"][1:]]},
             {**st, "startedAt": None}, {"phase": "Deleting", "message": "x"}]
    for o in other:
        assert pack(o) is o and unpack(pack(o)) is o


def test_writer_last_is_the_status_written_and_forget_drops_it() -> None:
    w = StatusWriter(_Accepting(), "default", settle=0)  # type: ignore[arg-type]
    try:
        sts = _statuses(State.READY)
        for st in sts:
            w.write("def-a", st)
            assert w.last("def-a") == st
        w.write("r", {"phase": "Ready", "counts": {"Ready": 1}}, "ReleaseGraph")
        assert w.last("r", "ReleaseGraph") == {"phase": "Ready", "counts": {"Ready": 1}}
        assert w.last("def-b") is None
        w.forget(set())
        assert w.last("def-a") is None and w.last("r", "ReleaseGraph") is not None
    finally:
        w.close()


def test_writer_keeps_a_few_hundred_bytes_per_definition() -> None:
    """2,000 Definitions rolled out: what the writer holds once their statuses are sent (the whole
    statuses were ~1.5 KB each: 13 MiB at 10,000 objects)."""
    n = 2000
    w = StatusWriter(_Accepting(), "default", settle=0)  # type: ignore[arg-type]
    names = [f"configmap-{i:05d}" for i in range(n)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i, name in enumerate(names):
            prev = None
            for s in (State.PENDING, State.WAITING, State.READY):
                prev = status(s, generation=1, time=1.7e9 + i / 100, attempts=1, previous=prev)
                w.write(name, prev)
            del prev
        w.close()
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert all(w.last(name) is not None for name in names)
    assert held / n < 400, f"{held / n:.0f} bytes per Definition"


def test_statuses_waiting_to_be_sent_are_held_packed() -> None:
    """A rollout faster than the writer (10,000 objects: ~550 statuses/s asked, ~300/s written)
    leaves thousands waiting; they are sent whole, in order, once the API answers."""
    import threading

    gate, sent = threading.Event(), []

    class Slow(_Accepting):
        class _Dynamic:
            def request(self, *args: Any, **kwargs: Any) -> None:
                gate.wait(30)
                sent.append(kwargs["body"]["status"])

        dynamic = _Dynamic()

    n = 2000
    w = StatusWriter(Slow(), "default", settle=0)  # type: ignore[arg-type]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            w.write(f"configmap-{i:05d}", status(State.READY, generation=1, time=1.7e9 + i / 100, attempts=1))
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        gate.set()
        w.close()
    assert held / n < 600, f"{held / n:.0f} bytes per Definition"
    last = status(State.READY, generation=1, time=1.7e9 + (n - 1) / 100, attempts=1)
    assert len(sent) == n and sent[-1] == StatusWriter._body("Definition", last)


# ---------------------------------------------------------------- decoration as applies are sent

def _release(graph_uid: str | None = "u-1") -> release_mod.Release:
    docs = [cmap("a"), cmap("b", "configmap/a"), {**cmap("c", "configmap/b"),
                                                   "metadata": {"name": "c", "namespace": "elsewhere",
                                                                "annotations": {"helm.sh/x": "1"}}}]
    _, _, defs, deps = objects_of("r", docs)
    graph_object = None if graph_uid is None else {
        **appcontroller.release_graph("r", "default", "0" * 64, 0, 0),
        "metadata": {"name": "r", "namespace": "default", "uid": graph_uid}}
    return assemble(None, "default", "r", defs, deps, graph_object)  # type: ignore[arg-type]


def test_the_run_holds_the_objects_undecorated() -> None:
    rel = _release()
    for k in rel.analysis.order:
        meta = rel.analysis.objects[k].obj.body["metadata"]
        assert KEY_ANNOTATION not in (meta.get("annotations") or {})
        assert RELEASE_LABEL not in (meta.get("labels") or {}) and "ownerReferences" not in meta


def test_applies_are_sent_decorated_and_other_requests_as_they_are() -> None:
    rel = _release()
    sent: list[Any] = []

    class Inner:
        def call(self, request: Any, reply: Callable[[Reply], None]) -> None:
            sent.append(request)
            reply(Reply({}))

        def watch(self, *args: Any) -> Any:
            return "handle"

    cluster = release_mod.DecoratingCluster(Inner(), rel)  # type: ignore[arg-type]
    by_name = {k.name: k for k in rel.analysis.order}
    for k in rel.analysis.order:
        cluster.call(Apply(k, rel.analysis.objects[k].obj.body), lambda r: None)
    cluster.call(Get(by_name["a"]), lambda r: None)
    assert cluster.watch(None, "", lambda m: None) == "handle"  # type: ignore[arg-type]
    applied = {r.key.name: r.obj for r in sent if isinstance(r, Apply)}
    assert isinstance(sent[-1], Get)
    for name, body in applied.items():
        assert body == decorated(rel, by_name[name])
        assert body["metadata"]["labels"][RELEASE_LABEL] == "r"
        assert body["data"] == {"x": name}
    assert applied["b"]["metadata"]["annotations"][PARENTS_ANNOTATION] == "configmap/a"
    assert applied["c"]["metadata"]["annotations"]["helm.sh/x"] == "1"
    assert "ownerReferences" not in applied["c"]["metadata"]  # another namespace
    assert [r["uid"] for r in applied["a"]["metadata"]["ownerReferences"]] == ["u-1"]
    # what the engine holds (and judges readiness by) is not changed
    assert KEY_ANNOTATION not in (rel.analysis.objects[by_name["a"]].obj.body["metadata"].get("annotations") or {})


# ---------------------------------------------------------------- the engine's timers

def test_the_engine_holds_no_cancelled_timer() -> None:
    """Each object's timeout timer is cancelled when it is ready; it was kept in the engine's set of
    pending timers (with its callback) until the run ended: 10,000 of them at 10,000 objects."""
    from helm_ac.analysis import graph as graph_mod
    from helm_ac.analysis.keys import Keys
    from helm_ac.clock import VirtualLoop
    from helm_ac.engine.scheduler import Engine, Options
    from helm_ac.engine.simulated import Behaviour, SimulatedCluster

    a, g, _, _ = objects_of("r", [cmap("a"), cmap("b", "configmap/a"), cmap("c", "configmap/a")])
    loop = VirtualLoop()
    engine = Engine(a, graph_mod.build(a), SimulatedCluster(loop, Behaviour(lambda k: 1.0)), loop, Keys(a, "r"),
                    Options(timeout=3600), lambda e: None)
    seen: list[int] = []
    engine.sink = lambda e: seen.append(sum(t.cancelled for t in engine._timers))
    engine.start()
    loop.run()
    assert engine.done and engine.result is not None and engine.result.ok
    assert seen and max(seen) == 0, seen
    assert not any(t.cancelled for t in engine._timers)
