"""Validation of objects as a real kube-apiserver does it, in the same two steps.

1. **Decoding** (400 ``BadRequest``): a field of the wrong type, or -- under
   ``fieldValidation=Strict`` -- a field the schema does not declare, refuses the request with
   ``<Kind> in version "<v>" cannot be handled as a <Kind>: strict decoding error: unknown field
   "spec.foo"``; under ``Warn`` (the server's default) the unknown fields become ``Warning:``
   texts (``unknown field "spec.foo"``), under ``Ignore`` nothing.
2. **Validation** (422 ``Invalid`` with ``details.causes``): missing required fields
   (``FieldValueRequired``), values a schema refuses (``FieldValueInvalid``,
   ``FieldValueNotSupported``), names (DNS-1123 subdomain or label, DNS-1035 label, path segment),
   label and annotation syntax and the annotations' total size.

Built-in kinds are checked against Kubernetes' own schemas as kubernetes-validate ships them
(its ``-strict`` variant: every object closed), custom resources against their CRD's
``openAPIV3Schema`` (structural: ``nullable``, ``x-kubernetes-int-or-string``,
``x-kubernetes-preserve-unknown-fields``, ``x-kubernetes-embedded-resource``). Both run on the
``jsonschema`` library; a validator is compiled once per kind (per CRD version).
"""
from __future__ import annotations

import importlib.resources
import json
import re
from collections import OrderedDict
from functools import lru_cache
from typing import Any, Iterable

import jsonschema
import orjson
from referencing import Registry as RefRegistry
from referencing import Resource as RefResource

from . import errors
from .resources import KUBERNETES_VERSION, Resource

DEFS_ID = "https://kubernetes.io/api/_definitions.json"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
FIELD_VALIDATION = ("Strict", "Warn", "Ignore")


# -- Kubernetes' schemas (kubernetes-validate) ----------------------------------------------------------

def _schema_dir(strict: bool) -> Any:
    import kubernetes_validate.utils as kv

    want = tuple(int(x) for x in KUBERNETES_VERSION.lstrip("v").split(".")[:2])
    versions = [v for v in kv.all_versions() if tuple(int(x) for x in v.split(".")[:2]) <= want]
    version = (versions or kv.all_versions())[-1]
    name = f"v{version}-local" + ("-strict" if strict else "")
    return importlib.resources.files("kubernetes_validate").joinpath("kubernetes-json-schema").joinpath(name)


@lru_cache(maxsize=2)
def kubernetes_definitions(strict: bool = False) -> dict[str, Any]:
    """Kubernetes' definitions as one JSON Schema document (``{"$defs": {name: schema}}``, refs
    ``#/$defs/<name>``): ``strict`` closes every object (``additionalProperties: false``).
    Shared, never to be mutated. (The one loader: point it at schemas.py once that exists.)"""
    doc: dict[str, Any] = orjson.loads(_schema_dir(strict).joinpath("_definitions.json").read_bytes())
    return doc


@lru_cache(maxsize=1)
def definition_names() -> dict[tuple[str, str, str], str]:
    """``(group, version, kind)`` -> the definition's name (``io.k8s.api.apps.v1.Deployment``)."""
    out: dict[tuple[str, str, str], str] = {}
    for name, d in kubernetes_definitions()["$defs"].items():
        for gvk in d.get("x-kubernetes-group-version-kind", ()):
            out.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return out


@lru_cache(maxsize=1)
def _ref_registry() -> RefRegistry:
    registry: RefRegistry = RefResource.from_contents(kubernetes_definitions(strict=True)) @ RefRegistry()
    return registry


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(schema, registry=_ref_registry())


@lru_cache(maxsize=512)
def _builtin_validator(group: str, version: str, kind: str) -> jsonschema.protocols.Validator | None:
    name = definition_names().get((group, version, kind))
    if name is None:
        return None
    return _validator({"$ref": f"{DEFS_ID}#/$defs/{name}"})


# -- custom resources: a CRD's structural schema as JSON Schema ------------------------------------------

