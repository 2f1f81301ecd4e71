"""The four PATCH bodies kube-apiserver accepts, and field ownership (``metadata.managedFields``).

* :func:`json_patch` -- RFC 6902 (the ``jsonpatch`` library), errors answered as kube-apiserver does;
* :func:`merge_patch` -- RFC 7386 JSON merge patch;
* :func:`strategic_merge_patch` -- Kubernetes' strategic merge patch, a port of apimachinery's
  ``pkg/util/strategicpatch`` (``mergeMap``/``mergeSlice``: merge keys and patch strategies from
  the schema, ``$patch``, ``$retainKeys``, ``$setElementOrder/``, ``$deleteFromPrimitiveList/``);
* :func:`server_side_apply` and :func:`record_update` -- structured-merge-diff's ``Apply`` and
  ``Update`` on plain dicts: field sets in the FieldsV1 format, merge by list type, removal of what
  a manager stops applying, conflicts.

Every function returns new dicts and never mutates its arguments (the store's copy-on-write rule).
"""
from __future__ import annotations

import copy
import functools
from typing import Any, Iterable

import jsonpatch
import orjson

from helm_ac.kubesim.errors import StatusError, bad_request, invalid
from helm_ac.kubesim.fields import go_quote
from helm_ac.kubesim.schemas import Schema

JSON = Any


def check_options(patch_type: str, *, force: bool | None, field_manager: str | None) -> None:
    """PatchOptions as kube-apiserver validates them (422): ``force`` may be given (true or false) only
    with an apply patch, and an apply patch names its ``fieldManager``. The one place of the rule: the
    HTTP face checks a request with it before reading the body, the store every patch."""
    if force is not None and patch_type != "apply":
        raise invalid("PatchOptions", "", [{"reason": "FieldValueForbidden", "field": "force",
                                             "message": "Forbidden: may not be specified for non-apply patch"}],
                      "meta.k8s.io")
    if patch_type == "apply" and not field_manager:
        raise invalid("PatchOptions", "", [{"reason": "FieldValueRequired", "field": "fieldManager",
                                             "message": "Required value: is required for apply patch"}],
                      "meta.k8s.io")


def deep_copy(value: JSON) -> JSON:
    """A deep copy of a JSON-like value, kubesim's one (orjson's round trip is several times faster than
    ``copy.deepcopy``, which takes what orjson cannot encode)."""
    try:
        return orjson.loads(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        return copy.deepcopy(value)


def _drop_nulls(value: JSON) -> JSON:
    """What decoding into the typed object does to ``null`` fields: they are gone."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


# --------------------------------------------------------------------------------------- JSON patch
#: kube-apiserver's answer when a JSON patch does not apply (a failed ``test``, a missing path):
#: ``NewGenericServerResponse(422, ...)`` -- reason Invalid, this message, no causes.
REJECTED = "the server rejected our request due to an error in our request"


def json_patch(obj: dict, ops: list) -> dict:
    """RFC 6902. A body that is not a list of operation objects answers 400 BadRequest; an
    operation that does not apply (failed ``test``, missing path, unknown op) 422 Invalid, as
    kube-apiserver answers (``applyJSPatch``)."""
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    if len(ops) > 10000:
        raise StatusError(413, "RequestEntityTooLarge",
                          f"Request entity too large: The allowed maximum operations in a JSON patch is "
                          f"10000, got {len(ops)}")
    try:
        result = jsonpatch.JsonPatch(deep_copy(ops)).apply(deep_copy(obj), in_place=True)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, KeyError, IndexError,
            TypeError, ValueError) as exc:
        raise StatusError(422, "Invalid", REJECTED) from exc
    if not isinstance(result, dict):
        raise StatusError(422, "Invalid", REJECTED)
    return result


# -------------------------------------------------------------------------------------- merge patch
def merge_patch(obj: dict, patch: dict) -> dict:
    """RFC 7386: objects merge key by key, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        raise bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}")
    return _merge7386(deep_copy(obj), deep_copy(patch))


def _merge7386(target: JSON, patch: JSON) -> JSON:
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = _merge7386(target.get(k), v)
    return target


