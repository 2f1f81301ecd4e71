"""Kubernetes' own OpenAPI schemas, as the patch code reads them (merge keys, list and map types).

Built-in kinds come from the definitions kubernetes-validate ships (``_definitions.json`` of its
newest ``vX.Y.Z-local`` directory, 1.7 MB): read once, on the first :func:`schema_for`, never at
import time; ``$ref`` s are followed only when a node is looked at. Custom resources get their
schema from the CRD (:func:`schema_from_crd`), with ``metadata`` as the built-in ``ObjectMeta``
(what kube-apiserver does for structural schemas).
"""
from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path
from typing import Any, Callable, Mapping

import orjson

from .resources import KUBERNETES_VERSION

#: The definitions' name of ObjectMeta (every object's metadata, custom resources included).
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_REF_PREFIX = "#/$defs/"
#: Where ``$ref`` s point in the documents we read (JSON schema, OpenAPI v2 and v3).
_REF_PREFIXES = ("#/$defs/", "#/definitions/", "#/components/schemas/")
_VERSION_DIR = re.compile(r"^v(\d+)\.(\d+)\.(\d+)-local(-strict)?$")

Definitions = Mapping[str, Any]
_UNSET: Any = object()


def definitions_file(strict: bool = False) -> Path:
    """``_definitions.json`` of the Kubernetes version this cluster models (:data:`KUBERNETES_VERSION`),
    else the newest older one kubernetes-validate ships; ``strict``: its ``-strict`` variant (every
    object closed). Found without importing kubernetes-validate (its import pulls in jsonschema): the
    package's folder from its import spec. The one loader of
    Kubernetes' schemas: the patch code here, validation and the OpenAPI documents."""
    spec = importlib.util.find_spec("kubernetes_validate")
    roots = list(spec.submodule_search_locations or []) if spec else []
    want = tuple(int(x) for x in KUBERNETES_VERSION.lstrip("v").split("."))
    found: list[tuple[tuple[int, ...], Path]] = []
    for root in roots:
        base = Path(root) / "kubernetes-json-schema"
        if not base.is_dir():
            continue
        for d in base.iterdir():
            m = _VERSION_DIR.match(d.name)
            if m and bool(m[4]) == strict and (d / "_definitions.json").is_file():
                found.append(((int(m[1]), int(m[2]), int(m[3])), d / "_definitions.json"))
    if not found:
        raise RuntimeError("kubernetes-validate's schemas were not found (is the kubernetes-validate "
                           "package installed? pip install kubernetes-validate)")
    older = [f for f in found if f[0] <= want]
    return max(older or found)[1]


@functools.lru_cache(maxsize=2)
def definitions_document(strict: bool = False) -> dict[str, Any]:
    """The whole ``_definitions.json`` (``{"$defs": {name: schema}}``, refs ``#/$defs/<name>``), read
    once per variant. Shared, never to be mutated."""
    doc: dict[str, Any] = orjson.loads(definitions_file(strict).read_bytes())
    return doc


@functools.lru_cache(maxsize=1)
def definitions() -> Definitions:
    """Every definition by name (``io.k8s.api.apps.v1.Deployment``), loaded once."""
    doc = definitions_document()
    defs: Definitions = doc.get("$defs") or doc.get("definitions") or {}
    return defs


