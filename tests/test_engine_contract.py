"""The engine's contract with its cluster (docs/engine.md): the same scenarios against every face.

Faces: ``simulated`` (the kubesim store and controllers in virtual time), ``standin`` (a
synchronous stand-in that answers every call before it returns, tests/standin.py) and ``kube``
(:class:`~helm_ac.kube.cluster.KubeCluster`, the official client, against the embedded API server
over TLS, in real time on an asyncio loop).  A fault proxy in front of the simulated and kube faces
queues API errors as the stand-in does; the kube face also gets the server's own faults (429 with
Retry-After, 5xx, dropped connections).  In real time the kube face checks order and outcome, never
durations.
"""
from __future__ import annotations

import asyncio
import copy
from typing import Any, Callable

import pytest
from conftest import cm, rendered
from standin import StandIn

from helm_ac.analysis import graph, model
from helm_ac.apiserver import server as apiserver
from helm_ac.analysis.keys import Keys
from helm_ac.clock import VirtualLoop
from helm_ac.engine.cluster import ApiError, Apply, Get, Reply, Request, Stream, WatchEvent, WatchMessage
from helm_ac.engine.events import Event, State, StateEvent, SummaryEvent
from helm_ac.engine.scheduler import Engine, Options
from helm_ac.engine.simulated import Behaviour, SimulatedCluster
from helm_ac.kinds import ObjectKey
from helm_ac.kube.aio import AsyncioClock, drive
from helm_ac.kube.cluster import KubeCluster
from helm_ac.kube.config import connect
from helm_ac.rendering import manifests

DEP = "appcontroller.k8s/depends-on"
FACES = ("simulated", "standin", "kube")
VIRTUAL = ("simulated", "standin")  # scenarios that check virtual times to the second


def K(name: str, kind: str = "ConfigMap", group: str = "") -> ObjectKey:
    return ObjectKey(group, kind, "default", name)


