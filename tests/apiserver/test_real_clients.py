"""Issue 9, point 6: real Helm 3.17.3 and 4.1.4 against the embedded API server (the real store,
simulated controllers in real time, faults). One server for the module; each test has namespaces
and release names of its own (the charts' ClusterRoles are cluster-scoped: names carry the major).

Helm 3 installs by create and upgrades by a three-way strategic merge patch; Helm 4 installs and
upgrades by server-side apply: both paths are exercised here on the example charts.
kubectl and RBAC: test_real_clients_kubectl.py; the Python client: test_client.py."""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, HelmEnv
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from helm_ac.apiserver.server import Options, running

pytestmark = pytest.mark.helm

#: Faster simulated controllers than the defaults (1 s per Pod): every install takes about a second.
BEHAVIOUR = """\
seconds: {Pod: 0.2, ReplicaSet: 0.2, Deployment: 0.2, StatefulSet: 0.2, PersistentVolumeClaim: 0.1,
          CustomResourceDefinition: 0.1}
"""
#: Faults, each confined to the namespace of one test and one Helm major.
FAULTS = [f"verb=create|patch,resource=deployments.apps,namespace=f429-{m},error=429,retry-after=1,count=2"
          for m in "34"] + \
         [f"verb=create,resource=secrets,namespace=f500-{m},error=500" for m in "34"]


class Cluster:
    def __init__(self, kubeconfig: Path, audit: Path) -> None:
        self.kubeconfig, self.audit = kubeconfig, audit
        self.api = config.new_client_from_config(config_file=str(kubeconfig))
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.ext = client.ApiextensionsV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)

    def helm(self, helm: HelmEnv, *args: str, check: bool = True) -> Any:
        p = helm.run(*args, env=dict(helm.env, KUBECONFIG=str(self.kubeconfig)), check=False)
        if check:
            assert p.returncode == 0, f"helm {helm.major} {' '.join(args)}:\n{p.stdout}\n{p.stderr}"
        return p

    def audited(self, namespace: str) -> list[dict[str, Any]]:
        return [r for r in map(json.loads, self.audit.read_text().splitlines()) if r.get("namespace") == namespace]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    d = tmp_path_factory.mktemp("cluster")
    (d / "behaviour.yaml").write_text(BEHAVIOUR)
    with running(Options(behaviour=d / "behaviour.yaml", bookmark_interval=0.5, audit_log=d / "audit.jsonl",
                         faults=FAULTS)) as r:
        c = Cluster(r.kubeconfig, d / "audit.jsonl")
        yield c
        c.api.close()


