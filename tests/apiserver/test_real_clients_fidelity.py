"""Real kubectl 1.34 and Helm 3 and 4 where the embedded API server used to differ from a real one
(docs/cluster-fidelity.md): ``metadata.generation`` only where Kubernetes keeps it, server-side
printing (``Table``s), bare Pods that complete (``helm test``). One server per module."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Iterator

import get_helm  # scripts/ is on sys.path (tests/conftest.py)
import pytest

from helm_ac.apiserver.server import Options, Running, running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    d = tmp_path_factory.mktemp("fidelity")
    (d / "behaviour.yaml").write_text("seconds: {Pod: 0.1, ReplicaSet: 0.1, Deployment: 0.1, Job: 0.1}\n")
    with running(Options(behaviour=d / "behaviour.yaml")) as r:
        yield r


def kubectl(server: Running, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([str(get_helm.fetch_kubectl(quiet=True)), "--kubeconfig", str(server.kubeconfig), *args],
                       capture_output=True, text=True, timeout=60, check=False)
    assert p.returncode == code, f"kubectl {' '.join(args)} -> {p.returncode}: {p.stdout}{p.stderr}"
    return p


def get_json(server: Running, *args: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(kubectl(server, "get", *args, "-o", "json").stdout)
    return out


@pytest.fixture(scope="module")
def web(server: Running) -> str:
    kubectl(server, "create", "namespace", "fid")
    kubectl(server, "create", "deployment", "web", "-n", "fid", "--image=nginx", "--replicas=1")
    kubectl(server, "wait", "-n", "fid", "--for=condition=Available", "deployment/web", "--timeout=30s")
    return "fid"


def test_generation_only_where_kubernetes_sets_it(server: Running, web: str) -> None:
    kubectl(server, "create", "configmap", "cfg", "-n", web, "--from-literal=a=1")
    kubectl(server, "create", "secret", "generic", "sec", "-n", web, "--from-literal=a=1")
    kubectl(server, "create", "service", "clusterip", "web", "-n", web, "--tcp=80:80")
    for kind in ("configmap/cfg", "secret/sec", "service/web", f"namespace/{web}"):
        assert "generation" not in get_json(server, "-n", web, kind)["metadata"], kind
    kubectl(server, "patch", "-n", web, "service/web", "-p", '{"spec": {"ports": [{"port": 81, "targetPort": 80}]}}')
    assert "generation" not in get_json(server, "-n", web, "service/web")["metadata"]
    dep = get_json(server, "-n", web, "deployment/web")
    assert dep["metadata"]["generation"] == dep["status"]["observedGeneration"] == 1
    pod = get_json(server, "-n", web, "pods")["items"][0]
    assert pod["metadata"]["generation"] == 1
