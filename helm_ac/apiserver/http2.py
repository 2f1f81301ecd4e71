"""HTTP/2 over TLS, as kube-apiserver serves it: the same aiohttp application, one stream per request.

client-go (Helm, kubectl) offers ALPN ``h2`` and multiplexes its requests over one connection, so
many at once as the server allows (``MAX_CONCURRENT_STREAMS``).
Served HTTP/1.1 only, it opens one TLS connection per request in flight instead: Helm 4 applies a
kind's objects concurrently, thousands of connections at once, each holding asyncio's 256 KiB TLS
read buffer. Here a TLS connection that negotiated ``h2`` is served by the ``h2`` library
(python-hyper's state machine: framing, HPACK, flow control, settings); every other connection goes
to aiohttp's own HTTP/1.1 handler. Each HTTP/2 stream becomes an aiohttp request handed to the
application's handler, so handlers do not know which protocol carried them.

A request's ``transport`` is its stream: ``abort()`` resets the stream (a dropped connection for
that request alone, as the fault model means it), ``is_closing()`` tells whether the client reset
it or the connection went. A stream the client resets cancels its handler (a watch it closed).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.http_writer import HttpVersion
from aiohttp.streams import StreamReader
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

log = logging.getLogger("helm_ac.apiserver")

#: Concurrent streams per connection. kube-apiserver allows 1000 (k8s.io/apiserver's recommended
#: HTTP2MaxStreamsPerConnection); client-go dials a new TLS connection for each request beyond that
#: (one per request of a burst, until a new connection is up). This server answers one request at a
#: time, far slower than kube-apiserver, so Helm's bursts stay in flight (3,000 of 3,000 objects):
#: with 1000, Helm 4 opened 600 connections for 3,000 objects, with this limit one.
MAX_CONCURRENT_STREAMS = 100_000
#: Request bodies larger than this are refused (the application's client_max_size is 64 MiB).
MAX_BODY = 64 * 1024 * 1024 + 1
#: Headers that are HTTP/1.1 connection framing, forbidden in HTTP/2 (RFC 9113 8.2.2).
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"})
_HTTP2 = HttpVersion(2, 0)


class _Stream:
    """One request's stream: what aiohttp's request asks of its protocol and of its transport."""

    max_field_size = 8190
    max_headers = 128
    connected = True
    _reading_paused = False

    def __init__(self, conn: "H2Protocol", stream_id: int) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.body = bytearray()
        self.headers: list[tuple[bytes, bytes]] = []
        self.task: asyncio.Task[None] | None = None
        self.closed = False
        self.window = asyncio.Event()  # set when the peer's flow-control window may have grown
        transport = conn.transport
        self.ssl_context = transport.get_extra_info("sslcontext") if transport else None
        self.peername = transport.get_extra_info("peername") if transport else None
        self.sockname = transport.get_extra_info("sockname") if transport else None

    # the request's "protocol" (aiohttp.web.BaseRequest reads these)
    @property
    def transport(self) -> "_Stream":
        return self

    # the payload's protocol (the body is complete before the handler runs: no back-pressure)
    def pause_reading(self) -> None:
        pass

    def resume_reading(self, resume_parser: bool = True) -> None:
        pass

    # the request's "transport"
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        transport = self.conn.transport
        return default if transport is None else transport.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self.closed or self.conn.transport is None or self.conn.transport.is_closing()

    def abort(self) -> None:
        """A dropped connection, for this request: the stream is reset."""
        self.conn.reset(self.stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)

    def close(self) -> None:
        self.abort()


class _Writer(AbstractStreamWriter):
    """aiohttp's response writer onto one stream: headers as a HEADERS frame, the body as DATA
    frames within the peer's flow-control windows (HTTP/2 frames bodies: no chunked encoding)."""

    def __init__(self, stream: _Stream, head: bool) -> None:
        self.stream = stream
        self.head = head
        self.ended = False

    async def write_headers(self, status_line: str, headers: "CIMultiDict[str]") -> None:
        status = status_line.split(" ", 2)[1]
        out = [(":status", status)]
        out += [(k.lower(), v) for k, v in headers.items() if k.lower() not in _HOP_BY_HOP]
        self.stream.conn.send_headers(self.stream, out)

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        if chunk and not self.head:
            self.buffer_size += len(chunk)
            self.output_size += len(chunk)
            await self.stream.conn.send_data(self.stream, bytes(chunk), end=False)

    async def write_eof(self, chunk: bytes = b"") -> None:
        if self.ended:
            return
        await self.write(chunk)
        self.ended = True
        await self.stream.conn.send_data(self.stream, b"", end=True)

    async def drain(self) -> None:
        await self.stream.conn.drain()

    def enable_compression(self, encoding: str = "deflate", strategy: int | None = None) -> None:
        raise NotImplementedError("the API server does not compress responses")

    def enable_chunking(self) -> None:
        pass  # HTTP/2 has its own framing