def _convert(s: Any, *, root: bool = False) -> Any:
    """An ``openAPIV3Schema`` (JSONSchemaProps) -> JSON Schema 2020-12 that refuses what the
    server prunes (unknown fields) and allows what Kubernetes' extensions allow."""
    if not isinstance(s, dict):
        return s
    out: dict[str, Any] = {}
    for k, v in s.items():
        if k in ("properties", "patternProperties", "definitions"):
            out[k] = {n: _convert(p) for n, p in v.items()}
        elif k in ("items", "not") or (k == "additionalProperties" and isinstance(v, dict)):
            out[k] = _convert(v) if isinstance(v, dict) else [_convert(x) for x in v]
        elif k in ("allOf", "anyOf", "oneOf"):
            out[k] = [_convert(x) for x in v]
        elif k in ("exclusiveMinimum", "exclusiveMaximum"):
            bound = "minimum" if k == "exclusiveMinimum" else "maximum"
            if v is True and bound in s:
                out[k] = s[bound]
        elif k in ("minimum", "maximum"):
            if s.get("exclusive" + k.capitalize()) is not True:
                out[k] = v
        elif k in ("type", "enum", "required", "minLength", "maxLength", "pattern", "minItems", "maxItems",
                   "uniqueItems", "minProperties", "maxProperties", "multipleOf", "additionalProperties"):
            out[k] = v
    if s.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", []).extend([{"type": "integer"}, {"type": "string"}])
    if s.get("nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    props = out.setdefault("properties", {}) if (root or s.get("x-kubernetes-embedded-resource")) else None
    if props is not None:
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props["metadata"] = {"$ref": f"{DEFS_ID}#/$defs/{OBJECT_META}"} if root else {"type": "object"}
    # structural pruning: an object that declares its fields and keeps no unknown ones is closed
    if (s.get("type") == "object" or props is not None) and not s.get("x-kubernetes-preserve-unknown-fields") \
            and "additionalProperties" not in s:
        out["additionalProperties"] = False
    return out


_CRD_CACHE: OrderedDict[int, tuple[dict[str, Any], jsonschema.protocols.Validator]] = OrderedDict()


def crd_schema(crd: dict[str, Any], version: str) -> dict[str, Any] | None:
    """The ``openAPIV3Schema`` of one version of a CRD (None when it has none)."""
    for v in crd.get("spec", {}).get("versions") or ():
        if v.get("name") == version:
            schema: dict[str, Any] | None = (v.get("schema") or {}).get("openAPIV3Schema")
            return schema
    return None


def _crd_validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    hit = _CRD_CACHE.get(id(schema))
    if hit is not None and hit[0] is schema:  # the cache holds the dict: its id cannot be reused meanwhile
        _CRD_CACHE.move_to_end(id(schema))
        return hit[1]
    v = _validator(_convert(schema, root=True))
    _CRD_CACHE[id(schema)] = (schema, v)
    if len(_CRD_CACHE) > 256:
        _CRD_CACHE.popitem(last=False)
    return v


# -- names, labels, annotations (apimachinery's validation, as the server words it) -------------------------

_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + ")*"
_DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(" + _QUALIFIED_NAME + ")?"

_MSG_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                  "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
                  f"for validation is '{_DNS1123_SUBDOMAIN}')")
_MSG_LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
              "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
              f"validation is '{_DNS1123_LABEL}')")
_MSG_1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
             "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
             f"regex used for validation is '{_DNS1035_LABEL}')")
_MSG_QNAME = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
              "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
              f"validation is '{_QUALIFIED_NAME}')")
_MSG_LABEL_VALUE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
                    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
                    f"'my_value',  or '12345', regex used for validation is '{_LABEL_VALUE}')")
TOTAL_ANNOTATION_SIZE = 256 * 1024


def is_dns1123_subdomain(v: str) -> list[str]:
    out = [] if len(v) <= 253 else ["must be no more than 253 characters"]
    return out + ([] if re.fullmatch(_DNS1123_SUBDOMAIN, v) else [_MSG_SUBDOMAIN])


def is_dns1123_label(v: str) -> list[str]:
    out = [] if len(v) <= 63 else ["must be no more than 63 characters"]
    return out + ([] if re.fullmatch(_DNS1123_LABEL, v) else [_MSG_LABEL])


def is_dns1035_label(v: str) -> list[str]:
    out = [] if len(v) <= 63 else ["must be no more than 63 characters"]
    return out + ([] if re.fullmatch(_DNS1035_LABEL, v) else [_MSG_1035])


def is_path_segment(v: str) -> list[str]:
    if v in (".", ".."):
        return [f"may not be '{v}'"]
    return [f"may not contain '{c}'" for c in "/%" if c in v]


def is_qualified_name(v: str) -> list[str]:
    prefix, slash, name = v.rpartition("/")
    out = []
    if slash:
        if not prefix:
            out.append("prefix part must be non-empty")
        else:
            out += ["prefix part " + m for m in is_dns1123_subdomain(prefix)]
    if not name:
        return out + ["name part must be non-empty"]
    if len(name) > 63:
        out.append("name part must be no more than 63 characters")
    if not re.fullmatch(_QUALIFIED_NAME, name):
        out.append(_MSG_QNAME)
    return out


def is_label_value(v: str) -> list[str]:
    out = [] if len(v) <= 63 else ["must be no more than 63 characters"]
    return out + ([] if re.fullmatch(_LABEL_VALUE, v) else [_MSG_LABEL_VALUE])


