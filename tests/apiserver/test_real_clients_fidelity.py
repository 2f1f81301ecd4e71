"""Real kubectl 1.34 and Helm 3 and 4 where the embedded API server used to differ from a real one
(docs/cluster-fidelity.md): ``metadata.generation`` only where Kubernetes keeps it, server-side
printing (``Table``s), bare Pods that complete (``helm test``). One server per module."""
from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import get_helm  # scripts/ is on sys.path (tests/conftest.py)
import pytest
from conftest import HelmEnv, write_chart

from helm_ac.apiserver.server import Options, Running, running

from .test_real_clients_kubectl import read_lines


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    d = tmp_path_factory.mktemp("fidelity")
    (d / "behaviour.yaml").write_text("seconds: {Pod: 0.1, ReplicaSet: 0.1, Deployment: 0.1, Job: 0.1}\n"
                                      "rules: [{kind: Pod, name: '*-failing-test', fail: true}]\n")
    with running(Options(behaviour=d / "behaviour.yaml")) as r:
        yield r


def kubectl(server: Running, *args: str, code: int = 0, input_: str | None = None) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([str(get_helm.fetch_kubectl(quiet=True)), "--kubeconfig", str(server.kubeconfig), *args],
                       capture_output=True, text=True, timeout=60, check=False, input=input_)
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


def header(out: str) -> list[str]:
    """The column names of kubectl's first line (separated by two spaces or more)."""
    return re.split(r"\s{2,}", out.splitlines()[0].strip())


def rows(out: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in out.splitlines()[1:]]


WIDGET_CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {plural: widgets, singular: widget, kind: Widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Color, type: string, jsonPath: .spec.color, priority: 1}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
"""


def test_kubectl_get_prints_the_columns_of_kubernetes_printers(server: Running, web: str) -> None:
    """``kubectl get`` asks for Tables; the server's columns are those of a real cluster."""
    expected = {
        "deployments": ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "replicasets": ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        "pods": ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "services": ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
        "configmaps": ["NAME", "DATA", "AGE"],
        "serviceaccounts": ["NAME", "SECRETS", "AGE"],
        "roles": ["NAME", "CREATED AT"],  # no printer: the generic registry's default table
    }
    kubectl(server, "create", "configmap", "two", "-n", web, "--from-literal=a=1", "--from-literal=b=2")
    kubectl(server, "create", "role", "r", "-n", web, "--verb=get", "--resource=pods")
    kubectl(server, "create", "service", "clusterip", "front", "-n", web, "--tcp=80:8080")
    for kind, columns in expected.items():
        out = kubectl(server, "get", kind, "-n", web).stdout
        assert header(out) == columns, (kind, out)
    deployments = rows(kubectl(server, "get", "deployments", "-n", web).stdout)
    assert [r[:4] for r in deployments] == [["web", "1/1", "1", "1"]]
    pods = rows(kubectl(server, "get", "pods", "-n", web, "-l", "app=web").stdout)
    assert [r[1:4] for r in pods] == [["1/1", "Running", "0"]]
    assert ["two", "2"] in [r[:2] for r in rows(kubectl(server, "get", "configmaps", "-n", web).stdout)]
    svc = rows(kubectl(server, "get", "service", "front", "-n", web).stdout)[0]
    assert svc[1] == "ClusterIP" and re.fullmatch(r"10\.\d+\.\d+\.\d+", svc[2]) and svc[3:5] == ["<none>", "80/TCP"]
    wide = kubectl(server, "get", "pods", "-n", web, "-o", "wide").stdout
    assert header(wide) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE",
                            "READINESS GATES"]
    assert header(kubectl(server, "get", "deployments", "-n", web, "-o", "wide").stdout)[5:] == [
        "CONTAINERS", "IMAGES", "SELECTOR"]
    assert header(kubectl(server, "get", "namespaces").stdout) == ["NAME", "STATUS", "AGE"]
    every = kubectl(server, "get", "pods", "-A").stdout  # the NAMESPACE column comes from the rows' metadata
    assert header(every)[:2] == ["NAMESPACE", "NAME"] and any(r[0] == web for r in rows(every))


