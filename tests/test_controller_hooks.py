"""The `gate` part (issue 11 point 2, docs/hooks.md): Helm hooks keep their meaning when the
controller creates the release's objects in order. The gate Job (controller_manifests.gate_job),
the teardown hook's weight, the Deployment's Lease identity; then real Helm 3 and 4 installing a
chart with hooks through the post-renderer with `--wait --wait-for-jobs` on the embedded server,
whose kubelet runs the controller's and the gate's Pods as processes."""
from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from controllerkit import Server, cmap, objects_of, wait
from test_controller_postrender import plugin_root, post_renderer_args

from helm_ac.actions.postrender import HELM4_FILENAME
from helm_ac.apiserver import pods
from helm_ac.apiserver import server as apiserver
from helm_ac.extension import spec
from helm_ac.output import controller_manifests as cmf

DIGEST = "0123456789abcdef" * 4


# ---------------------------------------------------------------- the manifests (pure)


def test_the_gate_job_waits_for_its_graph_and_is_hardened_like_the_teardown_job():
    job = cmf.gate_job("rel", "shop", DIGEST, "example.org/ac:1", timeout=120)
    assert job["metadata"]["name"] == cmf.gate_name("rel", DIGEST, "example.org/ac:1", 120)
    assert re.fullmatch(r"rel-helm-ac-gate-0123456789-[0-9a-f]{5}", job["metadata"]["name"])
    assert "annotations" not in job["metadata"]  # a plain Job of the release, never a hook
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] == 150
    tpl = job["spec"]["template"]
    assert tpl["metadata"]["annotations"] == {pods.CONTROLLER_ANNOTATION: "true"}  # the pod runner's mark
    assert pods.is_controller_pod(tpl)
    (c,) = tpl["spec"]["containers"]
    assert c["args"] == ["--release", "rel", "-n", "shop", "--wait-rollout", DIGEST, "--timeout", "120"]
    teardown = cmf.teardown_job("rel", "shop", "example.org/ac:1")["spec"]["template"]["spec"]
    (t,) = teardown["containers"]
    # the same pod (ServiceAccount, securityContext, resources, volumes) but for the arguments
    assert {**tpl["spec"], "containers": [{**c, "args": []}]} == {**teardown, "containers": [{**t, "args": []}]}
    assert tpl["spec"]["restartPolicy"] == "Never"


@pytest.mark.parametrize("release", ["a", "r" * 53, "x" * 40 + "-" + "y" * 12])
def test_gate_names_are_dns_labels_and_change_with_the_pod_template(release):
    """A Job's pod template is immutable: a new graph, image or timeout is a new Job (else an
    upgrade of the same graph with another --timeout would be refused by kube-apiserver)."""
    n = cmf.gate_name(release, DIGEST)
    assert len(n) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", n), n
    assert re.search(r"-helm-ac-gate-0123456789-[0-9a-f]{5}$", n)
    assert cmf.gate_name(release, DIGEST) == n
    others = {cmf.gate_name(release, "f" * 64), cmf.gate_name(release, DIGEST, "example.org/ac:2"),
              cmf.gate_name(release, DIGEST, timeout=301)}
    assert len(others) == 3 and n not in others


