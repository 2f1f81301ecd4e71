"""Field errors as kube-apiserver words them (``StatusCause`` dicts: reason, message, field) and
apimachinery's name checks (DNS-1123 subdomain and label, DNS-1035 label, path segment, qualified
names, label values), with the server's own messages. Shared by :mod:`.validation` and :mod:`.crds`.
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterable

from .resources import Resource

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
_MSG_QNAME_WHOLE = ("a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start "
                    "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
                    f"used for validation is '{_QUALIFIED_NAME}') with an optional DNS subdomain prefix and '/' "
                    "(e.g. 'example.com/MyName')")
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
    """apimachinery's ``IsQualifiedName``: an optional DNS subdomain prefix and ``/``, then a name."""
    parts = v.split("/")
    if len(parts) > 2:
        return [_MSG_QNAME_WHOLE]
    prefix, name = parts if len(parts) == 2 else ("", parts[0])
    out = []
    if len(parts) == 2:
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


def quote(v: Any) -> str:
    """A value as the server quotes it in ``Invalid value: ...``."""
    return json.dumps(v, separators=(",", ":"), sort_keys=True)


def go_quote(s: str) -> str:
    """Go's ``%q`` of a string (``strconv.Quote``), as the server's messages quote names."""
    return json.dumps(s, ensure_ascii=False)


def cause(reason: str, field: str, message: str) -> dict[str, str]:
    return {"reason": reason, "message": message, "field": field}


def invalid_value(field: str, value: Any, detail: str) -> dict[str, str]:
    return cause("FieldValueInvalid", field, f"Invalid value: {quote(value)}: {detail}")


def required(field: str, detail: str = "") -> dict[str, str]:
    return cause("FieldValueRequired", field, "Required value" + (f": {detail}" if detail else ""))


def not_supported(field: str, value: Any, supported: Iterable[Any]) -> dict[str, str]:
    listed = ", ".join(quote(s) for s in supported)
    return cause("FieldValueNotSupported", field, f"Unsupported value: {quote(value)}: supported values: {listed}")


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
