"""Kubernetes' protobuf bodies (helm_ac.apiserver.protobuf): the generated modules are what the
script generates and load on the pinned runtime; decode gives the JSON a JSON client would send."""
from __future__ import annotations

import base64
import gzip
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from google.protobuf import descriptor_pool
from hypothesis import given, settings
from hypothesis import strategies as st

from helm_ac.apiserver import protobuf
from helm_ac.apiserver.pb.api.apps.v1 import generated_pb2 as apps_pb2
from helm_ac.apiserver.pb.api.core.v1 import generated_pb2 as core_pb2
from helm_ac.apiserver.pb.api.networking.v1 import generated_pb2 as networking_pb2
from helm_ac.apiserver.pb.apimachinery.pkg.apis.meta.v1 import generated_pb2 as meta_pb2
from helm_ac.apiserver.pb.apimachinery.pkg.runtime import generated_pb2 as runtime_pb2
from helm_ac.kubesim.errors import StatusError
from helm_ac.kubesim.resources import Registry

ROOT = Path(__file__).resolve().parents[2]
PB = ROOT / "helm_ac" / "apiserver" / "pb"
GOLDEN = Path(__file__).parent / "data"

BINARY = bytes(range(256))


def envelope(body: bytes) -> tuple[str, str, bytes]:
    """(apiVersion, kind, raw) of a body, read with the generated envelope class."""
    assert body.startswith(b"k8s\x00")
    unknown = runtime_pb2.Unknown()
    unknown.ParseFromString(body[4:])
    return unknown.typeMeta.apiVersion, unknown.typeMeta.kind, unknown.raw


def wire(api_version: str, kind: str, msg) -> bytes:
    """A body as a Go client builds it, from a message filled directly (not through encode)."""
    unknown = runtime_pb2.Unknown()
    unknown.typeMeta.apiVersion, unknown.typeMeta.kind = api_version, kind
    unknown.raw = msg.SerializeToString()
    unknown.contentEncoding = unknown.contentType = ""
    return b"k8s\x00" + unknown.SerializeToString()


# --- the generated code ------------------------------------------------------------------------

def test_the_committed_modules_are_what_the_script_generates(tmp_path):
    pytest.importorskip("grpc_tools")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gen_proto
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    gen_proto.generate(tmp_path / "pb")
    fresh = {p.relative_to(tmp_path / "pb"): p.read_text() for p in (tmp_path / "pb").rglob("*.py")}
    committed = {p.relative_to(PB): p.read_text() for p in PB.rglob("*.py")}
    assert sorted(fresh) == sorted(committed)
    stale = [str(p) for p in fresh if fresh[p] != committed[p]]
    assert not stale, f"run python3 scripts/gen_proto.py: these differ from its output: {stale}"


def test_the_generated_code_accepts_the_protobuf_runtime_pyproject_allows():
    """The generated modules refuse a runtime older than their gencode version; pyproject's lowest
    allowed protobuf must not be older."""
    pin = re.search(r'"protobuf>=([0-9.]+)"', (ROOT / "pyproject.toml").read_text())
    assert pin, "pyproject.toml pins protobuf with >="
    lowest = tuple(int(x) for x in pin.group(1).split("."))
    for module in PB.rglob("*_pb2.py"):
        check = re.search(r"ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,\s*(\d+),\s*(\d+),"
                          r"\s*(\d+),", module.read_text())
        assert check, module
        gencode = tuple(int(x) for x in check.groups())
        assert (lowest + (0, 0, 0))[:3] >= gencode, f"{module.name}: gencode {gencode} needs protobuf>={gencode}"


def test_the_vendored_protos_keep_their_license_and_source():
    protos = sorted((ROOT / "helm_ac" / "apiserver" / "proto").rglob("*.proto"))
    assert len(protos) >= 20
    for p in protos:
        assert "Licensed under the Apache License, Version 2.0" in p.read_text()[:800], p
    assert "kubernetes-1.36.3" in (ROOT / "helm_ac" / "apiserver" / "proto" / "README.md").read_text()


