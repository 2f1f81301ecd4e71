"""The engine: each object starts the moment its own parents are ready.

No polling and no levels.  The engine reacts to three things: a parent becoming ready (or, on a
``present`` edge, existing), a watch event on an object it waits for, and a timer (an object's
timeout, the run's timeout).  Readiness is :func:`helm_ac.engine.readiness.compute` on the live object.

Failure handling follows AppController's resource ``meta``, without its hang: ``retry`` deletes and
re-creates the object; then ``on-error`` decides: ``abort`` (default) fails the object and blocks
exactly its descendants while independent branches finish; ``ignore`` treats it as ready;
``ignore-all`` skips its descendants and carries on.  Every run ends, with a summary naming what
blocks each unfinished object, and says so (:attr:`Engine.done`, ``on_done``).

The engine is a pure reactor (docs/engine.md): its inputs (call replies, watch messages, timers)
go through one inbox that one loop drains, so a cluster that answers at once cannot make it
recurse; its outputs are requests on the :class:`~.cluster.Cluster` seam, which run concurrently
(each object's calls are independent), and timers on the :class:`~helm_ac.clock.Loop`.  Transient
API errors (429, 5xx, a failed connection) are retried with backoff or as ``Retry-After`` says;
permanent ones fail the attempt.  It watches each kind in each namespace it handles (listing
first; resuming after a dropped stream, listing again after ``410 Gone``), tracks the uid of each
attempt (events of an older object are ignored) and re-creates only once the old object is gone.
"""
from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

import networkx as nx

from helm_ac.analysis.graph import Barrier, Node
from helm_ac.analysis.keys import Keys
from helm_ac.analysis.model import Analysis
from helm_ac.analysis.pods import pod_sources, selects
from helm_ac.engine import readiness
from helm_ac.engine.cluster import (
    Apply,
    ApiError,
    Cluster,
    Delete,
    Reply,
    Stream,
    Synced,
    WatchEvent,
    WatchHandle,
    WatchMessage,
    uid_of,
    version_of,
)
from helm_ac.engine.events import (
    FINAL_STATES,
    Event,
    PlanEvent,
    State,
    StateEvent,
    SummaryEvent,
    Unfinished,
)
from helm_ac.engine.seed import Seed
from helm_ac.clock import Loop, Timer
from helm_ac.extension import spec
from helm_ac.kinds import REPLACED_WHEN_IMMUTABLE, ObjectKey


@dataclass
class Options:
    """Run-wide settings."""

    concurrency: int | None = None  # objects in flight (applying or waiting) at once; None: no limit
    timeout: float | None = None  # the whole run
    default_timeout: float = spec.DEFAULT_TIMEOUT_SECONDS
    # expected seconds per object: under a concurrency limit, queued objects with the longest chain
    # still ahead of them (their own time included) go first (critical-path list scheduling)
    durations: Callable[[ObjectKey], float] | None = None
    # transient API errors: tries of one call before it counts as a failed attempt, and the backoff
    api_tries: int = 8
    backoff: float = 1.0  # seconds before the first retry, doubled each time ...
    backoff_cap: float = 30.0  # ... up to this


def backoff(options: Options, tries: int, error: ApiError | None = None) -> float:
    """Seconds before try ``tries + 1`` of a call: the server's ``Retry-After`` when it gave one,
    else exponential from :attr:`Options.backoff`, capped."""
    if error is not None and error.retry_after is not None:
        return max(float(error.retry_after), 0.0)
    return min(options.backoff * 2 ** max(tries - 1, 0), options.backoff_cap)


