"""AppController manifests from a dependency graph, pure (no I/O).

Mirantis AppController stored its graph in the cluster as two kinds of the
``appcontroller.k8s/v1alpha1`` API (see ``../shared/reference/appcontroller.md``):

* ``Definition``: one Kubernetes object wrapped under its lower-case kind key
  (``deployment: {...}``), with resource ``meta`` (``timeout`` in seconds,
  ``retry``, ``on-error``);
* ``Dependency``: an edge, ``parent`` and ``child`` as ``kind/name`` keys, with
  edge ``meta`` (``success_factor``).

helm-ac keeps that shape.  Keys use the ``depends-on`` reference grammar:
``kind/name`` (the AppController form), qualified as ``kind.group/name`` only
when two rendered kinds share a lower-case name, and prefixed with a namespace
(``db/statefulset/postgres``) only for objects outside the release namespace.
Barrier vertices become AppController's always-ready ``void/<name>`` keys.

Every object carries ``app.kubernetes.io/managed-by: helm-ac`` and
``app.kubernetes.io/instance: <release>`` labels so that several releases can
share a namespace.  Names are derived from content only, so the same input
always gives byte-identical output.
"""
from __future__ import annotations

import hashlib
import re
from typing import Any

import networkx as nx

from helm_ac import interop, spec
from helm_ac.graph import Barrier, Node
from helm_ac.manifests import ObjectKey
from helm_ac.model import Analysis

API_VERSION = spec.API_VERSION
MANAGED_BY = "helm-ac"


def labels(release: str) -> dict[str, str]:
    """Labels on every Definition and Dependency of a release."""
    return {"app.kubernetes.io/managed-by": MANAGED_BY, "app.kubernetes.io/instance": release}


def _slug(text: str, limit: int = 253) -> str:
    """A DNS-1123 subdomain from ``text``; a hash suffix keeps long or mangled names unique."""
    s = re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-.")
    s = re.sub(r"-{2,}", "-", s) or "x"
    if s != text.lower() or len(s) > limit:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        s = f"{s[:limit - 9].rstrip('-.')}-{digest}"
    return s


class Keys:
    """AppController keys of graph nodes within one release."""

    def __init__(self, a: Analysis, release: str) -> None:
        self.release = release
        self.namespace = a.namespace
        groups: dict[str, set[str]] = {}
        for k in a.order:
            groups.setdefault(k.kind.lower(), set()).add(k.group)
        self._qualify = {kind for kind, gs in groups.items() if len(gs) > 1}

    def key(self, node: Node) -> str:
        if isinstance(node, Barrier):
            return "void/" + _slug(".".join((self.release, *node.path, node.role)))
        kind = node.kind.lower() + (f".{node.group}" if node.kind.lower() in self._qualify and node.group else "")
        ns = f"{node.namespace}/" if node.namespace and node.namespace != self.namespace else ""
        return f"{ns}{kind}/{node.name}"

    def definition_name(self, node: ObjectKey) -> str:
        """AppController's ``kubeac wrap`` naming, ``<kind>-<name>``, qualified like the key."""
        return _slug(self.key(node).replace("/", "-"))


def definition(a: Analysis, node: ObjectKey, keys: Keys) -> dict[str, Any]:
    """The Definition wrapping one object, with its resource meta."""
    info = a.objects[node]
    meta: dict[str, Any] = {}
    timeout = info.setting("timeout")
    meta["timeout"] = int(round(timeout if timeout is not None else spec.DEFAULT_TIMEOUT_SECONDS))
    if info.setting("retry") is not None:
        meta["retry"] = info.setting("retry")
    if info.setting("on-error") is not None:
        meta["on-error"] = info.setting("on-error")
    if info.setting("success-factor") is not None:
        meta["success_factor"] = info.setting("success-factor")
    if info.setting("ready-when") is not None:
        meta["ready-when"] = info.settings["ready-when"].raw
    body = info.obj.body
    if any(k in body.get("metadata", {}).get("annotations", {}) for k in interop.INVALID_KEYS):
        body = {**body, "metadata": {**body["metadata"], "annotations": {
            k: v for k, v in body["metadata"]["annotations"].items() if k not in interop.INVALID_KEYS}}}
    return {
        "apiVersion": API_VERSION,
        "kind": "Definition",
        "metadata": {"name": keys.definition_name(node), "namespace": a.namespace, "labels": labels(keys.release)},
        "meta": meta,
        node.kind.lower(): body,
    }


def dependencies(a: Analysis, g: nx.DiGraph, keys: Keys) -> list[dict[str, Any]]:
    """One Dependency per graph edge, sorted by (child, parent) key."""
    out = []
    for parent, child in g.edges:
        pk, ck = keys.key(parent), keys.key(child)
        meta: dict[str, str] = {}
        if isinstance(parent, ObjectKey):
            sf = a.objects[parent].setting("success-factor")
            if sf is not None:
                meta["success_factor"] = str(sf)
        whys = g[parent][child]["why"]
        reasons = sorted({w.rule for w in whys})
        if all(w.gate == "present" for w in whys):
            meta["gate"] = "present"
        dep: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "Dependency",
            "metadata": {
                "name": _slug(f"{keys.release}-" + hashlib.sha256(f"{pk}>{ck}".encode()).hexdigest()[:12]),
                "namespace": a.namespace,
                "labels": labels(keys.release),
                "annotations": {spec.PREFIX + "reason": ", ".join(reasons)},
            },
            "parent": pk,
            "child": ck,
        }
        if meta:
            dep["meta"] = meta
        out.append(dep)
    out.sort(key=lambda d: (d["child"], d["parent"]))
    return out
