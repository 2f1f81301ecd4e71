"""Ordering annotations of other tools, read onto the same graph (pure parsing).

A chart written for these tools gains helm-ac's validation and per-edge ordering on Helm 3 and 4:

* Helm HIP-0025 (draft): ``helm.sh/resource-group: <name>`` and
  ``helm.sh/depends-on/resource-groups: '["a", "b"]'`` on objects (groups are local to one
  chart); Chart.yaml ``annotations: {helm.sh/depends-on/subcharts: '["x"]'}`` (the chart's own
  objects wait for those subcharts only) and ``dependencies[].depends-on: [..]`` (a subchart
  waits for its siblings).  ``helm.sh/depends-on/resource-groups`` has two ``/`` and is not a
  valid Kubernetes annotation key: a real API server rejects the object (HIP-0025's draft
  implementation strips the key before applying).  helm-ac reads it, warns, and strips it from
  what it emits.
* kubernetes-sigs/cli-utils (kpt, Config Sync): ``config.kubernetes.io/depends-on:
  <group>/namespaces/<ns>/<Kind>/<name>`` or ``<group>/<Kind>/<name>`` (cluster-scoped), comma
  separated; the core group is empty (``/namespaces/default/Pod/x``).
* werf / nelm: ``werf.io/deploy-dependency-<id>: state=ready|present,kind=..,name=..[,namespace=..]
  [,group=..][,version=..]``.  ``state=present`` means "once it exists", which the Dependency
  records as ``meta.gate: present``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from helm_ac.extension.refs import ObjectRef, RefSyntaxError

HIP_GROUP = "helm.sh/resource-group"
HIP_DEPENDS_ON_GROUPS = "helm.sh/depends-on/resource-groups"
HIP_DEPENDS_ON_SUBCHARTS = "helm.sh/depends-on/subcharts"
CLI_UTILS_DEPENDS_ON = "config.kubernetes.io/depends-on"
WERF_PREFIX = "werf.io/deploy-dependency-"

#: Annotation keys that Kubernetes rejects (more than one '/'), which helm-ac strips from what it emits.
INVALID_KEYS = (HIP_DEPENDS_ON_GROUPS,)

_K8S_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.:]*[A-Za-z0-9])?"
_CLI_UTILS = re.compile(rf"^(?P<group>[a-z0-9.-]*)/(?:namespaces/(?P<ns>[a-z0-9-]+)/)?(?P<kind>[A-Za-z][A-Za-z0-9]*)"
                        rf"/(?P<name>{_K8S_NAME})$")


@dataclass(frozen=True)
class GroupRef:
    """A HIP-0025 resource group of the referencing object's chart."""

    name: str
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Foreign:
    """One reference read from another tool's annotation."""

    key: str  # the annotation it came from
    text: str
    ref: ObjectRef | GroupRef | None
    error: RefSyntaxError | None = None
    gate: str = "ready"  # or "present" (werf state=present)


def without_invalid_keys(body: dict[str, Any], extra: dict[str, str] | None = None) -> dict[str, Any]:
    """``body`` without the annotation keys Kubernetes rejects (:data:`INVALID_KEYS`), plus ``extra``
    annotations; the same object when there is nothing to change (never mutated)."""
    meta = m if isinstance(m := body.get("metadata"), dict) else {}
    current = a if isinstance(a := meta.get("annotations"), dict) else {}
    if not extra and not any(k in current for k in INVALID_KEYS):
        return body
    ann = {k: v for k, v in current.items() if k not in INVALID_KEYS}
    ann.update(extra or {})
    return {**body, "metadata": {**meta, "annotations": ann}}


def json_string_list(value: Any) -> list[str]:
    """HIP-0025 list values: a JSON array of strings inside the annotation string."""
    if isinstance(value, list):
        items = value
    else:
        try:
            items = json.loads(str(value))
        except ValueError:
            raise ValueError(f"{value!r} is not a JSON list of strings, e.g. '[\"database\"]'") from None
    if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
        raise ValueError(f"{value!r} is not a JSON list of strings, e.g. '[\"database\"]'")
    return items


def parse_cli_utils(text: str) -> ObjectRef:
    m = _CLI_UTILS.match(text)
    if not m:
        raise RefSyntaxError(text, "is not a cli-utils object reference",
                             "write <group>/namespaces/<namespace>/<Kind>/<name> or <group>/<Kind>/<name> "
                             "(empty group for core kinds: /namespaces/default/ConfigMap/x)")
    return ObjectRef(m.group("kind").lower(), m.group("name"), m.group("group"), m.group("ns"), text)


def parse_werf(text: str) -> tuple[ObjectRef, str]:
    fields: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise RefSyntaxError(text, f"has {part.strip()!r} without '='", "write state=ready,kind=Deployment,name=db")
        k, v = part.split("=", 1)
        fields[k.strip()] = v.strip()
    unknown = set(fields) - {"state", "kind", "name", "namespace", "group", "version"}
    if unknown:
        raise RefSyntaxError(text, f"has unknown field {sorted(unknown)[0]!r}",
                             "fields: state, kind, name, namespace, group, version")
    if not fields.get("kind") or not fields.get("name"):
        raise RefSyntaxError(text, "needs kind= and name=", "write state=ready,kind=StatefulSet,name=postgres")
    state = fields.get("state", "ready")
    if state not in ("ready", "present"):
        raise RefSyntaxError(text, f"has state={state!r}", "state is ready or present")
    if not re.fullmatch(_K8S_NAME, fields["name"]) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", fields["kind"]):
        raise RefSyntaxError(text, "has an invalid kind or name", "kind=Deployment,name=web")
    return ObjectRef(fields["kind"].lower(), fields["name"], fields.get("group") or None,
                     fields.get("namespace") or None, text), state


_FOREIGN_KEYS = frozenset({CLI_UTILS_DEPENDS_ON, HIP_DEPENDS_ON_GROUPS})


def foreign_references(annotations: dict[str, Any]) -> list[Foreign]:
    """Every reference found in other tools' annotations of one object, in a stable order."""
    out: list[Foreign] = []
    keys = [k for k in annotations if isinstance(k, str) and (k in _FOREIGN_KEYS or k.startswith(WERF_PREFIX))]
    for key in sorted(keys):
        value = annotations[key]
        if key == CLI_UTILS_DEPENDS_ON:
            for part in [p.strip() for p in str(value).split(",") if p.strip()]:
                try:
                    out.append(Foreign(key, part, parse_cli_utils(part)))
                except RefSyntaxError as exc:
                    out.append(Foreign(key, part, None, exc))
        elif key.startswith(WERF_PREFIX):
            try:
                ref, state = parse_werf(str(value))
                out.append(Foreign(key, str(value), ref, gate=state))
            except RefSyntaxError as exc:
                out.append(Foreign(key, str(value), None, exc))
        elif key == HIP_DEPENDS_ON_GROUPS:
            try:
                out.extend(Foreign(key, g, GroupRef(g, g)) for g in json_string_list(value))
            except ValueError as exc:
                out.append(Foreign(key, str(value), None, RefSyntaxError(str(value), str(exc),
                                                                          "e.g. '[\"database\", \"cache\"]'")))
    return out
