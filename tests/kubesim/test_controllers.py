"""The simulated controllers, in virtual time, on the store (helm_ac.kubesim.store)."""
from __future__ import annotations

from typing import Any

import pytest

from helm_ac.clock import VirtualLoop
from helm_ac.engine import readiness
from helm_ac.kubesim.behaviour import Behaviour, BehaviourError, Rule
from helm_ac.kubesim.controllers import Controllers, template_hash
from helm_ac.kubesim.errors import StatusError
from helm_ac.kubesim.resources import Registry, Resource
from helm_ac.kubesim.store import Store


def make_store(clock: VirtualLoop) -> Store:
    return Store(Registry.builtin(), clock)


class Sim:
    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.loop = VirtualLoop()
        self.store = make_store(self.loop)
        self.log: list[dict[str, Any]] = []
        self.ctl = Controllers(self.store, behaviour or Behaviour(), on_readiness=self.log.append).start()
        self.reg = self.store.registry

    def res(self, api_version: str, kind: str) -> Resource:
        r = self.reg.for_kind(api_version, kind)
        assert r is not None, (api_version, kind)
        return r

    def create(self, obj: dict[str, Any], ns: str | None = "default") -> dict[str, Any]:
        r = self.res(obj["apiVersion"], obj["kind"])
        out: dict[str, Any] = self.store.create(r, ns if r.namespaced else None, obj)
        return out

    def get(self, api_version: str, kind: str, name: str, ns: str | None = "default") -> dict[str, Any]:
        r = self.res(api_version, kind)
        out: dict[str, Any] = self.store.get(r, ns if r.namespaced else None, name)
        return out

    def items(self, api_version: str, kind: str, ns: str | None = "default") -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.store.list(self.res(api_version, kind), ns)["items"]
        return out

    def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        r = self.res(obj["apiVersion"], obj["kind"])
        m = obj["metadata"]
        out: dict[str, Any] = self.store.update(r, m.get("namespace"), m["name"], obj)
        return out

    def run_until(self, t: float) -> None:
        """Run the virtual loop up to time ``t`` (timers later than that stay queued)."""
        self.loop.call_later(t - self.loop.now(), lambda: None)
        while self.loop._heap and self.loop._heap[0][0] <= t:
            when, _, timer = self.loop._heap[0]
            import heapq
            heapq.heappop(self.loop._heap)
            if timer.cancelled:
                continue
            self.loop._now = when
            timer.fn()
            self.loop.callbacks_run += 1


def deployment(name: str, replicas: int = 2, image: str = "nginx:1.27", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "web", "image": image,
                                                           "ports": [{"name": "http", "containerPort": 8080}]}]}},
                     **spec}}


def job(name: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "run", "image": "busybox"}]}}}}


def service(name: str, selector: dict[str, str] | None, **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"ports": [{"name": "http", "port": 80, "targetPort": "http"}], **spec}
    if selector is not None:
        s["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": s}


def cond(obj: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == ctype), None)


# -- Deployments


def test_deployment_becomes_available_with_the_status_kstatus_and_helm3_read() -> None:
    sim = Sim()
    d = sim.create(deployment("web", replicas=2))
    sim.run_until(0.5)
    d = sim.get("apps/v1", "Deployment", "web")
    assert not readiness.compute(d).ready  # pods are not ready before their second
    assert d["status"]["unavailableReplicas"] == 2 and d["status"]["replicas"] == 2
    assert cond(d, "Available")["reason"] == "MinimumReplicasUnavailable"  # type: ignore[index]
    # NewReplicaSetCreated at first, ReplicaSetUpdated once the ReplicaSet reports its Pods
    assert cond(d, "Progressing")["reason"] == "ReplicaSetUpdated"  # type: ignore[index]
    [rs] = sim.items("apps/v1", "ReplicaSet")
    h = template_hash(d["spec"]["template"])
    assert rs["metadata"]["name"] == f"web-{h}"
    assert rs["metadata"]["labels"] == {"app": "web", "pod-template-hash": h}
    assert rs["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                                  "uid": d["metadata"]["uid"], "controller": True,
                                                  "blockOwnerDeletion": True}]
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert rs["spec"]["template"]["spec"] == d["spec"]["template"]["spec"]
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": h}
    pods = sim.items("v1", "Pod")
    assert len(pods) == 2 and all(p["metadata"]["name"].startswith(f"web-{h}-") for p in pods)
    assert all(p["status"]["phase"] == "Pending" for p in pods)
    assert all(p["metadata"]["labels"] == {"app": "web", "pod-template-hash": h} for p in pods)
    assert all(p["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"] for p in pods)

    sim.loop.run()
    d = sim.get("apps/v1", "Deployment", "web")
    st = d["status"]
    assert {k: st[k] for k in ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
                               "availableReplicas")} == {"observedGeneration": d["metadata"]["generation"],
                                                         "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
                                                         "availableReplicas": 2}
    assert "unavailableReplicas" not in st
    avail, prog = cond(d, "Available"), cond(d, "Progressing")
    assert avail and (avail["status"], avail["reason"]) == ("True", "MinimumReplicasAvailable")
    assert prog and (prog["status"], prog["reason"]) == ("True", "NewReplicaSetAvailable")
    assert prog["message"] == f'ReplicaSet "web-{h}" has successfully progressed.'
    assert readiness.compute(d).ready
    rs = sim.get("apps/v1", "ReplicaSet", f"web-{h}")
    assert {k: rs["status"][k] for k in ("replicas", "readyReplicas", "availableReplicas", "fullyLabeledReplicas",
                                         "observedGeneration")} == {"replicas": 2, "readyReplicas": 2,
                                                                    "availableReplicas": 2, "fullyLabeledReplicas": 2,
                                                                    "observedGeneration": 1}
    for p in sim.items("v1", "Pod"):
        s = p["status"]
        assert s["phase"] == "Running" and s["podIP"].startswith("10.244.")
        assert {c["type"]: c["status"] for c in s["conditions"]}.items() >= {
            "Ready": "True", "ContainersReady": "True", "PodScheduled": "True", "Initialized": "True"}.items()
        assert [c["ready"] for c in s["containerStatuses"]] == [True]
        assert p["spec"]["nodeName"] == "sim-node-1"
    ready = [e for e in sim.log if e["kind"] == "Deployment"]
    assert ready == [{"time": "1970-01-01T00:00:01.000000Z", "kind": "Deployment", "namespace": "default",
                      "name": "web", "state": "ready", "reason": "NewReplicaSetAvailable"}]