#: How each kind's names are checked (the rest: DNS-1123 subdomain), as the server's validators do.
NAME_RULES = {("", "Namespace"): is_dns1123_label, ("", "Service"): is_dns1035_label,
              ("rbac.authorization.k8s.io", "Role"): is_path_segment,
              ("rbac.authorization.k8s.io", "ClusterRole"): is_path_segment,
              ("rbac.authorization.k8s.io", "RoleBinding"): is_path_segment,
              ("rbac.authorization.k8s.io", "ClusterRoleBinding"): is_path_segment}


def _q(v: Any) -> str:
    """A value as the server quotes it in ``Invalid value: ...``."""
    return json.dumps(v) if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v, sort_keys=True)


def cause(reason: str, field: str, message: str) -> dict[str, str]:
    return {"reason": reason, "message": message, "field": field}


def invalid_value(field: str, value: Any, detail: str) -> dict[str, str]:
    return cause("FieldValueInvalid", field, f"Invalid value: {_q(value)}: {detail}")


def required(field: str, detail: str = "") -> dict[str, str]:
    return cause("FieldValueRequired", field, "Required value" + (f": {detail}" if detail else ""))


def not_supported(field: str, value: Any, supported: Iterable[Any]) -> dict[str, str]:
    listed = ", ".join(_q(s) for s in supported)
    return cause("FieldValueNotSupported", field, f"Unsupported value: {_q(value)}: supported values: {listed}")


def metadata_causes(resource: Resource, meta: Any) -> list[dict[str, str]]:
    """The server's checks of ``metadata``: name, labels, annotations."""
    if not isinstance(meta, dict):
        return [required("metadata.name", "name or generateName is required")]
    out: list[dict[str, str]] = []
    name = meta.get("name")
    if not name:
        if not meta.get("generateName"):
            out.append(required("metadata.name", "name or generateName is required"))
    elif isinstance(name, str):
        rule = NAME_RULES.get((resource.group, resource.kind), is_dns1123_subdomain)
        out += [invalid_value("metadata.name", name, m) for m in rule(name)]
    labels = meta.get("labels") or {}
    if isinstance(labels, dict):
        for k in sorted(labels):
            out += [invalid_value("metadata.labels", k, m) for m in is_qualified_name(k)]
            v = labels[k]
            if isinstance(v, str):
                out += [invalid_value("metadata.labels", v, m) for m in is_label_value(v)]
    annotations = meta.get("annotations") or {}
    if isinstance(annotations, dict):
        size = 0
        for k in sorted(annotations):
            out += [invalid_value("metadata.annotations", k, m) for m in is_qualified_name(k.lower())]
            size += len(k) + len(str(annotations[k]))
        if size > TOTAL_ANNOTATION_SIZE:
            out.append(cause("FieldValueTooLong", "metadata.annotations",
                             f"Too long: may not be more than {TOTAL_ANNOTATION_SIZE} bytes"))
    return out


# -- the schema pass ---------------------------------------------------------------------------------------

