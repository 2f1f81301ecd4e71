"""What a write to the status subresource may change besides status: built-ins keep the request's
annotations (their status strategies reset spec and labels only), custom resources keep nothing
but status; and the deployment controller's revision annotation on the Deployment."""
from __future__ import annotations

from helm_ac.clock import VirtualLoop
from helm_ac.kubesim.resources import Registry, Resource
from helm_ac.kubesim.store import Store

from .test_controllers import Sim

REV = "deployment.kubernetes.io/revision"


def deployment(image: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


def test_a_status_write_of_a_builtin_keeps_annotations_and_generation() -> None:
    store = Store(Registry.builtin(), VirtualLoop())
    res = store.registry.lookup("apps", "v1", "deployments")
    assert res is not None
    d = store.create(res, "default", deployment("nginx:1"))
    changed = {**d, "metadata": {**d["metadata"], "annotations": {"a": "1"}, "labels": {"x": "y"}},
               "spec": {**d["spec"], "replicas": 5}, "status": {"replicas": 0}}
    out = store.update(res, "default", "web", changed, subresource="status")
    assert out["metadata"]["annotations"] == {"a": "1"} and out["status"] == {"replicas": 0}
    assert "labels" not in out["metadata"] and out["spec"]["replicas"] == 1 and out["metadata"]["generation"] == 1


def test_a_status_write_of_a_custom_resource_keeps_only_status() -> None:
    store = Store(Registry.builtin(), VirtualLoop())
    res = Resource("example.org", "v1", "Gadget", "gadgets", True, ("create", "get", "update"),
                   subresources=("status",), crd="gadgets.example.org")
    store.registry.add(res)
    g = store.create(res, "default", {"apiVersion": "example.org/v1", "kind": "Gadget", "metadata": {"name": "g"}})
    out = store.update(res, "default", "g", {**g, "metadata": {**g["metadata"], "annotations": {"a": "1"}},
                                             "status": {"ok": True}}, subresource="status")
    assert out["status"] == {"ok": True} and "annotations" not in out["metadata"]


def test_the_deployment_carries_its_newest_revision() -> None:
    sim = Sim()
    sim.create(deployment("nginx:1"))
    sim.run_until(10)
    d = sim.get("apps/v1", "Deployment", "web")
    assert d["metadata"]["annotations"] == {REV: "1"} and d["metadata"]["generation"] == 1
    sim.replace({**d, "spec": deployment("nginx:2")["spec"]})
    sim.run_until(20)
    d = sim.get("apps/v1", "Deployment", "web")
    assert d["metadata"]["annotations"] == {REV: "2"} and d["metadata"]["generation"] == 2
    assert d["status"]["observedGeneration"] == 2
