"""HTTP/2 over TLS (ALPN ``h2``), as client-go speaks it to kube-apiserver: many requests on one
connection, watches as streams, a stream reset stopping its watch alone. A small HTTP/2 client
(the ``h2`` state machine over an ssl socket) plays client-go here; Helm and kubectl over HTTP/2 are
in the real-client tests."""
from __future__ import annotations

import base64
import json
import socket
import ssl
from typing import Any, Iterator

import h2.connection
import h2.events
import pytest
import urllib3
import yaml

from helm_ac.apiserver.server import Options, running

from .fakestore import FakeStore

CM = "/api/v1/namespaces/default/configmaps"


class H2Client:
    """One HTTP/2 connection; ``request`` opens a stream, ``read`` collects what streams received."""

    def __init__(self, url: str, ca: bytes, token: str) -> None:
        host, port = url.removeprefix("https://").rsplit(":", 1)
        ctx = ssl.create_default_context(cadata=ca.decode())
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        self.sock = ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=10), server_hostname=host)
        self.alpn = self.sock.selected_alpn_protocol()
        self.token = token
        self.conn = h2.connection.H2Connection()
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())
        self.status: dict[int, int] = {}
        self.headers: dict[int, dict[str, str]] = {}
        self.body: dict[int, bytes] = {}
        self.ended: set[int] = set()
        self.reset: set[int] = set()
        self.max_streams: int | None = None

    def request(self, method: str, path: str, body: Any = None, ctype: str = "application/json") -> int:
        sid = self.conn.get_next_available_stream_id()
        data = json.dumps(body).encode() if body is not None else b""
        headers = [(":method", method), (":path", path), (":scheme", "https"), (":authority", "localhost"),
                   ("authorization", f"Bearer {self.token}"), ("accept", "application/json"),
                   ("user-agent", "h2-tester/1.0")]
        if data:
            headers.append(("content-type", ctype))
        self.conn.send_headers(sid, headers, end_stream=not data)
        if data:
            self.conn.send_data(sid, data, end_stream=True)
        self.sock.sendall(self.conn.data_to_send())
        self.body[sid] = b""
        return sid

    def cancel(self, sid: int) -> None:
        self.conn.reset_stream(sid)
        self.sock.sendall(self.conn.data_to_send())

    def read(self, until: Any) -> None:
        """Receive until ``until()`` is true."""
        while not until():
            data = self.sock.recv(65536)
            assert data, "the server closed the connection"
            for ev in self.conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    hs = {k.decode(): v.decode() for k, v in ev.headers}
                    self.status[ev.stream_id] = int(hs[":status"])
                    self.headers[ev.stream_id] = hs
                elif isinstance(ev, h2.events.DataReceived):
                    self.body[ev.stream_id] += ev.data
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    self.ended.add(ev.stream_id)
                elif isinstance(ev, h2.events.StreamReset):
                    self.reset.add(ev.stream_id)
                elif isinstance(ev, h2.events.RemoteSettingsChanged):
                    self.max_streams = self.conn.remote_settings.max_concurrent_streams
            out = self.conn.data_to_send()
            if out:
                self.sock.sendall(out)

    def json(self, sid: int) -> Any:
        self.read(lambda: sid in self.ended)
        return json.loads(self.body[sid])

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Any, bytes, FakeStore]]:
    stores: list[FakeStore] = []

    def factory(registry: Any, clock: Any) -> FakeStore:
        stores.append(FakeStore(registry, clock))
        return stores[-1]

    with running(Options(bookmark_interval=0.05), store_factory=factory) as r:
        conf = yaml.safe_load(r.kubeconfig.read_text())
        ca = base64.b64decode(conf["clusters"][0]["cluster"]["certificate-authority-data"])
        yield r, ca, stores[0]


@pytest.fixture
def client(server) -> Iterator[H2Client]:
    r, ca, _ = server
    c = H2Client(r.url, ca, r.token)
    yield c
    c.close()


