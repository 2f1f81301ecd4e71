"""The controller's Pods run for real: the embedded API server's kubelet for the helm-ac controller image.

Every other Pod stays simulated (``kubesim.controllers``). A Pod whose container image is the
controller's (:data:`CONTROLLER_IMAGE`, any tag or digest) or that is annotated
``appcontroller.k8s/controller: "true"`` is run here, as a kubelet would run it, by :class:`Kubelet`
(it watches the store through ``store.subscribe``; the simulated kubelet skips these Pods through
``Controllers(kubelet_skips=is_controller_pod)``):

- each container's ``command`` + ``args`` (no ``command``: the image's entry point
  ``python -m helm_ac.controller``) after the kubelet's ``$(VAR)`` expansion is started as a local
  process, ``python`` being this interpreter; anything else is refused (``CreateContainerError``,
  a log line), as this "image" holds nothing else;
- with the environment a Pod gets: the container's ``env`` and ``envFrom`` (literal values,
  ``fieldRef``, ConfigMap and Secret keys), ``KUBERNETES_SERVICE_HOST``/``_PORT`` of this server,
  ``HOSTNAME``, a ``HOME`` of its own (no kubeconfig there), and the ServiceAccount's projected
  volume in a per-Pod directory (``token`` from a TokenRequest bound to the Pod and refreshed at 80 %
  of its life, ``ca.crt``, ``namespace``), which ``HELM_AC_SERVICEACCOUNT_DIR`` names for
  ``kube/config.py`` (and ``HELM_AC_KUBERNETES_SCHEME=http`` on a server without TLS);
- a Pod has no network of its own here: a ``--health-port`` is moved to a free local port, which the
  readiness check (``GET /readyz``, every ``readinessProbe.periodSeconds``, default 1 s) asks; without
  one a running container is ready;
- the Pod's status follows the processes (phase, conditions, ``containerStatuses`` with ``state``,
  ``lastState.terminated.exitCode``, ``restartCount``); an exited container is restarted per
  ``restartPolicy`` after the kubelet's back-off (10 s doubled up to 300 s, ``CrashLoopBackOff``);
- a Pod being deleted gets SIGTERM (to the process group), SIGKILL after its grace period, then is
  removed; the server's stop does the same to every Pod (grace capped at ``stop_grace``);
- output goes to ``<logs>/<namespace>_<pod>_<uid>/<container>/<restartCount>.log`` (the kubelet's
  layout), which ``kubectl logs`` (``pods/log``: ``container``, ``previous``, ``tailLines``,
  ``limitBytes``, ``follow``) returns.
"""
from __future__ import annotations

import asyncio
import base64
import contextvars
import logging
import os
import re
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Mapping

from helm_ac.kubesim.errors import StatusError, bad_request
from helm_ac.kubesim.times import rfc3339

log = logging.getLogger("helm_ac.apiserver.pods")

Obj = dict[str, Any]

#: the controller image's repository (``output/controller_manifests.DEFAULT_IMAGE`` without its tag)
CONTROLLER_IMAGE = "ghcr.io/helm-ac/controller"
#: a Pod annotated so (``"true"``) is a controller Pod whatever its image (``--controller-image``)
CONTROLLER_ANNOTATION = "appcontroller.k8s/controller"
#: the image's ENTRYPOINT (Dockerfile)
ENTRYPOINT = ("python", "-m", "helm_ac.controller")
#: what ``kube/config.py`` reads (literal here: the server does not import the official client)
SERVICE_ACCOUNT_DIR_ENV = "HELM_AC_SERVICEACCOUNT_DIR"
SCHEME_ENV = "HELM_AC_KUBERNETES_SCHEME"
#: the kubelet's projected token: an hour (and 7 s, as it asks), refreshed at 80 % of its life
TOKEN_SECONDS = 3607
MANAGER = "kubelet"
#: the directory that holds the ``helm_ac`` package: the "image" the processes import from
ROOT = Path(__file__).resolve().parent.parent.parent
_PYTHON = re.compile(r"python(3(\.\d+)?)?")
_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def image_repository(image: str) -> str:
    """``ghcr.io/helm-ac/controller:0.1.0@sha256:...`` -> ``ghcr.io/helm-ac/controller``."""
    name = image.split("@", 1)[0]
    if name.rfind(":") > name.rfind("/"):
        name = name[:name.rfind(":")]
    return name


