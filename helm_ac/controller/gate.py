"""``--wait-rollout DIGEST``: the gate Job's side (``docs/hooks.md``). Helm waits for the gate Job
(``--wait --wait-for-jobs``) before it runs the post-install and post-upgrade hooks; the Job runs
the controller image with this flag and completes once the release's graph of that digest has
rolled out: exit 0 when every object is ready, 1 when the rollout failed (naming the failed objects
and what they block), or at the deadline. It only reads (list+watch of the release's Definitions,
Dependencies and ReleaseGraph, ``follow.py``), so the gate needs no write permission.
"""
from __future__ import annotations

import asyncio
from typing import Callable

from kubernetes import client

from helm_ac.controller import follow, view
from helm_ac.kube.cluster import KubeCluster


def reached(digest: str) -> Callable[[view.ReleaseView], bool]:
    """The view is final for the graph of ``digest`` (the ReleaseGraph names it, the cluster holds
    all of it, every object final for its current generation)."""
    return lambda v: v.digest == digest and v.done


async def wait_rollout(api: client.ApiClient, namespace: str, release: str, digest: str, *,
                       timeout: float | None = None, emit: Callable[[str], None] = lambda line: None) -> int:
    """Wait until the release's graph of ``digest`` has rolled out; 0 when every object is ready,
    1 when it failed or at ``timeout``. ``emit`` gets one line per object that failed."""
    cluster = KubeCluster(api, asyncio.get_running_loop())
    try:
        got = await follow.follow(cluster, namespace, release, lambda e: None, timeout=timeout, until=reached(digest))
    finally:
        cluster.close()
    if got.digest == digest and got.ok:
        emit(f"release {release}: graph {digest[:12]} rolled out, {len(got.rows)} objects ready")
        return 0
    if got.digest != digest:
        emit(f"release {release}: the ReleaseGraph names graph {str(got.digest)[:12]}, not {digest[:12]}"
             + (" (superseded by a newer upgrade?)" if got.digest else ""))
        return 1
    for line in got.failure_report():
        emit(line)
    if not got.failed:
        emit(f"release {release}: not rolled out in time ({got.phase}: {got.counts()})")
    return 1
