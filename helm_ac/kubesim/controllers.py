"""Simulated Kubernetes controllers on top of the :class:`~helm_ac.kubesim.store.Store`.

Deployment -> ReplicaSet -> Pods, StatefulSet, DaemonSet, Job, Service (cluster IP by admission,
EndpointSlices and Endpoints from ready Pods, load-balancer address), PersistentVolumeClaim
binding, CustomResourceDefinition Established (its resources join ``store.registry``),
PodDisruptionBudget status, a ``default`` ServiceAccount per Namespace, simulated Nodes, and the
API server's own defaulting of Services (cluster IP, ports) and workloads (replicas, strategies). Statuses are written as the real
controllers write them, in the fields kstatus (Helm 4 ``--wait``) and Helm 3 ``--wait`` read.

How long each object takes and whether it fails comes from :class:`~.behaviour.Behaviour` (a
workload's Pods take the workload's settings). Time comes only from ``store.clock``
(``call_later``), so the same controllers run in virtual time (tests, ``simulate``) and in real
time (the HTTP face); nothing polls: store changes (``store.subscribe``) and timers put object keys
on a work queue, drained in one clock callback, as real controllers do with informers.

Use::

    ctl = Controllers(store, behaviour, on_readiness=log.append).start()

``on_readiness`` gets ``{"time", "kind", "namespace", "name", "state": "ready"|"failed",
"reason"}`` each time an object becomes ready or fails (``time`` RFC 3339 UTC, microseconds).
"""
from __future__ import annotations

import hashlib
import ipaddress
import itertools
from collections import Counter
from typing import Any, Callable, Iterable

from helm_ac.clock import Timer
from helm_ac.kubesim import crds
from helm_ac.kubesim.behaviour import Behaviour, Decision
from helm_ac.kubesim.errors import StatusError, invalid
from helm_ac.kubesim.patch import deep_copy
from helm_ac.kubesim.resources import Resource
from helm_ac.kubesim.selectors import LabelSelector, Requirement
from helm_ac.kubesim.times import parse_rfc3339, rfc3339, rfc3339_micro

Obj = dict[str, Any]
Key = tuple[str, str, str]  # (tag, namespace, name)

MANAGER = "kube-controller-manager"
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
POD_CIDR = ipaddress.ip_network("10.244.0.0/16")
NODE_PORTS = range(30000, 32768)
LB_ADDRESS_BASE = ipaddress.ip_address("192.0.2.10")  # TEST-NET-1: load-balancer addresses
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' rand.SafeEncodeString alphabet

# (group, kind) -> tag
_TAGS = {("apps", "Deployment"): "deploy", ("apps", "ReplicaSet"): "rs", ("apps", "StatefulSet"): "sts",
         ("apps", "DaemonSet"): "ds", ("batch", "Job"): "job", ("", "Pod"): "pod", ("", "Service"): "svc",
         ("", "PersistentVolumeClaim"): "pvc", ("apiextensions.k8s.io", "CustomResourceDefinition"): "crd",
         ("", "Namespace"): "ns", ("discovery.k8s.io", "EndpointSlice"): "slice",
         ("policy", "PodDisruptionBudget"): "pdb"}
_KINDS = {"deploy": ("apps/v1", "Deployment"), "rs": ("apps/v1", "ReplicaSet"), "sts": ("apps/v1", "StatefulSet"),
          "ds": ("apps/v1", "DaemonSet"), "job": ("batch/v1", "Job"), "pod": ("v1", "Pod"),
          "svc": ("v1", "Service"), "pvc": ("v1", "PersistentVolumeClaim"),
          "crd": ("apiextensions.k8s.io/v1", "CustomResourceDefinition"), "ns": ("v1", "Namespace"),
          "slice": ("discovery.k8s.io/v1", "EndpointSlice"), "ep": ("v1", "Endpoints"),
          "pdb": ("policy/v1", "PodDisruptionBudget"),
          "pv": ("v1", "PersistentVolume"), "sa": ("v1", "ServiceAccount"), "node": ("v1", "Node")}
_CACHED = ("deploy", "rs", "sts", "ds", "job", "pod", "svc", "slice", "pdb")
_WORKLOAD_OF = {"ReplicaSet": "rs", "Deployment": "deploy", "StatefulSet": "sts", "DaemonSet": "ds", "Job": "job"}


def template_hash(template: Any, collisions: int = 0) -> str:
    """A stable ``pod-template-hash`` of a pod template, shaped like Kubernetes' (a 32-bit hash
    of the template written as decimal, each digit mapped through SafeEncodeString's alphabet)."""
    import orjson

    raw = orjson.dumps(template, option=orjson.OPT_SORT_KEYS) + str(collisions).encode()
    n = int.from_bytes(hashlib.blake2b(raw, digest_size=4).digest(), "big")
    return "".join(_ALPHANUMS[b % len(_ALPHANUMS)] for b in str(n).encode())


def _dict(x: Any) -> Obj:
    return x if isinstance(x, dict) else {}


def _meta(o: Obj) -> Obj:
    m = o.get("metadata")
    return m if isinstance(m, dict) else {}


def _spec(o: Obj) -> Obj:
    s = o.get("spec")
    return s if isinstance(s, dict) else {}


def _status(o: Obj) -> Obj:
    s = o.get("status")
    return s if isinstance(s, dict) else {}


def _int(v: Any, default: int) -> int:
    if isinstance(v, bool):
        return default
    try:
        return int(v) if v is not None else default
    except (TypeError, ValueError):
        return default


def _controller_ref(o: Obj) -> Obj | None:
    for ref in _meta(o).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def _owner_ref(owner: Obj, api_version: str, kind: str) -> Obj:
    m = _meta(owner)
    return {"apiVersion": api_version, "kind": kind, "name": m.get("name"), "uid": m.get("uid"),
            "controller": True, "blockOwnerDeletion": True}