def field_path(path: Iterable[Any]) -> str:
    """``spec.template.spec.containers[0].image`` from a JSON path."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


_TYPE_OF = {dict: "object", list: "array", str: "string", bool: "bool", int: "number", float: "number",
            type(None): "null"}


def _walk(validator: jsonschema.protocols.Validator, obj: dict[str, Any]) -> tuple[
        list[str], list[tuple[str, Any, Any]], list[jsonschema.ValidationError]]:
    """(unknown field paths, type errors (path, value, schema), other errors) in a stable order."""
    unknown: list[str] = []
    types: list[tuple[str, Any, Any]] = []
    rest: list[jsonschema.ValidationError] = []
    for e in validator.iter_errors(obj):
        path = list(e.absolute_path)
        if e.validator == "additionalProperties" and e.validator_value is False and isinstance(e.instance, dict):
            declared = set(e.schema.get("properties", {}))
            patterns = list(e.schema.get("patternProperties", {}))
            unknown += [field_path([*path, k]) for k in e.instance
                        if k not in declared and not any(re.search(p, k) for p in patterns)]
        elif e.validator in ("type", "oneOf", "anyOf") and not _is_pure_range(e):
            types.append((field_path(path), e.instance, e.schema))
        else:
            rest.append(e)
    return sorted(set(unknown)), types, rest


def _is_pure_range(e: jsonschema.ValidationError) -> bool:
    """An ``anyOf`` of int-or-string refuses a bool through its types: that is a type error; an
    ``anyOf`` whose branches failed on other grounds is a value error."""
    if e.validator not in ("anyOf", "oneOf"):
        return False
    return any(c.validator != "type" for c in e.context or ())


def _schema_cause(e: jsonschema.ValidationError, *, custom: bool) -> dict[str, str] | None:
    path = field_path(e.absolute_path)
    v, val = e.validator, e.validator_value
    if v == "required":
        missing = [r for r in val if isinstance(e.instance, dict) and r not in e.instance]
        return required(field_path([*e.absolute_path, missing[0]])) if missing else None
    if v == "enum":
        if not custom and path in ("apiVersion", "kind"):
            return None  # the URL decides these; the HTTP face compares them
        return not_supported(path, e.instance, [x for x in val if x is not None])
    where = f"{path} in body"
    detail = {
        "minimum": f"should be greater than or equal to {val}",
        "maximum": f"should be less than or equal to {val}",
        "exclusiveMinimum": f"should be greater than {val}",
        "exclusiveMaximum": f"should be less than {val}",
        "minLength": f"should be at least {val} chars long",
        "maxLength": f"should be at most {val} chars long",
        "pattern": f"should match '{val}'",
        "minItems": f"should have at least {val} items",
        "maxItems": f"should have at most {val} items",
        "uniqueItems": "shouldn't contain duplicates",
        "multipleOf": f"should be a multiple of {val}",
        "minProperties": f"should have at least {val} properties",
        "maxProperties": f"should have at most {val} properties",
    }.get(str(v), e.message)
    return invalid_value(path, e.instance, f"{where} {detail}")


def _type_name(s: Any, *, go: bool = True) -> str:
    """The type a schema wants, named as Go's decoder (``int32``) or the CRD validator
    (``integer``) names it."""
    if isinstance(s, dict):
        t = s.get("type")
        if isinstance(t, list):
            t = next((x for x in t if x != "null"), None)
        if not go and t:
            return str(t)
        if t == "integer" and s.get("format") in ("int32", "int64"):
            return str(s["format"])
        if t:
            return {"boolean": "bool", "number": "float64"}.get(str(t), str(t))
        if "anyOf" in s or "oneOf" in s:
            return "string"
    return "object"


def validate(resource: Resource, obj: dict[str, Any], *, strict: bool = False,
             field_validation: str | None = None, crd: dict[str, Any] | None = None) -> list[str]:
    """Check ``obj`` (the body of a create or update of ``resource``) as the server would; raise
    :class:`~.errors.StatusError` (400 decoding, 422 Invalid) or return the warnings to send as
    ``Warning:`` headers. ``field_validation`` is the request's ``fieldValidation`` (``Strict``,
    ``Warn``: the server's default, ``Ignore``); ``strict=True`` is ``Strict``. ``crd`` is the
    CustomResourceDefinition object of a custom resource (its schema for ``resource.version``)."""
    mode = field_validation or ("Strict" if strict else "Warn")
    if mode not in FIELD_VALIDATION:
        raise errors.bad_request(f'fieldValidation parameter unsupported: {mode!r}; '
                                 f'supported values are "Ignore", "Warn", "Strict"')
    if not isinstance(obj, dict):
        raise errors.bad_request(f"the object provided is unrecognized (must be of type {resource.kind})")
    custom = resource.crd is not None
    validator: jsonschema.protocols.Validator | None
    if custom:
        schema = crd_schema(crd, resource.version) if crd is not None else None
        validator = _crd_validator(schema if schema is not None else {"type": "object",
                                                                      "x-kubernetes-preserve-unknown-fields": True})
    else:
        validator = _builtin_validator(resource.group, resource.version, resource.kind)
    unknown, types, rest = _walk(validator, obj) if validator is not None else ([], [], [])
    name = str((obj.get("metadata") or {}).get("name") or "") if isinstance(obj.get("metadata"), dict) else ""
    decode = f'{resource.kind} in version "{resource.version}" cannot be handled as a {resource.kind}: '
    if types and not custom:  # the Go structs refuse a wrong type while decoding
        path, value, schema = types[0]
        raise errors.bad_request(decode + f"json: cannot unmarshal {_TYPE_OF.get(type(value), 'value')} into Go "
                                          f"struct field {resource.kind}.{path} of type {_type_name(schema)}")
    warnings: list[str] = []
    if unknown:
        texts = [f'unknown field "{u}"' for u in unknown]
        if mode == "Strict":
            raise errors.bad_request(decode + "strict decoding error: " + ", ".join(texts))
        if mode == "Warn":
            warnings += texts
    causes = metadata_causes(resource, obj.get("metadata"))
    if custom:
        for path, value, schema in types:
            causes.append(invalid_value(path, value, f"{path} in body must be of type {_type_name(schema, go=False)}: "
                                                     f"{_q(value)}"))
    for e in rest:
        c = _schema_cause(e, custom=custom)
        if c is not None and c not in causes:
            causes.append(c)
    if causes:
        raise errors.invalid(resource.kind, name, causes, group=resource.group)
    return warnings


def clear_caches() -> None:
    """Forget compiled custom-resource validators (tests; a registry reset)."""
    _CRD_CACHE.clear()
