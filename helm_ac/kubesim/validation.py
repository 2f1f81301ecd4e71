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

import re
from collections import OrderedDict
from functools import lru_cache
from typing import Any, Iterable

import jsonschema
from referencing import Registry as RefRegistry
from referencing import Resource as RefResource

from . import crds, errors, schemas
from .fields import (NAME_RULES, TOTAL_ANNOTATION_SIZE, cause, invalid_value, is_dns1035_label,  # noqa: F401
                     is_dns1123_label, is_dns1123_subdomain, is_label_value, is_path_segment, is_qualified_name,
                     metadata_causes, not_supported, quote, required)
from .resources import Resource

DEFS_ID = "https://kubernetes.io/api/_definitions.json"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
FIELD_VALIDATION = ("Strict", "Warn", "Ignore")


# -- Kubernetes' schemas (kubernetes-validate, loaded by :mod:`.schemas`) ----------------------------

@lru_cache(maxsize=1)
def _ref_registry() -> RefRegistry:
    registry: RefRegistry = RefResource.from_contents(schemas.definitions_document(strict=True)) @ RefRegistry()
    return registry


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(schema, registry=_ref_registry())


@lru_cache(maxsize=512)
def _builtin_validator(group: str, version: str, kind: str) -> jsonschema.protocols.Validator | None:
    name = schemas.definition_names().get((group, version, kind))
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


# -- the schema pass ---------------------------------------------------------------------------------------