def test_workloads_get_the_defaults_clients_dereference() -> None:
    sim = Sim()
    d = deployment("web")
    del d["spec"]["replicas"]
    d = sim.create(d)
    assert d["spec"]["replicas"] == 1 and d["spec"]["progressDeadlineSeconds"] == 600
    assert d["spec"]["strategy"] == {"type": "RollingUpdate",
                                     "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    r = sim.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "r"},
                    "spec": {**deployment("r")["spec"], "strategy": {"type": "Recreate"}}})
    assert r["spec"]["strategy"] == {"type": "Recreate"}
    ds = sim.create({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "a"},
                     "spec": {"selector": {"matchLabels": {"app": "a"}},
                              "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": []}}}})
    assert ds["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                            "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    j = sim.create(job("j"))
    assert (j["spec"]["completions"], j["spec"]["parallelism"], j["spec"]["backoffLimit"]) == (1, 1, 6)


def test_upgrade_makes_a_new_replicaset_and_scales_the_old_one_to_zero() -> None:
    sim = Sim()
    sim.create(deployment("web", replicas=2))
    sim.loop.run()
    d = sim.get("apps/v1", "Deployment", "web")
    [old_rs] = sim.items("apps/v1", "ReplicaSet")
    changed = {**d, "spec": {**d["spec"], "template": {**d["spec"]["template"], "spec": {"containers": [
        {"name": "web", "image": "nginx:1.28", "ports": [{"name": "http", "containerPort": 8080}]}]}}}}
    sim.replace(changed)
    sim.loop.run()
    rss = {r["metadata"]["name"]: r for r in sim.items("apps/v1", "ReplicaSet")}
    d = sim.get("apps/v1", "Deployment", "web")
    new_name = f"web-{template_hash(d['spec']['template'])}"
    assert set(rss) == {old_rs["metadata"]["name"], new_name}
    assert rss[old_rs["metadata"]["name"]]["spec"]["replicas"] == 0
    assert rss[new_name]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    pods = sim.items("v1", "Pod")
    assert len(pods) == 2 and all(p["metadata"]["name"].startswith(new_name) for p in pods)
    assert d["status"]["observedGeneration"] == d["metadata"]["generation"] == 2
    assert d["status"]["replicas"] == d["status"]["updatedReplicas"] == 2
    assert readiness.compute(d).ready
    # scaling changes the ReplicaSet's replicas, not the template
    sim.replace({**d, "spec": {**d["spec"], "replicas": 3}})
    sim.loop.run()
    assert sim.get("apps/v1", "ReplicaSet", new_name)["status"]["readyReplicas"] == 3
    assert len(sim.items("apps/v1", "ReplicaSet")) == 2


def test_scale_down_deletes_pods_and_deleting_the_deployment_collects_everything() -> None:
    sim = Sim()
    svc = sim.create(service("web", {"app": "web"}))
    sim.create(deployment("web", replicas=3))
    sim.loop.run()
    d = sim.get("apps/v1", "Deployment", "web")
    sim.replace({**d, "spec": {**d["spec"], "replicas": 1}})
    sim.loop.run()
    d = sim.get("apps/v1", "Deployment", "web")
    assert len(sim.items("v1", "Pod")) == 1
    assert (d["status"]["replicas"], d["status"]["readyReplicas"]) == (1, 1) and readiness.compute(d).ready
    [ep] = sim.items("v1", "Endpoints")
    assert len(ep["subsets"][0]["addresses"]) == 1
    sim.store.delete(sim.res("apps/v1", "Deployment"), "default", "web")
    sim.loop.run()
    assert sim.items("apps/v1", "ReplicaSet") == [] and sim.items("v1", "Pod") == []
    [sl] = sim.items("discovery.k8s.io/v1", "EndpointSlice")
    assert sl["endpoints"] == [] and sl["metadata"]["ownerReferences"][0]["uid"] == svc["metadata"]["uid"]
    assert "subsets" not in sim.get("v1", "Endpoints", "web")


def test_a_deployment_adopts_the_replicaset_an_orphaning_delete_left() -> None:
    sim = Sim()
    sim.create(deployment("web", replicas=2))
    sim.loop.run()
    [rs] = sim.items("apps/v1", "ReplicaSet")
    pods = sorted(p["metadata"]["name"] for p in sim.items("v1", "Pod"))
    sim.store.delete(sim.res("apps/v1", "Deployment"), "default", "web", propagation="Orphan")
    sim.loop.run()
    [orphan] = sim.items("apps/v1", "ReplicaSet")
    assert not orphan["metadata"].get("ownerReferences")
    d = sim.create(deployment("web", replicas=2))
    sim.loop.run()
    [adopted] = sim.items("apps/v1", "ReplicaSet")
    assert adopted["metadata"]["uid"] == rs["metadata"]["uid"]
    assert adopted["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]
    assert sorted(p["metadata"]["name"] for p in sim.items("v1", "Pod")) == pods
    assert readiness.compute(sim.get("apps/v1", "Deployment", "web")).ready


def test_a_replicaset_adopts_matching_ownerless_pods() -> None:
    sim = Sim()
    sim.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stray", "labels": {"app": "x"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    sim.create({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "x"},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "x"}},
                         "template": {"metadata": {"labels": {"app": "x"}},
                                      "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    sim.loop.run()
    pods = sim.items("v1", "Pod")
    assert len(pods) == 2 and "stray" in {p["metadata"]["name"] for p in pods}
    assert all(p["metadata"]["ownerReferences"][0]["name"] == "x" for p in pods)
    rs = sim.get("apps/v1", "ReplicaSet", "x")
    assert rs["status"]["readyReplicas"] == 2 and readiness.compute(rs).ready


def test_a_refused_pod_is_reported_and_the_other_controllers_go_on() -> None:
    from helm_ac.kubesim.errors import invalid

    sim = Sim()

    def refuse(op: Any) -> None:
        if op.resource.kind == "Pod" and op.verb == "create" and \
                op.obj["spec"]["containers"][0]["image"] == "bad":
            raise invalid("Pod", op.name, [{"reason": "FieldValueInvalid", "field": "spec.containers[0].image",
                                            "message": "refused"}])

    sim.store.add_admission(refuse)
    sim.create(deployment("bad", image="bad"))
    sim.create(deployment("good"))
    sim.loop.run()
    assert readiness.compute(sim.get("apps/v1", "Deployment", "good")).ready
    assert not readiness.compute(sim.get("apps/v1", "Deployment", "bad")).ready
    assert any(e.startswith("ReplicaSet default/bad-") and "422 Invalid" in e for e in sim.ctl.errors)
    [rs] = [r for r in sim.items("apps/v1", "ReplicaSet") if r["metadata"]["name"].startswith("bad-")]
    rf = cond(rs, "ReplicaFailure")
    assert rf and (rf["status"], rf["reason"]) == ("True", "FailedCreate") and "refused" in rf["message"]
    df = cond(sim.get("apps/v1", "Deployment", "bad"), "ReplicaFailure")
    assert df and (df["reason"], df["message"]) == ("FailedCreate", rf["message"])


def test_pod_disruption_budget_counts_the_healthy_pods_it_selects() -> None:
    sim = Sim()
    for name, budget in (("min", {"minAvailable": 1}), ("max", {"maxUnavailable": "50%"})):
        sim.create({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
                    "spec": {**budget, "selector": {"matchExpressions": [
                        {"key": "app", "operator": "In", "values": ["web"]}]}}})
    sim.create(deployment("web", replicas=3))
    sim.create(deployment("other", replicas=1))
    sim.run_until(0.5)
    p = sim.get("policy/v1", "PodDisruptionBudget", "min")["status"]
    assert (p["expectedPods"], p["currentHealthy"], p["desiredHealthy"], p["disruptionsAllowed"]) == (3, 0, 1, 0)
    assert p["conditions"][0]["reason"] == "InsufficientPods"
    sim.loop.run()
    p = sim.get("policy/v1", "PodDisruptionBudget", "min")["status"]
    assert (p["expectedPods"], p["currentHealthy"], p["desiredHealthy"], p["disruptionsAllowed"]) == (3, 3, 1, 2)
    assert (p["conditions"][0]["status"], p["conditions"][0]["reason"]) == ("True", "SufficientPods")
    assert p["observedGeneration"] == 1
    q = sim.get("policy/v1", "PodDisruptionBudget", "max")["status"]
    assert (q["expectedPods"], q["currentHealthy"], q["desiredHealthy"], q["disruptionsAllowed"]) == (3, 3, 1, 2)


def test_failing_deployment_exceeds_its_progress_deadline() -> None:
    sim = Sim(Behaviour(rules=[Rule(kind="Deployment", name="web", fail=True, seconds=5)]))
    sim.create(deployment("web", replicas=1))
    sim.run_until(4.9)
    d = sim.get("apps/v1", "Deployment", "web")
    assert cond(d, "Progressing")["status"] == "True"  # type: ignore[index]
    sim.loop.run()
    d = sim.get("apps/v1", "Deployment", "web")
    prog = cond(d, "Progressing")
    assert prog and (prog["status"], prog["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert readiness.compute(d).failed
    assert [p["status"]["conditions"] for p in sim.items("v1", "Pod")
            if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])] == []
    assert {(e["kind"], e["state"]) for e in sim.log} >= {("Deployment", "failed")}


# -- Jobs


def test_job_completes_with_its_conditions() -> None:
    sim = Sim()
    sim.create(job("migrate"))
    sim.run_until(1.0)
    [pod] = sim.items("v1", "Pod")
    assert pod["metadata"]["labels"]["job-name"] == "migrate"
    assert pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "migrate"
    j = sim.get("batch/v1", "Job", "migrate")
    assert j["status"]["active"] == 1 and "completionTime" not in j["status"]
    sim.loop.run()
    j = sim.get("batch/v1", "Job", "migrate")
    assert j["status"]["succeeded"] == 1 and "active" not in j["status"]
    assert [(c["type"], c["status"]) for c in j["status"]["conditions"]] == [("SuccessCriteriaMet", "True"),
                                                                             ("Complete", "True")]
    assert j["status"]["startTime"] == "1970-01-01T00:00:00Z"
    assert j["status"]["completionTime"] == "1970-01-01T00:00:02Z"
    assert readiness.compute(j).ready
    assert sim.get("v1", "Pod", pod["metadata"]["name"])["status"]["phase"] == "Succeeded"


def test_suspended_job_runs_nothing_until_resumed() -> None:
    sim = Sim()
    j = job("later")
    j["spec"]["suspend"] = True
    sim.create(j)
    sim.loop.run()
    j = sim.get("batch/v1", "Job", "later")
    assert sim.items("v1", "Pod") == [] and cond(j, "Suspended")["reason"] == "JobSuspended"  # type: ignore[index]
    sim.replace({**j, "spec": {**j["spec"], "suspend": False}})
    sim.loop.run()
    j = sim.get("batch/v1", "Job", "later")
    assert j["status"]["succeeded"] == 1 and readiness.compute(j).ready
    assert [(c["type"], c["status"]) for c in j["status"]["conditions"]] == [
        ("Suspended", "False"), ("SuccessCriteriaMet", "True"), ("Complete", "True")]


def test_a_jobs_pod_template_and_selector_are_immutable() -> None:
    """As kube-apiserver: a changed spec.template (or selector, completionMode) is a 422 naming the
    field; labels of the Job itself, its parallelism and its suspension may change; a suspended Job
    that never started may change its template's labels and where its Pods go, nothing else."""
    sim = Sim()
    j = sim.create(job("migrate"))
    changed = {**j, "spec": {**j["spec"], "template": {**j["spec"]["template"], "spec": {
        **j["spec"]["template"]["spec"], "containers": [{"name": "m", "image": "example/migrate:2"}]}}}}
    with pytest.raises(StatusError) as e:
        sim.replace(changed)
    assert e.value.code == 422 and e.value.message.startswith('Job.batch "migrate" is invalid: spec.template: '
                                                              'Invalid value: {')
    assert e.value.message.endswith(": field is immutable")
    with pytest.raises(StatusError, match=r"spec.completionMode: Invalid value: \"Indexed\": field is immutable"):
        sim.replace({**j, "spec": {**j["spec"], "completionMode": "Indexed"}})
    j = sim.replace({**j, "metadata": {**j["metadata"], "labels": {"x": "1"}},
                     "spec": {**j["spec"], "parallelism": 2}})
    assert j["spec"]["parallelism"] == 2
    # suspended and never started: the template's labels and node selector may change, not its containers
    s = job("queued")
    s["spec"]["suspend"] = True
    s = sim.create(s)
    tmpl = s["spec"]["template"]
    moved = {**s, "spec": {**s["spec"], "template": {"metadata": {"labels": {"queue": "a"}},
                                                       "spec": {**tmpl["spec"], "nodeSelector": {"zone": "b"}}}}}
    moved = sim.replace(moved)
    assert moved["spec"]["template"]["spec"]["nodeSelector"] == {"zone": "b"}
    with pytest.raises(StatusError, match="spec.template: .*field is immutable"):
        sim.replace({**moved, "spec": {**moved["spec"], "template": {**moved["spec"]["template"], "spec": {
            **moved["spec"]["template"]["spec"], "containers": [{"name": "m", "image": "other"}]}}}})


def test_job_fails_with_backoff_limit_exceeded() -> None:
    sim = Sim(Behaviour(rules=[Rule(kind="Job", name="migrate", fail=True)]))
    sim.create(job("migrate"))
    sim.loop.run()
    j = sim.get("batch/v1", "Job", "migrate")
    assert j["spec"]["backoffLimit"] == 6  # defaulted, as Helm 3 dereferences it
    # the real controller retries until backoffLimit + 1 Pods failed; Helm 3 compares the two
    assert j["status"]["failed"] == 7 and "succeeded" not in j["status"]
    assert [p["status"]["phase"] for p in sim.items("v1", "Pod")] == ["Failed"] * 7
    assert sim.loop.now() == 2.0  # the retries fail at once
    assert [(c["type"], c["status"], c["reason"]) for c in j["status"]["conditions"]] == [
        ("FailureTarget", "True", "BackoffLimitExceeded"), ("Failed", "True", "BackoffLimitExceeded")]
    assert readiness.compute(j).failed
    assert sim.log[-1]["state"] == "failed" and sim.log[-1]["kind"] == "Job"


# -- Services


def test_service_gets_a_cluster_ip_and_port_defaults_at_create() -> None:
    sim = Sim()
    s = sim.create(service("web", {"app": "web"}, ports=[{"port": 80}]))
    assert s["spec"]["clusterIP"].startswith("10.") and s["spec"]["clusterIPs"] == [s["spec"]["clusterIP"]]
    assert s["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert s["spec"]["ipFamilies"] == ["IPv4"] and s["spec"]["type"] == "ClusterIP"
    h = sim.create(service("headless", {"app": "web"}, clusterIP="None"))
    assert h["spec"]["clusterIP"] == "None" and h["spec"]["clusterIPs"] == ["None"]
    e = sim.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                    "spec": {"type": "ExternalName", "externalName": "example.com"}})
    assert "clusterIP" not in e["spec"]
    other = sim.create(service("other", None))
    assert other["spec"]["clusterIP"] != s["spec"]["clusterIP"]
    with pytest.raises(StatusError) as err:
        sim.create(service("taken", None, clusterIP=s["spec"]["clusterIP"]))
    assert (err.value.code, err.value.reason) == (422, "Invalid")
    assert "already allocated" in err.value.message
    # a replace without clusterIP keeps it (as the API server's patchAllocatedValues)
    kept = sim.replace({**s, "spec": {k: v for k, v in s["spec"].items() if k not in ("clusterIP", "clusterIPs")}})
    assert kept["spec"]["clusterIP"] == s["spec"]["clusterIP"]


def test_controllers_started_on_a_filled_store_keep_its_allocations() -> None:
    loop = VirtualLoop()
    store = make_store(loop)
    svc_res = store.registry.for_kind("v1", "Service")
    svc = store.create(svc_res, "default", service("np", None, type="NodePort", clusterIP="10.96.0.2",
                                                   ports=[{"port": 80, "nodePort": 30000}]))
    ctl = Controllers(store).start()  # e.g. the server restarted on a saved store
    other = store.create(svc_res, "default", service("np2", None, type="NodePort"))
    assert other["spec"]["clusterIP"] != svc["spec"]["clusterIP"]
    assert other["spec"]["ports"][0]["nodePort"] != 30000
    ctl.stop()  # stopped controllers allocate nothing more
    third = store.create(svc_res, "default", service("np3", None))
    assert "clusterIP" not in third["spec"]


def test_load_balancer_gets_an_ingress_address_after_its_time() -> None:
    sim = Sim()
    sim.create(service("lb", None, type="LoadBalancer"))
    s = sim.get("v1", "Service", "lb")
    assert s["spec"]["ports"][0]["nodePort"] >= 30000 and not (s.get("status") or {}).get("loadBalancer")
    sim.loop.run()
    s = sim.get("v1", "Service", "lb")
    assert s["status"]["loadBalancer"]["ingress"][0]["ip"]
    assert readiness.compute(s).ready


def test_endpoints_follow_ready_pods() -> None:
    sim = Sim()
    svc = sim.create(service("web", {"app": "web"}))
    sim.create(deployment("web", replicas=2))
    sim.run_until(0.5)
    [sl] = sim.items("discovery.k8s.io/v1", "EndpointSlice")
    assert sl["metadata"]["labels"]["kubernetes.io/service-name"] == "web"
    assert sl["metadata"]["ownerReferences"][0]["uid"] == svc["metadata"]["uid"]
    assert sl["endpoints"] == []  # pending pods have no address yet
    sim.loop.run()
    pods = sim.items("v1", "Pod")
    sl = sim.get("discovery.k8s.io/v1", "EndpointSlice", sl["metadata"]["name"])
    assert sorted(a for e in sl["endpoints"] for a in e["addresses"]) == sorted(p["status"]["podIP"] for p in pods)
    assert all(e["conditions"]["ready"] for e in sl["endpoints"])
    assert sl["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]  # the named targetPort resolved
    ep = sim.get("v1", "Endpoints", "web")
    assert sorted(a["ip"] for a in ep["subsets"][0]["addresses"]) == sorted(p["status"]["podIP"] for p in pods)
    assert ep["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    # a pod goes away: its address leaves the slice (the ReplicaSet makes a new one, not yet ready)
    gone = pods[0]
    sim.store.delete(sim.res("v1", "Pod"), "default", gone["metadata"]["name"])
    sim.run_until(sim.loop.now() + 0.1)
    sl = sim.get("discovery.k8s.io/v1", "EndpointSlice", sl["metadata"]["name"])
    addrs = [a for e in sl["endpoints"] if e["conditions"]["ready"] for a in e["addresses"]]
    assert addrs == [pods[1]["status"]["podIP"]]
    sim.loop.run()
    sl = sim.get("discovery.k8s.io/v1", "EndpointSlice", sl["metadata"]["name"])
    assert len([e for e in sl["endpoints"] if e["conditions"]["ready"]]) == 2
    # the Service goes: its Endpoints go (the slice by garbage collection)
    sim.store.delete(sim.res("v1", "Service"), "default", "web")
    sim.loop.run()
    assert sim.items("v1", "Endpoints") == []
    assert sim.items("discovery.k8s.io/v1", "EndpointSlice") == []


# -- PVCs, Pods, StatefulSets, DaemonSets, Namespaces


def test_pvc_binds_to_a_new_volume_or_stays_pending_on_failure() -> None:
    sim = Sim(Behaviour(rules=[Rule(kind="PersistentVolumeClaim", name="bad", fail=True)]))
    for name in ("data", "bad"):
        sim.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}})
    sim.loop.run()
    pvc = sim.get("v1", "PersistentVolumeClaim", "data")
    assert pvc["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "2Gi"}}
    pv = sim.get("v1", "PersistentVolume", pvc["spec"]["volumeName"], ns=None)
    assert pv["spec"]["claimRef"]["uid"] == pvc["metadata"]["uid"] and pv["status"]["phase"] == "Bound"
    assert sim.get("v1", "PersistentVolumeClaim", "bad")["status"] == {"phase": "Pending"}
    assert {(e["name"], e["state"]) for e in sim.log if e["kind"] == "PersistentVolumeClaim"} == {
        ("data", "ready"), ("bad", "failed")}


def test_bare_pod_runs_or_fails() -> None:
    sim = Sim(Behaviour(rules=[Rule(kind="Pod", name="bad", fail=True)]))
    for name in ("ok", "bad"):
        sim.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    sim.loop.run()
    assert readiness.compute(sim.get("v1", "Pod", "ok")).ready
    assert sim.get("v1", "Pod", "bad")["status"]["phase"] == "Failed"


@pytest.mark.parametrize("policy", ["Never", "OnFailure"])
def test_a_bare_pod_that_is_not_restarted_runs_then_completes(policy: str) -> None:
    """A test hook or a one-off Pod: Running after its duration, Succeeded (exit code 0, Completed)
    after its duration again; with ``fail``, Failed (exit code 1, Error). A Pod that restarts stays Running."""
    sim = Sim(Behaviour(seconds={"Pod": 1.0}, rules=[Rule(kind="Pod", name="bad", fail=True)]))
    for name, restart in (("ok", policy), ("bad", policy), ("server", "Always")):
        sim.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                    "spec": {"restartPolicy": restart, "containers": [{"name": "c", "image": "busybox"}]}})
    sim.run_until(1.5)
    assert {n: sim.get("v1", "Pod", n)["status"]["phase"] for n in ("ok", "bad", "server")} == {
        "ok": "Running", "bad": "Running", "server": "Running"}
    sim.run_until(2.5)
    ok, bad = sim.get("v1", "Pod", "ok")["status"], sim.get("v1", "Pod", "bad")["status"]
    assert ok["phase"] == "Succeeded" and bad["phase"] == "Failed"
    assert [(c["state"]["terminated"]["exitCode"], c["state"]["terminated"]["reason"], c["ready"])
            for c in ok["containerStatuses"] + bad["containerStatuses"]] == [(0, "Completed", False), (1, "Error", False)]
    assert sim.get("v1", "Pod", "server")["status"]["phase"] == "Running"
    assert sorted((e["name"], e["state"], e["reason"]) for e in sim.log if e["name"] in ("ok", "bad")) == [
        ("bad", "failed", "Failed"), ("ok", "ready", "Succeeded")]


