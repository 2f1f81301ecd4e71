"""The engine seeded from an earlier run (a controller restarted: docs/engine.md, *Seeds*), on the
synchronous stand-in cluster in virtual time: attempts count on, a timeout runs from the recorded
start of its attempt, objects recorded ready are taken as they are now without waiting behind their
parents, and what was given up gets one more attempt."""
from __future__ import annotations

from typing import Any

from conftest import cm, rendered
from standin import StandIn

from helm_ac.analysis import graph, model
from helm_ac.analysis.keys import Keys
from helm_ac.clock import VirtualLoop
from helm_ac.engine.cluster import ApiError
from helm_ac.engine.events import Event, State, StateEvent, SummaryEvent
from helm_ac.engine.scheduler import Engine, Options
from helm_ac.engine.seed import Seed
from helm_ac.engine.simulated import Behaviour, SimulatedCluster
from helm_ac.kinds import ObjectKey
from helm_ac.rendering import manifests

DEP = "appcontroller.k8s/depends-on"
READY_WHEN = "appcontroller.k8s/ready-when"


def K(name: str, kind: str = "ConfigMap", group: str = "") -> ObjectKey:
    return ObjectKey(group, kind, "default", name)


def job(name: str, annotations: dict[str, str] | None = None) -> str:
    ann = "".join(f"\n    {k}: {v!r}" for k, v in (annotations or {}).items())
    return (f"apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  annotations:{ann or ' {}'}\n"
            "spec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: x}]\n")


class Seeded:
    """An engine on a stand-in that already holds objects (``live``: key -> data), seeded."""

    def __init__(self, docs: tuple[str, ...], seeds: dict[ObjectKey, Seed], *, live: dict[ObjectKey, Any],
                 start: float = 0.0, **standin: Any) -> None:
        self.loop = VirtualLoop(start)
        self.cluster = StandIn(self.loop, **standin)
        a = model.analyze(manifests.split(rendered(*[(f"c/templates/t{i}.yaml", d) for i, d in enumerate(docs)])),
                          None, "default")
        bodies = {k: a.objects[k].obj.body for k in a.order}
        for key, change in live.items():  # what the earlier run left in the cluster
            obj = {**bodies[key], "metadata": {**bodies[key]["metadata"], "namespace": "default"}}
            self.cluster.put(change(obj) if callable(change) else obj)
        self.events: list[Event] = []
        self.engine = Engine(a, graph.build(a), self.cluster, self.loop, Keys(a, "r"), Options(),
                             self.events.append, seeds=seeds)

    def go(self) -> "Seeded":
        self.engine.start()
        self.loop.run()
        return self

    def states(self, key: str) -> list[tuple[float, State, int]]:
        return [(e.time, e.state, e.attempt) for e in self.events if isinstance(e, StateEvent) and e.key == key]

    def calls(self, key: ObjectKey) -> list[tuple[float, str]]:
        return [(t, verb) for t, verb, k in self.cluster.log if k == key]

    def summary(self) -> SummaryEvent:
        (s,) = [e for e in self.events if isinstance(e, SummaryEvent)]
        return s


def _data(**data: str) -> Any:
    return lambda obj: {**obj, "data": data}


def test_objects_recorded_ready_are_not_held_behind_their_parents():
    """c0 -> c1 -> c2, all recorded Ready; c0 is not ready now (its data changed under it) and
    becomes ready at t=5: c1 and c2 are ready at once (their watch's list says so), none of the
    three is applied again, and c0 waits as an applied object, without a new attempt."""
    docs = (cm("c0", {READY_WHEN: "{.data.x} == yes"}), cm("c1", {DEP: "configmap/c0"}),
            cm("c2", {DEP: "configmap/c1"}))
    ready = Seed(State.READY, attempts=1, attempt_started=-60.0)
    run = Seeded(docs, {K("c0"): ready, K("c1"): ready, K("c2"): ready},
                 live={K("c0"): _data(x="no"), K("c1"): None, K("c2"): None})
    run.loop.call_later(5, lambda: run.cluster.put({**run.cluster.objects[K("c0")], "data": {"x": "yes"}}))
    run.go()
    assert run.states("configmap/c1") == [(0, State.READY, 1)]
    assert run.states("configmap/c2") == [(0, State.READY, 1)]
    assert run.states("configmap/c0") == [(0, State.WAITING, 1), (5, State.READY, 1)]
    assert [verb for _, verb, _ in run.cluster.log] == []  # nothing applied, nothing read
    assert run.summary().ok


