"""The embedded API server runs the controller image's Pods for real (helm_ac/apiserver/pods.py):
a Deployment of ``ghcr.io/helm-ac/controller`` gets a Pod (the simulated ReplicaSet), whose
container runs as a local ``python -m helm_ac.controller`` with a Pod's environment and its
ServiceAccount's token; the Pod's status, restarts and ``kubectl logs`` follow the process."""
from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from kubernetes import client

from helm_ac.apiserver import server as apiserver
from helm_ac.kube.config import connect

import get_helm  # scripts/ is on sys.path (tests/conftest.py)
from controllerkit import CHAIN, Server, cmap, objects_of, wait

IMAGE = "ghcr.io/helm-ac/controller:0.1.0"


@contextlib.contextmanager
def cluster(tmp_path: Path, **options: Any) -> Iterator[Server]:
    behaviour = tmp_path / "behaviour.yaml"
    behaviour.write_text(yaml.safe_dump({"jitter": 0, "seconds": {k: 0.2 for k in (
        "Pod", "ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "Job")}}))
    opts = apiserver.Options(audit_log=tmp_path / "audit.jsonl", readiness_log=tmp_path / "ready.jsonl",
                             behaviour=behaviour, pod_backoff=0.2, pod_logs=tmp_path / "pods", **options)
    with apiserver.running(opts) as srv:
        yield Server(srv, tmp_path)


def controller_deployment(name: str, args: list[str], sa: str = "default", image: str = IMAGE) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"serviceAccountName": sa, "terminationGracePeriodSeconds": 10,
                                           "containers": [{"name": "controller", "image": image, "args": args,
                                                           "env": [{"name": "POD", "valueFrom": {"fieldRef": {
                                                               "fieldPath": "metadata.name"}}}]}]}}}}


def core(s: Server) -> client.CoreV1Api:
    return client.CoreV1Api(connect(kubeconfig=str(s.srv.kubeconfig), env={}).api)


def pod_of(s: Server, app: str) -> dict[str, Any] | None:
    pods = core(s).list_namespaced_pod("default", label_selector=f"app={app}").to_dict()["items"]
    return pods[0] if pods else None


def pid_of(pod: dict[str, Any] | None) -> int | None:
    for c in ((pod or {}).get("status") or {}).get("container_statuses") or []:
        cid = c.get("container_id") or ""
        if cid.startswith("helm-ac://") and (c.get("state") or {}).get("running"):
            return int(cid.removeprefix("helm-ac://"))
    return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def phases(s: Server, release: str) -> dict[str, str]:
    return {n: (d.get("status") or {}).get("phase", "") for n, d in s.definitions(release).items()}


def test_a_controller_deployment_rolls_the_release_out_and_stops_with_the_server(tmp_path):
    with cluster(tmp_path) as s:
        a, g, defs, deps = objects_of("r", CHAIN)
        s.create(defs + deps)
        s.create([controller_deployment("ctl", ["--release", "r", "-n", "default"])])
        wait("every Definition Ready", lambda: set(phases(s, "r").values()) == {"Ready"})
        # one read per try: the one-shot process may exit (and be restarted) between two reads
        pod = wait("the controller's Pod running", lambda: (p := pod_of(s, "ctl")) and pid_of(p) and p)
        pid = pid_of(pod)
        assert pid is not None
        # the process acted as the Pod's ServiceAccount, with the token the server gave the Pod
        users = {r["user"] for r in s.audit() if r["resource"] == "definitions"}
        assert "system:serviceaccount:default:default" in users
        # its output is the Pod's log (the last record of the first run: the rollout finished)
        name = pod["metadata"]["name"]
        logs = wait("the log", lambda: "rollout finished" in (text := core(s).read_namespaced_pod_log(
            name, "default")) and text)
        assert '"release":"r"' in logs.replace(" ", "")
        # the one-shot controller exits 0 and, restartPolicy Always, is started again
        st = wait("a restart", lambda: c if (c := (pod_of(s, "ctl") or {})["status"]["container_statuses"][0])
                  ["restart_count"] >= 1 else None)
        assert st["last_state"]["terminated"]["exit_code"] == 0
        assert st["last_state"]["terminated"]["reason"] == "Completed"
        running = [p for p in (pid_of(pod_of(s, "ctl")),) if p]
    # the server's stop ends the processes it started: none is left behind
    for p in [pid, *running]:
        assert wait(f"process {p} gone", lambda: not alive(p), 10)


def test_deleting_the_deployment_stops_the_controller(tmp_path):
    # an object that takes a minute: the controller is mid-rollout when its Deployment goes
    with cluster(tmp_path, rules=["Deployment/default/slow=60"]) as s:
        slow = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "slow"},
                "spec": {"selector": {"matchLabels": {"app": "slow"}}, "template": {
                    "metadata": {"labels": {"app": "slow"}},
                    "spec": {"containers": [{"name": "c", "image": "example/app:1"}]}}}}
        a, g, defs, deps = objects_of("r", [cmap("a"), slow])
        s.create(defs + deps)
        # the Pod's name for the Lease identity: env from a fieldRef, expanded in the args by the kubelet
        s.create([controller_deployment("ctl", ["--release", "r", "-n", "default", "--identity", "$(POD)"])])
        wait("the slow Deployment applied", lambda: phases(s, "r").get("deployment-slow") == "WaitingReady")
        pod = pod_of(s, "ctl")
        pid = pid_of(pod)
        assert pid is not None and alive(pid)
        lease = client.CoordinationV1Api(connect(kubeconfig=str(s.srv.kubeconfig), env={}).api)
        assert lease.read_namespaced_lease("helm-ac-r", "default").spec.holder_identity == pod["metadata"]["name"]
        # kubectl logs -f follows the running controller's output until its process ends
        follow = subprocess.Popen([str(get_helm.fetch_kubectl(quiet=True)), "--kubeconfig", str(s.srv.kubeconfig),
                                   "-n", "default", "logs", "-f", pod["metadata"]["name"]],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert follow.stdout is not None
            assert follow.stdout.readline()  # what the controller wrote so far: kubectl is following now
            apps = client.AppsV1Api(connect(kubeconfig=str(s.srv.kubeconfig), env={}).api)
            apps.delete_namespaced_deployment("ctl", "default")
            out, err = follow.communicate(timeout=20)
        finally:
            follow.kill()
        assert follow.returncode == 0, err
        assert "stopped by SIGTERM" in out  # written after kubectl started following
        wait("the process stopped", lambda: not alive(pid), 20)
        wait("the Pod gone", lambda: pod_of(s, "ctl") is None, 20)
        log = next((tmp_path / "pods").glob(f"default_{pod['metadata']['name']}_*/controller/0.log")).read_text()
        assert "stopped by SIGTERM" in log  # it gave its Lease up: the token still worked in the grace period
        assert not lease.read_namespaced_lease("helm-ac-r", "default").spec.holder_identity


ROLE_RULES = [
    {"apiGroups": ["appcontroller.k8s"], "resources": ["definitions", "dependencies", "releasegraphs"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["appcontroller.k8s"], "resources": ["definitions/status", "releasegraphs/status"],
     "verbs": ["get", "patch", "update"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
]


def rbac_objects(sa: str) -> list[dict[str, Any]]:
    return [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": sa},
             "rules": ROLE_RULES},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": sa},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
             "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": "default"}]}]


