"""The `pod` part: the in-cluster configuration's hooks (kube/config.py), the pure pieces of the
embedded server's kubelet for the controller image (apiserver/pods.py), `helm ac controller`, and
the Dockerfile. (The Pods running for real: tests/apiserver/test_pods_run.py.)"""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from helm_ac.apiserver import pods
from helm_ac.apiserver import server as apiserver
from helm_ac.kube import config as kubeconfig
from helm_ac.kube.config import KubeConfigError, connect

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- kube/config.py: the in-cluster hooks


def _token(srv: apiserver.Running, sa: str = "default") -> str:
    core = client.CoreV1Api(connect(kubeconfig=str(srv.kubeconfig), env={}).api)
    for _ in range(100):  # the namespace's default ServiceAccount comes from a (simulated) controller
        try:
            core.read_namespaced_service_account(sa, "default")
            break
        except client.ApiException:
            import time
            time.sleep(0.05)
    tr = core.create_namespaced_service_account_token(sa, "default", {"spec": {}})
    return str(tr.status.token)


def _whoami(api: client.ApiClient) -> str:
    review = client.AuthenticationV1Api(api).create_self_subject_review(
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    return str(review.status.user_info.username)


def test_the_serviceaccount_directory_comes_from_the_hook(tmp_path):
    with apiserver.running() as srv:
        sa = tmp_path / "sa"
        sa.mkdir()
        (sa / "token").write_text(_token(srv))
        ca = yaml.safe_load(srv.kubeconfig.read_text())
        (sa / "ca.crt").write_bytes(base64.b64decode(ca["clusters"][0]["cluster"]["certificate-authority-data"]))
        (sa / "namespace").write_text("apps")
        host, port = srv.url.removeprefix("https://").rsplit(":", 1)
        env = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port, "HOME": str(tmp_path),
               kubeconfig.SERVICE_ACCOUNT_DIR_ENV: str(sa)}
        conn = connect(env=env)
        assert conn.source == "in-cluster" and conn.namespace == "apps"
        assert _whoami(conn.api) == "system:serviceaccount:default:default"
        # without the hook: the standard path, which this machine has not
        with pytest.raises(KubeConfigError, match="/var/run/secrets/kubernetes.io/serviceaccount"):
            connect(env={k: v for k, v in env.items() if k != kubeconfig.SERVICE_ACCOUNT_DIR_ENV})


def test_in_cluster_over_plain_http(tmp_path):
    with apiserver.running(apiserver.Options(tls=False)) as srv:
        sa = tmp_path / "sa"
        sa.mkdir()
        (sa / "token").write_text(_token(srv))  # no ca.crt: there is no TLS
        host, port = srv.url.removeprefix("http://").rsplit(":", 1)
        env = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port, "HOME": str(tmp_path),
               kubeconfig.SERVICE_ACCOUNT_DIR_ENV: str(sa), kubeconfig.SCHEME_ENV: "http"}
        conn = connect(env=env)
        assert conn.api.configuration.host == srv.url
        assert _whoami(conn.api) == "system:serviceaccount:default:default"  # the token went along
        with pytest.raises(KubeConfigError, match="HELM_AC_KUBERNETES_SCHEME=ftp"):
            connect(env={**env, kubeconfig.SCHEME_ENV: "ftp"})


def test_the_kubelet_names_the_variables_config_reads():
    assert (pods.SERVICE_ACCOUNT_DIR_ENV, pods.SCHEME_ENV) == (kubeconfig.SERVICE_ACCOUNT_DIR_ENV,
                                                               kubeconfig.SCHEME_ENV)


# ---------------------------------------------------------------- apiserver/pods.py: the pure pieces


@pytest.mark.parametrize("image,ours", [
    ("ghcr.io/helm-ac/controller:0.1.0", True), ("ghcr.io/helm-ac/controller", True),
    ("ghcr.io/helm-ac/controller@sha256:" + "a" * 64, True), ("ghcr.io/helm-ac/controller:1@sha256:" + "b" * 64, True),
    ("ghcr.io/helm-ac/controller-other:1", False), ("localhost:5000/helm-ac/controller:1", False),
    ("example/app:1", False)])
def test_the_controller_image_is_recognised_by_its_repository(image, ours):
    pod = {"spec": {"containers": [{"name": "c", "image": image}]}}
    assert pods.is_controller_pod(pod) is ours


def test_the_annotation_marks_a_controller_pod_of_any_image():
    pod = {"metadata": {"annotations": {pods.CONTROLLER_ANNOTATION: "true"}},
           "spec": {"containers": [{"name": "c", "image": "my.registry/ac:dev"}]}}
    assert pods.is_controller_pod(pod)
    pod["metadata"]["annotations"][pods.CONTROLLER_ANNOTATION] = "false"
    assert not pods.is_controller_pod(pod)