def test_the_deployment_holds_the_lease_as_its_pod():
    dep = cmf.deployment("rel", "shop")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["args"][-2:] == ["--identity", "$(POD_NAME)"]
    assert c["env"] == [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    # what the kubelet (the embedded server's: apiserver/pods.py) starts in the Pod "rel-helm-ac-x"
    pod = {"metadata": {"name": "rel-helm-ac-x", "namespace": "shop"}, "spec": dep["spec"]["template"]["spec"]}
    env = pods.container_env(pod, c, {}, lambda kind, name: None)
    assert pods.container_argv(c, env, executable="python")[-2:] == ["--identity", "rel-helm-ac-x"]


def test_the_teardown_hook_weight_follows_the_charts_pre_delete_hooks():
    assert cmf.teardown_weight([]) == 0
    assert cmf.teardown_weight([-5, 3, 0]) == 4
    assert cmf.teardown_weight([-7]) == -6
    assert [cmf.hook_weight(a) for a in ({}, {"helm.sh/hook-weight": "5"}, {"helm.sh/hook-weight": "-2"},
                                         {"helm.sh/hook-weight": " 4"}, {"helm.sh/hook-weight": "x"},
                                         {"helm.sh/hook-weight": "+3"})] == [0, 5, -2, 0, 0, 3]
    assert cmf.teardown_job("r", "ns", weight=4)["metadata"]["annotations"]["helm.sh/hook-weight"] == "4"


def _hook(name: str, events: str, weight: str | None = None) -> str:
    w = f"    helm.sh/hook-weight: {json.dumps(weight)}\n" if weight is not None else ""
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations:\n"
            f"    helm.sh/hook: {events}\n{w}    {HELM4_FILENAME}: c/templates/{name}.yaml\ndata: {{}}\n---\n")


def _post_render(stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "helm_ac", "post-render", "--release", "rel", "-n", "shop", *args],
                          input=stdin, capture_output=True, text=True, timeout=60)


def test_post_render_emits_the_gate_of_the_graph_and_weighs_the_teardown_after_the_charts_hooks():
    helm4 = (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations:\n"
             f"    {HELM4_FILENAME}: c/templates/a.yaml\ndata: {{}}\n---\n"
             + _hook("bye", "pre-delete", "7") + _hook("both", "pre-upgrade,pre-delete", "9")
             + _hook("later", "post-delete", "20") + _hook("plain", "pre-delete"))
    p = _post_render(helm4, "--gate-timeout", "42")
    assert p.returncode == 0, p.stderr
    docs = [d for d in yaml.safe_load_all(p.stdout) if d]
    (rg,) = [d for d in docs if d["kind"] == "ReleaseGraph"]
    gate, teardown = [d for d in docs if d["kind"] == "Job"]
    assert gate["metadata"]["name"] == cmf.gate_name("rel", rg["spec"]["digest"], timeout=42)
    assert gate["spec"]["template"]["spec"]["containers"][0]["args"][-3:] == [rg["spec"]["digest"], "--timeout", "42"]
    assert gate["spec"]["activeDeadlineSeconds"] == 72
    assert "helm.sh/hook" not in gate["metadata"]["annotations"]  # only Helm 4's file annotation
    assert teardown["metadata"]["annotations"]["helm.sh/hook-weight"] == "10"  # after "both" (9), not "later"
    # Helm 3: the gate (an ordinary object there too), no hook; the timeout's default is Helm's
    p3 = _post_render(f"---\n# Source: c/templates/a.yaml\n{yaml.safe_dump(cmap('a'))}", "--helm", "3")
    assert p3.returncode == 0, p3.stderr
    jobs3 = [d for d in yaml.safe_load_all(p3.stdout) if d and d["kind"] == "Job"]
    assert [j["metadata"]["name"].split("-gate-")[0] for j in jobs3] == ["rel-helm-ac"]
    assert jobs3[0]["spec"]["template"]["spec"]["containers"][0]["args"][-1] == "300"
    bad = _post_render(helm4, "--gate-timeout", "0")
    assert bad.returncode == 2 and "--gate-timeout" in bad.stderr and "Traceback" not in bad.stderr


def test_the_gate_needs_only_what_the_role_grants():
    """The gate only lists and watches the release's Definitions, Dependencies and ReleaseGraph."""
    a, _, _, _ = objects_of("rel", [cmap("a")], namespace="shop")
    rules = cmf.role(cmf.needs(a, "rel"))["rules"]
    granted = {(r, v) for rule in rules if rule["apiGroups"] == ["appcontroller.k8s"] and "resourceNames" not in rule
               for r in rule["resources"] for v in rule["verbs"]}
    assert {(r, v) for r in ("definitions", "dependencies", "releasegraphs") for v in ("list", "watch")} <= granted


# ---------------------------------------------------------------- Helm 3 and 4 on the embedded server