class SimFace:
    """The simulated cluster behind a fault proxy (queued errors, a call log), with the same test
    handles as the stand-in."""

    def __init__(self, loop: VirtualLoop, *, seconds: Callable[[ObjectKey], float],
                 fail_attempts: dict[ObjectKey, int], latency: float) -> None:
        self.loop, self.latency = loop, latency
        self.cluster = SimulatedCluster(loop, Behaviour(seconds=seconds, fail=set(fail_attempts),
                                                        fail_attempts=fail_attempts, api_latency=latency))
        self.errors: dict[tuple[str, ObjectKey], list[ApiError]] = {}
        self.log: list[tuple[float, str, ObjectKey]] = []
        self.calls = self.cluster.calls

    def call(self, request: Request, reply: Callable[[Reply], None]) -> None:
        verb = type(request).__name__.lower()
        self.log.append((self.loop.now(), verb, request.key))
        queued = self.errors.get((verb, request.key))
        if queued:
            error = queued.pop(0)
            self.calls[verb] += 1
            self.loop.call_later(self.latency, lambda: reply(Reply(error=error)))
            return
        self.cluster.call(request, reply)

    def watch(self, stream: Stream, resource_version: str, sink: Callable[[WatchMessage], None]) -> Any:
        return self.cluster.watch(stream, resource_version, sink)

    @property
    def watches(self) -> list[Any]:
        return list(self.cluster._watches)

    def fail_next(self, verb: str, key: ObjectKey, *errors: ApiError) -> None:
        self.errors.setdefault((verb, key), []).extend(errors)

    def drop_watches(self, *, expired: bool = False) -> int:
        return self.cluster.drop_watches(expired=expired)

    def put(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.cluster._write(ObjectKey(obj["apiVersion"].rpartition("/")[0], obj["kind"], meta.get("namespace"),
                                      meta["name"]), copy.deepcopy(obj))

    def live(self, key: ObjectKey) -> dict[str, Any] | None:
        return self.cluster.get_quietly(key)

    def release(self, key: ObjectKey) -> None:
        res = self.cluster._resource(key, None)
        live = self.live(key)
        assert res is not None and live is not None
        self.cluster.store.update(res, key.namespace, key.name,
                                  {**live, "metadata": {**live["metadata"], "finalizers": []}})

    def inject(self, event: WatchEvent) -> None:
        for w in self.watches:
            if (w.stream.api_version, w.stream.kind) == (event.obj["apiVersion"], event.obj["kind"]):
                w._hand(event)


class KubeFace:
    """KubeCluster against a fresh embedded API server (``server``: its faults, history), with the
    test handles of the other faces; queued errors are answered through the loop, as SimFace does."""

    def __init__(self, server: apiserver.Options | None = None) -> None:
        self._server = apiserver.running(server or apiserver.Options())
        self.srv = self._server.__enter__()
        self.aloop = asyncio.new_event_loop()
        self.loop = AsyncioClock(self.aloop)
        self.cluster = KubeCluster(connect(kubeconfig=str(self.srv.kubeconfig), env={}).api, self.aloop)
        self.errors: dict[tuple[str, ObjectKey], list[ApiError]] = {}
        self.log: list[tuple[float, str, ObjectKey]] = []
        self.replies: list[tuple[str, ObjectKey, ApiError | None]] = []  # what the server answered
        self.in_flight = self.most_in_flight = 0
        self.calls = self.cluster.calls

    def call(self, request: Request, reply: Callable[[Reply], None]) -> None:
        verb = type(request).__name__.lower()
        self.log.append((self.loop.now(), verb, request.key))
        queued = self.errors.get((verb, request.key))
        if queued:
            error = queued.pop(0)
            self.calls[verb] += 1
            self.aloop.call_soon(reply, Reply(error=error))
            return

        def record(answer: Reply) -> None:
            self.replies.append((verb, request.key, answer.error))
            self.in_flight -= 1
            reply(answer)

        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.cluster.call(request, record)

    def watch(self, stream: Stream, resource_version: str, sink: Callable[[WatchMessage], None]) -> Any:
        return self.cluster.watch(stream, resource_version, sink)

    @property
    def watches(self) -> list[Any]:
        return list(self.cluster.watches)

    def fail_next(self, verb: str, key: ObjectKey, *errors: ApiError) -> None:
        self.errors.setdefault((verb, key), []).extend(errors)

    def drop_watches(self, *, expired: bool = False) -> int:
        """Cut every open watch connection (from the client's side: the stream breaks); ``expired``:
        first write 60 Secrets, more than a server with ``history=50`` remembers."""
        if expired:
            res = self.cluster.resource("v1", "Secret")
            for i in range(60):
                self.cluster.dynamic.create(res, namespace="default", body={
                    "apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"noise-{i}"}})
        watches = self.watches
        for w in watches:
            w._response.shutdown()
        return len(watches)

    def put(self, obj: dict[str, Any]) -> None:
        res = self.cluster.resource(obj["apiVersion"], obj["kind"])
        self.cluster.dynamic.create(res, body=obj, namespace=obj["metadata"].get("namespace"))

    def live(self, key: ObjectKey) -> dict[str, Any] | None:
        return self.cluster._do(Get(key)).obj

    def close(self) -> None:
        self.cluster.close()
        self.aloop.close()
        self._server.__exit__(None, None, None)


_kube_faces: list[KubeFace] = []


@pytest.fixture(autouse=True)
def _close_kube_faces():
    yield
    while _kube_faces:
        _kube_faces.pop().close()


class StandInFace(StandIn):
    def live(self, key: ObjectKey) -> dict[str, Any] | None:
        return self.objects.get(key)


def analyze(*docs: str) -> tuple[Any, Any, Keys]:
    a = model.analyze(manifests.split(rendered(*[(f"c/templates/t{i}.yaml", d) for i, d in enumerate(docs)])),
                      None, "default")
    return a, graph.build(a), Keys(a, "r")


class Run:
    def __init__(self, face_name: str, docs: tuple[str, ...], *, seconds: dict[ObjectKey, float] | None = None,
                 fail_attempts: dict[ObjectKey, int] | None = None, latency: float = 0.0,
                 options: Options | None = None, server: apiserver.Options | None = None) -> None:
        self.kube = face_name == "kube"
        self.loop: Any = VirtualLoop()
        secs = dict(seconds or {})
        kw = {"seconds": lambda k: secs.get(k, 0.0), "fail_attempts": dict(fail_attempts or {}), "latency": latency}
        if self.kube:
            self.face: Any = KubeFace(server)
            _kube_faces.append(self.face)
            self.loop = self.face.loop
        else:
            self.face = SimFace(self.loop, **kw) if face_name == "simulated" else StandInFace(self.loop, **kw)
        self.a, self.g, self.keys = analyze(*docs)
        self.events: list[Event] = []
        self.done: list[SummaryEvent] = []
        self.engine = Engine(self.a, self.g, self.face, self.loop, self.keys, options or Options(),
                             self.events.append, on_done=self.done.append)

    def go(self) -> "Run":
        if self.kube:  # real time: until the run signals its end (a guard against a hang)
            self.face.aloop.run_until_complete(asyncio.wait_for(drive(self.engine), 120))
            return self
        self.engine.start()
        self.loop.run()
        return self

    def wait(self, until: Callable[[], Any], limit: float = 30.0) -> None:
        """kube: run the asyncio loop until ``until()`` holds (bounded)."""
        async def poll() -> None:
            while not until():
                await asyncio.sleep(0.02)
        self.face.aloop.run_until_complete(asyncio.wait_for(poll(), limit))

    def at(self, t: float, fn: Callable[[], Any]) -> None:
        self.loop.call_later(t - self.loop.now(), lambda: fn() and None)

    def times(self, state: State) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for e in self.events:
            if isinstance(e, StateEvent) and e.state is state:
                out.setdefault(e.key, []).append(e.time)
        return out

    def final(self) -> dict[str, StateEvent]:
        out = {}
        for e in self.events:
            if isinstance(e, StateEvent):
                out[e.key] = e
        return out

    def check_ended(self) -> SummaryEvent:
        """The run signals its end once: the summary event (sent once), done, on_done; watches closed."""
        summaries = [e for e in self.events if isinstance(e, SummaryEvent)]
        assert len(summaries) == 1 and self.done == summaries and self.engine.done
        assert self.engine.result is summaries[0] and self.engine.summary() is summaries[0]
        assert self.face.watches == []
        return summaries[0]


def job(name: str, *, annotations: str = "", finalizers: bool = False) -> str:
    fin = "\n  finalizers: [example.com/hold]" if finalizers else ""
    return (f"apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}{fin}\n  annotations:{annotations or ' {}'}\n"
            f"spec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: c, image: x}}]\n")


def chain(n: int) -> tuple[str, ...]:
    return tuple(cm(f"c{i}", {DEP: f"configmap/c{i - 1}"} if i else None) for i in range(n))


@pytest.mark.parametrize("face", FACES)
def test_a_long_chain_does_not_recurse_and_the_run_says_it_ended(face):
    """1,000 ConfigMaps in a chain, each ready on existence: with a cluster that answers at once the
    old engine's launch → get → ready → release → launch recursed (RecursionError at ~170)."""
    run = Run(face, chain(1000)).go()
    ready, applying = run.times(State.READY), run.times(State.APPLYING)
    assert len(ready) == 1000
    for i in range(1, 1000):
        assert applying[f"configmap/c{i}"][0] >= ready[f"configmap/c{i - 1}"][0]
    assert run.check_ended().ok


@pytest.mark.parametrize("face", FACES)
def test_transient_errors_are_retried_as_retry_after_says_then_with_backoff(face):
    if face == "kube":  # the server's own faults: 429 with Retry-After, 500, a connection closed unanswered
        faults = ["verb=patch,name=c0,error=429,retry-after=1,count=1", "verb=patch,name=c0,error=500,count=1",
                  "verb=patch,name=c0,drop=connection,count=1"]
        run = Run(face, (cm("c0"), cm("c1", {DEP: "configmap/c0"})), server=apiserver.Options(faults=faults),
                  options=Options(backoff=0.05))
        run.go()
        answers = [(e.code, e.retry_after) if e else None for verb, key, e in run.face.replies if key == K("c0")]
        assert answers == [(429, 1.0), (500, None), (0, None), None]
        assert [e.key for e in run.events if isinstance(e, StateEvent) and e.state is State.READY] == \
            ["configmap/c0", "configmap/c1"]
        assert run.final()["configmap/c0"].attempt == 1 and run.check_ended().ok
        return
    run = Run(face, (cm("c0"), cm("c1", {DEP: "configmap/c0"})))
    run.face.fail_next("apply", K("c0"), ApiError(429, "too many requests", retry_after=5),
                       ApiError(503, "unavailable"), ApiError(0, "connection refused"))
    run.go()
    # 429 + Retry-After 5 → t=5; 503 → backoff 2 s (second retry) → t=7; connection error → 4 s → t=11
    assert [t for t, verb, key in run.face.log if verb == "apply" and key == K("c0")] == [0, 5, 7, 11]
    assert run.times(State.READY)["configmap/c0"] == [11] and run.final()["configmap/c0"].attempt == 1
    assert run.check_ended().ok


@pytest.mark.parametrize("face", FACES)
def test_a_permanent_error_fails_the_object_with_the_apis_message(face):
    run = Run(face, (cm("c0"), cm("c1", {DEP: "configmap/c0"}), cm("other")))
    run.face.fail_next("apply", K("c0"), ApiError(403, 'configmaps "c0" is forbidden: User "x" cannot create'))
    run.go()
    final = run.final()
    assert final["configmap/c0"].state is State.FAILED
    assert final["configmap/c0"].message == 'API error: 403: configmaps "c0" is forbidden: User "x" cannot create'
    assert final["configmap/c1"].state is State.BLOCKED and final["configmap/other"].state is State.READY
    assert [verb for _, verb, key in run.face.log if key == K("c0")] == ["apply"]  # not retried
    assert not run.check_ended().ok


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("expired", [False, True], ids=["dropped", "410"])
def test_a_dropped_or_expired_watch_is_resumed_and_nothing_is_missed(face, expired):
    if face == "kube":
        # the server's Job takes 2 s.  Dropped: the server ends the first two streams 0.5 s in (its
        # fault); expired: the client's connections are cut 0.5 s in, after 60 writes on a server
        # that keeps 50 events, so resuming answers 410 and the engine lists again
        if expired:
            run = Run(face, (job("migrate"), cm("app", {DEP: "job/migrate"})), server=apiserver.Options(history=50))
            dropped: list[int] = []
            run.loop.call_later(0.5, lambda: dropped.append(run.face.drop_watches(expired=True)))
        else:
            run = Run(face, (job("migrate"), cm("app", {DEP: "job/migrate"})),
                      server=apiserver.Options(faults=["verb=watch,drop=watch,after=500ms,count=2"]))
            dropped = [2]
        run.go()
        # each resumed once; after 410 (answered to the resume) each listed and watched again
        assert dropped == [2] and run.face.calls["watch"] == (6 if expired else 4)
        assert [e.key for e in run.events if isinstance(e, StateEvent) and e.state is State.READY] == \
            ["job/migrate", "configmap/app"]
        assert run.check_ended().ok
        return
    run = Run(face, (job("migrate"), cm("app", {DEP: "job/migrate"})), seconds={K("migrate", "Job", "batch"): 60})
    dropped: list[int] = []
    run.at(30, lambda: dropped.append(run.face.drop_watches(expired=expired)))
    run.go()
    assert dropped == [2]  # Jobs and ConfigMaps in default
    assert run.face.calls["watch"] == 4  # each opened again (resumed, or listed again after 410)
    assert run.times(State.READY) == {"job/migrate": [60], "configmap/app": [60]}
    assert run.check_ended().ok


@pytest.mark.parametrize("face", FACES)
def test_pods_that_existed_before_the_run_are_seen_without_a_get(face):
    run = Run(face, (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n"
                     f"    appcontroller.k8s/ready-when: endpoints\nspec:\n  selector: {{app: web}}\n",
                     cm("after", {DEP: "service/web"})))
    run.face.put({"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": "web-0", "namespace": "default", "labels": {"app": "web"}},
                  "spec": {"containers": [{"name": "c", "image": "x"}], "nodeName": "node-0"},
                  "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
    if run.kube:  # the server's kubelet runs it
        run.wait(lambda: ((run.face.live(ObjectKey("", "Pod", "default", "web-0")) or {}).get("status") or {})
                 .get("phase") == "Running")
    else:
        run.loop.run()  # the simulated kubelet runs it
    start = run.loop.now()
    run.go()
    ready = {e.key: e for e in run.events if isinstance(e, StateEvent) and e.state is State.READY}
    assert ready["service/web"].message == "1/1 selected pods ready"
    if not run.kube:
        assert ready["service/web"].time == start
    assert run.face.calls["get"] == 0
    assert run.check_ended().ok


@pytest.mark.parametrize("face", VIRTUAL)
def test_a_retry_waits_for_the_old_object_to_go_and_ignores_its_late_events(face):
    """Every call takes 1 s.  job/migrate, created at 1 s, fails at 11 s (retry 1); the delete lands
    at 12 s, but a finalizer holds the old Job until 25 s: the second attempt is applied then, not
    at once.  A late event of the first Job (complete) arrives while the second apply is in
    flight: it is not taken for the second Job, which is created at 26 s and completes at 36 s."""
    key = K("migrate", "Job", "batch")
    run = Run(face, (job("migrate", annotations='\n    appcontroller.k8s/retry: "1"', finalizers=True),
                     cm("app", {DEP: "job/migrate"})),
              seconds={key: 10}, fail_attempts={key: 1}, latency=1)
    first: list[dict[str, Any]] = []
    run.at(12.5, lambda: first.append(copy.deepcopy(run.face.live(key))))
    run.at(25, lambda: run.face.release(key))
    run.at(25.5, lambda: run.face.inject(WatchEvent("MODIFIED", key, {
        **first[0], "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}})))
    run.go()
    assert first[0]["metadata"]["deletionTimestamp"]  # still there, being deleted
    calls = [(t, verb) for t, verb, k in run.face.log if k == key]
    assert calls == [(0, "apply"), (11, "delete"), (25, "apply")]
    assert run.times(State.APPLYING)["job/migrate"] == [0, 25]
    assert run.times(State.READY) == {"job/migrate": [36], "configmap/app": [37]}
    assert run.final()["job/migrate"].attempt == 2
    assert run.check_ended().ok


@pytest.mark.parametrize("face", FACES)
def test_calls_run_concurrently_under_the_limit(face):
    if face == "kube":  # every apply takes 300 ms on the server: how many objects are in flight at once
        slow = apiserver.Options(faults=["verb=patch,latency=300ms"])
        for limit, most in ((2, 2), (None, 4)):
            run = Run(face, tuple(cm(f"c{i}") for i in range(4)), server=slow, options=Options(concurrency=limit)).go()
            flying, peak = 0, 0
            for e in run.events:  # in the order the engine emitted them
                if isinstance(e, StateEvent) and e.state in (State.APPLYING, State.READY):
                    flying += 1 if e.state is State.APPLYING else -1
                    peak = max(peak, flying)
            assert peak == most and len(run.times(State.READY)) == 4
            # an object's slot is free once the watch shows it ready, its apply's answer may come later
            assert run.face.most_in_flight >= most
        return
    run = Run(face, tuple(cm(f"c{i}") for i in range(4)), latency=2, options=Options(concurrency=2)).go()
    assert sorted(t for ts in run.times(State.READY).values() for t in ts) == [2, 2, 4, 4]
    run = Run(face, tuple(cm(f"c{i}") for i in range(4)), latency=2).go()
    assert sorted(t for ts in run.times(State.READY).values() for t in ts) == [2, 2, 2, 2]


def test_a_relist_forgets_what_was_deleted_while_nobody_watched():
    """After 410 the engine lists again: a Pod deleted meanwhile no longer counts for a Service."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "default", "labels": {"app": "web"}},
           "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}}
    run = Run("standin", (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n"
                          f"    appcontroller.k8s/ready-when: endpoints\nspec:\n  selector: {{app: web}}\n",))
    run.face.put({**pod, "metadata": {**pod["metadata"], "name": "old"}})
    pod_key = ObjectKey("", "Pod", "default", "old")

    def meanwhile() -> None:
        run.face.remove(pod_key)
        run.face.put({**pod, "metadata": {**pod["metadata"], "name": "new"},
                      "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})

    def while_nobody_watches() -> None:
        run.face.drop_watches(expired=True, meanwhile=meanwhile)

    run.at(10, while_nobody_watches)
    run.go()
    assert run.final()["service/web"].state is State.READY and run.final()["service/web"].time == 10
    assert run.final()["service/web"].message == "1/1 selected pods ready"
    assert run.check_ended().ok


def test_an_object_whose_watch_is_refused_times_out_naming_the_watch_error():
    run = Run("standin", (job("migrate", annotations="\n    appcontroller.k8s/timeout: 5m"), cm("other")),
              seconds={K("migrate", "Job", "batch"): 60})
    run.face.refuse_watch["Job"] = ApiError(403, 'jobs.batch is forbidden: User "x" cannot watch')
    run.go()
    final = run.final()
    assert final["job/migrate"].state is State.TIMED_OUT and final["job/migrate"].time == 300
    assert final["job/migrate"].message == ('timed out waiting to become ready (watching Job failed: '
                                            '403: jobs.batch is forbidden: User "x" cannot watch)')
    assert final["configmap/other"].state is State.READY
    assert 5 < run.face.calls["watch"] < 30  # tried again with backoff (1, 2, 4, ... 30 s), not in a hot loop
    assert not run.check_ended().ok


@pytest.mark.parametrize("face", FACES)
def test_get_answers_the_object_or_none(face):
    run = Run(face, (cm("c0"),)).go()
    got: list[Reply] = []
    run.face.call(Get(K("c0")), got.append)
    run.face.call(Get(K("nope")), got.append)
    if run.kube:
        run.wait(lambda: len(got) == 2)
        got.sort(key=lambda r: r.obj is None)  # the pool answers in any order
    else:
        run.loop.run()
    assert got[0].error is None and got[0].obj["metadata"]["name"] == "c0" and got[0].obj["metadata"]["uid"]
    assert got[1] == Reply()


# ---------------------------------------------------------------- watch part: Engine.stop()

@pytest.mark.parametrize("face", FACES)
def test_a_stopped_engine_emits_nothing_calls_nothing_and_ignores_late_replies(face):
    """stop() right after c1's apply was sent (its reply still to come on the simulated and kube
    faces): no event after it, no call or watch started, its watches closed, the never-ready
    object's timeout (1 s, one retry) cancelled: no TimedOut, no delete; no summary."""
    never = cm("never", {"appcontroller.k8s/ready-when": "{.data.x} == other", "appcontroller.k8s/timeout": "1s",
                         "appcontroller.k8s/retry": "1"})
    run = Run(face, (cm("c0"), cm("c1", {DEP: "configmap/c0"}), cm("c2", {DEP: "configmap/c1"}), never))
    at_stop: dict[str, Any] = {}
    settled: list[bool] = []

    def stop() -> None:
        run.engine.stop()
        at_stop.update(events=len(run.events), calls=len(run.face.log), watches=run.face.calls["watch"],
                       time=run.loop.now(), out=run.engine.calls_out)
        run.engine.when_settled(lambda: settled.append(True))

    def sink(e: Event) -> None:
        run.events.append(e)
        if isinstance(e, StateEvent) and e.key == "configmap/c1" and e.state is State.APPLYING:
            run.loop.call_later(0.0, stop)  # its apply is sent in the same step, after this event

    run.engine.sink = sink
    if run.kube:
        run.engine.start()
        run.wait(lambda: at_stop)
        # c1's apply answered after the stop (handed to the engine, dropped), and the timeout passed
        run.wait(lambda: any(v == "apply" and k == K("c1") for v, k, _ in run.face.replies)
                 and run.loop.now() > at_stop["time"] + 1.5)
    else:
        run.engine.start()
        run.loop.run()
    assert at_stop, "the run never reached c1"
    assert len(run.events) == at_stop["events"], run.events[at_stop["events"]:]
    assert len(run.face.log) == at_stop["calls"], run.face.log[at_stop["calls"]:]
    assert run.face.calls["watch"] == at_stop["watches"]
    assert run.face.watches == []
    assert not run.engine.done and run.done == [] and run.engine.stopped
    assert not any(isinstance(e, SummaryEvent) for e in run.events)
    assert ("delete", K("never")) not in [(v, k) for _, v, k in run.face.log]
    # c1's apply at least was out (the stand-in answers at once)
    assert at_stop["out"] == 0 if face == "standin" else at_stop["out"] >= 1
    assert settled == [True] and run.engine.calls_out == 0  # ... answered since, and said so
    run.engine.stop()  # idempotent
    run.engine.post(lambda: run.events.append("ran"))  # type: ignore[arg-type]
    assert "ran" not in run.events


@pytest.mark.parametrize("face", FACES)
def test_an_object_that_existed_before_counts_as_applied_only_once_its_apply_answers(face):
    """An upgrade: `p` exists (its old content) when the run starts, so the watch's first list shows
    it before the apply of its new content has landed; its child `c` must wait for that apply's
    answer. (Before, the listed old object counted as applied and ready: `c` went first.)"""
    old = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p", "namespace": "default"},
           "data": {"v": "old"}}
    p = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: p\ndata:\n  v: new\n"
    docs = (p, cm("c", {DEP: "configmap/p"}))
    if face == "kube":
        run = Run(face, docs, server=apiserver.Options(faults=["verb=patch,name=p,latency=300ms"]))
    else:
        run = Run(face, docs, latency=1.0)
    if run.kube:  # applied earlier by the controller itself (its field manager), as an upgrade finds it
        assert run.face.cluster._do(Apply(K("p"), old)).obj is not None
    else:
        run.face.put(old)
    answered_first: list[bool] = []

    def sink(e: Event) -> None:
        run.events.append(e)
        if isinstance(e, StateEvent) and e.key == "configmap/c" and e.state is State.APPLYING and run.kube:
            answered_first.append(any(v == "apply" and k == K("p") for v, k, _ in run.face.replies))

    run.engine.sink = sink
    run.go()
    assert run.check_ended().ok
    if run.kube:
        assert answered_first == [True]
    else:
        assert run.times(State.APPLYING)["configmap/c"][0] >= 1.0  # p's apply answered at 1
    assert run.face.live(K("p"))["data"] == {"v": "new"}


@pytest.mark.parametrize("face", ("simulated", "kube"))
def test_a_job_whose_pod_template_changed_is_replaced_and_runs_again(face):
    """An upgrade of a migration Job: its Pod template cannot change (422 field is immutable), so the
    engine deletes the old Job, waits until it is gone, and creates the new one, which runs; what
    waits for the Job waits for the new one. (Before: the Job failed with the API's refusal.)"""
    old = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": "default"},
           "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x:1"}]}}}}
    new = ("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\nspec:\n  template:\n    spec:\n"
           "      restartPolicy: Never\n      containers: [{name: c, image: 'x:2'}]\n")
    run = Run(face, (new, cm("after", {DEP: "job/migrate"})), seconds={K("migrate", "Job", "batch"): 1.0})
    if run.kube:
        assert run.face.cluster._do(Apply(K("migrate", "Job", "batch"), old)).obj is not None
    else:
        run.face.put(old)
    before = run.face.live(K("migrate", "Job", "batch"))["metadata"]["uid"]
    run.go()
    assert run.check_ended().ok, run.final()
    job_ = run.face.live(K("migrate", "Job", "batch"))
    assert job_["metadata"]["uid"] != before and job_["spec"]["template"]["spec"]["containers"][0]["image"] == "x:2"
    assert job_["status"].get("succeeded") == 1
    replacing = [e.message for e in run.events if isinstance(e, StateEvent) and e.key == "job/migrate"
                 and e.message.startswith("replacing it: ")]
    assert len(replacing) == 1 and "spec.template" in replacing[0] and "field is immutable" in replacing[0]
    verbs = [v for _, v, k in run.face.log if k == K("migrate", "Job", "batch")]
    assert verbs[:3] == ["apply", "delete", "apply"], verbs
    assert run.times(State.APPLYING)["configmap/after"][0] >= run.times(State.READY)["job/migrate"][0]


@pytest.mark.parametrize("face", ("simulated", "kube"))
def test_a_job_refused_again_after_its_replacement_fails_once(face):
    """The replacement is tried once per attempt: refused again (here: the API keeps answering 422
    for it), the Job fails with the API's words and what waits for it is blocked."""
    new = job("migrate")
    run = Run(face, (new, cm("after", {DEP: "job/migrate"})))
    refusal = ApiError(422, 'Job.batch "migrate" is invalid: spec.template: Invalid value: {}: field is immutable')
    run.face.fail_next("apply", K("migrate", "Job", "batch"), refusal, refusal)
    run.go()
    final = run.final()
    assert final["job/migrate"].state is State.FAILED and "field is immutable" in final["job/migrate"].message
    assert final["configmap/after"].state is State.BLOCKED