# --------------------------------------------------------------------------- strategic merge patch
#: kube-apiserver's answer to a strategic merge patch on a custom resource (no Go type to read
#: merge keys from): the content type is not offered for it.
SMP_UNSUPPORTED = ("the body of the request was in an unknown format - accepted media types include: "
                   "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList"

# apimachinery's mergepatch errors (their text is what clients see)
_ERR_BAD_JSON_DOC = "invalid JSON document"
_ERR_PRIMITIVE_LIST = "invalid patch format of primitive list"
_ERR_RETAIN_KEYS = "invalid patch format of retainKeys"
_ERR_SET_ORDER = "invalid patch format of setElementOrder list"
_ERR_LIST_OF_LISTS = "lists of lists are not supported"


class _SMPError(Exception):
    """An error of the strategic merge; ``code``/``reason`` as kube-apiserver answers it
    (``interpretStrategicMergePatchError``: format errors 400, others 500 with no reason)."""

    def __init__(self, message: str, code: int = 500, reason: str = "") -> None:
        super().__init__(message)
        self.message, self.code, self.reason = message, code, reason


def _bad_format(message: str) -> _SMPError:
    return _SMPError(message, 400, "BadRequest")


def _gofmt(v: JSON) -> str:
    """A value as Go's ``%v`` prints a decoded JSON value (for error messages)."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_gofmt(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, list):
        return "[" + " ".join(_gofmt(x) for x in v) + "]"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _no_merge_key(m: JSON, key: str) -> _SMPError:
    return _SMPError(f"map: {_gofmt(m)} does not contain declared merge key: {key}")


def _bad_patch_type(t: JSON, m: JSON) -> _SMPError:
    return _SMPError(f"unknown patch type: {_gofmt(t)} in map: {_gofmt(m)}")


def strategic_merge_patch(obj: dict, patch: dict, schema: Schema | None) -> dict:
    """Kubernetes' strategic merge patch of ``obj`` (with the kind's ``schema``; None, a custom
    resource, answers 415 as kube-apiserver does)."""
    if schema is None:
        raise StatusError(415, "UnsupportedMediaType", SMP_UNSUPPORTED)
    if not isinstance(patch, dict):
        raise bad_request(_ERR_BAD_JSON_DOC)
    try:
        result = _merge_map(deep_copy(obj), deep_copy(patch), schema)
    except _SMPError as exc:
        raise StatusError(exc.code, exc.reason, exc.message) from exc
    return _drop_nulls(result)


def _strategy(field: Schema | None) -> tuple[str, str]:
    """(patch strategy without retainKeys, merge key) of a field (``extractRetainKeysPatchStrategy``)."""
    if field is None:
        return "", ""
    parts = [p for p in field.patch_strategy.split(",") if p]
    if len(parts) > 2 or (len(parts) == 2 and "retainKeys" not in parts):
        raise _SMPError(f"unexpected patch strategy: {field.patch_strategy}")
    rest = [p for p in parts if p != "retainKeys"]
    return (rest[0] if rest else ""), field.patch_merge_key


def _field_schema(schema: Schema | None, key: str) -> Schema | None:
    if schema is None:
        return None
    return schema.field(key) or schema.additional


def _item_schema(field: Schema | None) -> Schema | None:
    """The schema of a list's items (a non-array field used as a list: the field's own schema, as
    the OpenAPI patch-meta lookup answers)."""
    if field is None:
        return None
    return field.items or (field if field.type != "array" else None)


def _extract_key(key: str, prefix: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        raise _bad_format(_ERR_PRIMITIVE_LIST if prefix == _DELETE_PRIMITIVE else _ERR_SET_ORDER)
    return rest


def _kind(v: JSON) -> str:
    if isinstance(v, dict):
        return "map"
    if isinstance(v, list):
        return "slice"
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return "string"


def _slice_kind(*lists: list) -> str:
    """``sliceElementType``: every element of the lists has one kind, and it is not a list."""
    kinds = {_kind(x) for lst in lists for x in lst}
    if not kinds:
        raise _SMPError("no elements in any of the given slices")
    if "slice" in kinds:
        raise _SMPError(_ERR_LIST_OF_LISTS, 422, "Invalid")
    if len(kinds) > 1:
        first = next(x for lst in lists for x in lst)
        raise _SMPError(f"mismatched types in list: {_gofmt(first)}")
    return kinds.pop()


def _merge_map(original: dict | None, patch: dict, schema: Schema | None) -> dict:
    if _DIRECTIVE in patch:
        directive = patch[_DIRECTIVE]
        if directive == "replace":
            del patch[_DIRECTIVE]
            return patch
        if directive == "delete":
            return {}
        raise _bad_patch_type(directive, patch)
    if original is None:
        original = {}
    _apply_retain_keys(original, patch)
    _merge_set_element_order(original, patch, schema)
    for key, patch_v in list(patch.items()):
        is_delete_list = key.startswith(_DELETE_PRIMITIVE)
        if is_delete_list:
            key = _extract_key(key, _DELETE_PRIMITIVE)
        if patch_v is None:
            original.pop(key, None)
            continue
        if key not in original:
            if not is_delete_list:
                _put_patch_value(original, key, patch_v)
            continue
        orig_v = original[key]
        ok, pk = _kind(orig_v), _kind(patch_v)
        if ok != pk:
            if not is_delete_list:
                _put_patch_value(original, key, patch_v)
            continue
        field = _field_schema(schema, key)
        if ok == "map":
            strategy, _ = _strategy(field)
            original[key] = patch_v if strategy == "replace" else _merge_map(orig_v, patch_v, field)
        elif ok == "slice":
            strategy, merge_key = _strategy(field)
            items = _item_schema(field)
            original[key] = _merge_slice_handler(orig_v, patch_v, items, strategy, merge_key, is_delete_list)
        else:
            value, keep = _remove_directives(patch_v)
            if keep:
                original[key] = value
            else:
                original.pop(key, None)
    return original


def _discard_nulls(v: JSON) -> None:
    if isinstance(v, dict):
        for k in [k for k, x in v.items() if x is None]:
            del v[k]
        for x in v.values():
            _discard_nulls(x)
    elif isinstance(v, list):
        for x in v:
            _discard_nulls(x)


def _put_patch_value(original: dict, key: str, patch_v: Any) -> None:
    """The patch's value replaces (or adds) ``key``, without its nulls and directives."""
    _discard_nulls(patch_v)
    value, keep = _remove_directives(patch_v)
    if keep:
        original[key] = value
    else:
        original.pop(key, None)


def _remove_directives(obj: JSON) -> tuple[JSON, bool]:
    if isinstance(obj, dict):
        if _DIRECTIVE in obj:
            return None, False
        out = {}
        for k, v in obj.items():
            nv, keep = _remove_directives(v)
            if keep:
                out[k] = nv
        return out, True
    if isinstance(obj, list):
        res = []
        for v in obj:
            nv, keep = _remove_directives(v)
            if keep:
                res.append(nv)
        return res, True
    return obj, True


def _apply_retain_keys(original: dict, patch: dict) -> None:
    if _RETAIN_KEYS not in patch:
        return
    retain = patch.pop(_RETAIN_KEYS)
    if not isinstance(retain, list):
        raise _bad_format(_ERR_RETAIN_KEYS)
    keep = set(x for x in retain if isinstance(x, (str, int, float, bool)))
    for k, v in patch.items():
        if v is None or k.startswith(_DELETE_PRIMITIVE) or k.startswith(_SET_ORDER):
            continue
        if k not in keep:
            raise _bad_format(_ERR_RETAIN_KEYS)
    for k in [k for k in original if k not in keep]:
        del original[k]


def _merge_set_element_order(original: dict, patch: dict, schema: Schema | None) -> None:
    """``mergePatchIntoOriginal``: each ``$setElementOrder/<field>`` list with its patch list."""
    for key in [k for k in patch if k.startswith(_SET_ORDER)]:
        order = patch.pop(key)
        if not isinstance(order, list):
            raise _SMPError(f"expected a []interface {{}}, but received a {_kind(order)}")
        field_key = _extract_key(key, _SET_ORDER)
        found_orig, found_patch = field_key in original, field_key in patch
        orig_list: list = []
        patch_list: list = []
        if found_orig:
            if not isinstance(original[field_key], list):
                raise _SMPError(f"expected a []interface {{}}, but received a {_kind(original[field_key])}")
            orig_list = original[field_key]
        if found_patch:
            if not isinstance(patch[field_key], list):
                raise _SMPError(f"expected a []interface {{}}, but received a {_kind(patch[field_key])}")
            patch_list = patch[field_key]
        field = _field_schema(schema, field_key)
        strategy, merge_key = _strategy(field)
        items = _item_schema(field)
        _validate_set_order(patch_list, order, merge_key)
        if found_orig and not found_patch:
            merged = orig_list
        elif found_patch and not found_orig:
            merged = _remove_directives(patch_list)[0]
        elif found_orig and found_patch:
            merged = _merge_slice_handler(orig_list, patch_list, items, strategy, merge_key, False)
        else:
            continue
        if merge_key:
            patch_items, server_only = _partition_maps(merged, order, merge_key)
        else:
            patch_items, server_only = _partition_primitives(merged, order)
        kind = _slice_kind(orig_list, patch_list) if (orig_list or patch_list) else (
            "map" if merge_key else "string")
        original[field_key] = _normalize_element_order(patch_items, server_only, order, orig_list,
                                                       merge_key, kind)
        patch.pop(field_key, None)