def test_statefulset_starts_pods_in_order() -> None:
    sim = Sim()
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
           "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}},
                                 "spec": {"containers": [{"name": "db", "image": "postgres"}]}}}}
    sim.create(sts)
    sim.run_until(1.5)
    assert sorted(p["metadata"]["name"] for p in sim.items("v1", "Pod")) == ["db-0", "db-1"]
    sim.loop.run()
    s = sim.get("apps/v1", "StatefulSet", "db")
    assert sorted(p["metadata"]["name"] for p in sim.items("v1", "Pod")) == ["db-0", "db-1", "db-2"]
    assert s["status"]["readyReplicas"] == 3 and s["status"]["currentRevision"] == s["status"]["updateRevision"]
    assert s["status"]["observedGeneration"] == 1
    assert readiness.compute(s).ready


def test_daemonset_runs_one_pod_per_node_and_namespaces_get_a_default_serviceaccount() -> None:
    sim = Sim(Behaviour(nodes=3))
    sim.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}, ns=None)
    sim.create({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
                "spec": {"selector": {"matchLabels": {"app": "agent"}},
                         "template": {"metadata": {"labels": {"app": "agent"}},
                                      "spec": {"containers": [{"name": "a", "image": "agent"}]}}}}, ns="team")
    sim.loop.run()
    pods = sim.items("v1", "Pod", "team")
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["sim-node-1", "sim-node-2", "sim-node-3"]
    ds = sim.get("apps/v1", "DaemonSet", "agent", "team")
    assert ds["status"]["numberReady"] == ds["status"]["desiredNumberScheduled"] == 3
    assert readiness.compute(ds).ready
    assert sim.get("v1", "ServiceAccount", "default", "team")["metadata"]["name"] == "default"
    assert len(sim.items("v1", "Node", None)) == 3


