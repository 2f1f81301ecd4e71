"""The HTTP face alone (a stand-in store): routing, codes, Status bodies, auth, bodies, watch framing,
TLS and the kubeconfig. Kubernetes semantics through the real store: test_client.py."""
from __future__ import annotations

import base64
import json
import socket
import ssl
import tempfile
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml

from helm_ac.apiserver.server import Options, running

from .fakestore import FakeStore

CM = "/api/v1/namespaces/default/configmaps"


class Client:
    def __init__(self, url: str, token: str, ca: bytes | None = None) -> None:
        self.url, self.token = url, token
        kw: dict[str, Any] = {}
        if ca is not None:
            kw = {"cert_reqs": "CERT_REQUIRED", "ca_cert_data": ca.decode()}
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=10), **kw)

    def __call__(self, method: str, path: str, body: Any = None, *, ctype: str = "application/json",
                 token: str | None = "", headers: dict[str, str] | None = None, raw: bytes | None = None,
                 preload: bool = True) -> Any:
        h = {"Content-Type": ctype, "Accept": "application/json", "User-Agent": "tester/1.0"}
        tok = self.token if token == "" else token
        if tok:
            h["Authorization"] = f"Bearer {tok}"
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        return self.http.request(method, self.url + path, body=data, headers=h, preload_content=preload)


@pytest.fixture(scope="module")
def server():
    stores: list[FakeStore] = []

    def factory(registry: Any, clock: Any) -> FakeStore:
        stores.append(FakeStore(registry, clock))
        return stores[-1]

    with running(Options(tls=False, bookmark_interval=0.05), store_factory=factory) as r:
        yield r, Client(r.url, r.token), stores[0]


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def status_of(resp: Any) -> dict[str, Any]:
    assert resp.headers["Content-Type"] == "application/json"
    body = json.loads(resp.data)
    assert body["kind"] == "Status" and body["code"] == resp.status
    return body  # type: ignore[no-any-return]


def test_health_and_unknown_paths(server):
    _, c, _ = server
    assert c("GET", "/healthz", token=None).data == b"ok"
    for path in ("/nothing", "/api/v1/widgets", "/apis/apps/v1/namespaces/default/nodes",
                 "/api/v1/namespaces/default/configmaps/x/status", "/api/v2/pods"):
        r = c("GET", path)
        assert r.status == 404, path
        assert status_of(r)["reason"] == "NotFound"


def test_subresources_not_served_are_404(server):
    _, c, _ = server
    assert c("POST", "/api/v1/namespaces/default/pods", {"metadata": {"name": "sub"}}).status == 201
    assert c("GET", "/api/v1/namespaces/default/pods/sub/status").status == 200
    r = c("GET", "/api/v1/namespaces/default/pods/sub/log")  # simulated containers print nothing
    assert r.status == 200 and r.data == b"" and r.headers["Content-Type"] == "text/plain"
    assert c("GET", "/api/v1/namespaces/default/pods/nosuchpod/log").status == 404
    for path in ("/api/v1/namespaces/default/pods/sub/exec", "/api/v1/namespaces/default/pods/sub/eviction"):
        r = c("GET", path)  # not the Pod itself: nothing is served there
        assert r.status == 404, path
        assert status_of(r)["reason"] == "NotFound"


def test_create_201_and_errors_as_status(server):
    _, c, _ = server
    r = c("POST", CM, cm("a", k="v"))
    assert r.status == 201
    assert json.loads(r.data)["metadata"]["namespace"] == "default"
    r = c("POST", CM, cm("a"))
    assert r.status == 409 and status_of(r)["reason"] == "AlreadyExists"
    r = c("GET", CM + "/missing")
    assert r.status == 404 and status_of(r)["message"] == 'configmaps "missing" not found'
    r = c("POST", CM, cm("slow"))
    assert r.status == 429 and r.headers["Retry-After"] == "2" and status_of(r)["reason"] == "TooManyRequests"


def test_unexpected_exception_is_500_and_server_keeps_serving(server):
    _, c, _ = server
    r = c("GET", CM + "/boom")
    assert r.status == 500 and status_of(r)["reason"] == "InternalError"
    assert c("GET", "/healthz").status == 200


def test_method_not_allowed(server):
    _, c, _ = server
    for method, path in (("POST", CM + "/a"), ("PUT", CM), ("PATCH", CM), ("POST", "/api/v1/configmaps"),
                         ("DELETE", "/api/v1/namespaces"), ("POST", "/healthz")):
        r = c(method, path, {})
        assert r.status == 405, (method, path)
        assert status_of(r)["reason"] == "MethodNotAllowed"