def _merge_key_equal(left: JSON, right: JSON, merge_key: str) -> bool:
    if not merge_key:
        return bool(left == right)
    if not isinstance(left, dict) or not isinstance(right, dict):
        raise _SMPError(f"expected a map, but received a {_kind(left if not isinstance(left, dict) else right)}")
    if merge_key not in left:
        raise _no_merge_key(left, merge_key)
    if merge_key not in right:
        raise _no_merge_key(right, merge_key)
    return bool(left[merge_key] == right[merge_key])


def _validate_set_order(patch_list: list, order: list, merge_key: str) -> None:
    if not order or not patch_list:
        return
    non_delete = ([x for x in patch_list if not (isinstance(x, dict) and x.get(_DIRECTIVE) == "delete")]
                  if merge_key else patch_list)
    pi = oi = 0
    while pi < len(non_delete) and oi < len(order):
        if isinstance(non_delete[pi], dict) and _DIRECTIVE in non_delete[pi]:
            pi += 1
            continue
        if _merge_key_equal(non_delete[pi], order[oi], merge_key):
            pi += 1
        oi += 1
    if pi < len(non_delete) and oi >= len(order):
        raise _SMPError(f"The order in patch list:\n{_gofmt(patch_list)}\n doesn't match "
                        f"{_SET_ORDER} list:\n{_gofmt(order)}\n")


def _merge_slice_handler(original: list, patch: list, items: Schema | None, strategy: str,
                         merge_key: str, is_delete_list: bool) -> list:
    if strategy == "merge" or is_delete_list:
        return _merge_slice(original, patch, items, merge_key, is_delete_list)
    return patch


def _merge_slice(original: list, patch: list, items: Schema | None, merge_key: str,
                 is_delete_list: bool) -> list:
    """``mergeSlice``. For lists of maps, ``original`` is changed in place the way Go's slice
    operations change the caller's backing array (deletions shift items left, appends reuse the
    freed slots), because ``$setElementOrder`` then orders by that very array: Kubernetes' own
    fixtures depend on it."""
    if not original and not patch:
        return original
    kind = _slice_kind(original, patch)
    if kind != "map":
        if is_delete_list:
            return [x for x in original if x not in patch]
        merged = _dedup(original + patch)
        server_order = original
    else:
        if not merge_key:
            raise _SMPError(f"cannot merge lists without merge key for {items!r}")
        merged, server_order, patch = _merge_map_slice(original, patch, merge_key, items)
    if merge_key:
        patch_items, server_only = _partition_maps(merged, patch, merge_key)
    else:
        patch_items, server_only = _partition_primitives(merged, patch)
    return _normalize_element_order(patch_items, server_only, patch, server_order, merge_key, kind)


def _merge_map_slice(backing: list, patch: list, merge_key: str,
                     items: Schema | None) -> tuple[list, list, list]:
    """``mergeSliceWithSpecialElements`` then ``mergeSliceWithoutSpecialElements``: returns the
    merged list, the server order (the list after deletions) and the patch without directives."""
    n = len(backing)
    plain = []
    replace = False
    for v in patch:
        if not isinstance(v, dict):
            raise _SMPError(f"expected a map, but received a {_kind(v)}")
        if _DIRECTIVE not in v:
            plain.append(v)
            continue
        directive = v[_DIRECTIVE]
        if directive == "delete":
            if merge_key not in v:
                raise _no_merge_key(v, merge_key)
            while True:
                k = _find_by_key(backing[:n], merge_key, v[merge_key])
                if k < 0:
                    break
                backing[k:n - 1] = backing[k + 1:n]  # append(original[:k], original[k+1:]...)
                n -= 1
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise _SMPError("merging lists cannot yet be specified in the patch")
        else:
            raise _bad_patch_type(directive, v)
    if replace:
        # the list is the patch's items; the patch itself has no items left to merge
        return _merge_map_slice(list(plain), [], merge_key, items)
    extra: list = []  # appended past the caller's array (invisible to it)
    length = n

    def at(i: int) -> Any:
        return backing[i] if i < len(backing) else extra[i - len(backing)]

    def put(i: int, value: Any) -> None:
        if i < len(backing):
            backing[i] = value
        else:
            extra[i - len(backing)] = value

    for v in plain:
        if merge_key not in v:
            raise _no_merge_key(v, merge_key)
        current = [at(i) for i in range(length)]
        i = _find_by_key(current, merge_key, v[merge_key])
        if i >= 0:
            put(i, _merge_map(current[i], v, items))
        else:
            if length < len(backing):
                backing[length] = v
            else:
                extra.append(v)
            length += 1
    merged = [at(i) for i in range(length)]
    return merged, list(backing[:n]), plain


def _find_by_key(items: list, merge_key: str, value: JSON) -> int:
    for i, v in enumerate(items):
        if not isinstance(v, dict):
            raise _SMPError(f"value for key {i} is not a map")
        if merge_key in v and v[merge_key] == value:
            return i
    return -1


def _dedup(values: list) -> list:
    out: list = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def _partition_primitives(merged: list, by: list) -> tuple[list, list]:
    ins: list = []
    out: list = []
    for v in merged:
        (ins if v in by else out).append(v)
    return ins, out


def _partition_maps(merged: list, by: list, merge_key: str) -> tuple[list, list]:
    ins: list = []
    out: list = []
    for v in merged:
        if not isinstance(v, dict):
            raise _SMPError(f"expected a map, but received a {_kind(v)}")
        if merge_key not in v:
            raise _no_merge_key(v, merge_key)
        (ins if _find_by_key(by, merge_key, v[merge_key]) >= 0 else out).append(v)
    return ins, out


def _index(items: list, value: JSON, merge_key: str, kind: str) -> int:
    if kind == "map":
        want = value.get(merge_key) if isinstance(value, dict) else None
        for i, v in enumerate(items):
            if (v.get(merge_key) if isinstance(v, dict) else None) == want:
                return i
        return -1
    for i, v in enumerate(items):
        if v == value:
            return i
    return -1


