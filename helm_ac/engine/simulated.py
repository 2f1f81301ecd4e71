"""An in-memory cluster in virtual time: simulated controllers and fault injection.

On ``apply`` the object is stored (uid, resourceVersion, generation, creationTimestamp) and
appears to watchers after the API latency; after the object's duration (per object or per kind,
:class:`Behaviour`) a simulated controller writes the status that the kind's readiness rule reads
as ready: Deployments get available replicas and Pods of their template, Jobs a Complete
condition, PVCs Bound, CRDs Established, custom resources Ready, a LoadBalancer Service its ingress
address, ...  A Service gets its cluster IP when applied, as from the API server; the Pods of
workloads carry their template's labels, for Services with ``ready-when: endpoints``.  Faults:

* ``fail``: at its time the object takes its kind's failure state (a Job Failed condition, a
  Deployment past its progress deadline, a Pod phase Failed, a PVC Lost, a CRD whose names are not
  accepted, a custom resource Stalled); kinds without a failure state never become ready;
  ``fail_attempts`` limits this to the first N attempts (to exercise ``retry``);
* ``never``: the object never becomes ready (kinds that are ready once they exist never appear);
* ``api_errors``: the first N applies of the object answer HTTP 500;
* ``api_latency``: every call takes that long to take effect (a slow API server).

Every call is counted in :attr:`SimulatedCluster.calls` (the benchmarks read it).
"""
from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from helm_ac.analysis.pods import pod_labels
from helm_ac.engine.cluster import ApiError, WatchEvent
from helm_ac.clock import Timer, VirtualLoop
from helm_ac.kinds import ObjectKey

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
    """The status a healthy controller would write once the object is ready (None: kind has no status)."""
    gen = (obj.get("metadata") or {}).get("generation", 1)
    kind, group = key.kind, key.group
    n = _replicas(obj)
    if (group, kind) == ("apps", "Deployment"):
        return {"observedGeneration": gen, "replicas": n, "updatedReplicas": n, "readyReplicas": n,
                "availableReplicas": n, "conditions": [_cond("Available"), _cond("Progressing")]}
    if (group, kind) == ("apps", "ReplicaSet"):
        return {"observedGeneration": gen, "replicas": n, "readyReplicas": n, "availableReplicas": n}
    if (group, kind) == ("apps", "StatefulSet"):
        return {"observedGeneration": gen, "replicas": n, "readyReplicas": n, "availableReplicas": n,
                "updatedReplicas": n, "currentReplicas": n, "currentRevision": f"{key.name}-1", "updateRevision": f"{key.name}-1"}
    if (group, kind) == ("apps", "DaemonSet"):
        m = SIMULATED_NODES
        return {"observedGeneration": gen, "desiredNumberScheduled": m, "currentNumberScheduled": m,
                "updatedNumberScheduled": m, "numberReady": m, "numberAvailable": m}
    if (group, kind) == ("batch", "Job"):
        return {"succeeded": 1, "conditions": [_cond("Complete")]}
    if (group, kind) == ("", "Pod"):
        return {"phase": "Running", "conditions": [_cond("Ready")]}
    if (group, kind) == ("", "PersistentVolumeClaim"):
        return {"phase": "Bound"}
    if (group, kind) == ("", "Namespace"):
        return {"phase": "Active"}
    if (group, kind) == ("", "Service"):
        if (obj.get("spec") or {}).get("type") == "LoadBalancer":
            return {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}
        return None
    if (group, kind) == ("apiextensions.k8s.io", "CustomResourceDefinition"):
        return {"conditions": [_cond("NamesAccepted"), _cond("Established")]}
    from helm_ac.engine.readiness import BUILTIN_GROUPS

    if group not in BUILTIN_GROUPS:
        return {"observedGeneration": gen, "conditions": [_cond("Ready", reason="Reconciled")]}
    return None


def failed_status(key: ObjectKey, obj: dict[str, Any]) -> dict[str, Any] | None:
    """The status of the kind's failure state (None: the kind cannot fail, it just never gets ready)."""
    kind, group = key.kind, key.group
    if (group, kind) == ("batch", "Job"):
        return {"failed": 1, "conditions": [_cond("Failed", reason="BackoffLimitExceeded",
                                                  message="simulated failure")]}
    if (group, kind) == ("apps", "Deployment"):
        return {"observedGeneration": (obj.get("metadata") or {}).get("generation", 1), "conditions": [
            _cond("Progressing", "False", "ProgressDeadlineExceeded", "simulated failure")]}
    if (group, kind) == ("", "Pod"):
        return {"phase": "Failed", "reason": "SimulatedFailure"}
    if (group, kind) == ("", "PersistentVolumeClaim"):
        return {"phase": "Lost"}
    if (group, kind) == ("apiextensions.k8s.io", "CustomResourceDefinition"):
        return {"conditions": [_cond("NamesAccepted", "False", "SimulatedFailure", "simulated failure")]}
    from helm_ac.engine.readiness import BUILTIN_GROUPS

    if group not in BUILTIN_GROUPS:
        return {"conditions": [_cond("Stalled", reason="SimulatedFailure", message="simulated failure")]}
    return None


