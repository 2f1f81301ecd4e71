"""Discovery, OpenAPI, validation and CRDs of the in-memory Kubernetes (helm_ac.kubesim), checked
against what real clients read and what a real kube-apiserver answers."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from helm_ac.kubesim import crds, discovery, openapi, validation
from helm_ac.kubesim.errors import StatusError
from helm_ac.kubesim.resources import KUBERNETES_VERSION, Registry

NOW = "2026-11-30T17:00:00Z"


@pytest.fixture()
def registry() -> Registry:
    return Registry.builtin()


def widget_crd(**over: Any) -> dict[str, Any]:
    crd: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com", "resourceVersion": "7"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"],
                           "categories": ["all"]},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {
                                   "type": "object",
                                   "properties": {
                                       "spec": {"type": "object", "required": ["size"], "properties": {
                                           "size": {"type": "integer", "minimum": 1},
                                           "mode": {"type": "string", "enum": ["fast", "slow"]},
                                           "port": {"x-kubernetes-int-or-string": True},
                                           "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                           "note": {"type": "string", "nullable": True}}},
                                       "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}}]}}
    crd.update(over)
    return crd


def deployment() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx",
                                                           "resources": {"limits": {"cpu": 1, "memory": "1Gi"}},
                                                           "ports": [{"containerPort": 80}]}]}}}}


def established_registry(registry: Registry, crd: dict[str, Any]) -> Registry:
    for r in crds.resources(crd):
        registry.add(r)
    return registry


# -- discovery -------------------------------------------------------------------------------------------

def test_core_list_group_version_is_v1_and_names_every_field_clients_need(registry):
    lst = discovery.api_resource_list(registry, "", "v1")
    assert lst["groupVersion"] == "v1" and lst["kind"] == "APIResourceList"
    by_name = {r["name"]: r for r in lst["resources"]}
    for r in lst["resources"]:
        assert {"name", "singularName", "namespaced", "kind", "verbs"} <= set(r)
    assert by_name["pods"]["shortNames"] == ["po"] and by_name["pods"]["categories"] == ["all"]
    assert by_name["services"]["shortNames"] == ["svc"] and by_name["namespaces"]["namespaced"] is False
    assert by_name["serviceaccounts"]["kind"] == "ServiceAccount"
    assert by_name["pods/status"] == {"name": "pods/status", "singularName": "", "namespaced": True,
                                      "kind": "Pod", "verbs": ["get", "patch", "update"]}


def test_subresources_and_short_names_of_apps(registry):
    by_name = {r["name"]: r for r in discovery.api_resource_list(registry, "apps", "v1")["resources"]}
    assert by_name["deployments"]["shortNames"] == ["deploy"] and by_name["deployments"]["categories"] == ["all"]
    assert by_name["deployments/scale"]["kind"] == "Scale"
    assert (by_name["deployments/scale"]["group"], by_name["deployments/scale"]["version"]) == ("autoscaling", "v1")
    assert by_name["statefulsets"]["shortNames"] == ["sts"]


def test_every_table_entry_names_a_built_in_resource():
    """The short-name/category and subresource tables are typed by hand: each entry must name a
    resource (and subresource) of the built-in table, in every group it names."""
    every = Registry.builtin(prereleases=True).by_plural.values()
    served = {(r.group, r.plural) for r in every}
    assert set(discovery.NAMES) <= served, set(discovery.NAMES) - served
    subs = {(r.group, r.plural, s) for r in every for s in r.subresources}
    assert set(discovery.SUBRESOURCES) <= subs, set(discovery.SUBRESOURCES) - subs
    short = [s for names, _ in discovery.NAMES.values() for s in names]
    assert len(short) == len(set(short)) + 1  # "ev" names events in core and in events.k8s.io, as real
    assert {"po", "svc", "deploy", "ns", "cm", "sa", "rs", "sts", "ds", "pvc", "pv", "crd", "ing", "cj"} <= set(short)


def test_groups_and_versions(registry):
    groups = {g["name"]: g for g in discovery.api_group_list(registry)["groups"]}
    assert "" not in groups
    assert groups["autoscaling"]["preferredVersion"] == {"groupVersion": "autoscaling/v2", "version": "v2"}
    for needed in ("apps", "batch", "rbac.authorization.k8s.io", "apiextensions.k8s.io", "coordination.k8s.io",
                   "policy", "networking.k8s.io", "storage.k8s.io", "discovery.k8s.io"):
        assert needed in groups
    assert discovery.api_group(registry, "apps")["versions"] == [{"groupVersion": "apps/v1", "version": "v1"}]
    assert discovery.api_versions()["versions"] == ["v1"]
    with pytest.raises(StatusError) as e:
        discovery.api_group(registry, "example.com")
    assert e.value.code == 404
    with pytest.raises(StatusError):
        discovery.api_resource_list(registry, "apps", "v1beta9")


def test_version_is_the_claimed_kubernetes():
    v = discovery.version_info()
    assert v["gitVersion"] == KUBERNETES_VERSION
    assert f"v{v['major']}.{v['minor']}." in KUBERNETES_VERSION + "."


def test_a_crd_appears_in_discovery_once_added_and_goes_when_removed(registry):
    crd = widget_crd()
    established_registry(registry, crd)
    groups = {g["name"] for g in discovery.api_group_list(registry)["groups"]}
    assert "example.com" in groups
    res = {r["name"]: r for r in discovery.api_resource_list(registry, "example.com", "v1")["resources"]}
    assert res["widgets"]["kind"] == "Widget" and res["widgets"]["shortNames"] == ["wd"]
    assert res["widgets"]["categories"] == ["all"] and res["widgets"]["singularName"] == "widget"
    assert res["widgets/status"]["verbs"] == ["get", "patch", "update"]
    for r in crds.resources(crd):
        registry.remove(r)
    assert "example.com" not in {g["name"] for g in discovery.api_group_list(registry)["groups"]}


def test_aggregated_discovery(registry):
    core = discovery.aggregated_discovery(registry, core=True)
    assert core["apiVersion"] == "apidiscovery.k8s.io/v2" and len(core["items"]) == 1
    assert "name" not in core["items"][0]["metadata"]
    pods = next(r for r in core["items"][0]["versions"][0]["resources"] if r["resource"] == "pods")
    assert pods["scope"] == "Namespaced" and pods["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert {s["subresource"] for s in pods["subresources"]} >= {"status", "log"}
    apis = discovery.aggregated_discovery(registry, core=False)
    names = [i["metadata"]["name"] for i in apis["items"]]
    assert "apps" in names and "" not in names
    autoscaling = next(i for i in apis["items"] if i["metadata"]["name"] == "autoscaling")
    assert [v["version"] for v in autoscaling["versions"]] == ["v2", "v1"]


@pytest.mark.parametrize("accept, want", [
    # client-go (Helm 3.17, Helm 4.1, kubectl 1.34): v2, then v2beta1, then plain JSON
    ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
     "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json", True),
    ("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json", False),
    ("application/json, */*", False),
    ("", False),
])
def test_wants_aggregated(accept, want):
    assert discovery.wants_aggregated(accept) is want


# -- OpenAPI ---------------------------------------------------------------------------------------------

def test_openapi_root_lists_every_group_version(registry):
    root = openapi.root(registry)
    want = {openapi.group_version_path(g, v) for g, vs in registry.group_versions().items() for v in vs}
    assert set(root["paths"]) == want
    assert root["paths"]["api/v1"]["serverRelativeURL"].startswith("/openapi/v3/api/v1?hash=")


def test_patch_operations_carry_gvk_and_field_validation(registry):
    doc = openapi.served(registry, "apps", "v1").document
    item = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    patch = item["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "kind": "Deployment", "version": "v1"}
    assert patch["x-kubernetes-action"] == "patch"
    assert {(p["name"], p["in"]) for p in patch["parameters"]} >= {("fieldValidation", "query"), ("force", "query")}
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    assert any(p["name"] == "fieldValidation" for p in doc["paths"][
        "/apis/apps/v1/namespaces/{namespace}/deployments"]["post"]["parameters"])
    spec = doc["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"]
    template = spec["properties"]["template"]
    assert template["allOf"] == [{"$ref": "#/components/schemas/io.k8s.api.core.v1.PodTemplateSpec"}]
    containers = doc["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name" and containers["type"] == "array"
    refs: set[str] = set()
    openapi._refs(doc, refs)
    assert refs <= set(doc["components"]["schemas"]), "every reference resolves inside the document"


def test_openapi_cached_and_hash_follows_content(registry):
    a = openapi.served(registry, "apps", "v1")
    assert openapi.served(registry, "apps", "v1") is a
    crd = widget_crd()
    established_registry(registry, crd)
    one = openapi.served(registry, "example.com", "v1", [crd])
    name = openapi.cr_schema_name("example.com", "v1", "Widget")
    assert name == "com.example.v1.Widget"
    schema = one.document["components"]["schemas"][name]
    assert schema["properties"]["spec"]["properties"]["size"] == {"type": "integer", "minimum": 1}
    assert schema["properties"]["spec"]["properties"]["port"] == {
        "x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert schema["x-kubernetes-group-version-kind"] == [{"group": "example.com", "kind": "Widget", "version": "v1"}]
    patch = one.document["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    assert f"hash={one.hash}" in openapi.root(registry, [crd])["paths"]["apis/example.com/v1"]["serverRelativeURL"]
    changed = copy.deepcopy(crd)
    changed["metadata"]["resourceVersion"] = "8"
    changed["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["size"][
        "minimum"] = 2
    two = openapi.served(registry, "example.com", "v1", [changed])
    assert two.hash != one.hash
    assert two.document["components"]["schemas"][name]["properties"]["spec"]["properties"]["size"]["minimum"] == 2
    with pytest.raises(StatusError):
        openapi.served(registry, "nothing.example.com", "v1")


# -- validation of built-ins -------------------------------------------------------------------------------

def test_a_valid_deployment_passes_with_no_warning(registry):
    assert validation.validate(registry.lookup("apps", "v1", "deployments"), deployment(), strict=True) == []


def test_typo_field_is_refused_under_strict_with_its_path(registry):
    dep = deployment()
    dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    res = registry.lookup("apps", "v1", "deployments")
    with pytest.raises(StatusError) as e:
        validation.validate(res, dep, strict=True)
    # as kube-apiserver: a strict decoding error is a 400 BadRequest, not a 422
    assert (e.value.code, e.value.reason) == (400, "BadRequest")
    assert e.value.message == ('Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
                               'unknown field "spec.template.spec.containers[0].imagePullPolicyy"')
    assert validation.validate(res, dep) == ['unknown field "spec.template.spec.containers[0].imagePullPolicyy"']
    assert validation.validate(res, dep, field_validation="Ignore") == []
    with pytest.raises(StatusError) as e:
        validation.validate(res, dep, field_validation="Loose")
    assert e.value.code == 400


def test_wrong_type_is_a_decoding_error(registry):
    dep = deployment()
    dep["spec"]["replicas"] = "three"
    with pytest.raises(StatusError) as e:
        validation.validate(registry.lookup("apps", "v1", "deployments"), dep, field_validation="Ignore")
    assert (e.value.code, e.value.reason) == (400, "BadRequest")
    assert e.value.message == ('Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal '
                               "string into Go struct field DeploymentSpec.spec.replicas of type int32")
    dep = deployment()
    dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "80"
    with pytest.raises(StatusError) as e:
        validation.validate(registry.lookup("apps", "v1", "deployments"), dep)
    assert e.value.message.endswith("json: cannot unmarshal string into Go struct field "
                                    "ContainerPort.spec.template.spec.containers.ports.containerPort of type int32")


def test_unknown_fields_are_pruned_without_touching_the_original(registry):
    res = registry.lookup("apps", "v1", "deployments")
    dep = deployment()
    dep["spec"]["replicaz"] = 3
    dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    paths = validation.unknown_fields(res, dep)
    assert paths == [("spec", "replicaz"), ("spec", "template", "spec", "containers", 0, "imagePullPolicyy")]
    pruned = validation.prune(dep, paths)
    assert pruned == deployment()
    assert dep["spec"]["replicaz"] == 3 and "imagePullPolicyy" in dep["spec"]["template"]["spec"]["containers"][0]
    assert pruned["metadata"] is dep["metadata"], "copied only along the pruned paths"


def test_missing_required_field_and_bad_names_are_422_with_causes(registry):
    dep = deployment()
    del dep["spec"]["template"]["spec"]["containers"][0]["name"]
    dep["metadata"]["name"] = "Web_1"
    dep["metadata"]["labels"] = {"bad key!": "ok", "app": "x" * 64}
    with pytest.raises(StatusError) as e:
        validation.validate(registry.lookup("apps", "v1", "deployments"), dep)
    assert (e.value.code, e.value.reason) == (422, "Invalid")
    causes = e.value.details["causes"]
    assert {"reason": "FieldValueRequired", "message": "Required value",
            "field": "spec.template.spec.containers[0].name"} in causes
    fields = [(c["reason"], c["field"]) for c in causes]
    assert ("FieldValueInvalid", "metadata.name") in fields
    assert fields.count(("FieldValueInvalid", "metadata.labels")) == 2
    assert e.value.message.startswith('Deployment.apps "Web_1" is invalid: metadata.name: Invalid value: "Web_1": '
                                      "a lowercase RFC 1123 subdomain")


@pytest.mark.parametrize("plural, group, name, ok", [
    ("namespaces", "", "team-a", True), ("namespaces", "", "team.a", False),
    ("services", "", "1web", False), ("services", "", "web-1", True),
    ("configmaps", "", "my.config", True), ("configmaps", "", "", False),
    ("clusterroles", "rbac.authorization.k8s.io", "system:controller:x", True),
    ("clusterroles", "rbac.authorization.k8s.io", "a/b", False),
])
def test_name_rules_per_kind(registry, plural, group, name, ok):
    res = registry.lookup(group, "v1", plural)
    obj = {"apiVersion": res.group_version, "kind": res.kind, "metadata": {"name": name}}
    if ok:
        assert validation.validate(res, obj) == []
    else:
        with pytest.raises(StatusError) as e:
            validation.validate(res, obj)
        assert e.value.code == 422 and e.value.details["causes"][0]["field"] == "metadata.name"


def test_generate_name_without_name_is_fine_and_annotations_have_a_size_limit(registry):
    res = registry.lookup("", "v1", "configmaps")
    assert validation.validate(res, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "x-"}}) == []
    big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "annotations": {"a": "b" * 262144}}}
    with pytest.raises(StatusError) as e:
        validation.validate(res, big)
    assert e.value.details["causes"] == [{"reason": "FieldValueTooLong", "field": "metadata.annotations",
                                          "message": "Too long: may not be more than 262144 bytes"}]


# -- custom resources and CRDs -----------------------------------------------------------------------------

def widget(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1", "namespace": "default"},
            "spec": spec}


def test_custom_resource_validated_against_its_crd_schema(registry):
    crd = widget_crd()
    res = crds.resources(crd)[0]
    assert validation.validate(res, widget(size=3, port="http", extra={"any": {"thing": 1}}, note=None),
                               strict=True, crd=crd) == []
    with pytest.raises(StatusError) as e:
        validation.validate(res, widget(size=0, mode="warp"), crd=crd)
    assert (e.value.code, e.value.reason) == (422, "Invalid")
    assert e.value.details["causes"] == [
        {"reason": "FieldValueInvalid", "field": "spec.size",
         "message": "Invalid value: 0: spec.size in body should be greater than or equal to 1"},
        {"reason": "FieldValueNotSupported", "field": "spec.mode",
         "message": 'Unsupported value: "warp": supported values: "fast", "slow"'},
    ]
    assert e.value.message.startswith('Widget.example.com "w1" is invalid: ')
    with pytest.raises(StatusError) as e:
        validation.validate(res, widget(size="big"), crd=crd)
    assert e.value.code == 422
    assert e.value.details["causes"] == [{"reason": "FieldValueTypeInvalid", "field": "spec.size", "message":
                                          'Invalid value: "big": spec.size in body must be of type integer: "big"'}]
    with pytest.raises(StatusError) as e:
        validation.validate(res, widget(), crd=crd)
    assert e.value.details["causes"] == [{"reason": "FieldValueRequired", "message": "Required value",
                                          "field": "spec.size"}]


def test_custom_resource_unknown_fields_follow_field_validation(registry):
    crd = widget_crd()
    res = crds.resources(crd)[0]
    obj = widget(size=1, colour="red")
    with pytest.raises(StatusError) as e:
        validation.validate(res, obj, strict=True, crd=crd)
    assert e.value.code == 400
    assert e.value.message.endswith('strict decoding error: unknown field "spec.colour"')
    assert validation.validate(res, obj, crd=crd) == ['unknown field "spec.colour"']
    bad_meta = widget(size=1)
    bad_meta["metadata"]["labelz"] = {}
    assert validation.validate(res, bad_meta, crd=crd) == ['unknown field "metadata.labelz"']


def test_crd_resources_schemas_and_conditions(registry):
    crd = widget_crd()
    crds.check(crd)
    [res] = crds.resources(crd)
    assert (res.group, res.version, res.kind, res.plural, res.namespaced) == ("example.com", "v1", "Widget",
                                                                              "widgets", True)
    assert res.short_names == ("wd",) and res.categories == ("all",) and res.subresources == ("status",)
    assert res.crd == "widgets.example.com"
    assert set(crds.schemas(crd)) == {"v1"}
    status = crds.names_status(crd, [], registry, now=NOW)
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["NamesAccepted"] == {"type": "NamesAccepted", "status": "True", "lastTransitionTime": NOW,
                                      "reason": "NoConflicts", "message": "no conflicts found"}
    assert (conds["Established"]["status"], conds["Established"]["reason"]) == ("False", "Installing")
    assert status["acceptedNames"]["listKind"] == "WidgetList" and status["storedVersions"] == ["v1"]
    crd = {**crd, "status": status}
    done = crds.established(crd, now="2026-11-30T17:00:01Z")
    est = {c["type"]: c for c in done["conditions"]}["Established"]
    assert (est["status"], est["reason"], est["message"]) == ("True", "InitialNamesAccepted",
                                                              "the initial names have been accepted")
    assert crds.is_established({**crd, "status": done})
    again = crds.names_status({**crd, "status": done}, [], registry, now="2026-11-30T18:00:00Z")
    assert {c["type"]: c for c in again["conditions"]}["NamesAccepted"]["lastTransitionTime"] == NOW


def test_a_crd_whose_names_clash_is_not_accepted(registry):
    first = widget_crd()
    first = {**first, "status": crds.names_status(first, [], registry, now=NOW)}
    clash = widget_crd(metadata={"name": "gadgets.example.com"})
    clash["spec"]["names"] = {"plural": "gadgets", "kind": "Widget", "shortNames": ["wd"]}
    status = crds.names_status(clash, [first], registry, now=NOW)
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["NamesAccepted"]["status"] == "False"
    assert conds["NamesAccepted"]["reason"] == "ListKindConflict"  # the last check that failed, as real
    assert (conds["Established"]["status"], conds["Established"]["reason"]) == ("False", "NotAccepted")
    assert "kind" not in status["acceptedNames"]
    only_plural = widget_crd(metadata={"name": "widgets.example.com"})
    only_plural["spec"]["names"] = {"plural": "widgets", "kind": "Gizmo"}
    other = {**first, "metadata": {"name": "other.example.com"}}
    status = crds.names_status(only_plural, [other], registry, now=NOW)
    accepted = {c["type"]: c for c in status["conditions"]}["NamesAccepted"]
    assert (accepted["reason"], accepted["message"]) == ("PluralConflict", '"widgets" is already in use')


@pytest.mark.parametrize("mutate, field", [
    (lambda c: c["metadata"].update(name="widget.example.com"), "metadata.name"),
    (lambda c: c["spec"].update(group="example"), "spec.group"),
    (lambda c: c["spec"].update(scope="Global"), "spec.scope"),
    (lambda c: c["spec"]["versions"][0].update(storage=False), "spec.versions"),
    (lambda c: c["spec"]["versions"][0].pop("schema"), "spec.versions[0].schema.openAPIV3Schema"),
    (lambda c: c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].pop("type"),
     "spec.versions[0].schema.openAPIV3Schema.properties[spec].type"),
    (lambda c: c["spec"]["names"].update(plural="Widgets"), "spec.names.plural"),
    (lambda c: (c["spec"].update(group="widgets.k8s.io"), c["metadata"].update(name="widgets.widgets.k8s.io")),
     "metadata.annotations[api-approved.kubernetes.io]"),
])
def test_invalid_crds_are_refused_with_the_field(mutate, field):
    crd = widget_crd()
    mutate(crd)
    with pytest.raises(StatusError) as e:
        crds.check(crd)
    assert (e.value.code, e.value.reason) == (422, "Invalid")
    assert field in [c["field"] for c in e.value.details["causes"]]
    assert e.value.message.startswith('CustomResourceDefinition.apiextensions.k8s.io "')


def test_crd_object_itself_is_schema_checked_as_a_builtin(registry):
    res = registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    crd = widget_crd()
    assert validation.validate(res, crd, strict=True) == []
    crd["spec"]["names"]["plurals"] = "x"
    with pytest.raises(StatusError) as e:
        validation.validate(res, crd, strict=True)
    assert 'unknown field "spec.names.plurals"' in e.value.message


def test_validate_of_a_crd_object_includes_the_apiextensions_checks(registry):
    res = registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    crd = widget_crd()
    crd["metadata"]["name"] = "gadgets.example.com"
    with pytest.raises(StatusError) as e:
        validation.validate(res, crd, strict=True)
    assert e.value.code == 422
    assert e.value.details["causes"] == [{
        "reason": "FieldValueInvalid", "field": "metadata.name",
        "message": 'Invalid value: "gadgets.example.com": must be spec.names.plural+"."+spec.group'}]


def test_structural_schema_extensions_prune_as_the_server_does():
    crd = widget_crd()
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"].update({
        "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                     "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "limit": {"type": "integer", "minimum": 1, "exclusiveMinimum": True}})
    res = crds.resources(crd)[0]
    obj = widget(size=1, labels={"any-key": "v"},
                 template={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"free": 1},
                           "extra": True})
    assert validation.unknown_fields(res, obj, crd=crd) == [("spec", "template", "extra")]
    with pytest.raises(StatusError) as e:
        validation.validate(res, widget(size=1, labels={"k": 1}, limit=1), crd=crd)
    assert [(c["reason"], c["field"]) for c in e.value.details["causes"]] == [
        ("FieldValueTypeInvalid", "spec.labels.k"), ("FieldValueInvalid", "spec.limit")]
    assert e.value.details["causes"][1]["message"] == "Invalid value: 1: spec.limit in body should be greater than 1"