@dataclass(slots=True)
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
    uid: str | None = None  # the current attempt's object, once known (apply reply or first event)
    # earlier attempts' objects: their events are ignored (a frozenset replaced on change: most
    # objects never have one, and an empty set each was ~2 MiB at 10,000 objects)
    old_uids: frozenset[str] = frozenset()
    deleting: bool = False  # a retry waits for the old object to be gone
    gone_uid: str | None = None  # ... this one
    tries: int = 0  # of the current call, for transient errors
    # seeded from an earlier run (a restart): attempts granted beyond ``retry`` (one more after a
    # recorded failure), the object found given up or being deleted (deleted before the next
    # attempt), the recorded start of an attempt continued here (its timeout runs from it)
    bonus: int = 0
    stale: str | None = None
    resumed_at: float | None = None
    replacing: bool = False  # this attempt deletes the stale object, then applies
    replaced: bool = False  # this attempt replaced an object whose immutable fields it changes
    # the current attempt's object as the watch showed it before the apply answered: an object that
    # existed already (an upgrade) must not count as applied, so this waits for the apply's answer
    early: dict[str, Any] | None = None


@dataclass
class _Stream:
    """One watch (a kind in a namespace): where it stands, and what it has seen (by key: uid)."""

    stream: Stream
    handle: WatchHandle | None = None
    version: str = ""
    known: dict[ObjectKey, str] = field(default_factory=dict)
    listing: bool = False  # the initial list is coming: what it does not name is gone
    listed: set[ObjectKey] = field(default_factory=set)
    generation: int = 0  # messages of an older watch of this stream are ignored
    failures: int = 0
    error: str = ""  # the last error, for the timeout messages of the objects it covers
    synced: bool = False  # its first list has come


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
    on_done: Callable[[SummaryEvent], None] | None = None  # called once, with the summary, when the run ends
    seeds: dict[ObjectKey, Seed] = field(default_factory=dict)  # what an earlier run recorded (a restart)

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
        self.result: SummaryEvent | None = None
        self._inbox: deque[Callable[[], None]] = deque()
        self._pumping = False
        self._halted = False  # stop(): nothing more in or out
        self._timers: set[Timer] = set()  # pending, for stop() to cancel
        self._out = 0  # calls started and not answered yet
        self._on_settled: list[Callable[[], None]] = []  # after stop(): told when _out is 0
        # the watches: each kind of the graph in each namespace, and Pods where Services wait for endpoints
        self._stream_of: dict[ObjectKey, Stream] = {}
        for key in self.graph:
            if isinstance(key, ObjectKey):
                api = str(self.analysis.objects[key].obj.body.get("apiVersion") or "v1")
                self._stream_of[key] = Stream(api, key.kind, key.namespace)
        wanted = set(self._stream_of.values()) | {Stream("v1", "Pod", svc.namespace) for svc in self._pod_sources}
        self._streams: dict[Stream, _Stream] = {s: _Stream(s) for s in sorted(wanted, key=str)}
        # seeded objects the earlier run had applied: looked at (their stream's first list) before
        # anything else happens to them; what that list showed of them, meanwhile
        self._checking: dict[ObjectKey, Seed] = {}
        self._checked_live: dict[ObjectKey, dict[str, Any]] = {}
        for key, seed in self.seeds.items():
            n = self.nodes.get(key)
            if n is None or not isinstance(key, ObjectKey):
                continue
            n.attempts = max(seed.attempts, 0)
            if seed.state in (State.FAILED, State.TIMED_OUT):  # given up: one more attempt at least
                n.bonus = max(n.attempts - (self.analysis.objects[key].setting("retry") or 0), 0)
            if seed.applied:
                self._checking[key] = seed

    @property
    def done(self) -> bool:
        """The run has ended (every object has a final state); :attr:`result` holds the summary."""
        return self.result is not None

    # ------------------------------------------------------------------ the inbox

    def post(self, fn: Callable[[], None]) -> None:
        """Hand the engine one input; they run one after the other, in order, never nested.  (Not
        thread-safe: a threaded or asyncio face calls it from the loop's thread.)"""
        if self._halted:
            return
        self._inbox.append(fn)
        if self._pumping:
            return
        self._pumping = True
        try:
            while self._inbox:
                self._inbox.popleft()()
        finally:
            self._pumping = False

    def _later(self, delay: float, fn: Callable[[], None]) -> Timer:
        if self._halted:
            t = Timer(self.loop.now() + delay, fn)
            t.cancel()
            return t

        def fire() -> None:
            self._timers.discard(timer)
            self.post(fn)

        timer = self.loop.call_later(delay, fire)
        self._timers.add(timer)
        return timer

    def _cancel(self, timer: Timer) -> None:
        """Cancel a timer of :meth:`_later`: it is not pending any more (kept in ``_timers``, each
        object's cancelled timeout held its callback until the run's end: ~3 MiB at 10,000 objects)."""
        timer.cancel()
        self._timers.discard(timer)

    def _reply_to(self, handler: Callable[..., None], *args: object) -> Callable[[Reply], None]:
        self._out += 1

        def reply(answer: Reply) -> None:
            self._out -= 1
            if self._out == 0 and self._on_settled:
                told, self._on_settled = self._on_settled, []
                for fn in told:
                    fn()
            self.post(partial(handler, *args, answer))

        return reply

    # ------------------------------------------------------------------ setup

    def _rank(self, key: Node) -> tuple[float, str]:
        """Dispatch order among objects free to start: longest chain ahead first, then by name."""
        return -self._ahead.get(key, 0.0), self.nodes[key].name

    def _gate(self, parent: Node, child: Node) -> str:
        return "present" if (parent, child) in self._present_edges else "ready"

    def start(self) -> None:
        """Emit the plan, open the watches and start every object without parents."""
        self.post(self._start)

    def _start(self) -> None:
        self.start_time = self.loop.now()
        objects = tuple(self.nodes[k].name for k in self.analysis.order if k in self.nodes)
        self.sink(PlanEvent(self.start_time, objects, sum(1 for _ in self.graph.edges)))
        for st in self._streams.values():
            self._open(st)
        for n in self.nodes.values():
            n.parents_left = self.graph.in_degree(n.key)
        if self.options.timeout is not None:
            self._run_timer = self._later(self.options.timeout, self._run_timed_out)
        for key in sorted(self.nodes, key=self._rank):
            if self.nodes[key].parents_left == 0:
                self._release(key)
        if self._final == len(self.nodes) and not self.done:
            self._finish()

    # ------------------------------------------------------------------ watches

    def _open(self, st: _Stream) -> None:
        """Watch from where the stream stands: from its version, or (none) listing first."""
        if self.done or self._halted:
            return
        st.listing = not st.version
        st.listed = set()
        st.generation += 1
        gen = st.generation
        st.handle = self.cluster.watch(st.stream, st.version,
                                       lambda m: self.post(partial(self._on_message, st, gen, m)))

    def _on_message(self, st: _Stream, gen: int, msg: WatchMessage) -> None:
        if gen != st.generation or self.done:
            return
        if isinstance(msg, WatchEvent):
            st.failures, st.error = 0, ""
            if msg.type == "BOOKMARK":
                st.version = msg.resource_version or version_of(msg.obj) or st.version
                return
            st.version = msg.resource_version or version_of(msg.obj) or st.version
            key = msg.key
            if key is None:
                return
            uid = uid_of(msg.obj)
            if msg.type == "DELETED":
                if st.known.get(key) == uid:
                    del st.known[key]
            elif uid is not None:
                st.known[key] = uid
                if st.listing:
                    st.listed.add(key)
            self._on_watch(msg)
        elif isinstance(msg, Synced):
            st.failures, st.error = 0, ""
            st.version = msg.resource_version or st.version
            if st.listing:  # a relist: what it did not name was deleted while nobody watched
                st.listing = False
                for key in sorted(set(st.known) - st.listed, key=str):
                    uid = st.known.pop(key)
                    self._on_watch(WatchEvent("DELETED", key, {"metadata": {"name": key.name, "uid": uid}}))
                st.listed = set()
                st.synced = True
                self._resume(st.stream, listed=True)
        else:
            st.handle = None
            err = msg.error
            if err is not None and err.code == 410:  # too old: list again
                st.version = ""
                self._open(st)
                return
            if err is not None:  # the stream cannot list: seeded objects go on without a look
                self._resume(st.stream, listed=False)
            st.failures += 1
            if err is not None:
                st.error = f"watching {st.stream.kind} failed: {err}"
            # dropped: resume at once the first time, then back off (a stream that keeps failing)
            delay = 0.0 if err is None and st.failures == 1 else backoff(self.options, st.failures, err)
            self._later(delay, partial(self._open, st))

    def _live_uid(self, key: ObjectKey) -> str | None:
        return self._streams[self._stream_of[key]].known.get(key)

    # ------------------------------------------------------------------ seeds (a restart)

    def _resume(self, stream: Stream, *, listed: bool) -> None:
        """The stream's first list has come (``listed``; else it failed): each seeded object it
        covers that the earlier run had applied is taken as it is now, whatever its parents (a
        Service waiting for endpoints once the Pods' stream has listed too)."""
        for key in sorted(self._checking, key=str):
            own = self._stream_of[key]
            pods = Stream("v1", "Pod", key.namespace) if key in self._pod_sources else None
            if stream != own and stream != pods:
                continue
            if listed and not all(self._streams[s].synced for s in (own, pods) if s is not None):
                continue
            seed = self._checking.pop(key)
            live = self._checked_live.pop(key, None)
            if not self._streams[own].synced:  # its own stream cannot list: not known
                live = None
            n = self.nodes[key]
            if n.state is not State.PENDING or self._stopped:  # blocked by a failed parent meanwhile
                continue
            self._resume_one(key, seed, live)
            if n.state is State.PENDING and n.parents_left == 0:
                self._release(key)

    def _resume_one(self, key: ObjectKey, seed: Seed, live: dict[str, Any] | None) -> None:
        n = self.nodes[key]
        if live is None:  # absent (or not known): applied as normal when its parents are ready
            if seed.state is State.APPLYING:  # its apply never landed: the same attempt goes on
                n.attempts = max(n.attempts - 1, 0)
                n.resumed_at = seed.attempt_started
            return
        uid = uid_of(live)
        going = bool((live.get("metadata") or {}).get("deletionTimestamp"))
        result = None if going else self._readiness(key, live)
        if result is not None and result.ready:  # ready: at once, its children released as usual
            n.uid = uid
            self._ready(key, result.message)
            return
        if going or seed.state in (State.FAILED, State.TIMED_OUT):
            # given up, or being deleted: the next attempt (when its parents are ready) deletes it first
            n.stale = uid
            left = "being deleted" if going or seed.state is None else seed.state.value
            n.retry_reason = f"after a restart, replacing the object left {left}"
            return
        # applied for this content, not ready (yet): it waits as an applied object, in a slot of its
        # own; an attempt in flight keeps its recorded start, a re-check of a ready one starts now
        self._inflight += 1
        now = self.loop.now()
        started = seed.attempt_started if seed.state is not State.READY and seed.attempt_started is not None else now
        n.started = started
        timeout = self.analysis.objects[key].setting("timeout")
        timeout = timeout if timeout is not None else self.options.default_timeout
        n.timer = self._later(max(timeout - (now - started), 0.0), partial(self._timed_out, key, n.attempts))
        self._applied(key, live)

    # ------------------------------------------------------------- transitions

    def _emit(self, n: _Node, state: State, message: str = "", blocked_by: tuple[str, ...] = ()) -> None:
        final = state in FINAL_STATES
        if final and n.state not in FINAL_STATES:
            self._final += 1
        n.state, n.message, n.blocked_by = state, message, blocked_by
        if final:
            n.finished = self.loop.now()
            if n.timer is not None:
                self._cancel(n.timer)
                n.timer = None
        if isinstance(n.key, ObjectKey):
            self.sink(StateEvent(self.loop.now(), n.name, state, message, n.attempts, blocked_by))
            if final and n.key in self._served_by and state is not State.READY:
                for svc in self._served_by[n.key]:
                    self._later(0.0, partial(self._check_pod_sources, svc))
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
        if key in self._checking:  # seeded: not before its stream has shown what exists (_resume)
            return
        if self.options.concurrency is not None and self._inflight >= self.options.concurrency:
            self._enqueue(key)
            return
        self._launch(key)

    def _enqueue(self, key: ObjectKey) -> None:
        """No slot free: wait in the queue, in dispatch order (:meth:`_rank`, then first come)."""
        self._seq += 1
        heapq.heappush(self._queue, (*self._rank(key), self._seq, key))

    def _launch(self, key: ObjectKey, *, has_slot: bool = False) -> None:
        """Start an attempt: apply the object; its timeout runs from now."""
        n = self.nodes[key]
        if not has_slot:
            self._inflight += 1
        n.attempts += 1
        n.uid, n.tries, n.early, n.replaced = None, 0, None, False
        n.started = n.started if n.started is not None else self.loop.now()
        self._emit(n, State.APPLYING, n.retry_reason)
        n.retry_reason = ""
        timeout = self.analysis.objects[key].setting("timeout")
        timeout = timeout if timeout is not None else self.options.default_timeout
        if n.resumed_at is not None:  # an attempt continued after a restart: its timeout runs from its start
            timeout = max(timeout - (self.loop.now() - n.resumed_at), 0.0)
            n.resumed_at = None
        n.timer = self._later(timeout, partial(self._timed_out, key, n.attempts))
        if n.stale is not None:  # a restart found its object given up or going: delete it first
            n.deleting, n.gone_uid, n.replacing = True, n.stale, True
            n.old_uids = n.old_uids | {n.stale}
            n.stale = None
            self._delete(key, n.attempts)
            return
        self._apply(key, n.attempts)

    def _apply(self, key: ObjectKey, attempt: int) -> None:
        n = self.nodes[key]
        if n.attempts != attempt or n.state is not State.APPLYING or n.deleting or self._stopped:
            return
        self.cluster.call(Apply(key, self.analysis.objects[key].obj.body), self._reply_to(self._on_applied, key, attempt))

    def _on_applied(self, key: ObjectKey, attempt: int, reply: Reply) -> None:
        n = self.nodes[key]
        if n.attempts != attempt or n.state is not State.APPLYING or n.deleting:
            # late: the watch told first (or the attempt is over); keep what it says of the uid
            uid = uid_of(reply.obj)
            if n.attempts == attempt and not n.deleting and n.uid is None and uid not in n.old_uids:
                n.uid = uid
            return
        err = reply.error
        if err is not None:
            if err.immutable and not n.replaced and (key.group, key.kind) in REPLACED_WHEN_IMMUTABLE:
                self._replace(key, attempt, err)
                return
            n.tries += 1
            if err.transient and n.tries < self.options.api_tries:
                self._later(backoff(self.options, n.tries, err), partial(self._apply, key, attempt))
                return
            tries = f" (after {n.tries} tries)" if n.tries > 1 else ""
            self._failed(key, f"API error: {err}{tries}", timed_out=False)
            return
        self._applied(key, reply.obj)

    def _replace(self, key: ObjectKey, attempt: int, err: ApiError) -> None:
        """The update changes what cannot change (``kinds.REPLACED_WHEN_IMMUTABLE``: a Job's Pod
        template): the object is deleted, and applied anew once it is gone, in this attempt and
        its slot; once per attempt (refused again: the attempt fails)."""
        n = self.nodes[key]
        live = self._live_uid(key)
        n.replaced, n.deleting, n.replacing, n.gone_uid, n.tries = True, True, True, live, 0
        if live is not None:
            n.old_uids = n.old_uids | {live}
        self._emit(n, State.APPLYING, f"replacing it: {err.message}")
        self._delete(key, attempt)

    def _applied(self, key: ObjectKey, obj: dict[str, object] | None) -> None:
        """The API has the object: wait for it to be ready (``obj``: as stored, if the reply had it)."""
        n = self.nodes[key]
        self._emit(n, State.WAITING)
        if key in self._pod_sources:
            # ready-when: endpoints: ready when the pods it selects are, which other objects bring: it
            # gives its concurrency slot back once applied, or a limit could deadlock waiting for them.
            self._waiting_services.setdefault(key.namespace, set()).add(key)
            n.passive = True
            self._free_slot()
        if obj is None and n.early is not None and uid_of(n.early) == n.uid:
            obj = n.early  # answered without the object: what the watch showed meanwhile
        n.early = None
        uid = uid_of(obj)
        if obj is not None and uid is not None and uid not in n.old_uids:
            n.uid = uid
            if key in self._pod_sources:
                self._live_services[key] = obj
            self._exists(key)
            self._evaluate(key, obj)
        if key in self._pod_sources and n.state is State.WAITING:
            self._check_pod_sources(key)

    def _on_watch(self, event: WatchEvent) -> None:
        key = event.key
        assert key is not None
        if key in self._checking:
            if event.type == "DELETED":
                self._checked_live.pop(key, None)
            else:
                self._checked_live[key] = event.obj
        n = self.nodes.get(key)
        if n is not None and isinstance(key, ObjectKey):
            uid = uid_of(event.obj)
            if event.type == "DELETED":
                if n.deleting and uid is not None and uid == n.gone_uid:
                    self._gone(key)
            elif uid is not None and uid not in n.old_uids and not n.deleting \
                    and n.state in (State.APPLYING, State.WAITING):
                if n.uid is None:
                    n.uid = uid
                if uid == n.uid:
                    if key in self._pod_sources:
                        self._live_services[key] = event.obj
                    if n.state is State.APPLYING:
                        # before the apply's answer: the object may be the one that existed before
                        # this apply (an upgrade): it exists, but its readiness waits for the answer
                        n.early = event.obj
                    self._exists(key)
                    if n.state is State.WAITING:
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

    def _readiness(self, key: ObjectKey, live: dict[str, Any]) -> readiness.Result:
        info = self.analysis.objects[key]
        related = list(self._pods.get(key.namespace, {}).values()) if key in self._pod_sources else ()
        return readiness.compute(live, success_factor=info.setting("success-factor") or 100,
                                 ready_when=info.setting("ready-when"), related=related)

    def _evaluate(self, key: ObjectKey, live: dict[str, Any]) -> None:
        result = self._readiness(key, live)
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

    def _timed_out(self, key: ObjectKey, attempt: int) -> None:
        n = self.nodes[key]
        if n.attempts != attempt or n.deleting or n.state not in (State.APPLYING, State.WAITING):
            return
        n.timer = None
        why = self._streams[self._stream_of[key]].error
        self._failed(key, "timed out waiting to become ready" + (f" ({why})" if why else ""), timed_out=True)

    def _failed(self, key: ObjectKey, message: str, *, timed_out: bool) -> None:
        n = self.nodes[key]
        info = self.analysis.objects[key]
        retries = info.setting("retry") or 0
        if n.timer is not None:
            self._cancel(n.timer)
            n.timer = None
        if n.attempts <= retries + n.bonus:
            # not final: the object is deleted, and applied again once it is gone (its slot kept)
            n.retry_reason = f"retry {n.attempts}/{retries} after: {message}"
            n.deleting, n.gone_uid, n.tries = True, n.uid, 0
            if n.uid is not None:
                n.old_uids = n.old_uids | {n.uid}
            n.uid = None
            self._delete(key, n.attempts)
            return
        self._give_up(key, message, timed_out=timed_out)

    def _delete(self, key: ObjectKey, attempt: int) -> None:
        n = self.nodes[key]
        if n.attempts == attempt and n.deleting and not self._stopped:
            self.cluster.call(Delete(key, n.gone_uid), self._reply_to(self._on_deleted, key, attempt))

    def _on_deleted(self, key: ObjectKey, attempt: int, reply: Reply) -> None:
        n = self.nodes[key]
        if n.attempts != attempt or not n.deleting:
            return
        err = reply.error
        if err is not None and err.code not in (404, 409):  # 409: the uid precondition: that one is gone
            n.tries += 1
            if err.transient and n.tries < self.options.api_tries:
                self._later(backoff(self.options, n.tries, err), partial(self._delete, key, attempt))
                return
            n.deleting = False
            self._give_up(key, f"{n.retry_reason}; cannot delete it to retry: API error: {err}", timed_out=False)
            return
        live = self._live_uid(key)
        if live is None or (n.gone_uid is not None and live != n.gone_uid):
            self._gone(key)
        elif n.gone_uid is None:  # it appeared unseen by this attempt: wait for that one to go
            n.gone_uid = live
            n.old_uids = n.old_uids | {live}
        # else: the watch will say when it is gone (finalizers, graceful deletion)

    def _gone(self, key: ObjectKey) -> None:
        """The old object is gone: apply it again (the slot it held is its own)."""
        n = self.nodes[key]
        n.deleting, n.gone_uid = False, None
        if n.replacing:  # the stale object a restart found is gone: this attempt applies now
            n.replacing = False
            self._apply(key, n.attempts)
            return
        if n.parents_left > 0:  # seeded, it waited before its parents were ready: its retry waits for them
            self._waiting_services.get(key.namespace, set()).discard(key)
            holds_slot, n.passive = not n.passive, False
            self._emit(n, State.PENDING, n.retry_reason)
            if holds_slot:
                self._free_slot()
            return
        if n.passive:  # a Service waiting for endpoints gave its slot back: it queues for one again
            n.passive = False
            self._waiting_services.get(key.namespace, set()).discard(key)
            if self.options.concurrency is not None and self._inflight >= self.options.concurrency:
                n.state = State.PENDING
                self._enqueue(key)
                return
            self._launch(key)
            return
        self._launch(key, has_slot=True)

    def _give_up(self, key: ObjectKey, message: str, *, timed_out: bool) -> None:
        """No retry left: ``on-error`` decides."""
        n = self.nodes[key]
        policy = self.analysis.objects[key].setting("on-error") or "abort"
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
                n.deleting = False
                self._settle(key, State.TIMED_OUT, "the run timed out")
            elif n.state is State.PENDING:
                self._emit(n, State.BLOCKED, "the run timed out", ("timeout",))

    # ------------------------------------------------------------------ stop

    @property
    def stopped(self) -> bool:
        """:meth:`stop` was called."""
        return self._halted

    @property
    def calls_out(self) -> int:
        """Calls started and not answered yet."""
        return self._out

    def when_settled(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` (once) when every call the engine started has been answered: at once when
        none is out. After :meth:`stop` this tells when nothing of this run can land any more (a
        run superseding it must not race its last applies)."""
        if self._out == 0:
            fn()
        else:
            self._on_settled.append(fn)

    def stop(self) -> None:
        """End the run where it stands (a newer graph supersedes it, the controller shuts down):
        once this returns, no event is emitted (the sink and ``on_done`` are never called again, no
        summary), no cluster call is started, every timer of the engine is cancelled, every watch
        is stopped, and whatever still arrives (late replies, watch messages, inputs queued in the
        inbox) is dropped. Calls already on their way are not taken back. Idempotent; callable from
        anywhere on the loop's thread, the engine's own sink included. :attr:`done` stays False."""
        if self._halted:
            return
        self._halted = True
        self._stopped = True  # guards what the input being handled (stop called from the sink) still does
        self.sink = lambda e: None
        self.on_done = None
        self._inbox.clear()
        self._queue.clear()
        for t in list(self._timers):
            t.cancel()
        self._timers.clear()
        for n in self.nodes.values():
            if n.timer is not None:
                n.timer.cancel()
                n.timer = None
        if self._run_timer is not None:
            self._run_timer.cancel()
            self._run_timer = None
        for st in self._streams.values():
            st.generation += 1
            if st.handle is not None:
                st.handle.stop()
                st.handle = None

    # ------------------------------------------------------------------ result

    def _finish(self) -> None:
        """Every object has a final state: stop watching, send the summary, say so."""
        if self._halted:
            return
        if self._run_timer is not None:
            self._cancel(self._run_timer)
            self._run_timer = None
        self.end_time = self.loop.now()
        for st in self._streams.values():
            st.generation += 1
            if st.handle is not None:
                st.handle.stop()
                st.handle = None
        summary = self.summary()
        if self.on_done is not None:
            self.on_done(summary)

    def summary(self) -> SummaryEvent:
        """The outcome, sent to the sink once and returned: at the end of the run, or (a run that
        has not ended: its loop ran dry) when asked."""
        if self.result is not None:
            return self.result
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
        if self.end_time is not None:
            self.result = event
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