def test_kubelet_variable_expansion():
    env = {"A": "x", "B": "$(A)"}
    assert pods.expand("$(A)-$(NOPE)-$$(A)-$$", env) == "x-$(NOPE)-$(A)-$"


def test_the_command_is_the_entry_point_with_args_and_python_is_this_interpreter():
    c = {"name": "c", "args": ["--release", "$(REL)", "-n", "ns"]}
    assert pods.container_argv(c, {"REL": "r"}, executable="/x/python") == [
        "/x/python", "-m", "helm_ac.controller", "--release", "r", "-n", "ns"]
    c = {"name": "c", "command": ["/usr/local/bin/python3.11", "-m", "helm_ac.controller"], "args": ["--release", "r"]}
    assert pods.container_argv(c, {}) == [sys.executable, "-m", "helm_ac.controller", "--release", "r"]


@pytest.mark.parametrize("command", [["sh", "-c", "python -m helm_ac.controller"], ["python", "-c", "print(1)"],
                                     ["python", "-m", "helm_ac"], ["pythonw", "-m", "helm_ac.controller"]])
def test_any_other_command_is_refused(command):
    with pytest.raises(pods.ContainerError) as e:
        pods.container_argv({"name": "ctl", "command": command}, {})
    assert e.value.reason == "CreateContainerError"
    assert "python -m helm_ac.controller" in e.value.message and "ctl" in e.value.message


def test_health_port_found_in_both_spellings():
    assert pods.health_port(["x", "--health-port", "8080"]) == (2, 8080)
    assert pods.health_port(["x", "--health-port=9"]) == (1, 9)
    assert pods.health_port(["x", "--release", "r"]) is None


def test_the_environment_of_a_container():
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "a"}},
           "spec": {"serviceAccountName": "sa", "nodeName": "n1"}}
    objs = {("ConfigMap", "cm"): {"data": {"k": "v", "other": "o"}},
            ("Secret", "s"): {"data": {"pw": base64.b64encode(b"hunter2").decode()}}}
    c = {"name": "c", "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "$(A)-$(HOSTNAME)"},
                 {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                 {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                 {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                 {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
                 {"name": "K", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
                 {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
                 {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "x", "optional": True}}}]}
    env = pods.container_env(pod, c, {"HOSTNAME": "p"}, lambda kind, name: objs.get((kind, name)))
    assert env == {"HOSTNAME": "p", "CM_k": "v", "CM_other": "o", "A": "1", "B": "1-p", "POD": "p", "NS": "ns",
                   "APP": "a", "SA": "sa", "K": "v", "PW": "hunter2"}
    with pytest.raises(pods.ContainerError, match='secret "gone" not found'):
        pods.container_env(pod, {"name": "c", "env": [{"name": "X", "valueFrom": {
            "secretKeyRef": {"name": "gone", "key": "x"}}}]}, {}, lambda kind, name: None)
    with pytest.raises(pods.ContainerError, match="resourceFieldRef"):
        pods.container_env(pod, {"name": "c", "env": [{"name": "X", "valueFrom": {
            "resourceFieldRef": {"resource": "limits.cpu"}}}]}, {}, lambda kind, name: None)


# ---------------------------------------------------------------- helm ac cluster --pod-logs, helm ac controller


def _cli(*args: str, **kw: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "helm_ac", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT, **kw)


def test_helm_ac_cluster_runs_controller_pods_logs_them_and_stops_them(tmp_path):
    kc, logs = tmp_path / "kc", tmp_path / "logs"
    p = _cli("cluster", "--kubeconfig", str(kc), "--pod-logs", str(logs))
    pid = None
    try:
        assert p.stdout is not None
        p.stdout.readline()
        api = connect(kubeconfig=str(kc), env={}).api
        labels = {"app": "ctl"}
        client.AppsV1Api(api).create_namespaced_deployment("default", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ctl"},
            "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
                # a controller that waits: the Lease of its release is held by someone else for a minute
                "containers": [{"name": "c", "image": pods.CONTROLLER_IMAGE + ":dev",
                                "args": ["--release", "r", "-n", "default"]}]}}}})
        client.CoordinationV1Api(api).create_namespaced_lease("default", {
            "metadata": {"name": "helm-ac-r"}, "spec": {"holderIdentity": "other", "leaseDurationSeconds": 60}})
        for _ in range(300):
            items = client.CoreV1Api(api).list_namespaced_pod("default", label_selector="app=ctl").items
            cid = items[0].status.container_statuses[0].container_id if items and items[0].status and \
                items[0].status.container_statuses else None
            if cid and cid.startswith("helm-ac://"):
                pid = int(cid.removeprefix("helm-ac://"))
                break
            time.sleep(0.1)
        assert pid is not None
        assert list(logs.glob(f"default_{items[0].metadata.name}_*/c/0.log"))
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    with pytest.raises(ProcessLookupError):  # stopped with the server, and reaped
        os.kill(pid, 0)


