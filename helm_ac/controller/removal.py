"""Removing a release's objects in reverse order (``docs/controller.md``, *Upgrade* removals and
*Teardown on uninstall, never stuck*).

Every object the controller applies carries the label ``appcontroller.k8s/release`` and the
annotations ``appcontroller.k8s/key`` and ``appcontroller.k8s/parents``
(:func:`helm_ac.controller.release.decorated`), so removal needs neither the Definitions nor the
Dependencies: the candidates are listed by label selector for each kind the release ever applied
(the ReleaseGraph's ``status.appliedKinds``, :func:`record_kinds`) and ordered by the parents their
annotations name. Only objects carrying the key annotation are candidates: others with the label
(the payload Secrets Helm creates with the release) are Helm's.

* :func:`prune` deletes those whose key is not kept (after a run that ended ok: the objects no
  Definition wraps any more), :func:`teardown` all of them. A child is deleted before its parents;
  unrelated objects concurrently (under the concurrency limit). Each delete is Foreground with the
  listed uid as precondition and awaited (the kind's watch says ``DELETED``; a dropped watch
  resumes, a 410 lists again) for the object's timeout (its Definition's when known, else
  :data:`DEFAULT_TIMEOUT`). 404 is success; a refusal (403, 409, 422 ...) or a timeout (a finalizer
  nobody removes) fails that object, and its parents are kept (``blocked``) while everything that
  does not depend on it goes on. Each change is a JSON log line (``state``: ``deleting``,
  ``deleted``, ``failed``, ``blocked``).
* :func:`uninstall` is ``--teardown``: mark the ReleaseGraph (annotation
  ``appcontroller.k8s/teardown: "true"``, status phase ``TearingDown``), take the release's Lease,
  tear down, write each Definition's status on the way (reason ``Deleting``/``Deleted``/
  ``DeleteFailed``; the phases are kept).
"""
from __future__ import annotations

import asyncio
import functools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Iterable, Mapping

import networkx as nx

from helm_ac import kinds as kinds_mod
from helm_ac.controller.release import KEY_ANNOTATION, PARENTS_ANNOTATION, RELEASE_LABEL, Release
from helm_ac.controller.secrets import SecretsCluster
from helm_ac.engine.cluster import ApiError, Delete, Reply, Stream, Synced, WatchClosed, WatchEvent, WatchMessage
from helm_ac.extension import spec
from helm_ac.kinds import ObjectKey
from helm_ac.kube import cluster as kube_cluster
from helm_ac.kube.cluster import KubeCluster, retrying
from helm_ac.output import crds

#: seconds an object may take to go once its delete is accepted, when its Definition does not say
DEFAULT_TIMEOUT = 600.0
#: the mark ``--teardown`` puts on the ReleaseGraph: a watching controller stops and gives up the Lease
TEARDOWN_ANNOTATION = spec.PREFIX + "teardown"
#: transient refusals of a delete and a dropped watch: tries, first backoff (doubled), its cap (those of
#: a blocking call, ``kube.cluster.retrying``)
TRIES, BACKOFF, BACKOFF_CAP = kube_cluster.TRIES, kube_cluster.BACKOFF, kube_cluster.BACKOFF_CAP

Emit = Callable[[str], None]
#: (key, object, state, message): each change, for the Definitions' statuses
OnState = Callable[[str, ObjectKey, str, str], None]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _line(**fields: object) -> str:
    """One JSON log line, as the rollout's (``time`` first)."""
    return json.dumps({"time": _now(), **fields}, separators=(",", ":"), default=str)


def kind_entry(api_version: str, kind: str, namespace: str | None) -> dict[str, str]:
    """One ``status.appliedKinds`` item (``namespace`` empty for cluster-scoped kinds)."""
    return {"apiVersion": api_version, "kind": kind, "namespace": namespace or ""}


def kinds_of(rel: Release) -> list[dict[str, str]]:
    """The apiVersion, kind and namespace of every object ``rel`` applies."""
    out = {}
    for key in rel.analysis.order:
        api = str(rel.analysis.objects[key].obj.body.get("apiVersion") or "v1")
        e = kind_entry(api, key.kind, key.namespace)
        out[tuple(e.values())] = e
    return [out[k] for k in sorted(out)]