def test_authentication(server):
    """Over plain HTTP without RBAC (the fixture), a request without a token is the insecure port's
    system:unsecured; a wrong token is still refused."""
    _, c, _ = server
    r = c("GET", CM, token="wrong")
    assert r.status == 401 and status_of(r)["reason"] == "Unauthorized"
    assert c("GET", CM, token=None).status == 200
    assert c("GET", "/healthz", token=None).status == 200


def test_anonymous_over_tls_gets_only_the_public_paths():
    with tempfile.TemporaryDirectory() as tmp:
        with running(Options(), kubeconfig=Path(tmp) / "kc", store_factory=FakeStore) as r:
            ca = base64.b64decode(yaml.safe_load(r.kubeconfig.read_text())["clusters"][0]["cluster"]
                                  ["certificate-authority-data"])
            c = Client(r.url, r.token, ca)
            res = c("GET", CM, token=None)
            assert res.status == 403
            assert status_of(res)["message"] == (
                'configmaps is forbidden: User "system:anonymous" cannot list resource '
                '"configmaps" in API group "" in the namespace "default"')
            assert c("GET", "/healthz", token=None).status == 200


def test_body_formats_and_accept(server):
    _, c, store = server
    r = c("POST", CM, raw=yaml.safe_dump(cm("fromyaml")).encode(), ctype="application/yaml")
    assert r.status == 201
    r = c("POST", CM, raw=b"{not json", ctype="application/json")
    assert r.status == 400 and status_of(r)["reason"] == "BadRequest"
    r = c("POST", CM, raw=b"x", ctype="text/plain")
    assert r.status == 415 and status_of(r)["reason"] == "UnsupportedMediaType"
    r = c("GET", CM + "/fromyaml", headers={"Accept": "application/yaml"})
    assert r.status == 200 and yaml.safe_load(r.data)["metadata"]["name"] == "fromyaml"
    r = c("GET", CM + "/fromyaml", headers={"Accept": "text/html"})
    assert r.status == 406 and status_of(r)["reason"] == "NotAcceptable"
    # what client-go sends when it prefers protobuf: JSON is acceptable, so JSON it is
    r = c("GET", CM + "/fromyaml", headers={"Accept": "application/vnd.kubernetes.protobuf, application/json"})
    assert r.status == 200 and r.headers["Content-Type"] == "application/json"


def test_patch_types_and_apply(server):
    _, c, store = server
    c("POST", CM, cm("p", a="1"))
    r = c("PATCH", CM + "/p", {"data": {"b": "2"}}, ctype="application/merge-patch+json")
    assert r.status == 200 and json.loads(r.data)["data"] == {"a": "1", "b": "2"}
    assert store.calls[-2][1]["patch_type"] == "merge"
    assert store.calls[-2][1]["field_manager"] == "tester"  # from the User-Agent, as real
    r = c("PATCH", CM + "/p", {}, ctype="application/apply-patch+cbor")
    assert r.status == 415
    r = c("PATCH", CM + "/p", {}, ctype="application/apply-patch+yaml")
    assert r.status == 422 and status_of(r)["details"]["causes"][0]["field"] == "fieldManager"
    r = c("PATCH", CM + "/p?force=true", {}, ctype="application/merge-patch+json")
    assert r.status == 422
    r = c("PATCH", CM + "/applied?fieldManager=me&force=true", raw=yaml.safe_dump(cm("applied")).encode(),
          ctype="application/apply-patch+yaml")
    assert r.status == 201
    call = [x for x in store.calls if x[0] == "patch"][-1][1]
    assert call["patch_type"] == "apply" and call["force"] is True and call["field_manager"] == "me"
    r = c("PATCH", CM + "/p", [{"op": "add"}], ctype="application/strategic-merge-patch+json")
    assert r.status == 400


def test_dry_run(server):
    _, c, store = server
    r = c("POST", CM + "?dryRun=All", cm("dry"))
    assert r.status == 201
    assert store.calls[-1] == ("create", {"dry_run": True, "user": "kubernetes-admin", "field_manager": "tester"})
    assert c("GET", CM + "/dry").status == 404
    r = c("POST", CM + "?dryRun=Some", cm("dry"))
    assert r.status == 400


