"""One release's graph, read from the cluster: its Definitions (each wraps one object under its
lower-case kind key, with ``meta``) and Dependencies (``parent``/``child`` keys), both labelled
``appcontroller.k8s/release=<release>``.

:func:`build` (pure) turns them into what the engine runs: an :class:`Analysis` of the wrapped
objects (settings from each Definition's ``meta``, which wins over the object's annotations: the
Definitions are the record of what ``helm ac template`` decided), the graph from the Dependencies
alone (``void/<name>`` keys become always-ready barrier vertices), and the keys. :func:`read` lists
the two kinds and the release's ``ReleaseGraph`` through the client; :func:`complete` says whether
the cluster holds the whole graph the ReleaseGraph describes (its digest on every Definition and
Dependency, as many as it counts), :func:`current` picks those.

A Secret's Definition holds no data: it names its **payload Secret** (``payload: {secretName}``),
which :func:`read` gets (once per name and run) and :func:`build` folds back into the Secret to
apply. A payload that is missing or not a payload does not stop the run: the Secret is recorded in
:attr:`Release.unusable_payloads` and its apply fails naming the payload
(:class:`~helm_ac.controller.secrets.SecretsCluster`).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import networkx as nx
from kubernetes.client.exceptions import ApiException

from helm_ac.analysis import model
from helm_ac.analysis.graph import Barrier, Node, Why, object_parents
from helm_ac.analysis.keys import Keys
from helm_ac.engine.cluster import ApiError, Apply, Cluster, Reply, Request, Stream, WatchHandle, WatchMessage
from helm_ac import kinds
from helm_ac.errors import UserError
from helm_ac.extension import spec
from helm_ac.kinds import ObjectKey
from helm_ac.kube.cluster import KubeCluster, api_error, retrying
from helm_ac.output import appcontroller, crds
from helm_ac.rendering.manifests import Rendered, RenderedObject

#: Definition fields that are not the wrapped object.
_OWN_FIELDS = {"apiVersion", "kind", "metadata", "meta", "status", appcontroller.PAYLOAD_FIELD}
#: ``meta`` keys (AppController's spelling) -> helm-ac annotation names
_META = {"timeout": "timeout", "retry": "retry", "on-error": "on-error", "success_factor": "success-factor",
         "ready-when": "ready-when"}


#: on every object the controller applies (``docs/controller.md``, *Teardown*): the release it belongs to
RELEASE_LABEL = appcontroller.RELEASE_LABEL
#: ... its key, and its nearest object parents' keys (comma-separated, sorted; absent without any)
KEY_ANNOTATION = spec.PREFIX + "key"
PARENTS_ANNOTATION = spec.PREFIX + "parents"


class ReleaseError(UserError):
    """The release's Definitions and Dependencies do not form a graph the controller can run."""


def selector(release: str) -> str:
    """The label selector of one release's Definitions, Dependencies and ReleaseGraph (and of the
    objects the controller applied): helm-ac's own label, which Helm leaves alone (it sets
    ``app.kubernetes.io/managed-by: Helm`` over the chart's ``helm-ac``)."""
    return f"{appcontroller.RELEASE_LABEL}={release}"


class _ReleaseKeys(Keys):
    """Keys as the Dependencies spell them: objects' as :class:`Keys` computes them (the same
    objects give the same keys), barriers' as read (``void/<name>``)."""

    def __init__(self, a: model.Analysis, release: str, voids: dict[Barrier, str]) -> None:
        super().__init__(a, release)
        self._voids = voids

    def key(self, node: Node) -> str:
        if isinstance(node, Barrier):
            return self._voids[node]
        return super().key(node)


