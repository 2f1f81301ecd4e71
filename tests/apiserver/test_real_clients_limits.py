"""What real clients ask for that the embedded API server does not give: each test pins the current
behaviour exactly, so a change is noticed (and docs/cluster-fidelity.md updated). Pods run nothing:
empty logs, no exec or port-forward; no metrics API, Events or server-side Tables;
a test Pod never completes (helm test)."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Iterator

import get_helm  # scripts/ is on sys.path (tests/conftest.py)
import pytest
from conftest import HelmEnv, write_chart

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


def test_no_server_side_tables_nor_events(server: Running, web: str) -> None:
    out = kubectl(server, "get", "deployment", "web", "-n", web).stdout
    assert out.splitlines()[0].split() == ["NAME", "AGE"]  # a real server adds READY, UP-TO-DATE, AVAILABLE
    assert kubectl(server, "get", "events", "-n", web).stderr == f"No resources found in {web} namespace.\n"


@pytest.mark.helm
def test_helm_test_pod_never_completes(server: Running, helm: HelmEnv, tmp_path: Path) -> None:
    """A test hook Pod is Running forever (the simulated Pods run no command): helm test times out."""
    chart = write_chart(tmp_path, "t", {
        "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: '1'}\n",
        "test.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: t-test\n  annotations: {helm.sh/hook: test}\n"
                     "spec:\n  restartPolicy: Never\n  containers: [{name: c, image: busybox, command: [wget, cfg]}]\n"})
    env = dict(helm.env, KUBECONFIG=str(server.kubeconfig))
    ns = f"helmtest-{helm.major}"
    helm.run("install", "t", str(chart), "-n", ns, "--create-namespace", "--wait", env=env)
    p = helm.run("test", "t", "-n", ns, "--timeout", "1s", env=env, check=False)
    assert p.returncode == 1 and "Phase:          Failed" in p.stdout
    assert p.stderr == {
        "3": "Error: 1 error occurred:\n\t* timed out waiting for the condition\n\n\n",
        "4": f"Error: resource Pod/{ns}/t-test not ready. status: InProgress, message: Pod in progress\n"
             "context deadline exceeded\n"}[helm.major]