# --- the kind table ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["Secret", "ConfigMap", "Namespace", "Service", "Pod", "ServiceAccount",
                                  "PersistentVolumeClaim", "Deployment", "StatefulSet", "DaemonSet",
                                  "ReplicaSet", "Job", "CronJob", "Role", "ClusterRole", "RoleBinding",
                                  "ClusterRoleBinding", "Ingress", "NetworkPolicy", "PodDisruptionBudget",
                                  "HorizontalPodAutoscaler", "CustomResourceDefinition", "Lease",
                                  "StorageClass", "EndpointSlice", "PriorityClass"])
def test_every_builtin_kind_helm_charts_use_has_its_message(kind):
    registry = Registry.builtin()
    served = [r for r in registry.by_kind.values() if r.kind == kind]
    assert served, kind
    for r in served:
        cls = protobuf.message_for(r.group_version, kind)
        assert cls is not None and cls.DESCRIPTOR.name == kind, r.group_version


def test_meta_kinds_are_in_every_group_version_and_custom_resources_are_not():
    assert protobuf.message_for("v1", "DeleteOptions").DESCRIPTOR.full_name.endswith("meta.v1.DeleteOptions")
    assert protobuf.message_for("apps/v1", "DeleteOptions") is protobuf.message_for("v1", "DeleteOptions")
    assert protobuf.message_for("meta.k8s.io/v1", "DeleteOptions") is protobuf.message_for("v1", "DeleteOptions")
    assert protobuf.message_for("example.com/v1", "DeleteOptions") is None
    assert protobuf.message_for("apps.example.com/v1", "Deployment") is None  # a CRD named like a built-in
    assert protobuf.message_for("rbac.authorization.k8s.io/v1", "Role") is not None
    assert protobuf.message_for("v1", "Deployment") is None


# --- round trips -------------------------------------------------------------------------------

def release_secret() -> dict:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "sh.helm.release.v1.demo.v1", "namespace": "default", "creationTimestamp": None,
                         "labels": {"modifiedAt": "1764522000", "name": "demo", "owner": "helm",
                                    "status": "deployed", "version": "1"}},
            "data": {"release": base64.b64encode(BINARY).decode()}, "type": "helm.sh/release.v1"}


def test_a_secret_with_binary_data_round_trips_and_travels_as_bytes():
    body = protobuf.encode(release_secret())
    api_version, kind, raw = envelope(body)
    assert (api_version, kind) == ("v1", "Secret")
    secret = core_pb2.Secret()
    secret.ParseFromString(raw)
    assert secret.data["release"] == BINARY  # base64 is JSON's; the wire has the bytes
    assert secret.type == "helm.sh/release.v1"
    assert protobuf.decode(body) == release_secret()


def test_a_secret_as_go_writes_it_decodes_as_a_json_client_sends_it():
    """Go writes every non-pointer scalar, empty ones too, and a zero creationTimestamp as an empty
    message; JSON omits the empty strings and writes the zero time as null."""
    s = core_pb2.Secret()
    s.metadata.name, s.metadata.namespace = "sh.helm.release.v1.demo.v1", "default"
    s.metadata.generateName = s.metadata.uid = s.metadata.resourceVersion = ""
    s.metadata.generation = 0
    s.metadata.creationTimestamp.SetInParent()
    s.metadata.labels["owner"] = "helm"
    s.data["release"] = b"\x00\x01"
    s.type = "helm.sh/release.v1"
    assert protobuf.decode(wire("v1", "Secret", s)) == {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "sh.helm.release.v1.demo.v1", "namespace": "default", "creationTimestamp": None,
                     "labels": {"owner": "helm"}},
        "data": {"release": "AAE="}, "type": "helm.sh/release.v1"}
    s.immutable = False  # a Go pointer: set to false, JSON writes false
    assert protobuf.decode(wire("v1", "Secret", s))["immutable"] is False


KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._", min_size=1, max_size=20)


@settings(max_examples=60, deadline=None)
@given(data=st.dictionaries(KEYS, st.binary(max_size=64), max_size=5),
       labels=st.dictionaries(KEYS, st.text(max_size=20), max_size=4),
       immutable=st.none() | st.booleans(), kind_type=st.sampled_from(["", "Opaque", "helm.sh/release.v1"]))
def test_any_secret_round_trips(data, labels, immutable, kind_type):
    secret: dict = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    if labels:
        secret["metadata"]["labels"] = labels
    if data:
        secret["data"] = {k: base64.b64encode(v).decode() for k, v in data.items()}
    if kind_type:
        secret["type"] = kind_type
    if immutable is not None:
        secret["immutable"] = immutable
    assert protobuf.decode(protobuf.encode(secret)) == secret


def test_delete_options_round_trip_with_pointers_kept_at_zero():
    opts = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background",
            "gracePeriodSeconds": 0, "orphanDependents": False, "dryRun": ["All"],
            "preconditions": {"uid": "8d3f-uid", "resourceVersion": "42"}}
    assert protobuf.decode(protobuf.encode(opts)) == opts
    foreground = {"apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground"}
    assert protobuf.decode(protobuf.encode(foreground)) == foreground


def test_a_configmap_round_trips():
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "cfg", "namespace": "ns", "annotations": {"a": "1"}, "finalizers": ["x/y"]},
          "data": {"app.yaml": "port: 8080\n", "empty": ""}, "binaryData": {"blob": base64.b64encode(BINARY).decode()},
          "immutable": True}
    assert protobuf.decode(protobuf.encode(cm)) == cm


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "u-1", "resourceVersion": "7", "generation": 2,
                     "creationTimestamp": "2026-11-30T17:00:00Z",
                     "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u-0",
                                          "controller": True, "blockOwnerDeletion": False}],
                     "managedFields": [{"manager": "helm", "operation": "Apply", "apiVersion": "apps/v1",
                                        "time": "2026-11-30T17:00:01Z", "fieldsType": "FieldsV1",
                                        "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}}}]},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                 "template": {"metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
                              "spec": {"containers": [{
                                  "name": "c", "image": "nginx:1.27", "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                  "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "100m"}},
                                  "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5},
                                  "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k",
                                                                                      "optional": False}}}],
                                  "envFrom": [{"configMapRef": {"name": "cfg"}}]}],
                                  "terminationGracePeriodSeconds": 0}}},
        "status": {"observedGeneration": 2, "replicas": 1, "readyReplicas": 1,
                   "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                                   "lastUpdateTime": "2026-11-30T17:00:02Z",
                                   "lastTransitionTime": "2026-11-30T17:00:02Z"}]}}


def test_a_deployment_round_trips_int_or_string_quantities_times_and_fields():
    d = deployment()
    assert protobuf.decode(protobuf.encode(d)) == d


def test_a_deployment_on_the_wire_has_the_kubernetes_special_types():
    _, _, raw = envelope(protobuf.encode(deployment()))
    msg = apps_pb2.Deployment()
    msg.ParseFromString(raw)
    surge, unavailable = msg.spec.strategy.rollingUpdate.maxSurge, msg.spec.strategy.rollingUpdate.maxUnavailable
    assert (surge.type, surge.strVal) == (1, "25%") and (unavailable.type, unavailable.intVal) == (0, 1)
    assert msg.spec.template.spec.containers[0].resources.limits["memory"].string == "1Gi"
    assert msg.metadata.creationTimestamp.seconds == 1796058000  # 2026-11-30T17:00:00Z
    assert msg.metadata.managedFields[0].fieldsV1.Raw == b'{"f:spec":{"f:replicas":{},"f:template":{}}}'
    assert msg.spec.template.spec.containers[0].envFrom[0].configMapRef.localObjectReference.name == "cfg"
    assert msg.spec.HasField("replicas") and msg.spec.replicas == 0


