"""Routing and handlers: Kubernetes' URL scheme and verbs onto the one in-memory cluster.

Every request runs on the server's event loop, and every store call is synchronous, so requests,
controllers and watch deliveries never interleave inside a write (no locks). One catch-all route
parses the path as kube-apiserver does (``/api/v1/...``, ``/apis/<group>/<version>/...``, the
``namespaces/<ns>/`` prefix, ``<plural>[/<name>[/<subresource>]]``); every refusal is a
``Status`` with the code and reason a real server gives; an unexpected exception is logged and
answered ``500 InternalError``, never a crash.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable

import orjson
import yaml
from aiohttp import web

from helm_ac.apiserver import watch as watches
from helm_ac.kubesim import discovery, openapi, rbac, tables, validation
from helm_ac.kubesim.audit import AuditLog, RequestInfo, request_info
from helm_ac.kubesim.errors import StatusError, bad_request, invalid
from helm_ac.kubesim.patch import check_options as check_patch_options
from helm_ac.kubesim.rbac import ANONYMOUS, Authenticator, Authorizer, UserInfo, acting_as, forbidden
from helm_ac.kubesim.resources import Registry, Resource

log = logging.getLogger("helm_ac.apiserver")

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
#: PATCH content types -> the store's patch types.
PATCH_TYPES = {"application/json-patch+json": "json", "application/merge-patch+json": "merge",
               "application/strategic-merge-patch+json": "strategic", "application/apply-patch+yaml": "apply"}
#: Subresources of namespaces: ``/api/v1/namespaces/<ns>/status`` is the Namespace's, not a resource.
NAMESPACE_SUBRESOURCES = ("status", "finalize")
#: The subresources served (others, such as pods/exec or pods/eviction, are 404).
SERVED_SUBRESOURCES = ("status", "finalize", "token", "scale", "log")
#: kube-apiserver's default --min-request-timeout: a watch without timeoutSeconds ends after this.
DEFAULT_WATCH_TIMEOUT = 1800.0


def not_found_path() -> StatusError:
    return StatusError(404, "NotFound", "the server could not find the requested resource", details={})


def method_not_allowed() -> StatusError:
    return StatusError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                       details={})


@dataclass
class Target:
    """What a resource URL names."""

    resource: Resource
    namespace: str | None
    name: str | None
    subresource: str | None
    watch_prefix: bool = False  # the legacy /watch/ path form


#: who a request without a token is on the insecure (plain HTTP, no RBAC) server
UNSECURED = UserInfo("system:unsecured", ("system:masters", "system:authenticated"))

Handler = Callable[[web.Request, UserInfo, RequestInfo], Awaitable[web.StreamResponse]]


@dataclass
class Settings:
    """What the handlers serve and how; the server fills it (see :mod:`helm_ac.apiserver.server`)."""

    store: Any  # helm_ac.kubesim.store.Store
    authenticator: Authenticator
    bookmark_interval: float = 5.0
    #: the RBAC authorizer (``--rbac``); None = every authenticated user may do everything.
    authorizer: Authorizer | None = None
    #: plain HTTP without RBAC: requests without a token act as ``system:unsecured`` (in
    #: ``system:masters``), as on kube-apiserver's old insecure port -- client-go sends a
    #: kubeconfig's token only to https servers, so Helm and kubectl come without one.
    insecure: bool = False
    #: one audit record per answered request, or None.
    audit: AuditLog | None = None
    #: a request's fault: raises the StatusError, sleeps the latency, cuts the connection; returns
    #: the seconds after which a watch stream is dropped (or None). None = no faults.
    fault: Callable[[web.Request, RequestInfo], Awaitable[float | None]] | None = None
    #: more paths beside the resources, discovery and OpenAPI: exact path -> handler (health checks).
    routes: dict[str, Handler] = field(default_factory=dict)
    #: request body decoders by content type (protobuf).
    decoders: dict[str, Callable[[bytes], Any]] = field(default_factory=dict)
    #: response encoders for clients that accept no JSON (protobuf), and their watch-event framers.
    encoders: dict[str, Callable[[Any], bytes]] = field(default_factory=dict)
    watch_framers: dict[str, Callable[[dict[str, Any]], bytes]] = field(default_factory=dict)
    #: ``pods/log`` of a Pod run for real (apiserver/pods.py): (namespace, name, query) -> its log (an
    #: async iterator of chunks with ``follow``), or None for a simulated Pod (whose log is empty)
    pod_log: Callable[[str, str, Any], bytes | AsyncIterator[bytes] | None] | None = None

    @property
    def registry(self) -> Registry:
        registry: Registry = self.store.registry
        return registry


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type=JSON, headers=headers)


def status_response(exc: StatusError) -> web.Response:
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(round(exc.retry_after))))
    return json_response(exc.status(), exc.code, headers)


def parse_target(registry: Registry, path: str) -> Target | None:
    """The resource a path names, or None (not a resource path, or nothing served there)."""
    parts = path.strip("/").split("/")  # aiohttp's request.path is already percent-decoded
    if len(parts) >= 2 and parts[0] == "api" and parts[1] == "v1":
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    watch_prefix = False
    if rest and rest[0] == "watch":
        watch_prefix, rest = True, rest[1:]
    if not rest or any(not p for p in rest):
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        return None
    res = registry.lookup(group, version, rest[0])
    if res is None or (namespace is not None and not res.namespaced):
        return None
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub is not None and (sub not in res.subresources or sub not in SERVED_SUBRESOURCES):
        return None
    return Target(res, namespace, name, sub, watch_prefix)


def truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


def verb_of(method: str, target: Target, query: Any) -> str:
    """The API verb (what RBAC and the audit log name) of a resource request."""
    if method == "GET" or method == "HEAD":
        if target.watch_prefix or truthy(query.get("watch")):
            return "watch"
        return "get" if target.name else "list"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if target.name else "deletecollection"
    raise method_not_allowed()


def media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def field_manager(request: web.Request) -> str | None:
    """``fieldManager``, else as kube-apiserver derives it: the User-Agent up to its first '/'."""
    fm = request.query.get("fieldManager")
    if fm:
        return fm
    agent = request.headers.get("User-Agent", "")
    return agent.split("/", 1)[0][:128] or None


def dry_run(values: list[str]) -> bool:
    for v in values:
        if v != "All":
            raise bad_request(f'unsupported dry run value "{v}"; expected "All"')
    return bool(values)


def accepts_json(accept: str) -> str | None:
    """The media type to answer in: JSON when acceptable, else YAML or protobuf, else None (406)."""
    if not accept.strip():
        return JSON
    kinds = [media_type(part) for part in accept.split(",")]
    for k in kinds:
        if k in (JSON, "*/*", "application/*", "application/json-seq"):
            return JSON
    for k in kinds:
        if k in (YAML, PROTOBUF):
            return k
    return None


def table_version(accept: str) -> str | None:
    """The ``meta.k8s.io`` Table version a client asks for before any plain form (``kubectl get``
    sends ``application/json;as=Table;v=v1;g=meta.k8s.io,...,application/json``), or None."""
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        params = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        if "as" not in params:
            if fields[0].lower() in (JSON, "*/*", "application/*", YAML, PROTOBUF):
                return None  # a plain form comes first
            continue
        if (fields[0].lower(), params.get("as"), params.get("g")) == (JSON, "Table", "meta.k8s.io") and \
                params.get("v") in ("v1", "v1beta1"):
            return f"meta.k8s.io/{params['v']}"
    return None


@dataclass
class _Validating:
    """The request whose object the validation admission hook checks (its first write only)."""

    resource: Resource
    mode: str
    warnings: list[str] = field(default_factory=list)


class Api:
    """The aiohttp handler of every path."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self._validating: _Validating | None = None
        if hasattr(settings.store, "add_admission"):
            settings.store.add_admission(self._admit)

    def _admit(self, op: Any) -> None:
        """Admission: the object a create, update or patch would store, checked as kube-apiserver
        checks it (``fieldValidation``) and without the fields no schema declares; writes the
        request causes (controllers') are not checked."""
        v = self._validating
        if v is None or op.obj is None or op.verb not in ("create", "update") or op.subresource:
            return
        if (op.resource.group, op.resource.plural) != (v.resource.group, v.resource.plural):
            return
        self._validating = None
        crd = self._crd(op.resource) if op.resource.crd else None
        v.warnings += validation.validate(op.resource, op.obj, field_validation=v.mode, crd=crd)
        unknown = validation.unknown_fields(op.resource, op.obj, crd=crd)
        if unknown:  # kept by Warn and Ignore, but not stored: the server drops what no schema declares
            pruned = validation.prune(op.obj, unknown)
            op.obj.clear()
            op.obj.update(pruned)

    def _crd(self, res: Resource) -> dict[str, Any] | None:
        crds = self.s.registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        if crds is None or not res.crd:
            return None
        try:
            crd: dict[str, Any] = self.s.store.get(crds, None, res.crd)
        except StatusError:
            return None
        return crd

    def _crds(self) -> list[dict[str, Any]]:
        crds = self.s.registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        return list(self.s.store.objects(crds)) if crds is not None else []

    # --- the outer shell: authentication, authorization, errors, audit ---------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        user = ANONYMOUS
        info = request_info(request.method, request.path, request.query)
        code = 500
        try:
            user = self.s.authenticator.authenticate(request.headers.get("Authorization"))
            if user is ANONYMOUS and self.s.insecure:
                user = UNSECURED
            self._authorize(user, info)
            with acting_as(user, info.name):
                resp = await self._dispatch(request, user, info)
            code = resp.status
            return resp
        except StatusError as exc:
            code = exc.code
            return status_response(exc)
        except (asyncio.CancelledError, ConnectionError):
            # the client went away: a watch it closed was answered 200 (its stream had started), as
            # kube-apiserver's audit records it; anything else has no answer (nginx's 499)
            code = 200 if request.get(watches.STARTED) else 499
            raise
        except Exception:  # noqa: BLE001 - the server answers 500 and keeps serving
            log.exception("%s %s failed", request.method, request.path_qs)
            code = 500
            return status_response(StatusError(500, "InternalError",
                                               "Internal error occurred: an unexpected error in the API server "
                                               "(see its log)"))
        finally:
            if self.s.audit is not None:
                try:
                    self.s.audit.record(info, code, user=user.name, groups=user.groups,
                                        user_agent=request.headers.get("User-Agent", ""), uri=request.path_qs)
                except Exception:  # noqa: BLE001 - a failing audit sink must not fail the request
                    log.exception("audit log write failed")

    def _authorize(self, user: UserInfo, info: RequestInfo) -> None:
        if self.s.authorizer is not None:
            self.s.authorizer.check(user, info)
        elif user is ANONYMOUS and info.resource_request:  # without RBAC: paths beside resources are public
            raise forbidden(user, info)

    # --- routing -------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request, user: UserInfo, info: RequestInfo) -> web.StreamResponse:
        path = request.path
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/")
        handler = self.s.routes.get(path)
        if handler is not None:
            if request.method not in ("GET", "HEAD"):
                raise method_not_allowed()
            return await handler(request, user, info)
        target = parse_target(self.s.registry, path)
        if target is None:
            if request.method in ("GET", "HEAD"):
                found = self._discovery(request, path)
                if found is not None:
                    return found
            raise not_found_path()
        verb = verb_of(request.method, target, request.query)
        if verb not in target.resource.verbs and not target.subresource:
            raise method_not_allowed()
        drop_after = await self.s.fault(request, info) if self.s.fault is not None else None
        return await self._resource(request, user, verb, target, drop_after)

    def _discovery(self, request: web.Request, path: str) -> web.Response | None:
        """``/version``, ``/api``, ``/apis``, group and group-version lists, OpenAPI v3 (v2: 404)."""
        reg = self.s.registry
        accept = request.headers.get("Accept", "")
        parts = path.strip("/").split("/")
        if path == "/version":
            return json_response(discovery.version_info())
        if parts[0] in ("api", "apis") and len(parts) == 1:
            if discovery.wants_aggregated(accept):
                body = discovery.aggregated_discovery(reg, core=parts[0] == "api")
                return web.Response(body=orjson.dumps(body), headers={
                    "Content-Type": discovery.AGGREGATED_CONTENT_TYPE})
            if parts[0] == "api":
                return json_response(discovery.api_versions(request.host))
            return json_response(discovery.api_group_list(reg))
        if parts[0] == "apis" and len(parts) == 2:
            return json_response(discovery.api_group(reg, parts[1]))
        if parts == ["api", "v1"]:
            return json_response(discovery.api_resource_list(reg, "", "v1"))
        if parts[0] == "apis" and len(parts) == 3:
            return json_response(discovery.api_resource_list(reg, parts[1], parts[2]))
        if parts[:2] == ["openapi", "v3"]:
            if len(parts) == 2:
                return json_response(openapi.root(reg, self._crds()))
            rest = parts[2:]
            if rest[0] == "api" and len(rest) == 2:
                group, version = "", rest[1]
            elif rest[0] == "apis" and len(rest) == 3:
                group, version = rest[1], rest[2]
            else:
                return None
            doc = openapi.served(reg, group, version, self._crds())
            return web.Response(body=doc.body, content_type=JSON,
                                headers={"Cache-Control": "public, immutable" if request.query.get("hash") == doc.hash
                                         else "no-cache, private", "Etag": f'"{doc.hash}"'})
        return None

    async def _resource(self, request: web.Request, user: UserInfo, verb: str, target: Target,
                        drop_after: float | None) -> web.StreamResponse:
        q = request.query
        store = self.s.store
        res, ns, name, sub = target.resource, target.namespace, target.name, target.subresource
        answer = accepts_json(request.headers.get("Accept", ""))
        if answer is None:
            raise StatusError(406, "NotAcceptable", "only the following media types are accepted: "
                                                     "application/json, application/yaml, "
                                                     "application/vnd.kubernetes.protobuf")
        if answer == PROTOBUF and res.crd:  # custom resources have no protobuf form
            raise StatusError(406, "NotAcceptable", "only the following media types are accepted: "
                                                     "application/json, application/yaml")
        if res.namespaced and ns is None and verb not in ("list", "watch"):
            raise method_not_allowed() if name is None else not_found_path()
        if name is None and verb in ("update", "patch"):
            raise method_not_allowed()
        as_table = table_version(request.headers.get("Accept", "")) if sub is None else None
        as_table_of: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        if as_table is not None and verb in ("get", "list", "watch"):
            include = q.get("includeObject") or "Metadata"
            if include not in tables.INCLUDE_OBJECT:
                raise bad_request(f'includeObject: Unsupported value: "{include}": supported values: '
                                  f'"None", "Metadata", "Object"')
            crd = self._crd(res) if res.crd else None

            def to_table(body: dict[str, Any]) -> dict[str, Any]:
                out = tables.table(res, body, now=store.clock.now(), include_object=include, crd=crd)
                out["apiVersion"] = as_table
                return out

            as_table_of = to_table
            if verb == "watch":
                return await self._watch(request, target, drop_after, answer, to_table)
            answer = JSON
        if verb == "watch":
            return await self._watch(request, target, drop_after, answer)
        if verb == "get":
            if sub == "log":  # simulated containers print nothing: an empty log, as kubectl logs shows one
                store.get(res, ns, name)
                text = self.s.pod_log(ns or "", name or "", q) if self.s.pod_log is not None else None
                if text is None or isinstance(text, bytes):
                    return web.Response(body=text or b"", content_type="text/plain")
                stream = web.StreamResponse(headers={"Content-Type": "text/plain"})  # follow=true
                await stream.prepare(request)
                async for chunk in text:
                    await stream.write(chunk)
                await stream.write_eof()
                return stream
            if sub == "scale":
                return self._respond(request, answer, store.get_scale(res, ns, name))
            got = store.get(res, ns, name)
            return self._respond(request, answer, as_table_of(got) if as_table_of is not None else got)
        if verb == "list":
            listed = store.list(
                res, ns, label_selector=q.get("labelSelector", ""), field_selector=q.get("fieldSelector", ""),
                limit=_int(q.get("limit"), "limit"), continue_=q.get("continue", ""))
            return self._respond(request, answer, as_table_of(listed) if as_table_of is not None else listed)
        dry = dry_run(q.getall("dryRun", []))
        validating = None
        if verb in ("create", "update", "patch") and sub is None:
            mode = q.get("fieldValidation") or "Warn"
            if mode not in validation.FIELD_VALIDATION:
                raise bad_request(f'fieldValidation parameter unsupported: "{mode}"; supported values are '
                                  f'"Ignore", "Warn", "Strict"')
            validating = _Validating(res, mode)
        try:
            return await self._write(request, user, verb, target, answer, dry, validating)
        finally:
            self._validating = None

    async def _write(self, request: web.Request, user: UserInfo, verb: str, target: Target, answer: str,
                     dry: bool, validating: _Validating | None) -> web.StreamResponse:
        q = request.query
        store = self.s.store
        res, ns, name, sub = target.resource, target.namespace, target.name, target.subresource
        common: dict[str, Any] = {"dry_run": dry, "user": user.name}
        warnings: list[str] = validating.warnings if validating is not None else []
        if verb == "create":
            if name is not None and sub == "token" and res.plural == "serviceaccounts" and not res.group:
                body = await self._body(request) if (await request.read()).strip() else {}
                return self._respond(request, answer, self.s.authenticator.token_request(ns or "", name, body), 201)
            if name is not None:
                raise method_not_allowed()
            if (res.group, res.plural) in rbac.REVIEWS:  # kubectl auth can-i / whoami: answered, not stored
                review = rbac.create_review(res.group, res.plural, await self._body(request), requester=user,
                                            authorizer=self.s.authorizer, authenticator=self.s.authenticator,
                                            namespace=ns)
                return self._respond(request, answer, review, 201)
            obj = await self._body(request)
            self._validating = validating  # reading the body awaited: another request may have run
            out = store.create(res, ns, obj, field_manager=field_manager(request), **common)
            return self._respond(request, answer, out, 201, warnings)
        if verb == "update":
            obj = await self._body(request)
            self._validating = validating
            _check_name(obj, name or "")
            out = store.update(res, ns, name, obj, subresource=sub, field_manager=field_manager(request),
                               **common)
            return self._respond(request, answer, out, 200, warnings)
        if verb == "patch":
            ptype = PATCH_TYPES.get(media_type(request.content_type))
            if ptype is None:
                raise StatusError(415, "UnsupportedMediaType",
                                  f"the body of the request was in an unknown format - accepted media types "
                                  f"include: {', '.join(PATCH_TYPES)}")
            given = q.get("force")
            force = None if given is None else truthy(given)
            manager = field_manager(request) if ptype != "apply" else q.get("fieldManager")
            check_patch_options(ptype, force=force, field_manager=manager)  # before the body, as real
            body = _parse_patch(await request.read(), ptype)
            if ptype == "apply" and self.s.authorizer is not None and sub is None and store.find(res, ns, name) is None:
                # an apply that creates is authorized as a create of that name too (kube-apiserver:
                # handlers/patch.go, createAuthorizerAttributes)
                info = request_info(request.method, request.path, request.query)
                self.s.authorizer.check(user, dataclasses.replace(info, verb="create"))
            self._validating = validating
            out, created = store.patch(res, ns, name, ptype, body, subresource=sub, force=force,
                                       field_manager=manager, **common)
            return self._respond(request, answer, out, 201 if created else 200, warnings)
        if verb == "delete":
            opts = await self._delete_options(request)
            out = store.delete(res, ns, name, propagation=opts.get("propagationPolicy"),
                               preconditions=opts.get("preconditions"), grace_period=opts.get("gracePeriodSeconds"),
                               dry_run=dry or bool(opts.get("dryRun")), user=user.name)
            return self._respond(request, answer, _deleted(res, out))
        if verb == "deletecollection":
            opts = await self._delete_options(request)
            out = store.delete_collection(res, ns, label_selector=q.get("labelSelector", ""),
                                          field_selector=q.get("fieldSelector", ""),
                                          propagation=opts.get("propagationPolicy"),
                                          grace_period=opts.get("gracePeriodSeconds"),
                                          dry_run=dry or bool(opts.get("dryRun")), user=user.name)
            return self._respond(request, answer, out)
        raise method_not_allowed()

    async def _watch(self, request: web.Request, target: Target, drop_after: float | None, answer: str,
                     as_table: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> web.StreamResponse:
        q = request.query
        fs = q.get("fieldSelector", "")
        if target.name:  # GET .../pods/<name>?watch=true: the object's own events
            fs = ",".join(x for x in (fs, f"metadata.name={target.name}") if x)
        timeout = DEFAULT_WATCH_TIMEOUT
        if q.get("timeoutSeconds"):
            timeout = float(_int(q.get("timeoutSeconds"), "timeoutSeconds"))
        bookmarks = truthy(q.get("allowWatchBookmarks"))
        store = self.s.store

        def open_watch(sink: watches.Sink) -> watches.Watch:
            return store.watch(target.resource, target.namespace, sink,
                               resource_version=q.get("resourceVersion", ""),
                               label_selector=q.get("labelSelector", ""), field_selector=fs,
                               send_initial_events=truthy(q.get("sendInitialEvents")),
                               allow_bookmarks=bookmarks)

        if as_table is not None:  # kubectl get -w: each event's object as a Table of its one row
            def table_frame(event: dict[str, Any]) -> bytes:
                obj = event.get("object")
                if event.get("type") in ("ADDED", "MODIFIED", "DELETED") and isinstance(obj, dict):
                    event = {"type": event["type"], "object": as_table(obj)}
                elif event.get("type") == "BOOKMARK" and isinstance(obj, dict):
                    event = {"type": "BOOKMARK", "object": {
                        **as_table({"items": [], "metadata": obj.get("metadata") or {}}), "rows": []}}
                return orjson.dumps(event) + b"\n"

            return await watches.stream(request, open_watch, timeout=timeout, bookmarks=bookmarks,
                                        bookmark_interval=self.s.bookmark_interval, drop_after=drop_after,
                                        frame=table_frame)
        framer = self.s.watch_framers.get(answer)  # a client taking no JSON (watches have no YAML: JSON then)
        if framer is not None:
            return await watches.stream(request, open_watch, timeout=timeout, bookmarks=bookmarks,
                                        bookmark_interval=self.s.bookmark_interval, drop_after=drop_after,
                                        frame=framer, content_type=f"{answer};stream=watch")
        return await watches.stream(request, open_watch, timeout=timeout, bookmarks=bookmarks,
                                    bookmark_interval=self.s.bookmark_interval, drop_after=drop_after)

    # --- bodies -----------------------------------------------------------------------------------
    async def _body(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        ctype = media_type(request.content_type)
        if ctype in self.s.decoders:
            obj = self.s.decoders[ctype](raw)
        elif ctype in (JSON, "", "application/octet-stream"):
            obj = _json(raw)
        elif ctype == YAML:
            obj = _yaml(raw)
        else:
            accepted = ", ".join([JSON, YAML, *self.s.decoders])
            raise StatusError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                                                           f"accepted media types include: {accepted}")
        if not isinstance(obj, dict):
            raise bad_request("the body of the request must be a JSON object (a Kubernetes object)")
        return obj

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        """DeleteOptions from the body (JSON or protobuf) and the query (the query wins)."""
        raw = await request.read()
        opts: dict[str, Any] = {}
        if raw.strip():
            ctype = media_type(request.content_type)
            if ctype in self.s.decoders:
                body = self.s.decoders[ctype](raw)
            else:
                body = _json(raw)
            if not isinstance(body, dict):
                raise bad_request("the body of a DELETE must be a DeleteOptions object")
            opts.update(body)
        q = request.query
        if q.get("propagationPolicy"):
            opts["propagationPolicy"] = q["propagationPolicy"]
        if q.get("gracePeriodSeconds"):
            opts["gracePeriodSeconds"] = _int(q["gracePeriodSeconds"], "gracePeriodSeconds")
        if q.getall("dryRun", []):
            opts["dryRun"] = q.getall("dryRun")
        if "orphanDependents" in q:
            opts["orphanDependents"] = truthy(q["orphanDependents"])
        if opts.get("orphanDependents") is not None and not opts.get("propagationPolicy"):
            opts["propagationPolicy"] = "Orphan" if opts["orphanDependents"] else "Background"
        policy = opts.get("propagationPolicy")
        if policy is not None and policy not in ("Orphan", "Background", "Foreground"):
            raise invalid("DeleteOptions", "", [{"reason": "FieldValueNotSupported", "field": "propagationPolicy",
                                                 "message": f'Unsupported value: "{policy}": supported values: '
                                                            f'"Foreground", "Background", "Orphan"'}],
                          group="meta.k8s.io")
        dry_run(list(opts.get("dryRun") or []))
        return opts

    def _respond(self, request: web.Request, answer: str, body: Any, status: int = 200,
                 warnings: list[str] | None = None) -> web.Response:
        headers: Any = None
        if warnings:
            from multidict import CIMultiDict

            headers = CIMultiDict()
            for w in warnings:
                headers.add("Warning", '299 - "' + w.replace('"', '\\"') + '"')
        if answer == JSON:
            return web.Response(body=orjson.dumps(body), status=status, content_type=JSON, headers=headers)
        if answer == YAML:
            return web.Response(text=yaml.safe_dump(body, sort_keys=False), status=status, content_type=YAML,
                                headers=headers)
        encoder = self.s.encoders.get(answer)
        if encoder is None:
            raise StatusError(406, "NotAcceptable", "only the following media types are accepted: "
                                                     "application/json, application/yaml")
        return web.Response(body=encoder(body), status=status, content_type=answer, headers=headers)


def _deleted(res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    """What DELETE answers: the object while its deletion is pending (finalizers, a Namespace's
    spec.finalizers, a grace period), else a Success Status (kube-apiserver's generic registry)."""
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return obj
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": meta.get("name", ""), "group": res.group, "kind": res.plural,
                        "uid": meta.get("uid", "")}}


def _check_name(obj: dict[str, Any], name: str) -> None:
    got = (obj.get("metadata") or {}).get("name")
    if got is not None and got != name:
        raise bad_request(f"the name of the object ({got}) does not match the name on the URL ({name})")


def _int(value: str | None, what: str) -> int:
    if value is None or value == "":
        return 0
    try:
        n = int(value)
    except ValueError:
        raise bad_request(f'{what}: invalid value "{value}": must be an integer') from None
    if n < 0:
        raise bad_request(f'{what}: invalid value "{value}": must be 0 or greater')
    return n


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"couldn't get version/kind; json parse error: {exc}") from None


def _yaml(raw: bytes) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise bad_request(f"error converting YAML to JSON: {exc}") from None


def _parse_patch(raw: bytes, ptype: str) -> Any:
    body = _yaml(raw) if ptype == "apply" else _json(raw)
    if ptype == "json" and not isinstance(body, list):
        raise bad_request("the JSON patch must be a list of operations")
    if ptype != "json" and not isinstance(body, dict):
        raise bad_request(f"the {ptype} patch must be an object")
    return body


def make_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", Api(settings).handle)
    return app
