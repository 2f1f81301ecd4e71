"""``--teardown`` (the ``pre-delete`` hook's Job, ``docs/controller.md``, *Teardown on uninstall*):
mark the release's ReleaseGraph (annotation ``appcontroller.k8s/teardown: "true"``, status phase
``TearingDown``) so that a watching controller stops and gives the Lease up, take the Lease, delete
every object of the release in reverse order (:func:`helm_ac.controller.removal.teardown`), writing
each Definition's status on the way (reason ``Deleting``, ``Deleted``, ``DeleteFailed`` or
``DeleteBlocked``; the phase is left as it was: the CRD's phases stay the rollout's).

Works with the Definitions already gone: the kinds come from the ReleaseGraph's
``status.appliedKinds`` (and the Definitions left), the order from the objects' own annotations."""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable

from kubernetes import client

from helm_ac import kinds
from helm_ac.controller import removal
from helm_ac.controller.lease import Lease, LeaseLost
from helm_ac.controller.release import ReleaseError, _wrapped, selector
from helm_ac.controller.run import LeaseOptions, _renew, take_lease, while_held
from helm_ac.controller.status import StatusWriter, conditions, rfc3339
from helm_ac.engine.cluster import ApiError
from helm_ac.kinds import ObjectKey
from helm_ac.kube.aio import AsyncioClock
from helm_ac.kube.cluster import KubeCluster, retrying
from helm_ac.output import crds

#: removal state -> (reason, Reconciling, Stalled)
_REASONS = {"deleting": ("Deleting", True, False), "deleted": ("Deleted", False, False),
            "failed": ("DeleteFailed", False, True), "blocked": ("DeleteBlocked", False, True)}


def teardown_status(state: str, message: str, *, generation: int, now: float,
                    previous: dict[str, Any] | None) -> dict[str, Any]:
    """A Definition's status while its object is removed: the phase as it was, the reason and
    message of the removal, the three conditions (Ready False; Reconciling while deleting;
    Stalled when the removal failed or is blocked)."""
    reason, reconciling, stalled = _REASONS[state]
    kept = {k: v for k, v in (previous or {}).items() if k in ("attempts", "startedAt", "finishedAt", "blockedBy")}
    return {**kept, "observedGeneration": generation, "phase": (previous or {}).get("phase") or "Pending",
            "reason": reason, "message": message,
            "conditions": conditions(previous, ready=False, reconciling=reconciling, stalled=stalled, reason=reason,
                                     message=message, now=rfc3339(now), generation=generation)}


def _list(cluster: KubeCluster, kind: str, namespace: str, release: str) -> list[dict[str, Any]]:
    try:
        res = cluster.resource(crds.API_VERSION, kind)
        out = retrying(lambda: cluster.dynamic.get(res, namespace=namespace, label_selector=selector(release)))
    except ApiError as e:
        raise ReleaseError(f"cannot list the {kind} objects of release {release} in namespace {namespace}: "
                           f"{e.code}: {e.message}",
                           hint="check the cluster connection, the CRDs and the controller's permissions") from None
    items: list[dict[str, Any]] = out.to_dict()["items"]
    return items


def _object_key(body: dict[str, Any], namespace: str) -> ObjectKey:
    group = kinds.group_of(str(body.get("apiVersion") or "v1"))
    kind = str(body.get("kind") or "")
    meta = body.get("metadata") or {}
    ns = None if (group, kind) in kinds.CLUSTER_SCOPED else str(meta.get("namespace") or namespace)
    return ObjectKey(group, kind, ns, str(meta.get("name") or ""))