def test_zero_scalars_follow_go_omitempty_and_pointers():
    """paused and minReadySeconds are plain Go fields with omitempty (dropped at zero); replicas and
    progressDeadlineSeconds are pointers (kept at zero); containerPort has no omitempty (kept)."""
    msg = apps_pb2.Deployment()
    msg.metadata.name = "web"
    msg.spec.paused, msg.spec.minReadySeconds = False, 0
    msg.spec.replicas, msg.spec.progressDeadlineSeconds = 0, 0
    port = msg.spec.template.spec.containers.add().ports.add()
    port.containerPort, port.hostPort, port.name = 0, 0, ""
    out = protobuf.decode(wire("apps/v1", "Deployment", msg))
    assert out["spec"]["replicas"] == 0 and out["spec"]["progressDeadlineSeconds"] == 0
    assert "paused" not in out["spec"] and "minReadySeconds" not in out["spec"]
    assert out["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 0}]
    assert "status" not in out  # not on the wire: a Go client always writes it, then it is {}


def test_inline_and_renamed_fields_use_the_json_names():
    ic = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "nginx"},
          "spec": {"controller": "k8s.io/ingress-nginx",
                   "parameters": {"apiGroup": "k8s.example.com", "kind": "P", "name": "p", "scope": "Cluster"}}}
    body = protobuf.encode(ic)
    msg = networking_pb2.IngressClass()
    msg.ParseFromString(envelope(body)[2])
    assert msg.spec.parameters.aPIGroup == "k8s.example.com"  # Go: APIGroup `json:"apiGroup"` proto aPIGroup
    assert protobuf.decode(body) == ic
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "i",
                                    "livenessProbe": {"exec": {"command": ["true"]}, "failureThreshold": 3}}],
                    "volumes": [{"name": "v", "configMap": {"name": "cfg", "defaultMode": 420}},
                                {"name": "s", "secret": {"secretName": "s", "optional": True}}]}}
    msg2 = core_pb2.Pod()
    msg2.ParseFromString(envelope(protobuf.encode(pod))[2])
    assert msg2.spec.volumes[0].volumeSource.configMap.localObjectReference.name == "cfg"
    assert msg2.spec.containers[0].livenessProbe.handler.exec.command == ["true"]
    assert protobuf.decode(protobuf.encode(pod)) == pod


def test_a_crd_round_trips_with_its_json_schema_unions():
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "subresources": {"status": {}},
                                  "schema": {"openAPIV3Schema": {
                                      "type": "object", "x-kubernetes-preserve-unknown-fields": True,
                                      "properties": {
                                          "spec": {"type": "object", "required": ["size"],
                                                   "properties": {"size": {"type": "integer", "minimum": 1,
                                                                           "default": 3},
                                                                  "tags": {"type": "array",
                                                                           "items": {"type": "string"}},
                                                                  "labels": {"type": "object",
                                                                             "additionalProperties": {"type": "string"}},
                                                                  "any": {"x-kubernetes-int-or-string": True,
                                                                          "anyOf": [{"type": "integer"},
                                                                                    {"type": "string"}]}}},
                                          "extra": {"type": "object", "additionalProperties": False}}}}}]}}
    assert protobuf.decode(protobuf.encode(crd)) == crd


def test_lists_and_status_round_trip():
    lst = {"apiVersion": "v1", "kind": "SecretList", "metadata": {"resourceVersion": "12", "continue": "t"},
           "items": [{k: v for k, v in release_secret().items() if k not in ("apiVersion", "kind")}]}
    assert protobuf.decode(protobuf.encode(lst)) == lst
    status = StatusError(404, "NotFound", 'secrets "x" not found',
                         details={"name": "x", "group": "", "kind": "secrets"}).status()
    # StatusDetails.group is `json:"group,omitempty"`: a real server's JSON has no "group": ""
    assert protobuf.decode(protobuf.encode(status)) == {**status, "details": {"name": "x", "kind": "secrets"}}


