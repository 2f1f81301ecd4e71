"""Server-side printing (helm_ac.kubesim.tables): the Table kube-apiserver's printers give."""
from __future__ import annotations

from typing import Any

import pytest

from helm_ac.kubesim import tables
from helm_ac.kubesim.resources import Registry, Resource

REG = Registry.builtin()
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
CREATED = "2027-01-15T08:00:00Z"
WIDGETS = Resource(group="example.com", version="v1", kind="Widget", plural="widgets", namespaced=True,
                   verbs=("get", "list"), crd="widgets.example.com")


def res(plural: str, group: str = "", version: str = "v1") -> Resource:
    r = REG.lookup(group, version, plural)
    assert r is not None
    return r


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "creationTimestamp": CREATED, "resourceVersion": "7", **extra}


def headers(t: dict[str, Any], wide: bool = False) -> list[str]:
    return [c["name"] for c in t["columnDefinitions"] if wide or c["priority"] == 0]


@pytest.mark.parametrize("seconds,text", [
    (-5, "<invalid>"), (-1, "0s"), (0, "0s"), (119, "119s"), (120, "2m"), (200, "3m20s"), (600, "10m"),
    (3 * 3600 - 1, "179m"), (3 * 3600, "3h"), (5 * 3600 + 60, "5h1m"), (8 * 3600, "8h"), (47 * 3600, "47h"),
    (48 * 3600, "2d"), (3 * 86400 + 4 * 3600, "3d4h"), (8 * 86400, "8d"), (800 * 86400, "2y70d"),
    (9 * 365 * 86400, "9y")])
def test_human_duration_as_apimachinery_writes_it(seconds: float, text: str) -> None:
    assert tables.human_duration(seconds) == text