def eventually(check: Callable[[], Any], what: str, seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while not (got := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)
    return got


def available(dep: Any) -> bool:
    conds = {c.type: c.status for c in dep.status.conditions or []}
    return bool(conds.get("Available") == "True" and dep.status.ready_replicas == dep.spec.replicas
                and dep.status.observed_generation == dep.metadata.generation)


def release_info(c: Cluster, helm: HelmEnv, rel: str, ns: str) -> tuple[list[Any], Any, list[Any]]:
    listed = json.loads(c.helm(helm, "list", "-n", ns, "-o", "json").stdout)
    status = json.loads(c.helm(helm, "status", rel, "-n", ns, "-o", "json").stdout)
    history = json.loads(c.helm(helm, "history", rel, "-n", ns, "-o", "json").stdout)
    return listed, status, history


def test_install_wait_wordpress_then_list_status_history(cluster: Cluster, helm: HelmEnv) -> None:
    ns, rel = f"wp-{helm.major}", "wp"
    p = cluster.helm(helm, "install", rel, str(EXAMPLES / "wordpress"), "-n", ns, "--create-namespace",
                     "--wait", "--timeout", "60s")
    assert "STATUS: deployed" in p.stdout
    # --wait returned only once the simulated controllers made everything ready
    (dep,) = cluster.apps.list_namespaced_deployment(ns).items
    assert dep.metadata.name == "wp-wordpress" and available(dep)
    (sts,) = cluster.apps.list_namespaced_stateful_set(ns).items
    assert sts.status.ready_replicas == sts.spec.replicas == 1
    assert {pvc.status.phase for pvc in cluster.core.list_namespaced_persistent_volume_claim(ns).items} == {"Bound"}
    listed, status, history = release_info(cluster, helm, rel, ns)
    assert [(r["name"], r["namespace"], r["revision"], r["status"]) for r in listed] == [(rel, ns, "1", "deployed")]
    assert (status["name"], status["version"], status["info"]["status"]) == (rel, 1, "deployed")
    assert [(h["revision"], h["status"]) for h in history] == [(1, "deployed")]
    # the release record: a Secret Helm wrote in protobuf, read back by both majors
    (secret,) = cluster.core.list_namespaced_secret(ns, label_selector="owner=helm").items
    assert secret.metadata.name == f"sh.helm.release.v1.{rel}.v1" and secret.type == "helm.sh/release.v1"


def test_install_wait_chart_with_crds(cluster: Cluster, helm: HelmEnv) -> None:
    ns, rel = f"op-{helm.major}", f"op{helm.major}"
    cluster.helm(helm, "install", rel, str(EXAMPLES / "crd-operator"), "-n", ns, "--create-namespace",
                 "--wait", "--timeout", "60s")
    crd = cluster.ext.read_custom_resource_definition("backups.example.com")
    assert {c.type: c.status for c in crd.status.conditions}["Established"] == "True"
    backups = cluster.custom.list_namespaced_custom_object("example.com", "v1alpha1", ns, "backups")["items"]
    assert sorted(b["metadata"]["name"] for b in backups) == ["postgres-nightly", "uploads-hourly"]
    (dep,) = cluster.apps.list_namespaced_deployment(ns).items
    assert available(dep)
    listed, status, history = release_info(cluster, helm, rel, ns)
    assert [r["status"] for r in listed] == ["deployed"] and status["info"]["status"] == "deployed"
    assert [(h["revision"], h["status"]) for h in history] == [(1, "deployed")]


def test_upgrade_changes_and_removes_fields_rollback_uninstall(cluster: Cluster, helm: HelmEnv) -> None:
    ns, rel, chart = f"up-{helm.major}", "wp", str(EXAMPLES / "wordpress")
    cluster.helm(helm, "install", rel, chart, "-n", ns, "--create-namespace", "--wait", "--timeout", "60s")
    # a changed field (replicas 1 -> 2) and a removed one (resources.limits, and the ConfigMap key
    # debug settings do not change): gone from the live objects afterwards
    cluster.helm(helm, "upgrade", rel, chart, "-n", ns, "--wait", "--timeout", "60s",
                 "--set", "replicaCount=2", "--set", "resources.limits=null")
    dep = cluster.apps.read_namespaced_deployment("wp-wordpress", ns)
    assert dep.spec.replicas == 2 and available(dep)
    # Helm 3 wrote by create and three-way strategic merge patch, Helm 4 by server-side apply
    managers = {(m.manager, m.operation) for m in dep.metadata.managed_fields if m.subresource is None}
    assert managers == {("helm", "Update" if helm.major == "3" else "Apply")}
    (container,) = dep.spec.template.spec.containers
    assert container.resources.limits is None and container.resources.requests == {"cpu": "100m", "memory": "256Mi"}
    raw = cluster.api.sanitize_for_serialization(dep)
    assert "limits" not in raw["spec"]["template"]["spec"]["containers"][0]["resources"]
    # the template changed: a second ReplicaSet took over, the first scaled to 0
    rss = cluster.apps.list_namespaced_replica_set(ns).items
    assert sorted((rs.spec.replicas, rs.metadata.annotations["deployment.kubernetes.io/revision"]) for rs in rss) \
        == [(0, "1"), (2, "2")]
    cluster.helm(helm, "rollback", rel, "1", "-n", ns, "--wait", "--timeout", "60s")
    dep = cluster.apps.read_namespaced_deployment("wp-wordpress", ns)
    assert dep.spec.replicas == 1 and dep.spec.template.spec.containers[0].resources.limits == {"memory": "512Mi"}
    assert eventually(lambda: available(cluster.apps.read_namespaced_deployment("wp-wordpress", ns)), "rolled back")
    history = json.loads(cluster.helm(helm, "history", rel, "-n", ns, "-o", "json").stdout)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "superseded"), (3, "deployed")]
    assert history[2]["description"] == "Rollback to 1"

    p = cluster.helm(helm, "uninstall", rel, "-n", ns, "--wait", "--timeout", "60s")
    assert f'release "{rel}" uninstalled' in p.stdout
    # the release's objects and what the controllers made from them (ReplicaSets, Pods) are gone
    assert cluster.apps.list_namespaced_deployment(ns).items == []
    assert cluster.apps.list_namespaced_stateful_set(ns).items == []
    assert eventually(lambda: not cluster.apps.list_namespaced_replica_set(ns).items
                      and not cluster.core.list_namespaced_pod(ns).items, "ReplicaSets and Pods collected")
    assert [s.metadata.name for s in cluster.core.list_namespaced_service(ns).items] == []
    assert cluster.core.list_namespaced_secret(ns, label_selector="owner=helm").items == []
    # as in Kubernetes, the StatefulSet's volumeClaimTemplates PVC outlives it (no owner)
    assert [c.metadata.name for c in cluster.core.list_namespaced_persistent_volume_claim(ns).items] == \
        ["data-wp-mariadb-0"]
    assert json.loads(cluster.helm(helm, "list", "-n", ns, "-o", "json").stdout) == []


def test_install_passes_with_429_retry_after_on_creates(cluster: Cluster, helm: HelmEnv) -> None:
    ns = f"f429-{helm.major}"
    cluster.helm(helm, "install", "wp", str(EXAMPLES / "wordpress"), "-n", ns, "--create-namespace",
                 "--wait", "--timeout", "60s")
    # Helm 3 creates (POST), Helm 4 applies (PATCH): both refused twice, then client-go's retries passed
    verb = {"3": "create", "4": "patch"}[helm.major]
    writes = [(r["verb"], r["code"]) for r in cluster.audited(ns)
              if r["resource"] == "deployments" and r["verb"] in ("create", "patch")]
    assert writes == [(verb, 429), (verb, 429), (verb, 201)]
    (dep,) = cluster.apps.list_namespaced_deployment(ns).items
    assert available(dep)
    assert [r["status"] for r in json.loads(cluster.helm(helm, "list", "-n", ns, "-o", "json").stdout)] == ["deployed"]


def test_500_on_the_release_secret_fails_clearly(cluster: Cluster, helm: HelmEnv) -> None:
    ns = f"f500-{helm.major}"
    p = cluster.helm(helm, "install", "wp", str(EXAMPLES / "wordpress"), "-n", ns, "--create-namespace",
                     "--wait", "--timeout", "60s", check=False)
    assert p.returncode == 1
    # client-go does not retry a 500 without Retry-After; Helm names the failed step and the Status message
    assert p.stderr == ("Error: INSTALLATION FAILED: create: failed to create: Internal error occurred: "
                        f"injected fault (verb=create,resource=secrets,namespace={ns},error=500)\n")
    # nothing of the release was created: the release record comes first
    assert cluster.apps.list_namespaced_deployment(ns).items == []
    with pytest.raises(ApiException) as e:
        cluster.core.read_namespaced_secret("sh.helm.release.v1.wp.v1", ns)
    assert e.value.status == 404
