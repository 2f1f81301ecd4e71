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

from helm_ac.kubesim.errors import StatusError, bad_request
from helm_ac.kubesim.schemas import Schema

JSON = Any


def _copy(value: JSON) -> JSON:
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
        result = jsonpatch.JsonPatch(_copy(ops)).apply(_copy(obj))
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
    return _merge7386(_copy(obj), _copy(patch))


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
        result = _merge_map(_copy(obj), _copy(patch), schema)
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
        raise _SMPError(f"no elements in any of the given slices")
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
                _discard_nulls(patch_v)
                value, keep = _remove_directives(patch_v)
                if keep:
                    original[key] = value
                else:
                    original.pop(key, None)
            continue
        orig_v = original[key]
        ok, pk = _kind(orig_v), _kind(patch_v)
        if ok != pk:
            if not is_delete_list:
                _discard_nulls(patch_v)
                value, keep = _remove_directives(patch_v)
                if keep:
                    original[key] = value
                else:
                    original.pop(key, None)
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
