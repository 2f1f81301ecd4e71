"""OpenAPI v3 documents as a real kube-apiserver serves them: the ``/openapi/v3`` root and one
document per group-version (``/openapi/v3/apis/apps/v1``).

Each document carries ``components.schemas`` -- Kubernetes' definitions (kubernetes-validate's, in
OpenAPI form: ``#/components/schemas/...`` refs wrapped in ``allOf`` as the server writes them,
``int-or-string``) reachable from the group-version's kinds, plus the schemas of the custom resources
of that group-version -- and ``paths`` whose operations name their kind
(``x-kubernetes-group-version-kind``) and action (``x-kubernetes-action``), with ``dryRun``,
``fieldManager`` and ``fieldValidation`` on POST, PUT and PATCH (``force`` on PATCH). That is what
Helm's and kubectl's query-parameter check reads before they hand validation to the server
(``fieldValidation=Strict``), and what ``kubectl explain`` and client-side apply read.

Documents are computed once per content: :func:`served` caches them under a key made of the
group-version's resources and its CRDs' versions, and the ``hash`` in the root's
``serverRelativeURL`` is a digest of that key, so it changes exactly when the content does.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

import orjson

from . import crds as crd_mod
from . import errors
from .resources import KUBERNETES_VERSION, Registry, Resource
from .schemas import definition_names, definitions_document

SCHEMAS = "#/components/schemas/"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_MEDIA = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
_PATCH_TYPES = ("application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json")
_PARAM_TEXT = {
    "dryRun": "When present, indicates that modifications should not be persisted. An invalid or unrecognized "
              "dryRun directive will result in an error response and no further processing of the request. Valid "
              "values are: - All: all dry run stages will be processed",
    "fieldManager": "fieldManager is a name associated with the actor or entity that is making these changes.",
    "fieldValidation": "fieldValidation instructs the server on how to handle objects in the request "
                       "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: Ignore, Warn "
                       "(the default), Strict (fail the request with a BadRequest error if any unknown fields would "
                       "be dropped from the object).",
    "force": 'Force is going to "force" Apply requests. It means user will re-acquire conflicting fields owned by '
             "other people. Force flag must be unset for non-apply patch requests.",
    "pretty": "If 'true', then the output is pretty printed.",
}


# -- Kubernetes' definitions in OpenAPI v3 form ----------------------------------------------------------

def _oa(s: Any) -> Any:
    """A kubernetes-validate (JSON Schema 2020-12, nullable types) schema -> the server's OpenAPI v3."""
    if isinstance(s, list):
        return [_oa(x) for x in s]
    if not isinstance(s, dict):
        return s
    if set(s) == {"oneOf"} and all(isinstance(x, dict) and "type" in x for x in s["oneOf"]):
        kinds = {(x["type"][0] if isinstance(x["type"], list) else x["type"]) for x in s["oneOf"]}
        return {"type": "string", "format": "int-or-string"} if "integer" in kinds else {"type": "string"}
    out: dict[str, Any] = {}
    for k, v in s.items():
        if k == "$ref":
            out[k] = SCHEMAS + v.rsplit("/", 1)[1]
        elif k == "type" and isinstance(v, list):
            out[k] = next((t for t in v if t != "null"), v[0])
        elif k in ("properties", "patternProperties"):
            out[k] = {n: _oa(p) for n, p in v.items()}
        elif k in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[k] = _oa(v)
        elif k in ("$schema", "$id"):
            continue
        else:
            out[k] = v
    if "$ref" in out and len(out) > 1:  # the server wraps a described reference in allOf
        out = {"allOf": [{"$ref": out.pop("$ref")}], **out}
    return out


@lru_cache(maxsize=None)
def _definition(name: str) -> dict[str, Any]:
    """One definition in OpenAPI form (shared between documents; never mutated)."""
    out: dict[str, Any] = _oa(definitions_document()["$defs"][name])
    return out


def _refs(s: Any, into: set[str]) -> None:
    if isinstance(s, dict):
        ref = s.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMAS):
            into.add(ref[len(SCHEMAS):])
        for v in s.values():
            _refs(v, into)
    elif isinstance(s, list):
        for v in s:
            _refs(v, into)


