"""What a request asks for (kube-apiserver's ``RequestInfo``) and the audit log of what was answered.

:func:`request_info` names a request the way kube-apiserver's ``RequestInfoFactory`` does, from the
method, the (decoded) URL path and the query: ``get`` vs ``list`` vs ``watch`` (``?watch=true`` or the
old ``/watch/`` path prefix), ``create``, ``update``, ``patch``, ``delete`` vs ``deletecollection``,
the group, version, namespace, resource, subresource and name; ``/api/v1/namespaces/<ns>`` is the
namespace object ``<ns>`` *in* namespace ``<ns>``, as real. Paths outside ``/api`` and ``/apis``
(``/version``, ``/healthz``, ``/openapi/v3``, and ``/api``, ``/apis``, ``/apis/<group>`` themselves)
are non-resource requests whose verb is the lower-cased method. The RBAC authorizer
(:mod:`.rbac`) and the audit log both read this one description.

:class:`AuditLog` writes one JSON line per request through a sink the HTTP face gives (a file's
``write``): ``time`` (RFC 3339 UTC with microseconds, like ``requestReceivedTimestamp``), ``user``,
``groups``, ``verb``, ``group``, ``version``, ``resource``, ``subresource``, ``namespace``, ``name``,
``uri``, ``code``, ``userAgent``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import orjson

from helm_ac.clock import Loop
from helm_ac.kubesim.times import rfc3339_micro

#: The path prefixes of resource requests (``/api`` has no group, ``/apis/<group>`` has one).
API_PREFIXES = ("api", "apis")
#: Verbs written as the path segment after the version (``/api/v1/watch/pods``): ``proxy`` takes no subresource.
_SPECIAL_VERBS = ("proxy", "watch")
#: Segments after ``namespaces/<ns>`` that are subresources of the Namespace, not resources in it.
_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_METHOD_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch",
                 "DELETE": "delete"}
#: Go's strconv.ParseBool.
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


@dataclass(frozen=True)
class RequestInfo:
    """kube-apiserver's ``request.RequestInfo``: what the authorizer and the audit log see."""

    resource_request: bool
    path: str
    verb: str
    api_prefix: str = ""
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    parts: tuple[str, ...] = ()


def request_info(method: str, path: str, query: Mapping[str, str] | None = None) -> RequestInfo:
    """Describe a request from its method, decoded URL path (no query string) and query parameters
    (a mapping such as aiohttp's ``request.query``)."""
    query = query or {}
    method = method.upper()
    parts = [p for p in path.strip("/").split("/")] if path.strip("/") else []
    non_resource = RequestInfo(resource_request=False, path=path, verb=method.lower())
    if len(parts) < 3 or parts[0] not in API_PREFIXES:
        return non_resource
    prefix, rest = parts[0], parts[1:]
    group = ""
    if prefix == "apis":
        if len(rest) < 3:
            return non_resource
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    if rest[0] in _SPECIAL_VERBS:
        if len(rest) < 2:
            # kube-apiserver answers such a path with an error; it names no resource
            return non_resource
        verb, rest = rest[0], rest[1:]
    else:
        verb = _METHOD_VERBS.get(method, "")
    namespace = ""
    if rest[0] == "namespaces":
        if len(rest) > 1:
            namespace = rest[1]
            if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
                rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) >= 2 else ""
    subresource = rest[2] if len(rest) >= 3 and verb != "proxy" else ""
    if not name and verb == "get":
        verb = "watch" if query.get("watch", "") in _TRUE else "list"
        exact = _exact_name(query.get("fieldSelector", ""))
        if exact:
            name = exact
    if not name and verb == "delete":
        verb = "deletecollection"
    return RequestInfo(resource_request=True, path=path, verb=verb, api_prefix=prefix, group=group,
                       version=version, namespace=namespace, resource=resource, subresource=subresource,
                       name=name, parts=tuple(rest))


def _exact_name(field_selector: str) -> str:
    """``metadata.name`` from a field selector requiring it exactly (``metadata.name=x``), as
    kube-apiserver names a list or watch of one object; "" otherwise (and for a name that is not a
    valid path segment)."""
    for term in field_selector.split(","):
        for op in ("==", "="):
            key, sep, value = term.partition(op)
            if sep and not key.endswith("!"):
                if key.strip() == "metadata.name":
                    value = value.strip()
                    if value and value not in (".", "..") and "/" not in value and "%" not in value:
                        return value
                break
    return ""


class AuditLog:
    """One JSON line per answered request, written through ``sink`` (``file.write`` will do; each
    line ends with a newline). Times come from ``clock`` (the server's real-time loop)."""

    def __init__(self, sink: Callable[[str], object], clock: Loop) -> None:
        self.sink = sink
        self.clock = clock

    def record(self, info: RequestInfo, code: int, *, user: str = "", groups: Sequence[str] = (),
               user_agent: str = "", uri: str = "") -> dict[str, object]:
        """Write the record of one answered request and return it."""
        rec: dict[str, object] = {
            "time": rfc3339_micro(self.clock.now()), "user": user, "groups": list(groups), "verb": info.verb,
            "group": info.group, "version": info.version, "resource": info.resource,
            "subresource": info.subresource, "namespace": info.namespace, "name": info.name,
            "uri": uri or info.path, "code": code, "userAgent": user_agent}
        self.sink(orjson.dumps(rec).decode() + "\n")
        return rec