def _pod_ready(pod: Obj) -> bool:
    for c in _status(pod).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def _label_selector(sel: Any) -> LabelSelector | None:
    """A ``metav1.LabelSelector`` (matchLabels, matchExpressions) as a :mod:`.selectors` one;
    None for none (selects nothing), as the API reads a missing selector."""
    if not isinstance(sel, dict):
        return None
    reqs = [Requirement(str(k), "=", frozenset({str(v)})) for k, v in (sel.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for e in sel.get("matchExpressions") or []:
        if isinstance(e, dict) and e.get("operator") in ops:
            reqs.append(Requirement(str(e.get("key", "")), ops[e["operator"]],
                                    frozenset(str(v) for v in e.get("values") or ())))
    return LabelSelector(tuple(reqs))


def _scaled(v: Any, total: int, *, round_up: bool) -> int:
    """An int-or-percent of ``total`` (intstr.GetScaledValueFromIntOrPercent)."""
    if isinstance(v, str) and v.endswith("%"):
        pct = _int(v[:-1], 0)
        return -(-pct * total // 100) if round_up else pct * total // 100
    return _int(v, 0)


def _pod_state(pod: Obj) -> tuple[Any, ...]:
    """What a Pod's owner counts: phase, readiness, deletion."""
    return (_status(pod).get("phase"), _pod_ready(pod), bool(_meta(pod).get("deletionTimestamp")))


def _active(pod: Obj) -> bool:
    return not _meta(pod).get("deletionTimestamp") and _status(pod).get("phase") not in ("Succeeded", "Failed")


def _selects(selector: Any, labels: Any) -> bool:
    """A Service's plain selector (label map) against an object's labels."""
    if not isinstance(selector, dict) or not selector:
        return False
    labels = labels if isinstance(labels, dict) else {}
    return all(labels.get(k) == v for k, v in selector.items())


def _condition(old: Iterable[Any], ctype: str, status: str, reason: str, message: str, now: str, *,
               update_time: bool = False) -> Obj:
    """A condition keeping ``lastTransitionTime`` (and ``lastUpdateTime``) while nothing changes."""
    prev = next((c for c in old or [] if isinstance(c, dict) and c.get("type") == ctype), None)
    same = prev is not None and prev.get("status") == status
    c: Obj = {"type": ctype, "status": status}
    if update_time:
        unchanged = same and prev is not None and prev.get("reason") == reason and prev.get("message") == message
        c["lastUpdateTime"] = prev.get("lastUpdateTime", now) if unchanged and prev is not None else now
    c["lastTransitionTime"] = prev.get("lastTransitionTime", now) if same and prev is not None else now
    c["reason"] = reason
    c["message"] = message
    return c


def _max_unavailable(deploy: Obj, replicas: int) -> int:
    strategy = _spec(deploy).get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0
    v = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(v, str) and v.endswith("%"):
        return replicas * _int(v[:-1], 25) // 100
    return _int(v, 0)


class Controllers:
    """The simulated controller manager (plus the API server's Service IP allocation)."""

    def __init__(self, store: Any, behaviour: Behaviour | None = None, *,
                 on_readiness: Callable[[dict[str, Any]], None] | None = None,
                 kubelet_skips: Callable[[Obj], bool] | None = None) -> None:
        self.store = store
        self.clock = store.clock
        self.behaviour = behaviour or Behaviour()
        self.on_readiness = on_readiness
        #: Pods whose kubelet is someone else's (the API server runs them for real): the simulated
        #: kubelet neither writes their status nor ends their graceful deletion
        self.kubelet_skips = kubelet_skips
        self.stats: Counter[str] = Counter()  # reconciles per tag, writes
        self.errors: list[str] = []  # the last refusals of the controllers' writes
        self._cache: dict[str, dict[tuple[str, str], Obj]] = {t: {} for t in _CACHED}
        # label indexes: (namespace, key, value) -> names of the Pods with that label / of the
        # Services selecting on it; (namespace, service) -> its EndpointSlice's name
        self._pods_by_label: dict[tuple[str, str, Any], set[str]] = {}
        self._svcs_by_label: dict[tuple[str, str, Any], set[str]] = {}
        self._slice_of: dict[tuple[str, str], str] = {}
        self._names_in: dict[tuple[str, str], set[str]] = {}  # (tag, namespace) -> names, for Pods and PDBs
        self._orphans: dict[tuple[str, str], set[str]] = {}  # (tag, namespace) -> Pods/ReplicaSets without owner
        self._owned: dict[str, set[Key]] = {}  # controller uid -> (tag, ns, name) of its dependents
        self._queue: dict[Key, None] = {}
        self._drain_timer: Timer | None = None
        self._decisions: dict[str, Decision] = {}  # uid -> decision
        self._elapsed: set[Any] = set()  # uids (or (uid, hash)) whose duration has passed
        self._timers: dict[Any, Timer] = {}
        self._keys_of: dict[str, set[Any]] = {}  # uid -> its timer/elapsed keys (forgotten with it)
        self._logged: dict[str, set[tuple[Any, str]]] = {}  # uid -> (generation, state) reported
        self._service_ips: set[str] = {str(SERVICE_CIDR.network_address + 1)}  # 10.96.0.1: `kubernetes`
        self._next_ip = 2
        self._node_ports: set[int] = set()
        self._pod_ips = itertools.count(0)
        self._lb_ips = itertools.count(0)
        self._crd_resources: dict[str, list[Resource]] = {}
        self.nodes = [f"sim-node-{i + 1}" for i in range(self.behaviour.nodes)]
        self._node_ips = {n: f"172.18.0.{i + 2}" for i, n in enumerate(self.nodes)}
        self._unsubscribe: Callable[[], None] | None = None
        self._stopped = False

    # -- wiring

    def start(self) -> "Controllers":
        """Register the admission hook and the change subscription; adopt what the store holds."""
        self.store.add_admission(self._admit)
        self._unsubscribe = self.store.subscribe(self._on_change)
        for tag in ("ns", "crd", "svc", "pod", "rs", "deploy", "sts", "ds", "job", "pvc", "slice", "pdb"):
            res = self._res(tag)
            if res is None:
                continue
            for obj in self.store.list(res, None).get("items", []):
                self._observe(tag, obj, obj, None)
                if tag == "svc":  # what the store already holds stays allocated
                    for ip in _spec(obj).get("clusterIPs") or [_spec(obj).get("clusterIP")]:
                        if ip and ip != "None":
                            self._service_ips.add(ip)
                    self._node_ports.update(p["nodePort"] for p in _spec(obj).get("ports") or []
                                            if isinstance(p, dict) and isinstance(p.get("nodePort"), int))
        self._create_nodes()
        return self

    def stop(self) -> None:
        """Stop reacting: no more changes, timers or admission (the store keeps the hook, inert)."""
        self._stopped = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for t in self._timers.values():
            t.cancel()
        self._timers.clear()
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None

    def _res(self, tag: str) -> Resource | None:
        api_version, kind = _KINDS[tag]
        r: Resource | None = self.store.registry.for_kind(api_version, kind)
        return r

    def _now(self) -> str:
        return rfc3339(self.clock.now())

    # -- change intake (synchronous, cheap) and the work queue

    def _on_change(self, change: Any) -> None:
        res: Resource = change.resource
        tag = _TAGS.get((res.group, res.kind))
        if tag is None:
            return
        obj = change.obj
        if change.type == "DELETED":
            self._forget(tag, obj)
        else:
            self._observe(tag, obj, obj, change.old)

    def _observe(self, tag: str, obj: Obj, _new: Obj, old: Obj | None) -> None:
        m = _meta(obj)
        ns, name = m.get("namespace") or "", m.get("name") or ""
        if tag in self._cache:
            self._remember(tag, ns, name, obj)
        ref = _controller_ref(obj)
        om = _meta(old) if old is not None else None
        # what changed decides who looks again: not the controllers' own status writes
        spec_changed = om is None or om.get("generation") != m.get("generation") or \
            bool(om.get("deletionTimestamp")) != bool(m.get("deletionTimestamp")) or \
            ("generation" not in m and old is not None and old.get("spec") != obj.get("spec"))  # Service, PVC
        if ref is not None and ref.get("uid"):
            self._owned.setdefault(ref["uid"], set()).add((tag, ns, name))
            owner_tag = _WORKLOAD_OF.get(ref.get("kind", ""))
            if owner_tag is not None and (tag == "rs" or (tag == "pod" and (
                    spec_changed or old is None or _pod_state(old) != _pod_state(obj)))):
                self._enqueue(owner_tag, ns, ref.get("name", ""))
        if tag == "pod":
            if spec_changed:
                self._enqueue("pod", ns, name)
            self._pod_touches_services(ns, obj, old)
        elif tag != "slice" and spec_changed:
            self._enqueue(tag, ns, name)

    def _forget(self, tag: str, obj: Obj) -> None:
        m = _meta(obj)
        ns, name, uid = m.get("namespace") or "", m.get("name") or "", m.get("uid") or ""
        if tag in self._cache:
            self._remember(tag, ns, name, None)
        ref = _controller_ref(obj)
        if ref is not None and ref.get("uid") in self._owned:
            self._owned[ref["uid"]].discard((tag, ns, name))
            owner_tag = _WORKLOAD_OF.get(ref.get("kind", ""))
            if owner_tag is not None and tag in ("pod", "rs"):
                self._enqueue(owner_tag, ns, ref.get("name", ""))
        self._owned.pop(uid, None)
        for k in self._keys_of.pop(uid, ()):
            t = self._timers.pop(k, None)
            if t is not None:
                t.cancel()
            self._elapsed.discard(k)
        self._decisions.pop(uid, None)
        self._logged.pop(uid, None)
        if tag == "pod":
            self._pod_touches_services(ns, None, obj)
        elif tag == "svc":
            spec = _spec(obj)
            for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]:
                self._service_ips.discard(ip)
            for p in spec.get("ports") or []:
                if isinstance(p, dict):
                    self._node_ports.discard(p.get("nodePort"))
            self._delete("ep", ns, name)
        elif tag == "pvc":
            volume = _spec(obj).get("volumeName")
            if volume and (_meta(obj).get("annotations") or {}).get("pv.kubernetes.io/bound-by-controller"):
                self._delete("pv", "", volume)  # reclaim policy Delete
        elif tag == "crd":
            for r in self._crd_resources.pop(name, []):
                self.store.registry.remove(r)

    def _pod_touches_services(self, ns: str, new: Obj | None, old: Obj | None) -> None:
        if new is not None and old is not None:
            nm, om = _meta(new), _meta(old)
            if (nm.get("labels") == om.get("labels") and _pod_ready(new) == _pod_ready(old)
                    and _status(new).get("podIP") == _status(old).get("podIP")
                    and bool(nm.get("deletionTimestamp")) == bool(om.get("deletionTimestamp"))):
                return
        candidates: set[str] = set()
        for o in (new, old):
            labels = _meta(o).get("labels") if o is not None else None
            if isinstance(labels, dict):
                for k, v in labels.items():
                    candidates |= self._svcs_by_label.get((ns, k, v), set())
        for sname in sorted(candidates):
            self.stats["scanned"] += 1
            sel = _spec(self._cache["svc"].get((ns, sname)) or {}).get("selector")
            if (new is not None and _selects(sel, _meta(new).get("labels"))) or \
                    (old is not None and _selects(sel, _meta(old).get("labels"))):
                self._enqueue("svc", ns, sname)
        for pname in sorted(self._names_in.get(("pdb", ns), ())):  # few per namespace
            self.stats["scanned"] += 1
            sel = _label_selector(_spec(self._cache["pdb"].get((ns, pname)) or {}).get("selector"))
            if sel is not None and any(o is not None and sel.matches(_meta(o).get("labels")) for o in (new, old)):
                self._enqueue("pdb", ns, pname)

    def _remember(self, tag: str, ns: str, name: str, obj: Obj | None) -> None:
        """Keep the cache (and its label indexes) of ``tag`` up to date; None forgets."""
        cache = self._cache[tag]
        prev = cache.pop((ns, name), None) if obj is None else cache.get((ns, name))
        if obj is not None:
            cache[(ns, name)] = obj
        if tag in ("pod", "pdb"):
            names_in = self._names_in.setdefault((tag, ns), set())
            if obj is not None:
                names_in.add(name)
            else:
                names_in.discard(name)
        if tag in ("pod", "rs"):
            orphans = self._orphans.setdefault((tag, ns), set())
            if obj is not None and _controller_ref(obj) is None:
                orphans.add(name)
            else:
                orphans.discard(name)
        if tag == "pod":
            index, labels_of = self._pods_by_label, (lambda o: _meta(o).get("labels"))
        elif tag == "svc":
            index, labels_of = self._svcs_by_label, (lambda o: _spec(o).get("selector"))
        else:
            if tag == "slice":
                svc = (_meta(obj if obj is not None else prev or {}).get("labels") or {}).get(
                    "kubernetes.io/service-name")
                if svc and obj is not None:
                    self._slice_of[(ns, svc)] = name
                elif svc and self._slice_of.get((ns, svc)) == name:
                    del self._slice_of[(ns, svc)]
            return
        before = labels_of(prev) if prev is not None else None
        after = labels_of(obj) if obj is not None else None
        if before == after:
            return
        for k, v in (before.items() if isinstance(before, dict) else ()):
            names = index.get((ns, k, v))
            if names is not None:
                names.discard(name)
                if not names:
                    del index[(ns, k, v)]
        for k, v in (after.items() if isinstance(after, dict) else ()):
            if isinstance(v, (str, int, float, bool)):
                index.setdefault((ns, k, v), set()).add(name)

    def _enqueue(self, tag: str, ns: str, name: str) -> None:
        self._queue[(tag, ns, name)] = None
        if self._drain_timer is None:
            self._drain_timer = self.clock.call_later(0.0, self._drain)

    def _drain(self) -> None:
        self._drain_timer = None
        rounds = 0
        try:
            while self._queue and rounds < 100_000:
                key = next(iter(self._queue))
                del self._queue[key]
                rounds += 1
                self._reconcile(*key)
        finally:  # even past a bug's exception, the rest of the queue is not forgotten
            if self._queue and self._drain_timer is None:
                self._drain_timer = self.clock.call_later(0.0, self._drain)

    def _reconcile(self, tag: str, ns: str, name: str) -> None:
        handler = getattr(self, f"_sync_{tag}", None)
        if handler is None:
            return
        self.stats[tag] += 1
        obj = self._get(tag, ns, name)
        if obj is not None and tag == "pod" and self.kubelet_skips is not None and self.kubelet_skips(obj):
            return
        if obj is not None and tag == "pod" and _meta(obj).get("deletionTimestamp"):
            # the kubelet's part of a graceful deletion: containers stopped, the Pod goes
            if not _meta(obj).get("finalizers"):
                self._delete("pod", ns, name, grace_period=0)
            return
        if obj is None or _meta(obj).get("deletionTimestamp"):
            return
        try:
            handler(obj)
        except StatusError as e:
            if e.code in (404, 409):  # raced with a write or a deletion: look again
                self._enqueue(tag, ns, name)
            elif e.code == 403 and "terminated" in e.message:
                return  # the namespace is going away
            else:  # the API refused a controller's write (422 for a bad Pod template, ...): as the
                # real controllers, keep going and say so (kept for the server's log)
                self.errors.append(f"{_KINDS[tag][1]} {ns + '/' if ns else ''}{name}: {e.code} {e.reason}: {e.message}")
                del self.errors[:-100]

    def _after(self, key: Any, seconds: float, tag: str, ns: str, name: str) -> None:
        """Mark ``key`` elapsed after ``seconds`` and look at the object again (once per key)."""
        if key in self._timers or key in self._elapsed:
            return
        self._keys_of.setdefault(key[0] if isinstance(key, tuple) else key, set()).add(key)

        def fire() -> None:
            self._timers.pop(key, None)
            self._elapsed.add(key)
            self._enqueue(tag, ns, name)

        self._timers[key] = self.clock.call_later(seconds, fire)

    def _decision(self, obj: Obj, kind: str) -> Decision:
        m = _meta(obj)
        uid = m.get("uid") or f"{kind}/{m.get('namespace')}/{m.get('name')}"
        d = self._decisions.get(uid)
        if d is None:
            d = self._decisions[uid] = self.behaviour.decide(kind, m.get("namespace") or "", m.get("name") or "")
        return d

    def _report(self, obj: Obj, kind: str, state: str, reason: str) -> None:
        m = _meta(obj)
        seen = self._logged.setdefault(m.get("uid") or "", set())
        if (m.get("generation"), state) in seen:
            return
        seen.add((m.get("generation"), state))
        if self.on_readiness is not None:
            self.on_readiness({"time": rfc3339_micro(self.clock.now()), "kind": kind, "namespace": m.get("namespace") or "",
                               "name": m.get("name") or "", "state": state, "reason": reason})

    # -- store access

    def _get(self, tag: str, ns: str, name: str) -> Obj | None:
        res = self._res(tag)
        if res is None:
            return None
        try:
            obj: Obj = self.store.get(res, ns or None, name)
            return obj
        except StatusError as e:
            if e.code == 404:
                return None
            raise

    def _create(self, tag: str, ns: str, obj: Obj) -> Obj | None:
        res = self._res(tag)
        if res is None:
            return None
        self.stats["writes"] += 1
        try:
            out: Obj = self.store.create(res, ns or None, obj, field_manager=MANAGER)
        except StatusError as e:
            if e.code == 409 and e.reason == "AlreadyExists":
                return None
            if e.code == 403 or (e.code == 404 and tag != "ns"):  # namespace gone or terminating
                return None
            raise
        if tag in self._cache:  # known at once: the next pass must not create it again
            self._observe(tag, out, out, None)
        return out

    def _update(self, tag: str, obj: Obj, *, status: bool = False) -> Obj:
        res = self._res(tag)
        assert res is not None
        m = _meta(obj)
        self.stats["writes"] += 1
        out: Obj = self.store.update(res, m.get("namespace") or None, m["name"], obj,
                                     subresource="status" if status else None, field_manager=MANAGER)
        if tag in self._cache:
            self._remember(tag, m.get("namespace") or "", m["name"], out)
        return out

    def _set_status(self, tag: str, obj: Obj, status: Obj) -> Obj:
        if obj.get("status") == status:
            return obj
        return self._update(tag, {**obj, "status": status}, status=True)

    def _delete(self, tag: str, ns: str, name: str, **kw: Any) -> None:
        res = self._res(tag)
        if res is None:
            return
        self.stats["writes"] += 1
        try:
            self.store.delete(res, ns or None, name, **kw)
        except StatusError as e:
            if e.code != 404:
                raise
        if tag in self._cache:
            obj = self._cache[tag].get((ns, name))
            if obj is not None:
                self._forget(tag, obj)

    def _adopt(self, tag: str, owner: Obj, api_version: str, kind: str) -> bool:
        """Take ownerless objects the owner's selector matches, as the real controllers do (after
        an orphaning delete, or for Pods created by hand). True if any was adopted."""
        ns = _meta(owner).get("namespace") or ""
        names = self._orphans.get((tag, ns))
        if not names:
            return False
        sel = _label_selector(_spec(owner).get("selector"))
        if sel is None or sel.empty:
            return False
        adopted = False
        for name in sorted(names):
            o = self._cache[tag].get((ns, name))
            if o is None or _meta(o).get("deletionTimestamp") or (tag == "pod" and not _active(o)):
                continue
            if sel.matches(_meta(o).get("labels")):
                refs = [r for r in _meta(o).get("ownerReferences") or [] if isinstance(r, dict)]
                self._update(tag, {**o, "metadata": {**_meta(o), "ownerReferences": [
                    *refs, _owner_ref(owner, api_version, kind)]}})
                adopted = True
        return adopted

    def _children(self, owner: Obj, tag: str) -> list[Obj]:
        out = []
        for (t, ns, name) in sorted(self._owned.get(_meta(owner).get("uid") or "", ())):
            if t == tag:
                o = self._cache[tag].get((ns, name))
                if o is not None:
                    out.append(o)
        return out

    # -- admission: what the API server itself does on create/update

    def _admit(self, op: Any) -> None:
        res: Resource = op.resource
        if op.obj is None or op.subresource or self._stopped:
            return
        if (res.group, res.kind) == ("", "Service"):
            self._admit_service(op)
        elif res.group in ("apps", "batch"):
            _default_workload(res.kind, op.obj)
            if (res.group, res.kind) == ("batch", "Job") and op.verb == "update" and op.old is not None:
                _job_update_allowed(op.obj, op.old)
        elif (res.group, res.kind) == ("", "Pod") and op.verb == "create":
            spec = _spec(op.obj)
            if not spec.get("nodeName"):  # the scheduler's decision, made at once
                node = self.nodes[sum(map(ord, op.obj.get("metadata", {}).get("name") or "")) % len(self.nodes)]
                op.obj["spec"] = {**spec, "nodeName": node}

    def _admit_service(self, op: Any) -> None:
        obj = op.obj
        spec = dict(_spec(obj))
        old_spec = _spec(op.old) if op.old else {}
        name = _meta(obj).get("name") or op.name
        stype = spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if stype != "ExternalName":
            spec.setdefault("internalTrafficPolicy", "Cluster")
            if op.verb == "update" and old_spec.get("clusterIP") and not spec.get("clusterIP"):
                spec["clusterIP"] = old_spec["clusterIP"]  # as the API server's patchAllocatedValues
                spec["clusterIPs"] = old_spec.get("clusterIPs") or [old_spec["clusterIP"]]
            ip = spec.get("clusterIP")
            if op.verb == "update" and old_spec.get("clusterIP") and ip != old_spec.get("clusterIP"):
                raise invalid("Service", name, [{"reason": "FieldValueInvalid", "field": "spec.clusterIPs[0]",
                                                 "message": f'Invalid value: ["{ip}"]: may not change once set'}])
            if not ip:
                ip = self._allocate_ip(commit=not op.dry_run)
            elif ip != "None" and op.verb == "create":
                try:
                    addr = ipaddress.ip_address(ip)
                except ValueError:
                    addr = None
                if addr is None or addr not in SERVICE_CIDR:
                    raise invalid("Service", name, [{"reason": "FieldValueInvalid", "field": "spec.clusterIPs",
                                                     "message": f'Invalid value: ["{ip}"]: failed to allocate IP {ip}: '
                                                                f"the provided IP ({ip}) is not in the valid range. "
                                                                f"The range of valid IPs is {SERVICE_CIDR}"}])
                if ip in self._service_ips:
                    raise invalid("Service", name, [{"reason": "FieldValueInvalid", "field": "spec.clusterIPs",
                                                     "message": f'Invalid value: ["{ip}"]: failed to allocate IP {ip}: '
                                                                "provided IP is already allocated"}])
                if not op.dry_run:
                    self._service_ips.add(ip)
            spec["clusterIP"] = ip
            spec["clusterIPs"] = [ip]
            if ip != "None" or op.verb == "create":
                spec.setdefault("ipFamilies", ["IPv4"])
                spec.setdefault("ipFamilyPolicy", "SingleStack")
        old_ports = {(p.get("port"), p.get("protocol", "TCP")): p for p in old_spec.get("ports") or []
                     if isinstance(p, dict)}
        ports = []
        for p in spec.get("ports") or []:
            if not isinstance(p, dict):
                ports.append(p)
                continue
            p = dict(p)
            p.setdefault("protocol", "TCP")
            if stype != "ExternalName" and spec.get("clusterIP") != "None" or "targetPort" not in p:
                p.setdefault("targetPort", p.get("port"))
            if stype in ("NodePort", "LoadBalancer") and not p.get("nodePort"):
                prev = old_ports.get((p.get("port"), p["protocol"]), {}).get("nodePort")
                p["nodePort"] = prev or self._allocate_node_port(commit=not op.dry_run)
            ports.append(p)
        if "ports" in spec:
            spec["ports"] = ports
        if stype in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
        if stype == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
        obj["spec"] = spec

    def _allocate_ip(self, *, commit: bool) -> str:
        size = SERVICE_CIDR.num_addresses - 2
        for _ in range(size):
            n = self._next_ip
            self._next_ip = n + 1 if n + 1 <= size else 2
            ip = str(SERVICE_CIDR.network_address + n)
            if ip not in self._service_ips:
                if commit:
                    self._service_ips.add(ip)
                return ip
        raise StatusError(500, "InternalError", "Internal error occurred: failed to allocate a serviceIP: "
                                                 "range is full")

    def _allocate_node_port(self, *, commit: bool) -> int:
        for port in NODE_PORTS:
            if port not in self._node_ports:
                if commit:
                    self._node_ports.add(port)
                return port
        raise StatusError(500, "InternalError", "Internal error occurred: failed to allocate a nodePort: range is full")

    # -- Nodes and Namespaces

    def _create_nodes(self) -> None:
        res = self._res("node")
        if res is None:
            return
        for name in self.nodes:
            if self._get("node", "", name) is not None:
                continue
            node = self._create("node", "", {
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                                      "kubernetes.io/arch": "amd64"}},
                "spec": {"podCIDR": str(POD_CIDR)}})
            if node is None:
                continue
            now = self._now()
            self._update("node", {**node, "status": {
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                "message": "kubelet is posting ready status", "lastHeartbeatTime": now,
                                "lastTransitionTime": now}],
                "addresses": [{"type": "InternalIP", "address": self._node_ips[name]},
                              {"type": "Hostname", "address": name}],
                "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                "nodeInfo": {"kubeletVersion": "v1.37.0", "operatingSystem": "linux", "architecture": "amd64",
                             "containerRuntimeVersion": "simulated://1"}}}, status=True)

    def _sync_ns(self, ns: Obj) -> None:
        name = _meta(ns).get("name") or ""
        if _status(ns).get("phase", "Active") != "Active":
            return
        if self._get("sa", name, "default") is None:  # as the serviceaccount controller does
            self._create("sa", name, {"apiVersion": "v1", "kind": "ServiceAccount",
                                      "metadata": {"name": "default", "namespace": name}})

    # -- Pods

    def _pod_decision(self, pod: Obj) -> tuple[Decision, str, Obj | None]:
        """The Pod's fate: its workload's (Deployment, StatefulSet, DaemonSet, Job, ReplicaSet), or
        its own for a bare Pod; the workload's kind and the workload."""
        ns = _meta(pod).get("namespace") or ""
        ref = _controller_ref(pod)
        owner: Obj | None = None
        kind = "Pod"
        while ref is not None and ref.get("kind") in _WORKLOAD_OF:
            o = self._cache[_WORKLOAD_OF[ref["kind"]]].get((ns, ref.get("name", "")))
            if o is None or _meta(o).get("uid") != ref.get("uid"):
                break
            owner, kind = o, ref["kind"]
            ref = _controller_ref(o)
        return self._decision(owner if owner is not None else pod, kind), kind, owner

    def _sync_pod(self, pod: Obj) -> None:
        m, st = _meta(pod), _status(pod)
        ns, name, uid = m.get("namespace") or "", m.get("name") or "", m.get("uid") or ""
        phase = st.get("phase")
        if phase in ("Succeeded", "Failed"):
            return
        decision, owner_kind, owner = self._pod_decision(pod)
        now = self._now()
        containers = [c for c in _spec(pod).get("containers") or [] if isinstance(c, dict)]
        node = _spec(pod).get("nodeName") or self.nodes[0]
        scheduled = _condition(st.get("conditions") or [], "PodScheduled", "True", "", "", now)
        scheduled.pop("reason"), scheduled.pop("message")
        if not any(isinstance(c, dict) and c.get("type") == "PodScheduled" for c in st.get("conditions") or []):
            self._set_status("pod", pod, {
                **st, "phase": "Pending", "conditions": [scheduled], "qosClass": "BestEffort",
                "hostIP": self._node_ips.get(node, "172.18.0.2"),
                "containerStatuses": [self._container(c, "waiting", now, reason="ContainerCreating")
                                      for c in containers]})
        if uid not in self._elapsed:
            if not decision.never:
                seconds = decision.seconds
                if owner_kind == "Job" and decision.fail and owner is not None and any(
                        _status(p).get("phase") == "Failed" for p in self._children(owner, "pod")):
                    seconds = 0.0  # a failing Job's retries fail at once (no back-off delays)
                self._after(uid, seconds, "pod", ns, name)
            return
        job = owner_kind == "Job"
        if owner_kind == "Pod" and _controller_ref(pod) is None and \
                _spec(pod).get("restartPolicy") in ("Never", "OnFailure"):
            self._run_to_completion(pod, decision, containers, now)
            return
        if decision.fail and (job or owner_kind == "Pod"):
            self._set_status("pod", pod, {
                "phase": "Failed", "reason": "Error" if job else "SimulatedFailure",
                "message": "simulated failure", "conditions": self._pod_conditions(st, False, now, "PodFailed"),
                "hostIP": st.get("hostIP"), "podIP": st.get("podIP") or self._pod_ip(), "startTime": st.get("startTime", now),
                "qosClass": "BestEffort",
                "containerStatuses": [self._container(c, "terminated", now, exit_code=1) for c in containers]})
            self._report(pod, "Pod", "failed", "simulated failure")
            return
        base = {"hostIP": st.get("hostIP"), "podIP": st.get("podIP") or self._pod_ip(), "startTime": st.get("startTime", now),
                "qosClass": "BestEffort"}
        if decision.fail:  # a workload's Pod: running, never ready (crash looping)
            self._set_status("pod", pod, {
                "phase": "Running", **base, "podIPs": [{"ip": base["podIP"]}],
                "conditions": self._pod_conditions(st, False, now, "ContainersNotReady"),
                "containerStatuses": [self._container(c, "waiting", now, reason="CrashLoopBackOff", restarts=1)
                                      for c in containers]})
            return
        if job:
            self._set_status("pod", pod, {
                "phase": "Succeeded", **base, "podIPs": [{"ip": base["podIP"]}],
                "conditions": self._pod_conditions(st, False, now, "PodCompleted"),
                "containerStatuses": [self._container(c, "terminated", now, exit_code=0) for c in containers]})
            return
        self._set_status("pod", pod, {
            "phase": "Running", **base, "podIPs": [{"ip": base["podIP"]}],
            "conditions": self._pod_conditions(st, True, now, ""),
            "containerStatuses": [self._container(c, "running", now) for c in containers]})
        self._report(pod, "Pod", "ready", "Running")

    def _run_to_completion(self, pod: Obj, decision: Decision, containers: list[Obj], now: str) -> None:
        """A bare Pod that is not restarted (``restartPolicy: Never`` or ``OnFailure``, no controller):
        Running, then, after its duration again, Succeeded (its containers terminated with exit code 0,
        reason Completed) or, when it fails, Failed (exit code 1, reason Error): what the kubelet shows
        of a test hook or a one-off Pod whose command ends."""
        m, st = _meta(pod), _status(pod)
        ns, name, uid = m.get("namespace") or "", m.get("name") or "", m.get("uid") or ""
        base = {"hostIP": st.get("hostIP"), "podIP": st.get("podIP") or self._pod_ip(),
                "startTime": st.get("startTime", now), "qosClass": "BestEffort"}
        base["podIPs"] = [{"ip": base["podIP"]}]
        if (uid, "run") not in self._elapsed:
            if st.get("phase") != "Running":
                self._set_status("pod", pod, {
                    "phase": "Running", **base, "conditions": self._pod_conditions(st, True, now, ""),
                    "containerStatuses": [self._container(c, "running", now) for c in containers]})
            self._after((uid, "run"), decision.seconds, "pod", ns, name)
            return
        code = 1 if decision.fail else 0
        self._set_status("pod", pod, {
            "phase": "Failed" if code else "Succeeded", **base,
            "conditions": self._pod_conditions(st, False, now, "PodFailed" if code else "PodCompleted"),
            "containerStatuses": [self._container(c, "terminated", now, exit_code=code) for c in containers]})
        self._report(pod, "Pod", "failed" if code else "ready", "Failed" if code else "Succeeded")

    def _pod_ip(self) -> str:
        return str(POD_CIDR.network_address + 2 + next(self._pod_ips) % (POD_CIDR.num_addresses - 3))

    @staticmethod
    def _pod_conditions(st: Obj, ready: bool, now: str, reason: str) -> list[Obj]:
        old = st.get("conditions") or []
        out = []
        for ctype in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"):
            ok = ready or ctype in ("Initialized", "PodScheduled", "PodReadyToStartContainers")
            c = _condition(old, ctype, "True" if ok else "False", "" if ok else reason, "", now)
            if ok or not reason:
                c.pop("reason")
            c.pop("message")
            out.append(c)
        return out

    @staticmethod
    def _container(c: Obj, state: str, now: str, *, reason: str = "", exit_code: int = 0, restarts: int = 0) -> Obj:
        name, image = c.get("name", ""), c.get("image", "")
        s: Obj
        if state == "running":
            s = {"running": {"startedAt": now}}
        elif state == "terminated":
            s = {"terminated": {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error",
                                "startedAt": now, "finishedAt": now, "containerID": f"simulated://{name}"}}
        else:
            s = {"waiting": {"reason": reason}}
        out: Obj = {"name": name, "image": image, "imageID": f"{image}@simulated" if state != "waiting" else "",
                    "ready": state == "running", "started": state == "running", "restartCount": restarts,
                    "state": s}
        if state != "waiting":
            out["containerID"] = f"simulated://{name}"
        return out

    def _pod_from_template(self, template: Obj, ns: str, owner_ref: Obj, *, name: str = "", generate: str = "",
                           labels: Obj | None = None, spec_extra: Obj | None = None) -> Obj:
        tm = _dict(template.get("metadata"))
        meta: Obj = {"namespace": ns, "labels": {**(tm.get("labels") or {}), **(labels or {})},
                     "ownerReferences": [owner_ref]}
        if tm.get("annotations"):
            meta["annotations"] = dict(tm["annotations"])
        if name:
            meta["name"] = name
        else:
            meta["generateName"] = generate
        spec = deep_copy(template.get("spec") or {})
        spec.update(spec_extra or {})
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}

    # -- Deployments and ReplicaSets

    def _sync_deploy(self, d: Obj) -> None:
        m, spec = _meta(d), _spec(d)
        ns, name, uid, gen = m.get("namespace") or "", m["name"], m.get("uid") or "", m.get("generation", 1)
        replicas = _int(spec.get("replicas"), 1)
        template = _dict(spec.get("template"))
        h = template_hash(template)
        owned = self._children(d, "rs")
        new = next((r for r in owned if (_meta(r).get("labels") or {}).get("pod-template-hash") == h), None)
        revisions = [_int((_meta(r).get("annotations") or {}).get("deployment.kubernetes.io/revision"), 0)
                     for r in owned]
        top = max(revisions, default=0)
        decision = self._decision(d, "Deployment")
        now = self._now()
        if self._adopt("rs", d, "apps/v1", "Deployment"):
            return  # the adopted ReplicaSets' changes bring us back
        if new is None:
            tlabels = {**((template.get("metadata") or {}).get("labels") or {}), "pod-template-hash": h}
            selector = deep_copy(spec.get("selector") or {})
            selector["matchLabels"] = {**(selector.get("matchLabels") or {}), "pod-template-hash": h}
            rs_template = deep_copy(template)
            rs_template["metadata"] = {**(rs_template.get("metadata") or {}), "labels": tlabels}
            new = self._create("rs", ns, {
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"{name}-{h}", "namespace": ns, "labels": tlabels,
                             "annotations": {"deployment.kubernetes.io/desired-replicas": str(replicas),
                                             "deployment.kubernetes.io/max-replicas": str(replicas + 1),
                                             "deployment.kubernetes.io/revision": str(top + 1)},
                             "ownerReferences": [_owner_ref(d, "apps/v1", "Deployment")]},
                "spec": {"replicas": replicas, "selector": selector, "template": rs_template}})
            if new is None:
                return
            owned.append(new)
        else:
            ann = _meta(new).get("annotations") or {}
            rev = _int(ann.get("deployment.kubernetes.io/revision"), 0)
            changes: Obj = {}
            if _int(_spec(new).get("replicas"), 1) != replicas:
                changes["spec"] = {**_spec(new), "replicas": replicas}
            if rev < top or ann.get("deployment.kubernetes.io/desired-replicas") != str(replicas):
                new_ann = {**ann, "deployment.kubernetes.io/desired-replicas": str(replicas),
                           "deployment.kubernetes.io/max-replicas": str(replicas + 1)}
                if rev < top:  # a rollback to an older template: it becomes the newest revision
                    new_ann["deployment.kubernetes.io/revision"] = str(top + 1)
                changes["metadata"] = {**_meta(new), "annotations": new_ann}
            if changes:
                new = self._update("rs", {**new, **changes})
        new_name = _meta(new)["name"]
        if decision.fail:  # its Pods never get ready: the progress deadline passes
            self._after((uid, h), decision.seconds, "deploy", ns, name)
        nst = _status(new)
        new_done = (_int(nst.get("availableReplicas"), 0) >= replicas and _int(nst.get("replicas"), 0) == replicas
                    and nst.get("observedGeneration") == _meta(new).get("generation"))
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        old = [r for r in owned if _meta(r)["name"] != new_name]
        for r in old:
            if _int(_spec(r).get("replicas"), 1) != 0 and (new_done or recreate):
                self._update("rs", {**r, "spec": {**_spec(r), "replicas": 0}})
        total = sum(_int(_status(r).get("replicas"), 0) for r in owned)
        ready = sum(_int(_status(r).get("readyReplicas"), 0) for r in owned)
        available = sum(_int(_status(r).get("availableReplicas"), 0) for r in owned)
        updated = _int(nst.get("replicas"), 0)
        conds = _status(d).get("conditions") or []
        min_available = replicas - _max_unavailable(d, replicas)
        if available >= min_available:
            avail_c = _condition(conds, "Available", "True", "MinimumReplicasAvailable",
                                 "Deployment has minimum availability.", now, update_time=True)
        else:
            avail_c = _condition(conds, "Available", "False", "MinimumReplicasUnavailable",
                                 "Deployment does not have minimum availability.", now, update_time=True)
        complete = (new_done and total == replicas and updated == replicas and available >= replicas
                    and all(_int(_spec(r).get("replicas"), 1) == 0 for r in old))
        if complete:
            prog_c = _condition(conds, "Progressing", "True", "NewReplicaSetAvailable",
                                f'ReplicaSet "{new_name}" has successfully progressed.', now, update_time=True)
        elif (uid, h) in self._elapsed:
            prog_c = _condition(conds, "Progressing", "False", "ProgressDeadlineExceeded",
                                f'ReplicaSet "{new_name}" has timed out progressing.', now, update_time=True)
        else:
            prev = next((c for c in conds if isinstance(c, dict) and c.get("type") == "Progressing"), None)
            reason = "NewReplicaSetCreated" if prev is None else "ReplicaSetUpdated"
            message = (f'Created new replica set "{new_name}"' if prev is None
                       else f'ReplicaSet "{new_name}" is progressing.')
            if prev is not None and prev.get("reason") == "NewReplicaSetCreated" and updated == 0:
                reason, message = prev["reason"], prev.get("message", message)
            prog_c = _condition(conds, "Progressing", "True", reason, message, now, update_time=True)
        status: Obj = {"observedGeneration": gen, "replicas": total, "updatedReplicas": updated,
                       "readyReplicas": ready, "availableReplicas": available}
        wanted = sum(_int(_spec(self._cache["rs"].get((ns, _meta(r)["name"])) or r).get("replicas"), 1)
                     for r in owned)  # as calculateStatus: the ReplicaSets' spec.replicas
        if wanted - available > 0:
            status["unavailableReplicas"] = wanted - available
        status = {k: v for k, v in status.items() if v or k == "observedGeneration"}
        status["conditions"] = [avail_c, prog_c]
        failures = [c for r in owned for c in _status(self._cache["rs"].get((ns, _meta(r)["name"])) or r).get(
            "conditions") or [] if isinstance(c, dict) and c.get("type") == "ReplicaFailure"]
        if failures:  # the ReplicaSet's, as the real controller copies it
            status["conditions"].append(_condition(conds, "ReplicaFailure", "True", failures[0].get("reason", ""),
                                                   failures[0].get("message", ""), now, update_time=True))
        revision = (_meta(new).get("annotations") or {}).get("deployment.kubernetes.io/revision")
        if revision and (m.get("annotations") or {}).get("deployment.kubernetes.io/revision") != revision:
            # the new ReplicaSet's revision on the Deployment too (kubectl rollout undo/history need it),
            # written with the status as the deployment controller does (no new generation)
            ann = {**(m.get("annotations") or {}), "deployment.kubernetes.io/revision": revision}
            d = self._update("deploy", {**d, "metadata": {**m, "annotations": ann}, "status": status}, status=True)
        else:
            d = self._set_status("deploy", d, status)
        if complete and avail_c["status"] == "True":
            self._report(d, "Deployment", "ready", "NewReplicaSetAvailable")
        elif prog_c["reason"] == "ProgressDeadlineExceeded":
            self._report(d, "Deployment", "failed", "ProgressDeadlineExceeded")

    def _sync_rs(self, rs: Obj) -> None:
        m, spec = _meta(rs), _spec(rs)
        ns, name = m.get("namespace") or "", m["name"]
        desired = _int(spec.get("replicas"), 1)
        self._adopt("pod", rs, "apps/v1", "ReplicaSet")
        pods = [p for p in self._children(rs, "pod") if _active(p)]
        template = _dict(spec.get("template"))
        failure: StatusError | None = None
        if len(pods) < desired:
            for _ in range(desired - len(pods)):
                try:
                    p = self._create("pod", ns, self._pod_from_template(
                        template, ns, _owner_ref(rs, "apps/v1", "ReplicaSet"), generate=f"{name}-"))
                except StatusError as e:
                    if e.code in (404, 409):
                        raise
                    failure = e  # as the real controller: a ReplicaFailure condition, and on we go
                    self.errors.append(f"ReplicaSet {ns}/{name}: {e.code} {e.reason}: {e.message}")
                    del self.errors[:-100]
                    break
                if p is not None:
                    pods.append(p)
        elif len(pods) > desired:
            victims = sorted(pods, key=lambda p: (_pod_ready(p), _meta(p).get("name", "")))[:len(pods) - desired]
            for p in victims:
                self._delete("pod", ns, _meta(p)["name"])
            gone = {id(p) for p in victims}
            pods = [p for p in pods if id(p) not in gone]
        tlabels = (template.get("metadata") or {}).get("labels") or {}
        ready = sum(1 for p in pods if _pod_ready(p))
        status: Obj = {"replicas": len(pods),
                       "fullyLabeledReplicas": sum(1 for p in pods if _selects(tlabels, _meta(p).get("labels"))
                                                   or not tlabels),
                       "readyReplicas": ready, "availableReplicas": ready,
                       "observedGeneration": m.get("generation", 1)}
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        if failure is not None:
            status["conditions"] = [_condition(_status(rs).get("conditions") or [], "ReplicaFailure", "True",
                                               "FailedCreate", failure.message, self._now())]
        rs = self._set_status("rs", rs, status)
        if _controller_ref(rs) is None and ready == desired and len(pods) == desired:
            self._report(rs, "ReplicaSet", "ready", "ReplicasReady")

    # -- StatefulSets and DaemonSets

    def _sync_sts(self, s: Obj) -> None:
        m, spec = _meta(s), _spec(s)
        ns, name = m.get("namespace") or "", m["name"]
        replicas = _int(spec.get("replicas"), 1)
        template = _dict(spec.get("template"))
        rev = f"{name}-{template_hash(template)}"
        ordered = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        pods: dict[int, Obj] = {}
        for p in self._children(s, "pod"):
            pname = _meta(p).get("name", "")
            idx = pname[len(name) + 1:]
            if pname.startswith(f"{name}-") and idx.isdigit() and not _meta(p).get("deletionTimestamp"):
                pods[int(idx)] = p
        old_status = _status(s)
        current_rev = old_status.get("currentRevision") or rev
        ref = _owner_ref(s, "apps/v1", "StatefulSet")
        for i in range(replicas):
            if i not in pods:
                for vct in spec.get("volumeClaimTemplates") or []:
                    if isinstance(vct, dict) and (vct.get("metadata") or {}).get("name"):
                        claim = f"{vct['metadata']['name']}-{name}-{i}"
                        if self._get("pvc", ns, claim) is None:
                            self._create("pvc", ns, {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                                     "metadata": {"name": claim, "namespace": ns,
                                                                  "labels": dict(tlabels_of(template))},
                                                     "spec": deep_copy(vct.get("spec") or {})})
                made = self._create("pod", ns, self._pod_from_template(
                    template, ns, ref, name=f"{name}-{i}",
                    labels={"controller-revision-hash": rev, "statefulset.kubernetes.io/pod-name": f"{name}-{i}",
                            "apps.kubernetes.io/pod-index": str(i)},
                    spec_extra={"hostname": f"{name}-{i}", **({"subdomain": spec["serviceName"]}
                                                              if spec.get("serviceName") else {})}))
                if made is not None:
                    pods[i] = made
                if ordered:
                    break
            elif ordered and not _pod_ready(pods[i]):
                break
        extra = sorted((i for i in pods if i >= replicas), reverse=True)
        for i in extra[:1] if ordered else extra:
            self._delete("pod", ns, _meta(pods.pop(i))["name"])
        live = {i: p for i, p in pods.items() if i < replicas}
        if len(live) == replicas and all(_pod_ready(p) for p in live.values()):
            outdated = sorted((i for i, p in live.items() if (_meta(p).get("labels") or {}).get(
                "controller-revision-hash") != rev), reverse=True)
            if outdated:  # rolling update: the highest ordinal first, one at a time
                self._delete("pod", ns, _meta(live.pop(outdated[0]))["name"])
        ready = sum(1 for p in live.values() if _pod_ready(p))
        updated = sum(1 for p in live.values() if (_meta(p).get("labels") or {}).get("controller-revision-hash") == rev)
        if updated == replicas and ready == replicas:
            current_rev = rev
        current = sum(1 for p in live.values()
                      if (_meta(p).get("labels") or {}).get("controller-revision-hash") == current_rev)
        status: Obj = {"observedGeneration": m.get("generation", 1), "replicas": len(live), "readyReplicas": ready,
                       "currentReplicas": current, "updatedReplicas": updated, "availableReplicas": ready,
                       "currentRevision": current_rev, "updateRevision": rev, "collisionCount": 0}
        status = {k: v for k, v in status.items() if v != 0 or k in ("replicas", "observedGeneration",
                                                                      "availableReplicas", "collisionCount")}
        s = self._set_status("sts", s, status)
        if ready == replicas and len(live) == replicas and current_rev == rev:
            self._report(s, "StatefulSet", "ready", "AllReplicasReady")

    def _sync_ds(self, ds: Obj) -> None:
        m, spec = _meta(ds), _spec(ds)
        ns, name = m.get("namespace") or "", m["name"]
        template = _dict(spec.get("template"))
        h = template_hash(template)
        by_node: dict[str, Obj] = {}
        for p in self._children(ds, "pod"):
            if _active(p):
                by_node[_spec(p).get("nodeName", "")] = p
        ref = _owner_ref(ds, "apps/v1", "DaemonSet")
        for node in self.nodes:
            if node not in by_node:
                made = self._create("pod", ns, self._pod_from_template(
                    template, ns, ref, generate=f"{name}-",
                    labels={"controller-revision-hash": h, "pod-template-generation": str(m.get("generation", 1))},
                    spec_extra={"nodeName": node}))
                if made is not None:
                    by_node[node] = made
        pods = [by_node[n] for n in self.nodes if n in by_node]
        if all(_pod_ready(p) for p in pods):
            outdated = [p for p in pods if (_meta(p).get("labels") or {}).get("controller-revision-hash") != h]
            if outdated:  # rolling update, maxUnavailable 1
                self._delete("pod", ns, _meta(outdated[0])["name"])
                pods.remove(outdated[0])
        ready = sum(1 for p in pods if _pod_ready(p))
        updated = sum(1 for p in pods if (_meta(p).get("labels") or {}).get("controller-revision-hash") == h)
        n = len(self.nodes)
        status: Obj = {"currentNumberScheduled": len(pods), "desiredNumberScheduled": n, "numberMisscheduled": 0,
                       "numberReady": ready, "numberAvailable": ready, "updatedNumberScheduled": updated,
                       "observedGeneration": m.get("generation", 1)}
        if n - ready:
            status["numberUnavailable"] = n - ready
        if not ready:
            del status["numberAvailable"]
        ds = self._set_status("ds", ds, status)
        if ready == n and updated == n:
            self._report(ds, "DaemonSet", "ready", "AllPodsReady")

    # -- Jobs

    def _sync_job(self, job: Obj) -> None:
        m, spec, st = _meta(job), _spec(job), _status(job)
        ns, name, uid = m.get("namespace") or "", m["name"], m.get("uid") or ""
        if any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in st.get("conditions") or [] if isinstance(c, dict)):
            return
        completions = _int(spec.get("completions"), 1)
        parallelism = _int(spec.get("parallelism"), 1)
        template = _dict(spec.get("template"))
        now = self._now()
        if spec.get("suspend") is True:  # no Pods until resumed (its active ones deleted)
            for running_pod in self._children(job, "pod"):
                if _active(running_pod):
                    self._delete("pod", ns, _meta(running_pod)["name"])
            cond = _condition(st.get("conditions") or [], "Suspended", "True", "JobSuspended", "Job suspended", now)
            cond["lastProbeTime"] = cond["lastTransitionTime"]
            self._set_status("job", job, {**{k: v for k, v in st.items() if k != "active"}, "conditions": [cond]})
            return
        pods = self._children(job, "pod")
        deadline = spec.get("activeDeadlineSeconds")
        if isinstance(deadline, int) and not isinstance(deadline, bool) and deadline > 0:
            # keyed by the deadline too: activeDeadlineSeconds may be changed on a running Job, and the
            # job controller then times it from the Job's start with the new value
            if (uid, "deadline", deadline) in self._elapsed:  # active too long: its Pods stopped, the Job failed
                self._fail_job_past_deadline(job, pods, now)
                return
            started = parse_rfc3339(st.get("startTime"))  # none yet: it starts now
            ran = max(self.clock.now() - started.timestamp(), 0.0) if started is not None else 0.0
            self._after((uid, "deadline", deadline), max(deadline - ran, 0.0), "job", ns, name)
        backoff_limit = _int(spec.get("backoffLimit"), 6)
        failed_now = sum(1 for p in pods if _status(p).get("phase") == "Failed")
        succeeded_now = sum(1 for p in pods if _status(p).get("phase") == "Succeeded")
        running = sum(1 for p in pods if _active(p))
        # a new Pod for each missing completion, and one for each failure while the back-off
        # limit allows (a failed Job ends with backoffLimit + 1 failed Pods, as the real one)
        wanted = 0 if failed_now > backoff_limit else min(parallelism, completions - succeeded_now) - running
        if wanted > 0:
            labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                      "controller-uid": uid, "job-name": name}
            for _ in range(wanted):
                p = self._create("pod", ns, self._pod_from_template(template, ns, _owner_ref(job, "batch/v1", "Job"),
                                                                    generate=f"{name}-", labels=labels))
                if p is not None:
                    pods.append(p)
        phases = Counter(_status(p).get("phase") for p in pods)
        succeeded, failed = phases["Succeeded"], phases["Failed"]
        active = sum(1 for p in pods if _active(p))
        status: Obj = {"startTime": st.get("startTime", now), "active": active,
                       "ready": sum(1 for p in pods if _active(p) and _pod_ready(p)), "terminating": 0,
                       "uncountedTerminatedPods": {}}
        if succeeded:
            status["succeeded"] = succeeded
        if failed:
            status["failed"] = failed
        conds = st.get("conditions") or []
        if failed > backoff_limit:
            status["active"] = 0
            status["conditions"] = [
                _condition(conds, "FailureTarget", "True", "BackoffLimitExceeded",
                           "Job has reached the specified backoff limit", now, update_time=False),
                _condition(conds, "Failed", "True", "BackoffLimitExceeded",
                           "Job has reached the specified backoff limit", now, update_time=False)]
            for c in status["conditions"]:
                c["lastProbeTime"] = now
        elif succeeded >= completions:
            status["active"] = 0
            status["completionTime"] = now
            status["conditions"] = [
                _condition(conds, "SuccessCriteriaMet", "True", "CompletionsReached",
                           "Reached expected number of succeeded pods", now),
                _condition(conds, "Complete", "True", "CompletionsReached",
                           "Reached expected number of succeeded pods", now)]
            for c in status["conditions"]:
                c["lastProbeTime"] = now
        if any(isinstance(c, dict) and c.get("type") == "Suspended" for c in conds):  # it was suspended
            resumed = _condition(conds, "Suspended", "False", "JobResumed", "Job resumed", now)
            resumed["lastProbeTime"] = resumed["lastTransitionTime"]
            status["conditions"] = [resumed, *status.get("conditions", [])]
        if not status["active"]:
            del status["active"]
        job = self._set_status("job", job, status)
        if failed > backoff_limit:
            self._report(job, "Job", "failed", "BackoffLimitExceeded")
        elif succeeded >= completions:
            self._report(job, "Job", "ready", "Complete")

    def _fail_job_past_deadline(self, job: Obj, pods: list[Obj], now: str) -> None:
        """``activeDeadlineSeconds`` passed (the job controller's ``DeadlineExceeded``): the active
        Pods are deleted (a Pod run for real gets SIGTERM) and counted failed, the Job fails."""
        ns, st = _meta(job).get("namespace") or "", _status(job)
        active = [p for p in pods if _active(p)]
        for p in active:
            self._delete("pod", ns, _meta(p)["name"])
        conds = st.get("conditions") or []
        message = "Job was active longer than specified deadline"
        status: Obj = {"startTime": st.get("startTime", now), "ready": 0, "terminating": 0,
                       "uncountedTerminatedPods": {},
                       "failed": sum(1 for p in pods if _status(p).get("phase") == "Failed") + len(active),
                       "conditions": [_condition(conds, "FailureTarget", "True", "DeadlineExceeded", message, now,
                                                 update_time=False),
                                      _condition(conds, "Failed", "True", "DeadlineExceeded", message, now,
                                                 update_time=False)]}
        succeeded = sum(1 for p in pods if _status(p).get("phase") == "Succeeded")
        if succeeded:
            status["succeeded"] = succeeded
        for c in status["conditions"]:
            c["lastProbeTime"] = now
        job = self._set_status("job", job, status)
        self._report(job, "Job", "failed", "DeadlineExceeded")

    # -- Services: load balancer, EndpointSlices and Endpoints

    def _sync_svc(self, svc: Obj) -> None:
        m, spec = _meta(svc), _spec(svc)
        ns, name, uid = m.get("namespace") or "", m["name"], m.get("uid") or ""
        if spec.get("type") == "LoadBalancer" and not (_status(svc).get("loadBalancer") or {}).get("ingress"):
            d = self._decision(svc, "Service")
            if not d.never and not d.fail:
                self._after(uid, d.seconds, "svc", ns, name)
            if uid in self._elapsed:
                ip = str(LB_ADDRESS_BASE + next(self._lb_ips) % 240)  # within TEST-NET-1
                svc = self._set_status("svc", svc, {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}})
                self._report(svc, "Service", "ready", "LoadBalancerProvisioned")
        elif spec.get("type") != "LoadBalancer":
            self._report(svc, "Service", "ready", "ClusterIPAllocated" if spec.get("clusterIP") else "Created")
        selector = spec.get("selector")
        if spec.get("type") == "ExternalName" or not isinstance(selector, dict) or not selector:
            return
        pods = []
        if all(isinstance(v, (str, int, float, bool)) for v in selector.values()):
            sets = sorted((self._pods_by_label.get((ns, k, v), set()) for k, v in selector.items()), key=len)
            for pname in sorted(set.intersection(*sets) if sets else set()):
                self.stats["scanned"] += 1
                p = self._cache["pod"].get((ns, pname))
                if p is not None and _status(p).get("podIP") and _active(p) and _selects(selector, _meta(p).get("labels")):
                    pods.append(p)
        ports = []
        for sp in spec.get("ports") or []:
            if not isinstance(sp, dict):
                continue
            target = sp.get("targetPort", sp.get("port"))
            if isinstance(target, str):
                target = next((cp.get("containerPort") for p in pods for c in _spec(p).get("containers") or []
                               for cp in c.get("ports") or [] if cp.get("name") == target), None)
                if target is None:
                    continue
            port: Obj = {"name": sp.get("name", ""), "port": target, "protocol": sp.get("protocol", "TCP")}
            if sp.get("appProtocol"):
                port["appProtocol"] = sp["appProtocol"]
            ports.append(port)
        endpoints: list[Obj] = []
        for p in pods:
            pm, ready = _meta(p), _pod_ready(p)
            endpoints.append({"addresses": [_status(p)["podIP"]],
                              "conditions": {"ready": ready, "serving": ready, "terminating": False},
                              "nodeName": _spec(p).get("nodeName"),
                              "targetRef": {"kind": "Pod", "namespace": ns, "name": pm.get("name"),
                                            "uid": pm.get("uid")}})
        labels = {**(m.get("labels") or {}), "kubernetes.io/service-name": name,
                  "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
        slice_ = self._cache["slice"].get((ns, self._slice_of.get((ns, name), "")))
        if slice_ is not None and (_controller_ref(slice_) or {}).get("uid") != uid:
            slice_ = None  # a previous Service's of that name, being collected
        body = {"addressType": "IPv4", "endpoints": endpoints, "ports": ports}
        if slice_ is None:
            self._create("slice", ns, {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                                       "metadata": {"generateName": f"{name}-", "namespace": ns, "labels": labels,
                                                    "ownerReferences": [_owner_ref(svc, "v1", "Service")]},
                                       **body})
        elif any(slice_.get(k) != v for k, v in body.items()) or _meta(slice_).get("labels") != labels:
            self._update("slice", {**slice_, **body, "metadata": {**_meta(slice_), "labels": labels}})
        ready_addrs = [self._ep_address(e) for e in endpoints if e["conditions"]["ready"]]
        not_ready = [self._ep_address(e) for e in endpoints if not e["conditions"]["ready"]]
        subset: Obj = {}
        if ready_addrs:
            subset["addresses"] = ready_addrs
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        ep_body: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                        "metadata": {"name": name, "namespace": ns,
                                     "labels": {**(m.get("labels") or {}),
                                                "endpointslice.kubernetes.io/skip-mirror": "true"}}}
        if subset and ports:
            subset["ports"] = [{k: v for k, v in p.items() if k != "name" or v} for p in ports]
            ep_body["subsets"] = [subset]
        ep = self._get("ep", ns, name)
        if ep is None:
            self._create("ep", ns, ep_body)
        elif ep.get("subsets") != ep_body.get("subsets") or _meta(ep).get("labels") != ep_body["metadata"]["labels"]:
            new_ep = {**ep, "metadata": {**_meta(ep), "labels": ep_body["metadata"]["labels"]}}
            new_ep.pop("subsets", None)
            if "subsets" in ep_body:
                new_ep["subsets"] = ep_body["subsets"]
            self._update("ep", new_ep)

    @staticmethod
    def _ep_address(e: Obj) -> Obj:
        a: Obj = {"ip": e["addresses"][0], "targetRef": e["targetRef"]}
        if e.get("nodeName"):
            a["nodeName"] = e["nodeName"]
        return a

    # -- PodDisruptionBudgets

    def _sync_pdb(self, pdb: Obj) -> None:
        """The disruption controller's status (kstatus waits for ``currentHealthy >= desiredHealthy``)."""
        m, spec = _meta(pdb), _spec(pdb)
        ns = m.get("namespace") or ""
        sel = _label_selector(spec.get("selector"))
        pods = []
        if sel is not None:
            for pname in sorted(self._names_in.get(("pod", ns), ())):
                p = self._cache["pod"].get((ns, pname))
                self.stats["scanned"] += 1
                if p is not None and _active(p) and sel.matches(_meta(p).get("labels")):
                    pods.append(p)
        expected = len(pods)
        healthy = sum(1 for p in pods if _pod_ready(p))
        if "minAvailable" in spec:
            desired = _scaled(spec["minAvailable"], expected, round_up=True)
        elif "maxUnavailable" in spec:
            desired = max(expected - _scaled(spec["maxUnavailable"], expected, round_up=True), 0)
        else:
            desired = 0
        allowed = max(healthy - desired, 0)
        conds = _status(pdb).get("conditions") or []
        cond = _condition(conds, "DisruptionAllowed", "True" if allowed else "False",
                          "SufficientPods" if allowed else "InsufficientPods", "", self._now())
        cond["observedGeneration"] = m.get("generation", 1)
        self._set_status("pdb", pdb, {"observedGeneration": m.get("generation", 1), "disruptionsAllowed": allowed,
                                      "currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected,
                                      "conditions": [cond]})

    # -- PersistentVolumeClaims

    def _sync_pvc(self, pvc: Obj) -> None:
        m, spec, st = _meta(pvc), _spec(pvc), _status(pvc)
        ns, name, uid = m.get("namespace") or "", m["name"], m.get("uid") or ""
        if st.get("phase") == "Bound":
            return
        d = self._decision(pvc, "PersistentVolumeClaim")
        if st.get("phase") is None:
            pvc = self._set_status("pvc", pvc, {"phase": "Pending"})
        if not d.never:
            self._after(uid, d.seconds, "pvc", ns, name)
        if uid not in self._elapsed:
            return
        if d.fail:
            self._report(pvc, "PersistentVolumeClaim", "failed", "ProvisioningFailed")
            return
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        modes = spec.get("accessModes") or ["ReadWriteOnce"]
        volume = spec.get("volumeName") or f"pvc-{uid}"
        pv = self._get("pv", "", volume)
        if pv is None:
            pv_spec: Obj = {"capacity": {"storage": size}, "accessModes": list(modes),
                            "persistentVolumeReclaimPolicy": "Delete",
                            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": ns,
                                         "name": name, "uid": uid},
                            "hostPath": {"path": f"/var/lib/simulated-volumes/{ns}/{name}", "type": ""},
                            "volumeMode": spec.get("volumeMode", "Filesystem")}
            if spec.get("storageClassName"):
                pv_spec["storageClassName"] = spec["storageClassName"]
            pv = self._create("pv", "", {"apiVersion": "v1", "kind": "PersistentVolume",
                                         "metadata": {"name": volume,
                                                      "annotations": {"pv.kubernetes.io/provisioned-by":
                                                                      "simulated.helm-ac/hostpath"}},
                                         "spec": pv_spec})
            if pv is not None:
                self._update("pv", {**pv, "status": {"phase": "Bound"}}, status=True)
        if spec.get("volumeName") != volume or not (m.get("annotations") or {}).get("pv.kubernetes.io/bind-completed"):
            pvc = self._update("pvc", {**pvc, "metadata": {**m, "annotations": {
                **(m.get("annotations") or {}), "pv.kubernetes.io/bind-completed": "yes",
                "pv.kubernetes.io/bound-by-controller": "yes"}}, "spec": {**spec, "volumeName": volume}})
        pvc = self._set_status("pvc", pvc, {"phase": "Bound", "accessModes": list(modes), "capacity": {"storage": size}})
        self._report(pvc, "PersistentVolumeClaim", "ready", "Bound")

    # -- CustomResourceDefinitions

    def _sync_crd(self, crd: Obj) -> None:
        """The naming and establishing controllers (conditions from :mod:`.crds`): ``NamesAccepted``
        at once, ``Established`` after the CRD's duration; its resources join the registry first."""
        m = _meta(crd)
        name, uid = m["name"], m.get("uid") or ""
        now = self._now()
        res = self._res("crd")
        others = self.store.list(res, None)["items"] if res is not None else []
        d = self._decision(crd, "CustomResourceDefinition")
        was_established = crds.is_established(crd)
        status = crds.names_status(crd, others, self.store.registry, now=now)
        accepted: Obj = next((c for c in status["conditions"] if c.get("type") == "NamesAccepted"), {})
        if accepted.get("status") == "True" and d.fail and uid in self._elapsed and not was_established:
            old = _status(crd).get("conditions") or []
            status = {**status, "acceptedNames": _status(crd).get("acceptedNames") or {"plural": "", "kind": ""},
                      "conditions": [
                          _condition(old, "NamesAccepted", "False", "SimulatedFailure", "simulated failure", now),
                          _condition(old, "Established", "False", "NotAccepted", "not all names are accepted", now)]}
            accepted = status["conditions"][0]
        if accepted.get("status") != "True":
            crd = self._set_status("crd", crd, status)
            self._report(crd, "CustomResourceDefinition", "failed", str(accepted.get("reason", "")))
            return
        if not d.never and not d.fail:
            self._after(uid, d.seconds, "crd", "", name)
        if uid in self._elapsed or was_established:
            resources = crds.resources({**crd, "status": status})
            for r in self._crd_resources.get(name, []):
                if r not in resources:
                    self.store.registry.remove(r)
            for r in resources:
                self.store.registry.add(r)  # served before any client can see Established
            self._crd_resources[name] = resources
            status = crds.established({**crd, "status": status}, now=now)
        crd = self._set_status("crd", crd, status)
        if crds.is_established(crd):
            self._report(crd, "CustomResourceDefinition", "ready", "Established")