def test_delete_options_from_body_and_query(server):
    _, c, store = server
    c("POST", CM, cm("d1"))
    r = c("DELETE", CM + "/d1", {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground",
                                 "preconditions": {"uid": "u"}})
    assert r.status == 200
    body = json.loads(r.data)
    assert body["status"] == "Success" and body["details"]["name"] == "d1"
    assert store.calls[-1] == ("delete", {"propagation": "Foreground", "preconditions": {"uid": "u"},
                                          "grace_period": None, "dry_run": False, "user": "kubernetes-admin"})
    c("POST", CM, cm("d2"))
    c("DELETE", CM + "/d2?propagationPolicy=Orphan&gracePeriodSeconds=0", {"propagationPolicy": "Background"})
    assert store.calls[-1][1]["propagation"] == "Orphan" and store.calls[-1][1]["grace_period"] == 0
    r = c("DELETE", CM + "/d2?propagationPolicy=Sometimes")
    assert r.status == 422


def lines(resp: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in resp.data.splitlines() if line.strip()]


def test_watch_stream(server):
    _, c, store = server
    c("POST", CM, cm("w1"))
    rv = json.loads(c("GET", CM).data)["metadata"]["resourceVersion"]
    c("POST", CM, cm("w2"))
    r = c("GET", f"{CM}?watch=true&resourceVersion={rv}&timeoutSeconds=1")
    assert r.status == 200 and r.headers["Content-Type"] == "application/json"
    assert r.headers["Transfer-Encoding"] == "chunked"
    events = lines(r)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "w2")]
    assert not store.watches  # the stream's end stopped the store's watch


def test_watch_too_old_is_an_error_event(server):
    _, c, _ = server
    r = c("GET", f"{CM}?watch=true&resourceVersion=1&timeoutSeconds=5")
    assert r.status == 200
    (event,) = lines(r)
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"


def test_watch_bookmarks(server):
    _, c, _ = server
    r = c("GET", f"{CM}?watch=true&allowWatchBookmarks=true&timeoutSeconds=1")
    assert "BOOKMARK" in {e["type"] for e in lines(r)}
    r = c("GET", f"{CM}?watch=true&timeoutSeconds=1")
    assert "BOOKMARK" not in {e["type"] for e in lines(r)}


def test_watch_client_disconnect_stops_store_watch(server):
    r, c, store = server
    host, port = r.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {CM}?watch=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {r.token}\r\n\r\n".encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
        assert store.watches
    for _ in range(200):  # the server notices the closed connection on its own (no write needed)
        if not store.watches:
            break
        c("GET", "/healthz")
    assert not store.watches


def test_tls_and_kubeconfig():
    with tempfile.TemporaryDirectory() as tmp:
        kc = Path(tmp) / "kc"
        with running(Options(), kubeconfig=kc, store_factory=FakeStore) as r:
            assert r.url.startswith("https://127.0.0.1:")
            assert r.kubeconfig == kc and (kc.stat().st_mode & 0o777) == 0o600
            conf = yaml.safe_load(kc.read_text())
            assert conf["current-context"] == "helm-ac"
            cluster = conf["clusters"][0]["cluster"]
            assert cluster["server"] == r.url
            assert conf["users"][0]["user"]["token"] == r.token
            ca = base64.b64decode(cluster["certificate-authority-data"])
            assert Client(r.url, r.token, ca)("GET", "/healthz").data == b"ok"
            with pytest.raises(urllib3.exceptions.SSLError):
                urllib3.PoolManager(retries=False, cert_reqs="CERT_REQUIRED",
                                    ca_certs=ssl.get_default_verify_paths().cafile).request("GET", r.url + "/healthz")


def test_protobuf_bodies(server):
    from helm_ac.apiserver import protobuf

    _, c, store = server
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pb"}, "type": "helm.sh/release.v1",
              "data": {"release": base64.b64encode(b"\x00\x01binary").decode()}}
    r = c("POST", "/api/v1/namespaces/default/secrets", raw=protobuf.encode(secret),
          ctype=protobuf.CONTENT_TYPE, headers={"Accept": "application/vnd.kubernetes.protobuf, application/json"})
    assert r.status == 201 and r.headers["Content-Type"] == "application/json"
    assert json.loads(r.data)["data"] == secret["data"]
    opts = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Orphan"}
    r = c("DELETE", "/api/v1/namespaces/default/secrets/pb", raw=protobuf.encode(opts), ctype=protobuf.CONTENT_TYPE)
    assert r.status == 200 and store.calls[-1][1]["propagation"] == "Orphan"
    r = c("GET", CM, headers={"Accept": protobuf.CONTENT_TYPE})  # protobuf only: encoded
    assert r.status == 200 and r.data.startswith(protobuf.MAGIC)
    assert protobuf.decode(r.data)["kind"] == "ConfigMapList"