def _normalize_slice_order(to_sort: list, order: list, merge_key: str, kind: str) -> list:
    to_delete: list = []
    if kind == "map":
        for lst in (to_sort, order):
            for v in lst:
                if not isinstance(v, dict) or merge_key not in v:
                    raise _no_merge_key(v, merge_key)
        keep = [v for v in to_sort if v.get(_DIRECTIVE) != "delete"]
        to_delete = [v for v in to_sort if v.get(_DIRECTIVE) == "delete"]
        to_sort = keep

    def less(a: JSON, b: JSON) -> bool:
        ia = _index(order, a, merge_key, kind)
        if ia >= 0:
            ib = _index(order, b, merge_key, kind)
            if ib >= 0:
                return ia < ib
        return True

    def cmp(a: JSON, b: JSON) -> int:
        # sort.SliceStable only ever asks less(later, earlier): "later goes first?"
        return -1 if less(a, b) and not less(b, a) else (1 if less(b, a) and not less(a, b) else 0)

    return sorted(to_sort, key=functools.cmp_to_key(cmp)) + to_delete


def _merge_sorted(left: list, right: list, server_order: list, merge_key: str, kind: str) -> list:
    out: list = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _index(server_order, left[i], merge_key, kind)
            ri = _index(server_order, right[j], merge_key, kind)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _normalize_element_order(patch_items: list, server_only: list, patch_order: list,
                             server_order: list, merge_key: str, kind: str) -> list:
    patch_items = _normalize_slice_order(patch_items, patch_order, merge_key, kind)
    server_only = _normalize_slice_order(server_only, server_order, merge_key, kind)
    return _merge_sorted(server_only, patch_items, server_order, merge_key, kind)


# ---------------------------------------------------------------- server-side apply (field sets)
# A field path is a tuple of path elements, each a pair: ("f", name) a struct field or map key,
# ("k", '{"name":"x"}') a map-list item by its keys, ("v", '"a"') a set-list item by its value,
# ("i", "0") a list index. A field set is a Python set of paths (its members).
PathElement = tuple[str, str]
Path = tuple[PathElement, ...]
FieldSet = set[Path]
_MISSING: Any = object()


def _dumps(value: JSON) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


#: Map-list keys Kubernetes' schemas default when an item leaves them out (``+default``).
_KEY_DEFAULTS = {"protocol": "TCP"}


class _Type:
    """How structured-merge-diff sees one node: ``scalar``, ``list`` (``atomic``/``set``/``map``
    with keys) or ``map`` (``atomic``/``granular``; a struct when it declares fields). Without a
    schema the type is deduced from the value: maps granular, lists atomic."""

    __slots__ = ("kind", "rel", "keys", "schema")

    def __init__(self, schema: Schema | None, value: JSON) -> None:
        self.schema = schema
        smd = schema.smd if schema is not None else None
        if smd is not None:
            self.kind, self.rel, self.keys = smd
        elif isinstance(value, dict):
            self.kind, self.rel, self.keys, self.schema = "map", "granular", (), None
        elif isinstance(value, list):
            self.kind, self.rel, self.keys, self.schema = "list", "atomic", (), None
        else:
            self.kind, self.rel, self.keys = "scalar", "", ()

    def declared(self, key: str) -> bool:
        return self.schema is not None and self.schema.field(key) is not None

    def child(self, key: str) -> Schema | None:
        if self.schema is None:
            return None
        return self.schema.field(key) or self.schema.additional

    def item_schema(self) -> Schema | None:
        return self.schema.items if self.schema is not None else None

    def item_pe(self, item: JSON, index: int) -> PathElement:
        if self.rel == "map" and isinstance(item, dict):
            key = {}
            for k in self.keys:
                if k in item:
                    key[k] = item[k]
                elif k in _KEY_DEFAULTS:
                    key[k] = _KEY_DEFAULTS[k]
            return ("k", _dumps(key))
        if self.rel == "set":
            return ("v", _dumps(item))
        return ("i", str(index))


def field_set(value: dict, schema: Schema | None) -> FieldSet:
    """The fields an applied configuration sets (structured-merge-diff's ``ToFieldSet``)."""
    out: FieldSet = set()
    _to_set(value, schema, (), out)
    return out


def _to_set(value: JSON, schema: Schema | None, path: Path, out: FieldSet) -> None:
    t = _Type(schema, value)
    if t.kind == "scalar" or value is None:
        out.add(path)
        return
    if t.kind == "list":
        if t.rel == "atomic" or not isinstance(value, list):
            out.add(path)
            return
        seen: dict[PathElement, int] = {}
        pes = [t.item_pe(item, i) for i, item in enumerate(value)]
        for pe in pes:
            seen[pe] = seen.get(pe, 0) + 1
        items = t.item_schema()
        for item, pe in zip(value, pes):
            if seen[pe] > 1:
                out.add(path + (pe,))
                continue
            _to_set(item, items, path + (pe,), out)
            out.add(path + (pe,))
        return
    if t.rel == "atomic" or not isinstance(value, dict):
        out.add(path)
        return
    for k, v in value.items():
        child = path + (("f", k),)
        _to_set(v, t.child(k), child, out)
        if v is None or (isinstance(v, dict) and not v) or not t.declared(k):
            out.add(child)


def _duplicates(value: JSON, schema: Schema | None, path: Path = ()) -> list[str]:
    """Map-list and set-list items an applied configuration repeats (apply refuses them)."""
    t = _Type(schema, value)
    out: list[str] = []
    if t.kind == "list" and t.rel != "atomic" and isinstance(value, list):
        seen: set[PathElement] = set()
        reported: set[PathElement] = set()
        for i, item in enumerate(value):
            pe = t.item_pe(item, i)
            if pe in seen and pe not in reported:
                out.append(f"{path_str(path)}: duplicate entries for key {_pe_str(pe)}")
                reported.add(pe)
            seen.add(pe)
        for i, item in enumerate(value):
            pe = t.item_pe(item, i)
            if pe not in reported:
                out.extend(_duplicates(item, t.item_schema(), path + (pe,)))
    elif t.kind == "map" and t.rel != "atomic" and isinstance(value, dict):
        for k, v in sorted(value.items()):  # structured-merge-diff walks fields in name order
            out.extend(_duplicates(v, t.child(k), path + (("f", k),)))
    return out


