"""Every readiness rule, table-driven; one obvious module: helm_ac/engine/readiness.py."""
import pytest

from helm_ac.engine import readiness
from helm_ac.engine.readiness import Status
from helm_ac.extension import readywhen

R, W, F = Status.READY, Status.IN_PROGRESS, Status.FAILED


def obj(api, kind, spec=None, status=None, generation=None, labels=None, **meta):
    m = {"name": "x", **meta}
    if generation is not None:
        m["generation"] = generation
    if labels:
        m["labels"] = labels
    o = {"apiVersion": api, "kind": kind, "metadata": m}
    if spec is not None:
        o["spec"] = spec
    if status is not None:
        o["status"] = status
    return o


def cond(t, s="True", **kw):
    return {"type": t, "status": s, **kw}


CASES = [
    # Pod: Succeeded, or Running and Ready
    ("pod succeeded", obj("v1", "Pod", status={"phase": "Succeeded"}), 100, R),
    ("pod running ready", obj("v1", "Pod", status={"phase": "Running", "conditions": [cond("Ready")]}), 100, R),
    ("pod running not ready", obj("v1", "Pod", status={"phase": "Running", "conditions": [cond("Ready", "False")]}), 100, W),
    ("pod pending", obj("v1", "Pod", status={"phase": "Pending"}), 100, W),
    ("pod failed", obj("v1", "Pod", status={"phase": "Failed", "reason": "Evicted"}), 100, F),
    ("pod crashloop", obj("v1", "Pod", status={"phase": "Running", "containerStatuses": [
        {"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}), 100, W),
    # Job: Complete; Failed -> failure at once
    ("job complete", obj("batch/v1", "Job", status={"conditions": [cond("Complete")]}), 100, R),
    ("job failed", obj("batch/v1", "Job", status={"conditions": [cond("Failed", reason="BackoffLimitExceeded")]}), 100, F),
    ("job running", obj("batch/v1", "Job", status={"active": 1}), 100, W),
    # Deployment: generation observed, updated and available >= desired x factor
    ("deploy ready", obj("apps/v1", "Deployment", {"replicas": 3}, {"observedGeneration": 2, "updatedReplicas": 3,
                                                                  "availableReplicas": 3}, generation=2), 100, R),
    ("deploy stale generation", obj("apps/v1", "Deployment", {"replicas": 3}, {
        "observedGeneration": 1, "updatedReplicas": 3, "availableReplicas": 3}, generation=2), 100, W),
    ("deploy 2 of 3", obj("apps/v1", "Deployment", {"replicas": 3}, {"updatedReplicas": 3, "availableReplicas": 2}),
     100, W),
    ("deploy 2 of 3 at 60%", obj("apps/v1", "Deployment", {"replicas": 3}, {"updatedReplicas": 3,
                                                                           "availableReplicas": 2}), 60, R),
    ("deploy 1 of 3 at 60%", obj("apps/v1", "Deployment", {"replicas": 3}, {"updatedReplicas": 3,
                                                                           "availableReplicas": 1}), 60, W),
    ("deploy default 1 replica", obj("apps/v1", "Deployment", {}, {"updatedReplicas": 1, "availableReplicas": 1}), 100, R),
    ("deploy scaled to 0", obj("apps/v1", "Deployment", {"replicas": 0}, {}), 100, R),
    ("deploy deadline", obj("apps/v1", "Deployment", {"replicas": 1}, {"conditions": [
        cond("Progressing", "False", reason="ProgressDeadlineExceeded")]}), 100, F),
    ("deploy mid-rollout", obj("apps/v1", "Deployment", {"replicas": 4}, {"replicas": 5, "updatedReplicas": 4,
                                                                         "availableReplicas": 4}), 100, W),
    ("sts on delete", obj("apps/v1", "StatefulSet", {"replicas": 3, "updateStrategy": {"type": "OnDelete"}}, {
        "readyReplicas": 3, "updatedReplicas": 0, "currentRevision": "a", "updateRevision": "b"}), 100, R),
    ("ds on delete", obj("apps/v1", "DaemonSet", {"updateStrategy": {"type": "OnDelete"}}, {
        "desiredNumberScheduled": 2, "updatedNumberScheduled": 0, "numberAvailable": 2}), 100, R),
    # ReplicaSet counts available, not created replicas (AppController's bug)
    ("rs created not ready", obj("apps/v1", "ReplicaSet", {"replicas": 2}, {"replicas": 2, "availableReplicas": 0}),
     100, W),
    ("rs available", obj("apps/v1", "ReplicaSet", {"replicas": 2}, {"replicas": 2, "availableReplicas": 2}), 100, R),
    # StatefulSet: ready replicas, updated beyond the partition, revisions
    ("sts ready", obj("apps/v1", "StatefulSet", {"replicas": 2}, {"readyReplicas": 2, "updatedReplicas": 2,
                                                                 "currentRevision": "a", "updateRevision": "a"}), 100, R),
    ("sts rolling", obj("apps/v1", "StatefulSet", {"replicas": 2}, {"readyReplicas": 2, "updatedReplicas": 2,
                                                                   "currentRevision": "a", "updateRevision": "b"}), 100, W),
    ("sts partition", obj("apps/v1", "StatefulSet", {"replicas": 3, "updateStrategy": {
        "type": "RollingUpdate", "rollingUpdate": {"partition": 2}}}, {"readyReplicas": 3, "updatedReplicas": 1,
                                                                        "currentRevision": "a", "updateRevision": "b"}),
     100, R),
    ("sts not ready", obj("apps/v1", "StatefulSet", {"replicas": 2}, {"readyReplicas": 1, "updatedReplicas": 2}), 100, W),
    # DaemonSet: updated and available of desired scheduled (AppController counted scheduled ones)
    ("ds ready", obj("apps/v1", "DaemonSet", {}, {"desiredNumberScheduled": 3, "updatedNumberScheduled": 3,
                                                 "numberAvailable": 3, "currentNumberScheduled": 3}), 100, R),
    ("ds scheduled not available", obj("apps/v1", "DaemonSet", {}, {
        "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 1,
        "currentNumberScheduled": 3}), 100, W),
    # PVC, CRD
    ("pvc bound", obj("v1", "PersistentVolumeClaim", {}, {"phase": "Bound"}), 100, R),
    ("pvc pending", obj("v1", "PersistentVolumeClaim", {}, {"phase": "Pending"}), 100, W),
    ("pvc lost", obj("v1", "PersistentVolumeClaim", {}, {"phase": "Lost"}), 100, F),
    ("crd established", obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", {}, {
        "conditions": [cond("NamesAccepted"), cond("Established")]}), 100, R),
    ("crd new", obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", {}, {}), 100, W),
    ("crd names rejected", obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", {}, {
        "conditions": [cond("NamesAccepted", "False", message="conflict")]}), 100, F),
    # existence is enough for configuration kinds
    ("configmap", obj("v1", "ConfigMap"), 100, R),
    ("secret", obj("v1", "Secret"), 100, R),
    ("serviceaccount", obj("v1", "ServiceAccount"), 100, R),
    ("role", obj("rbac.authorization.k8s.io/v1", "Role"), 100, R),
    # custom resources: kstatus conditions
    ("cr no conditions", obj("example.com/v1", "Backup"), 100, R),
    ("cr ready", obj("example.com/v1", "Backup", status={"conditions": [cond("Ready")]}), 100, R),
    ("cr not ready", obj("example.com/v1", "Backup", status={"conditions": [cond("Ready", "False")]}), 100, W),
    ("cr reconciling", obj("example.com/v1", "Backup", status={"conditions": [cond("Reconciling"), cond("Ready")]}),
     100, W),
    ("cr stalled", obj("example.com/v1", "Backup", status={"conditions": [cond("Stalled", message="bad spec")]}), 100, F),
    ("cr old generation", obj("example.com/v1", "Backup", status={"observedGeneration": 1, "conditions": [cond("Ready")]},
                              generation=2), 100, W),
    # being deleted
    ("terminating", obj("v1", "ConfigMap", deletionTimestamp="2026-01-01T00:00:00Z"), 100, W),
]


@pytest.mark.parametrize("name,o,sf,want", CASES, ids=[c[0] for c in CASES])
def test_rules(name, o, sf, want):
    r = readiness.compute(o, success_factor=sf)
    assert r.status is want, r.message
    assert r.message


def _pod(name, labels, ready=True):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "status": {"phase": "Running", "conditions": [cond("Ready", "True" if ready else "False")]}}


ENDPOINTS = readywhen.parse("endpoints")


@pytest.mark.parametrize("pods,sf,want", [
    ([], 100, W),  # AppController counted "no pod selected" as ready
    ([_pod("a", {"app": "web"})], 100, R),
    ([_pod("a", {"app": "web"}), _pod("b", {"app": "web"}, ready=False)], 100, W),
    ([_pod("a", {"app": "web"}), _pod("b", {"app": "web"}, ready=False)], 50, R),
    ([_pod("a", {"app": "web"}, ready=False)], 1, W),  # at least one ready pod, whatever the factor
    ([_pod("a", {"app": "other"})], 100, W),
])
def test_service_with_ready_when_endpoints_waits_for_the_pods_it_selects(pods, sf, want):
    svc = obj("v1", "Service", {"selector": {"app": "web"}, "clusterIP": "10.96.0.1"})
    assert readiness.compute(svc, success_factor=sf, ready_when=ENDPOINTS, related=pods).status is want


@pytest.mark.parametrize("spec,status,want", [
    ({"selector": {"app": "web"}}, None, W),  # no cluster IP allocated yet
    ({"selector": {"app": "web"}, "clusterIP": "10.96.0.1"}, None, R),  # no pod needed, as Helm 3 and kstatus
    ({"clusterIP": "None", "selector": {"app": "db"}}, None, R),  # headless
    ({"type": "ExternalName", "externalName": "db.example.com"}, None, R),  # no IP ever
    ({"type": "LoadBalancer", "clusterIP": "10.96.0.1"}, None, W),
    ({"type": "LoadBalancer", "clusterIP": "10.96.0.1"}, {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}, R),
    ({"type": "LoadBalancer", "clusterIP": "10.96.0.1", "externalIPs": ["192.0.2.7"]}, None, R),
    ({"type": "NodePort", "clusterIP": "10.96.0.1"}, None, R),
])
def test_service_is_ready_as_helm_wait_has_it(spec, status, want):
    svc = obj("v1", "Service", spec, status=status)
    r = readiness.compute(svc)
    assert r.status is want, r.message


def test_service_endpoints_special_cases():
    svc = obj("v1", "Service", {"selector": {"app": "web"}, "clusterIP": "10.96.0.1"})
    done = _pod("a", {"app": "web"})
    done["status"] = {"phase": "Succeeded"}
    assert readiness.compute(svc, ready_when=ENDPOINTS, related=[done]).status is W  # a finished pod is no endpoint
    failed = _pod("b", {"app": "web"})
    failed["status"] = {"phase": "Failed"}
    assert readiness.compute(svc, ready_when=ENDPOINTS, related=[_pod("a", {"app": "web"}), failed]).ready
    publish = obj("v1", "Service", {"selector": {"app": "web"}, "publishNotReadyAddresses": True})
    assert readiness.compute(publish, ready_when=ENDPOINTS, related=[_pod("a", {"app": "web"}, ready=False)]).ready
    assert readiness.compute(obj("v1", "Service", {}), ready_when=ENDPOINTS).ready  # no selector: managed elsewhere
    both = readywhen.parse("endpoints && {.spec.clusterIP}")
    assert readiness.compute(publish, ready_when=both, related=[_pod("a", {"app": "web"})]).status is W
    assert readiness.compute(svc, ready_when=both, related=[_pod("a", {"app": "web"})]).ready
    cm_ = obj("v1", "ConfigMap")
    r = readiness.compute(cm_, ready_when=ENDPOINTS)
    assert r.status is W and "Services only" in r.message
    assert readiness.waits_for_endpoints(both) and not readiness.waits_for_endpoints(readywhen.parse("exists"))
    assert not readiness.waits_for_endpoints(None)


def test_ready_when_overrides_but_failures_still_fail():
    clauses = readywhen.parse("{.status.phase} == Active")
    ns = obj("v1", "Namespace", status={"phase": "Terminating"})
    assert readiness.compute(ns, ready_when=clauses).status is W
    ns["status"]["phase"] = "Active"
    assert readiness.compute(ns, ready_when=clauses).ready
    failed = obj("batch/v1", "Job", status={"conditions": [cond("Failed")]})
    assert readiness.compute(failed, ready_when=readywhen.parse("exists")).failed
    running = obj("batch/v1", "Job", status={"active": 1})
    assert readiness.compute(running, ready_when=readywhen.parse("exists")).ready


def test_every_rule_is_used_and_named_after_its_kind():
    for key, rule in readiness.RULES.items():
        assert rule.__name__ == key.split("/")[1].lower()
    assert readiness.rule_for("example.com", "Backup") is readiness.custom_resource
    assert readiness.rule_for("networking.k8s.io", "Ingress") is readiness.exists


@pytest.mark.parametrize("desired,sf,need", [(3, 100, 3), (3, 60, 2), (3, 1, 1), (0, 100, 0), (10, 80, 8), (1, 50, 1)])
def test_needed(desired, sf, need):
    assert readiness.needed(desired, sf) == need


# ---------------------------------------------------------------- lint: endpoints-deadlock

def _lint(*docs):
    from conftest import rendered

    from helm_ac.analysis import graph, model
    from helm_ac.analysis.lint import checks
    from helm_ac.rendering import manifests

    a = model.analyze(manifests.split(rendered(*[(f"c/templates/t{i}.yaml", d) for i, d in enumerate(docs)])), None,
                      "default")
    return [f for f in checks.run_all(a, graph.collect(a), "chart") if f.rule == "endpoints-deadlock"]


def _svc(ready_when="endpoints"):
    ann = f"\n    appcontroller.k8s/ready-when: {ready_when}" if ready_when else ""
    return f"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:{ann or ' {}'}\nspec:\n  selector: {{app: web}}\n"


def _deploy(name="web", deps="service/web", app="web"):
    ann = f"\n    appcontroller.k8s/depends-on: {deps}" if deps else ""
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  annotations:{ann or ' {}'}\n"
            f"spec:\n  template:\n    metadata:\n      labels: {{app: {app}, tier: x}}\n")


