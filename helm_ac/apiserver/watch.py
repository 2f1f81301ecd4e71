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
#: The request key set once a stream's 200 has been sent (the audit log's code for a watch the client closes).
STARTED = web.RequestKey("helm_ac.watch_started", bool)


def _headers() -> dict[str, str]:
    return {"Content-Type": "application/json", "Cache-Control": "no-cache, private"}


async def stream(request: web.Request, open_watch: Callable[[Sink], Watch], *, timeout: float,
                 bookmarks: bool, bookmark_interval: float, drop_after: float | None = None) -> web.StreamResponse:
    """Serve one watch: ``open_watch(sink)`` starts the store's watch (initial events arrive in
    the call); events are written as they come. ``drop_after`` (a fault) cuts the connection."""
    pending: list[bytes] = []
    wake = asyncio.Event()

    def sink(event: dict[str, Any]) -> None:
        pending.append(orjson.dumps(event) + b"\n")
        wake.set()

    resp = web.StreamResponse(status=200, headers=_headers())
    resp.enable_chunked_encoding()
    try:
        watch = open_watch(sink)
    except StatusError as exc:
        if exc.code != 410:
            raise
        await resp.prepare(request)
        with contextlib.suppress(ConnectionError):
            await resp.write(orjson.dumps({"type": "ERROR", "object": exc.status()}) + b"\n")
            await resp.write_eof()
        return resp
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + timeout
    drop_at = start + drop_after if drop_after is not None else None
    next_bookmark = start + bookmark_interval
    try:
        await resp.prepare(request)
        request[STARTED] = True
        while True:
            if pending:
                data = b"".join(pending)
                pending.clear()
                await resp.write(data)
            now = loop.time()
            if drop_at is not None and now >= drop_at:
                if request.transport is not None:
                    request.transport.abort()  # a dropped stream, not a clean end
                return resp
            if now >= deadline:
                break
            if request.transport is None or request.transport.is_closing():
                return resp  # the client went away
            wait = deadline - now
            if bookmarks:
                wait = min(wait, max(next_bookmark - now, 0.0))
            if drop_at is not None:
                wait = min(wait, max(drop_at - now, 0.0))
            wake.clear()
            if not pending:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wake.wait(), wait)
            if bookmarks and loop.time() >= next_bookmark:
                watch.bookmark()
                next_bookmark = loop.time() + bookmark_interval
    except ConnectionError:
        return resp  # the client went away mid-write
    finally:
        watch.stop()
    with contextlib.suppress(ConnectionError):
        await resp.write_eof()
    return resp