def _merge_smd(lhs: JSON, rhs: JSON, schema: Schema | None) -> JSON:
    """structured-merge-diff's ``Merge``: the applied configuration (rhs) over the live object."""
    if rhs is _MISSING:
        return lhs
    if lhs is _MISSING or lhs is None or rhs is None or lhs == rhs:
        return rhs
    t = _Type(schema, rhs)
    if t.kind == "map" and isinstance(lhs, dict) and isinstance(rhs, dict):
        if t.rel == "atomic" or (not lhs and not rhs):
            return rhs
        out = {}
        for k in list(lhs) + [k for k in rhs if k not in lhs]:
            out[k] = _merge_smd(lhs.get(k, _MISSING), rhs.get(k, _MISSING), t.child(k))
        return out
    if t.kind == "list" and isinstance(lhs, list) and isinstance(rhs, list):
        if t.rel == "atomic" or (not lhs and not rhs):
            return rhs
        return _merge_list_items(t, lhs, rhs)
    return rhs


def _merge_list_items(t: _Type, lhs: list, rhs: list) -> list:
    """``visitListItems`` of the merging walker: the applied order wins for shared items,
    live-only items keep their place relative to them."""
    items = t.item_schema()
    rhs_pes = [t.item_pe(v, i) for i, v in enumerate(rhs)]
    if len(set(rhs_pes)) != len(rhs_pes):
        dup = next(pe for pe in rhs_pes if rhs_pes.count(pe) > 1)
        raise StatusError(422, "Invalid", f".{_pe_str(dup)}: duplicate entries for key {_pe_str(dup)}")
    observed_rhs = dict(zip(rhs_pes, rhs))
    lhs_pes = [t.item_pe(v, i) for i, v in enumerate(lhs)]
    observed_lhs: dict[PathElement, JSON] = {}
    for pe, v in zip(lhs_pes, lhs):
        observed_lhs[pe] = None if pe in observed_lhs else v  # duplicated in live: no value
    shared = [pe for pe in rhs_pes if pe in observed_lhs]
    next_shared = shared.pop(0) if shared else None
    merged_rhs: set[PathElement] = set()
    out: list = []

    def merge_item(pe: PathElement, l: JSON, r: JSON) -> None:
        v = _merge_smd(_MISSING if l is None else l, _MISSING if r is None else r, items)
        if v is not _MISSING and v is not None:
            out.append(v)

    li = ri = 0
    while li < len(lhs_pes) or ri < len(rhs_pes):
        if li < len(lhs_pes) and ri < len(rhs_pes):
            pe = lhs_pes[li]
            if pe == rhs_pes[ri]:
                merged_rhs.add(pe)
                merge_item(pe, observed_lhs.get(pe), observed_rhs.get(pe))
                li += 1
                ri += 1
                next_shared = shared.pop(0) if shared else None
                continue
            if pe in observed_rhs and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < len(lhs_pes):
            pe = lhs_pes[li]
            if pe not in observed_rhs:
                merge_item(pe, lhs[li], None)
                li += 1
                continue
            if pe in merged_rhs:
                li += 1
        if ri < len(rhs_pes):
            pe = rhs_pes[ri]
            merged_rhs.add(pe)
            merge_item(pe, observed_lhs.get(pe), observed_rhs.get(pe))
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = shared.pop(0) if shared else None
    return out


class _Comparison:
    __slots__ = ("added", "modified", "removed")

    def __init__(self) -> None:
        self.added: FieldSet = set()
        self.modified: FieldSet = set()
        self.removed: FieldSet = set()


def _compare(lhs: JSON, rhs: JSON, schema: Schema | None) -> _Comparison:
    """structured-merge-diff's ``Compare``: the fields added, modified and removed from lhs to rhs."""
    c = _Comparison()
    _cmp(lhs, rhs, schema, (), c)
    return c


def _cmp_leaf(lhs: JSON, rhs: JSON, path: Path, c: _Comparison) -> None:
    if lhs is _MISSING:
        c.added.add(path)
    elif rhs is _MISSING:
        c.removed.add(path)
    elif lhs != rhs or type(lhs) is not type(rhs) and not (
            isinstance(lhs, (int, float)) and isinstance(rhs, (int, float)) and not isinstance(lhs, bool)):
        c.modified.add(path)


def _cmp(lhs: JSON, rhs: JSON, schema: Schema | None, path: Path, c: _Comparison) -> None:
    if lhs is rhs or (lhs is not _MISSING and rhs is not _MISSING and type(lhs) is type(rhs) and lhs == rhs):
        return  # nothing added, changed or removed below here
    t = _Type(schema, rhs if rhs is not _MISSING else lhs)
    l, r = (None if lhs is _MISSING else lhs), (None if rhs is _MISSING else rhs)
    if t.kind == "scalar" or (l is not None and r is not None and type(l) is not type(r)
                              and not (isinstance(l, (int, float)) and isinstance(r, (int, float)))):
        _cmp_leaf(lhs, rhs, path, c)
        return
    if t.kind == "list":
        ll = l if isinstance(l, list) else None
        rl = r if isinstance(r, list) else None
        if t.rel == "atomic" or (not ll and not rl):
            _cmp_leaf(lhs, rhs, path, c)
            return
        _cmp_list(t, ll or [], rl or [], path, c)
    else:
        lm = l if isinstance(l, dict) else None
        rm = r if isinstance(r, dict) else None
        if t.rel == "atomic" or (not lm and not rm):
            _cmp_leaf(lhs, rhs, path, c)
            return
        lm, rm = lm or {}, rm or {}
        for k in list(lm) + [k for k in rm if k not in lm]:
            _cmp(lm.get(k, _MISSING), rm.get(k, _MISSING), t.child(k), path + (("f", k),), c)
    if path:
        if lhs is _MISSING:
            c.added.add(path)
        elif rhs is _MISSING:
            c.removed.add(path)