class H2Protocol(asyncio.Protocol):
    """One HTTP/2 connection; each stream's request runs the aiohttp server's handler."""

    def __init__(self, server: web.Server, connections: set["H2Protocol"]) -> None:
        self.server = server
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
        self.streams: dict[int, _Stream] = {}
        self._writable = asyncio.Event()
        self._writable.set()

    # --- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.connections.add(self)
        self.h2.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_CONCURRENT_STREAMS,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 1024 * 1024})
        self.h2.initiate_connection()
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self._flush()  # h2 has queued the GOAWAY
            if self.transport is not None:
                self.transport.close()
            return
        for ev in events:
            self._event(ev)
        self._flush()

    def eof_received(self) -> bool | None:
        return None  # the transport closes

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.connections.discard(self)
        self._writable.set()
        for stream in list(self.streams.values()):
            stream.closed = True
            stream.window.set()
            if stream.task is not None:
                stream.task.cancel()
        self.streams.clear()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # --- frames in ------------------------------------------------------------------------------
    def _event(self, ev: h2.events.Event) -> None:
        if isinstance(ev, h2.events.RequestReceived):
            assert ev.stream_id is not None
            stream = _Stream(self, ev.stream_id)
            stream.headers = [(bytes(k), bytes(v)) for k, v in ev.headers or ()]
            self.streams[ev.stream_id] = stream
            if ev.stream_ended is not None:
                self._start(stream)
        elif isinstance(ev, h2.events.DataReceived):
            assert ev.stream_id is not None
            stream_or_none = self.streams.get(ev.stream_id)
            if ev.flow_controlled_length:
                self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            if stream_or_none is None or stream_or_none.task is not None:
                return
            stream_or_none.body += ev.data or b""
            if len(stream_or_none.body) > MAX_BODY:
                self.reset(ev.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
            elif ev.stream_ended is not None:
                self._start(stream_or_none)
        elif isinstance(ev, h2.events.StreamEnded):
            assert ev.stream_id is not None
            found = self.streams.get(ev.stream_id)
            if found is not None and found.task is None:
                self._start(found)
        elif isinstance(ev, h2.events.StreamReset):
            assert ev.stream_id is not None
            self._gone(ev.stream_id)
        elif isinstance(ev, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            for stream in self.streams.values():
                stream.window.set()
        elif isinstance(ev, h2.events.ConnectionTerminated):
            if self.transport is not None:
                self.transport.close()

    def _start(self, stream: _Stream) -> None:
        if stream.task is None:
            stream.task = asyncio.get_running_loop().create_task(self._serve(stream))

    def _gone(self, stream_id: int) -> None:
        stream = self.streams.pop(stream_id, None)
        if stream is not None:
            stream.closed = True
            stream.window.set()
            if stream.task is not None and stream.task is not asyncio.current_task():
                stream.task.cancel()

    # --- a request ------------------------------------------------------------------------------
    def _message(self, stream: _Stream) -> RawRequestMessage:
        pseudo: dict[bytes, str] = {}
        headers: CIMultiDict[str] = CIMultiDict()
        for k, v in stream.headers:
            if k.startswith(b":"):
                pseudo[k] = v.decode("latin-1")
            else:
                headers.add(k.decode("latin-1"), v.decode("utf-8", "surrogateescape"))
        if b":authority" in pseudo and "Host" not in headers:
            headers["Host"] = pseudo[b":authority"]
        method, target = pseudo.get(b":method", "GET"), pseudo.get(b":path", "/")
        path, _, fragment = target.partition("#")
        path, _, query = path.partition("?")
        url = URL.build(path=path, query_string=query, fragment=fragment, encoded=True)
        return RawRequestMessage(method, target, _HTTP2, CIMultiDictProxy(headers), tuple(stream.headers), False,
                                 None, False, False, url)

    async def _serve(self, stream: _Stream) -> None:
        message = self._message(stream)
        payload = StreamReader(stream, 2 ** 16, loop=asyncio.get_running_loop())  # type: ignore[arg-type]
        if stream.body:
            payload.feed_data(bytes(stream.body))
        stream.body = bytearray()
        payload.feed_eof()
        writer = _Writer(stream, head=message.method == "HEAD")
        task = asyncio.current_task()
        assert task is not None
        request = self.server.request_factory(message, payload, stream, writer, task)  # type: ignore[arg-type]
        try:
            try:
                resp = await self.server.request_handler(request)
            except web.HTTPException as exc:
                resp = exc
            except (asyncio.CancelledError, ConnectionError):
                raise
            except Exception:  # noqa: BLE001 - as aiohttp's HTTP/1.1 handler: 500, the server goes on
                log.exception("%s %s failed", message.method, message.path)
                resp = web.Response(status=500, text="500 Internal Server Error")
            await resp.prepare(request)
            await resp.write_eof()
        except (asyncio.CancelledError, ConnectionError):
            if not stream.closed:
                self.reset(stream.stream_id, h2.errors.ErrorCodes.CANCEL)
        finally:
            self.streams.pop(stream.stream_id, None)

    # --- frames out -----------------------------------------------------------------------------
    def _flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def send_headers(self, stream: _Stream, headers: list[tuple[str, str]]) -> None:
        if stream.closed:
            raise ConnectionResetError("the client reset the stream")
        self.h2.send_headers(stream.stream_id, headers)
        self._flush()

    async def send_data(self, stream: _Stream, data: bytes, *, end: bool) -> None:
        view = memoryview(data)
        while True:
            if stream.closed:
                raise ConnectionResetError("the client reset the stream")
            if not view:
                break
            try:
                room = min(self.h2.local_flow_control_window(stream.stream_id), self.h2.max_outbound_frame_size)
            except h2.exceptions.StreamClosedError:
                raise ConnectionResetError("the stream is closed") from None
            if room <= 0:
                stream.window.clear()
                await stream.window.wait()
                continue
            self.h2.send_data(stream.stream_id, view[:room].tobytes())
            view = view[room:]
            self._flush()
            await self.drain()
        if end:
            self.h2.end_stream(stream.stream_id)
            self._flush()

    async def drain(self) -> None:
        if self.transport is None:
            raise ConnectionResetError("the connection is closed")
        await self._writable.wait()

    def reset(self, stream_id: int, code: h2.errors.ErrorCodes) -> None:
        try:
            self.h2.reset_stream(stream_id, code)
        except h2.exceptions.ProtocolError:
            pass  # already closed
        self._flush()
        self._gone(stream_id)

    def close(self) -> None:
        """Stop: GOAWAY, then the connection closes (its streams' handlers are cancelled)."""
        if self.transport is None:
            return
        try:
            self.h2.close_connection()
            self._flush()
        except h2.exceptions.ProtocolError:
            pass
        self.transport.close()


class _Alpn(asyncio.Protocol):
    """A TLS connection's protocol, chosen once the handshake is done: HTTP/2 when the client and
    the server agreed on ``h2``, else aiohttp's HTTP/1.1 handler."""

    def __init__(self, server: web.Server, connections: set[H2Protocol]) -> None:
        self._server = server
        self._connections = connections
        self._impl: asyncio.Protocol | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        self._impl = H2Protocol(self._server, self._connections) if alpn == "h2" else self._server()
        self._impl.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        assert self._impl is not None
        self._impl.data_received(data)

    def eof_received(self) -> bool | None:
        return self._impl.eof_received() if self._impl is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._impl is not None:
            self._impl.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._impl is not None:
            self._impl.pause_writing()

    def resume_writing(self) -> None:
        if self._impl is not None:
            self._impl.resume_writing()


class TLSSite(web.TCPSite):
    """aiohttp's TCP site over TLS, offering ALPN ``h2`` then ``http/1.1``."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, ssl_context: Any) -> None:
        ssl_context.set_alpn_protocols(["h2", "http/1.1"])
        super().__init__(runner, host, port, ssl_context=ssl_context)
        self.h2_connections: set[H2Protocol] = set()

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Alpn(server, self.h2_connections), self._host,
                                                self._port, ssl=self._ssl_context, reuse_address=True)

    async def stop(self) -> None:
        for conn in list(self.h2_connections):
            conn.close()
        await super().stop()
