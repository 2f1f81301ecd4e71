"""The AppController CRDs: valid for Kubernetes (offline), structural, and their schemas judge objects right."""
from __future__ import annotations

import copy
import re
from typing import Any, Iterator

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import helm_ac
from helm_ac.extension import refs
from helm_ac.output import crds

kubernetes_validate = pytest.importorskip("kubernetes_validate")

#: Every Kubernetes minor version from 1.30 on that kubernetes-validate ships schemas for.
K8S_VERSIONS = sorted({kubernetes_validate.utils.major_minor(v) for v in kubernetes_validate.utils.all_versions()
                       if tuple(map(int, v.split(".")[:2])) >= (1, 30)}, key=lambda v: tuple(map(int, v.split("."))))
VALIDATORS = (jsonschema.Draft202012Validator, jsonschema.Draft7Validator)


def _schema(crd: dict[str, Any]) -> dict[str, Any]:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node below (and including) ``node``, with a readable path."""
    yield path or "<root>", node
    for name, sub in node.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}.*")
    if isinstance(node.get("items"), dict):
        yield from _nodes(node["items"], f"{path}[]")


CRDS = pytest.mark.parametrize("crd", crds.all_crds(), ids=lambda c: c["metadata"]["name"])


# --- module API -------------------------------------------------------------------------------

def test_constants_and_order():
    assert (crds.GROUP, crds.VERSION, crds.API_VERSION) == ("appcontroller.k8s", "v1alpha1", "appcontroller.k8s/v1alpha1")
    assert [c["metadata"]["name"] for c in crds.all_crds()] == [
        "definitions.appcontroller.k8s", "dependencies.appcontroller.k8s", "releasegraphs.appcontroller.k8s"]
    assert crds.all_crds() == [crds.definition_crd(), crds.dependency_crd(), crds.release_graph_crd()]


def test_names_and_scope():
    d, p = crds.definition_crd()["spec"], crds.dependency_crd()["spec"]
    assert d["names"] == {"kind": "Definition", "listKind": "DefinitionList", "plural": "definitions",
                          "singular": "definition", "shortNames": ["acdef"], "categories": ["appcontroller"]}
    assert p["names"] == {"kind": "Dependency", "listKind": "DependencyList", "plural": "dependencies",
                          "singular": "dependency", "shortNames": ["acdep"], "categories": ["appcontroller"]}
    assert d["scope"] == p["scope"] == "Namespaced"


@CRDS
def test_labels_and_version_annotation(crd):
    assert crd["metadata"]["labels"] == {"app.kubernetes.io/name": "helm-ac", "app.kubernetes.io/part-of": "helm-ac"}
    assert crd["metadata"]["annotations"]["helm-ac/version"] == helm_ac.__version__


def test_fresh_copies():
    a = crds.definition_crd()
    _schema(a)["properties"]["meta"]["properties"].clear()
    a["metadata"]["labels"]["x"] = "y"
    b = crds.definition_crd()
    assert "timeout" in _schema(b)["properties"]["meta"]["properties"]
    assert "x" not in b["metadata"]["labels"]
    s = crds.schema_of("Definition")
    s["properties"].clear()
    assert crds.schema_of("Definition")["properties"]


def test_printer_columns():
    cols = {c["name"]: c for c in crds.definition_crd()["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert [(n, c["jsonPath"], c["type"], c.get("priority", 0)) for n, c in cols.items()] == [
        ("Phase", ".status.phase", "string", 0), ("Message", ".status.message", "string", 1),
        ("Age", ".metadata.creationTimestamp", "date", 0)]
    cols = crds.dependency_crd()["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [(c["name"], c["jsonPath"], c["type"]) for c in cols] == [
        ("Parent", ".parent", "string"), ("Child", ".child", "string"),
        ("Age", ".metadata.creationTimestamp", "date")]


# --- Kubernetes validity (offline) ------------------------------------------------------------

@CRDS
@pytest.mark.parametrize("k8s", K8S_VERSIONS)
def test_crd_validates_against_kubernetes_openapi(crd, k8s):
    """kubernetes-validate's strict schemas forbid unknown fields at every level, JSONSchemaProps included."""
    assert kubernetes_validate.validate(crd, k8s, strict=True) == k8s


