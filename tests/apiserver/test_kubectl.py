"""Real kubectl 1.34 (from the Helm 4 wheel, scripts/get_helm.py kubectl) against the API server."""
from __future__ import annotations

import json
import os
import selectors
import subprocess
from pathlib import Path
from typing import Iterator

import get_helm  # scripts/ is on sys.path (tests/conftest.py)
import pytest

from helm_ac.apiserver.server import Options, running

MANIFEST = """\
apiVersion: v1
kind: Namespace
metadata:
  name: kctl
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: kctl
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: kctl
spec:
  selector: {app: web}
  ports:
  - port: 80
"""


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    binary = str(get_helm.fetch_kubectl(quiet=True))
    with running(Options(bookmark_interval=0.5)) as r:
        yield binary, r.kubeconfig


def run(kubectl: tuple[str, Path], *args: str, stdin: str | None = None) -> str:
    binary, kubeconfig = kubectl
    p = subprocess.run([binary, "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True,
                       input=stdin, timeout=120)
    assert p.returncode == 0, f"kubectl {' '.join(args)}: {p.stderr}"
    return p.stdout


def test_apply_server_side_get_wait_delete(kubectl: tuple[str, Path]) -> None:
    out = run(kubectl, "apply", "--server-side", "-f", "-", stdin=MANIFEST)
    assert out.splitlines() == ["namespace/kctl serverside-applied", "deployment.apps/web serverside-applied",
                                "service/web serverside-applied"]
    run(kubectl, "wait", "-n", "kctl", "--for=condition=Available", "deployment/web", "--timeout=60s")
    dep = json.loads(run(kubectl, "get", "-n", "kctl", "deployment", "web", "-o", "json", "--show-managed-fields"))
    assert dep["status"]["readyReplicas"] == 2
    assert [m["manager"] for m in dep["metadata"]["managedFields"] if m["operation"] == "Apply"] == ["kubectl"]
    table = run(kubectl, "get", "-n", "kctl", "pods")  # the server answers a Table with the Pod printer's columns
    assert table.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [line.split()[1:3] for line in table.splitlines()[1:]] == [["1/1", "Running"], ["1/1", "Running"]]
    assert json.loads(run(kubectl, "get", "-n", "kctl", "svc", "web", "-o", "json"))["spec"]["clusterIP"]
    # applied again unchanged: nothing to do, no conflict
    assert "serverside-applied" in run(kubectl, "apply", "--server-side", "-f", "-", stdin=MANIFEST)
    out = run(kubectl, "delete", "-n", "kctl", "deployment", "web", "--wait=true", "--timeout=60s")
    assert 'deployment.apps "web" deleted' in out
    assert run(kubectl, "get", "-n", "kctl", "replicasets", "-o", "name") == ""
    run(kubectl, "delete", "namespace", "kctl", "--wait=true", "--timeout=60s")
    p = subprocess.run([kubectl[0], "--kubeconfig", str(kubectl[1]), "get", "namespace", "kctl"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and 'namespaces "kctl" not found' in p.stderr


def test_get_watch(kubectl: tuple[str, Path]) -> None:
    binary, kubeconfig = kubectl
    run(kubectl, "create", "configmap", "watched", "--from-literal=k=v1")
    w = subprocess.Popen([binary, "--kubeconfig", str(kubeconfig), "get", "configmaps", "watched", "-w",
                          "-o", "custom-columns=NAME:.metadata.name,DATA:.data.k"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    lines = Lines(w)
    try:
        assert lines.next() == ["NAME", "DATA"]
        assert lines.next() == ["watched", "v1"]  # listed: the watch starts from the list's resourceVersion
        run(kubectl, "patch", "configmap", "watched", "-p", '{"data":{"k":"v2"}}')
        assert lines.next() == ["watched", "v2"]
    finally:
        w.terminate()
        w.communicate(timeout=30)


class Lines:
    """The lines a process prints, each waited for at most ``seconds`` (never a hung test)."""

    def __init__(self, p: subprocess.Popen[bytes]) -> None:
        assert p.stdout is not None
        self.fd = p.stdout.fileno()
        self.buf = b""

    def next(self, seconds: float = 30) -> list[str]:
        with selectors.DefaultSelector() as sel:
            sel.register(self.fd, selectors.EVENT_READ)
            while b"\n" not in self.buf:
                assert sel.select(seconds), f"nothing more printed (so far: {self.buf!r})"
                chunk = os.read(self.fd, 65536)
                assert chunk, f"the process ended (so far: {self.buf!r})"
                self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode().split()


def test_scale_and_auth(kubectl: tuple[str, Path]) -> None:
    run(kubectl, "create", "deployment", "scaled", "--image=nginx:1", "--replicas=1")
    assert run(kubectl, "scale", "deployment", "scaled", "--replicas=3").strip() == "deployment.apps/scaled scaled"
    run(kubectl, "wait", "--for=jsonpath={.status.readyReplicas}=3", "deployment/scaled", "--timeout=60s")
    assert run(kubectl, "get", "deployment", "scaled", "-o", "jsonpath={.spec.replicas}") == "3"
    assert run(kubectl, "auth", "can-i", "create", "deployments").strip() == "yes"
    assert "kubernetes-admin" in run(kubectl, "auth", "whoami")