def _closure(names: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    todo = [n for n in names if n in definitions_document()["$defs"]]
    while todo:
        n = todo.pop()
        if n in out:
            continue
        out[n] = _definition(n)
        found: set[str] = set()
        _refs(out[n], found)
        todo.extend(f for f in found if f not in out and f in definitions_document()["$defs"])
    return dict(sorted(out.items()))


# -- custom resources --------------------------------------------------------------------------------------

def cr_schema_name(group: str, version: str, kind: str) -> str:
    """``com.example.v1.Widget`` for ``example.com/v1`` Widget, as the server names it."""
    return ".".join([*reversed(group.split(".")), version, kind])


def _cr_oa(s: Any) -> Any:
    if isinstance(s, list):
        return [_cr_oa(x) for x in s]
    if not isinstance(s, dict):
        return s
    out = {k: (_cr_oa(v) if isinstance(v, (dict, list)) and k not in ("enum", "default", "example") else v)
           for k, v in s.items()}
    if out.get("x-kubernetes-int-or-string") and "anyOf" not in out and "type" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]  # as the apiextensions server publishes it
    return out


def _cr_schemas(r: Resource, schema: dict[str, Any] | None) -> dict[str, Any]:
    gvk = [{"group": r.group, "kind": r.kind, "version": r.version}]
    body: dict[str, Any] = _cr_oa(schema) if schema else {"type": "object",
                                                           "x-kubernetes-preserve-unknown-fields": True}
    props = dict(body.get("properties") or {})
    props.update({
        "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this "
                                                        "representation of an object."},
        "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this "
                                                  "object represents."},
        "metadata": {"allOf": [{"$ref": SCHEMAS + OBJECT_META}],
                     "description": "Standard object's metadata."}})
    name = cr_schema_name(r.group, r.version, r.kind)
    return {
        name: {**body, "type": "object", "properties": props, "x-kubernetes-group-version-kind": gvk},
        name + "List": {
            "description": f"{r.kind}List is a list of {r.kind}", "type": "object", "required": ["items"],
            "properties": {
                "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                "items": {"type": "array", "items": {"$ref": SCHEMAS + name},
                          "description": f"List of {r.plural}. More info: "
                                         "https://kubernetes.io/docs/reference/using-api/api-concepts/"},
                "metadata": {"allOf": [{"$ref": SCHEMAS + "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"}]}},
            "x-kubernetes-group-version-kind": [{"group": r.group, "kind": r.list_kind, "version": r.version}]},
    }


# -- paths -------------------------------------------------------------------------------------------------

def _param(name: str, where: str = "query", *, type_: str = "string", required: bool = False,
           text: str | None = None) -> dict[str, Any]:
    p: dict[str, Any] = {"description": text or _PARAM_TEXT.get(name, name), "in": where, "name": name}
    if required:
        p["required"] = True
    p["schema"] = {"type": type_, "uniqueItems": True}
    return p


def _content(ref: str, media: Iterable[str] = _MEDIA) -> dict[str, Any]:
    return {m: {"schema": {"$ref": SCHEMAS + ref}} for m in media}


def _op_id(verb: str, r: Resource, *, namespaced: bool, suffix: str = "") -> str:
    """``listAppsV1NamespacedDeployment``, ``listAppsV1DeploymentForAllNamespaces``, ... as the
    server names its operations."""
    group = r.group.removesuffix(".k8s.io") if r.group else "core"
    gv = "".join(p.capitalize() for p in group.split(".")) + r.version.capitalize()
    if verb == "list" and r.namespaced and not namespaced:
        return f"list{gv}{r.kind}ForAllNamespaces"
    return f"{verb}{gv}{'Namespaced' if namespaced else ''}{r.kind}{suffix}"