@functools.lru_cache(maxsize=1)
def definition_names() -> dict[tuple[str, str, str], str]:
    """``(group, version, kind)`` -> the definition's name (``io.k8s.api.apps.v1.Deployment``)."""
    index: dict[tuple[str, str, str], str] = {}
    for name, node in definitions().items():
        for gvk in node.get("x-kubernetes-group-version-kind") or ():
            index.setdefault((gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", "")), name)
    return index


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


@functools.lru_cache(maxsize=None)
def schema_for(api_version: str, kind: str) -> Schema | None:
    """The schema of a built-in kind (``apps/v1``, ``Deployment``), None for kinds Kubernetes does
    not define (custom resources)."""
    group, version = _split_api_version(api_version)
    name = definition_names().get((group, version, kind))
    if name is None:
        return None
    return Schema({"$ref": _REF_PREFIX + name}, definitions)


def schema_from_crd(openapi_v3_schema: Mapping[str, Any]) -> Schema:
    """The schema of a custom resource from its CRD version's ``schema.openAPIV3Schema``; its
    ``metadata`` is ObjectMeta and ``apiVersion``/``kind`` strings, as kube-apiserver sees them."""
    root = dict(openapi_v3_schema)
    props = dict(root.get("properties") or {})
    props["metadata"] = {"$ref": _REF_PREFIX + OBJECT_META}
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    root["properties"] = props
    root.setdefault("type", "object")
    return Schema(root, definitions)


def _first_type(t: Any) -> str | None:
    if isinstance(t, str):
        return t
    if isinstance(t, list):
        return next((x for x in t if x != "null"), None)
    return None


class Schema:
    """One node of an OpenAPI schema; ``$ref`` s (and one-element ``allOf``) are followed when the
    node is first read, the node's own keys (descriptions, ``x-kubernetes-*``) winning over the
    target's, as OpenAPI v3 siblings of ``$ref`` do in Kubernetes' documents."""

    __slots__ = ("_raw", "_defs", "_node", "_fields", "_items", "_additional", "_smd")

    def __init__(self, raw: Mapping[str, Any], defs: Callable[[], Definitions] | None = None) -> None:
        self._raw = raw
        self._defs = defs
        self._node: Mapping[str, Any] | None = None
        self._fields: dict[str, Schema | None] = {}
        self._items: Any = _UNSET
        self._additional: Any = _UNSET
        self._smd: Any = _UNSET

    def _resolve(self, raw: Mapping[str, Any], depth: int = 0) -> Mapping[str, Any]:
        ref = raw.get("$ref")
        all_of = raw.get("allOf")
        if ref is None and not (isinstance(all_of, list) and len(all_of) == 1):
            return raw
        if depth > 32:
            raise ValueError(f"$ref cycle at {ref}")
        if ref is not None:
            prefix = next((p for p in _REF_PREFIXES if isinstance(ref, str) and ref.startswith(p)), None)
            if prefix is None or self._defs is None:
                raise ValueError(f"unresolvable $ref {ref!r}")
            target = self._defs().get(ref[len(prefix):])
            if target is None:
                raise ValueError(f"unresolvable $ref {ref!r}")
        else:
            target = all_of[0]  # type: ignore[index]
        merged = dict(self._resolve(target, depth + 1))
        merged.update((k, v) for k, v in raw.items() if k not in ("$ref", "allOf"))
        return merged

    @property
    def node(self) -> Mapping[str, Any]:
        """The resolved JSON-schema node."""
        if self._node is None:
            self._node = self._resolve(self._raw)
        return self._node

    def _child(self, raw: Any) -> Schema | None:
        if raw is True:
            return Schema({}, self._defs)
        if not isinstance(raw, dict):
            return None
        return Schema(raw, self._defs)

    # -- structure ------------------------------------------------------------------------------
    @property
    def type(self) -> str | None:
        """``object``, ``array``, ``string``, ``integer``, ``number``, ``boolean``, or None (any
        value: int-or-string, ``JSON``, preserve-unknown-fields without a type)."""
        n = self.node
        t = _first_type(n.get("type"))
        if t is None and not self.int_or_string:
            if "properties" in n or "additionalProperties" in n:
                return "object"
            if "items" in n:
                return "array"
        return t

    def field(self, name: str) -> Schema | None:
        """The schema of a declared property (a struct field), None when not declared."""
        if name not in self._fields:
            props = self.node.get("properties") or {}
            self._fields[name] = self._child(props.get(name))
        return self._fields[name]

    @property
    def properties(self) -> tuple[str, ...]:
        return tuple(self.node.get("properties") or ())

    @property
    def items(self) -> Schema | None:
        if self._items is _UNSET:
            self._items = self._child(self.node.get("items"))
        return self._items

    @property
    def additional(self) -> Schema | None:
        """The schema of map values (``additionalProperties``), None when the object is a struct."""
        if self._additional is _UNSET:
            self._additional = self._child(self.node.get("additionalProperties"))
        return self._additional

    @property
    def is_struct(self) -> bool:
        return bool(self.node.get("properties"))

    # -- Kubernetes extensions ------------------------------------------------------------------
    @property
    def patch_strategy(self) -> str:
        """``x-kubernetes-patch-strategy`` (``merge``, ``retainKeys``, ``merge,retainKeys``,
        ``replace``) or ""."""
        return str(self.node.get("x-kubernetes-patch-strategy") or "")

    @property
    def patch_merge_key(self) -> str:
        return str(self.node.get("x-kubernetes-patch-merge-key") or "")

    @property
    def list_type(self) -> str:
        """``x-kubernetes-list-type`` (``atomic``, ``set``, ``map``) or ""."""
        return str(self.node.get("x-kubernetes-list-type") or "")

    @property
    def list_map_keys(self) -> tuple[str, ...]:
        return tuple(self.node.get("x-kubernetes-list-map-keys") or ())

    @property
    def map_type(self) -> str:
        """``x-kubernetes-map-type`` (``atomic``, ``granular``) or ""."""
        return str(self.node.get("x-kubernetes-map-type") or "")

    @property
    def int_or_string(self) -> bool:
        n = self.node
        if n.get("x-kubernetes-int-or-string"):
            return True
        one_of = n.get("oneOf") or n.get("anyOf")
        if isinstance(one_of, list) and len(one_of) == 2:
            kinds = {_first_type(o.get("type")) for o in one_of if isinstance(o, Mapping)}
            return kinds == {"string", "integer"}
        return False

    @property
    def preserve_unknown_fields(self) -> bool:
        return bool(self.node.get("x-kubernetes-preserve-unknown-fields"))

    @property
    def embedded_resource(self) -> bool:
        return bool(self.node.get("x-kubernetes-embedded-resource"))

    # -- what server-side apply makes of it (structured-merge-diff's schema conversion) ---------
    @property
    def smd_list(self) -> tuple[str, tuple[str, ...]]:
        """How apply treats this list: ``("map", keys)``, ``("set", ())`` or ``("atomic", ())``.
        Without ``x-kubernetes-list-type``, the patch strategy decides (merge with a key: a map
        list; merge without: a set; otherwise atomic), as Kubernetes' schema conversion does."""
        lt = self.list_type
        if lt == "map":
            keys = self.list_map_keys or ((self.patch_merge_key,) if self.patch_merge_key else ())
            return ("map", keys) if keys else ("atomic", ())  # a map list without keys cannot merge
        if lt in ("set", "atomic"):
            return lt, ()
        if "merge" in self.patch_strategy.split(","):
            if self.patch_merge_key:
                return "map", (self.patch_merge_key,)
            return "set", ()
        return "atomic", ()

    @property
    def atomic_map(self) -> bool:
        return self.map_type == "atomic"

    @property
    def smd(self) -> tuple[str, str, tuple[str, ...]] | None:
        """(``map``/``list``/``scalar``, ``atomic``/``granular``/``set``/``map``, list keys) as
        apply sees this node, None when the value decides (no type: any JSON). Cached."""
        if self._smd is _UNSET:
            t = self.type
            if t is None and (self.is_struct or self.additional is not None):
                t = "object"
            if t == "object":
                self._smd = ("map", "atomic" if self.atomic_map else "granular", ())
            elif t == "array":
                rel, keys = self.smd_list
                self._smd = ("list", rel, keys)
            elif t is None and not self.int_or_string:
                self._smd = None
            else:
                self._smd = ("scalar", "", ())
        return self._smd

    def __repr__(self) -> str:
        ref = self._raw.get("$ref", "")
        return f"Schema({ref or self.type!r})"