def test_with_rbac_the_controller_has_its_roles_rights_and_no_more(tmp_path):
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}}
    with cluster(tmp_path, rbac=True) as s:
        s.create(rbac_objects("ctl"))
        a, g, defs, deps = objects_of("r", [*CHAIN, secret])
        s.create(defs + deps)
        s.create([controller_deployment("ctl", ["--release", "r", "-n", "default"], sa="ctl")])
        done = wait("the rollout's end", lambda: (p := phases(s, "r")) and "" not in p.values() and all(
            v in ("Ready", "Failed") for v in p.values()) and p)
        assert done == {"configmap-a": "Ready", "configmap-b": "Ready", "configmap-c": "Ready",
                        "configmap-d": "Ready", "secret-s": "Failed"}
        assert "403" in s.definitions("r")["secret-s"]["status"]["message"]
        mine = [r for r in s.audit() if r["user"] == "system:serviceaccount:default:ctl"]
        assert {(r["resource"], r["code"]) for r in mine if r["verb"] == "patch" and not r["subresource"]} >= {
            ("configmaps", 201), ("secrets", 403)}


def test_a_crashing_controller_is_restarted_with_back_off(tmp_path):
    with cluster(tmp_path, rbac=True) as s:
        s.create(rbac_objects("ctl"))
        # the release of a namespace its Role does not reach: refused, exit 2, again and again
        s.create([controller_deployment("ctl", ["--release", "r", "-n", "elsewhere"], sa="ctl")])

        def crashed() -> Any:
            pod = pod_of(s, "ctl")
            st = ((pod or {}).get("status") or {}).get("container_statuses") or [{}]
            return pod if st[0].get("restart_count", 0) >= 2 and (st[0].get("state") or {}).get("waiting") else None

        pod = wait("two restarts", crashed)
        st = pod["status"]["container_statuses"][0]
        assert st["last_state"]["terminated"]["exit_code"] == 2
        assert st["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        assert "back-off" in st["state"]["waiting"]["message"]
        assert pod["status"]["phase"] == "Running" and not st["ready"]
        ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "False"
        previous = core(s).read_namespaced_pod_log(pod["metadata"]["name"], "default", previous=True)
        assert "Error:" in previous and "elsewhere" in previous
        # kubectl shows it as for a crash-looping container: its table row and the container's output
        kubectl = [str(get_helm.fetch_kubectl(quiet=True)), "--kubeconfig", str(s.srv.kubeconfig), "-n", "default"]
        row = wait("the CrashLoopBackOff row", lambda: next((line.split() for line in subprocess.run(
            [*kubectl, "get", "pods", "--no-headers"], capture_output=True, text=True, check=True).stdout.splitlines()
            if "CrashLoopBackOff" in line), None), 20)
        assert row[0] == pod["metadata"]["name"] and row[1] == "0/1" and int(row[3]) >= 2
        out = subprocess.run([*kubectl, "logs", "deployment/ctl"], capture_output=True, text=True)
        assert out.returncode == 0 and "elsewhere" in out.stdout, out.stderr
        refused = [r for r in s.audit() if r["user"] == "system:serviceaccount:default:ctl" and r["code"] == 403]
        assert refused and all(r["namespace"] == "elsewhere" for r in refused)


def test_a_command_that_is_not_the_controller_is_refused(tmp_path, caplog):
    caplog.set_level("WARNING", logger="helm_ac.apiserver.pods")
    with cluster(tmp_path) as s:
        dep = controller_deployment("ctl", [])
        dep["spec"]["template"]["spec"]["containers"][0]["command"] = ["sh", "-c", "echo hi"]
        s.create([dep])
        pod = wait("the refusal", lambda: (p := pod_of(s, "ctl")) and (
            ((p["status"] or {}).get("container_statuses") or [{}])[0].get("state") or {}).get("waiting", {}).get(
            "reason") == "CreateContainerError" and p)
        st = pod["status"]["container_statuses"][0]
        assert "python -m helm_ac.controller" in st["state"]["waiting"]["message"]
        assert "sh -c" in st["state"]["waiting"]["message"]
        assert pod["status"]["phase"] == "Pending"
    # and the server says so in its log, naming the Pod
    assert any("CreateContainerError" in r.getMessage() and "sh -c echo hi" in r.getMessage()
               and pod["metadata"]["name"] in r.getMessage() for r in caplog.records)


def test_other_pods_stay_simulated(tmp_path):
    with cluster(tmp_path) as s:
        dep = controller_deployment("web", [], image="example/app:1")
        s.create([dep])
        pod = wait("a simulated Pod ready", lambda: (p := pod_of(s, "web")) and any(
            c["type"] == "Ready" and c["status"] == "True" for c in (p["status"] or {}).get("conditions") or []) and p)
        assert pod["status"]["container_statuses"][0]["container_id"].startswith("simulated://")
        assert core(s).read_namespaced_pod_log(pod["metadata"]["name"], "default") == ""


def _has_health_port() -> bool:
    from helm_ac.controller import __main__ as entry

    return "--health-port" in entry.parser().format_help()


@pytest.mark.skipif(not _has_health_port(), reason="the controller has no --health-port on this branch (the "
                                                   "watch part adds it)")
def test_readiness_follows_the_controllers_readyz_on_a_port_of_its_own(tmp_path):
    import urllib.request

    with cluster(tmp_path) as s:
        dep = controller_deployment("ctl", ["--release", "r", "-n", "default", "--watch", "--health-port", "8080"])
        dep["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {
            "httpGet": {"path": "/readyz", "port": 8080}, "periodSeconds": 1}
        s.create([dep])
        pod = wait("the Pod Ready", lambda: (p := pod_of(s, "ctl")) and any(
            c["type"] == "Ready" and c["status"] == "True" for c in (p["status"] or {}).get("conditions") or []) and p)
        pid = pid_of(pod)
        assert pid is not None
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        port = argv[argv.index(b"--health-port") + 1].decode()
        assert port != "8080"  # a port of its own: no network namespace here
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
            assert resp.status == 200


def test_a_job_of_the_controller_image_runs_once_and_completes(tmp_path):
    """restartPolicy Never (the teardown hook's Job): the process runs once, the Pod ends Succeeded
    with its exit code, and the (simulated) Job controller counts it."""
    with cluster(tmp_path) as s:
        a, g, defs, deps = objects_of("r", CHAIN)
        s.create(defs + deps)
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"}, "spec": {
            "backoffLimit": 0, "template": {"metadata": {"labels": {"app": "once"}}, "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "controller", "image": IMAGE, "args": ["--release", "r", "-n", "default"]}]}}}}
        s.create([job])
        batch = client.BatchV1Api(connect(kubeconfig=str(s.srv.kubeconfig), env={}).api)
        wait("the Job complete", lambda: (batch.read_namespaced_job("once", "default").status.succeeded or 0) == 1)
        pod = pod_of(s, "once")
        assert pod is not None and pod["status"]["phase"] == "Succeeded"
        st = pod["status"]["container_statuses"][0]
        assert st["state"]["terminated"]["exit_code"] == 0 and st["restart_count"] == 0
        assert set(phases(s, "r").values()) == {"Ready"}
