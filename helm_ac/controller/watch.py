"""``--watch``: the long-running controller of one release (``docs/controller.md``, *One release per
controller*, *Upgrade*).

It takes the release's Lease once and holds it (renewed) for the life of the process, and keeps
list+watch streams open on the release's Definitions, Dependencies and ReleaseGraph (label
selector :func:`~.release.selector`; resumed from their resourceVersion when dropped, listed again
after ``410 Gone``). Whenever one of them changes in a way that matters (created, deleted, a new
``metadata.generation`` or annotations: not the statuses the controller writes itself), it waits
:data:`DEBOUNCE` seconds for the rest of the burst (Helm creates objects one by one) and then looks
at what it holds:

* no ReleaseGraph yet, or part of the graph it describes (:func:`~.release.complete` false): not
  yet (logged once per digest, no error);
* the same graph (digest, and every Definition's and Dependency's generation) as the run it acts
  on: nothing (a finished run stays finished until the graph changes);
* a graph that cannot run (:class:`~.release.ReleaseError`): the current run is stopped and the
  ReleaseGraph's status says ``Stalled`` (reason ``InvalidGraph``, the message naming what to
  fix); the controller waits for the next change;
* a new complete graph: the current run is stopped (:meth:`Engine.stop`) and a new one starts on
  it (superseding it), once the stopped run's calls still on their way have been answered (an
  apply of an object's old body must not land after the new run's apply of its new body);
* the ReleaseGraph deleted (``helm uninstall``) after one was seen, or marked for teardown
  (``appcontroller.k8s/teardown: "true"``, the ``--teardown`` Job's mark; also when seen first:
  a controller restarted meanwhile must not hold the Lease the Job waits for): the run stops, the
  Lease is given up, exit 0.
"""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from kubernetes import client

from helm_ac.controller import release as release_mod
from helm_ac.controller import removal
from helm_ac.controller.lease import Lease, LeaseLost
from helm_ac.controller.run import (GraphPublisher, LeaseOptions, Resumed, _renew, engine_for, json_line, prune_after,
                                    prune_failures, prune_fields, run_events, take_lease)
from helm_ac.controller.status import RunSummary, StatusWriter, graph_status, rfc3339
from helm_ac.engine.cluster import ApiError, Stream, Synced, WatchClosed, WatchEvent, WatchMessage
from helm_ac.engine.events import Event, SummaryEvent
from helm_ac.engine.scheduler import Engine, Options
from helm_ac.kube.aio import AsyncioClock
from helm_ac.kube.cluster import KubeCluster
from helm_ac.output.crds import API_VERSION

#: seconds to wait after a change for the rest of its burst before looking at the graph
DEBOUNCE = 0.1
#: seconds a new run waits at most for the calls of the run it supersedes to be answered
SETTLE_LIMIT = 30.0
#: the annotation ``--teardown`` puts on the ReleaseGraph: this controller stops and gives the Lease up
TEARDOWN_ANNOTATION = "appcontroller.k8s/teardown"
KINDS = ("Definition", "Dependency", "ReleaseGraph")
#: seconds before missing payload Secrets are looked for again, doubled each time up to the cap
PAYLOAD_POLL, PAYLOAD_POLL_CAP = 1.0, 15.0


def _fingerprint(obj: dict[str, Any]) -> tuple[Any, ...]:
    """What of an object makes a difference to the watcher: its generation and annotations (a
    status write changes neither)."""
    meta = obj.get("metadata") or {}
    return meta.get("uid"), meta.get("generation"), tuple(sorted((meta.get("annotations") or {}).items()))


