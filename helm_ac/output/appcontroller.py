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

A Secret's data never goes into its Definition (``docs/controller.md``, *Secrets stay secret*):
the Definition wraps the Secret without ``data``/``stringData`` and names its **payload Secret**
(``payload: {secretName: ...}``), a plain Secret of type :data:`PAYLOAD_TYPE` holding the data,
which the controller reads to apply the real Secret (:func:`payloads`, :func:`payload_names`).

Every object carries ``appcontroller.k8s/release: <release>`` (which selects them),
``app.kubernetes.io/managed-by: helm-ac`` and ``app.kubernetes.io/instance: <release>`` labels
so that several releases can share a namespace.  Names are derived from content only, so the same input
always gives byte-identical output.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import networkx as nx

from helm_ac.analysis.keys import Keys
from helm_ac.analysis.model import Analysis
from helm_ac.errors import UserError
from helm_ac.extension import interop, spec
from helm_ac.kinds import ObjectKey
from helm_ac.rendering import yamlio
from helm_ac.rendering.manifests import strip_leading_comments

API_VERSION = spec.API_VERSION
MANAGED_BY = "helm-ac"
_REASON = spec.PREFIX + "reason"  # why a Dependency exists (which rule)
#: on every Definition and Dependency: the digest of the graph it belongs to (its ReleaseGraph's spec.digest)
GRAPH_ANNOTATION = spec.PREFIX + "graph"
#: what the texts carry in place of the digest until it is known (:func:`with_digest`)
DIGEST_PLACEHOLDER = "0" * 64
#: the type of a payload Secret (the data of a Secret whose Definition names it)
PAYLOAD_TYPE = spec.PREFIX + "payload"
#: the Definition's top-level field naming its payload Secret: ``payload: {secretName: ...}``
PAYLOAD_FIELD = "payload"
#: the fields of a Secret that hold its data (never in a Definition)
SECRET_DATA_FIELDS = ("data", "stringData")


#: the label that names a release's Definitions, Dependencies, ReleaseGraph and the objects the
#: controller applied: helm-ac's own, since Helm sets ``app.kubernetes.io/managed-by: Helm`` over
#: the chart's value on everything it installs
RELEASE_LABEL = spec.PREFIX + "release"


def labels(release: str) -> dict[str, str]:
    """Labels on every Definition, Dependency and ReleaseGraph of a release (only
    :data:`RELEASE_LABEL` selects them: Helm replaces ``managed-by``)."""
    return {"app.kubernetes.io/managed-by": MANAGED_BY, "app.kubernetes.io/instance": release, RELEASE_LABEL: release}


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


def _header(a: Analysis, node: ObjectKey, keys: Keys, digest: str | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": keys.definition_name(node), "namespace": a.namespace,
                                "labels": labels(keys.release)}
    if digest is not None:
        metadata["annotations"] = {GRAPH_ANNOTATION: digest}
    return {"apiVersion": API_VERSION, "kind": "Definition", "metadata": metadata, "meta": _meta(a, node)}


def definition(a: Analysis, node: ObjectKey, keys: Keys, digest: str | None = None,
               payload: str | None = None) -> dict[str, Any]:
    """The Definition wrapping one object, with its resource meta (and the graph's ``digest``
    annotation when given). With ``payload`` (a Secret's payload Secret's name, :func:`payloads`)
    the wrapped Secret goes without its data and the Definition names the payload instead."""
    info = a.objects[node]
    body = interop.without_invalid_keys(info.obj.body)
    if payload is None:
        return {**_header(a, node, keys, digest), node.kind.lower(): body}
    body = {k: v for k, v in body.items() if k not in SECRET_DATA_FIELDS}
    return {**_header(a, node, keys, digest), PAYLOAD_FIELD: {"secretName": payload}, node.kind.lower(): body}


def definition_text(a: Analysis, node: ObjectKey, keys: Keys, digest: str | None = None,
                    payload: str | None = None) -> str:
    """The Definition as YAML text.

    When the object's rendered text is a plain block mapping (helm-ac kept it unparsed:
    :attr:`RenderedObject.text`), it is embedded as rendered, indented under the kind key, so
    the object is neither parsed nor re-serialised: fast, and comments and formatting survive.
    Otherwise (and always for a Secret with a ``payload``, whose data must go) the whole
    Definition is dumped.  Both give the same data (a test checks it).
    """
    info = a.objects[node]
    text = info.obj.text
    if text is None or payload is not None or any(k in info.obj.annotations for k in interop.INVALID_KEYS):
        return yamlio.dump(definition(a, node, keys, digest, payload))
    body = "  " + strip_leading_comments(text).rstrip().replace("\n", "\n  ")
    # empty lines stay empty (two passes: one replace skips every other line of a run)
    body = body.replace("\n  \n", "\n\n").replace("\n  \n", "\n\n")
    return f"{yamlio.dump_simple(_header(a, node, keys, digest))}{node.kind.lower()}:\n{body}\n"


def dependency_text(dep: dict[str, Any]) -> str:
    """A Dependency (as built by :func:`dependencies`) as YAML text."""
    return yamlio.dump_simple(dep)


def dependencies(a: Analysis, g: nx.DiGraph, keys: Keys, digest: str | None = None) -> list[dict[str, Any]]:
    """One Dependency per graph edge, sorted by (child, parent) key (with the graph's ``digest``
    annotation when given)."""
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
                "annotations": {_REASON: ", ".join(reasons),
                                **({GRAPH_ANNOTATION: digest} if digest is not None else {})},
            },
            "parent": pk,
            "child": ck,
        }
        if meta:
            dep["meta"] = meta
        out.append(dep)
    out.sort(key=lambda d: (d["child"], d["parent"]))
    return out


