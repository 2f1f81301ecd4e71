"""``metadata.generation`` only on the kinds whose Kubernetes registry strategy keeps it."""
from __future__ import annotations

from typing import Any

import pytest

from helm_ac.clock import VirtualLoop
from helm_ac.kubesim.resources import Registry, Resource
from helm_ac.kubesim.store import Store

WIDGETS = Resource(group="example.com", version="v1", kind="Widget", plural="widgets", namespaced=True,
                   verbs=("create", "delete", "get", "list", "patch", "update", "watch"), crd="widgets.example.com")


@pytest.fixture
def store() -> Store:
    reg = Registry.builtin()
    reg.add(WIDGETS)
    return Store(reg, VirtualLoop(1_800_000_000.0))


def r(store: Store, plural: str, group: str = "") -> Resource:
    res = store.registry.lookup(group, "v1", plural)
    assert res is not None
    return res


# (group, plural, body): kinds whose PrepareForCreate sets Generation = 1, and kinds without it
TRACKED = [("apps", "deployments", {"spec": {"replicas": 1}}), ("apps", "statefulsets", {"spec": {"replicas": 1}}),
           ("batch", "jobs", {"spec": {"parallelism": 1}}), ("", "pods", {"spec": {"containers": []}}),
           ("policy", "poddisruptionbudgets", {"spec": {"minAvailable": 1}}),
           ("networking.k8s.io", "ingresses", {"spec": {}}), ("apiextensions.k8s.io", "customresourcedefinitions", {})]
UNTRACKED = [("", "configmaps", {"data": {"a": "1"}}), ("", "secrets", {"data": {}}),
             ("", "services", {"spec": {"ports": [{"port": 80}]}}), ("", "serviceaccounts", {}),
             ("", "persistentvolumeclaims", {"spec": {"resources": {"requests": {"storage": "1Gi"}}}}),
             ("rbac.authorization.k8s.io", "roles", {"rules": []})]


def _create(store: Store, group: str, plural: str, body: dict[str, Any]) -> dict[str, Any]:
    res = r(store, plural, group)
    return store.create(res, "default" if res.namespaced else None, {"metadata": {"name": "x"}, **body})


@pytest.mark.parametrize("group,plural,body", TRACKED)
def test_workloads_crds_and_pods_get_generation_1(store: Store, group: str, plural: str, body: dict[str, Any]) -> None:
    assert _create(store, group, plural, body)["metadata"]["generation"] == 1


@pytest.mark.parametrize("group,plural,body", UNTRACKED)
def test_configmaps_secrets_services_have_none(store: Store, group: str, plural: str, body: dict[str, Any]) -> None:
    assert "generation" not in _create(store, group, plural, body)["metadata"]


def test_an_update_of_a_kind_without_generation_adds_none(store: Store) -> None:
    svc = r(store, "services")
    s = store.create(svc, "default", {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}})
    s = store.update(svc, "default", "s", {**s, "spec": {**s["spec"], "ports": [{"port": 81}]}})
    assert "generation" not in s["metadata"]
    cms = r(store, "configmaps")
    c = store.create(cms, "default", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    c, _ = store.patch(cms, "default", "c", "merge", {"data": {"a": "2"}})
    assert c["data"] == {"a": "2"} and "generation" not in c["metadata"]


def test_custom_resources_and_deletion_move_generation(store: Store) -> None:
    w = store.create(WIDGETS, "default", {"metadata": {"name": "w", "finalizers": ["example.com/f"]}, "spec": {"a": 1}})
    assert w["metadata"]["generation"] == 1
    w, _ = store.patch(WIDGETS, "default", "w", "merge", {"spec": {"a": 2}})
    assert w["metadata"]["generation"] == 2
    held = store.delete(WIDGETS, "default", "w")  # BeforeDelete moves a generation that is set
    assert held["metadata"]["generation"] == 3
