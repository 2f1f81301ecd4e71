"""Kubernetes' protobuf wire format (``application/vnd.kubernetes.protobuf``), to and from the JSON
dicts the rest of helm-ac handles.

A body is the magic ``k8s\\x00`` then a ``runtime.Unknown`` message: ``typeMeta`` (apiVersion, kind),
``raw`` (the object's own message), ``contentEncoding`` and ``contentType`` (both empty). The message
classes are generated from Kubernetes' own ``.proto`` files (``proto/``, by ``scripts/gen_proto.py``
into ``pb/``); the kind table is built from those modules: a proto package ``k8s.io.api.<g>.<v>``
holds the kinds of the group whose first label is ``<g>`` (``rbac`` for ``rbac.authorization.k8s.io``,
``core`` for the legacy group ``""``), ``k8s.io.apiextensions_apiserver...v1`` those of
``apiextensions.k8s.io/v1``; ``meta/v1`` kinds (``DeleteOptions``, ``Status``, ...) are registered in
every group-version, as in Kubernetes.

The JSON side is what Go's ``encoding/json`` writes for the same Go struct. The ``.proto`` files say
nearly all of it (field names are the JSON names); what they cannot say comes from the Go struct tags
(``proto/gotags.json``): fields embedded with ``json:",inline"``, the few renamed fields (``uID`` is
``uid``, ``aPIGroup`` is ``apiGroup``, ``ref`` is ``$ref``...), and which scalars keep their zero value
(Go writes every non-pointer scalar on the wire, so a zero there is dropped as ``omitempty`` drops it,
unless the Go field is a pointer or has no ``omitempty``: ``replicas: 0`` survives). Nested structs
are always written (``{}`` when empty); empty lists and maps never. Special types: ``Time`` and
``MicroTime`` are RFC 3339 strings (a zero ``Time`` is ``null``, as Go writes it), ``Duration`` Go's
``1h2m3s``, ``Quantity`` its string, ``IntOrString`` an int or a string, ``FieldsV1``,
``RawExtension`` and apiextensions' ``JSON`` their raw JSON (a ``WatchEvent``'s object travels
as its own protobuf body, see :func:`watch_frame`), ``bytes`` base64 strings, ``Verbs`` and
``ExtraValue`` plain lists, the ``JSONSchemaPropsOr*`` unions their one side. JSON keys with no proto
field are dropped by :func:`encode` (Go drops them too).
"""
from __future__ import annotations

import base64
import importlib
import json
import pkgutil
import re
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any, Callable

import orjson
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from helm_ac.kubesim.errors import StatusError
from helm_ac.kubesim.times import format_rfc3339, parse_rfc3339

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

_PB = "helm_ac.apiserver.pb"
_META = "k8s.io.apimachinery.pkg.apis.meta.v1"
_RUNTIME = "k8s.io.apimachinery.pkg.runtime"
_EXT = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1"
_TIMES = (f"{_META}.Time", f"{_META}.MicroTime")
_GO_ZERO_TIME = -62135596800  # 0001-01-01T00:00:00Z, Go's zero time, in Unix seconds


# --- the kind table ------------------------------------------------------------------------------

@cache
def _kinds() -> dict[tuple[str, str, str], type[Message]]:
    """(group's first label or "core" or "meta", version, kind) -> message class, from every
    generated module."""
    import helm_ac.apiserver.pb as pb

    out: dict[tuple[str, str, str], type[Message]] = {}
    for info in pkgutil.walk_packages(pb.__path__, pb.__name__ + "."):
        if not info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(info.name)
        package = module.DESCRIPTOR.package
        m = re.fullmatch(r"k8s\.io\.(?:api\.(\w+)|apiextensions_apiserver\.pkg\.apis\.(\w+)"
                         r"|apimachinery\.pkg\.apis\.(meta))\.(v\w+)", package)
        if not m:
            continue  # runtime, schema, resource, intstr: parts, no kinds
        short = m.group(1) or m.group(2) or m.group(3)
        for name in module.DESCRIPTOR.message_types_by_name:
            out[(short, m.group(4), name)] = getattr(module, name)
    return out