def _cmp_list(t: _Type, lhs: list, rhs: list, path: Path, c: _Comparison) -> None:
    items = t.item_schema()
    lvals: dict[PathElement, list] = {}
    order: list[PathElement] = []
    for i, v in enumerate(lhs):
        pe = t.item_pe(v, i)
        if pe not in lvals:
            order.append(pe)
        lvals.setdefault(pe, []).append(v)
    rvals: dict[PathElement, list] = {}
    for i, v in enumerate(rhs):
        pe = t.item_pe(v, i)
        if pe not in rvals and pe not in lvals:
            order.append(pe)
        rvals.setdefault(pe, []).append(v)
    for pe in order:
        ll, rl = lvals.get(pe, []), rvals.get(pe, [])
        if len(ll) <= 1 and len(rl) <= 1:
            _cmp(ll[0] if ll else _MISSING, rl[0] if rl else _MISSING, items, path + (pe,), c)
        elif len(ll) >= 2 and len(rl) >= 2:
            if ll != rl:
                c.modified.add(path + (pe,))
        elif len(ll) >= 2:
            if rl:
                _cmp(_MISSING, rl[0], items, path + (pe,), c)
            c.removed.add(path + (pe,))
        else:
            if ll:
                _cmp(ll[0], _MISSING, items, path + (pe,), c)
            c.added.add(path + (pe,))


def _remove(value: JSON, paths: FieldSet, schema: Schema | None) -> JSON:
    """structured-merge-diff's ``RemoveItems``: drop the members of ``paths`` (relative to value);
    a map or list left empty becomes absent (``_MISSING``)."""
    if not paths:
        return value
    t = _Type(schema, value)
    if t.kind == "list" and isinstance(value, list):
        if not value or t.rel == "atomic":
            return value
        items = t.item_schema()
        new_items = []
        for i, item in enumerate(value):
            pe = t.item_pe(item, i)
            if (pe,) in paths:
                continue
            sub = {p[1:] for p in paths if len(p) > 1 and p[0] == pe}
            if sub:
                item = _remove(item, sub, items)
                if item is _MISSING:
                    item = None
            new_items.append(item)
        return new_items if new_items else _MISSING
    if t.kind == "map" and isinstance(value, dict):
        if not value or t.rel == "atomic":
            return value
        out = {}
        for k, v in value.items():
            pe = ("f", k)
            if (pe,) in paths:
                continue
            sub = {p[1:] for p in paths if len(p) > 1 and p[0] == pe}
            if sub:
                v = _remove(v, sub, t.child(k))
                if v is _MISSING:
                    continue
            out[k] = v
        return out if out else _MISSING
    return value


def _schema_at(schema: Schema | None, path: Path, cache: dict[Path, Schema | None]) -> Schema | None:
    if path in cache:
        return cache[path]
    if not path:
        return schema
    parent = _schema_at(schema, path[:-1], cache)
    kind, name = path[-1]
    if parent is None:
        s = None
    elif kind == "f":
        s = parent.field(name) or parent.additional
    else:
        s = parent.items
    cache[path] = s
    return s


def _named_fields_members(paths: FieldSet, schema: Schema | None) -> FieldSet:
    """``EnsureNamedFieldsAreMembers``: parents that are declared struct fields count as members."""
    out = set(paths)
    cache: dict[Path, Schema | None] = {}
    for p in paths:
        for n in range(1, len(p)):
            q = p[:n]
            if q in out or q[-1][0] != "f":
                continue
            parent = _schema_at(schema, q[:-1], cache)
            if parent is not None and parent.field(q[-1][1]) is not None:
                out.add(q)
    return out


# ---------------------------------------------------------------------------------- managedFields
#: What structured-merge-diff never records as owned (apimachinery's ``stripMetaManager``).
_STRIPPED: FieldSet = {(("f", "apiVersion"),), (("f", "kind"),), (("f", "metadata"),)} | {
    (("f", "metadata"), ("f", f)) for f in ("name", "namespace", "creationTimestamp", "selfLink", "uid",
                                            "clusterName", "generation", "managedFields", "resourceVersion")}


class _Manager:
    __slots__ = ("manager", "operation", "api_version", "subresource", "time", "fields")

    def __init__(self, manager: str, operation: str, api_version: str, subresource: str, time: str | None,
                 fields: FieldSet) -> None:
        self.manager, self.operation, self.api_version = manager, operation, api_version
        self.subresource, self.time, self.fields = subresource, time, fields

    @property
    def ident(self) -> tuple[str, str, str, str]:
        """``BuildManagerIdentifier``: appliers are one manager whatever apiVersion they used."""
        return (self.manager, self.operation, "" if self.operation == "Apply" else self.api_version,
                self.subresource)

    def printed(self) -> str:
        """How conflicts name the manager (apimachinery's ``printManager``)."""
        s = go_quote(self.manager)
        if self.subresource:
            s += f" with subresource {go_quote(self.subresource)}"
        if self.operation == "Update":
            s += f" using {self.api_version}"
        return s

    def entry(self) -> dict:
        e: dict[str, Any] = {"manager": self.manager, "operation": self.operation,
                             "apiVersion": self.api_version}
        if self.time:
            e["time"] = self.time
        e["fieldsType"] = "FieldsV1"
        e["fieldsV1"] = _encoded(self.fields)
        if self.subresource:
            e["subresource"] = self.subresource
        return e


def fields_v1(paths: Iterable[Path]) -> dict:
    """A field set in the FieldsV1 format (``f:``, ``k:``, ``v:``, ``i:`` keys, ``.`` when a
    member also has children), keys in structured-merge-diff's order."""
    root: dict = {}
    members: set[Path] = set(paths)
    for p in members:
        node = root
        for pe in p:
            node = node.setdefault(pe, {})
    return _emit(root, (), members)


_PE_RANK = {"f": 0, "k": 1, "v": 2, "i": 3}


def _pe_sort(pe: PathElement) -> tuple[int, Any]:
    return (_PE_RANK[pe[0]], int(pe[1]) if pe[0] == "i" else pe[1])


def _emit(node: dict, path: Path, members: set[Path]) -> dict:
    out: dict = {}
    if path and path in members and node:
        out["."] = {}
    for pe in sorted(node, key=_pe_sort):
        out[f"{pe[0]}:{pe[1]}"] = _emit(node[pe], path + (pe,), members)
    return out


def parse_fields_v1(fields: dict) -> FieldSet:
    """The field set of a FieldsV1 document (what :func:`fields_v1` writes)."""
    out: FieldSet = set()

    def walk(node: dict, path: Path) -> None:
        if not isinstance(node, dict):
            raise ValueError(f"FieldsV1 nodes are objects, got {node!r}")
        if not node and path:
            out.add(path)
        for key, child in node.items():
            if key == ".":
                out.add(path)
                continue
            kind, sep, rest = key.partition(":")
            if not sep or kind not in _PE_RANK:
                raise ValueError(f"unknown FieldsV1 key {key!r}")
            if kind in ("k", "v"):
                rest = _dumps(orjson.loads(rest))
            walk(child, path + ((kind, rest),))

    walk(fields, ())
    return out


