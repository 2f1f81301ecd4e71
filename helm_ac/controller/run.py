"""One rollout of one release (:func:`rollout`): read its graph from the cluster, run the engine on
:class:`KubeCluster`, write each Definition's status as its object moves, log each change as a JSON
line, holding the release's Lease; the release's ReleaseGraph gets the run's summary status
(:class:`GraphPublisher`); a run resumes from the statuses already written (:class:`Resumed`), and
one that ended ok prunes what no Definition wraps any more (:func:`prune_after`). The long-running
mode (``--watch``) is :mod:`.watch`, which runs each graph with the same pieces."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

from kubernetes import client
from kubernetes.dynamic import DynamicClient

from helm_ac.controller import release as release_mod
from helm_ac.controller import removal, resume
from helm_ac.controller.lease import Lease, LeaseLost
from helm_ac.controller.secrets import SecretsCluster
from helm_ac.controller.status import RunSummary, StatusWriter, rfc3339, status
from helm_ac.engine.cluster import ApiError
from helm_ac.engine.events import Event, PlanEvent, State, StateEvent, SummaryEvent
from helm_ac.engine.scheduler import Engine, Options
from helm_ac.engine.seed import Seed
from helm_ac.kinds import ObjectKey
from helm_ac.kube.aio import AsyncioClock, drive
from helm_ac.kube.cluster import KubeCluster

log = logging.getLogger("helm_ac.controller")
T = TypeVar("T")


def json_line(**fields: object) -> str:
    """One structured log record (a JSON object on one line, ``time`` first)."""
    return json.dumps(fields, separators=(",", ":"), default=str)


@dataclass
class LeaseOptions:
    """Who we are, and the Lease's timing (renewals every third of the duration, as client-go)."""

    identity: str
    duration: int = 15

    def lease(self, dynamic: DynamicClient, namespace: str, release: str) -> Lease:
        return Lease(dynamic, namespace, release, self.identity, duration=self.duration,
                     renew=self.duration / 3, retry=min(2.0, self.duration / 7.5), margin=self.duration / 7.5)


class GraphPublisher:
    """Writes one run's ReleaseGraph status (:class:`RunSummary`) through the status writer, on the
    loop: at most every ``interval`` seconds while the run goes (the counts change with every
    object), and at once at its end (:meth:`final`). :meth:`cancel` (the run superseded, the Lease
    lost) writes nothing more."""

    def __init__(self, writer: StatusWriter, summary: RunSummary, loop: asyncio.AbstractEventLoop, clock: AsyncioClock,
                 interval: float = 0.5) -> None:
        self.writer, self.summary, self.loop, self.clock, self.interval = writer, summary, loop, clock, interval
        self._last = float("-inf")
        self._handle: asyncio.TimerHandle | None = None
        self._closed = False

    def changed(self) -> None:
        if self._handle is not None or self._closed:
            return
        self._handle = self.loop.call_later(max(0.0, self._last + self.interval - self.loop.time()), self._send)

    def _send(self) -> None:
        self._handle = None
        self._last = self.loop.time()
        name = self.summary.name
        self.writer.write(name, self.summary.status(self.clock.now(), self.writer.last(name, "ReleaseGraph")),
                          "ReleaseGraph")

    def final(self) -> None:
        """The run ended: its status at once; an ok run's reads Progressing (Pruning) until
        :meth:`pruned`, so that whoever waits for Ready (Helm 4's --wait, the gate Job, helm ac
        install) also waits for what the release no longer has to go."""
        if self._closed:
            return
        if self.summary.ok:  # both modes prune after an ok run
            self.summary.pruning = True
            if self._handle is not None:
                self._handle.cancel()
                self._handle = None
            self._send()
            return
        self.cancel()
        self._send()

    def pruned(self, failed: dict[str, str]) -> None:
        """The prune after an ok run is over (``failed``: what it could not remove, and why)."""
        if self._closed:
            return
        self.summary.on_pruned(failed)
        self.cancel()
        self._send()

    def cancel(self) -> None:
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