def test_deleting_a_namespace_with_running_workloads_ends_cleanly() -> None:
    sim = Sim()
    sim.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}, ns=None)
    sim.create(deployment("web"), ns="team")
    sim.create(service("web", {"app": "web"}), ns="team")
    sim.create(job("migrate"), ns="team")
    sim.run_until(0.5)  # mid-flight: Pods pending, timers set
    sim.store.delete(sim.res("v1", "Namespace"), None, "team")
    sim.loop.run()
    with pytest.raises(StatusError) as err:
        sim.get("v1", "Namespace", "team", None)
    assert err.value.code == 404
    assert sim.items("v1", "Pod", None) == [] and sim.items("v1", "ServiceAccount", "team") == []
    assert sim.ctl._timers == {}


# -- CRDs


def crd(plural: str = "widgets", group: str = "example.com") -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": plural, "singular": plural[:-1], "kind": "Widget", "shortNames": ["wd"]},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {"type": "object"}},
                                   "subresources": {"status": {}}}]}}


def test_crd_established_adds_its_resource_and_deletion_removes_it() -> None:
    sim = Sim()
    sim.create(crd(), ns=None)
    sim.run_until(0.1)
    c = sim.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com", None)
    assert [(x["type"], x["status"]) for x in c["status"]["conditions"]] == [("NamesAccepted", "True"),
                                                                              ("Established", "False")]
    assert sim.reg.lookup("example.com", "v1", "widgets") is None
    sim.loop.run()
    c = sim.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com", None)
    assert [(x["type"], x["status"]) for x in c["status"]["conditions"]] == [("NamesAccepted", "True"),
                                                                              ("Established", "True")]
    assert c["status"]["acceptedNames"]["kind"] == "Widget" and c["status"]["storedVersions"] == ["v1"]
    r = sim.reg.lookup("example.com", "v1", "widgets")
    assert r is not None and r.kind == "Widget" and r.namespaced and r.subresources == ("status",)
    assert r.short_names == ("wd",) and r.crd == "widgets.example.com"
    assert readiness.compute(c).ready
    sim.store.delete(sim.res("apiextensions.k8s.io/v1", "CustomResourceDefinition"), None, "widgets.example.com")
    sim.loop.run()
    assert sim.reg.lookup("example.com", "v1", "widgets") is None