def test_a_watch_frame_carries_the_object_as_its_own_protobuf_body():
    secret = release_secret()
    frame = protobuf.watch_frame({"type": "MODIFIED", "object": secret})
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    api_version, kind, raw = envelope(frame[4:])
    assert (api_version, kind) == ("v1", "WatchEvent")
    event = meta_pb2.WatchEvent()
    event.ParseFromString(raw)
    assert event.type == "MODIFIED" and event.object.raw == protobuf.encode(secret)
    assert protobuf.decode(frame[4:]) == {"apiVersion": "v1", "kind": "WatchEvent", "type": "MODIFIED",
                                          "object": secret}
    bookmark = {"type": "BOOKMARK", "object": {"apiVersion": "apps/v1", "kind": "Deployment",
                                               "metadata": {"resourceVersion": "9",
                                                            "annotations": {"k8s.io/initial-events-end": "true"}}}}
    assert envelope(protobuf.watch_frame(bookmark)[4:])[:2] == ("apps/v1", "WatchEvent")
    assert protobuf.decode(protobuf.watch_frame(bookmark)[4:])["object"] == bookmark["object"]


def test_gotags_names_only_messages_and_fields_the_protos_have():
    """gotags.json comes from the Go structs; every message and field it names must exist in the
    generated descriptors (a re-vendored tag that renamed one would otherwise go unnoticed)."""
    pool = descriptor_pool.Default()
    protobuf._kinds()  # loads every generated module
    tags = protobuf._gotags()
    assert len(tags) > 400
    for message, facts in tags.items():
        d = pool.FindMessageTypeByName(message)
        names = set(facts.get("inline", [])) | set(facts.get("keep_zero", [])) | set(facts.get("renamed", {}))
        assert names <= set(d.fields_by_name), (message, names - set(d.fields_by_name))
        for name in facts.get("inline", []):
            assert d.fields_by_name[name].message_type is not None, (message, name)


def test_micro_time_and_duration_as_go_writes_them():
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
             "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15,
                      "renewTime": "2026-11-30T17:00:00.250000Z", "acquireTime": "2026-11-30T17:00:00.000000Z"}}
    assert protobuf.decode(protobuf.encode(lease)) == lease
    # Go's time.Duration.String()
    cases = {0: "0s", 1: "1ns", 1500: "1.5µs", 1_500_000: "1.5ms", 1_500_000_000: "1.5s",
             120_500_000_000: "2m0.5s", 5400 * 10**9: "1h30m0s", -10**9: "-1s"}
    for ns, text in cases.items():
        assert protobuf._go_duration(ns) == text
        assert protobuf._parse_duration(text, "d") == ns


def test_an_empty_or_go_zero_time_is_null():
    s = core_pb2.Secret()
    s.metadata.creationTimestamp.seconds = -62135596800  # what Go's ProtoTime() gives a zero time
    assert protobuf.decode(wire("v1", "Secret", s))["metadata"] == {"creationTimestamp": None}


# --- refusals ----------------------------------------------------------------------------------

def test_custom_resources_and_unknown_kinds_are_unsupported_media():
    for api_version, kind in (("example.com/v1", "Widget"), ("v1", "NoSuchKind"), ("apps/v9", "Deployment")):
        with pytest.raises(StatusError) as e:
            protobuf.decode(wire(api_version, kind, core_pb2.Secret()))
        assert (e.value.code, e.value.reason) == (415, "UnsupportedMediaType")
        assert kind in e.value.message and api_version in e.value.message
        with pytest.raises(StatusError) as e:
            protobuf.encode({"apiVersion": api_version, "kind": kind})
        assert e.value.code == 415


