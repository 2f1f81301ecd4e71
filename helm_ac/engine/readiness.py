"""Readiness rules: is a live object ready, still in progress, or failed?  Pure functions over dicts.

One rule per kind, in :data:`RULES`, keyed by ``"<group>/<Kind>"`` (core group empty: ``"/Pod"``),
like kstatus' ``legacyTypes``.  :func:`compute` picks the rule, applies the object's
``success-factor`` and ``ready-when`` annotations (parsed by :mod:`helm_ac.extension.spec`) and returns a
:class:`Result`.  The simulator, the real-cluster client and the controller all call this one
function; nothing here fetches anything (``ready-when: endpoints`` gets the pods a Service selects
as ``related``).

Compared with AppController (see ``../shared/reference/appcontroller.md``), these rules fix its
known gaps: a failed Job fails at once instead of timing out; ReplicaSets and DaemonSets count
*ready/available* replicas, not created ones; workloads must have observed their current
generation; a Service is ready as Helm's ``--wait`` has it (a cluster IP; a load balancer
address), and with ``ready-when: endpoints`` once it selects ready pods (never when it selects
none, where AppController said ready); custom resources follow kstatus
conditions (Ready / Reconciling / Stalled) instead of being rejected.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from helm_ac import kinds
from helm_ac.analysis.pods import selects
from helm_ac.extension import readywhen


class Status(str, enum.Enum):
    """Readiness of one object."""

    READY = "ready"
    IN_PROGRESS = "in-progress"
    FAILED = "failed"


@dataclass(frozen=True)
class Result:
    status: Status
    message: str

    @property
    def ready(self) -> bool:
        return self.status is Status.READY

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED


def _ready(msg: str) -> Result:
    return Result(Status.READY, msg)


def _wait(msg: str) -> Result:
    return Result(Status.IN_PROGRESS, msg)


def _fail(msg: str) -> Result:
    return Result(Status.FAILED, msg)


_EMPTY: Mapping[str, Any] = {}


def _mapping(value: Any) -> Mapping[str, Any]:
    # dict and None first: isinstance against the Mapping ABC is slow, and objects are dicts
    if isinstance(value, dict):
        return value
    return _EMPTY if value is None or not isinstance(value, Mapping) else value


def _status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _mapping(obj.get("status"))


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _mapping(obj.get("spec"))


def condition(obj: Mapping[str, Any], ctype: str) -> Mapping[str, Any] | None:
    """The status condition of type ``ctype``, if any."""
    for c in _status(obj).get("conditions") or []:
        if (isinstance(c, dict) or isinstance(c, Mapping)) and c.get("type") == ctype:
            return c
    return None


def _is(obj: Mapping[str, Any], ctype: str, status: str = "True") -> bool:
    c = condition(obj, ctype)
    return c is not None and str(c.get("status")) == status


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _generation_observed(obj: Mapping[str, Any]) -> Result | None:
    gen = (obj.get("metadata") or {}).get("generation")
    observed = _status(obj).get("observedGeneration")
    if gen is not None and (observed is None or _int(observed) < _int(gen)):
        return _wait(f"waiting for the controller to observe generation {gen} (observed: {observed})")
    return None


def needed(desired: int, success_factor: int) -> int:
    """Replicas that must be ready: ``ceil(desired × factor / 100)``; 0 when nothing is desired."""
    return math.ceil(desired * success_factor / 100) if desired > 0 else 0


# ------------------------------------------------------------------- the rules

def pod(obj: Mapping[str, Any], sf: int, related: Sequence[Mapping[str, Any]]) -> Result:
    phase = _status(obj).get("phase")
    if phase == "Succeeded":
        return _ready("pod succeeded")
    if phase == "Failed":
        return _fail(f"pod failed: {_status(obj).get('reason') or _status(obj).get('message') or 'phase Failed'}")
    for cs in _status(obj).get("containerStatuses") or []:
        waiting = ((cs or {}).get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
                                     "InvalidImageName"):
            return _wait(f"container {cs.get('name')}: {waiting['reason']}")
    if phase == "Running" and _is(obj, "Ready"):
        return _ready("pod running and ready")
    return _wait(f"pod {phase or 'Pending'}, not ready")


def job(obj: Mapping[str, Any], sf: int, related: Sequence[Mapping[str, Any]]) -> Result:
    if _is(obj, "Failed"):
        c = condition(obj, "Failed") or {}
        return _fail(f"job failed: {c.get('reason') or ''} {c.get('message') or ''}".strip())
    if _is(obj, "Complete"):
        return _ready("job complete")
    st = _status(obj)
    return _wait(f"job running: {_int(st.get('active'))} active, {_int(st.get('succeeded'))} succeeded, "
                 f"{_int(st.get('failed'))} failed")


def deployment(obj: Mapping[str, Any], sf: int, related: Sequence[Mapping[str, Any]]) -> Result:
    c = condition(obj, "Progressing")
    if c is not None and str(c.get("status")) == "False" and c.get("reason") == "ProgressDeadlineExceeded":
        return _fail(f"deployment exceeded its progress deadline: {c.get('message') or ''}".strip())
    gen = _generation_observed(obj)
    if gen:
        return gen
    desired = _int(_spec(obj).get("replicas"), 1)
    need = needed(desired, sf)
    st = _status(obj)
    updated, available = _int(st.get("updatedReplicas")), _int(st.get("availableReplicas"))
    old_pods = _int(st.get("replicas")) - updated
    if old_pods > 0 and sf == 100:  # like `kubectl rollout status`: old pods still running
        return _wait(f"rollout in progress: {old_pods} old replicas pending termination")
    if updated >= need and available >= need:
        return _ready(f"{available}/{desired} replicas available")
    return _wait(f"{updated} updated and {available} available of {need} needed ({desired} desired)")


def replicaset(obj: Mapping[str, Any], sf: int, related: Sequence[Mapping[str, Any]]) -> Result:
    gen = _generation_observed(obj)
    if gen:
        return gen
    desired = _int(_spec(obj).get("replicas"), 1)
    need = needed(desired, sf)
    ready = _int(_status(obj).get("availableReplicas", _status(obj).get("readyReplicas")))
    if ready >= need:
        return _ready(f"{ready}/{desired} replicas available")
    return _wait(f"{ready} available of {need} needed ({desired} desired)")


def statefulset(obj: Mapping[str, Any], sf: int, related: Sequence[Mapping[str, Any]]) -> Result:
    gen = _generation_observed(obj)
    if gen:
        return gen
    spec, st = _spec(obj), _status(obj)
    desired = _int(spec.get("replicas"), 1)
    strategy = spec.get("updateStrategy") or {}
    partition = 0
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        partition = _int((strategy.get("rollingUpdate") or {}).get("partition"))
    need = needed(desired, sf)
    need_updated = needed(max(desired - partition, 0), sf)
    ready, updated = _int(st.get("readyReplicas")), _int(st.get("updatedReplicas"))
    if ready < need:
        return _wait(f"{ready} ready of {need} needed ({desired} desired)")
    if strategy.get("type") == "OnDelete":  # pods are replaced only when deleted: ready pods are enough
        return _ready(f"{ready}/{desired} replicas ready (OnDelete)")
    if updated < need_updated:
        return _wait(f"{updated} updated of {need_updated} needed (partition {partition})")
    if partition == 0 and sf == 100 and st.get("updateRevision") and st.get("currentRevision") != st.get("updateRevision"):
        return _wait("rolling update in progress (current revision is not the update revision)")
    return _ready(f"{ready}/{desired} replicas ready")


def daemonset(obj: Mapping[str, Any], sf: int, related: Sequence[Mapping[str, Any]]) -> Result:
    gen = _generation_observed(obj)
    if gen:
        return gen
    st = _status(obj)
    desired = _int(st.get("desiredNumberScheduled"))
    need = needed(desired, sf)
    updated, available = _int(st.get("updatedNumberScheduled")), _int(st.get("numberAvailable"))
    if (_spec(obj).get("updateStrategy") or {}).get("type") == "OnDelete":
        updated = need  # pods are replaced only when deleted
    if updated >= need and available >= need:
        return _ready(f"{available}/{desired} pods available")
    return _wait(f"{updated} updated and {available} available of {need} needed ({desired} scheduled)")


def service(obj: Mapping[str, Any], sf: int, related: Sequence[Mapping[str, Any]]) -> Result:
    """As Helm 3's ``--wait`` (pkg/kube/ready.go) and kstatus: ExternalName at once, otherwise once a
    cluster IP is allocated, a LoadBalancer once it has an ingress address (or external IPs).  The
    pods behind it are not waited for: they may come from an operator or another release.  Opt in
    with ``ready-when: endpoints`` (:func:`endpoints`)."""
    spec = _spec(obj)
    stype = spec.get("type") or "ClusterIP"
    if stype == "ExternalName":
        return _ready("external name service")
    ip = spec.get("clusterIP")
    if not ip:
        return _wait("waiting for a cluster IP")
    if stype == "LoadBalancer" and not spec.get("externalIPs"):
        ingress = (_status(obj).get("loadBalancer") or {}).get("ingress")
        if not ingress:
            return _wait("waiting for a load balancer address")
        first = ingress[0] if isinstance(ingress, list) and isinstance(ingress[0], Mapping) else {}
        return _ready(f"load balancer {first.get('ip') or first.get('hostname') or 'address'} assigned")
    return _ready("headless service" if ip == "None" else f"cluster IP {ip}")


def endpoints(obj: Mapping[str, Any], sf: int, related: Sequence[Mapping[str, Any]]) -> Result:
    """``ready-when: endpoints``: the Pods a Service selects (``related``) are ready, ``success-factor``
    percent of them, at least one.  Pods that finished are no endpoints; with
    ``publishNotReadyAddresses`` every running Pod is one."""
    if obj.get("kind") != "Service":
        return _wait("ready-when endpoints applies to Services only")
    spec = _spec(obj)
    selector = spec.get("selector") or {}
    if not selector:
        return _ready("service without selector: its endpoints are managed elsewhere")
    pods = [p for p in related if p.get("kind") == "Pod"
            and not (p.get("metadata") or {}).get("deletionTimestamp")
            and _status(p).get("phase") not in ("Succeeded", "Failed")  # not endpoints
            and selects(selector, ((p.get("metadata") or {}).get("labels") or {}))]
    if not pods:
        return _wait("no pod selected yet")
    if spec.get("publishNotReadyAddresses"):
        return _ready(f"{len(pods)} selected pods (not-ready addresses published)")
    ready = sum(1 for p in pods if pod(p, 100, ()).ready)
    need = max(needed(len(pods), sf), 1)
    if ready >= need:
        return _ready(f"{ready}/{len(pods)} selected pods ready")
    return _wait(f"{ready} of {len(pods)} selected pods ready ({need} needed)")


def waits_for_endpoints(ready_when: Sequence[readywhen.Clause] | None) -> bool:
    """Does this ready-when make a Service wait for the Pods it selects?"""
    return ready_when is not None and any(isinstance(c, readywhen.Endpoints) for c in ready_when)


def persistentvolumeclaim(obj: Mapping[str, Any], sf: int, related: Sequence[Mapping[str, Any]]) -> Result:
    phase = _status(obj).get("phase")
    if phase == "Bound":
        return _ready("bound")
    if phase == "Lost":
        return _fail("claim lost its volume")
    return _wait(f"claim {phase or 'Pending'}")


def customresourcedefinition(obj: Mapping[str, Any], sf: int, related: Sequence[Mapping[str, Any]]) -> Result:
    if _is(obj, "NamesAccepted", "False"):
        c = condition(obj, "NamesAccepted") or {}
        return _fail(f"CRD names not accepted: {c.get('message') or c.get('reason') or ''}".strip())
    if _is(obj, "Established"):
        return _ready("established")
    return _wait("not established yet")


def exists(obj: Mapping[str, Any], sf: int, related: Sequence[Mapping[str, Any]]) -> Result:
    return _ready("exists")


def custom_resource(obj: Mapping[str, Any], sf: int, related: Sequence[Mapping[str, Any]]) -> Result:
    """kstatus-style: generation observed, Stalled -> failed, Reconciling -> in progress, Ready decides."""
    gen = _generation_observed(obj) if _status(obj).get("observedGeneration") is not None else None
    if gen:
        return gen
    if _is(obj, "Stalled"):
        c = condition(obj, "Stalled") or {}
        return _fail(f"stalled: {c.get('message') or c.get('reason') or ''}".strip())
    if _is(obj, "Reconciling"):
        return _wait("reconciling")
    ready = condition(obj, "Ready")
    if ready is not None:
        if str(ready.get("status")) == "True":
            return _ready("Ready")
        return _wait(f"not Ready: {ready.get('message') or ready.get('reason') or ''}".strip())
    return _ready("exists (no Ready condition)")


Rule = Callable[[Mapping[str, Any], int, Sequence[Mapping[str, Any]]], Result]

#: The rule for each built-in kind, by "<group>/<Kind>".  Kinds not listed: built-in groups -> exists,
#: other groups (custom resources) -> :func:`custom_resource`.
RULES: dict[str, Rule] = {
    "/Pod": pod,
    "batch/Job": job,
    "apps/Deployment": deployment,
    "apps/ReplicaSet": replicaset,
    "apps/StatefulSet": statefulset,
    "apps/DaemonSet": daemonset,
    "/Service": service,
    "/PersistentVolumeClaim": persistentvolumeclaim,
    "apiextensions.k8s.io/CustomResourceDefinition": customresourcedefinition,
}

#: API groups of Kubernetes itself: their kinds without a rule are ready once they exist.
BUILTIN_GROUPS = frozenset({
    "", "apps", "batch", "policy", "autoscaling", "networking.k8s.io", "rbac.authorization.k8s.io",
    "storage.k8s.io", "scheduling.k8s.io", "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io",
    "admissionregistration.k8s.io", "apiregistration.k8s.io", "certificates.k8s.io", "events.k8s.io",
    "flowcontrol.apiserver.k8s.io", "resource.k8s.io", "apiextensions.k8s.io",
})


def rule_for(group: str, kind: str) -> Rule:
    """The readiness rule of a kind."""
    rule = RULES.get(f"{group}/{kind}")
    if rule is not None:
        return rule
    return exists if group in BUILTIN_GROUPS else custom_resource


def compute(obj: Mapping[str, Any], *, success_factor: int = 100,
            ready_when: Sequence[readywhen.Clause] | None = None,
            related: Sequence[Mapping[str, Any]] = ()) -> Result:
    """Readiness of a live object.

    ``ready_when`` (the object's ``appcontroller.k8s/ready-when``) replaces the kind's notion of
    ready, but a failure the kind's rule detects (a failed Job, a stalled resource) still fails.
    An object being deleted is never ready.
    """
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return _wait("being deleted")
    group = kinds.group_of(str(obj.get("apiVersion", "")))
    result = rule_for(group, str(obj.get("kind", "")))(obj, success_factor, related)
    if ready_when is None or result.failed:
        return result
    clauses: list[readywhen.Clause] = [c for c in ready_when if not isinstance(c, readywhen.Endpoints)]
    if len(clauses) < len(ready_when):
        ep = endpoints(obj, success_factor, related)
        if not ep.ready or not clauses:
            return ep
    if readywhen.is_ready(clauses, obj):
        return _ready("ready-when holds")
    return _wait("ready-when does not hold yet")