#: a MariaDB-like StatefulSet (slow), a migration Job after it, the web Deployment after that, and
#: hooks: pre-install, post-install, and a pre-delete hook of weight 5
CHART = [
    {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
     "spec": {"replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
              "template": {"metadata": {"labels": {"app": "db"}},
                           "spec": {"containers": [{"name": "db", "image": "mariadb:11"}]}}}},
    {"apiVersion": "batch/v1", "kind": "Job",
     "metadata": {"name": "migrate", "annotations": {spec.DEPENDS_ON: "statefulset/db"}},
     "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
                                                       "containers": [{"name": "m", "image": "example/migrate:1"}]}}}},
    {"apiVersion": "apps/v1", "kind": "Deployment",
     "metadata": {"name": "web", "annotations": {spec.DEPENDS_ON: "job/migrate"}},
     "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
              "template": {"metadata": {"labels": {"app": "web"}},
                           "spec": {"containers": [{"name": "web", "image": "example/web:1"}]}}}},
    {**cmap("pre"), "metadata": {"name": "pre", "annotations": {"helm.sh/hook": "pre-install"}}},
    {**cmap("post"), "metadata": {"name": "post", "annotations": {"helm.sh/hook": "post-install"}}},
    {**cmap("bye"), "metadata": {"name": "bye", "annotations": {"helm.sh/hook": "pre-delete",
                                                                "helm.sh/hook-weight": "5"}}},
]
#: the StatefulSet's start in the namespaces of the successful installs: longer than Helm 3's wait for
#: the controller's Deployment (its process started, the Lease taken, /readyz polled: ~3 s)
DB_SECONDS = 6
#: the objects of the chart the controller creates: resource -> name
OBJECTS = {"statefulsets": "db", "jobs": "migrate", "deployments": "web"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    d = tmp_path_factory.mktemp("hooks")
    chart = d / "shop"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: shop\nversion: 0.1.0\n")
    (chart / "templates" / "all.yaml").write_text(yaml.safe_dump_all(CHART))
    (d / "behaviour.yaml").write_text(yaml.safe_dump({"jitter": 0, "seconds": {
        "StatefulSet": 0.5, "Pod": 0.1, "ReplicaSet": 0.1, "Deployment": 0.1, "Job": 0.2}}))
    opts = apiserver.Options(audit_log=d / "audit.jsonl", readiness_log=d / "ready.jsonl", behaviour=d / "behaviour.yaml",
                             rules=["Job/fail3/migrate=fail", "Job/fail4/migrate=fail",
                                    f"StatefulSet/ok3/db={DB_SECONDS}", f"StatefulSet/ok4/db={DB_SECONDS}"], rbac=True,
                             run_pods=True, pod_backoff=0.2, pod_logs=d / "pods")
    with apiserver.running(opts) as srv:
        yield Server(srv, d), chart


def _t(s: str) -> float:
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def _install(helm: Any, server: Server, chart: Path, ns: str, timeout: str) -> tuple[subprocess.CompletedProcess[str],
                                                                                   float, dict[str, str]]:
    flags, env = post_renderer_args(helm, plugin_root(chart.parent / f"ac-{ns}"), "shop", ns, chart)
    env["KUBECONFIG"] = str(server.srv.kubeconfig)
    start = time.monotonic()
    p = helm.run("install", "shop", str(chart), "-n", ns, "--create-namespace", *flags,
                 "--post-renderer-args=--gate-timeout=60", "--wait", "--wait-for-jobs", "--timeout", timeout,
                 env=env, check=False)
    return p, time.monotonic() - start, env


def _audit(server: Server, ns: str) -> list[dict[str, Any]]:
    return [r for r in server.audit() if r["namespace"] == ns and r["code"] < 300]


def _hooks_created(audit: list[dict[str, Any]]) -> list[float]:
    """When ConfigMaps were created in the namespace: the chart has no other ConfigMap than its hooks."""
    return [_t(r["time"]) for r in audit if r["resource"] == "configmaps" and r["code"] == 201
            and r["verb"] in ("create", "patch") and not r["subresource"]]


def _ready(server: Server, ns: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in (server.logs / "ready.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["namespace"] == ns and rec["state"] == "ready":
            out.setdefault(f"{rec['kind']}/{rec['name']}", _t(rec["time"]))
    return out


def _defs(server: Server, ns: str) -> dict[str, dict[str, Any]]:
    res = server.dyn.resources.get(api_version="appcontroller.k8s/v1alpha1", kind="Definition")
    return {d["metadata"]["name"]: d for d in server.dyn.get(res, namespace=ns).to_dict()["items"]}


def _gate_pod(server: Server, ns: str) -> dict[str, Any]:
    res = server.dyn.resources.get(api_version="v1", kind="Pod")
    (pod,) = [p for p in server.dyn.get(res, namespace=ns).to_dict()["items"]
              if "-helm-ac-gate-" in (p["metadata"].get("labels") or {}).get("job-name", "")]
    return pod


@pytest.mark.helm
def test_post_install_hooks_run_after_the_ordered_rollout_and_pre_delete_hooks_before_the_teardown(
        helm, cluster):
    server, chart = cluster
    ns = f"ok{helm.major}"
    p, _, env = _install(helm, server, chart, ns, "90s")
    assert p.returncode == 0, p.stdout + p.stderr
    audit = _audit(server, ns)
    pre, post = _hooks_created(audit)
    defs = _defs(server, ns)
    assert {d["status"]["phase"] for d in defs.values()} == {"Ready"} and len(defs) == 3
    # the pre-install hook before any Definition, so before anything the controller creates
    first_def = min(_t(r["time"]) for r in audit if r["resource"] == "definitions" and r["code"] == 201)
    assert pre < first_def
    # the post-install hook only once every object is ready (the readiness log, the Definitions)
    ready = _ready(server, ns)
    assert {"StatefulSet/db", "Job/migrate", "Deployment/web"} <= set(ready)
    assert post > max(ready[k] for k in ("StatefulSet/db", "Job/migrate", "Deployment/web"))
    assert post >= max(_t(d["status"]["finishedAt"]) for d in defs.values())
    assert post - first_def >= DB_SECONDS  # the slow StatefulSet was waited for
    # the gate's Pod ran for real (the pod runner took it for the controller's), and succeeded
    pod = _gate_pod(server, ns)
    (st,) = pod["status"]["containerStatuses"]
    assert st["containerID"].startswith("helm-ac://") and st["state"]["terminated"]["exitCode"] == 0
    assert pod["status"]["phase"] == "Succeeded"
    assert _gate_job(server, ns)["status"]["succeeded"] == 1  # the Job follows its Pod's exit code
    if helm.major == "3":
        return
    # Helm 4: helm uninstall runs the chart's pre-delete hook, then the teardown Job (its hook), which
    # deletes the objects in reverse order, then Helm deletes the rest
    installed = len(server.audit())
    u = helm.run("uninstall", "shop", "-n", ns, "--timeout", "60s", env=env, check=False)
    assert u.returncode == 0, u.stdout + u.stderr
    after = [r for r in server.audit()[installed:] if r["namespace"] == ns and r["code"] < 300]
    at = {(r["verb"], r["resource"], r["name"]): i for i, r in reversed(list(enumerate(after)))
          if not r["subresource"] and r["code"] in (200, 201, 202)}
    bye = next(i for i, r in enumerate(after) if r["resource"] == "configmaps" and r["code"] == 201)
    teardown = next(i for i, r in enumerate(after) if r["resource"] == "jobs" and r["code"] == 201
                    and r["verb"] in ("create", "patch"))
    assert bye < teardown
    sa = f"system:serviceaccount:{ns}:{cmf.name('shop')}"
    deletes = [(r["resource"], r["name"]) for r in after[teardown:] if r["verb"] == "delete" and r["user"] == sa
               and (r["resource"], r["name"]) in OBJECTS.items()]
    assert [d for i, d in enumerate(deletes) if d not in deletes[:i]] == [
        ("deployments", "web"), ("jobs", "migrate"), ("statefulsets", "db")]
    first_helm_delete = min(i for (verb, res, _), i in at.items() if verb == "delete" and res == "definitions")
    last_teardown_delete = max(i for i, r in enumerate(after) if r["verb"] == "delete" and r["user"] == sa)
    assert last_teardown_delete < first_helm_delete


@pytest.mark.helm
def test_a_failed_rollout_fails_the_install_and_the_post_install_hook_never_runs(helm, cluster):
    server, chart = cluster
    ns = f"fail{helm.major}"
    timeout = 60 if helm.major == "4" else 12  # Helm 3 retries a failed Job until its --timeout
    p, took, _ = _install(helm, server, chart, ns, f"{timeout}s")
    assert p.returncode == 1, p.stdout + p.stderr
    audit = _audit(server, ns)
    assert len(_hooks_created(audit)) == 1  # the pre-install hook only
    phases = {d["metadata"]["name"]: d["status"]["phase"] for d in _defs(server, ns).values()}
    assert sorted(phases.values()) == ["Blocked", "Failed", "Ready"], phases
    pod = _gate_pod(server, ns)
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 1
    assert pod["status"]["phase"] == "Failed"
    job = _gate_job(server, ns)
    assert job["status"]["failed"] == 1 and "succeeded" not in job["status"]
    assert {c["type"] for c in job["status"]["conditions"] if c["status"] == "True"} >= {"Failed"}
    gate = job["metadata"]["name"]
    if helm.major == "4":  # kstatus sees the gate Job Failed at once
        assert f"Job/{ns}/{gate}" in p.stderr and took < timeout / 2
    else:
        assert took >= timeout - 1


@pytest.mark.helm
def test_post_upgrade_and_post_rollback_hooks_run_after_the_ordered_rollout(helm, cluster, tmp_path):
    """`helm upgrade` with the post-renderer: a new graph (a new digest), so a new gate Job; the
    post-upgrade hook is created only once the changed StatefulSet is ready again for its new
    generation. `helm rollback` re-applies the first revision, its gate Job included: the
    post-rollback hook waits for the StatefulSet rolled back (docs/hooks.md)."""
    server, _ = cluster
    ns = f"up{helm.major}"
    chart = tmp_path / "shop"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: shop\nversion: 0.1.0\n")
    post = {**cmap("post"), "metadata": {"name": "post", "annotations": {"helm.sh/hook": "post-upgrade,post-rollback"}}}

    def write(image: str) -> None:
        db, _migrate, web = (json.loads(json.dumps(o)) for o in CHART[:3])
        db["spec"]["template"]["spec"]["containers"][0]["image"] = image
        web["metadata"]["annotations"] = {spec.DEPENDS_ON: "statefulset/db"}
        (chart / "templates" / "all.yaml").write_text(yaml.safe_dump_all([db, web, post]))

    write("mariadb:11")
    p, _, env = _install(helm, server, chart, ns, "90s")
    assert p.returncode == 0, p.stdout + p.stderr
    assert _hooks_created(_audit(server, ns)) == []  # a post-upgrade hook: not at install
    write("mariadb:12")  # the StatefulSet changes: rolled out again, then the hook
    flags, _env = post_renderer_args(helm, plugin_root(chart.parent / f"ac-{ns}-up"), "shop", ns, chart)
    u = helm.run("upgrade", "shop", str(chart), "-n", ns, *flags, "--post-renderer-args=--gate-timeout=60",
                 "--wait", "--wait-for-jobs", "--timeout", "90s", env={**_env, "KUBECONFIG": env["KUBECONFIG"]},
                 check=False)
    assert u.returncode == 0, u.stdout + u.stderr
    (hook,) = _hooks_created(_audit(server, ns))
    defs = _defs(server, ns)
    db = defs["statefulset-db"]
    assert db["metadata"]["generation"] == 2 and db["status"]["observedGeneration"] == 2
    assert db["status"]["phase"] == "Ready" and hook >= _t(db["status"]["finishedAt"])
    readies = [_t(r["time"]) for r in map(json.loads, (server.logs / "ready.jsonl").read_text().splitlines())
               if r["namespace"] == ns and r["kind"] == "StatefulSet" and r["state"] == "ready"]
    assert len(readies) >= 2 and hook > readies[-1]  # after the upgraded StatefulSet was ready (sub-second)
    gates = [j["metadata"]["name"] for j in server.dyn.get(server.dyn.resources.get(api_version="batch/v1", kind="Job"),
                                                           namespace=ns).to_dict()["items"]]
    assert len(gates) == 1 and "-helm-ac-gate-" in gates[0]  # the upgrade's gate; Helm deleted the install's
    r = helm.run("rollback", "shop", "1", "-n", ns, "--wait", "--wait-for-jobs", "--timeout", "90s",
                 env={**_env, "KUBECONFIG": env["KUBECONFIG"]}, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    _, again = _hooks_created(_audit(server, ns))
    db = _defs(server, ns)["statefulset-db"]
    assert db["metadata"]["generation"] == 3 and db["status"]["observedGeneration"] == 3
    readies = [_t(r["time"]) for r in map(json.loads, (server.logs / "ready.jsonl").read_text().splitlines())
               if r["namespace"] == ns and r["kind"] == "StatefulSet" and r["state"] == "ready"]
    assert len(readies) >= 3 and again > readies[-1]  # after the rolled-back StatefulSet was ready


def _gate_job(server: Server, ns: str) -> dict[str, Any]:
    res = server.dyn.resources.get(api_version="batch/v1", kind="Job")
    (job,) = [j for j in server.dyn.get(res, namespace=ns).to_dict()["items"]
              if "-helm-ac-gate-" in j["metadata"]["name"]]
    return job


# ---------------------------------------------------------------- the Deployment's Lease identity


def test_a_restarted_controller_container_takes_its_lease_back_as_the_same_holder(tmp_path):
    """The Deployment passes --identity $(POD_NAME): a container killed and restarted in the same
    Pod holds the Lease as before (no transition), instead of waiting for it to expire."""
    import os
    import signal

    from controllerkit import CHAIN, emitted

    opts = apiserver.Options(audit_log=tmp_path / "audit.jsonl", run_pods=True, pod_backoff=0.2,
                             pod_logs=tmp_path / "pods")
    with apiserver.running(opts) as srv:
        server = Server(srv, tmp_path)
        a, _, _, _ = objects_of("r", CHAIN)
        n = cmf.needs(a, "r")
        server.create(emitted("r", CHAIN) + [cmf.service_account("r", "default"), cmf.role(n),
                                             cmf.role_binding("r", "default"), cmf.deployment("r", "default")])
        pod_res = server.dyn.resources.get(api_version="v1", kind="Pod")
        lease_res = server.dyn.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")

        def pod() -> dict[str, Any] | None:
            items = server.dyn.get(pod_res, namespace="default").to_dict()["items"]
            return next((p for p in items if p["metadata"]["name"].startswith("r-helm-ac-")), None)

        def lease() -> dict[str, Any]:
            try:
                return dict(server.dyn.get(lease_res, name=cmf.lease_name("r"), namespace="default").to_dict()["spec"])
            except Exception:  # noqa: BLE001 - not created yet
                return {}

        p = wait("the controller's pod", pod)
        name = p["metadata"]["name"]
        wait("the Lease held by the pod", lambda: lease().get("holderIdentity") == name)

        def running(restarts: int) -> int | None:
            for c in ((pod() or {}).get("status") or {}).get("containerStatuses") or []:
                if c["restartCount"] == restarts and c["state"].get("running") and c.get("containerID"):
                    return int(c["containerID"].removeprefix("helm-ac://"))
            return None

        os.kill(wait("the container running", lambda: running(0)), signal.SIGKILL)  # the Lease is not given up
        wait("the container restarted", lambda: running(1))
        (log,) = (tmp_path / "pods").glob(f"default_{name}_*/controller/1.log")
        wait("the restarted container's Lease", lambda: "Lease taken" in log.read_text())
        held = lease()
    assert held["holderIdentity"] == name and held["leaseTransitions"] == 0


# ---------------------------------------------------------------- Jobs: activeDeadlineSeconds


def _job(name: str, deadline: int) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": {
        "backoffLimit": 0, "activeDeadlineSeconds": deadline,
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "example/job:1"}]}}}}