def cm(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": name}}


def test_tls_offers_h2_and_advertises_stream_limit(client):
    assert client.alpn == "h2"
    sid = client.request("GET", "/version")
    assert client.json(sid)["major"]
    assert client.status[sid] == 200 and client.headers[sid]["content-type"] == "application/json"
    assert "transfer-encoding" not in client.headers[sid] and "connection" not in client.headers[sid]
    assert client.max_streams == 100_000  # Helm's bursts fit in one connection


def test_many_requests_on_one_connection(client):
    sids = [client.request("POST", CM, cm(f"h2-{i}")) for i in range(20)]  # all sent before any answer
    for i, sid in enumerate(sids):
        assert client.json(sid)["metadata"]["name"] == f"h2-{i}"
        assert client.status[sid] == 201
    got = client.request("GET", f"{CM}/h2-7")
    assert client.json(got)["data"] == {"k": "h2-7"}
    missing = client.request("GET", f"{CM}/nope")
    assert client.json(missing)["reason"] == "NotFound" and client.status[missing] == 404


def test_a_watch_is_a_stream_and_a_reset_stops_it_alone(server, client):
    _, _, store = server
    before = len(store.watches)
    watch = client.request("GET", f"{CM}?watch=true&resourceVersion={store.rv}")
    client.read(lambda: watch in client.status)
    assert client.status[watch] == 200
    create = client.request("POST", CM, cm("seen"))
    client.read(lambda: create in client.ended and b"seen" in client.body[watch])
    event = json.loads(client.body[watch].splitlines()[0])
    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "seen")
    assert len(store.watches) == before + 1
    client.cancel(watch)
    after = client.request("GET", "/healthz")  # the connection goes on serving
    client.read(lambda: after in client.ended)
    assert client.body[after] == b"ok"
    for _ in range(100):
        if len(store.watches) == before:
            break
        again = client.request("GET", "/healthz")
        client.read(lambda: again in client.ended)
    assert len(store.watches) == before  # the reset ended the store's watch


def test_http1_clients_still_served(server):
    r, ca, _ = server
    http = urllib3.PoolManager(retries=False, cert_reqs="CERT_REQUIRED", ca_cert_data=ca.decode())
    resp = http.request("GET", r.url + "/healthz")
    assert resp.status == 200 and resp.data == b"ok" and resp.version == 11


def test_http2_can_be_turned_off():
    with running(Options(http2=False), store_factory=FakeStore) as r:
        conf = yaml.safe_load(r.kubeconfig.read_text())
        ca = base64.b64decode(conf["clusters"][0]["cluster"]["certificate-authority-data"])
        ctx = ssl.create_default_context(cadata=ca.decode())
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        host, port = r.url.removeprefix("https://").rsplit(":", 1)
        with ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=10), server_hostname=host) as s:
            assert s.selected_alpn_protocol() is None



@pytest.mark.helm
def test_helm_installs_many_objects_over_few_http2_connections(helm, tmp_path, monkeypatch):
    """Helm applies a kind's objects concurrently: over HTTP/1.1 client-go opened one TLS
    connection per request in flight (300 with Helm 3, 256 with Helm 4 here); over HTTP/2 they share one."""
    from helm_ac.apiserver import http2

    seen: list[str | None] = []
    made = http2._Alpn.connection_made

    def record(self: Any, transport: Any) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        seen.append(ssl_object.selected_alpn_protocol() if ssl_object is not None else None)
        made(self, transport)

    monkeypatch.setattr(http2._Alpn, "connection_made", record)
    chart = tmp_path / "many"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: many\nversion: 0.1.0\n")
    (chart / "templates" / "cms.yaml").write_text(
        "{{- range $i := until 300 }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: many-{{ $i }}\n"
        "data:\n  index: \"{{ $i }}\"\n{{- end }}\n")
    with running(Options()) as r:
        p = helm.run("install", "many", str(chart), "-n", "many", "--create-namespace",
                     env=dict(helm.env, KUBECONFIG=str(r.kubeconfig)), check=False)
        assert p.returncode == 0, p.stderr
    assert seen and all(alpn == "h2" for alpn in seen)
    assert len(seen) <= 3, seen