def test_audit_log():
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "audit.jsonl"
        with running(Options(tls=False, audit_log=log), store_factory=FakeStore) as r:
            c = Client(r.url, r.token)
            c("POST", CM, cm("audited"))
            c("GET", CM + "/nothere")
            c("GET", CM, token=None)
            host, port = r.url.removeprefix("http://").rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=10) as sock:  # a watch the client closes
                sock.sendall(f"GET {CM}?watch=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {r.token}\r\n\r\n".encode())
                assert sock.recv(100).startswith(b"HTTP/1.1 200")
        records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(x["verb"], x["resource"], x["name"], x["code"], x["user"]) for x in records] == [
        ("create", "configmaps", "", 201, "kubernetes-admin"),
        ("get", "configmaps", "nothere", 404, "kubernetes-admin"),
        ("list", "configmaps", "", 200, "system:unsecured"),
        ("watch", "configmaps", "", 200, "kubernetes-admin")]
    assert records[0]["userAgent"] == "tester/1.0" and records[0]["namespace"] == "default"


def test_watch_in_protobuf_for_a_client_taking_no_json(server):
    from helm_ac.apiserver import protobuf

    _, c, _ = server
    c("POST", CM, cm("pbwatch"))
    r = c("GET", f"{CM}?watch=true&fieldSelector=metadata.name%3Dpbwatch&timeoutSeconds=1",
          headers={"Accept": protobuf.CONTENT_TYPE})
    assert r.status == 200 and r.headers["Content-Type"] == "application/vnd.kubernetes.protobuf;stream=watch"
    size = int.from_bytes(r.data[:4], "big")
    event = protobuf.decode(r.data[4:4 + size])
    assert event["kind"] == "WatchEvent" and event["type"] == "ADDED"


def test_ipv6_loopback_with_tls():
    with running(Options(host="::1"), store_factory=FakeStore) as r:
        assert r.url.startswith("https://[::1]:")
        conf = yaml.safe_load(r.kubeconfig.read_text())
        ca = base64.b64decode(conf["clusters"][0]["cluster"]["certificate-authority-data"])
        assert Client(r.url, r.token, ca)("GET", "/healthz").data == b"ok"  # the certificate names ::1


def test_only_loopback():
    with pytest.raises(ValueError, match="loopback only"):
        with running(Options(host="0.0.0.0"), store_factory=FakeStore):
            pass


def test_custom_resources_have_no_protobuf(server):
    from helm_ac.kubesim.resources import Resource

    _, c, store = server
    store.registry.add(Resource("example.com", "v1", "Widget", "widgets", True,
                                ("create", "get", "list", "watch"), crd="widgets.example.com"))
    path = "/apis/example.com/v1/namespaces/default/widgets"
    assert c("POST", path, {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}).status == 201
    for p in (path, path + "/w", path + "?watch=true&timeoutSeconds=1"):
        r = c("GET", p, headers={"Accept": "application/vnd.kubernetes.protobuf"})
        assert r.status == 406 and status_of(r)["reason"] == "NotAcceptable", p
    assert c("GET", path + "/w", headers={"Accept": "application/vnd.kubernetes.protobuf, application/json"}).status == 200


def test_a_watch_that_falls_behind_ends(server, monkeypatch):
    from helm_ac.apiserver import watch

    _, c, store = server
    monkeypatch.setattr(watch, "MAX_PENDING", 3)
    for i in range(5):
        c("POST", CM, cm(f"burst-{i}"))
    r = c("GET", f"{CM}?watch=true&timeoutSeconds=30")  # the initial events come in one burst: too many
    assert r.status == 200 and len(lines(r)) == 3  # ended (long before its timeout), cleanly
    assert not store.watches


def test_kubeconfig_over_a_readable_file_is_made_owner_only(tmp_path: Path) -> None:
    """The kubeconfig holds the admin token: writing it over an existing world-readable file (a
    second run with the same --kubeconfig after a chmod, or a file the user made) kept that file's
    mode, since O_CREAT's mode applies only to new files."""
    from helm_ac.apiserver.server import ApiServer

    kc = tmp_path / "kc"
    kc.write_text("old\n")
    kc.chmod(0o644)
    ApiServer(Options()).write_kubeconfig(kc)
    assert (kc.stat().st_mode & 0o777) == 0o600
    assert yaml.safe_load(kc.read_text())["current-context"] == "helm-ac"