def _containers(pod: Obj) -> list[Obj]:
    return [c for c in (pod.get("spec") or {}).get("containers") or [] if isinstance(c, dict)]


def is_controller_pod(pod: Obj) -> bool:
    """A Pod this server runs for real (the controller image, or the annotation)."""
    ann = (pod.get("metadata") or {}).get("annotations") or {}
    if isinstance(ann, dict) and ann.get(CONTROLLER_ANNOTATION) == "true":
        return True
    return any(image_repository(str(c.get("image") or "")) == CONTROLLER_IMAGE for c in _containers(pod))


class ContainerError(Exception):
    """A container that cannot be started: the waiting reason and message its status shows."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def expand(text: str, env: Mapping[str, str]) -> str:
    """The kubelet's ``$(VAR)`` expansion: a defined variable is replaced, an undefined reference
    is kept as written, ``$$`` is a literal ``$``."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _VAR.sub(sub, text)


def _field(pod: Obj, path: str) -> str:
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    simple = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
              "metadata.uid": meta.get("uid"), "spec.nodeName": spec.get("nodeName"),
              "spec.serviceAccountName": spec.get("serviceAccountName") or "default",
              "status.podIP": status.get("podIP") or "127.0.0.1", "status.hostIP": status.get("hostIP") or "127.0.0.1",
              "status.podIPs": status.get("podIP") or "127.0.0.1", "status.hostIPs": status.get("hostIP") or "127.0.0.1"}
    if path not in simple:
        raise ContainerError("CreateContainerConfigError", f"fieldRef {path}: not supported by this server")
    return str(simple[path] or "")


def container_env(pod: Obj, container: Obj, base: Mapping[str, str],
                  lookup: Callable[[str, str], Obj | None]) -> dict[str, str]:
    """``base`` (what every container gets), then ``envFrom``, then ``env``, each value expanded
    against what came before; ``lookup(kind, name)`` reads a ConfigMap or Secret of the Pod's
    namespace (None when missing)."""
    env = dict(base)
    cname = container.get("name", "")

    def source(kind: str, ref: Obj, what: str) -> dict[str, str] | None:
        name = str(ref.get("name") or "")
        obj = lookup(kind, name)
        if obj is None:
            if ref.get("optional"):
                return None
            raise ContainerError("CreateContainerConfigError",
                                 f'{kind.lower()} "{name}" not found ({what} of container {cname})')
        if kind == "Secret":
            return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (obj.get("data") or {}).items()}
        return {k: str(v) for k, v in (obj.get("data") or {}).items()}

    for src in container.get("envFrom") or []:
        prefix = str(src.get("prefix") or "")
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if isinstance(src.get(key), dict):
                for k, v in (source(kind, src[key], "envFrom") or {}).items():
                    env[prefix + k] = v
    for var in container.get("env") or []:
        name = str(var.get("name") or "")
        if "valueFrom" not in var:
            env[name] = expand(str(var.get("value") or ""), env)
            continue
        frm = var.get("valueFrom") or {}
        if isinstance(frm.get("fieldRef"), dict):
            env[name] = _field(pod, str(frm["fieldRef"].get("fieldPath") or ""))
            continue
        for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
            ref = frm.get(key)
            if isinstance(ref, dict):
                data = source(kind, ref, f"env {name}")
                if data is not None and ref.get("key") in data:
                    env[name] = data[ref["key"]]
                elif data is not None and not ref.get("optional"):
                    raise ContainerError("CreateContainerConfigError",
                                         f'couldn\'t find key {ref.get("key")} in {kind} '
                                         f'{(pod.get("metadata") or {}).get("namespace")}/{ref.get("name")}')
                break
        else:
            raise ContainerError("CreateContainerConfigError",
                                 f"env {name} of container {cname}: valueFrom {sorted(frm)} is not supported by "
                                 f"this server (fieldRef, configMapKeyRef, secretKeyRef are)")
    return env