class Informer:
    """List+watch of one kind of the release's objects, on the loop: :attr:`objects` by name,
    :attr:`synced` once the first list is in. Dropped streams resume from their version (at once,
    then with backoff), ``410`` lists again and forgets what the new list does not name."""

    def __init__(self, cluster: KubeCluster, kind: str, namespace: str, selector: str,
                 on_change: Callable[[], None], loop: asyncio.AbstractEventLoop,
                 on_error: Callable[[str], None] = lambda message: None) -> None:
        self.cluster, self.kind, self.namespace, self.selector = cluster, kind, namespace, selector
        self.on_change, self.loop, self.on_error = on_change, loop, on_error
        self.objects: dict[str, dict[str, Any]] = {}
        self.synced = False
        self.version = ""
        self._listing = False
        self._listed: set[str] = set()
        self._handle: Any = None
        self._generation = 0
        self._failures = 0
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = False

    def start(self) -> None:
        self._open()

    def _open(self) -> None:
        self._timer = None
        if self._stopped:
            return
        self._generation += 1
        gen = self._generation
        self._listing = not self.version
        self._listed = set()
        self._handle = self.cluster.watch(Stream(API_VERSION, self.kind, self.namespace), self.version,
                                          lambda m: self._on(gen, m), label_selector=self.selector)

    def _on(self, gen: int, msg: WatchMessage) -> None:
        if gen != self._generation or self._stopped:
            return
        if isinstance(msg, WatchEvent):
            self._failures = 0
            self.version = msg.resource_version or self.version
            if msg.type == "BOOKMARK" or msg.key is None:
                return
            name = msg.key.name
            before = self.objects.get(name)
            if msg.type == "DELETED":
                self.objects.pop(name, None)
                changed = before is not None
            else:
                self.objects[name] = msg.obj
                if self._listing:
                    self._listed.add(name)
                changed = before is None or _fingerprint(before) != _fingerprint(msg.obj)
            if changed and self.synced:
                self.on_change()
        elif isinstance(msg, Synced):
            self._failures = 0
            self.version = msg.resource_version or self.version
            if self._listing:  # what the list did not name is gone
                self._listing = False
                for name in set(self.objects) - self._listed:
                    del self.objects[name]
                self._listed = set()
            self.synced = True
            self.on_change()
        else:
            assert isinstance(msg, WatchClosed)
            self._handle = None
            err = msg.error
            if err is not None and err.code == 410:
                self.version = ""
                self._open()
                return
            self._failures += 1
            if err is not None:
                self.on_error(f"watching the {self.kind} objects failed: {err}")
            delay = 0.0 if err is None and self._failures == 1 else min(0.5 * 2 ** (self._failures - 1), 30.0)
            self._timer = self.loop.call_later(delay, self._open)

    def stop(self) -> None:
        self._stopped = True
        self._generation += 1
        if self._timer is not None:
            self._timer.cancel()
        if self._handle is not None:
            self._handle.stop()
            self._handle = None


@dataclass
class _Run:
    identity: tuple[Any, ...]
    engine: Engine
    publisher: GraphPublisher
    rel: release_mod.Release
    kinds: list[dict[str, str]] = field(default_factory=list)  # every kind the release applied (a prune lists)
    summary: SummaryEvent | None = None
    pruning: "asyncio.Task[None] | None" = None  # the prune after it ended ok


