"""What real clients ask for that the embedded API server does not give: each test pins the current
behaviour exactly, so a change is noticed (and docs/cluster-fidelity.md updated). Pods run nothing:
empty logs, no exec or port-forward; no metrics API, no Events."""
from __future__ import annotations

import subprocess
from typing import Iterator

import get_helm  # scripts/ is on sys.path (tests/conftest.py)
import pytest

from helm_ac.apiserver.server import Options, Running, running

NOT_FOUND = "Error from server (NotFound): the server could not find the requested resource\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    d = tmp_path_factory.mktemp("limits")
    (d / "behaviour.yaml").write_text("seconds: {Pod: 0.1, ReplicaSet: 0.1, Deployment: 0.1}\n")
    with running(Options(behaviour=d / "behaviour.yaml")) as r:
        yield r


def kubectl(server: Running, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([str(get_helm.fetch_kubectl(quiet=True)), "--kubeconfig", str(server.kubeconfig), *args],
                       capture_output=True, text=True, timeout=60, check=False)
    assert p.returncode == code, f"kubectl {' '.join(args)} -> {p.returncode}: {p.stdout}{p.stderr}"
    return p


@pytest.fixture(scope="module")
def web(server: Running) -> str:
    kubectl(server, "create", "namespace", "limits")
    kubectl(server, "create", "deployment", "web", "-n", "limits", "--image=nginx", "--replicas=1")
    kubectl(server, "wait", "-n", "limits", "--for=condition=Available", "deployment/web", "--timeout=30s")
    return "limits"


def test_pods_log_is_empty(server: Running, web: str) -> None:
    """Simulated containers print nothing: pods/log is served, empty."""
    p = kubectl(server, "-n", web, "logs", "deployment/web")
    assert (p.stdout, p.stderr) == ("", "")


def test_pods_exec_is_not_served(server: Running, web: str) -> None:
    p = kubectl(server, "-n", web, "exec", "deployment/web", "--", "true", code=1)
    assert (p.stdout, p.stderr) == ("", NOT_FOUND)


def test_port_forward_is_not_served(server: Running, web: str) -> None:
    p = kubectl(server, "port-forward", "-n", web, "deployment/web", "0:80", code=1)
    assert p.stderr == "error: error upgrading connection: the server could not find the requested resource\n"


def test_no_metrics_api(server: Running, web: str) -> None:
    assert kubectl(server, "top", "pods", "-n", web, code=1).stderr == "error: Metrics API not available\n"


def test_no_events(server: Running, web: str) -> None:
    assert kubectl(server, "get", "events", "-n", web).stderr == f"No resources found in {web} namespace.\n"