def test_custom_resources_print_their_additional_printer_columns(server: Running) -> None:
    kubectl(server, "apply", "-f", "-", input_=WIDGET_CRD)
    kubectl(server, "wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=30s")
    kubectl(server, "apply", "-f", "-", input_="apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"
                                               "spec: {size: 3, color: blue}\n")
    out = kubectl(server, "get", "widgets").stdout
    assert header(out) == ["NAME", "SIZE", "AGE"] and rows(out)[0][:2] == ["w", "3"]
    wide = kubectl(server, "get", "widgets", "-o", "wide").stdout
    assert header(wide) == ["NAME", "SIZE", "COLOR", "AGE"] and rows(wide)[0][:3] == ["w", "3", "blue"]
    assert header(kubectl(server, "get", "crd").stdout) == ["NAME", "CREATED AT"]


def test_get_watch_prints_rows_of_the_servers_tables(server: Running, web: str) -> None:
    kubectl(server, "create", "deployment", "watched", "-n", web, "--image=nginx", "--replicas=1")
    kubectl(server, "wait", "-n", web, "--for=condition=Available", "deployment/watched", "--timeout=30s")
    watcher = subprocess.Popen([str(get_helm.fetch_kubectl(quiet=True)), "--kubeconfig", str(server.kubeconfig),
                                "get", "deployment", "watched", "-n", web, "-w"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = read_lines(watcher, 2)
        assert header(first[0]) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        assert re.split(r"\s{2,}", first[1])[:4] == ["watched", "1/1", "1", "1"]
        kubectl(server, "scale", "-n", web, "deployment/watched", "--replicas=2")
        seen = [re.split(r"\s{2,}", line)[:4] for line in read_lines(watcher, 1)]
        while seen[-1][1] != "2/2":  # the controllers' status writes follow: READY 1/2, then 2/2
            seen += [re.split(r"\s{2,}", line)[:4] for line in read_lines(watcher, 1)]
        assert seen[0] == ["watched", "1/2", "1", "1"] and seen[-1] == ["watched", "2/2", "2", "2"]
        assert all(r[0] == "watched" for r in seen)  # rows only: the header is printed once
        assert watcher.poll() is None
    finally:
        watcher.kill()
        watcher.wait(timeout=10)


@pytest.mark.helm
def test_helm3_status_show_resources_prints_the_servers_tables(server: Running, helm_binaries: dict[str, str],
                                                               tmp_path: Path) -> None:
    """Helm 3's ``status --show-resources`` asks for Tables too (Helm 4 has no such flag)."""
    helm = HelmEnv("3", helm_binaries["3"], tmp_path / "home")
    chart = write_chart(tmp_path, "s", {
        "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: '1', b: '2'}\n",
        "svc.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec: {ports: [{port: 80}]}\n"})
    env = dict(helm.env, KUBECONFIG=str(server.kubeconfig))
    helm.run("install", "s", str(chart), "-n", "status3", "--create-namespace", env=env)
    out = helm.run("status", "s", "-n", "status3", "--show-resources", env=env).stdout
    resources = out.split("RESOURCES:\n", 1)[1].split("\n\n\n", 1)[0]
    blocks = {b.splitlines()[0]: b.splitlines()[1:] for b in resources.split("\n\n")}
    assert header(blocks["==> v1/ConfigMap"][0]) == ["NAME", "DATA", "AGE"]
    assert re.split(r"\s{2,}", blocks["==> v1/ConfigMap"][1])[:2] == ["cfg", "2"]
    assert header(blocks["==> v1/Service"][0]) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert re.split(r"\s{2,}", blocks["==> v1/Service"][1])[4] == "80/TCP"