@dataclass
class Watcher:
    """The release's graph, watched; runs started, superseded and stopped as it changes (on the
    loop). :attr:`exit` resolves with the exit status when the release is gone."""

    cluster: KubeCluster
    namespace: str
    release: str
    options: Options
    writer: StatusWriter
    clock: AsyncioClock
    emit: Callable[[str], None]
    sink: Callable[[Event], None] = lambda e: None
    debounce: float = DEBOUNCE
    runs: list[_Run] = field(default_factory=list)  # the current run last, stopped ones with calls out before it

    def __post_init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.exit: asyncio.Future[int] = self.loop.create_future()
        selector = release_mod.selector(self.release)
        self.informers = {kind: Informer(self.cluster, kind, self.namespace, selector, self.changed, self.loop,
                                         self._log_once)
                          for kind in KINDS}
        self.current: _Run | None = None
        self.graph_read = False  # the three lists are in (readiness)
        self._acted_on: tuple[Any, ...] | None = None  # the graph of the current run, or the stalled one
        self._seen_graph = False
        self._said: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._payload_timer: asyncio.TimerHandle | None = None
        self._closed = False

    def _log(self, **fields: Any) -> None:
        self.emit(json_line(time=rfc3339(self.clock.now()), release=self.release, **fields))

    def _log_once(self, message: str, key: str | None = None) -> None:
        """Log ``message`` unless one with the same ``key`` (default: the message) was logged."""
        key = key or message
        if key not in self._said:
            self._said.add(key)
            self._log(msg=message)

    def start(self) -> None:
        for inf in self.informers.values():
            inf.start()

    def changed(self) -> None:
        """Something changed: look again once the burst is over (no polling: one timer at a time)."""
        if self._timer is None and not self._closed:
            self._timer = self.loop.call_later(self.debounce, self.reconcile)

    def reconcile(self) -> None:
        self._timer = None
        if self._closed or not all(inf.synced for inf in self.informers.values()):
            return
        self.graph_read = True
        graph = self.informers["ReleaseGraph"].objects.get(self.release)
        marked = graph is not None and \
            ((graph.get("metadata") or {}).get("annotations") or {}).get(TEARDOWN_ANNOTATION) == "true"
        if graph is None or marked:
            if self._seen_graph or marked:  # (marked: also at start, or a restarted pod would hold the Lease)
                self.stop_run()
                self._log(msg="the release's ReleaseGraph is " + ("marked for teardown" if marked else "deleted")
                          + ": stopping, the Lease is given up")
                if not self.exit.done():
                    self.exit.set_result(0)
            else:
                self._log_once(f"waiting for the ReleaseGraph {self.release} (helm install creates it)")
            return
        self._seen_graph = True
        defs = list(self.informers["Definition"].objects.values())
        deps = list(self.informers["Dependency"].objects.values())
        spec_ = graph.get("spec") or {}
        digest = str(spec_.get("digest") or "")
        if not release_mod.complete(defs, deps, graph):
            have_defs, have_deps = release_mod.current(defs, deps, graph)
            self._log_once(f"graph {digest[:12]} not complete yet: {len(have_defs)} of {spec_.get('definitions')} "
                           f"Definitions, {len(have_deps)} of {spec_.get('dependencies')} Dependencies; waiting",
                           key=f"incomplete {digest}")
            return
        cur_defs, cur_deps = release_mod.current(defs, deps, graph)

        def versions(objs: list[dict[str, Any]]) -> tuple[tuple[str, int], ...]:
            return tuple(sorted((o["metadata"]["name"], int(o["metadata"].get("generation") or 0)) for o in objs))

        # (the uid too: a ReleaseGraph deleted and created again within one burst must own the
        # objects anew, or the garbage collector removes them)
        identity = (digest, int((graph.get("metadata") or {}).get("generation") or 0), versions(cur_defs),
                    versions(cur_deps), (graph.get("metadata") or {}).get("uid"))
        if identity == self._acted_on:
            return
        self._acted_on = identity

        def assemble() -> tuple[release_mod.Release, list[dict[str, str]]]:
            # (blocking: the payload Secrets are read, the applied kinds recorded before any apply)
            rel = release_mod.assemble(self.cluster, self.namespace, self.release, cur_defs, cur_deps, graph)
            try:
                removal.record_kinds(self.cluster, rel)
            except ApiError as e:  # the teardown still finds them through the Definitions
                # (the message made now: ``e`` is unbound once this block ends, before the loop runs the call)
                msg = f"status.appliedKinds of ReleaseGraph {self.release} not written: {e.code}: {e.message}"
                self.loop.call_soon_threadsafe(lambda: self._log(msg=msg))
            return rel, removal.union(removal.applied_kinds(graph), removal.kinds_of(rel))

        def assembled(f: "asyncio.Future[tuple[release_mod.Release, list[dict[str, str]]]]") -> None:
            if self._closed or self._acted_on != identity:
                return  # the graph changed meanwhile: its own reconcile runs it
            exc = f.exception()
            if isinstance(exc, release_mod.ReleaseError):
                self.stop_run()
                message = f"{exc}" + (f" ({exc.hint})" if getattr(exc, "hint", None) else "")
                self._log(msg="the graph cannot run", digest=digest, error=message)
                meta = graph.get("metadata") or {}
                self.writer.write(self.release, graph_status(
                    "Stalled", generation=int(meta.get("generation") or 0), digest=digest, time=self.clock.now(),
                    message=message, previous=self.writer.last(self.release, "ReleaseGraph")), "ReleaseGraph")
                return
            if exc is not None:
                self._acted_on = None  # (not acted on: the next change tries again)
                self._log(msg="the graph could not be read", digest=digest, error=str(exc))
                return
            rel, kinds = f.result()
            self.start_run(rel, identity, kinds)
            if rel.missing_payloads:
                self._await_payloads(identity, rel.missing_payloads, PAYLOAD_POLL)

        self.loop.run_in_executor(self.cluster.pool, assemble).add_done_callback(assembled)

    def _await_payloads(self, identity: tuple[Any, ...], names: list[str], delay: float) -> None:
        """Payload Secrets of the graph were missing (their Secrets' applies fail): Secrets are not
        watched (the Role may only ``get`` them, by name), so they are looked for again after
        ``delay`` (doubled up to :data:`PAYLOAD_POLL_CAP`) while the graph stays the same; once one
        is there, the graph runs again (what is ready is not applied again; the failed Secrets are)."""
        def look() -> None:
            if self._closed or self._acted_on != identity:
                return

            def found(f: "asyncio.Future[dict[str, dict[str, Any] | None]]") -> None:
                if self._closed or self._acted_on != identity:
                    return
                got = {} if f.exception() is not None else f.result()
                arrived = sorted(n for n, obj in got.items() if obj is not None)
                if not arrived:
                    self._await_payloads(identity, names, min(delay * 2, PAYLOAD_POLL_CAP))
                    return
                self._log(msg="payload Secrets arrived: running the graph again", digest=identity[0],
                          secrets=arrived)
                self._acted_on = None
                self.changed()

            self.loop.run_in_executor(self.cluster.pool, lambda: release_mod.read_payloads(
                self.cluster, self.namespace, names, tries=1)).add_done_callback(found)

        self._payload_timer = self.loop.call_later(delay, look)

    def start_run(self, rel: release_mod.Release, identity: tuple[Any, ...],
                  kinds: list[dict[str, str]] | None = None) -> None:
        old = self.current
        superseded = old is not None and old.summary is None
        self.stop_run()
        self._log(msg="graph read", digest=identity[0], definitions=len(rel.definitions),
                  dependencies=rel.graph.number_of_edges(), **({"superseding": True} if superseded else {}))
        self.writer.forget({name for name, _ in rel.definitions.values()})
        summary = RunSummary(rel.graph_object or {}, list(rel.definitions), self.clock.now())
        publisher = GraphPublisher(self.writer, summary, self.loop, self.clock)
        resumed = Resumed.of(rel)  # what is recorded for the current content: not rolled out again in order
        engine = engine_for(rel, self.cluster, self.clock, self.options,
                            run_events(rel, self.writer, self.release, self.clock, self.emit, self.sink, publisher,
                                       resumed), resumed)
        run = _Run(identity, engine, publisher, rel, list(kinds or []))
        engine.on_done = lambda s: self._finished(run, s)
        self.current = run
        # earlier runs are kept only while calls of theirs are on their way
        self.runs = [r for r in self.runs if r.engine.calls_out] + [run]
        stopped = [r.engine for r in self.runs[:-1]]
        if not stopped:
            engine.start()
            return
        # stopped runs' last calls are still on their way: an apply of an object's old body landing
        # after the new run's apply of its new body would win; start once they are all answered (or
        # after SETTLE_LIMIT seconds: a call that never answers must not hold the release)
        self._log(msg="waiting for the superseded run's calls", calls=sum(e.calls_out for e in stopped))
        left = [len(stopped)]
        started: list[bool] = []

        def go() -> None:
            if started or self.current is not run or self._closed:
                return
            started.append(True)
            limit.cancel()
            engine.start()

        def one_settled() -> None:
            left[0] -= 1
            if left[0] == 0:
                go()

        limit = self.loop.call_later(SETTLE_LIMIT, go)
        for e in stopped:
            e.when_settled(one_settled)

    def _finished(self, run: _Run, summary: SummaryEvent) -> None:
        run.summary = summary
        if not summary.ok:
            self._log(msg="rollout finished", digest=run.identity[0], ok=False)
            return

        async def prune() -> None:  # a full reconcile: what no Definition wraps any more goes, dependents first
            pruned = await prune_after(self.cluster, run.rel, run.kinds, self.options, self.emit)
            run.publisher.pruned(prune_failures(pruned))
            self._log(msg="rollout finished", digest=run.identity[0], ok=pruned.ok, **prune_fields(pruned))

        if self.current is run and not self._closed:
            run.pruning = self.loop.create_task(prune())

    def stop_run(self) -> None:
        run, self.current = self.current, None
        if run is not None and run.summary is None:
            run.engine.stop()
            run.publisher.cancel()
            self._log(msg="run stopped", digest=run.identity[0])
        elif run is not None and run.pruning is not None and not run.pruning.done():
            # a new graph: what this prune lists next may be what the new run applies again
            run.pruning.cancel()
            self._log(msg="prune stopped", digest=run.identity[0])

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._payload_timer is not None:
            self._payload_timer.cancel()
        self.stop_run()
        for inf in self.informers.values():
            inf.stop()