@pytest.mark.parametrize("body", [b'{"kind": "Secret"}', b"", b"k8s", b"k8s\x00\xff\xff\xff",
                                  b"k8s\x00" + b"\n\x0c\n\x02v1\x12\x06Secret\x12\x05\xff\xff\xff\xff\xff"])
def test_bodies_that_are_not_kubernetes_protobuf_are_bad_requests(body):
    with pytest.raises(StatusError) as e:
        protobuf.decode(body)
    assert (e.value.code, e.value.reason) == (400, "BadRequest")


def test_encode_names_the_field_of_a_wrong_value():
    bad = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "not base64!"}}
    with pytest.raises(StatusError, match=r"data\.k: 'not base64!' is not base64") as e:
        protobuf.encode(bad)
    assert e.value.code == 400
    with pytest.raises(StatusError, match=r"spec\.replicas: expected an integer of 32 bits, not 'three'"):
        protobuf.encode({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": "three"}})
    with pytest.raises(StatusError, match=r"spec\.replicas: expected an integer of 32 bits, not 4294967296"):
        protobuf.encode({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 2**32}})
    with pytest.raises(StatusError, match="apiVersion and kind"):
        protobuf.encode({"metadata": {}})


# --- what real Helm sends ----------------------------------------------------------------------

def release_of(secret: dict) -> dict:
    """Helm's release record inside a release Secret: data.release is base64 (JSON's) of base64
    (Helm's) of gzip of the release JSON."""
    return json.loads(gzip.decompress(base64.b64decode(base64.b64decode(secret["data"]["release"]))))


def check_release_secret(secret: dict, status: str) -> None:
    assert (secret["apiVersion"], secret["kind"], secret["type"]) == ("v1", "Secret", "helm.sh/release.v1")
    meta = secret["metadata"]
    assert meta["name"] == "sh.helm.release.v1.demo.v1" and meta["creationTimestamp"] is None
    assert "namespace" not in meta  # the URL carries it; Go's empty string is omitted
    assert {k: meta["labels"][k] for k in ("name", "owner", "status", "version")} == \
        {"name": "demo", "owner": "helm", "status": status, "version": "1"}
    release = release_of(secret)
    assert (release["name"], release["version"], release["info"]["status"]) == ("demo", 1, status)


@pytest.mark.parametrize("major", ["3", "4"])
def test_golden_helm_release_secrets_decode_as_json_clients_send_them(major):
    """Bodies real Helm 3.17.3 / 4.1.4 sent (captured with the tiny server below, `helm install`
    then `helm uninstall`): the release Secret created, then updated to deployed, and the
    DeleteOptions of the uninstall."""
    created = protobuf.decode((GOLDEN / f"helm{major}-release-create.pb").read_bytes())
    check_release_secret(created, "pending-install")
    updated = protobuf.decode((GOLDEN / f"helm{major}-release-update.pb").read_bytes())
    check_release_secret(updated, "deployed")
    assert set(created) == {"apiVersion", "kind", "metadata", "data", "type"}
    assert protobuf.decode((GOLDEN / f"helm{major}-delete-options.pb").read_bytes()) == \
        {"apiVersion": "v1", "kind": "DeleteOptions"}
    assert protobuf.decode(protobuf.encode(updated)) == updated


class TinyKube:
    """Just enough of an API server on 127.0.0.1 for `helm install`/`uninstall` of a chart without
    templates (release Secrets only): discovery, secrets list/get/create/update/delete. It records
    every request with a body and decodes protobuf Secrets with the module under test."""

    NOT_FOUND = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
                 "message": "not found"}

    def __init__(self) -> None:
        self.bodies: list[tuple[str, str, str, bytes]] = []  # (method, path, content type, body)
        self.secrets: dict[str, dict] = {}
        kube = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def reply(self, code: int, obj: dict) -> None:
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                code, obj = kube.answer(self.command, self.path.split("?")[0], self.headers.get("Content-Type", ""), body)
                self.reply(code, obj)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, method: str, path: str, ctype: str, body: bytes) -> tuple[int, dict]:
        if body:
            self.bodies.append((method, path, ctype, body))
        if path == "/version":
            return 200, {"major": "1", "minor": "36", "gitVersion": "v1.36.3", "platform": "linux/amd64"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
        if path == "/apis":
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
        if path == "/api/v1":
            return 200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": "secrets", "singularName": "secret", "namespaced": True, "kind": "Secret",
                 "verbs": ["create", "delete", "get", "list", "update"]}]}
        collection = "/api/v1/namespaces/default/secrets"
        name = path[len(collection) + 1:] if path.startswith(collection + "/") else None
        if method in ("POST", "PUT") and (path == collection or name):
            secret = protobuf.decode(body) if ctype == protobuf.CONTENT_TYPE else json.loads(body)
            secret["metadata"].update(namespace="default", uid="u-1", resourceVersion=str(len(self.bodies)))
            self.secrets[secret["metadata"]["name"]] = secret
            return (201 if method == "POST" else 200), secret
        if path == collection and method == "GET":
            return 200, {"kind": "SecretList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
                         "items": list(self.secrets.values())}
        if name and method == "GET" and name in self.secrets:
            return 200, self.secrets[name]
        if name and method == "DELETE" and name in self.secrets:
            return 200, self.secrets.pop(name)
        return 404, self.NOT_FOUND

    def kubeconfig(self, path: Path) -> Path:
        host, port = self.server.server_address[:2]
        path.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: tiny, cluster: {{server: "http://{host}:{port}"}}}}]