def field_path(path: Iterable[Any]) -> str:
    """``spec.template.spec.containers[0].image`` from a JSON path."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


_TYPE_OF = {dict: "object", list: "array", str: "string", bool: "bool", int: "number", float: "number",
            type(None): "null"}

Path = tuple[Any, ...]


def _walk(validator: jsonschema.protocols.Validator, obj: dict[str, Any]) -> tuple[
        list[Path], list[tuple[Path, Any, Any]], list[jsonschema.ValidationError]]:
    """(unknown fields' paths, type errors (path, value, schema), other errors) in a stable order."""
    unknown: set[Path] = set()
    types: list[tuple[Path, Any, Any]] = []
    rest: list[jsonschema.ValidationError] = []
    for e in validator.iter_errors(obj):
        path = tuple(e.absolute_path)
        if e.validator == "additionalProperties" and e.validator_value is False and isinstance(e.instance, dict):
            declared = set(e.schema.get("properties", {}))
            patterns = list(e.schema.get("patternProperties", {}))
            unknown.update((*path, k) for k in e.instance
                           if k not in declared and not any(re.search(p, k) for p in patterns))
        elif e.validator in ("type", "oneOf", "anyOf") and not _is_pure_range(e):
            types.append((path, e.instance, e.schema))
        else:
            rest.append(e)
    return sorted(unknown, key=lambda p: [str(x) for x in p]), types, rest


def _is_pure_range(e: jsonschema.ValidationError) -> bool:
    """An ``anyOf`` of int-or-string refuses a bool through its types: that is a type error; an
    ``anyOf`` whose branches failed on other grounds is a value error."""
    if e.validator not in ("anyOf", "oneOf"):
        return False
    return any(c.validator != "type" for c in e.context or ())


def _schema_cause(e: jsonschema.ValidationError, *, custom: bool) -> dict[str, str] | None:
    """One schema error as the apiextensions server words it (kube-openapi's messages)."""
    path = field_path(e.absolute_path)
    v, val = e.validator, e.validator_value
    if v == "required":
        missing = [r for r in val if isinstance(e.instance, dict) and r not in e.instance]
        return required(field_path([*e.absolute_path, missing[0]])) if missing else None
    if v == "enum":
        if not custom and path in ("apiVersion", "kind"):
            return None  # the URL decides these; the HTTP face compares them
        return not_supported(path, e.instance, [x for x in val if x is not None])
    if v == "maxLength":
        return cause("FieldValueTooLong", path, f"Too long: may not be more than {val} bytes")
    if v in ("maxItems", "maxProperties"):
        n = len(e.instance) if isinstance(e.instance, (list, dict)) else 0
        return cause("FieldValueTooMany", path,
                     f"Too many: {n}: must have at most {val} {'items' if v == 'maxItems' else 'properties'}")
    detail = {
        "minimum": f"should be greater than or equal to {val}",
        "maximum": f"should be less than or equal to {val}",
        "exclusiveMinimum": f"should be greater than {val}",
        "exclusiveMaximum": f"should be less than {val}",
        "minLength": f"should be at least {val} chars long",
        "pattern": f"should match '{val}'",
        "minItems": f"should have at least {val} items",
        "uniqueItems": "shouldn't contain duplicates",
        "multipleOf": f"should be a multiple of {val}",
        "minProperties": f"should have at least {val} properties",
    }.get(str(v), e.message)
    return invalid_value(path, e.instance, f"{path} in body {detail}")


def _type_name(s: Any) -> str:
    """The JSON type a CRD schema wants (``integer``), as the CRD validator names it."""
    if isinstance(s, dict):
        t = s.get("type")
        if isinstance(t, list):
            t = next((x for x in t if x != "null"), None)
        if t:
            return str(t)
        if "anyOf" in s or "oneOf" in s:
            return ",".join(sorted(_type_name(x) for x in s.get("anyOf") or s.get("oneOf") or ()))
    return "object"


def _def_name(ref: str) -> str:
    return ref.rsplit("/", 1)[1]


def _go_type(s: dict[str, Any]) -> str:
    """A Kubernetes schema as its Go type prints (``int32``, ``[]v1.Container``, ``v1.DeploymentSpec``)."""
    if "$ref" in s:
        parts = _def_name(s["$ref"]).split(".")
        return f"{parts[-2]}.{parts[-1]}"
    t = s.get("type")
    t = next((x for x in t if x != "null"), None) if isinstance(t, list) else t
    if t == "integer":
        return str(s.get("format") or "int64")
    if t == "array":
        return "[]" + _go_type(s.get("items") or {})
    if t == "object" and isinstance(s.get("additionalProperties"), dict):
        return "map[string]" + _go_type(s["additionalProperties"])
    return {"boolean": "bool", "number": "float64", "string": "string"}.get(str(t), "interface {}")


def _decode_error(def_name: str, path: Path, value: Any) -> str:
    """Go's ``json: cannot unmarshal <json type> into Go struct field <Struct>.<path> of type <T>``:
    the innermost struct holding the field, the field's whole path, its Go type."""
    defs = schemas.definitions_document(strict=True)["$defs"]
    struct, here = def_name, defs[def_name]
    target: dict[str, Any] = here
    for i, p in enumerate(path):
        if "$ref" in here:
            struct = _def_name(here["$ref"])
            here = defs[struct]
        if isinstance(p, int):
            target = here.get("items") or {}
        else:
            target = (here.get("properties") or {}).get(p) or here.get("additionalProperties") or {}
        here = target
    struct_name = struct.rsplit(".", 1)[1]
    field = ".".join(str(p) for p in path if not isinstance(p, int))
    return (f"json: cannot unmarshal {_TYPE_OF.get(type(value), 'value')} into Go struct field "
            f"{struct_name}.{field} of type {_go_type(target)}")


def _validator_for(resource: Resource, crd: dict[str, Any] | None) -> jsonschema.protocols.Validator | None:
    if resource.crd is not None:
        schema = crds.version_schema(crd, resource.version) if crd is not None else None
        return _crd_validator(schema if schema is not None else {"type": "object",
                                                                 "x-kubernetes-preserve-unknown-fields": True})
    return _builtin_validator(resource.group, resource.version, resource.kind)


def validate(resource: Resource, obj: dict[str, Any], *, strict: bool = False,
             field_validation: str | None = None, crd: dict[str, Any] | None = None) -> list[str]:
    """Check ``obj`` (the body of a create or update of ``resource``) as the server would; raise
    :class:`~.errors.StatusError` (400 decoding, 422 Invalid) or return the warnings to send as
    ``Warning:`` headers. ``field_validation`` is the request's ``fieldValidation`` (``Strict``,
    ``Warn``: the server's default, ``Ignore``); ``strict=True`` is ``Strict``. ``crd`` is the
    CustomResourceDefinition object of a custom resource (its schema for ``resource.version``).
    Unknown fields are not removed here: :func:`prune` drops them as the server does."""
    mode = field_validation or ("Strict" if strict else "Warn")
    if mode not in FIELD_VALIDATION:
        raise errors.bad_request(f'fieldValidation parameter unsupported: {mode!r}; '
                                 f'supported values are "Ignore", "Warn", "Strict"')
    if not isinstance(obj, dict):
        raise errors.bad_request(f"the object provided is unrecognized (must be of type {resource.kind})")
    custom = resource.crd is not None
    validator = _validator_for(resource, crd)
    unknown, types, rest = _walk(validator, obj) if validator is not None else ([], [], [])
    name = str((obj.get("metadata") or {}).get("name") or "") if isinstance(obj.get("metadata"), dict) else ""
    decode = f'{resource.kind} in version "{resource.version}" cannot be handled as a {resource.kind}: '
    if types and not custom:  # the Go structs refuse a wrong type while decoding
        path, value, _ = types[0]
        def_name = schemas.definition_names()[(resource.group, resource.version, resource.kind)]
        raise errors.bad_request(decode + _decode_error(def_name, path, value))
    warnings: list[str] = []
    if unknown:
        texts = [f'unknown field "{field_path(u)}"' for u in unknown]
        if mode == "Strict":
            raise errors.bad_request(decode + "strict decoding error: " + ", ".join(texts))
        if mode == "Warn":
            warnings += texts
    causes = metadata_causes(resource, obj.get("metadata"))
    for path, value, schema in types:  # custom resources: a type error is a validation error
        where = field_path(path)
        causes.append(cause("FieldValueTypeInvalid", where, f"Invalid value: {quote(value)}: {where} in body must be "
                                                            f"of type {_type_name(schema)}: {quote(value)}"))
    for e in rest:
        c = _schema_cause(e, custom=custom)
        if c is not None and c not in causes:
            causes.append(c)
    if (resource.group, resource.kind) == (crds.GROUP, crds.KIND):
        causes += [c for c in crds.causes(obj) if c not in causes]
        causes += [c for c in default_causes(obj) if c not in causes]
    if causes:
        raise errors.invalid(resource.kind, name, causes, group=resource.group)
    return warnings


def default_causes(crd: dict[str, Any]) -> list[dict[str, str]]:
    """What apiextensions' ``ValidateDefaults`` says of a CRD's ``default`` values: each must be
    pruned (``must not have unknown fields``) and valid against its own schema node. Followed as
    there: properties and items, not ``additionalProperties``; defaults inside ``metadata`` are
    not checked here."""
    out: list[dict[str, str]] = []
    spec = crd.get("spec") if isinstance(crd.get("spec"), dict) else {}
    for i, v in enumerate((spec or {}).get("versions") or ()):
        schema = crds.version_schema(crd, str(v.get("name"))) if isinstance(v, dict) else None
        if schema is not None:
            _defaults_of(schema, f"spec.versions[{i}].schema.openAPIV3Schema", out, root=True)
    return out


def _defaults_of(s: Any, path: str, out: list[dict[str, str]], *, root: bool = False) -> None:
    if not isinstance(s, dict):
        return
    if s.get("default") is not None and not root:
        where = f"{path}.default"
        value = s["default"]
        unknown, types, rest = _walk(_validator(_convert(s)), value)
        if unknown:
            out.append(invalid_value(where, value, "must not have unknown fields"))
        for p, got, want in types:
            f = field_path((where, *p))
            out.append(cause("FieldValueTypeInvalid", f, f"Invalid value: {quote(got)}: {f} in body must be "
                                                         f"of type {_type_name(want)}: {quote(got)}"))
        for e in rest:
            c = _schema_cause(e, custom=True)
            if c is not None:
                f = field_path((where, *e.absolute_path))
                out.append({**c, "field": f, "message": c["message"].replace(
                    f"{field_path(e.absolute_path)} in body", f"{f} in body", 1)})
    for name, p in (s.get("properties") or {}).items():
        if not (root and name == "metadata"):
            _defaults_of(p, f"{path}.properties[{name}]", out)
    if isinstance(s.get("items"), dict):
        _defaults_of(s["items"], f"{path}.items", out)


def unknown_fields(resource: Resource, obj: dict[str, Any], *, crd: dict[str, Any] | None = None) -> list[Path]:
    """The paths of the fields of ``obj`` its schema does not declare (what the server drops)."""
    validator = _validator_for(resource, crd)
    return _walk(validator, obj)[0] if validator is not None else []


def prune(obj: dict[str, Any], paths: Iterable[Path]) -> dict[str, Any]:
    """``obj`` without the fields at ``paths`` (from :func:`unknown_fields`), as the server drops
    unknown fields under ``Warn`` and ``Ignore``: a new dict, copied only along those paths; ``obj``
    itself is not modified."""
    out: dict[str, Any] = obj
    for path in paths:
        out = _without(out, path)
    return out


def _without(node: Any, path: Path) -> Any:
    if not path:
        return node
    head, rest = path[0], path[1:]
    if isinstance(node, dict) and head in node:
        if not rest:
            return {k: v for k, v in node.items() if k != head}
        return {**node, head: _without(node[head], rest)}
    if isinstance(node, list) and isinstance(head, int) and 0 <= head < len(node):
        return [*node[:head], _without(node[head], rest), *node[head + 1:]]
    return node