def test_an_object_recorded_ready_but_gone_is_applied_in_order_counting_on():
    docs = (cm("c0", {READY_WHEN: "{.data.x} == yes"}), cm("c1", {DEP: "configmap/c0"}))
    run = Seeded(docs, {K("c0"): Seed(State.READY, 1), K("c1"): Seed(State.READY, 2)}, live={K("c0"): _data(x="no")})
    run.loop.call_later(3, lambda: run.cluster.put({**run.cluster.objects[K("c0")], "data": {"x": "yes"}}))
    run.go()
    assert run.calls(K("c1")) == [(3, "apply")]  # behind its parent, as a fresh object
    assert run.states("configmap/c1")[0] == (3, State.APPLYING, 3)  # attempts count on
    assert run.summary().ok


def test_an_attempt_in_flight_keeps_its_timeout_and_the_retry_budget_is_not_reset():
    """`never` (timeout 10 s, retry 1) was waiting in attempt 1, started 6 s before the restart:
    it times out at t=4, not 10; attempt 2 is its last (retry 1), timed out at t=14."""
    docs = (cm("never", {READY_WHEN: "{.data.x} == yes", "appcontroller.k8s/timeout": "10s",
                         "appcontroller.k8s/retry": "1"}),)
    run = Seeded(docs, {K("never"): Seed(State.WAITING, attempts=1, attempt_started=94.0)}, start=100.0,
                 live={K("never"): None})
    run.go()
    assert run.calls(K("never")) == [(104, "delete"), (104, "apply")]  # not re-applied at the restart
    assert run.states("configmap/never") == [(100, State.WAITING, 1), (104, State.APPLYING, 2),
                                             (104, State.WAITING, 2), (114, State.TIMED_OUT, 2)]


def test_an_attempt_whose_time_ran_out_while_down_is_judged_on_what_exists_first():
    """Time is up for both, but `done` became ready meanwhile: ready, not timed out."""
    docs = (cm("done", {"appcontroller.k8s/timeout": "5s"}),)
    run = Seeded(docs, {K("done"): Seed(State.WAITING, attempts=1, attempt_started=0.0)}, start=100.0,
                 live={K("done"): None})
    run.go()
    assert run.states("configmap/done") == [(100, State.READY, 1)] and run.cluster.log == []


def test_an_attempt_whose_object_is_gone_starts_the_next_one_and_an_unlanded_apply_goes_on():
    """`retried` was waiting in attempt 1 and is gone (deleted for the retry when the controller
    died): attempt 2. `applying` was recorded applying attempt 1 and its apply never landed: attempt
    1 goes on, its timeout (10 s) from its recorded start (4 s before)."""
    docs = (cm("retried", {"appcontroller.k8s/retry": "1"}),
            cm("applying", {READY_WHEN: "{.data.x} == yes", "appcontroller.k8s/timeout": "10s"}))
    run = Seeded(docs, {K("retried"): Seed(State.WAITING, 1, 50.0),
                        K("applying"): Seed(State.APPLYING, 1, 46.0)}, start=50.0, live={})
    run.go()
    assert run.states("configmap/retried")[0] == (50, State.APPLYING, 2)
    assert run.states("configmap/applying")[0] == (50, State.APPLYING, 1)
    assert run.states("configmap/applying")[-1] == (56, State.TIMED_OUT, 1)