def test_endpoints_deadlock_direct_and_transitive():
    [f] = _lint(_svc(), _deploy())
    assert f.severity.value == "error" and f.object == "service/web" and f.file == "templates/t0.yaml"
    assert "deployment/web → service/web" in f.message and "ready-when: endpoints" in f.message
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  annotations:\n    appcontroller.k8s/depends-on: service/web\n"
    [f] = _lint(_svc("endpoints && {.spec.clusterIP}"), cm, _deploy(deps="configmap/cfg"))
    assert "deployment/web → configmap/cfg → service/web" in f.message


def test_no_endpoints_deadlock_without_the_opt_in_or_with_a_free_pod_source():
    assert _lint(_svc(ready_when=""), _deploy()) == []  # ready with its cluster IP: no deadlock
    assert _lint(_svc(), _deploy(deps="")) == []
    assert _lint(_svc(), _deploy(), _deploy("canary", deps="")) == []  # the canary's pods make it ready
    assert _lint(_svc(), _deploy(app="other")) == []  # its pods are not selected
    assert _lint(_svc()) == []  # pods from elsewhere


def test_unresolved_reference_suggests_the_name_with_the_release_prefix():
    """Shared by depends-on and the simulate flags: job/migrate -> job/app-migrations-migrate."""
    from conftest import cm, rendered

    from helm_ac.analysis import graph, model
    from helm_ac.analysis.lint import checks
    from helm_ac.rendering import manifests

    job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: app-migrations-migrate\n"
    a = model.analyze(manifests.split(rendered(("c/templates/j.yaml", job),
                                               ("c/templates/c.yaml", cm("c", {"appcontroller.k8s/depends-on":
                                                                                "job/migrate"})))), None, "default")
    [f] = [f for f in checks.run_all(a, graph.collect(a), "chart") if f.rule == "unresolved-reference"]
    assert "job/app-migrations-migrate" in f.message + f.hint
