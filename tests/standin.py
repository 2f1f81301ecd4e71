"""A synchronous stand-in for a Kubernetes API behind the engine's Cluster seam.

It answers every call before :meth:`StandIn.call` returns (a real cluster, for objects ready on
existence, is that fast), delivers watch events inside the write that makes them, keeps a short
history for resourceVersion resume (``410`` once it is forgotten), honours finalizers and uid
preconditions, and plays a tiny Job controller (a Job completes, or fails, ``seconds`` after each
apply).  Faults: queued errors per call, dropped or expired watches, injected (stale) events.
"""
from __future__ import annotations

import copy
import itertools
from collections import Counter
from typing import Any, Callable

from helm_ac.clock import VirtualLoop
from helm_ac.engine.cluster import (
    ApiError,
    Apply,
    Delete,
    Get,
    Reply,
    Request,
    Stream,
    Synced,
    WatchClosed,
    WatchEvent,
    WatchMessage,
)
from helm_ac.kinds import ObjectKey


def _key(obj: dict[str, Any]) -> ObjectKey:
    group = str(obj["apiVersion"]).rpartition("/")[0]
    meta = obj["metadata"]
    return ObjectKey(group, obj["kind"], meta.get("namespace"), meta["name"])


class _Watch:
    def __init__(self, standin: "StandIn", stream: Stream, sink: Callable[[WatchMessage], None]) -> None:
        self.standin, self.stream, self.sink = standin, stream, sink

    def covers(self, obj: dict[str, Any]) -> bool:
        s = self.stream
        return (obj["apiVersion"], obj["kind"]) == (s.api_version, s.kind) and \
            (s.namespace is None or obj["metadata"].get("namespace") == s.namespace)

    def stop(self) -> None:
        if self in self.standin.watches:
            self.standin.watches.remove(self)