def test_an_object_given_up_gets_one_more_attempt_which_replaces_it():
    """The Job failed its only attempt (retry 0) before the restart and is still there, failed: the
    restart is a retry point: attempt 2 deletes it (uid precondition), waits until it is gone,
    creates it again; it completes. A second Job failing again is given up after that one attempt."""
    def failed_job(obj: dict[str, Any]) -> dict[str, Any]:
        return {**obj, "status": {"failed": 1, "conditions": [{"type": "Failed", "status": "True"}]}}

    docs = (job("migrate"), job("again"))
    seeds = {K("migrate", "Job", "batch"): Seed(State.FAILED, 1), K("again", "Job", "batch"): Seed(State.FAILED, 1)}
    live = {K("migrate", "Job", "batch"): failed_job, K("again", "Job", "batch"): failed_job}
    run = Seeded(docs, seeds, live=live, seconds=lambda k: 2.0, fail_attempts={K("again", "Job", "batch"): 1})
    old_uid = run.cluster.objects[K("migrate", "Job", "batch")]["metadata"]["uid"]
    run.go()
    assert run.calls(K("migrate", "Job", "batch")) == [(0, "delete"), (0, "apply")]
    assert run.cluster.objects[K("migrate", "Job", "batch")]["metadata"]["uid"] != old_uid
    assert run.states("job/migrate") == [(0, State.APPLYING, 2), (0, State.WAITING, 2), (2, State.READY, 2)]
    assert run.states("job/again")[-1][1:] == (State.FAILED, 2)  # one more, not a new budget
    assert run.calls(K("again", "Job", "batch")) == [(0, "delete"), (0, "apply")]


def test_a_given_up_object_that_became_ready_meanwhile_is_ready():
    docs = (cm("late", {"appcontroller.k8s/timeout": "1s"}), cm("child", {DEP: "configmap/late"}))
    run = Seeded(docs, {K("late"): Seed(State.TIMED_OUT, 1)}, live={K("late"): None})
    run.go()
    assert run.states("configmap/late") == [(0, State.READY, 1)]
    assert run.calls(K("late")) == [] and run.calls(K("child")) == [(0, "apply")]


def test_seeded_objects_whose_watch_cannot_list_go_on_as_fresh_ones():
    """Their stream is refused (403): nothing to look at, so they are applied in order (attempts
    counting on), and the run still ends."""
    docs = (cm("c0"), cm("c1", {DEP: "configmap/c0"}))
    run = Seeded(docs, {K("c0"): Seed(State.READY, 1), K("c1"): Seed(State.READY, 1)}, live={})
    run.cluster.refuse_watch["ConfigMap"] = ApiError(403, "forbidden")
    run.go()
    assert run.calls(K("c0")) == [(0, "apply")] and run.calls(K("c1")) == [(0, "apply")]
    assert run.states("configmap/c1")[-1][1:] == (State.READY, 2)
    assert run.summary().ok


class SlowPods(StandIn):
    """Pods' watches list a second late (their stream syncs after the others)."""

    def watch(self, stream: Any, resource_version: str, sink: Any) -> Any:
        if stream.kind != "Pod":
            return super().watch(stream, resource_version, sink)
        opened: list[Any] = []
        self.loop.call_later(1.0, lambda: opened.append(StandIn.watch(self, stream, resource_version, sink)))

        class Handle:
            def stop(self) -> None:
                for w in opened:
                    w.stop()
        return Handle()


def test_a_service_waiting_for_endpoints_is_judged_once_the_pods_are_listed_too():
    """A Service recorded Ready, with `ready-when: endpoints` and a ready Pod behind it: its own
    stream lists at once, the Pods' a second later. It is ready at t=1, without passing through
    waiting-ready (which a look before the Pods were known would have said)."""
    docs = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n"
            f"    {READY_WHEN}: endpoints\nspec:\n  selector: {{app: web}}\n",)
    run = Seeded(docs, {K("web", "Service"): Seed(State.READY, 1)},
                 live={K("web", "Service"): lambda o: {**o, "spec": {**o["spec"], "clusterIP": "10.0.0.1"}}})
    slow = SlowPods(run.loop)
    slow.objects, slow.rv, slow.history = run.cluster.objects, run.cluster.rv, run.cluster.history
    slow.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "default",
                                                               "labels": {"app": "web"}},
              "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
    run.cluster = slow
    run.engine.cluster = slow
    run.go()
    assert run.states("service/web") == [(1, State.READY, 1)]
    assert slow.log == []