@dataclass
class Resumed:
    """What a run of ``rel`` takes from the statuses already written for the Definitions' current
    content (a restart, or a new run of a graph partly rolled out): the engine's seeds, and the
    statuses recorded for the seeded Definitions (by name), which are not written again unchanged."""

    seeds: dict[ObjectKey, Seed]
    recorded: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, rel: release_mod.Release) -> "Resumed":
        object_keys = {rel.keys.key(k): k for k in rel.graph if isinstance(k, ObjectKey)}
        seeds = resume.seeds(rel.statuses, rel.definitions, object_keys)
        if not owns_its_objects(rel.graph_object):
            # a seeded object is not applied again, so it would keep the owner it was applied
            # with: a ReleaseGraph deleted and created again (a new uid) must own them all anew,
            # or the garbage collector removes them (release.decorated: owned in the namespace)
            seeds = {k: s for k, s in seeds.items() if k.namespace != rel.namespace}
        return cls(seeds, {rel.definitions[key][0]: rel.statuses[key] for key in rel.definitions
                           if object_keys.get(key) in seeds})


def owns_its_objects(graph_object: dict[str, Any] | None) -> bool:
    """Whether a run on this very ReleaseGraph (this uid) reported: its summary (``startedAt``: only
    a run's summary writes it, after the run's first ``Pending`` statuses) is there, so the objects
    recorded Ready were applied owned by it. A ReleaseGraph created again after its objects were
    applied (a new uid; its status the CRD's default) has not. Without a ReleaseGraph or its uid:
    nothing is owned, any seed holds."""
    if graph_object is None or not (graph_object.get("metadata") or {}).get("uid"):
        return True
    return bool((graph_object.get("status") or {}).get("startedAt"))


def run_events(rel: release_mod.Release, writer: StatusWriter, release: str, clock: AsyncioClock,
               emit: Callable[[str], None], sink: Callable[[Event], None],
               publisher: GraphPublisher | None = None, resumed: Resumed | None = None) -> Callable[[Event], None]:
    """The engine's sink for one run of ``rel``: each Definition's status and the structured log,
    the ReleaseGraph's summary through ``publisher`` (when the release has one)."""
    recorded = resumed.recorded if resumed is not None else {}

    def write(key: str, state: State, time: float, message: str = "", attempts: int = 0,
              blocked_by: tuple[str, ...] = ()) -> None:
        name, generation = rel.definitions[key]
        previous = writer.last(name) or recorded.get(name)
        st = status(state, generation=generation, time=time, message=message, attempts=attempts,
                    blocked_by=blocked_by, previous=previous)
        if st != previous:  # the status already there (a restart finding it unchanged) is not sent again
            writer.write(name, st)

    def on_event(e: Event) -> None:
        sink(e)
        if isinstance(e, PlanEvent):  # every Definition reads Pending from the start of the run
            for key in e.objects:
                if key in rel.definitions and rel.definitions[key][0] not in recorded \
                        and not reads_pending(rel.statuses.get(key), rel.definitions[key][1]):
                    write(key, State.PENDING, e.time)
            if publisher is not None:
                publisher.changed()
        elif isinstance(e, StateEvent) and e.key in rel.definitions:
            write(e.key, e.state, e.time, e.message, e.attempt, e.blocked_by)
            emit(json_line(time=rfc3339(e.time), release=release, definition=rel.definitions[e.key][0],
                           object=e.key, state=e.state.value, attempt=e.attempt, message=e.message,
                           **({"blockedBy": list(e.blocked_by)} if e.blocked_by else {})))
            if publisher is not None:
                publisher.summary.on_state(e.key, e.state)
                publisher.changed()
        elif isinstance(e, SummaryEvent) and publisher is not None:
            publisher.summary.on_end(e.ok, clock.now())
            publisher.final()

    return on_event


def engine_for(rel: release_mod.Release, cluster: KubeCluster, clock: AsyncioClock, options: Options,
               sink: Callable[[Event], None], resumed: Resumed | None = None) -> Engine:
    """The engine of one run of ``rel`` (both modes build it here): each applied object marked
    (``release.decorated``), Secrets' API errors redacted and
    those whose payload cannot be used failed (``secrets.py``), seeded from the statuses written."""
    return Engine(rel.analysis, rel.graph, SecretsCluster(release_mod.DecoratingCluster(cluster, rel), rel.unusable_payloads),
                  clock, rel.keys, options,
                  sink, seeds=resumed.seeds if resumed is not None else {})