@pytest.mark.parametrize("mutate", [
    lambda c: _schema(c).update({"x-kubernetes-preserve-unknown-field": True}),   # typo in an extension
    lambda c: _schema(c)["properties"]["meta"].update({"minimun": 0}),            # typo in a keyword
    lambda c: c["spec"]["versions"][0].update({"served": "yes"}),
    lambda c: c["spec"].pop("names"),
    lambda c: c["spec"]["versions"][0]["additionalPrinterColumns"][0].pop("jsonPath"),
], ids=["ext-typo", "keyword-typo", "served-str", "no-names", "column-no-jsonpath"])
def test_kubernetes_validate_is_not_vacuous(mutate):
    crd = crds.definition_crd()
    mutate(crd)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(crd, K8S_VERSIONS[0], strict=True)


_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@CRDS
def test_apiserver_rules_outside_the_openapi_schema(crd):
    """What the API server checks in CRD validation but the OpenAPI document cannot express."""
    spec, names = crd["spec"], crd["spec"]["names"]
    assert crd["metadata"]["name"] == f"{names['plural']}.{spec['group']}"
    assert spec["scope"] in ("Namespaced", "Cluster")
    for n in [names["plural"], names["singular"], *names["shortNames"], *names["categories"]]:
        assert _DNS_LABEL.match(n), n
    assert re.match(r"^[A-Z][A-Za-z0-9]*$", names["kind"]) and names["listKind"] == names["kind"] + "List"
    assert sum(v["storage"] for v in spec["versions"]) == 1
    for v in spec["versions"]:
        assert v["served"] and _DNS_LABEL.match(v["name"])
        assert v["subresources"] == {"status": {}}
        assert "status" in _schema(crd)["properties"]
        for col in v["additionalPrinterColumns"]:
            assert col["type"] in ("integer", "number", "string", "boolean", "date")
            assert re.match(r"^(\.[A-Za-z][A-Za-z0-9_-]*)+$", col["jsonPath"])
            # the column shows a declared field (metadata is declared by Kubernetes itself)
            node = _schema(crd)
            for part in col["jsonPath"].split(".")[1:]:
                if part == "metadata":
                    break
                node = node["properties"][part]


# --- structural schema ------------------------------------------------------------------------

@CRDS
def test_schema_is_structural(crd):
    root = _schema(crd)
    assert root["type"] == "object"
    for path, node in _nodes(root):
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields") or \
            node.get("x-kubernetes-int-or-string"), f"{path}: every specified field needs a type"
        if "properties" in node or "additionalProperties" in node:
            assert node["type"] == "object", path
        if "items" in node:
            assert node["type"] == "array", path
        assert not ("properties" in node and "additionalProperties" in node), \
            f"{path}: properties and additionalProperties are mutually exclusive in a structural schema"
        for kw in ("allOf", "anyOf", "oneOf", "not", "$ref", "definitions", "dependencies", "nullable"):
            assert kw not in node, f"{path}: {kw} not used (structural rules restrict it)"
        if "enum" in node:
            py = {"string": str, "integer": int}[node["type"]]
            assert all(isinstance(v, py) for v in node["enum"]), path
        if node.get("x-kubernetes-list-type") == "map":
            assert node["type"] == "array" and node["items"]["type"] == "object", path
            for key in node["x-kubernetes-list-map-keys"]:
                assert key in node["items"].get("required", []), f"{path}: list-map key {key} must be required"
                assert node["items"]["properties"][key]["type"] in ("string", "integer", "boolean"), path
    # metadata may only restrict name/generateName
    assert set(root["properties"]["metadata"]) <= {"type", "properties"}
    assert set(root["properties"]["metadata"].get("properties", {})) <= {"name", "generateName"}