def _pe_str(pe: PathElement) -> str:
    """A path element as structured-merge-diff prints it (``.name``, ``[name="x"]``, ``[="a"]``)."""
    kind, val = pe
    if kind == "f":
        return "." + val
    if kind == "k":
        keys = orjson.loads(val)
        return "[" + ",".join(f"{k}={_dumps(v)}" for k, v in keys.items()) + "]"
    if kind == "v":
        return f"[={val}]"
    return f"[{val}]"


def path_str(path: Path) -> str:
    return "".join(_pe_str(pe) for pe in path)


#: Most writes change one manager's fields (a controller's status, a client's spec); the others'
#: entries come back unchanged.  Decoding and encoding them again was ~60% of a write, so both
#: directions are remembered by object identity: a ``fieldsV1`` dict of a stored object is never
#: mutated (the store's copy-on-write), nor is a manager's field set (always rebound, never
#: changed in place), and the cached object is held so that its id is not reused.
_DECODED: dict[int, tuple[dict, FieldSet]] = {}
_ENCODED: dict[int, tuple[FieldSet, dict]] = {}
#: Equal field sets share one ``fieldsV1`` dict (never mutated, as above): 10,000 ConfigMaps with
#: the same keys hold one, and the caches hold one entry for them, not one per write (measured:
#: 12,000 writes of ConfigMaps had kept 12,000 field sets and encodings alive, ~45 MiB).
_INTERNED: dict[frozenset[Path], dict] = {}
_CACHE_MAX = 200_000


def _remember(cache: dict, key_obj: Any, value: Any) -> None:
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[id(key_obj)] = (key_obj, value)


def _parsed(fields: dict) -> FieldSet:
    hit = _DECODED.get(id(fields))
    if hit is not None and hit[0] is fields:
        return hit[1]
    out = parse_fields_v1(fields)
    _remember(_DECODED, fields, out)
    _remember(_ENCODED, out, fields)
    return out


def _encoded(fields: FieldSet) -> dict:
    hit = _ENCODED.get(id(fields))
    if hit is not None and hit[0] is fields:
        return hit[1]
    key = frozenset(fields)
    out = _INTERNED.get(key)
    if out is None:  # a new shape: encoded once, remembered both ways with this set
        out = fields_v1(fields)
        if len(_INTERNED) >= _CACHE_MAX:
            _INTERNED.clear()
        _INTERNED[key] = out
        _remember(_ENCODED, fields, out)
        _remember(_DECODED, out, fields)
    return out


def _decode_managers(entries: JSON) -> list[_Manager] | None:
    """The managers of a ``managedFields`` list, None when it does not decode (kube-apiserver
    then falls back to the live object's, or to none)."""
    if not isinstance(entries, list):
        return None
    out: dict[tuple[str, str, str, str], _Manager] = {}
    for e in entries:
        if not isinstance(e, dict) or e.get("operation") not in ("Apply", "Update") \
                or not e.get("apiVersion") or e.get("fieldsType") != "FieldsV1":
            return None
        try:
            fields = _parsed(e.get("fieldsV1") or {})
        except (ValueError, orjson.JSONDecodeError):
            return None
        m = _Manager(str(e.get("manager", "")), e["operation"], str(e["apiVersion"]),
                     str(e.get("subresource", "") or ""), e.get("time"), fields)
        out[m.ident] = m
    return list(out.values())


def _encode_managers(managers: Iterable[_Manager]) -> list[dict]:
    kept = [m for m in managers if m.fields]
    kept.sort(key=lambda m: (m.operation, m.time or "", m.manager, m.api_version, m.subresource))
    return [m.entry() for m in kept]


def _without_managed_fields(obj: dict | None) -> dict:
    if not obj:
        return {}
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        obj = dict(obj)
        obj["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return obj


def _conflict_error(conflicts: list[tuple[_Manager, Path]]) -> StatusError:
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {m.printed()}",
               "field": path_str(p)} for m, p in conflicts]
    if len(conflicts) == 1:
        m, p = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {m.printed()}: {path_str(p)}"
    else:
        by: dict[str, list[Path]] = {}
        for m, p in conflicts:
            by.setdefault(m.printed(), []).append(p)
        lines = []
        for printed in sorted(by):
            lines.append(f"conflicts with {printed}:")
            lines.extend(f"- {path_str(p)}" for p in by[printed])
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return StatusError(409, "Conflict", message, details={"causes": causes})


def _path_sort(p: Path) -> tuple:
    return tuple(_pe_sort(pe) for pe in p)


def _update_others(live: JSON, new: JSON, managers: list[_Manager], me: tuple, schema: Schema | None,
                   force: bool) -> _Comparison:
    """``Updater.update``: other managers lose the fields this write changed (or it is a conflict,
    unless forced) and those it removed."""
    cmp = _compare(live, new, schema)
    changed = cmp.modified | cmp.added
    conflicts: list[tuple[_Manager, Path]] = []
    for m in sorted(managers, key=lambda m: m.ident):
        if m.ident == me:
            continue
        for p in sorted(m.fields & changed, key=_path_sort):
            conflicts.append((m, p))
    if conflicts and not force:
        raise _conflict_error(conflicts)
    gone = changed | cmp.removed
    for m in managers:
        if m.ident != me and not m.fields.isdisjoint(gone):  # untouched sets stay the same object (_encoded)
            m.fields = m.fields - gone
    return cmp


#: The manager that owns the fields of an untracked object when it is first applied.
BEFORE_FIRST_APPLY = "before-first-apply"


def reset_fields(schema: Schema | None, subresource: str | None) -> tuple[str, ...]:
    """The top-level fields a write leaves as they are and nobody owns through it (the resource
    strategies' ``GetResetFields``): ``status`` for writes to a kind that has one, everything but
    ``status`` and ``metadata`` for writes to ``/status``. A custom resource whose CRD has no status
    subresource needs ``reset=()`` from the caller."""
    if schema is None or schema.field("status") is None:
        return ()
    if subresource == "status":
        return tuple(f for f in schema.properties if f not in ("status", "metadata", "apiVersion", "kind"))
    return () if subresource else ("status",)


def _without(obj: dict, fields: Iterable[str]) -> dict:
    fields = tuple(fields)
    if not fields or not any(f in obj for f in fields):
        return obj
    return {k: v for k, v in obj.items() if k not in fields}


