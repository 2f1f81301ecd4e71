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
from typing import Any

import networkx as nx

from helm_ac.analysis.keys import Keys
from helm_ac.analysis.model import Analysis
from helm_ac.extension import interop, spec
from helm_ac.kinds import ObjectKey
from helm_ac.rendering import yamlio
from helm_ac.rendering.manifests import strip_leading_comments

API_VERSION = spec.API_VERSION
MANAGED_BY = "helm-ac"
_REASON = spec.PREFIX + "reason"  # why a Dependency exists (which rule)


def labels(release: str) -> dict[str, str]:
    """Labels on every Definition and Dependency of a release."""
    return {"app.kubernetes.io/managed-by": MANAGED_BY, "app.kubernetes.io/instance": release}


def _meta(a: Analysis, node: ObjectKey) -> dict[str, Any]:
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
    return meta


def _header(a: Analysis, node: ObjectKey, keys: Keys) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Definition",
        "metadata": {"name": keys.definition_name(node), "namespace": a.namespace, "labels": labels(keys.release)},
        "meta": _meta(a, node),
    }


def definition(a: Analysis, node: ObjectKey, keys: Keys) -> dict[str, Any]:
    """The Definition wrapping one object, with its resource meta."""
    info = a.objects[node]
    return {**_header(a, node, keys), node.kind.lower(): interop.without_invalid_keys(info.obj.body)}


def definition_text(a: Analysis, node: ObjectKey, keys: Keys) -> str:
    """The Definition as YAML text.

    When the object's rendered text is a plain block mapping (helm-ac kept it unparsed:
    :attr:`RenderedObject.text`), it is embedded as rendered, indented under the kind key, so
    the object is neither parsed nor re-serialised: fast, and comments and formatting survive.
    Otherwise the whole Definition is dumped.  Both give the same data (a test checks it).
    """
    info = a.objects[node]
    text = info.obj.text
    if text is None or any(k in info.obj.annotations for k in interop.INVALID_KEYS):
        return yamlio.dump(definition(a, node, keys))
    body = "  " + strip_leading_comments(text).rstrip().replace("\n", "\n  ")
    # empty lines stay empty (two passes: one replace skips every other line of a run)
    body = body.replace("\n  \n", "\n\n").replace("\n  \n", "\n\n")
    return f"{yamlio.dump_simple(_header(a, node, keys))}{node.kind.lower()}:\n{body}\n"


def dependency_text(dep: dict[str, Any]) -> str:
    """A Dependency (as built by :func:`dependencies`) as YAML text."""
    return yamlio.dump_simple(dep)


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
        if {w.gate for w in whys} == {"present"}:
            meta["gate"] = "present"
        dep: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "Dependency",
            "metadata": {
                # the release name is a DNS label already (helm checks it), the rest is hex
                "name": f"{keys.release}-" + hashlib.sha256(f"{pk}>{ck}".encode()).hexdigest()[:12],
                "namespace": a.namespace,
                "labels": labels(keys.release),
                "annotations": {_REASON: ", ".join(reasons)},
            },
            "parent": pk,
            "child": ck,
        }
        if meta:
            dep["meta"] = meta
        out.append(dep)
    out.sort(key=lambda d: (d["child"], d["parent"]))
    return out