def test_crd_whose_plural_is_taken_is_not_accepted() -> None:
    sim = Sim()
    taken = crd(plural="deployments", group="apps")
    taken["spec"]["names"]["singular"] = "thing"  # only the plural is in use
    sim.create(taken, ns=None)
    sim.loop.run()
    c = sim.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "deployments.apps", None)
    na = cond(c, "NamesAccepted")
    assert na and (na["status"], na["reason"]) == ("False", "PluralConflict")
    assert sim.reg.lookup("apps", "v1", "deployments").kind == "Deployment"  # type: ignore[union-attr]


# -- behaviour: seeded, reproducible; and scale


def _durations(seed: int) -> list[float]:
    b = Behaviour(seed=seed, jitter=0.5)
    return [b.decide("Deployment", "default", f"d{i}").seconds for i in range(20)]


def test_seeded_jitter_is_reproducible_and_seed_dependent() -> None:
    assert _durations(1) == _durations(1)
    assert _durations(1) != _durations(2)
    assert all(0.5 <= s <= 1.5 for s in _durations(3))
    assert len(set(_durations(3))) > 1


def test_seeded_run_gives_the_same_readiness_log() -> None:
    def run(seed: int) -> list[dict[str, Any]]:
        sim = Sim(Behaviour(seed=seed, jitter=0.5))
        for i in range(5):
            sim.create(deployment(f"d{i}", replicas=1))
            sim.create(job(f"j{i}"))
        sim.loop.run()
        return [e for e in sim.log if e["kind"] != "Pod"]

    assert run(4) == run(4)
    assert run(4) != run(5)