def message_for(api_version: str, kind: str) -> type[Message] | None:
    """The generated class of ``kind`` in ``api_version`` (``v1``/``Secret``, ``apps/v1``/``Deployment``,
    any built-in group-version/``DeleteOptions``), or None when Kubernetes has no protobuf for it
    (custom resources, unknown groups)."""
    group, _, version = api_version.rpartition("/")
    if not version:
        return None
    if not group:
        short = "core"
    elif "." not in group:
        short = group
    elif group.endswith(".k8s.io"):
        short = group.split(".", 1)[0]
    else:
        return None
    found = _kinds().get((short, version, kind))
    if found is None and (short, version) in _group_versions():
        found = _kinds().get(("meta", "v1", kind))  # options and Status: in every group-version
    return found


@cache
def _group_versions() -> frozenset[tuple[str, str]]:
    return frozenset((s, v) for s, v, _ in _kinds())


# --- Go struct facts the .proto files do not carry --------------------------------------------------

@cache
def _gotags() -> dict[str, dict[str, Any]]:
    return dict(json.loads((Path(__file__).parent / "proto" / "gotags.json").read_text()))


class _Shape:
    """How one message maps to JSON: fields by JSON name (inline ones through their carrier)."""

    def __init__(self, d: Descriptor) -> None:
        tags = _gotags().get(d.full_name, {})
        self.inline: set[str] = set(tags.get("inline", ()))
        self.keep_zero: set[str] = set(tags.get("keep_zero", ()))
        renamed: dict[str, str] = tags.get("renamed", {})
        self.json_name = {f.name: renamed.get(f.name, f.name) for f in d.fields}
        # JSON name -> (carrier field for inline ones or None, field)
        self.by_json: dict[str, tuple[FieldDescriptor | None, FieldDescriptor]] = {}
        for f in d.fields:
            if f.name in self.inline:
                for sub in f.message_type.fields:
                    self.by_json.setdefault(_shape(f.message_type).json_name[sub.name], (f, sub))
            elif self.json_name[f.name] != "-":
                self.by_json[self.json_name[f.name]] = (None, f)


@cache
def _shape(d: Descriptor) -> _Shape:
    return _Shape(d)


# --- special types -------------------------------------------------------------------------------

