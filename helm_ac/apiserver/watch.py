"""Watch streams: the store's events as newline-delimited JSON over one chunked response.

As kube-apiserver answers ``?watch=true``: ``200`` with ``Content-Type: application/json`` (client-go
refuses a stream without it), one ``{"type": ..., "object": ...}`` per line, until
``timeoutSeconds`` ends it or the client goes away (then the store's watch is stopped). A
resourceVersion too old for the store's history is not an HTTP error: the stream opens with ``200``
and carries one ``ERROR`` event whose object is the ``410`` Status, so clients relist. Bookmarks
(``allowWatchBookmarks``) are asked of the store every ``bookmark_interval`` seconds.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Callable, Protocol

import orjson
from aiohttp import web

from helm_ac.kubesim.errors import StatusError

class Watch(Protocol):
    """What a stream needs of the store's watch."""

    def stop(self) -> None: ...

    def bookmark(self) -> None: ...


Sink = Callable[[dict[str, Any]], None]
#: Events waiting for a slow client, at most; more end its stream (kube-apiserver's watch cache also
#: closes a watcher whose buffer is full) rather than grow without bound.
MAX_PENDING = 100_000
#: The request key set once a stream's 200 has been sent (the audit log's code for a watch the client closes).
STARTED = web.RequestKey("helm_ac.watch_started", bool)


#: The last event encoded, with its bytes: the store hands the same event dict to every watcher
#: without a selector, one after the other, so each event is encoded once, not once per watcher.
_last: tuple[Any, bytes] = (None, b"")


def encode(event: dict[str, Any]) -> bytes:
    """One line of a watch stream (events are never mutated: the store is copy-on-write)."""
    global _last
    last = _last
    if last[0] is event:
        return last[1]
    data = orjson.dumps(event) + b"\n"
    _last = (event, data)  # one assignment: safe with servers on other threads
    return data


async def stream(request: web.Request, open_watch: Callable[[Sink], Watch], *, timeout: float,
                 bookmarks: bool, bookmark_interval: float, drop_after: float | None = None,
                 frame: Callable[[dict[str, Any]], bytes] = encode,
                 content_type: str = "application/json") -> web.StreamResponse:
    """Serve one watch: ``open_watch(sink)`` starts the store's watch (initial events arrive in
    the call); events are written as they come, each as ``frame`` makes it (a JSON line, or a
    protobuf frame for a client that takes no JSON). ``drop_after`` (a fault) cuts the connection."""
    pending: list[bytes] = []
    wake = asyncio.Event()
    overflow = False

    def sink(event: dict[str, Any]) -> None:
        nonlocal overflow
        if len(pending) >= MAX_PENDING:  # a client that does not keep up: its watch ends, it re-watches
            overflow = True
        else:
            pending.append(frame(event))
        wake.set()

    resp = web.StreamResponse(status=200, headers={"Content-Type": content_type, "Cache-Control": "no-cache, private"})
    # no length: aiohttp frames the body chunked on HTTP/1.1 (HTTP/2 frames it itself, and aiohttp
    # refuses an explicit chunked encoding there)
    try:
        watch = open_watch(sink)
    except StatusError as exc:
        if exc.code != 410:
            raise
        await resp.prepare(request)
        with contextlib.suppress(ConnectionError):
            await resp.write(frame({"type": "ERROR", "object": exc.status()}))
            await resp.write_eof()
        return resp
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + timeout
    drop_at = start + drop_after if drop_after is not None else None
    next_bookmark = start + bookmark_interval
    # one timer for the next deadline (end, bookmark, drop), moved only when that time changes:
    # waking per event costs no task or timer
    timer: asyncio.TimerHandle | None = None
    timer_at = -1.0

    def fire() -> None:  # asyncio may run a timer a clock tick early: then a new one is set
        nonlocal timer_at
        timer_at = -1.0
        wake.set()

    try:
        await resp.prepare(request)
        request[STARTED] = True
        while True:
            if pending:
                data = b"".join(pending)
                pending.clear()
                await resp.write(data)
            if overflow:
                break  # as kube-apiserver closes an unresponsive watcher: the stream ends, cleanly
            now = loop.time()
            if drop_at is not None and now >= drop_at:
                if request.transport is not None:
                    request.transport.abort()  # a dropped stream, not a clean end
                return resp
            if now >= deadline:
                break
            if request.transport is None or request.transport.is_closing():
                return resp  # the client went away
            if bookmarks and now >= next_bookmark:
                watch.bookmark()
                next_bookmark = now + bookmark_interval
                continue
            at = min(deadline, next_bookmark if bookmarks else deadline, drop_at if drop_at is not None else deadline)
            if at != timer_at:
                if timer is not None:
                    timer.cancel()
                timer, timer_at = loop.call_at(at, fire), at
            wake.clear()
            if not pending:
                await wake.wait()
    except ConnectionError:
        return resp  # the client went away mid-write
    finally:
        if timer is not None:
            timer.cancel()
        watch.stop()
    with contextlib.suppress(ConnectionError):
        await resp.write_eof()
    return resp