def test_behaviour_rules_first_match_wins_with_globs() -> None:
    b = Behaviour(seconds={"Job": 7}, rules=[Rule(kind="Job", namespace="test", name="mig*", fail=True),
                                             Rule(kind="*", name="slow-*", seconds=30)])
    assert b.decide("Job", "test", "migrate").fail
    assert b.decide("Job", "prod", "migrate").seconds == 7 and not b.decide("Job", "prod", "migrate").fail
    assert b.decide("Pod", "x", "slow-1").seconds == 30
    assert b.decide("ConfigMap", "x", "c").seconds == 0


def test_behaviour_file_and_flags(tmp_path: Any) -> None:
    f = tmp_path / "b.yaml"
    f.write_text("seed: 3\nnodes: 2\njitter: 0.1\nseconds: {Pod: 4}\n"
                 "rules:\n  - {kind: Job, name: migrate, fail: true}\n  - {kind: PersistentVolumeClaim, never: true}\n")
    b = Behaviour.from_file(f)
    assert (b.seed, b.nodes, b.jitter, b.seconds) == (3, 2, 0.1, {"Pod": 4.0})
    assert b.rules[1] == Rule(kind="PersistentVolumeClaim", never=True)
    b2 = b.with_flags(seed=9, rules=["Deployment/web=5", "Job/test/migrate=never"])
    assert b2.seed == 9 and b2.rules[0] == Rule("Deployment", "*", "web", seconds=5.0)
    assert b2.rules[1] == Rule("Job", "test", "migrate", never=True)