async def record_kinds(cluster: KubeCluster, rel: release_mod.Release,
                       emit: Callable[[str], None]) -> list[dict[str, str]]:
    """Record the kinds this run applies in the ReleaseGraph's ``status.appliedKinds`` (before any
    apply); returns every kind the release ever applied (what a prune lists)."""
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(cluster.pool, removal.record_kinds, cluster, rel)
    except ApiError as e:  # the teardown still finds them through the Definitions
        emit(json_line(time=rfc3339(time.time()), release=rel.name,
                       msg=f"status.appliedKinds of ReleaseGraph {rel.name} not written: {e.code}: {e.message}"))
    return removal.union(removal.applied_kinds(rel.graph_object), removal.kinds_of(rel))


async def prune_after(cluster: KubeCluster, rel: release_mod.Release, kinds: list[dict[str, str]],
                      options: Options, emit: Callable[[str], None]) -> removal.PruneResult:
    """After a run that ended ok (a full reconcile): what no Definition wraps any more goes,
    dependents first."""
    return await removal.prune(cluster, rel.namespace, rel.name, set(rel.definitions), kinds, emit,
                               concurrency=options.concurrency)


def prune_failures(pruned: removal.PruneResult) -> dict[str, str]:
    """What a prune left, and why (the ReleaseGraph's ``status.pruneFailed``)."""
    return {**pruned.failed, **{k: f"kept: its children {', '.join(v)} were not deleted"
                                for k, v in pruned.blocked.items()}}


def prune_fields(pruned: removal.PruneResult | None) -> dict[str, Any]:
    """The ``rollout finished`` log record's account of a prune."""
    if pruned is None:
        return {}
    out: dict[str, Any] = {"pruned": pruned.deleted}
    if not pruned.ok:
        out["pruneFailed"] = prune_failures(pruned)
    return out


def reads_pending(st: dict[str, Any] | None, generation: int) -> bool:
    """Whether a Definition's status as read already says Pending for this run, so the run's first
    write (Pending) would tell nobody anything: ``phase: Pending`` with ``observedGeneration`` 0 (the
    CRD's default: no controller wrote it yet; kstatus reads InProgress, 0 being behind any
    generation) or the generation the run acts on. Anything else (``Ready`` of an older generation
    after an upgrade, a phase of an earlier run) is written Pending at the start of the run."""
    return isinstance(st, dict) and st.get("phase") == "Pending" and st.get("observedGeneration") in (0, generation)


async def take_lease(cluster: KubeCluster, namespace: str, release: str, lease: LeaseOptions,
                     emit: Callable[[str], None], clock: AsyncioClock, stop: threading.Event) -> Lease:
    """Take the release's Lease, waiting while another controller holds it (logged once per holder)."""
    loop = asyncio.get_running_loop()
    held = await loop.run_in_executor(cluster.pool, lambda: lease.lease(cluster.dynamic, namespace, release))
    seen: list[str] = []

    def waiting(holder: str) -> None:
        if holder not in seen:
            seen.append(holder)
            emit(json_line(time=rfc3339(clock.now()), release=release, msg="waiting for the Lease",
                           lease=held.name, holder=holder))

    await loop.run_in_executor(None, held.acquire, stop, waiting)
    emit(json_line(time=rfc3339(clock.now()), release=release, msg="Lease taken", lease=held.name,
                   identity=held.identity))
    return held


