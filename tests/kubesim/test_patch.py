"""The four PATCH bodies and field ownership of the in-memory Kubernetes (helm_ac.kubesim.patch),
and the OpenAPI schemas they read (helm_ac.kubesim.schemas)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from helm_ac.kubesim.schemas import Schema, schema_for, schema_from_crd

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
NOW = "2026-11-30T17:00:00Z"
LATER = "2026-11-30T17:05:00Z"
DEPLOYMENT = schema_for("apps/v1", "Deployment")
CONFIGMAP = schema_for("v1", "ConfigMap")


# ------------------------------------------------------------------------------------------ schemas
def test_schema_reads_kubernetes_merge_keys_and_list_types():
    assert DEPLOYMENT is not None
    pod = DEPLOYMENT.field("spec").field("template").field("spec")  # type: ignore[union-attr]
    containers = pod.field("containers")
    assert (containers.type, containers.patch_strategy, containers.patch_merge_key) == ("array", "merge", "name")
    assert (containers.list_type, containers.list_map_keys) == ("map", ("name",))
    ports = containers.items.field("ports")
    assert ports.list_map_keys == ("containerPort", "protocol") and ports.patch_merge_key == "containerPort"
    meta = DEPLOYMENT.field("metadata")
    assert meta.field("finalizers").list_type == "set" and meta.field("finalizers").smd_list == ("set", ())
    assert meta.field("labels").additional.type == "string" and meta.field("labels").field("x") is None
    assert DEPLOYMENT.field("spec").field("strategy").patch_strategy == "retainKeys"
    assert DEPLOYMENT.field("spec").field("selector").map_type == "atomic"
    assert pod.field("containers").items.field("ports").items.field("containerPort").type == "integer"
    svc_port = schema_for("v1", "Service").field("spec").field("ports").items  # type: ignore[union-attr]
    assert svc_port.field("targetPort").int_or_string and svc_port.field("targetPort").type is None


def test_schema_for_knows_built_ins_by_group_version_kind_only():
    assert schema_for("rbac.authorization.k8s.io/v1", "ClusterRole") is not None
    assert schema_for("v1", "Deployment") is None          # Deployment is apps/v1
    assert schema_for("example.com/v1", "Widget") is None  # a custom resource


def test_schema_from_crd_adds_object_meta():
    s = schema_from_crd({"type": "object", "properties": {"spec": {
        "type": "object", "properties": {"items": {"type": "array", "x-kubernetes-list-type": "map",
                                                   "x-kubernetes-list-map-keys": ["id"],
                                                   "items": {"type": "object"}},
                                         "port": {"x-kubernetes-int-or-string": True}},
        "x-kubernetes-preserve-unknown-fields": True}}})
    assert s.field("metadata").field("labels").additional is not None
    assert s.field("spec").field("items").smd_list == ("map", ("id",))
    assert s.field("spec").preserve_unknown_fields and s.field("spec").field("port").int_or_string


def test_schemas_are_not_loaded_at_import():
    code = ("import sys, helm_ac.kubesim.schemas as s; "
            "print(s.definitions.cache_info().currsize, 'kubernetes_validate' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.split()
    assert out == ["0", "False"]


