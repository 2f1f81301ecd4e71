"""Server-side printing: objects as the ``meta.k8s.io/v1`` ``Table`` kube-apiserver answers to
``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` (what ``kubectl get`` asks for).

The columns and cells follow Kubernetes' own printers (``pkg/printers/internalversion/printers.go``
in kubernetes/kubernetes) for the kinds users look at; a custom resource gets its CRD's
``additionalPrinterColumns`` (JSONPath, evaluated with jsonpath-ng; an ``Age`` column when it has
none), as the apiextensions server's table convertor does; every other kind gets the generic
registry's default table, ``NAME`` and ``CREATED AT``. Cells are computed as the server does it,
always with the wide (priority 1) columns: kubectl hides those unless ``-o wide``. Fields that
kube-apiserver defaults and the store does not (``replicas``, a volume's ``volumeMode``) are read
with their defaults.

Pure: the caller gives the current time (epoch seconds) for the ``AGE`` cells.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

import orjson

from .resources import Resource
from .selectors import label_selector_string
from .times import parse_rfc3339, rfc3339

Obj = dict[str, Any]
Cell = Any
#: (name, type, priority, description) of a column; format "name" for the NAME column
Column = tuple[str, str, int, str]
RowFn = Callable[[Obj, float], list[Cell]]

TABLE_API_VERSION = "meta.k8s.io/v1"
INCLUDE_OBJECT = ("None", "Metadata", "Object")

_NAME_DOC = ("Name must be unique within a namespace. Is required when creating resources, although some "
             "resources may allow a client to request the generation of an appropriate name automatically. Name "
             "is primarily intended for creation idempotence and configuration definition. Cannot be updated.")
_AGE_DOC = ("CreationTimestamp is a timestamp representing the server time when this object was created. It is "
            "not guaranteed to be set in happens-before order across separate operations. Clients may not set "
            "this value. It is represented in RFC3339 form and is in UTC.")
_CONTAINERS_DOC = "Names of each container in the template."
_IMAGES_DOC = "Images referenced by each container in the template."


def _name(o: Obj) -> str:
    return str(_meta(o).get("name") or "")


def _meta(o: Obj) -> Obj:
    m = o.get("metadata")
    return m if isinstance(m, dict) else {}


def _dict(o: Any, key: str) -> Obj:
    v = o.get(key) if isinstance(o, dict) else None
    return v if isinstance(v, dict) else {}


def _list(o: Any, key: str) -> list[Any]:
    v = o.get(key) if isinstance(o, dict) else None
    return v if isinstance(v, list) else []


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _replicas(spec: Obj) -> int:
    """``spec.replicas``, 1 when unset (kube-apiserver's defaulting; the store does not default it)."""
    return _int(spec["replicas"]) if "replicas" in spec else 1


def parse_time(ts: Any) -> float | None:
    """An RFC 3339 timestamp (``2026-11-30T17:00:00Z``, fractions and offsets allowed) as epoch seconds."""
    t = parse_rfc3339(ts)
    return None if t is None else t.timestamp()


def human_duration(seconds: float) -> str:
    """apimachinery's ``duration.HumanDuration``: ``45s``, ``3m20s``, ``17m``, ``5h3m``, ``3d4h``, ``2y``."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 60 * 2:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def since(ts: Any, now: float) -> str:
    """``translateTimestampSince``: the age of a timestamp, ``<unknown>`` without one."""
    t = parse_time(ts)
    return "<unknown>" if t is None else human_duration(now - t)


def age(o: Obj, now: float) -> str:
    return since(_meta(o).get("creationTimestamp"), now)


def format_labels(labels: Any) -> str:
    """``labels.FormatLabels``: ``k=v,...`` sorted by key, ``<none>`` when empty."""
    if not isinstance(labels, dict) or not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def format_selector(selector: Any) -> str:
    """``metav1.FormatLabelSelector``: a LabelSelector as text, ``<none>`` when it selects by nothing."""
    text = label_selector_string(selector) if isinstance(selector, dict) else ""
    return text or "<none>"


def _containers(template_spec: Obj) -> tuple[str, str]:
    cs = [c for c in _list(template_spec, "containers") if isinstance(c, dict)]
    return ",".join(str(c.get("name", "")) for c in cs), ",".join(str(c.get("image", "")) for c in cs)


def _template_spec(o: Obj) -> Obj:
    return _dict(_dict(_dict(o, "spec"), "template"), "spec")


def _access_modes(modes: Any) -> str:
    """``GetAccessModesAsString``: RWO, ROX, RWX, RWOP in that order."""
    have = set(modes) if isinstance(modes, list) else set()
    short = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP"))
    return ",".join(s for mode, s in short if mode in have)


def _storage_class(o: Obj) -> str:
    ann = _meta(o).get("annotations") or {}
    if isinstance(ann, dict) and "volume.beta.kubernetes.io/storage-class" in ann:
        return str(ann["volume.beta.kubernetes.io/storage-class"])
    return str(_dict(o, "spec").get("storageClassName") or "")


# ------------------------------------------------------------------ the printers, per kind
def _pod(o: Obj, now: float) -> list[Cell]:
    spec, st, m = _dict(o, "spec"), _dict(o, "status"), _meta(o)
    phase = st.get("phase") or ""
    reason = st.get("reason") or phase
    conditions = [c for c in _list(st, "conditions") if isinstance(c, dict)]
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated" for c in conditions):
        reason = "SchedulingGated"
    init_specs = {c.get("name"): c for c in _list(spec, "initContainers") if isinstance(c, dict)}
    total = len(_list(spec, "containers")) + sum(1 for c in init_specs.values() if c.get("restartPolicy") == "Always")
    ready = restarts = sidecar_restarts = 0
    last_restart = sidecar_last = 0.0
    initializing = False
    inits = [c for c in _list(st, "initContainerStatuses") if isinstance(c, dict)]
    for i, c in enumerate(inits):
        restarts += _int(c.get("restartCount"))
        finished = parse_time(_dict(_dict(c, "lastState"), "terminated").get("finishedAt")) or 0.0
        last_restart = max(last_restart, finished)
        sidecar = (init_specs.get(c.get("name")) or {}).get("restartPolicy") == "Always"
        if sidecar:
            sidecar_restarts += _int(c.get("restartCount"))
            sidecar_last = max(sidecar_last, finished)
        state = _dict(c, "state")
        term, waiting = state.get("terminated"), state.get("waiting")
        if isinstance(term, dict) and _int(term.get("exitCode")) == 0:
            continue
        if sidecar and c.get("started"):
            ready += 1 if c.get("ready") else 0
            continue
        if isinstance(term, dict):
            if term.get("reason"):
                reason = "Init:" + str(term["reason"])
            elif term.get("signal"):
                reason = f"Init:Signal:{term['signal']}"
            else:
                reason = f"Init:ExitCode:{_int(term.get('exitCode'))}"
        elif isinstance(waiting, dict) and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + str(waiting["reason"])
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break
    initialized = any(c.get("type") == "Initialized" and c.get("status") == "True" for c in conditions)
    if not initializing or initialized:
        restarts, last_restart = sidecar_restarts, sidecar_last
        running = False
        for c in reversed([c for c in _list(st, "containerStatuses") if isinstance(c, dict)]):
            restarts += _int(c.get("restartCount"))
            last_restart = max(last_restart,
                               parse_time(_dict(_dict(c, "lastState"), "terminated").get("finishedAt")) or 0.0)
            state = _dict(c, "state")
            term, waiting = state.get("terminated"), state.get("waiting")
            if isinstance(waiting, dict) and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif isinstance(term, dict) and term.get("reason"):
                reason = str(term["reason"])
            elif isinstance(term, dict):
                reason = f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{_int(term.get('exitCode'))}"
            elif c.get("ready") and isinstance(state.get("running"), dict):
                running = True
                ready += 1
        if reason == "Completed" and running:
            ready_cond = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
            reason = "Running" if ready_cond else "NotReady"
    if m.get("deletionTimestamp") and st.get("reason") == "NodeLost":
        reason = "Unknown"
    elif m.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart:
        restarts_text = f"{restarts} ({human_duration(now - last_restart)} ago)"
    ips = [p.get("ip") for p in _list(st, "podIPs") if isinstance(p, dict) and p.get("ip")]
    gates = [g.get("conditionType") for g in _list(spec, "readinessGates") if isinstance(g, dict)]
    gates_text = "<none>"
    if gates:
        true = sum(1 for g in gates for c in conditions[:] if c.get("type") == g and c.get("status") == "True")
        gates_text = f"{true}/{len(gates)}"
    return [_name(o), f"{ready}/{total}", reason, restarts_text, age(o, now),
            ips[0] if ips else "<none>", spec.get("nodeName") or "<none>", st.get("nominatedNodeName") or "<none>",
            gates_text]


def _pod_conditions(o: Obj) -> list[Obj] | None:
    phase = _dict(o, "status").get("phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return None


def _deployment(o: Obj, now: float) -> list[Cell]:
    spec, st = _dict(o, "spec"), _dict(o, "status")
    names, images = _containers(_template_spec(o))
    sel = spec.get("selector")
    return [_name(o), f"{_int(st.get('readyReplicas'))}/{_replicas(spec)}", _int(st.get("updatedReplicas")),
            _int(st.get("availableReplicas")), age(o, now), names, images,
            label_selector_string(sel) if isinstance(sel, dict) else ""]


def _replicaset(o: Obj, now: float) -> list[Cell]:
    spec, st = _dict(o, "spec"), _dict(o, "status")
    names, images = _containers(_template_spec(o))
    return [_name(o), _replicas(spec), _int(st.get("replicas")), _int(st.get("readyReplicas")), age(o, now),
            names, images, format_selector(spec.get("selector"))]


def _replication_controller(o: Obj, now: float) -> list[Cell]:
    spec, st = _dict(o, "spec"), _dict(o, "status")
    names, images = _containers(_template_spec(o))
    return [_name(o), _replicas(spec), _int(st.get("replicas")), _int(st.get("readyReplicas")), age(o, now),
            names, images, format_labels(spec.get("selector"))]


def _statefulset(o: Obj, now: float) -> list[Cell]:
    spec, st = _dict(o, "spec"), _dict(o, "status")
    names, images = _containers(_template_spec(o))
    return [_name(o), f"{_int(st.get('readyReplicas'))}/{_replicas(spec)}", age(o, now), names, images]


def _daemonset(o: Obj, now: float) -> list[Cell]:
    spec, st = _dict(o, "spec"), _dict(o, "status")
    names, images = _containers(_template_spec(o))
    return [_name(o), _int(st.get("desiredNumberScheduled")), _int(st.get("currentNumberScheduled")),
            _int(st.get("numberReady")), _int(st.get("updatedNumberScheduled")), _int(st.get("numberAvailable")),
            format_labels(_template_spec(o).get("nodeSelector")), age(o, now), names, images,
            format_selector(spec.get("selector"))]


def _has_condition(o: Obj, ctype: str) -> bool:
    for c in _list(_dict(o, "status"), "conditions"):
        if isinstance(c, dict) and c.get("type") == ctype:
            return c.get("status") == "True"
    return False


def _job(o: Obj, now: float) -> list[Cell]:
    spec, st = _dict(o, "spec"), _dict(o, "status")
    succeeded = _int(st.get("succeeded"))
    if isinstance(spec.get("completions"), int):
        completions = f"{succeeded}/{spec['completions']}"
    elif _int(spec.get("parallelism")) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    start, end = parse_time(st.get("startTime")), parse_time(st.get("completionTime"))
    duration = "" if start is None else human_duration((end if end is not None else now) - start)
    if _has_condition(o, "Complete"):
        status = "Complete"
    elif _has_condition(o, "Failed"):
        status = "Failed"
    elif _meta(o).get("deletionTimestamp"):
        status = "Terminating"
    elif _has_condition(o, "Suspended"):
        status = "Suspended"
    elif _has_condition(o, "FailureTarget"):
        status = "FailureTarget"
    else:
        status = "Running"
    names, images = _containers(_template_spec(o))
    return [_name(o), status, completions, duration, age(o, now), names, images, format_selector(spec.get("selector"))]


def _cronjob(o: Obj, now: float) -> list[Cell]:
    spec, st = _dict(o, "spec"), _dict(o, "status")
    job_spec = _dict(_dict(spec, "jobTemplate"), "spec")
    names, images = _containers(_dict(_dict(job_spec, "template"), "spec"))
    last = st.get("lastScheduleTime")
    return [_name(o), spec.get("schedule") or "", spec.get("timeZone") or "<none>",
            "True" if spec.get("suspend") is True else "False" if spec.get("suspend") is False else "<unset>",
            len(_list(st, "active")), since(last, now) if last else "<none>", age(o, now), names, images,
            format_selector(job_spec.get("selector"))]


def _lb_ingress(status: Obj, wide: bool) -> str:
    seen = sorted({str(i.get("ip") or i.get("hostname")) for i in _list(_dict(status, "loadBalancer"), "ingress")
                   if isinstance(i, dict) and (i.get("ip") or i.get("hostname"))})
    text = ",".join(seen)
    if not wide and len(text) > 16:
        text = text[:13] + "..."
    return text


def _service(o: Obj, now: float) -> list[Cell]:
    spec, st = _dict(o, "spec"), _dict(o, "status")
    stype = spec.get("type") or "ClusterIP"
    ips = _list(spec, "clusterIPs")
    external_ips = [str(x) for x in _list(spec, "externalIPs")]
    if stype in ("ClusterIP", "NodePort"):
        external = ",".join(external_ips) or "<none>"
    elif stype == "LoadBalancer":
        lb = _lb_ingress(st, True)  # the server prints wide
        external = ",".join([*(lb.split(",") if lb else []), *external_ips]) or "<pending>"
    elif stype == "ExternalName":
        external = str(spec.get("externalName") or "")
    else:
        external = "<unknown>"
    ports = []
    for p in _list(spec, "ports"):
        if isinstance(p, dict):
            proto = p.get("protocol") or "TCP"
            np = _int(p.get("nodePort"))
            ports.append(f"{p.get('port')}:{np}/{proto}" if np > 0 else f"{p.get('port')}/{proto}")
    return [_name(o), stype, str(ips[0]) if ips else "<none>", external, ",".join(ports) or "<none>", age(o, now),
            format_labels(spec.get("selector"))]


def _endpoints(o: Obj, now: float) -> list[Cell]:
    shown: list[str] = []
    count = 0
    for ss in _list(o, "subsets"):
        addrs = [a for a in _list(ss, "addresses") if isinstance(a, dict)]
        ports: list[Obj | None] = [p for p in _list(ss, "ports") if isinstance(p, dict)] or [None]
        for p in ports:
            count += len(addrs)
            for a in addrs:
                if len(shown) < 3:
                    ip = str(a.get("ip", ""))
                    shown.append(ip if p is None else (f"[{ip}]:{p.get('port')}" if ":" in ip else f"{ip}:{p.get('port')}"))
    if not _list(o, "subsets"):
        text = "<none>"
    else:
        text = ",".join(shown) + (f" + {count - 3} more..." if count > 3 else "")
    return [_name(o), text, age(o, now)]


def _more(items: list[str], limit: int = 3) -> str:
    text = ",".join(items[:limit])
    if len(items) > limit:
        return f"{text} + {len(items) - limit} more..."
    return text or "<unset>"


def _endpointslice(o: Obj, now: float) -> list[Cell]:
    ports = [str(p.get("port")) if p.get("port") is not None else (p.get("name") or "*")
             for p in _list(o, "ports") if isinstance(p, dict)]
    addrs = [str(a) for e in _list(o, "endpoints") if isinstance(e, dict) for a in _list(e, "addresses")]
    return [_name(o), o.get("addressType") or "", _more(ports), _more(addrs), age(o, now)]


def _namespace(o: Obj, now: float) -> list[Cell]:
    return [_name(o), _dict(o, "status").get("phase") or "", age(o, now)]


def _secret(o: Obj, now: float) -> list[Cell]:
    return [_name(o), o.get("type") or "", len(_dict(o, "data")), age(o, now)]


def _configmap(o: Obj, now: float) -> list[Cell]:
    return [_name(o), len(_dict(o, "data")) + len(_dict(o, "binaryData")), age(o, now)]


def _serviceaccount(o: Obj, now: float) -> list[Cell]:
    return [_name(o), len(_list(o, "secrets")), age(o, now)]


def _pv(o: Obj, now: float) -> list[Cell]:
    spec, st = _dict(o, "spec"), _dict(o, "status")
    ref = _dict(spec, "claimRef")
    claim = f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else ""
    phase = "Terminating" if _meta(o).get("deletionTimestamp") else st.get("phase") or ""
    return [_name(o), str(_dict(spec, "capacity").get("storage") or "0"), _access_modes(spec.get("accessModes")),
            spec.get("persistentVolumeReclaimPolicy") or "", phase, claim, _storage_class(o),
            spec.get("volumeAttributesClassName") or "<unset>", st.get("reason") or "", age(o, now),
            spec.get("volumeMode") or "Filesystem"]  # the API server's default


def _pvc(o: Obj, now: float) -> list[Cell]:
    spec, st = _dict(o, "spec"), _dict(o, "status")
    phase = "Terminating" if _meta(o).get("deletionTimestamp") else st.get("phase") or ""
    capacity = modes = ""
    if spec.get("volumeName"):
        modes = _access_modes(st.get("accessModes"))
        capacity = str(_dict(st, "capacity").get("storage") or "0")
    return [_name(o), phase, spec.get("volumeName") or "", capacity, modes, _storage_class(o),
            spec.get("volumeAttributesClassName") or "<unset>", age(o, now), spec.get("volumeMode") or "Filesystem"]


def _node(o: Obj, now: float) -> list[Cell]:
    spec, st = _dict(o, "spec"), _dict(o, "status")
    status = []
    for c in _list(st, "conditions"):
        if isinstance(c, dict) and c.get("type") == "Ready":
            status = ["Ready" if c.get("status") == "True" else "NotReady"]
    status = status or ["Unknown"]
    if spec.get("unschedulable"):
        status.append("SchedulingDisabled")
    roles = set()
    for k, v in (_meta(o).get("labels") or {}).items():
        if k.startswith("node-role.kubernetes.io/") and k[len("node-role.kubernetes.io/"):]:
            roles.add(k[len("node-role.kubernetes.io/"):])
        elif k == "kubernetes.io/role" and v:
            roles.add(str(v))
    info = _dict(st, "nodeInfo")

    def address(kind: str) -> str:
        return next((str(a.get("address")) for a in _list(st, "addresses")
                     if isinstance(a, dict) and a.get("type") == kind), "<none>")

    return [_name(o), ",".join(status), ",".join(sorted(roles)) or "<none>", age(o, now),
            info.get("kubeletVersion") or "", address("InternalIP"), address("ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


def _ingress(o: Obj, now: float) -> list[Cell]:
    spec = _dict(o, "spec")
    rules = [r for r in _list(spec, "rules") if isinstance(r, dict)]
    hosts = [str(r["host"]) for r in rules if r.get("host")]
    hosts_text = ",".join(hosts[:3]) + (f" + {len(rules) - 3} more..." if len(hosts) > 3 else "") if hosts else "*"
    return [_name(o), spec.get("ingressClassName") or "<none>", hosts_text,
            _lb_ingress(_dict(o, "status"), True), "80, 443" if _list(spec, "tls") else "80", age(o, now)]


def _ingressclass(o: Obj, now: float) -> list[Cell]:
    spec = _dict(o, "spec")
    p = _dict(spec, "parameters")
    params = "<none>"
    if p:
        params = str(p.get("kind", "")) + ("." + str(p["apiGroup"]) if p.get("apiGroup") else "") + "/" + str(p.get("name", ""))
    return [_name(o), spec.get("controller") or "", params, age(o, now)]


def _pdb(o: Obj, now: float) -> list[Cell]:
    spec = _dict(o, "spec")
    return [_name(o), str(spec["minAvailable"]) if spec.get("minAvailable") is not None else "N/A",
            str(spec["maxUnavailable"]) if spec.get("maxUnavailable") is not None else "N/A",
            _int(_dict(o, "status").get("disruptionsAllowed")), age(o, now)]


def _binding(o: Obj, now: float) -> list[Cell]:
    ref = _dict(o, "roleRef")
    users, groups, sas = [], [], []
    for s in _list(o, "subjects"):
        if not isinstance(s, dict):
            continue
        if s.get("kind") == "User":
            users.append(str(s.get("name", "")))
        elif s.get("kind") == "Group":
            groups.append(str(s.get("name", "")))
        elif s.get("kind") == "ServiceAccount":
            sas.append(f"{s.get('namespace', '')}/{s.get('name', '')}")
    return [_name(o), f"{ref.get('kind', '')}/{ref.get('name', '')}", age(o, now),
            ", ".join(users), ", ".join(groups), ", ".join(sas)]


def _storageclass(o: Obj, now: float) -> list[Cell]:
    ann = _meta(o).get("annotations") or {}
    default = any(ann.get(k) == "true" for k in ("storageclass.kubernetes.io/is-default-class",
                                                  "storageclass.beta.kubernetes.io/is-default-class"))
    return [_name(o) + (" (default)" if default else ""), o.get("provisioner") or "", o.get("reclaimPolicy") or "Delete",
            o.get("volumeBindingMode") or "Immediate", bool(o.get("allowVolumeExpansion")), age(o, now)]


def _lease(o: Obj, now: float) -> list[Cell]:
    return [_name(o), _dict(o, "spec").get("holderIdentity") or "", age(o, now)]


def _networkpolicy(o: Obj, now: float) -> list[Cell]:
    return [_name(o), format_selector(_dict(o, "spec").get("podSelector")), age(o, now)]


def _priorityclass(o: Obj, now: float) -> list[Cell]:
    return [_name(o), _int(o.get("value")), bool(o.get("globalDefault")), age(o, now), o.get("preemptionPolicy") or ""]


def _webhooks(o: Obj, now: float) -> list[Cell]:
    return [_name(o), len(_list(o, "webhooks")), age(o, now)]


def _controllerrevision(o: Obj, now: float) -> list[Cell]:
    ref = next((r for r in _meta(o).get("ownerReferences") or [] if isinstance(r, dict) and r.get("controller")), None)
    owner = "<none>"
    if ref is not None:
        group = str(ref.get("apiVersion", "")).rpartition("/")[0]
        kind = str(ref.get("kind", "")) + ("." + group if group else "")
        owner = f"{kind.lower()}/{ref.get('name', '')}" if kind else str(ref.get("name", ""))
    return [_name(o), owner, _int(o.get("revision")), age(o, now)]


def _s(name: str, doc: str = "", priority: int = 0) -> Column:
    return (name, "string", priority, doc)


def _i(name: str, doc: str = "", priority: int = 0) -> Column:
    return (name, "integer", priority, doc)


def _b(name: str, doc: str = "", priority: int = 0) -> Column:
    return (name, "boolean", priority, doc)


NAME: Column = ("Name", "string", 0, _NAME_DOC)
AGE: Column = _s("Age", _AGE_DOC)
_WIDE_TEMPLATE = [_s("Containers", _CONTAINERS_DOC, 1), _s("Images", _IMAGES_DOC, 1)]

#: (group, plural) -> (columns, row function), as printers.go registers them
PRINTERS: dict[tuple[str, str], tuple[list[Column], RowFn]] = {
    ("", "pods"): ([NAME, _s("Ready", "The aggregate readiness state of this pod for accepting traffic."),
                    _s("Status", "The aggregate status of the containers in this pod."),
                    _s("Restarts", "The number of times the containers in this pod have been restarted and when "
                                   "the last container in this pod has restarted."), AGE,
                    _s("IP", "podIP address allocated to the pod.", 1),
                    _s("Node", "NodeName indicates in which node this pod is scheduled.", 1),
                    _s("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the "
                                         "node.", 1),
                    _s("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness.", 1)],
                   _pod),
    ("apps", "deployments"): ([NAME, _s("Ready", "Number of the pod with ready state"),
                               _s("Up-to-date", "Total number of non-terminated pods targeted by this deployment that "
                                                "have the desired template spec."),
                               _s("Available", "Total number of available pods (ready for at least minReadySeconds) "
                                               "targeted by this deployment."), AGE, *_WIDE_TEMPLATE,
                               _s("Selector", "Label selector for pods.", 1)], _deployment),
    ("apps", "replicasets"): ([NAME, _i("Desired", "Replicas is the number of desired replicas."),
                               _i("Current", "Replicas is the most recently observed number of replicas."),
                               _i("Ready", "The number of ready replicas for this replica set."), AGE, *_WIDE_TEMPLATE,
                               _s("Selector", "Selector is a label query over pods that should match the replica "
                                              "count.", 1)], _replicaset),
    ("", "replicationcontrollers"): ([NAME, _i("Desired", "Replicas is the number of desired replicas."),
                                      _i("Current", "Replicas is the most recently observed number of replicas."),
                                      _i("Ready", "The number of ready replicas for this replication controller."), AGE,
                                      *_WIDE_TEMPLATE, _s("Selector", "Selector is a label query over pods that "
                                                                      "should match the Replicas count.", 1)],
                                     _replication_controller),
    ("apps", "statefulsets"): ([NAME, _s("Ready", "Number of the pod with ready state"), AGE, *_WIDE_TEMPLATE],
                               _statefulset),
    ("apps", "daemonsets"): ([NAME, _i("Desired", "The total number of nodes that should be running the daemon pod."),
                              _i("Current", "The number of nodes that are running at least 1 daemon pod."),
                              _i("Ready", "The number of nodes that should be running the daemon pod and have one or "
                                          "more of the daemon pod running and ready."),
                              _i("Up-to-date", "The total number of nodes that are running updated daemon pod"),
                              _i("Available", "The number of nodes that should be running the daemon pod and have one "
                                              "or more of the daemon pod running and available."),
                              _s("Node Selector", "NodeSelector is a selector which must be true for the pod to fit on "
                                                  "a node."), AGE, *_WIDE_TEMPLATE,
                              _s("Selector", "A label query over pods that are managed by the daemon set.", 1)],
                             _daemonset),
    ("batch", "jobs"): ([NAME, _s("Status", "Status of the job."),
                         _s("Completions", "The number of pods which reached phase Succeeded."),
                         _s("Duration", "Time required to complete the job."), AGE, *_WIDE_TEMPLATE,
                         _s("Selector", "A label query over pods that should match the pod count.", 1)], _job),
    ("batch", "cronjobs"): ([NAME, _s("Schedule", "The schedule in Cron format."),
                             _s("Timezone", "The time zone name for the given schedule."),
                             _b("Suspend", "This flag tells the controller to suspend subsequent executions."),
                             _i("Active", "A list of pointers to currently running jobs."),
                             _s("Last Schedule", "Information when was the last time the job was successfully "
                                                 "scheduled."), AGE, *_WIDE_TEMPLATE,
                             _s("Selector", "A label query over pods that should match the pod count.", 1)], _cronjob),
    ("", "services"): ([NAME, _s("Type", "type determines how the Service is exposed."),
                        _s("Cluster-IP", "clusterIP is the IP address of the service."),
                        _s("External-IP", "externalIPs is a list of IP addresses for which nodes in the cluster will "
                                          "also accept traffic for this service."),
                        _s("Port(s)", "The list of ports that are exposed by this service."), AGE,
                        _s("Selector", "Route service traffic to pods with label keys and values matching this "
                                       "selector.", 1)], _service),
    ("", "endpoints"): ([NAME, _s("Endpoints", "The set of all endpoints is the union of all subsets."), AGE],
                        _endpoints),
    ("discovery.k8s.io", "endpointslices"): ([NAME, _s("AddressType", "addressType specifies the type of address "
                                                                      "carried by this EndpointSlice."),
                                              _s("Ports", "ports specifies the list of network ports exposed by each "
                                                          "endpoint in this slice."),
                                              _s("Endpoints", "endpoints is a list of unique endpoints in this "
                                                              "slice."), AGE], _endpointslice),
    ("", "namespaces"): ([NAME, _s("Status", "The status of the namespace"), AGE], _namespace),
    ("", "secrets"): ([NAME, _s("Type", "Used to facilitate programmatic handling of secret data."),
                       _s("Data", "Data contains the secret data."), AGE], _secret),
    ("", "configmaps"): ([NAME, _s("Data", "Data contains the configuration data."), AGE], _configmap),
    ("", "serviceaccounts"): ([NAME, _s("Secrets", "Secrets is a list of the secrets in the same namespace that pods "
                                                   "running using this ServiceAccount are allowed to use."), AGE],
                              _serviceaccount),
    ("", "persistentvolumes"): ([NAME, _s("Capacity", "capacity is the description of the persistent volume's "
                                                      "resources and capacity."),
                                 _s("Access Modes", "accessModes contains all ways the volume can be mounted."),
                                 _s("Reclaim Policy", "persistentVolumeReclaimPolicy defines what happens to a "
                                                      "persistent volume when released from its claim."),
                                 _s("Status", "phase indicates if a volume is available, bound to a claim, or released "
                                              "by a claim."),
                                 _s("Claim", "claimRef is part of a bi-directional binding between "
                                             "PersistentVolume and PersistentVolumeClaim."),
                                 _s("StorageClass", "StorageClass of the pv"),
                                 _s("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
                                 _s("Reason", "reason is a brief CamelCase string that describes any failure."), AGE,
                                 _s("VolumeMode", "volumeMode defines if a volume is intended to be used with a "
                                                  "formatted filesystem or to remain in raw block state.", 1)], _pv),
    ("", "persistentvolumeclaims"): ([NAME, _s("Status", "phase represents the current phase of "
                                                         "PersistentVolumeClaim."),
                                      _s("Volume", "volumeName is the binding reference to the PersistentVolume backing "
                                                   "this claim."),
                                      _s("Capacity", "capacity represents the actual resources of the underlying "
                                                     "volume."),
                                      _s("Access Modes", "accessModes contains the actual access modes the volume "
                                                         "backing the PVC has."),
                                      _s("StorageClass", "StorageClass of the pvc"),
                                      _s("VolumeAttributesClass", "VolumeAttributesClass of the pvc"), AGE,
                                      _s("VolumeMode", "volumeMode defines what type of volume is required by the "
                                                       "claim.", 1)], _pvc),
    ("", "nodes"): ([NAME, _s("Status", "The status of the node"), _s("Roles", "The roles of the node"), AGE,
                     _s("Version", "Kubelet Version reported by the node."),
                     _s("Internal-IP", "List of addresses reachable to the node.", 1),
                     _s("External-IP", "List of addresses reachable to the node.", 1),
                     _s("OS-Image", "OS Image reported by the node from /etc/os-release.", 1),
                     _s("Kernel-Version", "Kernel Version reported by the node from 'uname -r'.", 1),
                     _s("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote "
                                             "API.", 1)], _node),
    ("networking.k8s.io", "ingresses"): ([NAME, _s("Class", "The name of the IngressClass resource that should be "
                                                            "used for additional configuration"),
                                          _s("Hosts", "Hosts that incoming requests are matched against before the "
                                                      "ingress rule"),
                                          _s("Address", "Address is a list containing ingress points for the "
                                                        "load-balancer"),
                                          _s("Ports", "Ports of TLS configurations that open"), AGE], _ingress),
    ("networking.k8s.io", "ingressclasses"): ([NAME, _s("Controller", "Controller that is responsible for handling "
                                                                      "this class"),
                                               _s("Parameters", "A reference to a resource with additional "
                                                                "parameters"), AGE], _ingressclass),
    ("networking.k8s.io", "networkpolicies"): ([NAME, _s("Pod-Selector", "Selects the pods to which this "
                                                                         "NetworkPolicy object applies."), AGE],
                                               _networkpolicy),
    ("policy", "poddisruptionbudgets"): ([NAME, _s("Min Available", "The minimum number of pods that must be "
                                                                    "available."),
                                          _s("Max Unavailable", "The maximum number of pods that may be unavailable."),
                                          _i("Allowed Disruptions", "Calculated number of pods that may be disrupted "
                                                                    "at this time."), AGE], _pdb),
    ("storage.k8s.io", "storageclasses"): ([NAME, _s("Provisioner", "provisioner indicates the type of the "
                                                                    "provisioner."),
                                            _s("ReclaimPolicy", "reclaimPolicy controls the reclaimPolicy for "
                                                                "dynamically provisioned PersistentVolumes."),
                                            _s("VolumeBindingMode", "volumeBindingMode indicates how "
                                                                    "PersistentVolumeClaims should be provisioned and "
                                                                    "bound."),
                                            _s("AllowVolumeExpansion", "allowVolumeExpansion shows whether the storage "
                                                                       "class allow volume expand."), AGE],
                                           _storageclass),
    ("coordination.k8s.io", "leases"): ([NAME, _s("Holder", "holderIdentity contains the identity of the holder of a "
                                                            "current lease."), AGE], _lease),
    ("scheduling.k8s.io", "priorityclasses"): ([NAME, _i("Value", "value represents the integer value of this "
                                                                  "priority class."),
                                                _b("Global-Default", "globalDefault specifies whether this "
                                                                     "PriorityClass should be considered as the "
                                                                     "default priority."), AGE,
                                                _s("PreemptionPolicy", "preemptionPolicy is the Policy for preempting "
                                                                       "pods with lower priority.", 1)],
                                               _priorityclass),
    ("apps", "controllerrevisions"): ([NAME, _s("Controller", "Controller of the object"),
                                       _i("Revision", "Revision indicates the revision of the state represented by "
                                                      "Data."), AGE], _controllerrevision),
}
_BINDING_COLUMNS = [NAME, _s("Role", "RoleRef can reference a Role in the current namespace or a ClusterRole in the "
                                     "global namespace."), AGE, _s("Users", "Users in the roleBinding", 1),
                    _s("Groups", "Groups in the roleBinding", 1),
                    _s("ServiceAccounts", "ServiceAccounts in the roleBinding", 1)]
PRINTERS[("rbac.authorization.k8s.io", "rolebindings")] = (_BINDING_COLUMNS, _binding)
PRINTERS[("rbac.authorization.k8s.io", "clusterrolebindings")] = (_BINDING_COLUMNS, _binding)
_WEBHOOK_COLUMNS = [NAME, _i("Webhooks", "Webhooks indicates the number of webhooks registered in this "
                                         "configuration"), AGE]
PRINTERS[("admissionregistration.k8s.io", "validatingwebhookconfigurations")] = (_WEBHOOK_COLUMNS, _webhooks)
PRINTERS[("admissionregistration.k8s.io", "mutatingwebhookconfigurations")] = (_WEBHOOK_COLUMNS, _webhooks)

#: the generic registry's default table (kinds without a printer)
DEFAULT_COLUMNS: list[Column] = [NAME, ("Created At", "date", 0, _AGE_DOC)]


def _default(o: Obj, now: float) -> list[Cell]:
    t = parse_time(_meta(o).get("creationTimestamp"))
    return [_name(o), rfc3339(t) if t is not None else "0001-01-01T00:00:00Z"]


# ------------------------------------------------------------------ custom resources
@lru_cache(maxsize=256)
def _compile(path: str) -> Any:
    from jsonpath_ng.ext import parse  # lazy: only custom resource tables pay for it

    p = path.strip()
    if p.startswith("{") and p.endswith("}"):
        p = p[1:-1].strip()
    try:
        return parse("$" + p if p.startswith((".", "[")) else "$." + p)
    except Exception:  # jsonpath-ng raises several unrelated types on a path it cannot read
        return None


def _print_value(value: Any) -> str:
    """client-go's ``JSONPath.PrintResults`` of one value: maps and lists as compact JSON."""
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    return str(value)


def _cell(ctype: str, value: Any, now: float) -> Cell:
    """The apiextensions table convertor's ``cellForJSONValue``."""
    if value is None:
        return None
    if ctype == "string":
        return _print_value(value)
    if ctype == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if ctype == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if ctype == "boolean" and isinstance(value, bool):
        return value
    if ctype == "date" and isinstance(value, str):
        t = parse_time(value)
        return "<invalid>" if t is None else human_duration(now - t)
    return None


def crd_columns(crd: Mapping[str, Any] | None, version: str) -> list[Obj]:
    """The served version's ``additionalPrinterColumns``, or the server's default ``Age`` column."""
    spec = crd.get("spec") if isinstance(crd, Mapping) else None
    columns: list[Any] = []
    if isinstance(spec, dict):
        for v in spec.get("versions") or []:
            if isinstance(v, dict) and v.get("name") == version:
                columns = v.get("additionalPrinterColumns") or []
    out = [c for c in columns if isinstance(c, dict) and c.get("name") and c.get("jsonPath")]
    return out or [{"name": "Age", "type": "date", "description": _AGE_DOC, "jsonPath": ".metadata.creationTimestamp"}]


def _custom(columns: list[Obj]) -> tuple[list[Column], RowFn, list[str]]:
    defs: list[Column] = [NAME]
    formats = ["name"]
    for c in columns:
        defs.append((str(c["name"]), str(c.get("type") or "string"), _int(c.get("priority")), str(c.get("description") or "")))
        formats.append(str(c.get("format") or ""))
    paths = [(_compile(str(c["jsonPath"])), str(c.get("type") or "string")) for c in columns]

    def row(o: Obj, now: float) -> list[Cell]:
        cells: list[Cell] = [_name(o)]
        for expr, ctype in paths:
            found = expr.find(o) if expr is not None else []
            cells.append(_cell(ctype, found[0].value, now) if found else None)
        return cells

    return defs, row, formats


# ------------------------------------------------------------------ the Table
def _object(o: Obj, include: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return o
    return {"kind": "PartialObjectMetadata", "apiVersion": TABLE_API_VERSION, "metadata": _meta(o)}


def printer(res: Resource, crd: Mapping[str, Any] | None = None) -> tuple[list[Column], RowFn, list[str]]:
    """The columns (with their formats) and the row function for objects of ``res``."""
    if res.crd:
        return _custom(crd_columns(crd, res.version))
    columns, fn = PRINTERS.get((res.group, res.plural), (DEFAULT_COLUMNS, _default))
    return columns, fn, ["name" if c is NAME else "" for c in columns]


def table(res: Resource, body: Obj, *, now: float, include_object: str = "Metadata", no_headers: bool = False,
          crd: Mapping[str, Any] | None = None) -> Obj:
    """``body`` (one object, or the store's List of them) as a ``meta.k8s.io/v1`` Table."""
    columns, fn, formats = printer(res, crd)
    is_list = isinstance(body.get("items"), list)
    items: Iterable[Obj] = body["items"] if is_list else [body]
    rows = []
    pods = (res.group, res.plural) == ("", "pods")
    for o in items:
        row: Obj = {"cells": fn(o, now)}
        if pods:
            conditions = _pod_conditions(o)
            if conditions:
                row["conditions"] = conditions
        obj = _object(o, include_object)
        if obj is not None:
            row["object"] = obj
        rows.append(row)
    meta: Obj = {}
    source_meta = _meta(body)
    if source_meta.get("resourceVersion"):
        meta["resourceVersion"] = source_meta["resourceVersion"]
    if is_list and source_meta.get("continue"):
        meta["continue"] = source_meta["continue"]
    out: Obj = {"kind": "Table", "apiVersion": TABLE_API_VERSION, "metadata": meta}
    if not no_headers:
        out["columnDefinitions"] = [{"name": n, "type": t, "format": f, "description": d, "priority": p}
                                    for (n, t, p, d), f in zip(columns, formats)]
    out["rows"] = rows
    return out