async def rollout(api: client.ApiClient, namespace: str, release: str, *, options: Options | None = None,
                  lease: LeaseOptions | None = None, emit: Callable[[str], None] = lambda line: None,
                  sink: Callable[[Event], None] = lambda e: None) -> SummaryEvent:
    """Roll ``release``'s objects out in dependency order; returns the engine's summary.

    With ``lease``, first take the release's Lease (waiting while another controller holds it),
    keep it renewed during the run and give it up at the end; a Lease lost meanwhile stops the
    run (:class:`LeaseLost`). ``emit`` gets the structured log (one JSON line per state change,
    and the summary); ``sink`` every engine event (tests). A release whose graph cannot be read
    raises :class:`~helm_ac.controller.release.ReleaseError`. The release's ReleaseGraph, when it
    has one, gets the run's summary status."""
    options = options or Options()
    loop = asyncio.get_running_loop()
    clock = AsyncioClock(loop)
    cluster = KubeCluster(api, loop, concurrency=options.concurrency)
    stop = threading.Event()
    held: Lease | None = None
    renewing: asyncio.Future[None] | None = None
    try:
        if lease is not None:
            held = await take_lease(cluster, namespace, release, lease, emit, clock, stop)
        rel = await loop.run_in_executor(cluster.pool, release_mod.read, cluster, namespace, release)
        emit(json_line(time=rfc3339(clock.now()), release=release, msg="graph read",
                       definitions=len(rel.definitions), dependencies=rel.graph.number_of_edges()))
        kinds = await record_kinds(cluster, rel, emit)
        writer = StatusWriter(cluster, namespace)
        publisher = None
        if rel.graph_object is not None:
            publisher = GraphPublisher(writer, RunSummary(rel.graph_object, list(rel.definitions), clock.now()),
                                       loop, clock)
        resumed = Resumed.of(rel)  # a restart resumes from the statuses written for the current content
        engine = engine_for(rel, cluster, clock, options,
                            run_events(rel, writer, release, clock, emit, sink, publisher, resumed), resumed)
        run = asyncio.ensure_future(drive(engine))
        # renewed until the end: the last status writes and the prune happen under the Lease too
        renewing = asyncio.ensure_future(_renew(held, loop)) if held is not None else None
        finished = False
        try:
            summary = await while_held(run, renewing)
            finished = True
        finally:
            if not run.done():
                run.cancel()
            if not finished:
                engine.stop()
                if publisher is not None:
                    publisher.cancel()
                # a run that did not finish (Lease lost, cancelled) writes nothing more: another
                # controller may be writing these statuses now
                await loop.run_in_executor(None, writer.close, True)
        pruned = None
        try:
            if summary.ok:  # a full reconcile: what no Definition wraps any more goes, dependents first
                pruned = await while_held(prune_after(cluster, rel, kinds, options, emit), renewing)
                if publisher is not None:
                    publisher.pruned(prune_failures(pruned))
                if not pruned.ok:
                    summary = dataclasses.replace(summary, ok=False)
            await while_held(loop.run_in_executor(None, writer.close, False), renewing)
        except BaseException:  # the Lease lost (or cancelled) while the last statuses go: drop the rest
            await loop.run_in_executor(None, writer.close, True)
            raise
        emit(json_line(time=rfc3339(clock.now()), release=release, msg="rollout finished",
                       ok=summary.ok, statusWriteFailures=writer.failures, statusWrites=dict(writer.written),
                       **prune_fields(pruned)))
        return summary
    except LeaseLost:
        held = None  # not ours any more: nothing to give up
        raise
    finally:
        if renewing is not None and not renewing.done():
            renewing.cancel()
        stop.set()
        cluster.close()
        if held is not None:
            await loop.run_in_executor(None, held.give_up)


async def while_held(work: Awaitable[T], renewing: "asyncio.Future[None] | None") -> T:
    """``work``'s result, unless the Lease renewed by ``renewing`` is lost first: then ``work`` is
    cancelled and :class:`LeaseLost` raised (``renewing`` None: no Lease, just ``work``)."""
    task = asyncio.ensure_future(work)
    waiting: set[asyncio.Future[Any]] = {task, *([renewing] if renewing is not None else [])}
    try:
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            assert renewing is not None
            renewing.result()  # raises LeaseLost
        return task.result()
    finally:
        if not task.done():
            task.cancel()


async def _renew(lease: Lease, loop: asyncio.AbstractEventLoop) -> None:
    """Renew ``lease`` every ``lease.renew`` seconds until cancelled; raises :class:`LeaseLost`."""
    while True:
        await asyncio.sleep(lease.renew)
        await loop.run_in_executor(None, lease.renew_once)
