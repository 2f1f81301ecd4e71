"""``--health-port``: the controller's probes (``docs/controller.md``, *Health, logs*).

* ``/healthz``: 200 while the event loop ticks (its heartbeat, :func:`.watch._beat`, is younger
  than :data:`STALE` seconds), else 503. The engine runs on that loop and drains its inbox in one
  go each time it is handed an input, so an engine wedged in its inbox stops the heartbeat too.
* ``/readyz``: 200 once the release's Lease is held and its graph read (the three lists in), else 503.

The server runs in a thread of its own (the standard library's threading HTTP server), not on the
loop it watches: a loop that stopped answering still gets a 503 (and not a probe timeout only).
"""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from helm_ac.controller.watch import Health

#: seconds without a heartbeat after which the controller is not healthy
STALE = 10.0


class HealthServer:
    """Serves ``health`` on ``address:port`` (port 0: any free one, :attr:`port` says which)."""

    def __init__(self, health: Health, address: str = "0.0.0.0", port: int = 0, stale: float = STALE) -> None:
        self.health, self.stale = health, stale
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the standard library's name
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    age = time.monotonic() - outer.health.heartbeat
                    ok, text = age < outer.stale, f"event loop last answered {age:.1f} s ago"
                elif path == "/readyz":
                    ok = outer.health.ready
                    text = "ready" if ok else ("waiting for the release's graph" if outer.health.lease_held
                                               else "waiting for the release's Lease")
                else:
                    self.send_error(404)
                    return
                body = (("ok: " if ok else "not ok: ") + text + "\n").encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - probes are not logged
                pass

        self._server = ThreadingHTTPServer((address, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="helm-ac-health", daemon=True)

    def start(self) -> "HealthServer":
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
