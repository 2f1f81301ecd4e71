"""Start and stop the API server: the cluster model on a real-time clock, aiohttp on loopback,
TLS with a CA of its own, the admin token, the kubeconfig that points clients at it.

Everything runs on one asyncio event loop: the store, the simulated controllers (their timers
through :class:`AsyncioClock`) and every request. :func:`running` runs that loop in a background
thread for tests and yields ``(url, kubeconfig, token)``; :func:`serve` runs it in the foreground
until Ctrl-C or SIGTERM (``helm ac cluster``).
"""
from __future__ import annotations

import asyncio
import base64
import datetime
import gc
import ipaddress
import json
import logging
import os
import secrets
import signal
import ssl
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Awaitable, Callable, Iterator, NamedTuple

import yaml
from aiohttp import web

from helm_ac.apiserver.app import Settings, make_app
from helm_ac.clock import Loop
from helm_ac.errors import UserError
from helm_ac.kube.aio import AsyncioClock

log = logging.getLogger("helm_ac.apiserver")

HOSTS = ("127.0.0.1", "::1")


@dataclass
class Options:
    """How to run the server (the flags of ``helm ac cluster``)."""

    host: str = "127.0.0.1"
    port: int = 0
    tls: bool = True
    rbac: bool = False
    audit_log: Path | None = None
    readiness_log: Path | None = None
    behaviour: Path | None = None
    seed: int | None = None
    nodes: int | None = None  # simulated Nodes (default: the behaviour file's, else 1)
    rules: list[str] = field(default_factory=list)  # ``--rule`` strings, over the behaviour file's rules
    faults: list[str] = field(default_factory=list)
    bookmark_interval: float = 5.0
    history: int = 100_000  # watch events kept for resuming (older resourceVersions: 410 Gone)
    token: str | None = None  # the admin token; generated when None
    http2: bool = True  # over TLS, offer HTTP/2 (ALPN h2) as kube-apiserver does; HTTP/1.1 only when False
    #: run the helm-ac controller image's Pods as local processes (apiserver/pods.py)
    run_pods: bool = True
    pod_logs: Path | None = None  # their log files (default: a temporary directory, removed at stop)
    pod_backoff: float = 10.0  # the kubelet's first restart delay (doubled per crash, 300 s at most)


@dataclass
class Certs:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


