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
from conftest import HelmEnv, write_chart

from helm_ac.apiserver.server import Options, Running, running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    d = tmp_path_factory.mktemp("fidelity")
    (d / "behaviour.yaml").write_text("seconds: {Pod: 0.1, ReplicaSet: 0.1, Deployment: 0.1, Job: 0.1}\n"
                                      "rules: [{kind: Pod, name: '*-failing-test', fail: true}]\n")
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


TEST_POD = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  annotations: {{helm.sh/hook: test}}\n"
            "spec:\n  restartPolicy: Never\n  containers: [{{name: c, image: busybox, command: [wget, cfg]}}]\n")


@pytest.mark.helm
def test_helm_test_passes_and_fails_with_the_pods_exit(server: Running, helm: HelmEnv, tmp_path: Path) -> None:
    """A test hook Pod runs, then Succeeded (exit code 0): ``helm test`` passes; with a failing rule
    it ends Failed (exit code 1): ``helm test`` fails, as on a real cluster."""
    ns = f"helmtest-{helm.major}"
    env = dict(helm.env, KUBECONFIG=str(server.kubeconfig))
    for release, pod in (("t", "t-test"), ("f", "f-failing-test")):
        chart = write_chart(tmp_path, release, {
            "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg-" + release + "}\ndata: {a: '1'}\n",
            "test.yaml": TEST_POD.format(name=pod)})
        helm.run("install", release, str(chart), "-n", ns, "--create-namespace", "--wait", env=env)
    p = helm.run("test", "t", "-n", ns, "--timeout", "60s", env=env, check=False)
    assert (p.returncode, p.stderr) == (0, ""), p.stdout + p.stderr
    assert "TEST SUITE:     t-test" in p.stdout and "Phase:          Succeeded" in p.stdout
    pod = get_json(server, "-n", ns, "pod/t-test")["status"]
    assert pod["phase"] == "Succeeded"
    assert pod["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    p = helm.run("test", "f", "-n", ns, "--timeout", "60s", env=env, check=False)
    assert p.returncode == 1 and "Phase:          Failed" in p.stdout
    assert p.stderr == {
        "3": "Error: 1 error occurred:\n\t* pod f-failing-test failed\n\n\n",
        "4": f"Error: resource Pod/{ns}/f-failing-test not ready. status: Failed, message: pod f-failing-test failed\n",
    }[helm.major]
    assert get_json(server, "-n", ns, "pod/f-failing-test")["status"]["phase"] == "Failed"