def _operation(action: str, verb: str, r: Resource, gvk: dict[str, str], *, namespaced: bool,
               response: str, body: str | None = None, writes: bool = False, suffix: str = "",
               patch: bool = False, created: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"description": f"{action} {suffix.lower() + ' of ' if suffix else ''}{r.kind}",
                          "operationId": _op_id(verb, r, namespaced=namespaced, suffix=suffix)}
    params = []
    if writes:
        params += [_param("dryRun"), _param("fieldManager"), _param("fieldValidation")]
    if patch:
        params.append(_param("force", type_="boolean"))
    if verb in ("list", "deletecollection"):
        params += [_param(n) for n in ("continue", "fieldSelector", "labelSelector")] + [
            _param("limit", type_="integer"), _param("resourceVersion"), _param("timeoutSeconds", type_="integer"),
            _param("watch", type_="boolean")]
    if params:
        op["parameters"] = params
    if body:
        media = (tuple(t for t in _PATCH_TYPES if r.crd is None or "strategic" not in t) if patch else ("*/*",))
        op["requestBody"] = {"content": _content(body, media), "required": True}
    responses: dict[str, Any] = {"200": {"content": _content(response), "description": "OK"}}
    if created:
        responses["201"] = {"content": _content(response), "description": "Created"}
    responses["401"] = {"description": "Unauthorized"}
    op["responses"] = responses
    op["tags"] = [f"{(r.group.split('.')[0] if r.group else 'core')}_{r.version}"]
    op["x-kubernetes-action"] = action
    op["x-kubernetes-group-version-kind"] = gvk
    return op


def _paths_for(r: Resource, obj_schema: str, list_schema: str) -> dict[str, Any]:
    gvk = {"group": r.group, "kind": r.kind, "version": r.version}
    verbs = set(r.verbs)
    out: dict[str, Any] = {}
    pretty = _param("pretty")
    ns_param = _param("namespace", "path", required=True,
                      text="object name and auth scope, such as for teams and projects")
    name_param = _param("name", "path", required=True, text=f"name of the {r.kind}")
    status = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
    coll = r.path("{namespace}") if r.namespaced else r.path()
    ns = r.namespaced
    c: dict[str, Any] = {}
    if "list" in verbs:
        c["get"] = _operation("list", "list", r, gvk, namespaced=ns, response=list_schema)
    if "create" in verbs:
        c["post"] = _operation("post", "create", r, gvk, namespaced=ns, response=obj_schema, body=obj_schema,
                               writes=True, created=True)
    if "deletecollection" in verbs:
        c["delete"] = _operation("deletecollection", "deletecollection", r, gvk, namespaced=ns, response=status)
    if c:
        c["parameters"] = ([ns_param] if ns else []) + [pretty]
        out[coll] = c
    item: dict[str, Any] = {}
    if "get" in verbs:
        item["get"] = _operation("get", "read", r, gvk, namespaced=ns, response=obj_schema)
    if "update" in verbs:
        item["put"] = _operation("put", "replace", r, gvk, namespaced=ns, response=obj_schema, body=obj_schema,
                                 writes=True, created=True)
    if "patch" in verbs:
        item["patch"] = _operation("patch", "patch", r, gvk, namespaced=ns, response=obj_schema,
                                   body="io.k8s.apimachinery.pkg.apis.meta.v1.Patch", writes=True, patch=True,
                                   created=True)
    if "delete" in verbs:
        item["delete"] = _operation("delete", "delete", r, gvk, namespaced=ns, response=status)
    if item:
        item["parameters"] = [name_param] + ([ns_param] if ns else []) + [pretty]
        out[r.path("{namespace}" if ns else None, "{name}")] = item
    if ns and "list" in verbs:
        out[r.path()] = {"get": _operation("list", "list", r, gvk, namespaced=False, response=list_schema),
                         "parameters": [pretty]}
    for sub in r.subresources:
        if sub not in ("status", "scale"):
            continue
        sg = "io.k8s.api.autoscaling.v1.Scale" if sub == "scale" else obj_schema
        sgvk = {"group": "autoscaling", "kind": "Scale", "version": "v1"} if sub == "scale" else gvk
        suffix = sub.capitalize()
        out[r.path("{namespace}" if ns else None, "{name}") + "/" + sub] = {
            "get": _operation("get", "read", r, sgvk, namespaced=ns, response=sg, suffix=suffix),
            "put": _operation("put", "replace", r, sgvk, namespaced=ns, response=sg, body=sg, writes=True,
                              created=True, suffix=suffix),
            "patch": _operation("patch", "patch", r, sgvk, namespaced=ns, response=sg,
                                body="io.k8s.apimachinery.pkg.apis.meta.v1.Patch", writes=True, patch=True,
                                created=True, suffix=suffix),
            "parameters": [name_param] + ([ns_param] if ns else []) + [pretty]}
    return out


