"""How long objects take to become ready: per-kind defaults and user estimates, pure.

Used to weigh the dependency graph (critical path in ``helm ac graph``) and, later, by the
simulator.  Defaults are deliberately round numbers of the right order of magnitude; users
override them per kind or per object with ``--estimate KIND=DUR`` / ``--estimate kind/name=DUR``
or a YAML file of the same keys (``--estimates FILE``).
"""
from __future__ import annotations

from typing import Any, Mapping

from helm_ac.errors import UserError
from helm_ac.extension import durations
from helm_ac.kinds import ObjectKey

#: Seconds until ready, by Kind, when nothing better is known.
DEFAULT_SECONDS: dict[str, float] = {
    "CustomResourceDefinition": 2, "Namespace": 1, "ServiceAccount": 1, "ConfigMap": 1, "Secret": 1,
    "Role": 1, "RoleBinding": 1, "ClusterRole": 1, "ClusterRoleBinding": 1, "NetworkPolicy": 1,
    "PodDisruptionBudget": 1, "ResourceQuota": 1, "LimitRange": 1, "PriorityClass": 1, "StorageClass": 1,
    "Service": 2, "Endpoints": 1, "Ingress": 5, "IngressClass": 1, "HorizontalPodAutoscaler": 1,
    "PersistentVolumeClaim": 10, "PersistentVolume": 5,
    "Pod": 20, "ReplicaSet": 30, "Deployment": 60, "StatefulSet": 120, "DaemonSet": 60,
    "Job": 60, "CronJob": 1,
    "MutatingWebhookConfiguration": 1, "ValidatingWebhookConfiguration": 1, "APIService": 10,
}
#: Custom resources (any kind not above) usually wait for an operator to reconcile them.
CUSTOM_RESOURCE_SECONDS = 30.0


class Estimates:
    """Per-object durations: command-line object overrides, then the object's
    ``appcontroller.k8s/estimate`` annotation, then kind overrides, then defaults."""

    def __init__(self, overrides: Mapping[str, float] | None = None,
                 annotated: Mapping[ObjectKey, float] | None = None) -> None:
        self.annotated = dict(annotated or {})
        self.by_object: dict[str, float] = {}
        self.by_kind: dict[str, float] = {}
        for key, seconds in (overrides or {}).items():
            if "/" in key:
                kind, name = key.split("/", 1)
                self.by_object[f"{kind.lower()}/{name}"] = seconds
            else:
                self.by_kind[key.lower()] = seconds
        self._defaults = {k.lower(): v for k, v in DEFAULT_SECONDS.items()}

    def seconds(self, key: ObjectKey) -> float:
        kind = key.kind.lower()
        if f"{kind}/{key.name}" in self.by_object:
            return self.by_object[f"{kind}/{key.name}"]
        if key in self.annotated:
            return self.annotated[key]
        if kind in self.by_kind:
            return self.by_kind[kind]
        return self._defaults.get(kind, CUSTOM_RESOURCE_SECONDS)


def parse_overrides(items: list[str], file_data: Any = None, *, source: str = "--estimate") -> dict[str, float]:
    """``["Deployment=90s", "job/migrate=5m"]`` (and a mapping read from a file) -> seconds by key."""
    out: dict[str, float] = {}
    pairs: list[tuple[str, Any, str]] = []
    if file_data is not None:
        if not isinstance(file_data, Mapping):
            raise UserError(f"{source}: expected a mapping of KIND or kind/name to a duration, e.g. Deployment: 90s")
        pairs += [(str(k), v, source) for k, v in file_data.items()]
    for item in items:
        if "=" not in item:
            raise UserError(f"--estimate {item!r}: write KIND=DURATION or kind/name=DURATION, e.g. Deployment=90s")
        k, v = item.split("=", 1)
        pairs.append((k.strip(), v.strip(), "--estimate"))
    for key, value, where in pairs:
        kind, _, name = key.partition("/")
        if not kind or ("/" in key and not name) or not kind.replace(".", "").isalnum():
            raise UserError(f"{where}: {key!r} is not a kind or kind/name (e.g. Deployment, job/migrate)")
        try:
            out[key] = durations.parse(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
        except ValueError:
            raise UserError(f"{where}: {key}: {value!r} is not a duration (write e.g. 90s, 5m)") from None
    return out


def from_analysis(analysis: Any, overrides: Mapping[str, float] | None = None) -> Estimates:
    """Estimates with the chart's ``appcontroller.k8s/estimate`` annotations and the user's overrides."""
    annotated = {k: info.setting("estimate") for k, info in analysis.objects.items()
                 if info.setting("estimate") is not None}
    return Estimates(overrides, annotated)