def test_definition_root_keeps_unknown_fields():
    root = _schema(crds.definition_crd())
    assert root["x-kubernetes-preserve-unknown-fields"] is True
    assert root["properties"]["meta"]["x-kubernetes-preserve-unknown-fields"] is True
    assert "x-kubernetes-preserve-unknown-fields" not in root["properties"]["status"]


def test_dependency_root_declares_its_fields():
    root = _schema(crds.dependency_crd())
    assert "x-kubernetes-preserve-unknown-fields" not in root
    assert root["required"] == ["parent", "child"]
    assert root["properties"]["parent"]["pattern"] == root["properties"]["child"]["pattern"] == crds.KEY_PATTERN


def test_status_fields():
    st_def = _schema(crds.definition_crd())["properties"]["status"]["properties"]
    assert st_def["phase"]["enum"] == ["Pending", "Blocked", "Applying", "WaitingReady", "Ready", "Failed",
                                       "Skipped", "TimedOut"]
    assert {"message", "observedGeneration", "attempts", "conditions"} <= set(st_def)
    st_dep = _schema(crds.dependency_crd())["properties"]["status"]["properties"]
    assert set(st_dep) == {"observedGeneration", "conditions"}
    cond = st_def["conditions"]
    assert cond["x-kubernetes-list-type"] == "map" and cond["x-kubernetes-list-map-keys"] == ["type"]
    assert cond["items"]["properties"]["lastTransitionTime"]["format"] == "date-time"
    assert set(cond["items"]["properties"]) == {"type", "status", "reason", "message", "lastTransitionTime",
                                                "observedGeneration"}


# --- schema_of --------------------------------------------------------------------------------

def _definition(kind_key: str, body: dict[str, Any], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"apiVersion": crds.API_VERSION, "kind": "Definition",
                         "metadata": {"name": f"{kind_key}-{body['metadata']['name']}", "namespace": "default"},
                         kind_key: body}
    if meta is not None:
        d["meta"] = meta
    return d


def _dependency(parent: str, child: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": crds.API_VERSION, "kind": "Dependency", "metadata": {"name": "dep", "namespace": "default"},
            "parent": parent, "child": child, **extra}


DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
              "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}
BACKUP = {"apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": "nightly"},
          "spec": {"includedNamespaces": ["default"], "ttl": "720h0m0s"}}
CONDITION = {"type": "Ready", "status": "True", "reason": "Available", "message": "2/2 replicas ready",
             "lastTransitionTime": "2024-05-01T12:00:00Z", "observedGeneration": 1}

GOOD = [
    ("Definition", _definition("deployment", DEPLOYMENT, {"timeout": 600, "retry": 2, "on-error": "ignore"})),
    ("Definition", _definition("backup", BACKUP)),
    ("Definition", _definition("backup", BACKUP, {"timeout": 0, "retry": 0, "on-error": "ignore-all",
                                                  "success_factor": 100, "ready-when": "status.phase == 'Completed'"})),
    ("Definition", {**_definition("deployment", DEPLOYMENT, {"on-error": "abort", "success_factor": 1}),
                    "status": {"phase": "Ready", "message": "", "observedGeneration": 3, "attempts": 1,
                               "conditions": [CONDITION]}}),
    ("Dependency", _dependency("statefulset/db", "deployment/web")),
    ("Dependency", _dependency("void/wordpress-mariadb-done", "deployment/wordpress")),
    ("Dependency", _dependency("db/statefulset.apps/postgres", "job.batch/migrate",
                               meta={"success_factor": "80"}, args={"x": "1"})),
    ("Dependency", _dependency("certificate.cert-manager.io/tls", "clusterrole/system:auth-delegator",
                               status={"observedGeneration": 1, "conditions": [CONDITION]})),
]


def _without(obj: dict[str, Any], key: str) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj.pop(key)
    return obj