class SimulatedCluster:
    """The :class:`~helm_ac.engine.cluster.Cluster` seam, in memory and in virtual time."""

    def __init__(self, loop: VirtualLoop, behaviour: Behaviour) -> None:
        self.loop = loop
        self.behaviour = behaviour
        self.objects: dict[ObjectKey, dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()
        self.attempts: Counter[ObjectKey] = Counter()
        self._watchers: list[Callable[[WatchEvent], None]] = []
        self._timers: dict[ObjectKey, list[Timer]] = {}
        self._rv = itertools.count(1)
        self._uid = itertools.count(1)
        self._ips = itertools.count(1)

    # -- the Cluster protocol

    def apply(self, key: ObjectKey, obj: dict[str, Any]) -> dict[str, Any]:
        self.calls["apply"] += 1
        if self.behaviour.api_errors.get(key, 0) > 0:
            self.behaviour.api_errors[key] -= 1
            raise ApiError(500, f"simulated API error applying {key}")
        self.attempts[key] += 1
        attempt = self.attempts[key]
        # The manifest is never mutated: the stored object gets its own metadata and status only.
        stored = dict(obj)
        meta = stored["metadata"] = dict(stored.get("metadata") or {})
        if key.namespace:
            meta["namespace"] = key.namespace
        meta.update(uid=f"sim-{next(self._uid)}", resourceVersion=str(next(self._rv)), generation=1,
                    creationTimestamp=self.loop.now())
        stored.pop("status", None)
        if (key.group, key.kind) == ("", "Service"):
            spec = stored["spec"] = dict(stored.get("spec") or {})
            if spec.get("type") != "ExternalName" and not spec.get("clusterIP"):
                spec["clusterIP"] = self._cluster_ip()  # allocated at once, as the API server does
        latency = self.behaviour.api_latency
        seconds = self.behaviour.seconds(key)

        def appear() -> None:
            self.objects[key] = stored
            self._emit("ADDED", key, stored)

        # An object that its kind's rule reads as ready the moment it exists (ConfigMap, RBAC, a
        # Namespace, a custom resource without conditions, a Service without selector, ...) appears
        # only after its duration, so that for every kind "duration" means "from apply to ready";
        # if it must never be ready (or fail, having no failure state) it never appears at all.
        from helm_ac.engine import readiness

        instant = readiness.compute(stored).ready
        stuck = key in self.behaviour.never or (key in self.behaviour.fail and failed_status(key, stored) is None
                                               and attempt <= self.behaviour.fail_attempts.get(key, 1 << 30))
        if not (instant and stuck):
            self._schedule(key, latency + (seconds if instant else 0.0), appear)
        self._schedule(key, latency + seconds, lambda: self._settle(key, attempt))
        return stored

    def _cluster_ip(self) -> str:
        n = next(self._ips)
        return f"10.96.{n // 250}.{n % 250 + 1}"

    def get(self, key: ObjectKey) -> dict[str, Any] | None:
        self.calls["get"] += 1
        return self.objects.get(key)

    def delete(self, key: ObjectKey) -> None:
        self.calls["delete"] += 1
        for t in self._timers.pop(key, []):
            t.cancel()
        obj = self.objects.pop(key, None)
        for pod_key in [k for k, o in self.objects.items() if o.get("_owner") == key]:
            self._emit("DELETED", pod_key, self.objects.pop(pod_key))
        if obj is not None:
            self._emit("DELETED", key, obj)

    def watch(self, callback: Callable[[WatchEvent], None]) -> None:
        self.calls["watch"] += 1
        self._watchers.append(callback)

    # -- simulated controllers

    def _schedule(self, key: ObjectKey, delay: float, fn: Callable[[], None]) -> None:
        self._timers.setdefault(key, []).append(self.loop.call_later(delay, fn))

    def _emit(self, etype: str, key: ObjectKey, obj: dict[str, Any]) -> None:
        event = WatchEvent(etype, key, obj)
        for w in list(self._watchers):
            w(event)

    def _settle(self, key: ObjectKey, attempt: int) -> None:
        obj = self.objects.get(key)
        if obj is None or key in self.behaviour.never:
            return
        failing = key in self.behaviour.fail and attempt <= self.behaviour.fail_attempts.get(key, 1 << 30)
        status = failed_status(key, obj) if failing else ready_status(key, obj)
        if failing and status is None:
            return  # no failure state for this kind: it never becomes ready
        if status is not None:
            obj["status"] = status
            obj["metadata"]["resourceVersion"] = str(next(self._rv))
            self._emit("MODIFIED", key, obj)
        if not failing:
            self._start_pods(key, obj)

    def _start_pods(self, key: ObjectKey, obj: dict[str, Any]) -> None:
        """Workloads bring Pods with their template's labels, so Services find them."""
        if (key.group, key.kind) not in (("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "ReplicaSet"),
                                         ("apps", "DaemonSet")):
            return
        labels = dict(pod_labels(key, obj) or {})  # as lint and the engine find a Service's pod sources
        count = SIMULATED_NODES if key.kind == "DaemonSet" else _replicas(obj)
        pods = []
        for i in range(count):  # created together, not ready yet ...
            name = f"{key.name}-sim-{i}"
            while ObjectKey("", "Pod", key.namespace, name) in self.objects:  # never clash with a chart's Pod
                name += "x"
            pod_key = ObjectKey("", "Pod", key.namespace, name)
            pod = {"apiVersion": "v1", "kind": "Pod", "_owner": key,
                   "metadata": {"name": pod_key.name, "namespace": key.namespace, "labels": labels},
                   "status": {"phase": "Pending"}}
            self.objects[pod_key] = pod
            self._emit("ADDED", pod_key, pod)
            pods.append((pod_key, pod))
        for pod_key, pod in pods:  # ... then ready, as the workload's status says
            pod["status"] = {"phase": "Running", "conditions": [_cond("Ready")]}
            self._emit("MODIFIED", pod_key, pod)