@dataclass
class Health:
    """What the health endpoints report (:mod:`.health`): the Lease held, the graph read, and the
    loop's heartbeat (monotonic seconds of its last tick)."""

    lease_held: bool = False
    graph_read: Callable[[], bool] = lambda: False
    heartbeat: float = field(default_factory=time.monotonic)

    @property
    def ready(self) -> bool:
        return self.lease_held and self.graph_read()


async def _beat(health: Health, every: float = 1.0) -> None:
    while True:
        health.heartbeat = time.monotonic()
        await asyncio.sleep(every)


async def watch(api: client.ApiClient, namespace: str, release: str, *, lease: LeaseOptions,
                options: Options | None = None, emit: Callable[[str], None] = lambda line: None,
                sink: Callable[[Event], None] = lambda e: None, health: Health | None = None,
                debounce: float = DEBOUNCE) -> int:
    """Run ``release`` for as long as it exists (module docstring); returns the exit status (0: the
    release was uninstalled). A Lease lost raises :class:`LeaseLost`; cancelling (SIGTERM) stops the
    run and gives the Lease up."""
    options = options or Options()
    loop = asyncio.get_running_loop()
    clock = AsyncioClock(loop)
    cluster = KubeCluster(api, loop, concurrency=options.concurrency)
    stop = threading.Event()
    health = health or Health()
    beating = asyncio.ensure_future(_beat(health))
    held: Lease | None = None
    writer: StatusWriter | None = None
    watcher: Watcher | None = None
    renewing: asyncio.Future[None] | None = None
    try:
        held = await take_lease(cluster, namespace, release, lease, emit, clock, stop)
        health.lease_held = True
        writer = StatusWriter(cluster, namespace)
        watcher = Watcher(cluster, namespace, release, options, writer, clock, emit, sink, debounce)
        health.graph_read = lambda: watcher is not None and watcher.graph_read
        watcher.start()
        renewing = asyncio.ensure_future(_renew(held, loop))
        waiting: list[asyncio.Future[Any]] = [watcher.exit, renewing]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not watcher.exit.done():
            renewing.result()  # raises LeaseLost
        return watcher.exit.result()
    except LeaseLost:
        held = None  # not ours any more: nothing to give up
        health.lease_held = False
        raise
    finally:
        for task in (beating, renewing):
            if task is not None and not task.done():
                task.cancel()
        # a run that was still going writes nothing more, nor does anything once the Lease is lost
        # (another controller writes now) or the release is gone; else what was asked is sent
        discard = held is None or (watcher is not None and (
            watcher.exit.done() or (watcher.current is not None and watcher.current.summary is None)))
        if watcher is not None:
            watcher.close()
        if writer is not None:
            await loop.run_in_executor(None, writer.close, discard)
        stop.set()
        cluster.close()
        if held is not None:
            await loop.run_in_executor(None, held.give_up)
        health.lease_held = False