BAD = [
    ("on-error explode", "Definition", _definition("deployment", DEPLOYMENT, {"on-error": "explode"})),
    ("timeout -1", "Definition", _definition("deployment", DEPLOYMENT, {"timeout": -1})),
    ("timeout 1.5", "Definition", _definition("deployment", DEPLOYMENT, {"timeout": 1.5})),
    ("retry x", "Definition", _definition("deployment", DEPLOYMENT, {"retry": "x"})),
    ("success_factor 0", "Definition", _definition("deployment", DEPLOYMENT, {"success_factor": 0})),
    ("success_factor 101", "Definition", _definition("deployment", DEPLOYMENT, {"success_factor": 101})),
    ("meta not an object", "Definition", _definition("deployment", DEPLOYMENT, "timeout=5")),  # type: ignore[arg-type]
    ("phase unknown", "Definition", {**_definition("backup", BACKUP), "status": {"phase": "Done"}}),
    ("condition without type", "Definition",
     {**_definition("backup", BACKUP), "status": {"conditions": [_without(CONDITION, "type")]}}),
    ("condition status yes", "Definition",
     {**_definition("backup", BACKUP), "status": {"conditions": [{**CONDITION, "status": "yes"}]}}),
    ("no child", "Dependency", _without(_dependency("statefulset/db", "deployment/web"), "child")),
    ("no parent", "Dependency", _without(_dependency("statefulset/db", "deployment/web"), "parent")),
    ("parent Deployment/Web Server", "Dependency", _dependency("Deployment/Web Server", "service/web")),
    ("upper-case kind", "Dependency", _dependency("Deployment/web", "service/web")),
    ("no kind", "Dependency", _dependency("web", "service/web")),
    ("too many segments", "Dependency", _dependency("a/b/c/d", "service/web")),
    ("chart ref", "Dependency", _dependency("chart:mariadb", "service/web")),
    ("meta non-string", "Dependency", _dependency("statefulset/db", "deployment/web", meta={"success_factor": 80})),
    ("args non-string", "Dependency", _dependency("statefulset/db", "deployment/web", args={"n": True})),
]


@pytest.mark.parametrize("validator", VALIDATORS, ids=lambda v: v.__name__)
@pytest.mark.parametrize("kind", ["Definition", "Dependency"])
def test_schema_of_is_valid_json_schema_without_extensions(kind, validator):
    schema = crds.schema_of(kind)
    validator.check_schema(schema)
    assert "x-kubernetes" not in repr(schema)
    # everything but the extensions is kept
    stripped = _schema(crds.definition_crd() if kind == "Definition" else crds.dependency_crd())
    assert schema["properties"]["apiVersion"] == stripped["properties"]["apiVersion"]
    assert schema["properties"]["status"]["properties"]["conditions"]["items"] == \
        stripped["properties"]["status"]["properties"]["conditions"]["items"]


def test_schema_of_unknown_kind():
    with pytest.raises(ValueError, match="Replica"):
        crds.schema_of("Replica")


@pytest.mark.parametrize("validator", VALIDATORS, ids=lambda v: v.__name__)
@pytest.mark.parametrize("kind,obj", GOOD, ids=[f"{k}-{i}" for i, (k, _) in enumerate(GOOD)])
def test_schema_of_accepts(kind, obj, validator):
    validator(crds.schema_of(kind), format_checker=validator.FORMAT_CHECKER).validate(obj)


@pytest.mark.parametrize("validator", VALIDATORS, ids=lambda v: v.__name__)
@pytest.mark.parametrize("why,kind,obj", BAD, ids=[b[0] for b in BAD])
def test_schema_of_rejects(why, kind, obj, validator):
    with pytest.raises(jsonschema.ValidationError):
        validator(crds.schema_of(kind)).validate(obj)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(refs.OBJECT_RE, fullmatch=True))
def test_every_canonical_reference_is_a_valid_key(text):
    """The Dependency key pattern accepts the AppController form of every depends-on object reference."""
    key = refs.parse_ref(text).canonical()
    assert re.search(crds.KEY_PATTERN, key), key