def container_argv(container: Obj, env: Mapping[str, str], executable: str = sys.executable) -> list[str]:
    """The process to start: ``command`` (else the image's entry point) + ``args``, expanded; only
    ``python -m helm_ac.controller ...`` runs here."""
    command = container.get("command")
    args = container.get("args") or []
    argv = [expand(str(a), env) for a in ([*(command or ENTRYPOINT), *args])]
    exe = os.path.basename(argv[0]) if argv else ""
    if not _PYTHON.fullmatch(exe) or argv[1:3] != ["-m", "helm_ac.controller"]:
        raise ContainerError("CreateContainerError",
                             f"the embedded API server runs only `python -m helm_ac.controller ...` of the "
                             f"controller image, not {' '.join(argv)!r} (container {container.get('name', '')})")
    return [executable, *argv[1:]]


def health_port(argv: list[str]) -> tuple[int, int] | None:
    """(index of the value, port) of ``--health-port PORT`` / ``--health-port=PORT``, or None."""
    for i, a in enumerate(argv):
        value, at = None, i
        if a == "--health-port" and i + 1 < len(argv):
            value, at = argv[i + 1], i + 1
        elif a.startswith("--health-port="):
            value = a.split("=", 1)[1]
        if value is not None and value.isdigit():
            return at, int(value)
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def grace_of(pod: Obj) -> float:
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    for v in (meta.get("deletionGracePeriodSeconds"), spec.get("terminationGracePeriodSeconds")):
        if isinstance(v, int) and not isinstance(v, bool):
            return float(max(v, 0))
    return 30.0


@dataclass
class PodSettings:
    """Where the kubelet keeps things and how it backs off."""

    logs: Path  # the containers' log files
    state: Path  # per-Pod directories: the ServiceAccount volume, HOME
    backoff: float = 10.0  # the kubelet's first restart delay, doubled per crash
    max_backoff: float = 300.0
    stop_grace: float = 5.0  # at the server's stop, the grace period at most


@dataclass
class _Container:
    spec: Obj
    restarts: int = 0
    state: Obj = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last: Obj | None = None
    ready: bool = False
    started: bool = False
    proc: asyncio.subprocess.Process | None = None
    log: Path | None = None

    @property
    def name(self) -> str:
        return str(self.spec.get("name") or "")


