"""An in-memory cluster in virtual time: the one Kubernetes model (:mod:`helm_ac.kubesim`) with
the engine's fault injection.

On ``apply`` the object is written to a :class:`~helm_ac.kubesim.store.Store` after the API
latency; the simulated controllers (:mod:`helm_ac.kubesim.controllers`, the same ones the embedded
API server runs in real time) take it to ready after the object's duration (per object or per
kind, :class:`Behaviour`): a Deployment gets a ReplicaSet and Pods of its template, a Job a Pod and
a Complete condition, a PVC a bound volume, a CRD Established, a LoadBalancer Service its ingress
address, ...  A Service gets its cluster IP when applied, as from the API server; Pods carry their
template's labels, for Services with ``ready-when: endpoints``.  Custom resources (no controller)
get a Ready condition.  Faults:

* ``fail``: at its time the object takes its kind's failure state (a Job Failed condition, a
  Deployment past its progress deadline, a Pod phase Failed, a PVC Lost, a CRD whose names are not
  accepted, a custom resource Stalled); kinds without a failure state never become ready;
  ``fail_attempts`` limits this to the first N attempts (to exercise ``retry``);
* ``never``: the object never becomes ready (kinds that are ready once they exist never appear);
* ``api_errors``: the first N applies of the object answer HTTP 500 (``api_error_code``; the engine
  retries a transient error with backoff, a permanent one fails the attempt);
* ``api_latency``: every call takes that long to take effect (a slow API server);
* :meth:`SimulatedCluster.drop_watches`: every open watch ends (dropped, or ``410 Gone``).

Calls answer through the loop (never before :meth:`~SimulatedCluster.call` returns); watches are
the store's own (:meth:`~helm_ac.kubesim.store.Store.watch`: resourceVersion resume, initial
events, ``410`` when too old), their events handed on from the loop too, so the engine never runs
inside a store write.  Every call is counted in :attr:`SimulatedCluster.calls` (the benchmarks read it).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from helm_ac.clock import Timer, VirtualLoop
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
from helm_ac.kubesim import behaviour as kb
from helm_ac.kubesim.controllers import Controllers
from helm_ac.kubesim.errors import StatusError
from helm_ac.kubesim.resources import Registry, Resource
from helm_ac.kubesim.store import INITIAL_EVENTS_END, Store, Watch

SIMULATED_NODES = 3  # a DaemonSet runs one pod per node


@dataclass
class Behaviour:
    """How the simulated cluster treats each object."""

    seconds: Callable[[ObjectKey], float]
    fail: set[ObjectKey] = field(default_factory=set)
    fail_attempts: dict[ObjectKey, int] = field(default_factory=dict)  # fail only the first N attempts
    never: set[ObjectKey] = field(default_factory=set)
    api_errors: dict[ObjectKey, int] = field(default_factory=dict)
    api_latency: float = 0.0
    api_error_code: int = 500  # what the ``api_errors`` answer (500: transient, retried; 422: permanent)


def _cond(ctype: str, status: str = "True", reason: str = "", message: str = "") -> dict[str, Any]:
    c = {"type": ctype, "status": status}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def _replicas(obj: dict[str, Any]) -> int:
    try:
        return int((obj.get("spec") or {}).get("replicas", 1))
    except (TypeError, ValueError):
        return 1


def ready_status(key: ObjectKey, obj: dict[str, Any]) -> dict[str, Any] | None:
    """The status a healthy controller would write once the object is ready, for the kinds without
    a simulated controller (:data:`_CONTROLLED` kinds get theirs from kubesim's controllers): a
    Namespace Active, a custom resource Ready; None for kinds without a status."""
    if (key.group, key.kind) == ("", "Namespace"):
        return {"phase": "Active"}
    from helm_ac.engine.readiness import BUILTIN_GROUPS

    if key.group not in BUILTIN_GROUPS:
        gen = (obj.get("metadata") or {}).get("generation", 1)
        return {"observedGeneration": gen, "conditions": [_cond("Ready", reason="Reconciled")]}
    return None


def failed_status(key: ObjectKey, obj: dict[str, Any]) -> dict[str, Any] | None:
    """The failure state of a kind without a simulated controller: a custom resource Stalled; None
    for the others (they cannot fail, they just never get ready). The controlled kinds fail through
    kubesim's controllers (docs/cluster-behaviour.md)."""
    from helm_ac.engine.readiness import BUILTIN_GROUPS

    if key.group not in BUILTIN_GROUPS:
        return {"conditions": [_cond("Stalled", reason="SimulatedFailure", message="simulated failure")]}
    return None


#: Kinds the simulated controllers take to ready (or failed) themselves; other kinds are settled here.
_CONTROLLED = {("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet"), ("apps", "DaemonSet"),
               ("batch", "Job"), ("", "Pod"), ("", "PersistentVolumeClaim"), ("", "Service"),
               ("apiextensions.k8s.io", "CustomResourceDefinition")}


class _Fates(kb.Behaviour):
    """The controllers' behaviour settings from the engine's :class:`Behaviour` (by ObjectKey)."""

    def __init__(self, cluster: "SimulatedCluster") -> None:
        super().__init__(nodes=SIMULATED_NODES)
        self.cluster = cluster

    def decide(self, kind: str, namespace: str, name: str) -> kb.Decision:
        c = self.cluster
        key = c._keys.get((kind, namespace or None, name))
        if key is None:
            return kb.Decision(0.0)
        b = c.behaviour
        seconds = b.seconds(key)
        if kind == "StatefulSet":  # its Pods start one after the other: the duration is the whole set's
            seconds /= max(_replicas(c._bodies.get(key) or {}), 1)
        failing = key in b.fail and c.attempts[key] <= b.fail_attempts.get(key, 1 << 30)
        return kb.Decision(seconds, fail=failing, never=key in b.never)


class _SimWatch:
    """One engine watch over a store watch; events are handed on from the loop, in order."""

    def __init__(self, cluster: "SimulatedCluster", stream: Stream, res: Resource,
                 sink: Callable[[WatchMessage], None]) -> None:
        self.cluster, self.stream, self.res, self.sink = cluster, stream, res, sink
        self.inner: Watch | None = None
        self.pending: list[WatchMessage] = []
        self.stopped = False

    def receive(self, event: dict[str, Any]) -> None:
        obj = event["object"]
        meta = obj.get("metadata") or {}
        if event["type"] == "BOOKMARK":
            rv = str(meta.get("resourceVersion") or "")
            ann = meta.get("annotations") or {}
            self._hand(Synced(rv) if ann.get(INITIAL_EVENTS_END) == "true" else WatchEvent("BOOKMARK", None, obj, rv))
            return
        res = self.res
        key = ObjectKey(res.group, res.kind, meta.get("namespace") or None, meta.get("name", ""))
        self._hand(WatchEvent(event["type"], key, obj, str(meta.get("resourceVersion") or "")))

    def _hand(self, msg: WatchMessage) -> None:
        if self.stopped:
            return
        if not self.pending:
            self.cluster.loop.call_later(0.0, self._flush)
        self.pending.append(msg)

    def _flush(self) -> None:
        batch, self.pending = self.pending, []
        for msg in batch:
            if self.stopped:
                return
            self.sink(msg)
            if isinstance(msg, WatchClosed):
                self.stopped = True

    def close(self, error: ApiError | None) -> None:
        """End the stream as the server would (dropped, or with an error)."""
        if self.inner is not None:
            self.inner.stop()
        self._hand(WatchClosed(error))
        self.cluster._watches.discard(self)

    def stop(self) -> None:
        self.stopped = True
        self.pending = []
        if self.inner is not None:
            self.inner.stop()
        self.cluster._watches.discard(self)


class SimulatedCluster:
    """The :class:`~helm_ac.engine.cluster.Cluster` seam, in memory and in virtual time."""

    def __init__(self, loop: VirtualLoop, behaviour: Behaviour) -> None:
        self.loop = loop
        self.behaviour = behaviour
        self.calls: Counter[str] = Counter(dict.fromkeys(("apply", "get", "delete", "watch"), 0))
        self.attempts: Counter[ObjectKey] = Counter()
        self._timers: dict[ObjectKey, list[Timer]] = {}
        self._keys: dict[tuple[str, str | None, str], ObjectKey] = {}
        self._bodies: dict[ObjectKey, dict[str, Any]] = {}
        self._watched: dict[tuple[str, str], Resource] = {}  # (apiVersion, kind) -> the resource watched
        self._watches: set[_SimWatch] = set()
        self.store = Store(Registry.builtin(), loop)
        self.controllers = Controllers(self.store, _Fates(self)).start()

    # -- the Cluster protocol

    def call(self, request: Request, reply: Callable[[Reply], None]) -> None:
        """Run the request after the API latency, then answer."""
        if isinstance(request, Apply):
            self._apply(request.key, request.obj, reply)
            return
        latency = self.behaviour.api_latency
        if isinstance(request, Get):
            self.calls["get"] += 1
            key = request.key
            self.loop.call_later(latency, lambda: reply(self._get(key)))
            return
        self.calls["delete"] += 1
        delete = request
        self.loop.call_later(latency, lambda: reply(self._delete(delete)))

    def watch(self, stream: Stream, resource_version: str, sink: Callable[[WatchMessage], None]) -> _SimWatch:
        self.calls["watch"] += 1
        res = self._watched.get((stream.api_version, stream.kind))
        if res is None:
            group = stream.api_version.rpartition("/")[0]
            res = self._resource(ObjectKey(group, stream.kind, stream.namespace, ""), {"apiVersion": stream.api_version})
            assert res is not None
            self._watched[(stream.api_version, stream.kind)] = res
        w = _SimWatch(self, stream, res, sink)
        self._watches.add(w)
        try:
            w.inner = self.store.watch(res, stream.namespace if res.namespaced else None, w.receive,
                                       resource_version=resource_version, send_initial_events=not resource_version,
                                       allow_bookmarks=True)
        except StatusError as e:
            w.close(ApiError(e.code, e.message, retry_after=e.retry_after))
        return w

    def drop_watches(self, *, expired: bool = False) -> int:
        """Fault injection: every open watch ends, dropped (resume) or ``410 Gone`` (relist)."""
        watches = sorted(self._watches, key=lambda w: str(w.stream))
        for w in watches:
            w.close(ApiError(410, "too old resource version") if expired else None)
        return len(watches)

    def _apply(self, key: ObjectKey, obj: dict[str, Any], reply: Callable[[Reply], None]) -> None:
        self.calls["apply"] += 1
        latency = self.behaviour.api_latency
        if self.behaviour.api_errors.get(key, 0) > 0:
            self.behaviour.api_errors[key] -= 1
            error = ApiError(self.behaviour.api_error_code, f"simulated API error applying {key}")
            self.loop.call_later(latency, lambda: reply(Reply(error=error)))
            return
        self.attempts[key] += 1
        attempt = self.attempts[key]
        self._keys[(key.kind, key.namespace, key.name)] = key
        self._bodies[key] = obj
        # The manifest is never mutated: the store keeps its own copy.
        stored = dict(obj)
        meta = stored["metadata"] = dict(stored.get("metadata") or {})
        if key.namespace:
            meta["namespace"] = key.namespace
        stored.pop("status", None)
        seconds = self.behaviour.seconds(key)

        def appear() -> None:
            self._write(key, stored)

        # An object that its kind's rule reads as ready the moment it exists (ConfigMap, RBAC, a
        # Namespace, a custom resource without conditions, a Service without selector, ...) appears
        # only after its duration, so that for every kind "duration" means "from apply to ready";
        # if it must never be ready (or fail, having no failure state) it never appears at all.
        # Such an apply is answered at once without the object (accepted, not visible yet).
        from helm_ac.engine import readiness

        probe = stored
        if (key.group, key.kind) == ("", "Service"):
            spec = dict(stored.get("spec") or {})
            if spec.get("type") != "ExternalName" and not spec.get("clusterIP"):
                spec["clusterIP"] = "10.96.0.0"  # the API server allocates one at once (admission)
            probe = {**stored, "spec": spec}
        instant = readiness.compute(probe).ready
        stuck = key in self.behaviour.never or (key in self.behaviour.fail and failed_status(key, stored) is None
                                               and attempt <= self.behaviour.fail_attempts.get(key, 1 << 30))
        if instant:
            if not stuck:
                self._schedule(key, latency + seconds, appear)
            self._schedule(key, latency, lambda: reply(Reply()))
        else:
            self._schedule(key, latency, lambda: reply(self._stored(key, stored)))
        if (key.group, key.kind) not in _CONTROLLED:
            self._schedule(key, latency + seconds, lambda: self._settle(key, attempt))
        elif (key.group, key.kind) == ("", "PersistentVolumeClaim"):
            self._schedule(key, latency + seconds, lambda: self._lose(key, attempt))

    def _stored(self, key: ObjectKey, obj: dict[str, Any]) -> Reply:
        """Write the object now: the reply of its apply (a refusal as the API's error)."""
        try:
            return Reply(self._write(key, obj))
        except StatusError as e:
            return Reply(error=ApiError(e.code, e.message, retry_after=e.retry_after))

    def _get(self, key: ObjectKey) -> Reply:
        res = self._resource(key, None)
        if res is None:
            return Reply()
        try:
            return Reply(self.store.get(res, key.namespace if res.namespaced else None, key.name))
        except StatusError as e:
            return Reply() if e.code == 404 else Reply(error=ApiError(e.code, e.message))

    def _delete(self, request: Delete) -> Reply:
        key = request.key
        for t in self._timers.pop(key, []):
            t.cancel()
        res = self._resource(key, None)
        if res is None:
            return Reply()
        try:
            self.store.delete(res, key.namespace if res.namespaced else None, key.name,
                              preconditions={"uid": request.uid} if request.uid else None)
        except StatusError as e:
            return Reply(error=ApiError(e.code, e.message))
        return Reply()

    # -- the store underneath

    def _resource(self, key: ObjectKey, obj: dict[str, Any] | None) -> Resource | None:
        """The key's resource; a kind the API does not serve yet (a custom resource whose CRD is
        not in the chart, or not Established yet) is served from its first write (or watch)."""
        reg = self.store.registry
        api_version = str((obj or self._bodies.get(key) or {}).get("apiVersion") or "")
        res: Resource | None = self._watched.get((api_version, key.kind))
        if res is None and api_version:
            res = reg.for_kind(api_version, key.kind)
        if res is None:
            res = next((r for (g, _, k), r in reg.by_kind.items() if (g, k) == (key.group, key.kind)), None)
        if res is None and obj is not None:
            version = api_version.rpartition("/")[2] or "v1"
            res = Resource(group=key.group, version=version, kind=key.kind, plural=f"{key.kind.lower()}s",
                           namespaced=key.namespace is not None,
                           verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
                           subresources=("status",))
            reg.add(res)
        return res

    def _write(self, key: ObjectKey, obj: dict[str, Any]) -> dict[str, Any]:
        res = self._resource(key, obj)
        assert res is not None
        ns = key.namespace if res.namespaced else None
        if ns:
            self._ensure_namespace(ns)
        try:
            out: dict[str, Any] = self.store.create(res, ns, obj)
        except StatusError as e:
            if e.reason != "AlreadyExists":
                raise
            live = self.store.get(res, ns, key.name)
            out = self.store.update(res, ns, key.name, {**obj, "metadata": {**obj["metadata"], "resourceVersion":
                                                                                live["metadata"]["resourceVersion"]}})
        return out

    def _ensure_namespace(self, ns: str) -> None:
        res = self.store.registry.for_kind("v1", "Namespace")
        assert res is not None
        try:
            self.store.get(res, None, ns)
        except StatusError:
            self.store.create(res, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    def _schedule(self, key: ObjectKey, delay: float, fn: Callable[[], None]) -> None:
        self._timers.setdefault(key, []).append(self.loop.call_later(delay, fn))

    def _write_status(self, key: ObjectKey, status: dict[str, Any]) -> None:
        res = self._resource(key, None)
        if res is None:
            return
        try:
            live = self.store.get(res, key.namespace if res.namespaced else None, key.name)
            self.store.update(res, key.namespace if res.namespaced else None, key.name, {**live, "status": status},
                              subresource="status" if "status" in res.subresources else None)
        except StatusError:
            return

    def _settle(self, key: ObjectKey, attempt: int) -> None:
        """Kinds without a simulated controller (custom resources, Namespaces, ...): their ready or
        failed status at their time."""
        if key in self.behaviour.never:
            return
        obj = self.get_quietly(key)
        if obj is None:
            return
        failing = key in self.behaviour.fail and attempt <= self.behaviour.fail_attempts.get(key, 1 << 30)
        status = failed_status(key, obj) if failing else ready_status(key, obj)
        if status is not None and status != obj.get("status"):
            self._write_status(key, status)

    def _lose(self, key: ObjectKey, attempt: int) -> None:
        """A failing claim is Lost (the engine's failure state for PVCs)."""
        if key in self.behaviour.fail and attempt <= self.behaviour.fail_attempts.get(key, 1 << 30):
            self._write_status(key, {"phase": "Lost"})

    def get_quietly(self, key: ObjectKey) -> dict[str, Any] | None:
        res = self._resource(key, None)
        if res is None:
            return None
        try:
            out: dict[str, Any] = self.store.get(res, key.namespace if res.namespaced else None, key.name)
            return out
        except StatusError:
            return None