#: a Job's fields that never change (kube-apiserver's ValidateJobSpecUpdate, Kubernetes 1.34)
_JOB_IMMUTABLE = ("selector", "completionMode", "podFailurePolicy", "backoffLimitPerIndex")
#: what may change in the Pod template of a Job that is suspended and has not started (for queueing
#: controllers such as Kueue): the template's labels and annotations, and where its Pods go
_SUSPENDED_JOB_MUTABLE = ("nodeSelector", "affinity", "tolerations", "schedulingGates")


def _job_update_allowed(new: Obj, old: Obj) -> None:
    """A Job's spec.template and its other immutable fields (:data:`_JOB_IMMUTABLE`) refused when
    changed (422 ``field is immutable``), as kube-apiserver refuses them: a changed Job must be
    deleted and created anew."""
    spec, old_spec = _spec(new), _spec(old)
    name = str(_meta(new).get("name") or "")
    causes = [{"reason": "FieldValueInvalid", "field": f"spec.{f}",
               "message": f"Invalid value: {_go_value(spec.get(f))}: field is immutable"}
              for f in _JOB_IMMUTABLE if spec.get(f) != old_spec.get(f)]
    template, old_template = _dict(spec.get("template")), _dict(old_spec.get("template"))
    if template != old_template:
        suspended = spec.get("suspend") is True and old_spec.get("suspend") is True \
            and not _dict(old.get("status")).get("startTime")
        if not (suspended and _strip(template) == _strip(old_template)):
            causes.append({"reason": "FieldValueInvalid", "field": "spec.template",
                           "message": f"Invalid value: {_go_value(template)}: field is immutable"})
    if causes:
        raise invalid("Job", name, causes, "batch")