class StandIn:
    """The Cluster seam, in memory, answering at once (or after ``latency`` on the loop)."""

    def __init__(self, loop: VirtualLoop, *, seconds: Callable[[ObjectKey], float] = lambda k: 0.0,
                 fail_attempts: dict[ObjectKey, int] | None = None, latency: float = 0.0) -> None:
        self.loop, self.seconds, self.latency = loop, seconds, latency
        self.fail_attempts = fail_attempts or {}
        self.objects: dict[ObjectKey, dict[str, Any]] = {}
        self.history: list[tuple[int, str, dict[str, Any]]] = []
        self.floor = 0  # resuming from a version below this answers 410
        self.rv = 0
        self.uids = (f"uid-{i}" for i in itertools.count(1))
        self.watches: list[_Watch] = []
        self.errors: dict[tuple[str, ObjectKey], list[ApiError]] = {}
        self.calls: Counter[str] = Counter()
        self.log: list[tuple[float, str, ObjectKey]] = []  # (time, verb, key) of every call, when made
        self.attempts: Counter[ObjectKey] = Counter()
        self.refuse_watch: dict[str, ApiError] = {}  # kind -> the error its watches end with at once

    # -- the seam

    def call(self, request: Request, reply: Callable[[Reply], None]) -> None:
        self.log.append((self.loop.now(), type(request).__name__.lower(), request.key))
        if self.latency:
            self.loop.call_later(self.latency, lambda: reply(self._answer(request)))
        else:
            reply(self._answer(request))

    def watch(self, stream: Stream, resource_version: str, sink: Callable[[WatchMessage], None]) -> _Watch:
        self.calls["watch"] += 1
        w = _Watch(self, stream, sink)
        refused = self.refuse_watch.get(stream.kind)
        if refused is not None:
            sink(WatchClosed(refused))
            return w
        if resource_version:
            if int(resource_version) < self.floor:
                sink(WatchClosed(ApiError(410, f"too old resource version: {resource_version}")))
                return w
            self.watches.append(w)
            for rv, type_, obj in self.history:
                if rv > int(resource_version) and w.covers(obj):
                    sink(WatchEvent(type_, _key(obj), obj, str(rv)))
            return w
        self.watches.append(w)
        for obj in list(self.objects.values()):
            if w.covers(obj):
                sink(WatchEvent("ADDED", _key(obj), obj, obj["metadata"]["resourceVersion"]))
        sink(Synced(str(self.rv)))
        return w

    # -- the API

    def _answer(self, request: Request) -> Reply:
        verb = type(request).__name__.lower()
        self.calls[verb] += 1
        queued = self.errors.get((verb, request.key))
        if queued:
            return Reply(error=queued.pop(0))
        if isinstance(request, Apply):
            return Reply(self._apply(request.key, request.obj))
        if isinstance(request, Get):
            return Reply(self.objects.get(request.key))
        return self._delete(request)

    def _apply(self, key: ObjectKey, body: dict[str, Any]) -> dict[str, Any]:
        old = self.objects.get(key)
        obj = copy.deepcopy(body)
        meta = obj["metadata"]
        if key.namespace:
            meta["namespace"] = key.namespace
        if old is None:
            meta["uid"] = next(self.uids)
            self.attempts[key] += 1
            obj = self._write("ADDED", obj)
            if key.kind == "Job":
                attempt, uid = self.attempts[key], meta["uid"]
                self.loop.call_later(self.seconds(key), lambda: self._finish_job(key, uid, attempt))
            return obj
        meta["uid"] = old["metadata"]["uid"]
        obj["status"] = old.get("status", {})
        return self._write("MODIFIED", obj)

    def _finish_job(self, key: ObjectKey, uid: str, attempt: int) -> None:
        live = self.objects.get(key)
        if live is None or live["metadata"]["uid"] != uid or live["metadata"].get("deletionTimestamp"):
            return
        failed = attempt <= self.fail_attempts.get(key, 0)
        self.set_status(key, {"failed": 1, "conditions": [{"type": "Failed", "status": "True"}]} if failed
                        else {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})

    def _delete(self, request: Delete) -> Reply:
        live = self.objects.get(request.key)
        if live is None:
            return Reply(error=ApiError(404, f"{request.key} not found"))
        if request.uid and live["metadata"]["uid"] != request.uid:
            return Reply(error=ApiError(409, "Precondition failed: UID"))
        if live["metadata"].get("finalizers"):
            if not live["metadata"].get("deletionTimestamp"):
                live = {**live, "metadata": {**live["metadata"], "deletionTimestamp": "now"}}
                self._write("MODIFIED", live)
            return Reply()
        self._remove(request.key)
        return Reply()

    # -- writes and their events

    def _write(self, type_: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        key = _key(obj)
        if type_ == "DELETED":
            del self.objects[key]
        else:
            self.objects[key] = obj
        self.history.append((self.rv, type_, obj))
        for w in list(self.watches):
            if w.covers(obj):
                w.sink(WatchEvent(type_, key, obj, str(self.rv)))
        return obj

    def remove(self, key: ObjectKey) -> None:
        self._remove(key)

    def _remove(self, key: ObjectKey) -> None:
        self._write("DELETED", copy.deepcopy(self.objects[key]))

    # -- what the tests do to it

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """An object made by someone else (before the engine started, or meanwhile)."""
        obj = copy.deepcopy(obj)
        key = _key(obj)
        old = self.objects.get(key)
        obj["metadata"]["uid"] = old["metadata"]["uid"] if old else next(self.uids)
        return self._write("MODIFIED" if old else "ADDED", obj)

    def set_status(self, key: ObjectKey, status: dict[str, Any]) -> None:
        self._write("MODIFIED", {**copy.deepcopy(self.objects[key]), "status": status})

    def release(self, key: ObjectKey) -> None:
        """Remove the object's finalizers: a deletion under way completes."""
        live = self.objects.get(key)
        if live is None:
            return
        live = {**live, "metadata": {**live["metadata"], "finalizers": []}}
        if live["metadata"].get("deletionTimestamp"):
            self._remove(key)
        else:
            self._write("MODIFIED", live)

    def fail_next(self, verb: str, key: ObjectKey, *errors: ApiError) -> None:
        self.errors.setdefault((verb, key), []).extend(errors)

    def drop_watches(self, *, expired: bool = False, meanwhile: Callable[[], None] = lambda: None) -> int:
        """Every watch ends; ``meanwhile`` runs after the streams broke and before the client
        hears of it; ``expired``: the history is forgotten (resuming answers 410)."""
        dropped, self.watches = self.watches, []
        meanwhile()
        if expired:
            self.floor = self.rv + 1
        for w in dropped:
            w.sink(WatchClosed(ApiError(410, "too old resource version") if expired else None))
        return len(dropped)

    def inject(self, event: WatchEvent) -> None:
        """A late event (e.g. of an object already gone), as a lagging watch would deliver it."""
        for w in list(self.watches):
            if w.covers(event.obj):
                w.sink(event)