users: [{{name: tiny, user: {{token: t}}}}]
contexts: [{{name: tiny, context: {{cluster: tiny, user: tiny, namespace: default}}}}]
current-context: tiny
""")
        return path

    def __enter__(self) -> "TinyKube":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.helm
def test_real_helm_sends_protobuf_release_secrets_and_delete_options(helm, tmp_path):
    """Real Helm against the tiny server: every body it sends for Secrets is protobuf, and decodes
    to a release Secret (install: created pending-install, updated deployed; uninstall: updated
    uninstalling, deleted with empty DeleteOptions)."""
    chart = tmp_path / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    with TinyKube() as kube:
        env = dict(helm.env, KUBECONFIG=str(kube.kubeconfig(tmp_path / "kubeconfig")))
        helm.run("install", "demo", str(chart), "--disable-openapi-validation", env=env)
        helm.run("uninstall", "demo", env=env)
    assert [(m, t) for m, _, t, _ in kube.bodies] == [("POST", protobuf.CONTENT_TYPE)] + \
        [("PUT", protobuf.CONTENT_TYPE)] * 2 + [("DELETE", protobuf.CONTENT_TYPE)]
    decoded = [protobuf.decode(b) for *_, b in kube.bodies]
    for secret, status in zip(decoded, ("pending-install", "deployed", "uninstalling")):
        check_release_secret(secret, status)
    assert decoded[3] == {"apiVersion": "v1", "kind": "DeleteOptions"}
    assert kube.secrets == {}


def test_values_json_cannot_carry_are_bad_requests_not_tracebacks():
    cm = core_pb2.ConfigMap()
    entry = cm.metadata.managedFields.add()
    entry.manager, entry.fieldsV1.Raw = "m", b"{not json"
    with pytest.raises(StatusError) as e:
        protobuf.decode(wire("v1", "ConfigMap", cm))
    assert (e.value.code, e.value.reason) == (400, "BadRequest") and "ConfigMap (v1)" in e.value.message
    cm = core_pb2.ConfigMap()
    cm.metadata.creationTimestamp.seconds = 2**62
    with pytest.raises(StatusError) as e:
        protobuf.decode(wire("v1", "ConfigMap", cm))
    assert e.value.code == 400