def applied_kinds(graph_object: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """``status.appliedKinds`` of a ReleaseGraph as read (empty without one)."""
    items = ((graph_object or {}).get("status") or {}).get("appliedKinds") or []
    return [kind_entry(str(i["apiVersion"]), str(i["kind"]), i.get("namespace") or None)
            for i in items if isinstance(i, dict) and i.get("apiVersion") and i.get("kind")]


def union(*lists: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    out: dict[tuple[str, ...], dict[str, str]] = {}
    for items in lists:
        for i in items:
            e = kind_entry(i["apiVersion"], i["kind"], i.get("namespace") or None)
            out[tuple(e.values())] = e
    return [out[k] for k in sorted(out)]


def _merge_patch(cluster: KubeCluster, kind: str, namespace: str, name: str, body: dict[str, Any],
                 subresource: bool = False) -> dict[str, Any]:
    res = cluster.resource(crds.API_VERSION, kind)
    path = res.path(name=name, namespace=namespace) + ("/status" if subresource else "")
    out = retrying(lambda: cluster.dynamic.request("patch", path, body=body,
                                                   content_type="application/merge-patch+json"))
    return out.to_dict() if hasattr(out, "to_dict") else dict(out)


def record_kinds(cluster: KubeCluster, rel: Release) -> list[dict[str, str]] | None:
    """Add the kinds ``rel`` applies to its ReleaseGraph's ``status.appliedKinds`` (a merge patch of
    that key alone; the union with what it holds), before the run applies anything. Blocking: call
    it from a thread. Nothing without a ReleaseGraph, or when nothing is new; returns what was
    written (None: nothing). Raises :class:`ApiError` when refused."""
    if rel.graph_object is None:
        return None
    had = applied_kinds(rel.graph_object)
    now = union(had, kinds_of(rel))
    if now == union(had):
        return None
    meta = rel.graph_object["metadata"]
    _merge_patch(cluster, "ReleaseGraph", rel.namespace, meta["name"], {"status": {"appliedKinds": now}},
                 subresource=True)
    rel.graph_object.setdefault("status", {})["appliedKinds"] = now
    return now


# ---------------------------------------------------------------- removal


@dataclass
class PruneResult:
    """What a removal did: the keys ``deleted`` (in the order they went), ``failed`` (key -> why:
    refused, timed out; a kind that could not be listed is named ``list <kind> in <namespace>``),
    ``blocked`` (key -> the children not deleted, so it was kept)."""

    deleted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    blocked: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.blocked


@dataclass
class _Candidate:
    key: str
    okey: ObjectKey
    uid: str
    stream: Stream
    parents: tuple[str, ...]
    timeout: float


class _Gone:
    """One kind in one namespace, watched from the list's resourceVersion: who has gone."""

    def __init__(self, cluster: KubeCluster, stream: Stream, version: str) -> None:
        self.cluster, self.stream, self.version = cluster, stream, version
        self.loop = asyncio.get_running_loop()
        self.waiting: dict[str, asyncio.Future[None]] = {}
        self.last: dict[str, dict[str, Any]] = {}  # uid -> the object as last seen
        self.listed: set[str] | None = None  # uids of a relist in progress
        self.closed = False
        self.failures = 0
        self.handle: Any = None
        self._open(version)

    def _open(self, version: str) -> None:
        if version == "":
            self.listed = set()
        self.handle = self.cluster.watch(self.stream, version, self._sink)

    def wait(self, uid: str) -> "asyncio.Future[None]":
        fut = self.waiting.get(uid)
        if fut is None:
            fut = self.waiting[uid] = self.loop.create_future()
        return fut

    def gone(self, uid: str) -> None:
        fut = self.wait(uid)
        if not fut.done():
            fut.set_result(None)

    def _sink(self, msg: WatchMessage) -> None:
        if self.closed:
            return
        if isinstance(msg, WatchEvent):
            self.failures = 0
            if msg.resource_version:
                self.version = msg.resource_version
            uid = str((msg.obj.get("metadata") or {}).get("uid") or "")
            if msg.type == "DELETED":
                self.gone(uid)
            elif msg.type != "BOOKMARK" and uid:
                self.last[uid] = msg.obj
                if self.listed is not None:
                    self.listed.add(uid)
        elif isinstance(msg, Synced):
            self.version = msg.resource_version or self.version
            listed, self.listed = self.listed, None
            if listed is not None:  # a relist: what it does not name went while nobody watched
                for uid in list(self.waiting):
                    if uid not in listed:
                        self.gone(uid)
        elif isinstance(msg, WatchClosed):
            self.failures += 1
            version = "" if (msg.error is not None and msg.error.code == 410) or self.failures > 3 else self.version
            delay = 0.0 if self.failures == 1 else min(BACKOFF * 2 ** (self.failures - 2), BACKOFF_CAP)
            self.loop.call_later(delay, lambda: None if self.closed else self._open(version))

    def close(self) -> None:
        self.closed = True
        if self.handle is not None:
            self.handle.stop()


def _key_of(obj: dict[str, Any]) -> str | None:
    """The key the controller applied ``obj`` under (its ``appcontroller.k8s/key`` annotation);
    None: the controller did not apply it (a payload Secret, or anything else Helm created with
    the release's label), so no removal touches it."""
    key = ((obj.get("metadata") or {}).get("annotations") or {}).get(KEY_ANNOTATION)
    return str(key) if key else None


def _list(cluster: KubeCluster, entry: Mapping[str, str], release: str, namespace: str,
          keep: Collection[str] = ()) -> tuple[Stream, list[dict[str, Any]], str] | None:
    """The objects of one kind in one namespace (``namespace`` when the entry names none) labelled
    with ``release`` whose key is not in ``keep``, and the list's version. None when the server
    does not serve the kind (nothing of it can exist). Read a page at a time, each page trimmed and
    the kept objects dropped as it comes: a prune after a rollout of 10,000 objects removes none of
    them, and holding them all (the client's ``to_dict`` of one unpaged list) was the controller's
    peak memory. Blocking."""
    try:
        res = cluster.resource(entry["apiVersion"], entry["kind"])
    except ApiError as e:
        if e.code == 404:
            return None
        raise
    ns = (entry.get("namespace") or namespace) if res.namespaced else None

    def read() -> tuple[list[dict[str, Any]], str]:
        items, version = [], ""
        for page, version in cluster.list_pages(entry["apiVersion"], entry["kind"], ns, f"{RELEASE_LABEL}={release}"):
            for item in page:
                if _key_of(item) in keep:
                    continue
                item.setdefault("apiVersion", res.group_version)
                item.setdefault("kind", res.kind)
                items.append(item)
        return items, version

    items, version = retrying(read)
    return Stream(res.group_version, res.kind, ns), items, version


def _settle(fut: "asyncio.Future[Reply]", reply: Reply) -> None:
    if not fut.done():
        fut.set_result(reply)


async def _delete(cluster: KubeCluster, c: _Candidate) -> ApiError | None:
    """Send the Foreground delete with the uid precondition; transient refusals tried again. None:
    accepted (or already gone: 404)."""
    loop = asyncio.get_running_loop()
    for attempt in range(1, TRIES + 1):
        fut: asyncio.Future[Reply] = loop.create_future()
        # (a Secret's refusal redacted, as the rollout's: its message goes into logs and statuses)
        SecretsCluster(cluster).call(Delete(c.okey, c.uid), functools.partial(_settle, fut))
        reply = await fut
        err = reply.error
        if err is None or err.code == 404:
            return None
        if err.transient and attempt < TRIES:
            await asyncio.sleep(err.retry_after if err.retry_after is not None
                                else min(BACKOFF * 2 ** (attempt - 1), BACKOFF_CAP))
            continue
        return err
    return None  # unreachable


def _why_stuck(obj: dict[str, Any] | None) -> str:
    meta = (obj or {}).get("metadata") or {}
    fins = [f for f in meta.get("finalizers") or []]
    if fins:
        return f"; it is held by the finalizer{'s' if len(fins) > 1 else ''} {', '.join(fins)}"
    return ""


async def prune(cluster: KubeCluster, namespace: str, release: str, keep: set[str],
                kinds: Iterable[Mapping[str, str]], emit: Emit, *, concurrency: int | None = None,
                timeouts: Mapping[ObjectKey, float] | None = None, on_state: OnState | None = None) -> PruneResult:
    """Delete ``release``'s objects (labelled ``appcontroller.k8s/release=<release>``) of ``kinds``
    (``{apiVersion, kind, namespace}``, namespace empty for cluster-scoped kinds) whose key is not
    in ``keep``: dependents first, each awaited until it is gone (module doc). ``emit`` gets a JSON
    line per change, ``on_state`` each change too. ``namespace`` is the release namespace (a kind
    recorded without one, when namespaced, is looked at there)."""
    loop = asyncio.get_running_loop()
    result = PruneResult()
    timeouts = timeouts or {}
    entries = union([{**e, "namespace": e.get("namespace") or ""} for e in kinds])
    watched: dict[Stream, _Gone] = {}
    cands: dict[str, _Candidate] = {}
    uids: set[str] = set()

    def say(key: str, okey: ObjectKey | None, state: str, message: str, **extra: Any) -> None:
        emit(_line(release=release, object=key, state=state, message=message, **extra))
        if on_state is not None and okey is not None:
            on_state(key, okey, state, message)

    try:
        for entry in entries:
            try:
                got = await loop.run_in_executor(cluster.pool, _list, cluster, entry, release, namespace, keep)
            except ApiError as e:
                where = f"list {entry['kind']} in {entry.get('namespace') or 'the cluster'}"
                result.failed[where] = f"cannot list them: {e.code}: {e.message}"
                emit(_line(release=release, object=where, state="failed", message=result.failed[where]))
                continue
            if got is None:
                continue
            stream, items, version = got
            mine = []
            for obj in items:
                meta = obj.get("metadata") or {}
                key = _key_of(obj)
                uid = str(meta.get("uid") or "")
                if key is None or key in keep or not uid or uid in uids:
                    continue
                uids.add(uid)
                okey = ObjectKey(kinds_mod.group_of(stream.api_version), stream.kind, meta.get("namespace") or None,
                                 str(meta.get("name") or ""))
                parents = tuple(p.strip() for p in str((meta.get("annotations") or {}).get(PARENTS_ANNOTATION)
                                                       or "").split(",") if p.strip())
                if key in cands:  # two objects claim a key (edited by hand): keep both, distinctly
                    key = f"{key}@{okey}"
                cands[key] = _Candidate(key, okey, uid, stream, parents, float(timeouts.get(okey, DEFAULT_TIMEOUT)))
                mine.append(obj)
            if mine and stream not in watched:
                watched[stream] = _Gone(cluster, stream, version)
            for obj in mine:
                watched[stream].last[str(obj["metadata"]["uid"])] = obj
        if not cands:
            return result
        g: nx.DiGraph = nx.DiGraph()
        g.add_nodes_from(cands)
        g.add_edges_from((p, c.key) for c in cands.values() for p in c.parents if p in cands and p != c.key)
        while not nx.is_directed_acyclic_graph(g):  # annotations edited into a cycle: drop an edge of it
            p, c = nx.find_cycle(g)[0][:2]
            g.remove_edge(p, c)
            emit(_line(release=release, msg=f"the parents annotations form a cycle: {c} is not waited for by {p}"))
        limit = asyncio.Semaphore(concurrency) if concurrency else None
        outcome: dict[str, asyncio.Future[bool]] = {k: loop.create_future() for k in cands}

        async def remove(c: _Candidate) -> None:
            children = list(g.successors(c.key))
            oks = [await outcome[ch] for ch in children]
            kept = [ch for ch, ok in zip(children, oks, strict=True) if not ok]
            if kept:
                result.blocked[c.key] = sorted(kept)
                say(c.key, c.okey, "blocked", f"kept: its children {', '.join(sorted(kept))} were not deleted",
                    blockedBy=sorted(kept))
                outcome[c.key].set_result(False)
                return
            if limit is not None:
                async with limit:
                    ok = await one(c)
            else:
                ok = await one(c)
            outcome[c.key].set_result(ok)

        async def one(c: _Candidate) -> bool:
            gone = watched[c.stream]
            waiter = gone.wait(c.uid)
            say(c.key, c.okey, "deleting", "being deleted (Foreground), waiting until it is gone")
            start = loop.time()
            err = await _delete(cluster, c)
            if err is not None:
                msg = f"delete refused: {err.code}: {err.message}"
                if err.code == 409:
                    msg += " (another object of that name replaced it, or it conflicts)"
                result.failed[c.key] = msg
                say(c.key, c.okey, "failed", msg)
                return False
            try:
                await asyncio.wait_for(asyncio.shield(waiter), max(0.0, c.timeout - (loop.time() - start)))
            except asyncio.TimeoutError:
                msg = f"still there {c.timeout:g}s after its delete{_why_stuck(gone.last.get(c.uid))}"
                result.failed[c.key] = msg
                say(c.key, c.okey, "failed", msg)
                return False
            result.deleted.append(c.key)
            say(c.key, c.okey, "deleted", "gone")
            return True

        await asyncio.gather(*(remove(c) for c in cands.values()))
        return result
    finally:
        for w in watched.values():
            w.close()


async def teardown(cluster: KubeCluster, namespace: str, release: str, kinds: Iterable[Mapping[str, str]],
                   emit: Emit, **options: Any) -> PruneResult:
    """:func:`prune` keeping nothing: every object of the release, in reverse order."""
    return await prune(cluster, namespace, release, set(), kinds, emit, **options)