def graph_digest(texts: list[str]) -> str:
    """The digest of a release's graph: SHA-256 (hex) over its Definitions' and Dependencies' texts
    as emitted with :data:`DIGEST_PLACEHOLDER` for the digest, in order (deterministic: the same
    chart and values give the same texts)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode())
        h.update(b"\0")
    return h.hexdigest()


def with_digest(text: str, digest: str) -> str:
    """``text`` (a Definition or Dependency emitted with :data:`DIGEST_PLACEHOLDER`) with the real
    digest: the placeholder's first occurrence is in the document's own metadata, which comes
    before the wrapped object."""
    return text.replace(DIGEST_PLACEHOLDER, digest, 1)


def stamp(texts: list[str]) -> tuple[list[str], str]:
    """The graph's Definitions and Dependencies (texts emitted with :data:`DIGEST_PLACEHOLDER`)
    with their digest filled in, and the digest."""
    digest = graph_digest(texts)
    return [with_digest(t, digest) for t in texts], digest


def release_graph(release: str, namespace: str, digest: str, definitions: int, dependencies: int) -> dict[str, Any]:
    """The release's ReleaseGraph (named as the release): what its graph is, for the controller to
    know when it sees all of it (``docs/controller.md``)."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ReleaseGraph",
        "metadata": {"name": release, "namespace": namespace, "labels": labels(release)},
        "spec": {"digest": digest, "definitions": definitions, "dependencies": dependencies},
    }


# ---------------------------------------------------------------- payload Secrets


def is_secret(node: ObjectKey) -> bool:
    return node.group == "" and node.kind == "Secret"


def secret_data(body: Mapping[str, Any], what: str) -> dict[str, str]:
    """A Secret's data as the API server stores it: ``data`` as rendered, ``stringData`` folded in
    (base64 of its UTF-8, winning over a ``data`` key of the same name). ``what`` names the Secret
    in the error a value that is not a string raises."""
    out: dict[str, str] = {}
    for field_, encode in (("data", False), ("stringData", True)):
        values = body.get(field_)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise UserError(f"{what}: {field_} must be a mapping of keys to strings, not {type(values).__name__}",
                            hint="fix the template")
        for k, v in values.items():
            if not isinstance(v, str):
                raise UserError(f"{what}: {field_}.{k} is {'empty' if v is None else 'not a string'}: "
                                "the API server takes only strings",
                                hint="quote the value in the template (e.g. `{{ .Values.x | quote }}`)")
            out[str(k)] = base64.b64encode(v.encode()).decode() if encode else v
    return out


@dataclass(frozen=True)
class Payload:
    """The payload Secret of one Secret: its name (in the Definition) and the object itself."""

    name: str
    secret: dict[str, Any]


def payloads(a: Analysis, keys: Keys) -> dict[ObjectKey, Payload]:
    """The payload Secret of every orchestrated Secret that has data (deterministic).

    The name is ``<release>-acp-<hash>`` and changes with the content, so a data change changes
    the Definition (and the graph's digest): an upgrade gets a new payload and Helm deletes the
    old one. The hash is an HMAC keyed with a hash of *all* the release's payloads, not a plain
    hash of one: a plain hash would let anyone who reads Definitions confirm a guess of a
    low-entropy value (a password) offline; keyed so, a guess must cover every Secret of the
    release at once (``docs/controller.md``, *Secrets stay secret*, says what remains)."""
    contents: dict[ObjectKey, tuple[str, dict[str, str]]] = {}
    for node in a.order:
        if not is_secret(node):
            continue
        body = a.objects[node].obj.body
        if not any(body.get(f) for f in SECRET_DATA_FIELDS):
            continue  # nothing to hide: the Definition wraps it as it is
        key = keys.key(node)
        source = a.objects[node].obj.source
        data = secret_data(body, f"Secret {key}" + (f" ({source})" if source else ""))
        contents[node] = (json.dumps({"key": key, "type": body.get("type"), "data": data},
                                     sort_keys=True, separators=(",", ":")), data)
    if not contents:
        return {}
    salt = hashlib.sha256("\0".join(sorted(c for c, _ in contents.values())).encode()).digest()
    out: dict[ObjectKey, Payload] = {}
    for node, (canonical, data) in contents.items():
        name = f"{keys.release}-acp-" + hmac.new(salt, canonical.encode(), hashlib.sha256).hexdigest()[:20]
        out[node] = Payload(name, payload_secret(keys.release, a.namespace, name, data))
    return out


def payload_secret(release: str, namespace: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    """A payload Secret: inert (nothing mounts it), labelled with the release, in its namespace."""
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, "labels": labels(release)},
            "type": PAYLOAD_TYPE, "data": data}


def payload_names(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """The names of the payload Secrets the given Definitions name (other kinds are ignored; an
    object without ``kind``, as a list's items, is taken as a Definition), sorted, once each: what
    the controller must be allowed to ``get`` (its Role's ``resourceNames`` on ``secrets``), and
    nothing more."""
    names: set[str] = set()
    for obj in objects:
        if obj.get("apiVersion", API_VERSION) != API_VERSION or obj.get("kind", "Definition") != "Definition":
            continue
        ref = obj.get(PAYLOAD_FIELD)
        if isinstance(ref, Mapping) and isinstance(ref.get("secretName"), str):
            names.add(ref["secretName"])
    return sorted(names)
