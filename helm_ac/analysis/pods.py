"""Which of a chart's objects bring the pods a Service selects.  Pure.

Used by the engine (a Service with ``ready-when: endpoints`` whose pod sources all ended without
becoming ready is blocked) and by lint (``endpoints-deadlock``: such a pod source that waits for the
Service itself).
"""
from __future__ import annotations

from typing import Any, Mapping

from helm_ac.analysis.model import Analysis
from helm_ac.kinds import ObjectKey

#: Kinds whose ``spec.template.metadata.labels`` label the pods they create.
POD_OWNERS = frozenset({("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "ReplicaSet"),
                        ("apps", "DaemonSet"), ("batch", "Job"), ("", "ReplicationController")})


def selects(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """A Service-style (equality) selector matches these labels."""
    return all(labels.get(k) == v for k, v in selector.items())


def pod_labels(key: ObjectKey, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The labels of the pods an object brings (a Pod's own, a workload's template's); None: no pods."""
    if (key.group, key.kind) == ("", "Pod"):
        labels = (body.get("metadata") or {}).get("labels")
    elif (key.group, key.kind) in POD_OWNERS:
        labels = (((body.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")
    else:
        return None
    return labels if isinstance(labels, dict) else {}


def pod_sources(analysis: Analysis, svc: ObjectKey) -> list[ObjectKey]:
    """The chart's objects in the Service's namespace whose pods it selects, in chart order."""
    selector = (analysis.objects[svc].obj.body.get("spec") or {}).get("selector") or {}
    if not isinstance(selector, dict) or not selector:
        return []
    out = []
    for key in analysis.order:
        if key.namespace != svc.namespace or key not in analysis.objects:
            continue
        labels = pod_labels(key, analysis.objects[key].obj.body)
        if labels is not None and selects(selector, labels):
            out.append(key)
    return out