class _Pod:
    """One Pod's containers, their processes and the status they give the Pod."""

    def __init__(self, kubelet: "Kubelet", pod: Obj) -> None:
        self.k = kubelet
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        self.ns, self.name, self.uid = meta.get("namespace") or "", meta.get("name") or "", meta.get("uid") or ""
        self.spec = spec
        self.policy = spec.get("restartPolicy") or "Always"
        self.containers = [_Container(c) for c in _containers(pod)]
        self.dir = kubelet.settings.state / f"{self.ns}_{self.name}_{self.uid}"
        self.logs = kubelet.settings.logs / f"{self.ns}_{self.name}_{self.uid}"
        self.stopping = asyncio.Event()
        self.deleting = False
        self.start_time = rfc3339(time.time())
        self.task: asyncio.Task[None] | None = None
        self._refresh: asyncio.TimerHandle | None = None
        self._killers: list[asyncio.Task[None]] = []

    # -- the ServiceAccount volume
    def _write(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.tmp")  # replaced whole, as the kubelet's atomic writer does
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def mount_serviceaccount(self) -> Path:
        sa_dir = self.dir / "serviceaccount"
        sa_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.spec.get("automountServiceAccountToken") is False:
            return sa_dir
        sa = self.spec.get("serviceAccountName") or "default"
        try:
            tr = self.k.authenticator.token_request(self.ns, sa, {
                "kind": "TokenRequest", "spec": {"expirationSeconds": TOKEN_SECONDS, "boundObjectRef": {
                    "apiVersion": "v1", "kind": "Pod", "name": self.name, "uid": self.uid}}})
        except StatusError as e:
            raise ContainerError("CreateContainerConfigError",
                                 f"the token of serviceaccount {self.ns}/{sa}: {e.message}") from None
        self._write(sa_dir / "token", tr["status"]["token"].encode())
        if self.k.ca_pem is not None:
            self._write(sa_dir / "ca.crt", self.k.ca_pem)
        self._write(sa_dir / "namespace", self.ns.encode())
        if self._refresh is None:
            self._refresh = asyncio.get_running_loop().call_later(TOKEN_SECONDS * 0.8, self._refresh_token)
        return sa_dir

    def _refresh_token(self) -> None:
        self._refresh = None
        if not self.stopping.is_set():
            try:
                self.mount_serviceaccount()
            except ContainerError as e:
                log.warning("pod %s/%s: %s", self.ns, self.name, e.message)

    # -- running
    def environment(self, c: _Container, sa_dir: Path) -> dict[str, str]:
        host, port = self.k.service
        home = self.dir / "home"
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        base = {"PATH": os.environ.get("PATH", os.defpath), "HOSTNAME": self.name, "HOME": str(home),
                "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
                "KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": str(port),
                "KUBERNETES_PORT": f"tcp://{host}:{port}", SERVICE_ACCOUNT_DIR_ENV: str(sa_dir)}
        if self.k.ca_pem is None:
            base[SCHEME_ENV] = "http"
        else:
            base["KUBERNETES_SERVICE_PORT_HTTPS"] = str(port)
        pod = self.k.pod(self.ns, self.name) or {}
        return container_env(pod, c.spec, base, lambda kind, name: self.k.find(kind, self.ns, name))

    async def run(self) -> None:
        try:
            self.publish()
            await asyncio.gather(*(self._run(c) for c in self.containers))
        except Exception:  # noqa: BLE001 - a bug here must not leave processes behind
            log.exception("pod %s/%s failed", self.ns, self.name)
            self.stopping.set()
            for c in self.containers:
                self._signal(c, signal.SIGKILL)
        finally:
            if self._refresh is not None:
                self._refresh.cancel()
            for t in self._killers:
                t.cancel()
        if self.deleting:
            self.k.finish_deletion(self.ns, self.name, self.uid)
            shutil.rmtree(self.dir, ignore_errors=True)  # its token and HOME (the logs stay)
        self.k.forget(self)

    async def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds``; True when the Pod is stopped meanwhile."""
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except asyncio.TimeoutError:
            return False
        return True

    async def _run(self, c: _Container) -> None:
        settings = self.k.settings
        backoff = settings.backoff
        while not self.stopping.is_set():
            try:
                sa_dir = self.mount_serviceaccount()
                env = self.environment(c, sa_dir)
                argv = container_argv(c.spec, env)
            except ContainerError as e:
                log.warning("pod %s/%s container %s: %s: %s", self.ns, self.name, c.name, e.reason, e.message)
                c.state = {"waiting": {"reason": e.reason, "message": e.message}}
                self.publish()
                if await self._sleep(backoff):
                    break
                backoff = min(backoff * 2, settings.max_backoff)
                continue
            port = health_port(argv)
            if port is not None:  # no network namespace of its own: a free port stands for it
                local = free_port()
                argv[port[0]] = str(local) if argv[port[0]].isdigit() else f"--health-port={local}"
            c.log = self.logs / c.name / f"{c.restarts}.log"
            c.log.parent.mkdir(parents=True, exist_ok=True)
            started = time.time()
            with open(c.log, "ab") as out:
                try:
                    c.proc = await asyncio.create_subprocess_exec(
                        *argv, env=env, cwd=str(self.dir / "home"), stdin=asyncio.subprocess.DEVNULL, stdout=out,
                        stderr=asyncio.subprocess.STDOUT, start_new_session=True)
                except OSError as e:
                    c.proc = None
                    c.state = {"waiting": {"reason": "RunContainerError", "message": str(e)}}
                    self.publish()
                    if await self._sleep(backoff):
                        break
                    backoff = min(backoff * 2, settings.max_backoff)
                    continue
            cid = f"helm-ac://{c.proc.pid}"
            log.info("pod %s/%s container %s: started process %d: %s", self.ns, self.name, c.name, c.proc.pid,
                     " ".join(argv))
            c.state = {"running": {"startedAt": rfc3339(started)}}
            c.started, c.ready = True, port is None
            self.publish()
            probe = asyncio.ensure_future(self._probe(c, local)) if port is not None else None
            code = await c.proc.wait()
            if probe is not None:
                probe.cancel()
            c.proc, c.ready, c.started = None, False, False
            terminated: Obj = {"exitCode": 128 - code if code < 0 else code,
                               "reason": "Completed" if code == 0 else "Error",
                               "startedAt": rfc3339(started), "finishedAt": rfc3339(time.time()), "containerID": cid}
            if code < 0:
                terminated["signal"] = -code
            log.info("pod %s/%s container %s: process exited %s", self.ns, self.name, c.name, terminated["exitCode"])
            restart = self.policy == "Always" or (self.policy == "OnFailure" and code != 0)
            if self.stopping.is_set() or not restart:
                c.state = {"terminated": terminated}
                self.publish()
                break
            if time.time() - started > 2 * settings.max_backoff:  # ran fine for long: the back-off starts over
                backoff = settings.backoff
            c.last, c.restarts = {"terminated": terminated}, c.restarts + 1
            c.state = {"waiting": {"reason": "CrashLoopBackOff", "message": f"back-off {backoff:g}s restarting "
                                   f"failed container={c.name} pod={self.name}_{self.ns}({self.uid})"}}
            self.publish()
            if await self._sleep(backoff):
                break
            backoff = min(backoff * 2, settings.max_backoff)

    async def _probe(self, c: _Container, port: int) -> None:
        import aiohttp

        period = float(((c.spec.get("readinessProbe") or {}).get("periodSeconds")) or 1.0)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.0)) as session:
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
                        ready = resp.status == 200
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                    ready = False
                if ready != c.ready:
                    c.ready = ready
                    self.publish()
                await asyncio.sleep(period)

    # -- stopping
    def _signal(self, c: _Container, sig: int) -> None:
        if c.proc is not None and c.proc.returncode is None:
            try:
                os.killpg(c.proc.pid, sig)  # its own session: the process and whatever it started
            except (ProcessLookupError, PermissionError):
                pass

    def terminate(self, grace: float, *, deleting: bool = True) -> None:
        """SIGTERM now, SIGKILL after ``grace`` seconds (a later, shorter grace wins)."""
        self.deleting = self.deleting or deleting
        self.stopping.set()
        for c in self.containers:
            self._signal(c, signal.SIGTERM)

        async def kill_later() -> None:
            await asyncio.sleep(grace)
            for c in self.containers:
                self._signal(c, signal.SIGKILL)

        self._killers.append(asyncio.ensure_future(kill_later()))

    # -- status
    def publish(self) -> None:
        pod = self.k.pod(self.ns, self.name)
        if pod is None or (pod.get("metadata") or {}).get("uid") != self.uid:
            return
        old = pod.get("status") or {}
        statuses = []
        for c in self.containers:
            image = str(c.spec.get("image") or "")
            s: Obj = {"name": c.name, "image": image, "imageID": f"{image}@local" if c.started or c.last else "",
                      "ready": c.ready, "started": c.started, "restartCount": c.restarts, "state": c.state}
            if c.last is not None:
                s["lastState"] = c.last
            cid = (c.state.get("terminated") or {}).get("containerID") or \
                (f"helm-ac://{c.proc.pid}" if c.proc is not None else (c.last or {}).get("terminated", {}).get("containerID"))
            if cid:
                s["containerID"] = cid
            statuses.append(s)
        ever = any(c.started or c.last or "terminated" in c.state for c in self.containers)
        done = all("terminated" in c.state for c in self.containers)
        if done and self.containers:
            phase = "Succeeded" if all(c.state["terminated"]["exitCode"] == 0 for c in self.containers) else "Failed"
        else:
            phase = "Running" if ever else "Pending"
        ready = bool(self.containers) and all(c.ready for c in self.containers)
        now = rfc3339(time.time())
        unready = [c.name for c in self.containers if not c.ready]
        conditions = []
        for ctype, ok in (("PodReadyToStartContainers", True), ("Initialized", True), ("Ready", ready),
                          ("ContainersReady", ready), ("PodScheduled", True)):
            prev = next((x for x in old.get("conditions") or [] if isinstance(x, dict) and x.get("type") == ctype), {})
            cond: Obj = {"type": ctype, "status": "True" if ok else "False", "lastProbeTime": None,
                         "lastTransitionTime": prev.get("lastTransitionTime") if prev.get("status") == (
                             "True" if ok else "False") else now}
            if not ok:
                cond["reason"] = "PodCompleted" if done else "ContainersNotReady"
                if not done:
                    cond["message"] = f"containers with unready status: [{' '.join(unready)}]"
            conditions.append(cond)
        status: Obj = {"phase": phase, "conditions": conditions, "hostIP": "127.0.0.1",
                       "hostIPs": [{"ip": "127.0.0.1"}], "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}],
                       "startTime": old.get("startTime") or self.start_time, "qosClass": _qos(self.containers),
                       "containerStatuses": statuses}
        if status == old:
            return
        self.k.write_status(pod, status)


def _qos(containers: list[_Container]) -> str:
    res = [c.spec.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in res):
        return "BestEffort"
    if all(r.get("limits") and all(r["limits"].get(k) is not None for k in ("cpu", "memory"))
           and (not r.get("requests") or r["requests"] == r["limits"]) for r in res):
        return "Guaranteed"
    return "Burstable"


class Kubelet:
    """Runs the controller Pods of a store as local processes (see the module's doc)."""

    def __init__(self, store: Any, authenticator: Any, settings: PodSettings) -> None:
        self.store = store
        self.authenticator = authenticator
        self.settings = settings
        self.service: tuple[str, int] = ("127.0.0.1", 0)
        self.ca_pem: bytes | None = None
        self._pods: dict[str, _Pod] = {}  # uid -> running Pod
        self._by_name: dict[tuple[str, str], _Pod] = {}  # the last Pod run under a name (for its logs)
        self._unsubscribe: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._res = {kind: store.registry.for_kind("v1", kind) for kind in ("Pod", "ConfigMap", "Secret")}

    def start(self, url: str, ca_pem: bytes | None) -> None:
        """Serve the Pods of the server at ``url`` (its CA, None over plain HTTP); on its loop."""
        from urllib.parse import urlsplit

        u = urlsplit(url)
        self.service = (u.hostname or "127.0.0.1", u.port or (443 if u.scheme == "https" else 80))
        self.ca_pem = ca_pem
        self._loop = asyncio.get_running_loop()
        self.settings.state.mkdir(parents=True, exist_ok=True, mode=0o700)  # tokens (the logs: when a Pod runs)
        self._unsubscribe = self.store.subscribe(self._on_change)
        for pod in list(self.store.objects(self._res["Pod"])):
            self._see(pod, deleted=False)

    async def stop(self) -> None:
        """Stop every Pod's processes (SIGTERM, SIGKILL after the grace, capped) and wait for them."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        running = list(self._pods.values())
        for p in running:
            p.terminate(min(grace_of(self.pod(p.ns, p.name) or {}), self.settings.stop_grace), deleting=False)
        tasks = [p.task for p in running if p.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def processes(self) -> list[int]:
        """The process ids running now (for tests and the server's log)."""
        return [c.proc.pid for p in self._pods.values() for c in p.containers
                if c.proc is not None and c.proc.returncode is None]

    # -- the store
    def pod(self, ns: str, name: str) -> Obj | None:
        got: Obj | None = self.store.find(self._res["Pod"], ns, name)
        return got

    def find(self, kind: str, ns: str, name: str) -> Obj | None:
        got: Obj | None = self.store.find(self._res[kind], ns, name)
        return got

    def write_status(self, pod: Obj, status: Obj) -> None:
        meta = pod.get("metadata") or {}
        try:
            self.store.update(self._res["Pod"], meta.get("namespace"), meta.get("name"), {**pod, "status": status},
                              subresource="status", field_manager=MANAGER)
        except StatusError as e:  # gone or changed meanwhile: the next change writes again
            log.debug("pod %s/%s status: %s", meta.get("namespace"), meta.get("name"), e.message)

    def finish_deletion(self, ns: str, name: str, uid: str) -> None:
        try:
            self.store.delete(self._res["Pod"], ns, name, grace_period=0, preconditions={"uid": uid})
        except StatusError as e:
            if e.code not in (404, 409):
                log.warning("pod %s/%s: deletion: %s", ns, name, e.message)

    def forget(self, p: _Pod) -> None:
        if self._pods.get(p.uid) is p:
            del self._pods[p.uid]

    def _on_change(self, change: Any) -> None:
        res = change.resource
        if res.group or res.plural != "pods":
            return
        self._see(change.obj, deleted=change.type == "DELETED")

    def _see(self, pod: Obj, *, deleted: bool) -> None:
        meta = pod.get("metadata") or {}
        uid = meta.get("uid") or ""
        running = self._pods.get(uid)
        if running is not None:
            if deleted or meta.get("deletionTimestamp"):
                if not running.stopping.is_set() or deleted:
                    running.terminate(grace_of(pod))
            return
        if deleted or not is_controller_pod(pod):
            return
        if meta.get("deletionTimestamp"):  # never run here (e.g. the server restarted): just remove it
            self._spawn(self._remove(meta.get("namespace") or "", meta.get("name") or "", uid))
            return
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        p = _Pod(self, pod)
        self._pods[uid] = p
        self._by_name[(p.ns, p.name)] = p
        p.task = self._spawn(p.run())

    async def _remove(self, ns: str, name: str, uid: str) -> None:
        self.finish_deletion(ns, name, uid)

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        assert self._loop is not None
        # a fresh context: started from a request, the Pod must not act as that request's user
        task: asyncio.Task[None] = contextvars.Context().run(self._loop.create_task, coro)
        return task

    # -- logs
    def log_of(self, ns: str, name: str, query: Mapping[str, str]) -> bytes | AsyncIterator[bytes] | None:
        """What ``kubectl logs`` gets for a Pod run here (with ``follow``: the chunks as they are
        written, until that run of the container ends), or None for a simulated Pod. A refusal is a
        StatusError (400) with kube-apiserver's texts."""
        p = self._by_name.get((ns, name))
        pod = self.pod(ns, name)
        if p is None or pod is None or (pod.get("metadata") or {}).get("uid") != p.uid:
            return None
        names = [c.name for c in p.containers]
        cname = query.get("container") or ""
        if not cname:
            if len(names) != 1:
                raise bad_request(f"a container name must be specified for pod {name}, choose one of: "
                                  f"[{' '.join(names)}]")
            cname = names[0]
        c = next((x for x in p.containers if x.name == cname), None)
        if c is None:
            raise bad_request(f"container {cname} is not valid for pod {name}")
        previous = query.get("previous", "").lower() in ("true", "1")
        number = c.restarts - 1 if previous else c.restarts
        path = p.logs / cname / f"{number}.log"
        if previous and number < 0:
            raise bad_request(f'previous terminated container "{cname}" in pod "{name}" not found')
        if not path.exists():
            if previous:
                raise bad_request(f'previous terminated container "{cname}" in pod "{name}" not found')
            # back-off after a crash: the last run's log, as the kubelet keeps the dead container
            path = p.logs / cname / f"{number - 1}.log"
            if number == 0 or not path.exists():
                reason = (c.state.get("waiting") or {}).get("reason") or "ContainerCreating"
                raise bad_request(f'container "{cname}" in pod "{name}" is waiting to start: {reason}')
        data = path.read_bytes()
        size = len(data)
        tail = query.get("tailLines")
        if tail and tail.isdigit():
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[len(lines) - int(tail):]) if int(tail) else b""
        limit = query.get("limitBytes")
        left = int(limit) if limit and limit.isdigit() else None
        if left is not None:
            data = data[:left]
            left -= len(data)
        if query.get("follow", "").lower() not in ("true", "1"):
            return data
        return self._follow(p, c, path, data, size, left)

    async def _follow(self, p: _Pod, c: _Container, path: Path, first: bytes, offset: int,
                      left: int | None) -> AsyncIterator[bytes]:
        if first:
            yield first
        while left is None or left > 0:
            live = c.log == path and c.proc is not None and not p.stopping.is_set()
            with open(path, "rb") as f:
                f.seek(offset)
                more = f.read() if left is None else f.read(left)
            if more:
                offset += len(more)
                if left is not None:
                    left -= len(more)
                yield more
            elif not live:
                return
            else:
                await asyncio.sleep(0.2)