def _parse_time(value: Any, what: str) -> tuple[int, int]:
    if not isinstance(value, str):
        raise StatusError(400, "BadRequest", f"{what}: a time must be an RFC 3339 string, not {value!r}")
    t = parse_rfc3339(value)
    if t is None:
        raise StatusError(400, "BadRequest", f"{what}: {value!r} is not an RFC 3339 time")
    seconds = int((t - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds() // 1)
    return seconds, t.microsecond * 1000


_UNITS = (("h", 3600 * 10**9), ("m", 60 * 10**9), ("s", 10**9), ("ms", 10**6), ("us", 10**3),
          ("µs", 10**3), ("ns", 1))


def _go_duration(ns: int) -> str:
    """Go's ``time.Duration.String()``: ``1h2m3.5s``, ``1.5ms``, ``0s``."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if ns >= size:
                return sign + _frac(ns, size) + unit
    h, rest = divmod(ns, 3600 * 10**9)
    m, rest = divmod(rest, 60 * 10**9)
    out = (f"{h}h" if h else "") + (f"{m}m" if h or m else "")
    return sign + out + _frac(rest, 10**9) + "s"


def _frac(n: int, size: int) -> str:
    whole, part = divmod(n, size)
    digits = str(part).rjust(len(str(size)) - 1, "0").rstrip("0") if part else ""
    return f"{whole}.{digits}" if digits else str(whole)


def _parse_duration(value: Any, what: str) -> int:
    if isinstance(value, str) and value in ("0", "-0", "+0"):
        return 0
    m = re.fullmatch(r"([-+]?)((?:[0-9.]+(?:h|m|s|ms|us|µs|ns))+)", value) if isinstance(value, str) else None
    if not m:
        raise StatusError(400, "BadRequest", f"{what}: {value!r} is not a duration such as 1h2m3s")
    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)(ms|us|µs|ns|h|m|s)", m.group(2)):
        total += float(number) * dict(_UNITS)[unit]
    return -round(total) if m.group(1) == "-" else round(total)


def _raw_json(raw: bytes) -> Any:
    if not raw:
        return None
    if raw.startswith(MAGIC):
        return decode(raw)
    return orjson.loads(raw)


def _time_to_json(msg: Any) -> Any:
    if not msg.HasField("seconds") and not msg.HasField("nanos") or msg.seconds == _GO_ZERO_TIME:
        return None  # Go's zero Time: JSON null
    return format_rfc3339(msg.seconds)


def _microtime_to_json(msg: Any) -> Any:
    if not msg.HasField("seconds") and not msg.HasField("nanos") or msg.seconds == _GO_ZERO_TIME:
        return None
    return format_rfc3339(msg.seconds, msg.nanos // 1000)


def _time_from_json(msg: Any, value: Any, what: str) -> None:
    msg.SetInParent()
    if value is not None:
        msg.seconds, _ = _parse_time(value, what)


def _microtime_from_json(msg: Any, value: Any, what: str) -> None:
    msg.SetInParent()
    if value is not None:
        msg.seconds, nanos = _parse_time(value, what)
        if nanos:
            msg.nanos = nanos


def _int_or_string_from_json(msg: Any, value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise StatusError(400, "BadRequest", f"{what}: expected an integer or a string, not {value!r}")
    if isinstance(value, int):
        msg.type, msg.intVal = 0, value
    else:
        msg.type, msg.strVal = 1, value


def _quantity_from_json(msg: Any, value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise StatusError(400, "BadRequest", f"{what}: a quantity is a string such as 100m or 1Gi, not {value!r}")
    msg.string = value if isinstance(value, str) else str(value)


def _raw_from_json(field: str) -> Callable[[Any, Any, str], None]:
    def fill(msg: Any, value: Any, what: str) -> None:
        setattr(msg, field, b"" if value is None else orjson.dumps(value))
    return fill


def _or_from_json(list_field: str) -> Callable[[Any, Any, str], None]:
    """JSONSchemaPropsOrArray / OrStringArray: a list fills ``list_field``, an object ``schema``."""
    def fill(msg: Any, value: Any, what: str) -> None:
        msg.SetInParent()
        if isinstance(value, list):
            repeated = getattr(msg, list_field)
            for item in value:
                if isinstance(item, dict):
                    _fill(repeated.add(), item, what)
                else:
                    repeated.append(item)
        else:
            _fill(msg.schema, _object(value, what), what)
    return fill


def _items_from_json(msg: Any, value: Any, what: str) -> None:
    """``Verbs``, ``ExtraValue``: Go string slices, wrapped in a message on the wire."""
    msg.SetInParent()
    msg.items.extend(_scalar_list(value, what))


def _scalar_list(value: Any, what: str) -> list[str]:
    items = _list(value, what)
    if not all(isinstance(i, str) for i in items):
        raise StatusError(400, "BadRequest", f"{what}: expected a list of strings, not {value!r}")
    return items


def _or_bool_from_json(msg: Any, value: Any, what: str) -> None:
    if isinstance(value, bool):
        msg.allows = value
    else:
        msg.allows = True
        _fill(msg.schema, _object(value, what), what)


def _or_to_json(list_field: str) -> Callable[[Any], Any]:
    def conv(msg: Any) -> Any:
        items = getattr(msg, list_field)
        if len(items):
            return [_to_json(i) if isinstance(i, Message) else i for i in items]
        return _to_json(msg.schema) if msg.HasField("schema") else None
    return conv


_TO_JSON: dict[str, Callable[[Any], Any]] = {
    f"{_META}.Time": _time_to_json,
    f"{_META}.MicroTime": _microtime_to_json,
    f"{_META}.Duration": lambda m: _go_duration(m.duration),
    f"{_META}.FieldsV1": lambda m: _raw_json(m.Raw),
    f"{_META}.Verbs": lambda m: list(m.items),
    f"{_RUNTIME}.RawExtension": lambda m: _raw_json(m.raw),
    "k8s.io.apimachinery.pkg.api.resource.Quantity": lambda m: m.string,
    "k8s.io.apimachinery.pkg.api.resource.QuantityValue": lambda m: m.string,
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": lambda m: m.strVal if m.type == 1 else m.intVal,
    f"{_EXT}.JSON": lambda m: _raw_json(m.raw),
    f"{_EXT}.JSONSchemaPropsOrArray": _or_to_json("jSONSchemas"),
    f"{_EXT}.JSONSchemaPropsOrStringArray": _or_to_json("property"),
    f"{_EXT}.JSONSchemaPropsOrBool": lambda m: _to_json(m.schema) if m.HasField("schema") else m.allows,
}
for _group in ("authentication", "authorization", "certificates"):
    _TO_JSON[f"k8s.io.api.{_group}.v1.ExtraValue"] = lambda m: list(m.items)

_FROM_JSON: dict[str, Callable[[Any, Any, str], None]] = {
    f"{_META}.Time": _time_from_json,
    f"{_META}.MicroTime": _microtime_from_json,
    f"{_META}.Duration": lambda m, v, w: setattr(m, "duration", _parse_duration(v, w)),
    f"{_META}.FieldsV1": _raw_from_json("Raw"),
    f"{_META}.Verbs": _items_from_json,
    f"{_RUNTIME}.RawExtension": _raw_from_json("raw"),
    "k8s.io.apimachinery.pkg.api.resource.Quantity": _quantity_from_json,
    "k8s.io.apimachinery.pkg.api.resource.QuantityValue": _quantity_from_json,
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": _int_or_string_from_json,
    f"{_EXT}.JSON": _raw_from_json("raw"),
    f"{_EXT}.JSONSchemaPropsOrArray": _or_from_json("jSONSchemas"),
    f"{_EXT}.JSONSchemaPropsOrStringArray": _or_from_json("property"),
    f"{_EXT}.JSONSchemaPropsOrBool": _or_bool_from_json,
}
for _group in ("authentication", "authorization", "certificates"):
    _FROM_JSON[f"k8s.io.api.{_group}.v1.ExtraValue"] = _items_from_json


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise StatusError(400, "BadRequest", f"{what}: expected a list, not {value!r}")
    return value


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StatusError(400, "BadRequest", f"{what}: expected an object, not {value!r}")
    return value


# --- message -> JSON -----------------------------------------------------------------------------

def _scalar_to_json(f: FieldDescriptor, value: Any) -> Any:
    if f.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    return value


def _value_to_json(f: FieldDescriptor, value: Any) -> Any:
    if f.type == FieldDescriptor.TYPE_MESSAGE:
        return _to_json(value)
    return _scalar_to_json(f, value)


def _to_json(msg: Message) -> Any:
    d = msg.DESCRIPTOR
    special = _TO_JSON.get(d.full_name)
    if special is not None:
        return special(msg)
    shape = _shape(d)
    out: dict[str, Any] = {}
    for f, value in msg.ListFields():
        if f.name in shape.inline:
            out.update(_to_json(value))
            continue
        name = shape.json_name[f.name]
        if name == "-":
            continue
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            vf = f.message_type.fields_by_name["value"]
            out[name] = {k: _value_to_json(vf, value[k]) for k in sorted(value)}  # Go sorts map keys
        elif f.is_repeated:
            out[name] = [_value_to_json(f, v) for v in value]
        elif f.type == FieldDescriptor.TYPE_MESSAGE:
            out[name] = _to_json(value)
        elif value or f.name in shape.keep_zero:
            out[name] = _scalar_to_json(f, value)
    return out


# --- JSON -> message -----------------------------------------------------------------------------

_INT32 = (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32)


def _scalar_from_json(f: FieldDescriptor, value: Any, what: str) -> Any:
    t = f.type
    if t == FieldDescriptor.TYPE_BYTES:
        if not isinstance(value, str):
            raise StatusError(400, "BadRequest", f"{what}: expected a base64 string, not {value!r}")
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            raise StatusError(400, "BadRequest", f"{what}: {value!r} is not base64") from None
    if t == FieldDescriptor.TYPE_STRING:
        ok, expected = isinstance(value, str), "a string"
    elif t == FieldDescriptor.TYPE_BOOL:
        ok, expected = isinstance(value, bool), "true or false"
    elif t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        ok, expected = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    else:
        bits = 32 if t in _INT32 else 64
        ok = isinstance(value, int) and not isinstance(value, bool) and -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)
        expected = f"an integer of {bits} bits"
    if not ok:
        raise StatusError(400, "BadRequest", f"{what}: expected {expected}, not {value!r}")
    return value


def _fill_value(msg: Any, f: FieldDescriptor, value: Any, what: str) -> None:
    if f.message_type is not None and f.message_type.GetOptions().map_entry:
        target = getattr(msg, f.name)
        vf = f.message_type.fields_by_name["value"]
        for k, v in _object(value, what).items():
            if v is None:
                continue
            if vf.type == FieldDescriptor.TYPE_MESSAGE:
                _fill(target[k], v, f"{what}.{k}")
            else:
                target[k] = _scalar_from_json(vf, v, f"{what}.{k}")
    elif f.is_repeated:
        target = getattr(msg, f.name)
        for i, item in enumerate(_list(value, what)):
            if f.type == FieldDescriptor.TYPE_MESSAGE:
                _fill(target.add(), item, f"{what}[{i}]")
            else:
                target.append(_scalar_from_json(f, item, f"{what}[{i}]"))
    elif f.type == FieldDescriptor.TYPE_MESSAGE:
        _fill(getattr(msg, f.name), value, what)
    else:
        setattr(msg, f.name, _scalar_from_json(f, value, what))


def _fill(msg: Any, value: Any, what: str) -> None:
    """Set ``msg`` from its JSON ``value`` (``what`` names the place for error messages)."""
    d = msg.DESCRIPTOR
    special = _FROM_JSON.get(d.full_name)
    if special is not None:
        special(msg, value, what)
        return
    msg.SetInParent()
    if value is None:
        return
    shape = _shape(d)
    for key, item in _object(value, what).items():
        where = shape.by_json.get(key)
        if where is None:
            continue  # no such field in Kubernetes' Go struct either: dropped, as Go drops it
        carrier, f = where
        if item is None and (f.is_repeated or f.message_type is None or f.message_type.full_name not in _TIMES):
            continue  # null: Go's zero value, not written (a zero Time is: Go writes it, empty)
        target = getattr(msg, carrier.name) if carrier is not None else msg
        _fill_value(target, f, item, f"{what}.{key}" if what else key)


# --- the envelope --------------------------------------------------------------------------------

def _unknown_class() -> type[Message]:
    from helm_ac.apiserver.pb.apimachinery.pkg.runtime import generated_pb2 as runtime_pb2

    unknown: type[Message] = getattr(runtime_pb2, "Unknown")  # classes are built when the module loads
    return unknown


def _unsupported(api_version: str, kind: str) -> StatusError:
    return StatusError(415, "UnsupportedMediaType",
                       f'the body of type {CONTENT_TYPE} names kind "{kind}" of "{api_version}", which has no '
                       "protobuf encoding here (custom resources and unknown kinds are JSON or YAML only): "
                       "send it as application/json")


def decode(body: bytes) -> dict[str, Any]:
    """The JSON dict a JSON client would have sent for this protobuf ``body``. A body without the
    magic or that does not parse is ``400 BadRequest``; a kind without a protobuf message (custom
    resources, unknown groups) ``415 UnsupportedMediaType``."""
    if not body.startswith(MAGIC):
        raise StatusError(400, "BadRequest", "provided data does not appear to be a protobuf message, "
                          f"expected prefix {list(MAGIC)}")
    unknown: Any = _unknown_class()()
    try:
        unknown.ParseFromString(body[len(MAGIC):])
    except DecodeError as e:
        raise StatusError(400, "BadRequest", f"the protobuf envelope (runtime.Unknown) does not parse: {e}") from None
    api_version, kind = unknown.typeMeta.apiVersion, unknown.typeMeta.kind
    if unknown.contentEncoding or unknown.contentType not in ("", CONTENT_TYPE):
        raise StatusError(415, "UnsupportedMediaType",
                          f"protobuf envelope with contentEncoding={unknown.contentEncoding!r} "
                          f"contentType={unknown.contentType!r} is not supported: send plain protobuf or JSON")
    cls = message_for(api_version, kind)
    if cls is None:
        raise _unsupported(api_version, kind)
    msg = cls()
    try:
        msg.ParseFromString(unknown.raw)
    except DecodeError as e:
        raise StatusError(400, "BadRequest", f"the {kind} ({api_version}) protobuf does not parse: {e}") from None
    out: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    try:
        out.update(_to_json(msg))
    except (ValueError, OverflowError, OSError) as e:  # a time out of range, raw JSON that is not JSON
        raise StatusError(400, "BadRequest", f"the {kind} ({api_version}) protobuf has a value JSON cannot "
                          f"carry: {e}") from None
    return out


def encode(obj: dict[str, Any]) -> bytes:
    """The protobuf body of a JSON object (its ``apiVersion`` and ``kind`` pick the message); the
    reverse of :func:`decode`. Kinds without protobuf raise ``415 UnsupportedMediaType``, values of
    the wrong type ``400 BadRequest``."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        raise StatusError(400, "BadRequest", "an object to encode as protobuf needs apiVersion and kind")
    cls = message_for(api_version, kind)
    if cls is None:
        raise _unsupported(api_version, kind)
    msg: Any = cls()
    fields = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    if msg.DESCRIPTOR.full_name == f"{_META}.WatchEvent" and isinstance(fields.get("object"), dict):
        # Kubernetes embeds the watched object in its own protobuf envelope, not as JSON
        msg.object.raw = encode(fields.pop("object"))
    _fill(msg, fields, "")
    unknown: Any = _unknown_class()()
    unknown.typeMeta.apiVersion = api_version
    unknown.typeMeta.kind = kind
    unknown.raw = msg.SerializeToString(deterministic=True)
    unknown.contentEncoding = ""
    unknown.contentType = ""
    return MAGIC + unknown.SerializeToString(deterministic=True)


def watch_frame(event: dict[str, Any]) -> bytes:
    """One event of a protobuf watch stream (``{"type": ..., "object": {...}}``, as the store's watch
    sink gets it): a 4-byte big-endian length, then a ``WatchEvent`` body of the object's
    group-version whose ``object`` is the object's own protobuf body, as kube-apiserver frames it."""
    obj = event["object"]
    body = encode({"apiVersion": obj.get("apiVersion", "v1"), "kind": "WatchEvent", "type": event["type"],
                   "object": obj})
    return len(body).to_bytes(4, "big") + body