def server_side_apply(live: dict | None, applied: dict, *, manager: str, force: bool,
                      schema: Schema | None, now: str, subresource: str | None = None,
                      reset: Iterable[str] | None = None) -> dict:
    """Server-side apply of ``applied`` by ``manager`` onto ``live`` (None: the object is created
    from the applied configuration). Returns the new object with its ``metadata.managedFields``;
    raises 409 Conflict (``FieldManagerConflict`` causes) when another manager owns a field this
    apply changes, unless ``force``. The fields of an existing object without managed fields are
    first given to ``before-first-apply``, as kube-apiserver does. The ``reset`` top-level fields
    (default :func:`reset_fields`: ``status`` on the main resource) keep their live values: what
    the configuration says there is ignored, owned by nobody, and conflicts with nobody."""
    if not isinstance(applied, dict):
        raise bad_request("error decoding YAML: the applied configuration is not an object")
    meta = applied.get("metadata")
    if isinstance(meta, dict) and meta.get("managedFields") is not None:
        raise bad_request("metadata.managedFields must be nil")
    if not manager:
        raise bad_request("PATCH, application/apply-patch+yaml requires fieldManager to be set")
    api_version = str(applied.get("apiVersion") or (live or {}).get("apiVersion") or "")
    live_version = str((live or {}).get("apiVersion") or "")
    if live_version and api_version != live_version:
        raise bad_request(f"Incorrect version specified in apply patch. Specified patch version: {api_version}, "
                          f"expected: {live_version}")
    duplicates = _duplicates(applied, schema)
    if duplicates:
        meta = applied.get("metadata") if isinstance(applied.get("metadata"), dict) else {}
        group, _, version = api_version.rpartition("/")
        where = (f"{meta.get('namespace', '')}/{meta.get('name', '')}; {group}/{version}, "  # type: ignore[union-attr]
                 f"Kind={applied.get('kind', '')}")
        text = duplicates[0] if len(duplicates) == 1 else "errors:\n" + "\n".join(f"  {d}" for d in duplicates)
        raise StatusError(500, "", f"failed to create typed patch object ({where}): {text}")
    managers = _decode_managers(((live or {}).get("metadata") or {}).get("managedFields") or []) or []
    ignored = tuple(reset_fields(schema, subresource) if reset is None else reset)
    base = deep_copy(_without_managed_fields(live))
    if live is not None and not managers:
        # an object nobody tracked: its fields go to "before-first-apply" first (skipNonApplied)
        managers = _decode_managers(record_update(None, base, manager=BEFORE_FIRST_APPLY, schema=schema,
                                                  now=now, subresource=subresource, reset=ignored)) or []
    config = deep_copy(_without(applied, ignored))
    merged = _merge_smd(base, config, schema)
    me = _Manager(manager, "Apply", api_version, subresource or "", now, set())
    last = next((m for m in managers if m.ident == me.ident), None)
    managers = [m for m in managers if m.ident != me.ident]
    me.fields = field_set(config, schema)
    managers.append(me)
    if last is not None and last.fields:
        merged = _prune(merged, managers, last.fields, schema)
    _update_others(base, merged, managers, me.ident, schema, force)
    me.fields = me.fields - _STRIPPED
    result = _drop_nulls(merged)
    entries = _encode_managers(managers)
    result_meta = dict(result.get("metadata") or {})
    result_meta.pop("managedFields", None)
    if entries:
        result_meta["managedFields"] = entries
    result["metadata"] = result_meta
    return result


def _prune(merged: JSON, managers: list[_Manager], last: FieldSet, schema: Schema | None) -> JSON:
    """``Updater.prune``: remove what this manager applied last time and no longer applies, unless
    another manager (or this apply) owns it; leave alone what it never owned."""
    pruned = _remove(merged, _named_fields_members(last, schema), schema)
    pruned = {} if pruned is _MISSING else pruned
    managed: FieldSet = set().union(*(m.fields for m in managers))
    merged_set = _named_fields_members(field_set(merged, schema), schema)
    pruned_set = _named_fields_members(field_set(pruned, schema), schema)
    pruned = _remove(merged, merged_set - (pruned_set | _named_fields_members(managed, schema)), schema)
    pruned = {} if pruned is _MISSING else pruned
    pruned_set = _named_fields_members(field_set(pruned, schema), schema)
    dangling = (merged_set - pruned_set) & _named_fields_members(last, schema)
    out = _remove(merged, dangling, schema)
    return {} if out is _MISSING else out


def record_update(old: dict | None, new: dict, *, manager: str, schema: Schema | None, now: str,
                  subresource: str | None = None, reset: Iterable[str] | None = None) -> list[dict]:
    """The ``managedFields`` after a create, update or non-apply patch by ``manager``
    (``operation: Update``): it gets the fields it added or changed, the other managers lose them
    and those it removed. Managed fields the client sent in ``new`` are taken as given (an empty
    list resets them), as kube-apiserver does; a subresource write keeps the live object's. An
    existing object (with a uid) that has no managed fields stays untracked until first applied.
    The ``reset`` top-level fields (default :func:`reset_fields`) change no ownership."""
    old_entries = ((old or {}).get("metadata") or {}).get("managedFields") or []
    new_meta = new.get("metadata") or {}
    sent = new_meta.get("managedFields") if isinstance(new_meta, dict) else None
    managers: list[_Manager] | None
    if subresource:
        managers = _decode_managers(old_entries)
    elif isinstance(sent, list) and (not sent or (len(sent) == 1 and sent[0] == {})):
        managers = []
    else:
        managers = _decode_managers(sent) if sent else None
        if not managers:
            managers = _decode_managers(old_entries)
    managers = managers or []
    if not managers and old is not None and ((old.get("metadata") or {}).get("uid")):
        return []  # an existing object nobody tracks stays untracked until it is applied (skipNonApplied)
    api_version = str(new.get("apiVersion") or (old or {}).get("apiVersion") or "")
    me = _Manager(manager or "unknown", "Update", api_version, subresource or "", now, set())
    ignored = tuple(reset_fields(schema, subresource) if reset is None else reset)
    before = _without(_without_managed_fields(old), ignored)
    after = _without(_without_managed_fields(new), ignored)
    current = ("", "current-operation", "", "")
    cmp = _update_others(before, after, managers, current, schema, True)
    took = (cmp.modified | cmp.added) - _STRIPPED
    previous = next((m for m in managers if m.ident == me.ident), None)
    if took:
        if previous is not None:
            if not took <= previous.fields:
                previous.fields = previous.fields | took
            previous.time = now
        else:
            me.fields = took
            managers.append(me)
    return _encode_managers(managers)