def test_the_simulated_job_controller_fails_a_job_active_past_its_deadline():
    from helm_ac.clock import VirtualLoop
    from helm_ac.kubesim.behaviour import Behaviour
    from helm_ac.kubesim.controllers import Controllers
    from helm_ac.kubesim.resources import Registry
    from helm_ac.kubesim.store import Store

    loop = VirtualLoop()
    store = Store(Registry.builtin(), loop)
    log: list[dict[str, Any]] = []
    Controllers(store, Behaviour(seconds={"Job": 10.0, "Pod": 0.5}), on_readiness=log.append).start()
    jobs, pods_res = store.registry.for_kind("batch/v1", "Job"), store.registry.for_kind("v1", "Pod")
    store.create(jobs, "default", _job("slow", 3))  # runs 10 s: past its deadline
    store.create(jobs, "default", _job("quick", 30))  # done well before its deadline
    loop.run()
    slow, quick = store.get(jobs, "default", "slow"), store.get(jobs, "default", "quick")
    assert [(c["type"], c["status"], c["reason"]) for c in slow["status"]["conditions"]] == [
        ("FailureTarget", "True", "DeadlineExceeded"), ("Failed", "True", "DeadlineExceeded")]
    assert slow["status"]["failed"] == 1 and "active" not in slow["status"]
    assert slow["status"]["conditions"][1]["lastTransitionTime"] == "1970-01-01T00:00:03Z"
    assert not [p for p in store.list(pods_res, "default")["items"]
                if p["metadata"]["labels"]["job-name"] == "slow"]  # its Pod deleted
    assert {c["type"] for c in quick["status"]["conditions"]} == {"SuccessCriteriaMet", "Complete"}
    assert {(r["name"], r["state"], r["reason"]) for r in log if r["kind"] == "Job"} == {
        ("slow", "failed", "DeadlineExceeded"), ("quick", "ready", "Complete")}


