"""CRD structural defaulting, as kube-apiserver's apiextensions server does it (pure, no I/O).

Follows ``k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting``:

* :func:`default` is ``algorithm.go``'s ``Default``: in an object, each declared property with a
  ``default`` that is absent (or ``null`` where the property is not ``nullable``) gets a copy of
  its default; then every present field is defaulted by its property's schema, else by
  ``additionalProperties`` (a non-nullable ``null`` there takes its default); in a list every item
  by ``items`` (the same ``null`` rule). A default nested under an object applies only where that
  object exists (or was itself just defaulted: a default value is defaulted in turn).
* :func:`prune_nulls` is ``prunenulls.go``'s ``PruneNonNullableNullsWithoutDefaults``: a ``null``
  where the schema neither allows it nor has a default is dropped (before defaulting and
  validation, on request bodies: what is stored never holds one).

The server defaults request bodies (create, update, patch, apply: before validation) and every
object it reads from storage (get, list, watch, the responses of writes); what it read is not
written back by the read. :func:`defaulter_of` precomputes one :class:`Defaulter` per CRD version; a
schema without any ``default`` compiles to ``None``, so its reads cost nothing.

Objects are copy-on-write: :func:`default` and :func:`prune_nulls` never modify their argument;
they return it unchanged when there is nothing to do, else a new dict copied only along the
paths that changed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

_NO_DEFAULT: Any = object()


@dataclass(slots=True)
class _Node:
    """One schema node, kept only where a ``default`` lies at or below it."""

    default: Any = _NO_DEFAULT
    nullable: bool = False
    properties: dict[str, "_Node"] = field(default_factory=dict)  # only those with defaults at/below
    declared: frozenset[str] = frozenset()  # every declared property (they shadow additionalProperties)
    additional: "_Node | None" = None
    items: "_Node | None" = None

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT


@dataclass(frozen=True, slots=True)
class Defaulter:
    """The defaults of one CRD version's ``openAPIV3Schema``."""

    root: _Node


def _compile(s: Any) -> _Node | None:
    if not isinstance(s, dict):
        return None
    props: dict[str, Any] = s["properties"] if isinstance(s.get("properties"), dict) else {}
    children = {k: n for k, n in ((k, _compile(p)) for k, p in props.items()) if n is not None}
    additional = _compile(s["additionalProperties"]) if isinstance(s.get("additionalProperties"), dict) else None
    items = _compile(s["items"]) if isinstance(s.get("items"), dict) else None
    # a JSON null default is no default (the Go code's Default.Object == nil)
    own = s["default"] if s.get("default") is not None else _NO_DEFAULT
    if own is _NO_DEFAULT and not children and additional is None and items is None:
        return None
    return _Node(default=own, nullable=bool(s.get("nullable")), properties=children,
                 declared=frozenset(props) if additional is not None else frozenset(),
                 additional=additional, items=items)


def defaulter_of(schema: dict[str, Any] | None) -> Defaulter | None:
    """The :class:`Defaulter` of ``schema``, or None when it declares no ``default`` anywhere."""
    root = _compile(schema)
    return None if root is None else Defaulter(root)


def _copy(v: Any) -> Any:
    """A copy of a default value (JSON: dicts, lists, scalars), so no two objects share one."""
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy(x) for x in v]
    return v


def _null_to_default(node: _Node, x: Any) -> Any:
    """``isNonNullableNull``: a null the schema does not allow takes the default (if any)."""
    if x is None and not node.nullable and node.has_default:
        return _copy(node.default)
    return x


def _apply(node: _Node, x: Any) -> Any:
    if not node.properties and node.additional is None and node.items is None:
        return x  # a default of its own only (applied by its parent): nothing below it to do
    if isinstance(x, dict):
        out: dict[str, Any] | None = None
        for k, p in node.properties.items():
            if p.has_default and (k not in x or (x[k] is None and not p.nullable)):
                if out is None:
                    out = dict(x)
                out[k] = _copy(p.default)
        src = x if out is None else out
        # without additionalProperties only the properties below which defaults lie matter
        keys = list(src) if node.additional is not None else [k for k in node.properties if k in src]
        for k in keys:
            v = src[k]
            prop = node.properties.get(k)
            if prop is not None:
                nv = _apply(prop, v)
            elif node.additional is not None and k not in node.declared:
                nv = _apply(node.additional, _null_to_default(node.additional, v))
            else:
                continue
            if nv is not v:
                if out is None:
                    out = dict(x)
                out[k] = nv
        return x if out is None else out
    if isinstance(x, list) and node.items is not None:
        items = node.items
        return _map_items(x, lambda v: _apply(items, _null_to_default(items, v)))
    return x


def _map_items(x: list[Any], fn: Callable[[Any], Any]) -> list[Any]:
    """``fn`` over the items of ``x``, copied on the first item it changes (``x`` itself if none)."""
    new: list[Any] | None = None
    for i, v in enumerate(x):
        nv = fn(v)
        if nv is not v:
            if new is None:
                new = list(x)
            new[i] = nv
    return x if new is None else new


def default(defaulter: Defaulter | None, obj: Any) -> Any:
    """``obj`` with the defaults of ``defaulter`` (``obj`` itself when none applies)."""
    if defaulter is None:
        return obj
    return _apply(defaulter.root, obj)


def _schema_for(s: Any, key: str) -> dict[str, Any] | None:
    """``getSchemaForField``: the declared property, else ``additionalProperties`` (a schema)."""
    if not isinstance(s, dict):
        return None
    props = s.get("properties")
    if isinstance(props, dict) and isinstance(props.get(key), dict):
        p: dict[str, Any] = props[key]
        return p
    extra = s.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _prunable_null(x: Any, s: dict[str, Any] | None) -> bool:
    return x is None and s is not None and not s.get("nullable") and s.get("default") is None


def prune_nulls(obj: Any, schema: dict[str, Any] | None) -> Any:
    """``obj`` without the nulls that ``schema`` neither allows (``nullable``) nor defaults."""
    if schema is None:
        return obj
    if isinstance(obj, dict):
        out: dict[str, Any] | None = None
        for k, v in obj.items():
            s = _schema_for(schema, k)
            if s is None:
                continue
            if _prunable_null(v, s):
                if out is None:
                    out = dict(obj)
                del out[k]
                continue
            nv = prune_nulls(v, s)
            if nv is not v:
                if out is None:
                    out = dict(obj)
                out[k] = nv
        return obj if out is None else out
    if isinstance(obj, list):
        items = schema.get("items")
        if not isinstance(items, dict):
            return obj
        return _map_items(obj, lambda v: prune_nulls(v, items))
    return obj


__all__ = ["Defaulter", "default", "defaulter_of", "prune_nulls"]