async def uninstall(api: client.ApiClient, namespace: str, release: str, *, concurrency: int | None = None,
                    lease: LeaseOptions | None = None, emit: Callable[[str], None] = lambda line: None,
                    ) -> removal.PruneResult:
    """Tear ``release`` down (module doc); the result says what was deleted and what was not."""
    loop = asyncio.get_running_loop()
    cluster = KubeCluster(api, loop, concurrency=concurrency)
    stop = threading.Event()
    held: Lease | None = None
    try:
        graphs = await loop.run_in_executor(cluster.pool, _list, cluster, "ReleaseGraph", namespace, release)
        graph_object = next((g for g in graphs if g["metadata"]["name"] == release), None)
        if graph_object is not None:  # the mark first: a watching controller stops and gives the Lease up
            try:
                await loop.run_in_executor(cluster.pool, lambda: removal._merge_patch(
                    cluster, "ReleaseGraph", namespace, release,
                    {"metadata": {"annotations": {removal.TEARDOWN_ANNOTATION: "true"}}}))
            except ApiError as e:
                if e.code != 404:  # 404: Helm deleted it meanwhile; nobody watches it any more
                    raise ReleaseError(f"cannot mark ReleaseGraph {namespace}/{release} for teardown: "
                                       f"{e.code}: {e.message}",
                                       hint="grant the controller `patch` on releasegraphs.appcontroller.k8s") from None
            await _graph_status(cluster, namespace, release, "TearingDown", "TearingDown",
                                "deleting the release's objects in reverse order", emit)
        if lease is not None:
            held = await take_lease(cluster, namespace, release, lease, emit, AsyncioClock(loop), stop)
        # read once we act alone: what a controller applied until it gave the Lease up is recorded
        defs = await loop.run_in_executor(cluster.pool, _list, cluster, "Definition", namespace, release)
        graphs = await loop.run_in_executor(cluster.pool, _list, cluster, "ReleaseGraph", namespace, release)
        graph_object = next((g for g in graphs if g["metadata"]["name"] == release), None)
        # the Definitions left: their objects' kinds, timeouts, and whose status to write
        by_object: dict[ObjectKey, tuple[str, int, dict[str, Any]]] = {}
        timeouts: dict[ObjectKey, float] = {}
        found: list[dict[str, str]] = []
        for d in defs:
            try:
                name, body = _wrapped(d)
            except ReleaseError as e:
                emit(removal._line(release=release, msg=f"skipped: {e}"))
                continue
            okey = _object_key(body, namespace)
            by_object[okey] = (name, int(d["metadata"].get("generation") or 0), d.get("status") or {})
            found.append(removal.kind_entry(str(body.get("apiVersion") or "v1"), okey.kind, okey.namespace))
            t = (d.get("meta") or {}).get("timeout")
            if isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0:
                timeouts[okey] = float(t)
        kinds_ = removal.union(removal.applied_kinds(graph_object), found)
        emit(removal._line(release=release, msg="teardown", definitions=len(defs), kinds=len(kinds_),
                           releaseGraph=graph_object is not None))
        writer = StatusWriter(cluster, namespace)

        def on_state(key: str, okey: ObjectKey, state: str, message: str) -> None:
            if okey in by_object:
                name, generation, previous = by_object[okey]
                st = teardown_status(state, message, generation=generation, now=time.time(),
                                     previous=writer.last(name) or previous)
                writer.write(name, st)

        renewing = asyncio.ensure_future(_renew(held, loop)) if held is not None else None
        try:
            result = await while_held(removal.teardown(cluster, namespace, release, kinds_, emit, concurrency=concurrency,
                                                       timeouts=timeouts, on_state=on_state), renewing)
            await while_held(loop.run_in_executor(None, writer.close, False), renewing)
        finally:
            if renewing is not None and not renewing.done():
                renewing.cancel()
            await loop.run_in_executor(None, writer.close, True)  # (what is left once the Lease is lost or we stop)
        if graph_object is not None:
            text = (f"{len(result.deleted)} objects deleted" if result.ok else
                    f"{len(result.deleted)} objects deleted; not deleted: "
                    f"{', '.join(sorted([*result.failed, *result.blocked]))}")
            await _graph_status(cluster, namespace, release, "TearingDown",
                                "TornDown" if result.ok else "TeardownFailed", text, emit)
        emit(removal._line(release=release, msg="teardown finished", ok=result.ok, deleted=result.deleted,
                           failed=result.failed, blocked=result.blocked))
        return result
    except LeaseLost:
        held = None
        raise
    finally:
        stop.set()
        cluster.close()
        if held is not None:
            await loop.run_in_executor(None, held.give_up)


async def _graph_status(cluster: KubeCluster, namespace: str, release: str, phase: str, reason: str,
                        message: str, emit: Callable[[str], None]) -> None:
    """Merge-patch the ReleaseGraph's status (only these keys); a refusal is logged, not fatal:
    the teardown matters more than its summary."""
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(cluster.pool, lambda: removal._merge_patch(
            cluster, "ReleaseGraph", namespace, release,
            {"status": {"phase": phase, "reason": reason, "message": message}}, subresource=True))
    except ApiError as e:
        emit(removal._line(release=release, msg=f"ReleaseGraph status not written: {e.code}: {e.message}"))