def make_certs(hosts: tuple[str, ...] = HOSTS) -> Certs:
    """A fresh CA and a server certificate it signed for localhost and the loopback addresses."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=365)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "helm-ac-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    names += [x509.IPAddress(ipaddress.ip_address(h)) for h in hosts]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "helm-ac-apiserver")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return Certs(ca.public_bytes(pem), cert.public_bytes(pem),
                 key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


class ApiServer:
    """One API server; :meth:`start` and :meth:`stop` run on its event loop."""

    def __init__(self, options: Options | None = None, *,
                 store_factory: Callable[[Any, Loop], Any] | None = None) -> None:
        self.options = options or Options()
        self._store_factory = store_factory
        if self.options.host not in HOSTS:
            raise ValueError(f"host {self.options.host!r}: the API server listens on loopback only "
                             f"({' or '.join(HOSTS)})")
        self.token = self.options.token or secrets.token_urlsafe(32)
        self.certs: Certs | None = None
        self.url = ""
        self.store: Any = None
        self.controllers: Any = None
        self._runner: web.AppRunner | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._pods_tmp: tempfile.TemporaryDirectory[str] | None = None
        self.kubelet: Any = None  # apiserver.pods.Kubelet: the controller image's Pods, run for real
        self._logs: list[IO[str]] = []

    def build(self, loop: asyncio.AbstractEventLoop) -> Settings:
        """The cluster model and everything the handlers serve, on ``loop``'s clock."""
        from helm_ac.apiserver import protobuf
        from helm_ac.kubesim import rbac
        from helm_ac.kubesim.audit import AuditLog
        from helm_ac.kubesim.resources import Registry

        factory = self._store_factory
        if factory is None:
            from helm_ac.kubesim.store import Store

            def factory(registry: Any, clock: Loop) -> Any:
                return Store(registry, clock, history=self.options.history, seed=self.options.seed or 0)
        clock = AsyncioClock(loop)
        store = factory(Registry.builtin(), clock)
        self.store = store
        settings = Settings(store=store, authenticator=rbac.Authenticator(store, admin_token=self.token),
                            bookmark_interval=self.options.bookmark_interval)
        rbac.bootstrap(store)  # the default roles and bindings every cluster has
        settings.insecure = not self.options.tls and not self.options.rbac
        if self.options.rbac:
            settings.authorizer = rbac.Authorizer(store)
            store.add_admission(rbac.escalation_admission(settings.authorizer))
        if self.options.audit_log is not None:
            settings.audit = AuditLog(self._open_log(self.options.audit_log), clock)
        if self.options.faults:
            settings.fault = _faults(self.options.faults, self.options.seed or 0)
        settings.decoders[protobuf.CONTENT_TYPE] = protobuf.decode
        settings.encoders[protobuf.CONTENT_TYPE] = protobuf.encode
        settings.watch_framers[protobuf.CONTENT_TYPE] = protobuf.watch_frame
        if self._store_factory is None:
            from helm_ac.kubesim.behaviour import Behaviour
            from helm_ac.kubesim.controllers import Controllers

            behaviour = Behaviour.from_file(self.options.behaviour) if self.options.behaviour else Behaviour()
            behaviour = behaviour.with_flags(seed=self.options.seed, nodes=self.options.nodes,
                                             rules=self.options.rules)
            readiness = None
            if self.options.readiness_log is not None:
                write = self._open_log(self.options.readiness_log)

                def readiness(record: dict[str, Any]) -> None:
                    write(json.dumps(record, separators=(",", ":")) + "\n")
            skips = None
            if self.options.run_pods:
                from helm_ac.apiserver import pods

                self._pods_tmp = tempfile.TemporaryDirectory(prefix="helm-ac-pods-")
                tmp = Path(self._pods_tmp.name)
                self.kubelet = pods.Kubelet(store, settings.authenticator, pods.PodSettings(
                    logs=self.options.pod_logs or tmp / "logs", state=tmp / "pods",
                    backoff=self.options.pod_backoff, max_backoff=max(300.0, self.options.pod_backoff)))
                settings.pod_log = self.kubelet.log_of
                skips = pods.is_controller_pod
            self.controllers = Controllers(store, behaviour, on_readiness=readiness, kubelet_skips=skips).start()
        _health(settings)
        return settings

    def _open_log(self, path: Path) -> Callable[[str], None]:
        """A JSON-lines file to append to, flushed per line (``tail -f`` shows requests as they come)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        f = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by stop()
        self._logs.append(f)

        def write(line: str) -> None:
            f.write(line)
            f.flush()

        return write

    async def start(self) -> None:
        """Build the cluster and listen; on failure (a busy port) everything started is stopped."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        settings = self.build(loop)
        app = make_app(settings)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        ctx = None
        if self.options.tls:
            self.certs = make_certs()
            self._tmp = tempfile.TemporaryDirectory(prefix="helm-ac-apiserver-")
            cert, key = Path(self._tmp.name) / "server.crt", Path(self._tmp.name) / "server.key"
            cert.write_bytes(self.certs.cert_pem)
            key.write_bytes(self.certs.key_pem)
            key.chmod(0o600)
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(cert), str(key))
        site: web.TCPSite
        if ctx is not None and self.options.http2:
            from helm_ac.apiserver.http2 import TLSSite

            site = TLSSite(self._runner, self.options.host, self.options.port, ssl_context=ctx)
        else:
            site = web.TCPSite(self._runner, self.options.host, self.options.port, ssl_context=ctx)
        await site.start()
        port = self._runner.addresses[0][1]
        host = f"[{self.options.host}]" if ":" in self.options.host else self.options.host
        self.url = f"{'https' if ctx else 'http'}://{host}:{port}"
        if self.kubelet is not None:
            self.kubelet.start(self.url, self.certs.ca_pem if self.certs is not None else None)

    async def stop(self) -> None:
        if self.kubelet is not None:  # first, while the server still answers (a Lease given up on SIGTERM)
            await self.kubelet.stop()
            self.kubelet = None
        if self.controllers is not None:
            self.controllers.stop()
            self.controllers = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for f in self._logs:
            f.close()
        self._logs.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        if self._pods_tmp is not None:
            self._pods_tmp.cleanup()
            self._pods_tmp = None

    def kubeconfig(self) -> dict[str, Any]:
        cluster: dict[str, Any] = {"server": self.url}
        if self.certs is not None:
            cluster["certificate-authority-data"] = base64.b64encode(self.certs.ca_pem).decode()
        return {"apiVersion": "v1", "kind": "Config",
                "clusters": [{"name": "helm-ac", "cluster": cluster}],
                "users": [{"name": "helm-ac-admin", "user": {"token": self.token}}],
                "contexts": [{"name": "helm-ac", "context": {"cluster": "helm-ac", "user": "helm-ac-admin",
                                                             "namespace": "default"}}],
                "current-context": "helm-ac", "preferences": {}}

    def write_kubeconfig(self, path: Path) -> Path:
        """Write a kubeconfig for this server (readable by its owner only: it holds the admin token)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # O_CREAT's mode applies only to a new file
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yaml.safe_dump(self.kubeconfig(), f, sort_keys=False)
        return path


def _faults(specs: list[str], seed: int) -> Callable[[web.Request, Any], Awaitable[float | None]]:
    """The fault hook of the handlers: latency, refusals, dropped connections and watch streams."""
    from helm_ac.kubesim.faults import FaultPlan

    plan = FaultPlan.parse(specs, seed=seed)

    async def fault(request: web.Request, info: Any) -> float | None:
        f = plan.decide(info.verb, info.group, info.resource, info.namespace or None, info.name or None)
        if f is None:
            return None
        if f.latency:
            await asyncio.sleep(f.latency)
        err = f.status_error()
        if err is not None:
            raise err
        if f.drop == "connection":
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError(f"fault: {f.rule}")
        if f.drop == "watch" and info.verb == "watch":
            return f.after
        return None

    return fault


def _health(settings: Settings) -> None:
    async def ok(request: web.Request, *_: Any) -> web.StreamResponse:
        return web.Response(text="ok", content_type="text/plain")

    for path in ("/healthz", "/livez", "/readyz"):
        settings.routes[path] = ok


class Running(NamedTuple):
    """A server running in a background thread (:func:`running`)."""

    url: str
    kubeconfig: Path
    token: str


@contextmanager
def running(options: Options | None = None, *, kubeconfig: Path | None = None,
            store_factory: Callable[[Any, Loop], Any] | None = None) -> Iterator[Running]:
    """Run an API server on its own event loop in a background thread; yield where it is.

    The kubeconfig goes to ``kubeconfig`` (default: a temporary file removed afterwards);
    ``store_factory(registry, clock)`` replaces the store (tests of the HTTP face alone)."""
    server = ApiServer(options, store_factory=store_factory)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(server.stop())
        loop.close()

    thread = threading.Thread(target=run, name="helm-ac-apiserver", daemon=True)
    thread.start()
    started.wait()
    if failure:
        raise failure[0]
    with tempfile.TemporaryDirectory(prefix="helm-ac-kubeconfig-") as tmp:
        path = server.write_kubeconfig(kubeconfig or Path(tmp) / "kubeconfig")
        try:
            yield Running(server.url, path, server.token)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)


def freeze_survivors() -> Callable[[], None]:
    """Keep full garbage collections short in a process that holds a cluster; returns the undo.

    The cluster's objects are long-lived and mostly JSON dicts and lists without cycles, yet each
    full collection walks all of them: measured with 10,000 ConfigMaps and 100 watches, 7 full
    collections stalled the event loop (every request) up to 183 ms each (the create p99). So what
    survives startup and then each full collection is frozen (``gc.freeze``): the next full
    collection walks only what came since (27 ms at most there). The cost: a frozen object that
    later becomes garbage in a reference cycle is not reclaimed (requests in flight at that moment;
    stored objects have no cycles and go by reference counting as before)."""
    def refreeze(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info.get("generation") == 2:
            gc.freeze()

    gc.collect()
    gc.freeze()
    gc.callbacks.append(refreeze)

    def undo() -> None:
        if refreeze in gc.callbacks:
            gc.callbacks.remove(refreeze)
        gc.unfreeze()

    return undo


async def serve(options: Options, kubeconfig: Path, on_ready: Callable[[ApiServer, Path], None]) -> None:
    """Run in the foreground until SIGINT or SIGTERM; ``on_ready`` once it listens."""
    server = ApiServer(options)
    try:
        await server.start()
    except OSError as exc:  # the port (what the files flags name was checked before)
        raise UserError(f"cannot start the API server on {options.host}:{options.port}: {exc.strerror or exc}",
                        hint="Pick another --port (0 = any free port).") from None
    unfreeze = freeze_survivors()  # this process is the server's own (helm ac cluster)
    try:
        path = server.write_kubeconfig(kubeconfig)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        on_ready(server, path)
        await stop.wait()
    finally:
        unfreeze()
        await server.stop()