@dataclass
class Release:
    """What the engine runs for one release, and how its nodes map back to Definitions."""

    name: str
    namespace: str
    analysis: model.Analysis
    graph: nx.DiGraph
    keys: Keys
    #: engine key (``deployment/web``) -> the Definition's name and its metadata.generation
    definitions: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: the release's ReleaseGraph as read (None: a graph without one, written by hand)
    graph_object: dict[str, Any] | None = None
    #: engine key -> the Definition's status as read (``{}`` when none): what a restart resumes from
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Secrets whose payload Secret is missing or not a payload -> why, naming it: their apply
    #: fails (a watching controller may take a missing one as "not yet": Helm creates it)
    unusable_payloads: dict[ObjectKey, str] = field(default_factory=dict)
    #: the names of the payload Secrets not found (sorted): what a watching controller waits for
    missing_payloads: list[str] = field(default_factory=list)


def _digest_of(obj: dict[str, Any]) -> Any:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(appcontroller.GRAPH_ANNOTATION)


def current(definitions: list[dict[str, Any]], dependencies: list[dict[str, Any]],
            graph_object: dict[str, Any] | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The Definitions and Dependencies of the graph ``graph_object`` (the release's ReleaseGraph)
    describes: those carrying its digest. Others belong to an older graph that Helm is replacing or
    deleting. Without a ReleaseGraph, all of them (a graph written by hand)."""
    if graph_object is None:
        return definitions, dependencies
    digest = (graph_object.get("spec") or {}).get("digest")
    return ([d for d in definitions if _digest_of(d) == digest], [d for d in dependencies if _digest_of(d) == digest])


def complete(definitions: list[dict[str, Any]], dependencies: list[dict[str, Any]],
             graph_object: dict[str, Any] | None) -> bool:
    """Whether the cluster holds the whole graph the release's ReleaseGraph describes: exactly
    ``spec.definitions`` Definitions and ``spec.dependencies`` Dependencies carry its digest. Helm
    creates a release's objects one by one, so a controller watching them may see part of a graph;
    it plans only a complete one. False without a ReleaseGraph."""
    if graph_object is None:
        return False
    spec_ = graph_object.get("spec") or {}
    defs, deps = current(definitions, dependencies, graph_object)
    return len(defs) == spec_.get("definitions") and len(deps) == spec_.get("dependencies")


def _wrapped(d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    name = (d.get("metadata") or {}).get("name", "?")
    keys = [k for k in d if k not in _OWN_FIELDS]
    if len(keys) != 1 or not isinstance(d[keys[0]], dict):
        raise ReleaseError(f"Definition {name} must wrap exactly one object under its lower-case kind key "
                           f"(found {', '.join(sorted(keys)) or 'none'})",
                           hint="recreate it with `helm ac template`")
    body = d[keys[0]]
    if str(body.get("kind", "")).lower() != keys[0]:
        raise ReleaseError(f"Definition {name}: the object under {keys[0]!r} is of kind {body.get('kind')!r}",
                           hint="the key must be the object's kind in lower case; recreate it with `helm ac template`")
    return name, body


def _settings(name: str, meta: Any) -> dict[str, model.Setting]:
    out: dict[str, model.Setting] = {}
    for key, setting in _META.items():
        if not isinstance(meta, dict) or meta.get(key) is None:
            continue
        raw = meta[key]
        if key == "timeout" and isinstance(raw, (int, float)):
            raw = f"{raw}s"
        s = model.Setting(setting, raw)
        try:
            s.value = spec.parse_raw(spec.OBJECT_ANNOTATIONS[setting], raw if isinstance(raw, str) else str(raw))
        except spec.SpecValueError as exc:
            raise ReleaseError(f"Definition {name}: meta.{key}: {exc}", hint=exc.hint) from None
        out[setting] = s
    return out


def _payload_name(d: dict[str, Any], name: str, body: dict[str, Any]) -> str | None:
    """The name of the payload Secret ``d`` names (None: it names none)."""
    ref = d.get(appcontroller.PAYLOAD_FIELD)
    if ref is None:
        return None
    if not isinstance(ref, dict) or not isinstance(ref.get("secretName"), str) or not ref["secretName"]:
        raise ReleaseError(f"Definition {name}: payload must be {{secretName: <name of a Secret>}}",
                           hint="recreate it with `helm ac template`")
    if str(body.get("kind")) != "Secret" or str(body.get("apiVersion")) != "v1":
        raise ReleaseError(f"Definition {name} names a payload Secret but wraps a {body.get('kind')}: "
                           "only a Secret's Definition names one", hint="recreate it with `helm ac template`")
    if any(f in body for f in appcontroller.SECRET_DATA_FIELDS):
        raise ReleaseError(f"Definition {name} names a payload Secret and wraps a Secret with data: "
                           "the data belongs in the payload only", hint="recreate it with `helm ac template`")
    return str(ref["secretName"])


def _with_payload(name: str, body: dict[str, Any], secret_name: str, payload: dict[str, Any] | None,
                  namespace: str) -> tuple[dict[str, Any], str | None]:
    """The Secret to apply (its data from the payload) and, when the payload cannot be used, why."""
    if payload is None:
        return body, (f"payload Secret {secret_name} of Definition {name} not found in namespace {namespace} "
                      "(Helm creates it with the release: was it deleted?)")
    if payload.get("type") != appcontroller.PAYLOAD_TYPE:
        return body, (f"Secret {secret_name}, named as the payload of Definition {name}, is not a payload "
                      f"(its type is not {appcontroller.PAYLOAD_TYPE})")
    data = payload.get("data") or {}
    return ({**body, "data": dict(data)} if data else body), None


def build(release: str, namespace: str, definitions: list[dict[str, Any]],
          dependencies: list[dict[str, Any]], payloads: Mapping[str, dict[str, Any] | None] | None = None) -> Release:
    """The engine's view of a release from its Definitions and Dependencies (as the API returns them).
    ``payloads``: the payload Secrets the Definitions name, by name (None or absent: not found)."""
    objects: list[RenderedObject] = []
    names: dict[int, tuple[str, int, dict[str, Any]]] = {}  # id(RenderedObject) -> its Definition
    recorded: dict[int, dict[str, Any]] = {}  # id(RenderedObject) -> its Definition's status
    unusable: dict[int, str] = {}  # id(RenderedObject) -> why its payload cannot be used
    missing: set[str] = set()
    for i, d in enumerate(sorted(definitions, key=lambda d: d["metadata"]["name"])):
        name, body = _wrapped(d)
        secret_name, refused = _payload_name(d, name, body), None
        if secret_name is not None:
            body, refused = _with_payload(name, body, secret_name, (payloads or {}).get(secret_name), namespace)
        obj = RenderedObject(body, "", (release,), f"definitions/{name}", i)
        if refused is not None:
            unusable[id(obj)] = refused
            if (payloads or {}).get(str(secret_name)) is None:
                missing.add(str(secret_name))
        if obj.hooks:
            raise ReleaseError(f"Definition {name} wraps a Helm hook ({', '.join(obj.hooks)}): "
                               "hooks are Helm's to run, never the controller's",
                               hint="remove the helm.sh/hook annotation from the wrapped object, or the Definition")
        objects.append(obj)
        names[id(obj)] = (name, int(d["metadata"].get("generation") or 0), d.get("meta") or {})
        st = d.get("status")
        recorded[id(obj)] = st if isinstance(st, dict) else {}
    a = model.analyze(Rendered(objects), None, namespace)
    if len(a.order) != len(objects):
        seen: dict[ObjectKey, str] = {}
        for o in objects:
            k = model.effective_key(o, namespace, set(kinds.CLUSTER_SCOPED))
            if k in seen:
                raise ReleaseError(f"Definitions {seen[k]} and {names[id(o)][0]} wrap the same object ({k})",
                                   hint="delete one of them")
            seen[k] = names[id(o)][0]
        raise ReleaseError(f"release {release}: two Definitions wrap the same object",
                           hint="delete one of them")
    by_key: dict[str, ObjectKey] = {}
    plain = Keys(a, release)
    defs: dict[str, tuple[str, int]] = {}
    statuses: dict[str, dict[str, Any]] = {}
    for key in a.order:
        name, generation, meta = names[id(a.objects[key].obj)]
        a.objects[key].settings.update(_settings(name, meta))
        by_key[plain.key(key)] = key
        defs[plain.key(key)] = (name, generation)
        statuses[plain.key(key)] = recorded[id(a.objects[key].obj)]
        # the graph is the Dependencies alone: the objects' own depends-on references (parsed and
        # resolved by analyze; ~8 MiB at 10,000 objects) serve neither the engine nor the controller
        a.objects[key].references.clear()
    g: nx.DiGraph = nx.DiGraph()
    g.add_nodes_from(a.order)
    voids: dict[Barrier, str] = {}

    def node(text: Any, dep: str) -> Node:
        if isinstance(text, str) and text.startswith("void/"):
            b = Barrier("void", (text[len("void/"):],))
            voids[b] = text
            return b
        if text not in by_key:
            raise ReleaseError(f"Dependency {dep} names {text!r}, which no Definition of release {release} wraps",
                               hint="apply the missing Definition or delete the Dependency")
        return by_key[text]

    for dep in sorted(dependencies, key=lambda d: d["metadata"]["name"]):
        dname = dep["metadata"]["name"]
        parent, child = node(dep.get("parent"), dname), node(dep.get("child"), dname)
        gate = "present" if (dep.get("meta") or {}).get("gate") == "present" else "ready"
        why = Why("dependency", f"Dependency {dname}", "", gate)
        if g.has_edge(parent, child):
            g[parent][child]["why"].append(why)
        else:
            g.add_edge(parent, child, why=[why])
    if not nx.is_directed_acyclic_graph(g):
        cycle = " -> ".join(str(k) for k, _ in nx.find_cycle(g))
        raise ReleaseError(f"release {release}: the Dependencies form a cycle ({cycle})",
                           hint="delete one of its Dependencies")
    return Release(release, namespace, a, g, _ReleaseKeys(a, release, voids), defs, statuses=statuses,
                   unusable_payloads={k: unusable[id(a.objects[k].obj)] for k in a.order
                                      if id(a.objects[k].obj) in unusable},
                   missing_payloads=sorted(missing))


def _get(what: str, fn: Callable[[], Any], tries: int, backoff: float,
         sleep: Callable[[float], None], hint: str) -> Any:
    """``fn()``, with a transient refusal (429, 5xx, no answer) tried again (after ``Retry-After``,
    else ``backoff`` seconds doubled, ``tries`` times); any other refusal is a :class:`ReleaseError`."""
    try:
        return retrying(fn, tries=tries, backoff=backoff, sleep=sleep)
    except ApiError as err:
        raise ReleaseError(f"cannot {what}: {err.message}" + (f" ({err.tries} tries)" if err.tries > 1 else ""),
                           hint=hint) from None


def read_payloads(cluster: KubeCluster, namespace: str, names: list[str], *, tries: int = 6, backoff: float = 0.5,
                  sleep: Callable[[float], None] = time.sleep) -> dict[str, dict[str, Any] | None]:
    """The payload Secrets ``names`` in ``namespace`` (None: not found), one GET each (blocking)."""
    from helm_ac.controller.secrets import redact_secret_error

    out: dict[str, dict[str, Any] | None] = {}
    for name in names:
        def get(name: str = name) -> dict[str, Any] | None:
            try:
                res = cluster.resource("v1", "Secret")
                got: dict[str, Any] = cluster.dynamic.get(res, name=name, namespace=namespace).to_dict()
                return got
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise redact_secret_error(api_error(exc)) from None
        out[name] = _get(f"read the payload Secret {name} in namespace {namespace}", get, tries, backoff,
                         sleep, hint=f"the controller needs `get` on the Secret {name} (its Role names each "
                                     "payload Secret of the release)")
    return out


def _compact_meta(meta: Any, *keys: str) -> dict[str, Any]:
    meta = meta if isinstance(meta, dict) else {}
    out = {k: meta[k] for k in keys if k in meta}
    digest = (meta.get("annotations") or {}).get(appcontroller.GRAPH_ANNOTATION)
    if isinstance(digest, str):
        out["annotations"] = {appcontroller.GRAPH_ANNOTATION: sys.intern(digest)}
    return out


def compact_definition(d: dict[str, Any]) -> dict[str, Any]:
    """A listed Definition reduced to what :func:`current`, :func:`complete`, :func:`build`,
    resuming (``status``) and payloads (``payload``) read: its name, generation and graph digest,
    ``meta``, the wrapped object; the rest of its metadata (labels, uid, timestamps ...) goes as
    each page is read, so 10,000 listed Definitions are not all held whole while the graph is built."""
    return {**{k: v for k, v in d.items() if k not in ("apiVersion", "kind", "metadata")},
            "metadata": _compact_meta(d.get("metadata"), "name", "generation")}


def compact_dependency(d: dict[str, Any]) -> dict[str, Any]:
    """A listed Dependency reduced to its edge: name, graph digest, ``parent``, ``child`` (interned:
    each key recurs in many Dependencies), ``meta``."""
    out: dict[str, Any] = {"metadata": _compact_meta(d.get("metadata"), "name")}
    for k in ("parent", "child"):
        v = d.get(k)
        out[k] = sys.intern(v) if isinstance(v, str) else v
    if "meta" in d:
        out["meta"] = d["meta"]
    return out


def read(cluster: KubeCluster, namespace: str, release: str, *, tries: int = 6, backoff: float = 0.5,
         sleep: Callable[[float], None] = time.sleep) -> Release:
    """List the release's Definitions and Dependencies through ``cluster``'s client (blocking: call
    it from a thread) and :func:`build` the graph. A transient refusal (429, 5xx, no answer) is tried
    again (after ``Retry-After``, else ``backoff`` seconds doubled, ``tries`` times); a cluster that
    does not serve the CRDs, refuses otherwise or stays unreachable is a :class:`ReleaseError`."""
    got = []
    for kind, compact in (("Definition", compact_definition), ("Dependency", compact_dependency),
                          ("ReleaseGraph", None)):
        def list_all(kind: str = kind, compact: Callable[[dict[str, Any]], dict[str, Any]] | None = compact
                     ) -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = []
            for page, _ in cluster.list_pages(crds.API_VERSION, kind, namespace, selector(release)):
                items.extend(map(compact, page) if compact is not None else page)
            return items

        got.append(_get(f"list the {kind} objects of release {release} in namespace {namespace}", list_all,
                        tries, backoff, sleep, "check the cluster connection and that the CRDs are installed "
                                               "(`helm ac crds | kubectl apply -f -`)"))
    graph_object = next((g for g in got[2] if g["metadata"]["name"] == release), None)
    if graph_object is not None and not complete(got[0], got[1], graph_object):
        spec_ = graph_object.get("spec") or {}
        defs, deps = current(got[0], got[1], graph_object)
        raise ReleaseError(f"release {release} is incomplete: its ReleaseGraph counts {spec_.get('definitions')} "
                           f"Definitions and {spec_.get('dependencies')} Dependencies of digest "
                           f"{str(spec_.get('digest'))[:12]}, the cluster holds {len(defs)} and {len(deps)}",
                           hint="wait until Helm has created the whole release, or run the controller with --watch")
    defs, deps = current(got[0], got[1], graph_object)
    return assemble(cluster, namespace, release, defs, deps, graph_object, tries=tries, backoff=backoff, sleep=sleep)


def assemble(cluster: KubeCluster, namespace: str, release: str, definitions: list[dict[str, Any]],
             dependencies: list[dict[str, Any]], graph_object: dict[str, Any] | None, *, tries: int = 6,
             backoff: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> Release:
    """The run of a complete graph (both modes): its payload Secrets read (blocking: call it from a
    thread; once per run: a payload's name changes with its content, so a new graph is a new run),
    :func:`build`, the ReleaseGraph attached (what the controller applies is marked as each apply is
    sent: :class:`DecoratingCluster`)."""
    payloads = read_payloads(cluster, namespace, appcontroller.payload_names(definitions), tries=tries,
                             backoff=backoff, sleep=sleep)
    rel = build(release, namespace, definitions, dependencies, payloads)
    rel.graph_object = graph_object
    return rel


def decorated(rel: Release, node: ObjectKey, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The body the controller applies for ``node`` (``body``, default the wrapped object as
    analysed), marked so that removals and teardown need neither the Definitions nor the
    Dependencies (``docs/controller.md``, *Upgrade*, *Teardown*): the label
    ``appcontroller.k8s/release``, the annotations ``appcontroller.k8s/key`` and ``.../parents``
    (nearest object parents, through ``void/`` barriers) and, for an object in the release
    namespace when the release has a ReleaseGraph, an ownerReference to it (neither ``controller``
    nor ``blockOwnerDeletion``: the garbage collector removes what an uninstall without the
    teardown hook leaves). Only metadata changes: what the engine judges readiness by does not.
    Made when the apply is sent (:class:`DecoratingCluster`), not for every object up front: 10,000
    decorated copies held through the run were ~9 MiB."""
    if body is None:
        body = rel.analysis.objects[node].obj.body
    meta_ = (rel.graph_object or {}).get("metadata") or {}
    meta = dict(body.get("metadata") or {})
    labels = meta.get("labels")
    meta["labels"] = {**(labels if isinstance(labels, dict) else {}), RELEASE_LABEL: rel.name}
    ann = dict(meta["annotations"]) if isinstance(meta.get("annotations"), dict) else {}
    ann[KEY_ANNOTATION] = rel.keys.key(node)
    parents = sorted(rel.keys.key(p) for p in object_parents(rel.graph, node))
    if parents:
        ann[PARENTS_ANNOTATION] = ",".join(parents)
    else:
        ann.pop(PARENTS_ANNOTATION, None)
    meta["annotations"] = ann
    if meta_.get("uid") and node.namespace == rel.namespace:
        owner = {"apiVersion": crds.API_VERSION, "kind": "ReleaseGraph", "name": meta_.get("name"),
                 "uid": meta_.get("uid")}
        refs = [r for r in meta.get("ownerReferences") or [] if isinstance(r, dict) and r.get("uid") != owner["uid"]]
        meta["ownerReferences"] = [*refs, owner]
    return {**body, "metadata": meta}


def decorate(rel: Release) -> None:
    """Replace every object of ``rel.analysis`` with its :func:`decorated` body, up front (the
    controller decorates each body as its apply is sent instead: :class:`DecoratingCluster`)."""
    for node in rel.analysis.order:
        info = rel.analysis.objects[node]
        o = info.obj
        info.obj = RenderedObject(decorated(rel, node), o.source, o.chart, o.template, o.index)


class DecoratingCluster:
    """``inner`` (the run's cluster) for the engine, with each apply of an object of ``rel`` sent
    :func:`decorated`: the engine applies (and judges) the objects as ``rel.analysis`` holds them,
    the cluster gets them marked."""

    def __init__(self, inner: Cluster, rel: Release) -> None:
        self.inner = inner
        self.rel = rel

    def call(self, request: Request, reply: Callable[[Reply], None]) -> None:
        if isinstance(request, Apply) and request.key in self.rel.analysis.objects:
            request = Apply(request.key, decorated(self.rel, request.key, request.obj))
        self.inner.call(request, reply)

    def watch(self, stream: Stream, resource_version: str, sink: Callable[[WatchMessage], None]) -> WatchHandle:
        return self.inner.watch(stream, resource_version, sink)
