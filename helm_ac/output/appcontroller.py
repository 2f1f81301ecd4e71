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
_REASON = spec.PREFIX + "reason"


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
    return f"{header_text(_header(a, node, keys))}{node.kind.lower()}:\n{body}\n"


def header_text(h: dict[str, Any]) -> str:
    """A Definition's header (apiVersion, kind, metadata, meta) from a fixed template; same text as
    :func:`_flat_text`, which takes anything of another shape."""
    m, text = h["metadata"], yamlio.scalar
    if tuple(h) != ("apiVersion", "kind", "metadata", "meta") or tuple(m) != ("name", "namespace", "labels") \
            or m["labels"].get("app.kubernetes.io/managed-by") != MANAGED_BY or len(m["labels"]) != 2:
        return _flat_text(h)
    name, ns, release = text(m["name"]), text(m["namespace"]), text(m["labels"].get("app.kubernetes.io/instance"))
    meta = [(text(k), text(v), k) for k, v in h["meta"].items()]
    if None in (name, ns, release) or any(tk != k or tv is None for tk, tv, k in meta) or not meta:
        return _flat_text(h)
    return (f"apiVersion: {API_VERSION}\nkind: Definition\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
            f"  labels:\n    app.kubernetes.io/managed-by: {MANAGED_BY}\n    app.kubernetes.io/instance: {release}\n"
            "meta:\n" + "".join(f"  {k}: {v}\n" for k, v, _ in meta))


def _flat_text(doc: dict[str, Any]) -> str:
    """YAML for our own small documents (mappings of scalars, two levels deep), written directly.

    The Definition headers and Dependencies are emitted by the ten thousand; this is several
    times faster than a general dumper.  Anything unusual falls back to :func:`yamlio.dump_simple`.
    """
    out = []
    text = yamlio.scalar
    for k, v in doc.items():
        if type(v) is dict:
            out.append(f"{k}:")
            for k2, v2 in v.items():
                if type(v2) is dict:
                    out.append(f"  {k2}:")
                    for k3, v3 in v2.items():
                        s3 = text(v3)
                        if s3 is None or text(k3) != k3:
                            return yamlio.dump_simple(doc)
                        out.append(f"    {k3}: {s3}")
                    continue
                s2 = text(v2)
                if s2 is None or text(k2) != k2:
                    return yamlio.dump_simple(doc)
                out.append(f"  {k2}: {s2}")
            continue
        s1 = text(v)
        if s1 is None:
            return yamlio.dump_simple(doc)
        out.append(f"{k}: {s1}")
    return "\n".join(out) + "\n"


_DEPENDENCY_KEYS = ("apiVersion", "kind", "metadata", "parent", "child")


def dependency_text(dep: dict[str, Any]) -> str:
    """A Dependency (as built by :func:`dependencies`) as YAML text.

    Written from a fixed template (tens of thousands per large chart); anything not of the
    expected shape goes through :func:`_flat_text`, which gives the same text.
    """
    m = dep.get("metadata") or {}
    text = yamlio.scalar
    meta = dep.get("meta") or {}
    if tuple(k for k in dep if k != "meta") != _DEPENDENCY_KEYS or dep["apiVersion"] != API_VERSION \
            or tuple(m) != ("name", "namespace", "labels", "annotations") \
            or m["labels"].get("app.kubernetes.io/managed-by") != MANAGED_BY or len(m["labels"]) != 2 \
            or tuple(m["annotations"]) != (_REASON,):
        return _flat_text(dep)
    values = [text(m["name"]), text(m["namespace"]), text(m["labels"].get("app.kubernetes.io/instance")),
              text(m["annotations"][_REASON]), text(dep["parent"]), text(dep["child"])]
    meta_lines = [(text(k), text(v)) for k, v in meta.items()]
    if None in values or any(k != mk or v is None for (k, v), mk in zip(meta_lines, meta)):
        return _flat_text(dep)
    name, ns, release, reason, parent, child = values
    out = (f"apiVersion: {API_VERSION}\nkind: Dependency\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
           f"  labels:\n    app.kubernetes.io/managed-by: {MANAGED_BY}\n    app.kubernetes.io/instance: {release}\n"
           f"  annotations:\n    {_REASON}: {reason}\nparent: {parent}\nchild: {child}\n")
    if meta_lines:
        out += "meta:\n" + "".join(f"  {k}: {v}\n" for k, v in meta_lines)
    return out


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
