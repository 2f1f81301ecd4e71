"""Follow a release's rollout from the cluster (:func:`follow`): watch its Definitions,
Dependencies and ReleaseGraph, and hand the state changes to a sink as the engine's events, so
``helm ac status --watch`` (and ``helm ac install``) show a real rollout with the progress printers
of ``helm ac simulate``.

Three watches through :class:`KubeCluster` (list, then watch from the list's version; a dropped
stream resumes from the last version seen, a 410 lists again, another refusal is retried with
backoff), the objects of the release kept by name, and after every burst of events (50 ms) a new
:func:`view.snapshot` compared with the last one. It ends when every object of the complete graph
has reached a final state for its current generation, or at the deadline.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from helm_ac.controller import release as release_mod
from helm_ac.controller import view
from helm_ac.engine.cluster import Stream, Synced, WatchClosed, WatchEvent, WatchHandle, WatchMessage
from helm_ac.engine.events import Event, PlanEvent, SummaryEvent, Unfinished
from helm_ac.kube.cluster import KubeCluster
from helm_ac.output import appcontroller, crds

KINDS = ("Definition", "Dependency", "ReleaseGraph")
#: a burst of events is looked at once it has been quiet this long (seconds)
SETTLE = 0.05


class _Kind:
    """One kind's objects of the release, kept up to date by its watch."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.objects: dict[str, dict[str, Any]] = {}
        self.listing: dict[str, dict[str, Any]] | None = {}  # during a list: what it has sent so far
        self.synced = False
        self.version = ""
        self.tries = 0
        self.handle: WatchHandle | None = None


async def follow(cluster: KubeCluster, namespace: str, release: str, sink: Callable[[Event], None], *,
                 timeout: float | None = None,
                 until: Callable[[view.ReleaseView], bool] = lambda v: v.done,
                 wake: asyncio.Event | None = None,
                 skip: Callable[[view.ReleaseView], bool] = lambda v: False) -> view.ReleaseView:
    """Send ``sink`` a :class:`PlanEvent` once the release's objects are listed, then a
    :class:`StateEvent` per change and a :class:`SummaryEvent` once ``until`` holds for the view
    (by default: every object is final), or at ``timeout`` seconds; returns the last view. Event
    times are seconds since the start. Setting ``wake`` has the view looked at again (when what
    ``until`` depends on changed outside the cluster, e.g. Helm ended); a view for which ``skip``
    holds is passed over (neither shown nor kept: an upgrade's previous graph)."""
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    kinds = {k: _Kind(k) for k in KINDS}
    changed = wake if wake is not None else asyncio.Event()
    last: view.ReleaseView | None = None
    planned: tuple[str, ...] | None = None

    def mine(obj: dict[str, Any]) -> bool:
        return ((obj.get("metadata") or {}).get("labels") or {}).get(appcontroller.RELEASE_LABEL) == release

    closed = False
    selector = release_mod.selector(release)  # the server sends only the release's objects

    def open_(k: _Kind) -> None:
        if closed:  # (a reopening timer of a stream that ended as follow() returned)
            return
        if k.version == "":
            k.listing = {}
        k.handle = cluster.watch(Stream(crds.API_VERSION, k.kind, namespace), k.version, lambda m: on_message(k, m),
                                 label_selector=selector)

    def on_message(k: _Kind, msg: WatchMessage) -> None:
        if isinstance(msg, WatchEvent):
            if msg.resource_version:
                k.version = msg.resource_version
            if msg.type == "BOOKMARK":
                return
            name = str((msg.obj.get("metadata") or {}).get("name") or "")
            target = k.listing if k.listing is not None else k.objects
            if msg.type == "DELETED" or not mine(msg.obj):
                target.pop(name, None)
            else:
                target[name] = msg.obj
            if k.listing is None:
                changed.set()
        elif isinstance(msg, Synced):
            k.objects, k.listing = k.listing or {}, None
            k.version, k.synced, k.tries = msg.resource_version or k.version, True, 0
            changed.set()
        elif isinstance(msg, WatchClosed):
            err = msg.error
            if err is not None and err.code == 410:
                k.version = ""  # list again
            delay = 0.0
            if err is not None and err.code != 410:
                k.tries += 1
                delay = err.retry_after if err.retry_after is not None else min(0.2 * 2 ** (k.tries - 1), 5.0)
            loop.call_later(delay, open_, k)

    def now() -> float:
        return round(time.monotonic() - start, 3)

    for k in kinds.values():
        open_(k)
    try:
        while True:
            left = None if timeout is None else timeout - (time.monotonic() - start)
            if left is not None and left <= 0:
                break
            try:
                await asyncio.wait_for(changed.wait(), left)
            except asyncio.TimeoutError:
                break
            await asyncio.sleep(SETTLE)  # let the burst settle
            changed.clear()
            if not all(k.synced for k in kinds.values()):
                continue
            rg = kinds["ReleaseGraph"].objects.get(release)
            current = view.snapshot(release, namespace, list(kinds["Definition"].objects.values()),
                                    list(kinds["Dependency"].objects.values()), rg)
            if skip(current):
                continue
            keys = tuple(r.key for r in current.rows)
            if keys != planned and current.rows:
                planned = keys
                sink(PlanEvent(now(), keys, len(kinds["Dependency"].objects)))
                last = None  # every object's state again, for the new plan
            for e in view.changes(last, current, now()):
                sink(e)
            last = current
            if until(current):
                break
    finally:
        closed = True
        for k in kinds.values():
            if k.handle is not None:
                k.handle.stop()
    result = last if last is not None else view.ReleaseView(release, namespace, complete=False,
                                                            problem="no Definitions of the release seen yet")
    sink(SummaryEvent(now(), result.ok, result.counts(),
                      tuple(Unfinished(r.key, r.state, r.message) for r in result.rows if r.state not in view.DONE),
                      now()))
    return result