def test_a_job_of_the_controller_image_past_its_deadline_fails_and_its_process_is_stopped(tmp_path):
    """The gate's activeDeadlineSeconds on the embedded server: its Pod (a real process, waiting for
    a graph that never rolls out) is deleted, so the process gets SIGTERM, and the Job fails."""
    import os

    from kubernetes import client

    from helm_ac.kube.config import connect

    opts = apiserver.Options(audit_log=tmp_path / "audit.jsonl", run_pods=True, pod_backoff=0.2,
                             pod_logs=tmp_path / "pods")
    with apiserver.running(opts) as srv:
        server = Server(srv, tmp_path)
        job = cmf.gate_job("r", "default", DIGEST, timeout=600)
        job["spec"]["template"]["spec"]["serviceAccountName"] = "default"
        server.create([job])
        api = connect(kubeconfig=str(srv.kubeconfig), env={}).api
        batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
        name = job["metadata"]["name"]

        def pid() -> int | None:
            for p in core.list_namespaced_pod("default", label_selector=f"job-name={name}").items:
                for c in p.status.container_statuses or []:
                    if c.state.running and c.container_id:
                        return int(c.container_id.removeprefix("helm-ac://"))
            return None

        running = wait("the gate's process", pid)
        # the deadline set once the process runs (a loaded machine may take seconds to start it):
        # it is counted from the Job's start, so it has passed already
        batch.patch_namespaced_job(name, "default", {"spec": {"activeDeadlineSeconds": 1}})

        def failed() -> Any:
            conds = batch.read_namespaced_job(name, "default").status.conditions or []
            return next((c for c in conds if c.type == "Failed" and c.status == "True"), None)

        cond = wait("the Job failed", failed)
        assert cond.reason == "DeadlineExceeded"

        def gone() -> bool:
            try:
                os.kill(running, 0)
            except ProcessLookupError:
                return True
            return False

        wait("the process stopped", gone)
        wait("the Pod deleted", lambda: not core.list_namespaced_pod("default", label_selector=f"job-name={name}").items)
