"""``helm ac cluster``: the embedded Kubernetes API server in the foreground.

Checks what the user asked for (loopback host, port, the behaviour file, ``--rule``/``--nodes``,
fault specs, that the kubeconfig and logs can be written) before anything starts, then runs
:func:`helm_ac.apiserver.server.serve` until Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from helm_ac.apiserver.server import HOSTS, ApiServer, Options, serve
from helm_ac.errors import UserError


def default_kubeconfig() -> Path:
    """``$XDG_STATE_HOME/helm-ac/cluster/kubeconfig`` (default ``~/.local/state/...``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "helm-ac" / "cluster" / "kubeconfig"


def _check_writable(flag: str, path: Path) -> None:
    """A UserError naming ``flag`` unless ``path`` can be written (its directories are made, as the
    server makes them); a file this creates is removed again, so a failed start leaves nothing."""
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        if not existed:
            path.unlink()
    except OSError as exc:
        raise UserError(f"{flag} {path}: cannot write the file: {exc.strerror or exc}",
                        hint=f"Give {flag} a file in a directory helm-ac can write to.") from None


@dataclass
class Cluster:
    kubeconfig: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    tls: bool = True
    audit_log: Path | None = None
    readiness_log: Path | None = None
    rbac: bool = False
    behaviour: Path | None = None
    seed: int | None = None
    nodes: int | None = None
    rules: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    pod_logs: Path | None = None  # the controller Pods' logs (default: beside the default kubeconfig)

    def options(self) -> Options:
        """The server's options, or a UserError naming the flag at fault."""
        if self.host not in HOSTS:
            raise UserError(f"--host {self.host}: the API server listens on loopback only",
                            hint=f"Use --host {' or --host '.join(HOSTS)}.")
        if not 0 <= self.port <= 65535:
            raise UserError(f"--port {self.port}: not a TCP port", hint="Use 0 (any free port) to 65535.")
        if self.behaviour is not None and not self.behaviour.is_file():
            raise UserError(f"--behaviour {self.behaviour}: no such file",
                            hint="Give a YAML file of the simulated controllers' settings (docs/cluster.md).")
        from helm_ac.kubesim.behaviour import Behaviour
        from helm_ac.kubesim.faults import FaultPlan

        FaultPlan.parse(self.faults)  # a bad --fault or --behaviour fails before anything starts
        behaviour = Behaviour.from_file(self.behaviour) if self.behaviour is not None else Behaviour()
        behaviour.with_flags(nodes=self.nodes, rules=self.rules)  # a bad --rule or --nodes too
        for flag, path in (("--audit-log", self.audit_log), ("--readiness-log", self.readiness_log),
                           ("--kubeconfig", self.kubeconfig)):
            if path is not None:
                _check_writable(flag, path)
        pod_logs = self.pod_logs or default_kubeconfig().parent / "pods"  # made when a controller Pod runs
        blocked = next((p for p in (pod_logs, *pod_logs.parents) if p.exists()), None)
        if blocked is not None and not blocked.is_dir():
            raise UserError(f"--pod-logs {pod_logs}: {blocked} is not a directory",
                            hint="Give --pod-logs a directory helm-ac can write to.")
        return Options(host=self.host, port=self.port, tls=self.tls, rbac=self.rbac, audit_log=self.audit_log,
                       readiness_log=self.readiness_log, behaviour=self.behaviour, seed=self.seed,
                       nodes=self.nodes, rules=list(self.rules), faults=list(self.faults), pod_logs=pod_logs)

    def run(self, on_ready: Callable[[ApiServer, Path], None]) -> None:
        """Serve until interrupted; ``on_ready(server, kubeconfig)`` once it listens."""
        asyncio.run(serve(self.options(), self.kubeconfig or default_kubeconfig(), on_ready))