def _strip(template: Obj) -> Obj:
    """A Pod template without what a suspended Job may change."""
    pod_spec = {k: v for k, v in _dict(template.get("spec")).items() if k not in _SUSPENDED_JOB_MUTABLE}
    meta = {k: v for k, v in _dict(template.get("metadata")).items() if k not in ("labels", "annotations")}
    return {**template, "metadata": meta, "spec": pod_spec}


def _go_value(value: Any) -> str:
    """The value in an immutable-field message (kube-apiserver prints the Go struct; JSON here)."""
    import json

    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _default_workload(kind: str, obj: Obj) -> None:
    """The API server's defaults that clients dereference (Helm 3's ``--wait`` reads
    ``*spec.replicas``, the rolling-update parameters and ``*spec.backoffLimit``); applied on every
    write, as the real defaulting is. Pod-template defaults are not applied."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec = dict(spec)
    if kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        spec.setdefault("replicas", 1)
    if kind in ("Deployment", "StatefulSet", "DaemonSet"):
        spec.setdefault("revisionHistoryLimit", 10)
    if kind == "Deployment":
        strategy = dict(_dict(spec.get("strategy")))
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            strategy["rollingUpdate"] = {"maxUnavailable": "25%", "maxSurge": "25%",
                                         **_dict(strategy.get("rollingUpdate"))}
        spec["strategy"] = strategy
        spec.setdefault("progressDeadlineSeconds", 600)
    elif kind == "StatefulSet":
        spec.setdefault("podManagementPolicy", "OrderedReady")
        strategy = dict(_dict(spec.get("updateStrategy")))
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            strategy["rollingUpdate"] = {"partition": 0, **_dict(strategy.get("rollingUpdate"))}
        spec["updateStrategy"] = strategy
        spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
    elif kind == "DaemonSet":
        strategy = dict(_dict(spec.get("updateStrategy")))
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            strategy["rollingUpdate"] = {"maxUnavailable": 1, "maxSurge": 0, **_dict(strategy.get("rollingUpdate"))}
        spec["updateStrategy"] = strategy
    elif kind == "Job":
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
    else:
        return
    obj["spec"] = spec


def tlabels_of(template: Obj) -> Obj:
    tm = template.get("metadata")
    return (tm.get("labels") or {}) if isinstance(tm, dict) else {}
