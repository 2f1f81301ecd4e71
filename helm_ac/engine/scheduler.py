"""The engine: each object starts the moment its own parents are ready.

No polling and no levels.  The engine reacts to three things: a parent becoming ready (or, on a
``present`` edge, existing), a watch event on an object it waits for, and a timer (an object's
timeout, the run's timeout).  Readiness is :func:`helm_ac.engine.readiness.compute` on the live object.

Failure handling follows AppController's resource ``meta``, without its hang: ``retry`` deletes and
re-creates the object; then ``on-error`` decides: ``abort`` (default) fails the object and blocks
exactly its descendants while independent branches finish; ``ignore`` treats it as ready;
``ignore-all`` skips its descendants and carries on.  Every run ends, with a summary naming what
blocks each unfinished object.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

import networkx as nx

from helm_ac.analysis.graph import Barrier, Node
from helm_ac.analysis.keys import Keys
from helm_ac.analysis.model import Analysis
from helm_ac.analysis.pods import pod_sources, selects
from helm_ac.engine import readiness
from helm_ac.engine.cluster import ApiError, Cluster, WatchEvent
from helm_ac.engine.events import (
    FINAL_STATES,
    Event,
    PlanEvent,
    State,
    StateEvent,
    SummaryEvent,
    Unfinished,
)
from helm_ac.clock import Loop, Timer
from helm_ac.extension import spec
from helm_ac.kinds import ObjectKey


@dataclass
class Options:
    """Run-wide settings."""

    concurrency: int | None = None  # objects in flight (applying or waiting) at once; None: no limit
    timeout: float | None = None  # the whole run
    default_timeout: float = spec.DEFAULT_TIMEOUT_SECONDS
    # expected seconds per object: under a concurrency limit, queued objects with the longest chain
    # still ahead of them (their own time included) go first (critical-path list scheduling)
    durations: Callable[[ObjectKey], float] | None = None


@dataclass
class _Node:
    key: Node
    name: str
    state: State = State.PENDING
    parents_left: int = 0
    attempts: int = 0
    timer: Timer | None = None
    ignored: bool = False  # failed, but on-error let its children go on
    passive: bool = False  # waiting without holding a concurrency slot (Services)
    retry_reason: str = ""
    blocked_by: tuple[str, ...] = ()
    message: str = ""
    started: float | None = None
    finished: float | None = None


@dataclass
class Engine:
    """Runs one install of a graph against a cluster."""

    analysis: Analysis
    graph: nx.DiGraph
    cluster: Cluster
    loop: Loop
    keys: Keys
    options: Options = field(default_factory=Options)
    sink: Callable[[Event], None] = lambda e: None

    def __post_init__(self) -> None:
        self.nodes: dict[Node, _Node] = {n: _Node(n, self.keys.key(n)) for n in self.graph}
        self._by_name = {n.name: n for n in self.nodes.values()}  # blocked_by names nodes
        self._inflight = 0
        self._queue: list[tuple[float, str, int, ObjectKey]] = []  # (-chain ahead, name, seq, key)
        self._ahead: dict[Node, float] = {}
        if self.options.durations is not None and self.options.concurrency is not None:
            seconds = self.options.durations
            for n in reversed(list(nx.topological_sort(self.graph))):
                own = seconds(n) if isinstance(n, ObjectKey) else 0.0
                self._ahead[n] = own + max((self._ahead[c] for c in self.graph.successors(n)), default=0.0)
        self._seq = 0
        self._run_timer: Timer | None = None
        self._waiting_services: dict[str | None, set[ObjectKey]] = {}
        # Services with ready-when: endpoints, and the chart's objects that bring the pods they select
        self._pod_sources: dict[ObjectKey, list[ObjectKey]] = {}
        self._served_by: dict[ObjectKey, list[ObjectKey]] = {}
        self._live_services: dict[ObjectKey, dict[str, Any]] = {}  # their last watch event: no GET per pod
        for key in self.graph:
            if isinstance(key, ObjectKey) and key.kind == "Service" and key.group == "" \
                    and readiness.waits_for_endpoints(self.analysis.objects[key].setting("ready-when")):
                sources = pod_sources(self.analysis, key)
                self._pod_sources[key] = sources
                for src in sources:
                    self._served_by.setdefault(src, []).append(key)
        self._pods: dict[str | None, dict[str, dict[str, Any]]] = {}  # from watch events: no LIST calls
        self._present_done: set[tuple[Node, Node]] = set()
        self._present_edges = {(p, c) for p, c, d in self.graph.edges(data=True)
                               if {w.gate for w in d["why"]} == {"present"}}
        self._children = {n: sorted(self.graph.successors(n), key=self._rank) for n in self.graph}
        self._final = 0
        self._stopped = False
        self.start_time = 0.0
        self.end_time: float | None = None

    # ------------------------------------------------------------------ setup

    def _rank(self, key: Node) -> tuple[float, str]:
        """Dispatch order among objects free to start: longest chain ahead first, then by name."""
        return -self._ahead.get(key, 0.0), self.nodes[key].name

    def _gate(self, parent: Node, child: Node) -> str:
        return "present" if (parent, child) in self._present_edges else "ready"

    def start(self) -> None:
        """Emit the plan, subscribe to changes and start every object without parents."""
        self.start_time = self.loop.now()
        self.cluster.watch(self._on_watch)
        objects = tuple(self.nodes[k].name for k in self.analysis.order if k in self.nodes)
        self.sink(PlanEvent(self.start_time, objects, sum(1 for _ in self.graph.edges)))
        for n in self.nodes.values():
            n.parents_left = self.graph.in_degree(n.key)
        if self.options.timeout is not None:
            self._run_timer = self.loop.call_later(self.options.timeout, self._run_timed_out)
        for key in sorted(self.nodes, key=self._rank):
            if self.nodes[key].parents_left == 0:
                self._release(key)

    # ------------------------------------------------------------- transitions

    def _emit(self, n: _Node, state: State, message: str = "", blocked_by: tuple[str, ...] = ()) -> None:
        final = state in FINAL_STATES
        if final and n.state not in FINAL_STATES:
            self._final += 1
        n.state, n.message, n.blocked_by = state, message, blocked_by
        if final:
            n.finished = self.loop.now()
            if n.timer is not None:
                n.timer.cancel()
                n.timer = None
        if isinstance(n.key, ObjectKey):
            self.sink(StateEvent(self.loop.now(), n.name, state, message, n.attempts, blocked_by))
            if final and n.key in self._served_by and state is not State.READY:
                for svc in self._served_by[n.key]:
                    self.loop.call_later(0.0, partial(self._check_pod_sources, svc))
        if final and self._final == len(self.nodes):
            self._finish()

    def _release(self, key: Node) -> None:
        """All parents satisfied: barriers are ready at once, objects are queued to start."""
        n = self.nodes[key]
        if n.state is not State.PENDING or self._stopped:
            return
        if isinstance(key, Barrier):
            self._emit(n, State.READY)
            self._satisfy_children(key)
            return
        if self.options.concurrency is not None and self._inflight >= self.options.concurrency:
            self._enqueue(key)
            return
        self._launch(key)

    def _enqueue(self, key: ObjectKey) -> None:
        """No slot free: wait in the queue, in dispatch order (:meth:`_rank`, then first come)."""
        self._seq += 1
        heapq.heappush(self._queue, (*self._rank(key), self._seq, key))

    def _launch(self, key: ObjectKey) -> None:
        n = self.nodes[key]
        self._inflight += 1
        n.attempts += 1
        n.started = n.started if n.started is not None else self.loop.now()
        self._emit(n, State.APPLYING, n.retry_reason)
        n.retry_reason = ""
        info = self.analysis.objects[key]
        try:
            self.cluster.apply(key, info.obj.body)
        except ApiError as exc:
            self._failed(key, f"API error: {exc}", timed_out=False)
            return
        timeout = info.setting("timeout")
        n.timer = self.loop.call_later(timeout if timeout is not None else self.options.default_timeout,
                                       lambda: self._timed_out(key))
        self._emit(n, State.WAITING)
        if key in self._pod_sources:
            # ready-when: endpoints: ready when the pods it selects are, which other objects bring: it
            # gives its concurrency slot back once applied, or a limit could deadlock waiting for them.
            self._waiting_services.setdefault(key.namespace, set()).add(key)
            n.passive = True
            self._free_slot()
        live = self.cluster.get(key)
        if live is not None:
            self._exists(key)
            self._evaluate(key, live)
        if key in self._pod_sources and n.state is State.WAITING:
            self._check_pod_sources(key)

    def _on_watch(self, event: WatchEvent) -> None:
        key = event.key
        if key in self._pod_sources:
            if event.type == "DELETED":
                self._live_services.pop(key, None)
            else:
                self._live_services[key] = event.obj
        if key in self.nodes and event.type != "DELETED":
            self._exists(key)
            if self.nodes[key].state is State.WAITING:
                self._evaluate(key, event.obj)
        if key.kind == "Pod" and key.group == "":
            pods = self._pods.setdefault(key.namespace, {})
            if event.type == "DELETED":
                pods.pop(key.name, None)
            else:
                pods[key.name] = event.obj
            labels = (event.obj.get("metadata") or {}).get("labels") or {}
            for svc in sorted(self._waiting_services.get(key.namespace, ())):
                selector = (self.analysis.objects[svc].obj.body.get("spec") or {}).get("selector") or {}
                if self.nodes[svc].state is State.WAITING and selects(selector, labels):
                    live = self._live_services.get(svc)
                    if live is not None:
                        self._evaluate(svc, live)

    def _exists(self, key: ObjectKey) -> None:
        """The object exists: children waiting only for its presence may start."""
        if not self._present_edges or self.nodes[key].state in FINAL_STATES:
            return
        for child in self.graph.successors(key):
            if (key, child) in self._present_edges:
                self._satisfy(key, child)

    def _evaluate(self, key: ObjectKey, live: dict[str, Any]) -> None:
        info = self.analysis.objects[key]
        related = list(self._pods.get(key.namespace, {}).values()) if key in self._pod_sources else ()
        result = readiness.compute(live, success_factor=info.setting("success-factor") or 100,
                                   ready_when=info.setting("ready-when"), related=related)
        if result.ready:
            self._ready(key, result.message)
        elif result.failed:
            self._failed(key, result.message, timed_out=False)

    def _check_pod_sources(self, svc: ObjectKey) -> None:
        """A Service waiting for endpoints whose every pod source in the chart has ended without
        becoming ready can no longer become ready: it is blocked, naming them, and so is what
        depends on it (instead of waiting for its own timeout)."""
        n = self.nodes[svc]
        sources = self._pod_sources[svc]
        if n.state is not State.WAITING or not sources:
            return
        ended = [self.nodes[s] for s in sources]
        if not all(s.state.final and s.state is not State.READY for s in ended):
            return
        why = "; ".join(f"{s.name} {s.state.value}" + (f" ({s.message})" if s.message else "") for s in ended)
        # skipped (on-error: ignore-all upstream) when all of them were: the run goes on without it
        state = State.SKIPPED if all(s.state is State.SKIPPED for s in ended) else State.BLOCKED
        self._settle(svc, state, f"the pods it selects will not come: {why}", tuple(s.name for s in ended))
        roots = self._root_failures(svc)
        self._close_descendants(svc, state, f" (after {', '.join(roots)})" if roots else "")

    def _ready(self, key: ObjectKey, message: str) -> None:
        self._settle(key, State.READY, message)
        self._satisfy_children(key)

    def _satisfy_children(self, key: Node) -> None:
        for child in self._children[key]:
            self._satisfy(key, child)

    def _satisfy(self, parent: Node, child: Node) -> None:
        """One edge is satisfied (a present-gated edge only once: at existence or, failing that, later)."""
        if self._gate(parent, child) == "present":
            if (parent, child) in self._present_done:
                return
            self._present_done.add((parent, child))
        c = self.nodes[child]
        c.parents_left -= 1
        if c.parents_left == 0:
            self._release(child)

    def _settle(self, key: ObjectKey, state: State, message: str, blocked_by: tuple[str, ...] = ()) -> None:
        """An object in flight reaches a final state; its slot goes to the next queued object."""
        n = self.nodes[key]
        holds_slot = n.state in (State.APPLYING, State.WAITING) and not n.passive
        self._emit(n, state, message, blocked_by)
        self._waiting_services.get(key.namespace, set()).discard(key)
        n.passive = False
        if holds_slot:
            self._free_slot()

    def _free_slot(self) -> None:
        self._inflight -= 1
        while self._queue and (self.options.concurrency is None or self._inflight < self.options.concurrency):
            nxt = heapq.heappop(self._queue)[3]
            if self.nodes[nxt].state is State.PENDING:
                self._launch(nxt)

    def _timed_out(self, key: ObjectKey) -> None:
        n = self.nodes[key]
        n.timer = None
        if n.state is State.WAITING:
            self._failed(key, "timed out waiting to become ready", timed_out=True)

    def _failed(self, key: ObjectKey, message: str, *, timed_out: bool) -> None:
        n = self.nodes[key]
        info = self.analysis.objects[key]
        retries = info.setting("retry") or 0
        if n.timer is not None:
            n.timer.cancel()
            n.timer = None
        if n.attempts <= retries:
            # not final: the object goes back to the start, and says why when it is applied again
            if not n.passive:
                self._inflight -= 1
            n.passive = False
            self.cluster.delete(key)
            n.retry_reason = f"retry {n.attempts}/{retries} after: {message}"
            if self.options.concurrency is not None and self._inflight >= self.options.concurrency:
                n.state = State.PENDING
                self._enqueue(key)
                return
            self._launch(key)
            return
        policy = info.setting("on-error") or "abort"
        self._settle(key, State.TIMED_OUT if timed_out else State.FAILED,
                     message + ("" if policy == "abort" else f" (on-error: {policy})"))
        if policy == "ignore":
            n.ignored = True
            self._satisfy_children(key)
        elif policy == "ignore-all":
            n.ignored = True
            self._close_descendants(key, State.SKIPPED)
        else:
            self._close_descendants(key, State.BLOCKED)

    def _root_failures(self, key: Node) -> list[str]:
        """The failures behind a blocked object, through what blocked it: ``job/migrate failed``."""
        by_name = self._by_name
        out: list[str] = []
        stack, seen = list(self.nodes[key].blocked_by), set()
        while stack:
            name = stack.pop()
            n = by_name.get(name)
            if n is None or name in seen:
                continue
            seen.add(name)
            if n.state in (State.FAILED, State.TIMED_OUT):
                out.append(f"{name} {n.state.value}")
            stack.extend(n.blocked_by)
        return sorted(out)

    def _close_descendants(self, key: Node, state: State, cause: str = "") -> None:
        """Every descendant that has not started will not: blocked (abort) or skipped (ignore-all)."""
        name = self.nodes[key].name
        for d in sorted(nx.descendants(self.graph, key), key=lambda x: self.nodes[x].name):
            dn = self.nodes[d]
            if dn.state is State.PENDING:
                self._queue = [q for q in self._queue if q[3] != d]
                heapq.heapify(self._queue)
                self._emit(dn, state, f"{'blocked' if state is State.BLOCKED else 'skipped'} by {name}{cause}",
                           (name,))

    def _run_timed_out(self) -> None:
        self._stopped = True
        self._queue.clear()
        for key in sorted(self.nodes, key=lambda k: self.nodes[k].name):
            n = self.nodes[key]
            if isinstance(key, ObjectKey) and n.state in (State.APPLYING, State.WAITING):  # barriers never apply
                self._settle(key, State.TIMED_OUT, "the run timed out")
            elif n.state is State.PENDING:
                self._emit(n, State.BLOCKED, "the run timed out", ("timeout",))

    # ------------------------------------------------------------------ result

    def _finish(self) -> None:
        if self._run_timer is not None:
            self._run_timer.cancel()
            self._run_timer = None
        self.end_time = self.loop.now()

    def summary(self) -> SummaryEvent:
        """The outcome; sent to the sink and returned.  Call once the loop has nothing left to do."""
        counts: dict[str, int] = {}
        unfinished = []
        ok = True
        for key in sorted((k for k in self.nodes if isinstance(k, ObjectKey)), key=lambda k: self.nodes[k].name):
            n = self.nodes[key]
            counts[n.state.value] = counts.get(n.state.value, 0) + 1
            if n.state is State.READY:
                continue
            if n.state in (State.FAILED, State.TIMED_OUT) and n.ignored:
                unfinished.append(Unfinished(n.name, n.state, f"{n.message}"))
                continue
            if n.state is not State.SKIPPED:
                ok = False
            unfinished.append(Unfinished(n.name, n.state, self._why(key)))
        end = self.end_time if self.end_time is not None else self.loop.now()
        event = SummaryEvent(end, ok, counts, tuple(unfinished), end - self.start_time)
        self.sink(event)
        return event

    def _why(self, key: Node) -> str:
        n = self.nodes[key]
        if n.state in (State.FAILED, State.TIMED_OUT):
            return n.message
        if n.state in (State.BLOCKED, State.SKIPPED):
            return n.message
        waiting = [self.nodes[p].name for p in self.graph.predecessors(key) if self.nodes[p].state is not State.READY]
        return f"{n.state.value}: waiting for {', '.join(sorted(waiting))}" if waiting else n.state.value