def test_a_deployment_list_as_a_table_with_partial_object_metadata() -> None:
    d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web"),
         "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "x:1"}]}}},
         "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    lst = {"kind": "DeploymentList", "apiVersion": "apps/v1", "metadata": {"resourceVersion": "9", "continue": "c"},
           "items": [d]}
    t = tables.table(res("deployments", "apps"), lst, now=T0 + 200)
    assert (t["kind"], t["apiVersion"], t["metadata"]) == ("Table", "meta.k8s.io/v1", {"resourceVersion": "9",
                                                                                          "continue": "c"})
    assert headers(t) == ["Name", "Ready", "Up-to-date", "Available", "Age"]
    assert headers(t, wide=True)[5:] == ["Containers", "Images", "Selector"]
    assert t["columnDefinitions"][0]["format"] == "name"
    assert t["rows"] == [{"cells": ["web", "2/3", 3, 2, "3m20s", "a,b", "nginx,x:1", "app=web"],
                          "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                     "metadata": d["metadata"]}}]
    assert tables.table(res("deployments", "apps"), d, now=T0, include_object="Object")["rows"][0]["object"] is d
    assert "object" not in tables.table(res("deployments", "apps"), d, now=T0, include_object="None")["rows"][0]


def pod(phase: str, statuses: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"metadata": meta("p", **extra.pop("meta", {})), "spec": {"containers": [{"name": "c"}], **extra},
            "status": {"phase": phase, "containerStatuses": statuses, "podIPs": [{"ip": "10.0.0.1"}]}}


@pytest.mark.parametrize("obj,cells", [
    (pod("Running", [{"ready": True, "restartCount": 0, "state": {"running": {}}}], nodeName="n1"),
     ["p", "1/1", "Running", "0", "1s", "10.0.0.1", "n1", "<none>", "<none>"]),
    (pod("Pending", [{"ready": False, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]),
     ["p", "0/1", "ContainerCreating", "0", "1s", "10.0.0.1", "<none>", "<none>", "<none>"]),
    (pod("Succeeded", [{"ready": False, "restartCount": 0, "state": {"terminated": {"exitCode": 0,
                                                                                     "reason": "Completed"}}}]),
     ["p", "0/1", "Completed", "0", "1s", "10.0.0.1", "<none>", "<none>", "<none>"]),
    (pod("Failed", [{"ready": False, "restartCount": 0, "state": {"terminated": {"exitCode": 2}}}]),
     ["p", "0/1", "ExitCode:2", "0", "1s", "10.0.0.1", "<none>", "<none>", "<none>"]),
    (pod("Running", [{"ready": False, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                      "lastState": {"terminated": {"finishedAt": "2027-01-15T07:59:00Z"}}}]),
     ["p", "0/1", "CrashLoopBackOff", "3 (61s ago)", "1s", "10.0.0.1", "<none>", "<none>", "<none>"]),
    (pod("Running", [{"ready": True, "restartCount": 0, "state": {"running": {}}}],
         meta={"deletionTimestamp": CREATED}),
     ["p", "1/1", "Terminating", "0", "1s", "10.0.0.1", "<none>", "<none>", "<none>"]),
])
def test_pod_cells_as_printpod_gives_them(obj: dict[str, Any], cells: list[Any]) -> None:
    t = tables.table(res("pods"), obj, now=T0 + 1)
    assert headers(t) == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert t["rows"][0]["cells"] == cells


def test_a_completed_pod_row_carries_the_completed_condition() -> None:
    done = pod("Succeeded", [])
    assert tables.table(res("pods"), done, now=T0)["rows"][0]["conditions"] == [
        {"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}]


def test_jobs_services_configmaps_secrets_namespaces() -> None:
    job = {"metadata": meta("j"), "spec": {"completions": 2, "template": {"spec": {"containers": []}}},
           "status": {"succeeded": 2, "startTime": CREATED, "completionTime": "2027-01-15T08:00:09Z",
                      "conditions": [{"type": "Complete", "status": "True"}]}}
    assert tables.table(res("jobs", "batch"), job, now=T0 + 60)["rows"][0]["cells"][:5] == [
        "j", "Complete", "2/2", "9s", "60s"]
    svc = {"metadata": meta("s"), "spec": {"type": "NodePort", "clusterIPs": ["10.96.0.5"],
                                           "ports": [{"port": 80, "nodePort": 30001, "protocol": "TCP"},
                                                     {"port": 53, "protocol": "UDP"}], "selector": {"b": "2", "a": "1"}}}
    assert tables.table(res("services"), svc, now=T0)["rows"][0]["cells"] == [
        "s", "NodePort", "10.96.0.5", "<none>", "80:30001/TCP,53/UDP", "0s", "a=1,b=2"]
    lb = {"metadata": meta("lb"), "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.6"], "ports": []}}
    assert tables.table(res("services"), lb, now=T0)["rows"][0]["cells"][3:5] == ["<pending>", "<none>"]
    cm = {"metadata": meta("c"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}}
    assert tables.table(res("configmaps"), cm, now=T0)["rows"][0]["cells"] == ["c", 3, "0s"]
    sec = {"metadata": meta("s"), "type": "Opaque", "data": {"a": "MQ=="}}
    assert tables.table(res("secrets"), sec, now=T0)["rows"][0]["cells"] == ["s", "Opaque", 1, "0s"]
    ns = {"metadata": meta("n"), "status": {"phase": "Terminating"}}
    assert tables.table(res("namespaces"), ns, now=T0)["rows"][0]["cells"] == ["n", "Terminating", "0s"]


def test_kinds_without_a_printer_get_the_default_table() -> None:
    role = {"metadata": meta("r"), "rules": []}
    t = tables.table(res("roles", "rbac.authorization.k8s.io"), role, now=T0 + 999)
    assert [(c["name"], c["type"]) for c in t["columnDefinitions"]] == [("Name", "string"), ("Created At", "date")]
    assert t["rows"][0]["cells"] == ["r", CREATED]


def crd(columns: list[dict[str, Any]] | None) -> dict[str, Any]:
    v: dict[str, Any] = {"name": "v1", "served": True, "storage": True}
    if columns is not None:
        v["additionalPrinterColumns"] = columns
    return {"spec": {"group": "example.com", "versions": [v]}}


def test_custom_resources_print_their_additional_printer_columns() -> None:
    w = {"metadata": meta("w"), "spec": {"size": 3, "tags": ["a", "b"], "ratio": 1.5, "on": True},
         "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}],
                    "since": "2027-01-15T07:00:00Z"}}
    cols = [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
            {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type=='Ready')].status"},
            {"name": "Tags", "type": "string", "jsonPath": ".spec.tags", "priority": 1},
            {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"},
            {"name": "On", "type": "boolean", "jsonPath": ".spec.on"},
            {"name": "Since", "type": "date", "jsonPath": ".status.since"},
            {"name": "Missing", "type": "string", "jsonPath": ".status.nothing"}]
    t = tables.table(WIDGETS, w, now=T0, crd=crd(cols))
    assert headers(t, wide=True) == ["Name", "Size", "Ready", "Tags", "Ratio", "On", "Since", "Missing"]
    assert t["columnDefinitions"][3]["priority"] == 1
    assert t["rows"][0]["cells"] == ["w", 3, "True", '["a","b"]', 1.5, True, "60m", None]
    default = tables.table(WIDGETS, w, now=T0 + 30, crd=crd(None))
    assert [(c["name"], c["type"]) for c in default["columnDefinitions"]] == [("Name", "string"), ("Age", "date")]
    assert default["rows"][0]["cells"] == ["w", "30s"]


def test_fields_the_api_server_defaults_are_printed_with_their_defaults() -> None:
    """The store keeps what clients sent; a real server defaults ``replicas`` to 1 and ``volumeMode``."""
    d = {"metadata": meta("d"), "spec": {"template": {"spec": {"containers": []}}}, "status": {}}
    assert tables.table(res("deployments", "apps"), d, now=T0)["rows"][0]["cells"][1] == "0/1"
    assert tables.table(res("statefulsets", "apps"), d, now=T0)["rows"][0]["cells"][1] == "0/1"
    assert tables.table(res("replicasets", "apps"), d, now=T0)["rows"][0]["cells"][1] == 1
    pvc = {"metadata": meta("c"), "spec": {"volumeName": "pv-1"},
           "status": {"phase": "Bound", "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "capacity": {"storage": "1Gi"}}}
    assert tables.table(res("persistentvolumeclaims"), pvc, now=T0)["rows"][0]["cells"] == [
        "c", "Bound", "pv-1", "1Gi", "RWO,RWX", "", "<unset>", "0s", "Filesystem"]