# -- documents, cached -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Served:
    """One group-version document: the dict, its JSON bytes and the hash for its URL."""

    document: dict[str, Any]
    body: bytes
    hash: str


def _crd_key(crd: dict[str, Any]) -> tuple[str, str]:
    meta = crd.get("metadata") or {}
    rv = meta.get("resourceVersion")
    if rv:
        return str(meta.get("uid") or meta.get("name")), str(rv)
    digest = hashlib.sha256(orjson.dumps(crd.get("spec"), option=orjson.OPT_SORT_KEYS)).hexdigest()
    return str(meta.get("name")), digest


def _index(crds: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str((c.get("metadata") or {}).get("name")): c for c in crds}


def _key(registry: Registry, group: str, version: str, by_name: dict[str, dict[str, Any]]) -> tuple[Any, ...]:
    res = tuple(registry.resources(group, version))
    crd_keys = tuple(sorted(_crd_key(by_name[r.crd]) for r in res if r.crd and r.crd in by_name))
    return (KUBERNETES_VERSION, group, version, res, crd_keys)


def _digest(key: tuple[Any, ...]) -> str:
    return hashlib.sha512(repr(key).encode()).hexdigest().upper()


_CACHE: OrderedDict[tuple[Any, ...], Served] = OrderedDict()


def group_version_path(group: str, version: str) -> str:
    """``api/v1`` or ``apis/apps/v1`` (the root's keys)."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def root(registry: Registry, crds: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """``/openapi/v3``: every group-version with its document's URL and hash."""
    by_name = _index(crds)
    paths = {}
    for g, versions in registry.group_versions().items():
        for v in versions:
            p = group_version_path(g, v)
            paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={_digest(_key(registry, g, v, by_name))}"}
    return {"paths": dict(sorted(paths.items()))}


def served(registry: Registry, group: str, version: str, crds: Iterable[dict[str, Any]] = ()) -> Served:
    """The document of one group-version (``crds``: the CustomResourceDefinition objects, whose
    schemas go into their group-version's document), computed once per content; 404 when the
    group-version is not served."""
    by_name = _index(crds)
    key = _key(registry, group, version, by_name)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    if not key[3]:
        raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")
    doc = document(registry, group, version, by_name.values())
    out = Served(doc, orjson.dumps(doc), _digest(key))
    _CACHE[key] = out
    if len(_CACHE) > 128:
        _CACHE.popitem(last=False)
    return out


def document(registry: Registry, group: str, version: str, crds: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """The OpenAPI v3 document of one group-version (uncached: use :func:`served`)."""
    by_name = _index(crds)
    names = definition_names()
    wanted: set[str] = {"io.k8s.apimachinery.pkg.apis.meta.v1.Patch", "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
                        "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"}
    paths: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for r in registry.resources(group, version):
        if r.crd:
            crd = by_name.get(r.crd)
            schema = crd_mod.schemas(crd).get(version) if crd else None
            custom.update(_cr_schemas(r, schema))
            obj, lst = cr_schema_name(group, version, r.kind), cr_schema_name(group, version, r.kind) + "List"
            found: set[str] = set()
            wanted.update({OBJECT_META, "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"})
            if "scale" in r.subresources:
                wanted.add("io.k8s.api.autoscaling.v1.Scale")
            _refs(custom, found)
            wanted.update(found)
        else:
            obj = names.get((group, version, r.kind), "")
            lst = names.get((group, version, r.list_kind), "")
            if not obj:
                continue  # no schema (a virtual kind such as TokenReview is still served: get/create only)
            wanted.update((obj, lst) if lst else (obj,))
            if "scale" in r.subresources:
                wanted.add("io.k8s.api.autoscaling.v1.Scale")
        paths.update(_paths_for(r, obj, lst or obj))
    schemas = {**_closure(wanted), **custom}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
            "paths": dict(sorted(paths.items())),
            "components": {"schemas": dict(sorted(schemas.items())),
                           "securitySchemes": {"BearerToken": {"description": "Bearer Token authentication",
                                                               "in": "header", "name": "authorization",
                                                               "type": "apiKey"}}},
            "security": [{"BearerToken": []}]}