def test_on_the_simulated_cluster_a_second_run_seeded_from_the_first_ends_at_once():
    """A chain of Deployments (10 s each) rolled out on the simulated cluster (kubesim's store and
    controllers, virtual time); a second engine on the same cluster, seeded with the first run's
    outcome (a restart), ends at the moment it starts, without an apply."""
    def deploy(name: str, deps: str = "") -> str:
        ann = f"\n    {DEP}: {deps}" if deps else ""
        return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  annotations:{ann or ' {}'}\n"
                f"spec:\n  replicas: 2\n  selector: {{matchLabels: {{app: {name}}}}}\n"
                f"  template:\n    metadata:\n      labels: {{app: {name}}}\n")

    docs = (deploy("d0"), deploy("d1", "deployment/d0"), deploy("d2", "deployment/d1"))
    a = model.analyze(manifests.split(rendered(*[(f"c/templates/t{i}.yaml", d) for i, d in enumerate(docs)])),
                      None, "default")
    g, keys, loop = graph.build(a), Keys(a, "r"), VirtualLoop()
    cluster = SimulatedCluster(loop, Behaviour(seconds=lambda k: 10.0))
    first: list[Event] = []
    Engine(a, g, cluster, loop, keys, Options(), first.append).start()
    loop.run()
    assert first[-1].ok and loop.now() >= 30  # type: ignore[union-attr]
    applies = cluster.calls["apply"]
    recorded = {e.key: e for e in first if isinstance(e, StateEvent)}
    seeds = {k: Seed(recorded[keys.key(k)].state, recorded[keys.key(k)].attempt) for k in a.order}
    second: list[Event] = []
    restart = loop.now() + 100
    loop.call_later(100, lambda: Engine(a, g, cluster, loop, keys, Options(), second.append, seeds=seeds).start())
    loop.run()
    summary = second[-1]
    assert isinstance(summary, SummaryEvent) and summary.ok and summary.time == restart
    assert [(e.key, e.state) for e in second if isinstance(e, StateEvent)] == \
        [(f"deployment/d{i}", State.READY) for i in range(3)]
    assert cluster.calls["apply"] == applies


def test_a_seeded_object_retried_before_its_parents_are_ready_waits_for_them():
    """c1 was recorded Ready and is found not ready (timeout 5 s, retry 1) while its parent c0, in
    flight, is not ready either: c1 times out at t=5 and its old object is deleted, but its next
    attempt is applied only once c0 is ready (t=10), never before."""
    docs = (cm("c0", {READY_WHEN: "{.data.x} == yes"}),
            cm("c1", {DEP: "configmap/c0", READY_WHEN: "{.data.x} == yes", "appcontroller.k8s/timeout": "5s",
                      "appcontroller.k8s/retry": "1"}))
    run = Seeded(docs, {K("c0"): Seed(State.WAITING, 1, 0.0), K("c1"): Seed(State.READY, 1)},
                 live={K("c0"): _data(x="no"), K("c1"): _data(x="no")})
    run.loop.call_later(10, lambda: run.cluster.put({**run.cluster.objects[K("c0")], "data": {"x": "yes"}}))
    run.go()
    assert run.calls(K("c1")) == [(5, "delete"), (10, "apply")]
    assert [(t, s) for t, s, _ in run.states("configmap/c1")][:3] == [(0, State.WAITING), (5, State.PENDING),
                                                                       (10, State.APPLYING)]