def test_pod_logs_must_be_a_directory(tmp_path):
    (tmp_path / "f").write_text("")
    p = _cli("cluster", "--kubeconfig", str(tmp_path / "kc"), "--pod-logs", str(tmp_path / "f" / "logs"))
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2, err
    assert f"--pod-logs {tmp_path / 'f' / 'logs'}: {tmp_path / 'f'} is not a directory" in err
    assert "Traceback" not in err


def test_helm_ac_controller_is_the_controllers_entry_point(tmp_path):
    p = _cli("controller", "--help")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert out.startswith("usage: helm-ac controller ") and "--release RELEASE" in out and "--lease-duration" in out
    p = _cli("controller", "--release", "r", "--kubeconfig", str(tmp_path / "none"))
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and f"kubeconfig {tmp_path / 'none'}: no such file" in err, err
    p = _cli("controller", "-n", "x")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and "helm-ac controller: error: the following arguments are required: --release" in err
    p = _cli("--help")
    out, err = p.communicate(timeout=60)
    assert re.search(r"^  controller\s+Roll one release out in order: the controller\.$", out, re.M), out


# ---------------------------------------------------------------- the Dockerfile (no container engine here)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile: comments dropped, continuation lines joined."""
    out, buf = [], ""
    for line in text.splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        buf += line.rstrip()
        if buf.endswith("\\"):
            buf = buf[:-1] + " "
            continue
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def test_the_dockerfile_builds_the_controller_image():
    steps = _instructions((ROOT / "Dockerfile").read_text())
    froms = [a for i, a in steps if i == "FROM"]
    assert froms and all(re.fullmatch(r"python:3\.11-slim(@sha256:[0-9a-f]{64})?( AS \w+)?", f) for f in froms), froms
    final = steps[max(n for n, (i, _) in enumerate(steps) if i == "FROM"):]
    users = [a for i, a in final if i == "USER"]
    assert users, "the final stage names its user"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) == 65532 and (not gid or gid.isdigit())  # numeric, not root
    entry = [a for i, a in final if i == "ENTRYPOINT"]
    assert len(entry) == 1 and json.loads(entry[0]) == list(pods.ENTRYPOINT)  # exec form: no shell
    assert not any(i == "CMD" for i, _ in final)  # the Pod's args are the controller's flags
    installs = [a for i, a in steps if i == "RUN" and "pip install" in a]
    assert len(installs) == 1 and installs[0].split()[-1] == "." and "[test]" not in installs[0]
    # what pip needs to build the package is copied, and not excluded by .dockerignore
    copied = {src for i, a in steps if i == "COPY" and not a.startswith("--from") for src in a.split()[:-1]}
    assert {"pyproject.toml", "README.md", "helm_ac"} <= copied
    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*" and {"!pyproject.toml", "!README.md", "!helm_ac/"} <= set(ignore)


def test_the_image_the_kubelet_recognises_is_the_one_the_dockerfile_names():
    text = (ROOT / "Dockerfile").read_text()
    assert f"docker build -t {pods.CONTROLLER_IMAGE}:" in text


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period():
    import asyncio

    async def main() -> int:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                  "print('up', flush=True)\ntime.sleep(60)",
            stdout=asyncio.subprocess.PIPE, start_new_session=True)
        assert proc.stdout is not None
        await proc.stdout.readline()
        pod = pods._Pod.__new__(pods._Pod)  # only what terminate() uses: its containers and stop state
        pod.containers = [pods._Container({"name": "c"}, proc=proc)]
        pod.stopping, pod.deleting, pod._killers = asyncio.Event(), False, []
        pod.terminate(0.2)
        return await asyncio.wait_for(proc.wait(), 30)

    assert asyncio.run(main()) == -signal.SIGKILL


def test_the_controllers_warnings_are_json_lines_like_its_other_logs():
    """The status writer's and the Lease's warnings went through Python logging as plain text among
    the JSON lines; while the controller runs they are JSON records too, and only those."""
    import json
    import logging

    from helm_ac.controller.__main__ import json_logging

    lines: list[str] = []
    with json_logging(lines.append, "wp"):
        logging.getLogger("helm_ac.controller").warning("status of %s %s/%s not written: %s", "Definition",
                                                        "default", "wp-a", "500: oops")
        logging.getLogger("helm_ac.controller").debug("not this")
    logging.getLogger("helm_ac.controller").warning("after: not ours")
    (rec,) = [json.loads(line) for line in lines]
    assert rec["level"] == "warning" and rec["release"] == "wp" and rec["logger"] == "helm_ac.controller"
    assert rec["msg"] == "status of Definition default/wp-a not written: 500: oops" and rec["time"].endswith("Z")
    assert logging.getLogger("helm_ac").handlers == [] and logging.getLogger("helm_ac").propagate