@pytest.mark.parametrize(("text", "words"), [
    ("seeds: 3\n", ["b.yaml", "unknown key 'seeds'"]),
    ("rules:\n  - {kind: Job, fial: true}\n", ["b.yaml", "rules[0]", "unknown key 'fial'"]),
    ("seconds: {Pod: soon}\n", ["b.yaml", "seconds.Pod", "'soon'"]),
    ("jitter: 2\n", ["b.yaml", "jitter", "[0, 1)"]),
    ("rules:\n  - {name: x, fail: yes please}\n", ["b.yaml", "rules[0]", "fail must be true or false"]),
    ("rules: [1]\n", ["b.yaml", "rules[0]", "expected a mapping"]),
    ("nodes: 0\n", ["b.yaml", "nodes must be at least 1"]),
    ("a: [\n", ["b.yaml", "not valid YAML"]),
    ("- 1\n", ["b.yaml", "expected a mapping"]),
])
def test_behaviour_errors_name_the_file_and_the_key(tmp_path: Any, text: str, words: list[str]) -> None:
    f = tmp_path / "b.yaml"
    f.write_text(text)
    with pytest.raises(BehaviourError) as err:
        Behaviour.from_file(f)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_bad_rule_flag_is_refused_with_its_format() -> None:
    with pytest.raises(BehaviourError, match="KIND\\[/NAMESPACE\\]/NAME"):
        Behaviour().with_flags(rules=["web=5"])
    with pytest.raises(BehaviourError, match="seconds >= 0"):
        Behaviour().with_flags(rules=["Pod/x=-1"])


def test_a_thousand_objects_settle_with_linear_work() -> None:
    sim = Sim()
    n = 250
    for i in range(n):
        sim.create(deployment(f"d{i}", replicas=1))
        sim.create(service(f"d{i}", {"app": f"d{i}"}))
        sim.create(job(f"j{i}"))
        sim.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}, "data": {}})
    sim.loop.run()
    assert all(readiness.compute(d).ready for d in sim.items("apps/v1", "Deployment"))
    assert all(readiness.compute(j).ready for j in sim.items("batch/v1", "Job"))
    assert len(sim.items("discovery.k8s.io/v1", "EndpointSlice")) == n
    # work grows with the objects, not with their square: a few reconciles and writes per object,
    # Pods matched to Services through label indexes (no scan of every Pod per Service), and the
    # virtual loop batches the work (one drain per instant, one timer per pending duration)
    objects = 4 * n
    stats = sim.ctl.stats
    assert sum(v for k, v in stats.items() if k not in ("writes", "scanned")) <= 5 * objects
    assert stats["writes"] <= 6 * objects
    assert stats["scanned"] <= 2 * objects
    assert sim.loop.callbacks_run <= objects
