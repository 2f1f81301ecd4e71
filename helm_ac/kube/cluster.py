"""The engine's Cluster seam (:mod:`helm_ac.engine.cluster`) on a real API server, through the
official ``kubernetes`` client.

The engine is single-threaded and runs on an asyncio loop (:class:`~helm_ac.kube.aio.AsyncioClock`,
:func:`~helm_ac.kube.aio.drive`); the client blocks.  So every call runs in a thread pool (as many
threads as the engine's concurrency: one call per object in flight at a time) and every watch in a
thread of its own; their outcomes are handed to the loop with ``call_soon_threadsafe``, so replies
and watch messages reach the engine on the loop's thread, one at a time.

* ``Apply``: server-side apply, field manager ``helm-ac``.  Conflicts are not forced by default,
  as Helm 4 does (``--force-conflicts`` is its opt-in, ``force_conflicts`` here): a field another
  manager owns (``kubectl edit``, an autoscaler's replicas, an object Helm created) is a 409 that
  fails the attempt with the server's message naming that manager, rather than being taken silently.
* ``Get``; ``Delete`` with the uid as precondition and ``propagationPolicy: Foreground``: the
  object is gone (its DELETED event comes) only once its dependents are, so a retry's re-create
  never overlaps the old attempt's Pods (batch/v1 Jobs would otherwise orphan theirs).
* ``watch``: LIST (every object as ``ADDED``, then ``Synced`` at the list's resourceVersion), then
  WATCH from that version with bookmarks; from a given version, WATCH at once.  A stream the
  server ends or the connection drops ends with ``WatchClosed(None)``; ``410 Gone`` (at the start
  or as an ERROR event) with ``WatchClosed(ApiError(410))``; other refusals with their error.
* Errors: :func:`api_error`: the HTTP status and the Status message, ``Retry-After`` (429, 503),
  code 0 for a failed connection; a request the client itself cannot send (a body it cannot
  serialize) is a permanent 400 naming the object.
* Resources (apiVersion + kind → plural, namespaced) from the server's discovery, through the
  client's ``DynamicClient``; a kind it does not know refreshes discovery once (a CRD created
  during the run), then answers 404.
"""
from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError
from kubernetes.dynamic.resource import Resource
from kubernetes.watch.watch import iter_resp_lines

from helm_ac.engine.cluster import (
    ApiError,
    Apply,
    Delete,
    Get,
    Reply,
    Request,
    Stream,
    Synced,
    WatchClosed,
    WatchEvent,
    WatchMessage,
)
from helm_ac.kinds import ObjectKey

log = logging.getLogger("helm_ac.kube")
T = TypeVar("T")

FIELD_MANAGER = "helm-ac"
DEFAULT_WORKERS = 16
LIST_PAGE = 500  # objects per LIST page (as kubectl and client-go's reflector)


#: a blocking call's tries on transient refusals (:func:`retrying`), the first back-off and its cap (s)
TRIES, BACKOFF, BACKOFF_CAP = 6, 0.5, 8.0


def retrying(fn: Callable[[], T], *, tries: int = TRIES, backoff: float = BACKOFF, cap: float = BACKOFF_CAP,
             sleep: Callable[[float], None] = time.sleep) -> T:
    """``fn()``, a blocking client call, sent again on a transient refusal (429, 5xx, no answer):
    after ``Retry-After`` when the server gave one, else ``backoff`` seconds doubled up to ``cap``,
    ``tries`` times in all. Any other refusal, or the last, is raised as :class:`ApiError` (its
    ``tries``: how many were sent)."""
    for attempt in range(1, tries + 1):
        try:
            return fn()
        except (ApiError, ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            err = exc if isinstance(exc, ApiError) else api_error(exc)
            if err.transient and attempt < tries:
                sleep(err.retry_after if err.retry_after is not None else min(backoff * 2 ** (attempt - 1), cap))
                continue
            err.tries = attempt
            raise err from None
    raise AssertionError("unreachable")


def api_error(exc: BaseException) -> ApiError:
    """The client's exception as the seam's :class:`ApiError` (code 0: no answer from the server)."""
    if isinstance(exc, ApiException) and exc.status:
        message = str(exc.reason or "")
        retry_after: float | None = None
        details: dict[str, Any] = {}
        try:
            body = json.loads(exc.body) if exc.body else {}
            if isinstance(body, dict):
                message = str(body.get("message") or message)
                details = body.get("details") or {}
        except (TypeError, ValueError):
            pass
        header = (exc.headers or {}).get("Retry-After")
        try:
            if header is not None:
                retry_after = float(header)
            elif details.get("retryAfterSeconds") is not None:
                retry_after = float(details["retryAfterSeconds"])
        except (TypeError, ValueError):
            retry_after = None
        return ApiError(int(exc.status), message, retry_after=retry_after)
    return ApiError(0, f"{type(exc).__name__}: {exc}")


def _to_dict(obj: Any) -> dict[str, Any]:
    out = obj.to_dict() if hasattr(obj, "to_dict") else obj
    assert isinstance(out, dict)
    return out


class KubeCluster:
    """The :class:`~helm_ac.engine.cluster.Cluster` seam over ``api`` (a configured
    ``kubernetes.client.ApiClient``, :func:`helm_ac.kube.config.connect`), answering on ``loop``
    (the loop the engine runs on).  :meth:`close` stops the watches and the threads."""

    def __init__(self, api: client.ApiClient, loop: asyncio.AbstractEventLoop, *, concurrency: int | None = None,
                 force_conflicts: bool = False, field_manager: str = FIELD_MANAGER) -> None:
        self.api, self.loop = api, loop
        self.force_conflicts, self.field_manager = force_conflicts, field_manager
        self.list_page = LIST_PAGE
        self.pool = ThreadPoolExecutor(max_workers=concurrency or DEFAULT_WORKERS, thread_name_prefix="helm-ac-kube")
        self.calls: Counter[str] = Counter(dict.fromkeys(("apply", "get", "delete", "watch"), 0))
        self.watches: set[_Watch] = set()
        self._dyn: DynamicClient | None = None
        self._lock = threading.Lock()
        self._tmp = tempfile.TemporaryDirectory(prefix="helm-ac-discovery-")
        self._closed = False

    # -- the seam

    def call(self, request: Request, reply: Callable[[Reply], None]) -> None:
        """Run the request in the pool; the reply is handed to the loop."""
        self.calls[type(request).__name__.lower()] += 1
        future = self.pool.submit(self._answer, request)
        future.add_done_callback(lambda f: self._hand(reply, self._outcome(f)))

    def watch(self, stream: Stream, resource_version: str, sink: Callable[[WatchMessage], None], *,
              label_selector: str | None = None) -> "_Watch":
        """The seam's watch; ``label_selector`` (not part of the seam: the controller's watch of its
        release's Definitions) narrows the LIST and the WATCH to the objects it selects."""
        self.calls["watch"] += 1
        w = _Watch(self, stream, resource_version, sink, label_selector)
        self.watches.add(w)
        w.start()
        return w

    def close(self) -> None:
        """Stop every watch and the pool; later answers are dropped."""
        self._closed = True
        for w in list(self.watches):
            w.stop()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self._tmp.cleanup()

    # -- the loop's side

    def _hand(self, fn: Callable[[Any], None], arg: Any) -> None:
        if self._closed:
            return
        try:
            self.loop.call_soon_threadsafe(fn, arg)
        except RuntimeError:  # the loop is closed: nobody listens any more
            pass

    @staticmethod
    def _outcome(f: "Future[Reply]") -> Reply:
        if f.cancelled():
            return Reply(error=ApiError(0, "cancelled"))
        exc = f.exception()
        return Reply(error=api_error(exc)) if exc is not None else f.result()

    # -- the threads' side

    @property
    def dynamic(self) -> DynamicClient:
        """The discovery-backed client (made on first use: discovery asks the server)."""
        with self._lock:
            if self._dyn is None:
                self._dyn = DynamicClient(self.api, cache_file=str(Path(self._tmp.name) / "discovery.json"))
            return self._dyn

    def resource(self, api_version: str, kind: str) -> Resource:
        """The kind's resource from discovery (refreshed once on a miss: a CRD created meanwhile).
        Raises ApiError 404 when the server does not serve it.

        Only the kind's own group version is asked for: the client's search with no prefix (a core
        ``v1``) would fetch the ``v1`` of every API group the server has."""
        dyn = self.dynamic
        where = _prefix(api_version)
        with self._lock:
            try:
                res = dyn.resources.get(kind=kind, **where)
            except ResourceNotFoundError:
                try:
                    dyn.resources.invalidate_cache()
                    res = dyn.resources.get(kind=kind, **where)
                except ResourceNotFoundError:
                    raise ApiError(404, f"the server does not serve {kind} in {api_version} "
                                        f"(is its CustomResourceDefinition installed and established?)") from None
        return res

    def list_all(self, api_version: str, kind: str, namespace: str | None,
                 label_selector: str = "") -> list[dict[str, Any]]:
        """Every object of a kind (in ``namespace``, matching ``label_selector``), as plain dicts
        without ``metadata.managedFields`` (blocking: call it from a thread). Read in pages of
        :attr:`list_page` as one snapshot, each page parsed straight from JSON and trimmed as it
        comes (as client-go informers' ``TransformStripManagedFields``): a list of 10,000
        Definitions turned into the client's ``ResourceInstance`` (then ``to_dict``) held three
        copies at once, managedFields included."""
        out: list[dict[str, Any]] = []
        for items, _ in self.list_pages(api_version, kind, namespace, label_selector):
            out.extend(items)
        return out

    def list_pages(self, api_version: str, kind: str, namespace: str | None,
                   label_selector: str = "") -> Iterator[tuple[list[dict[str, Any]], str]]:
        """:meth:`list_all` a page at a time: each page's objects (plain dicts without
        ``managedFields``) and the list's resourceVersion (every page's is the first's), so a caller
        keeps only what it needs of each page (blocking: iterate it in a thread)."""
        res = self.resource(api_version, kind)
        ns = namespace if res.namespaced else None
        token: str | None = None
        while True:
            raw = self.dynamic.get(res, namespace=ns, label_selector=label_selector or None, limit=self.list_page,
                                   _continue=token, serialize=False)
            page = json.loads(raw.data)
            meta = page.get("metadata") or {}
            yield [_trim(item) for item in page.get("items") or []], str(meta.get("resourceVersion") or "")
            token = meta.get("continue") or None
            if not token:
                return

    def _answer(self, request: Request) -> Reply:
        try:
            return self._do(request)
        except ApiError as e:
            return Reply(error=e)
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as e:
            return Reply(error=api_error(e))
        except Exception as e:  # noqa: BLE001 - the client refused to send it: not a lost connection
            log.debug("%s of %s not sent", type(request).__name__, request.key, exc_info=True)
            return Reply(error=ApiError(400, f"{request.key.kind} {request.key.namespace or ''}"
                                             f"{'/' if request.key.namespace else ''}{request.key.name}: "
                                             f"the client cannot send it: {type(e).__name__}: {e}"))

    def _do(self, request: Request) -> Reply:
        key = request.key
        if isinstance(request, Apply):
            body = request.obj
            res = self.resource(str(body.get("apiVersion") or "v1"), key.kind)
            ns = key.namespace if res.namespaced else None
            meta = dict(body.get("metadata") or {})
            if ns:
                meta["namespace"] = ns
            else:
                meta.pop("namespace", None)
            body = {**body, "metadata": meta}
            out = self.dynamic.server_side_apply(res, body=body, name=key.name, namespace=ns,
                                                 field_manager=self.field_manager,
                                                 force_conflicts=self.force_conflicts or None)
            return Reply(_to_dict(out))
        res = self._resource_of(key)
        ns = key.namespace if res.namespaced else None
        if isinstance(request, Get):
            try:
                return Reply(_to_dict(self.dynamic.get(res, name=key.name, namespace=ns)))
            except ApiException as e:
                if e.status == 404:
                    return Reply()
                raise
        assert isinstance(request, Delete)
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground"}
        if request.uid:
            options["preconditions"] = {"uid": request.uid}
        self.dynamic.delete(res, name=key.name, namespace=ns, body=options)
        return Reply()

    def _resource_of(self, key: ObjectKey) -> Resource:
        """A Get or Delete names only the key: the group's preferred version serves it."""
        dyn = self.dynamic
        with self._lock:
            for attempt in range(2):
                found = dyn.resources.search(prefix="apis" if key.group else "api", group=key.group or None,
                                             kind=key.kind)
                found = [r for r in found if not getattr(r, "subresource", None) and "/" not in str(r.name)]
                if found:
                    preferred = [r for r in found if getattr(r, "preferred", False)]
                    return (preferred or found)[0]
                if attempt == 0:
                    dyn.resources.invalidate_cache()
        raise ApiError(404, f"the server does not serve {key.kind} in group {key.group or 'core'!r}")


def _trim(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without ``metadata.managedFields``, which nothing here reads (client-go informers'
    ``TransformStripManagedFields``): often the biggest part of a small object."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


def _prefix(api_version: str) -> dict[str, str]:
    """The discovery search terms of ``api_version`` (``v1``, ``apps/v1``) that keep a lookup inside
    its own group version."""
    group, _, version = api_version.rpartition("/")
    return {"prefix": "apis", "group": group, "api_version": version} if group else \
        {"prefix": "api", "api_version": version}


class _Watch:
    """LIST then WATCH of one stream, in a thread; :meth:`stop` ends it from any thread."""

    def __init__(self, cluster: KubeCluster, stream: Stream, resource_version: str,
                 sink: Callable[[WatchMessage], None], label_selector: str | None = None) -> None:
        self.cluster, self.stream, self.version, self.sink = cluster, stream, resource_version, sink
        self.label_selector = label_selector
        self.stopped = threading.Event()
        self._response: Any = None
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name=f"helm-ac-watch-{stream.kind}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.cluster.watches.discard(self)
        with self._lock:
            resp = self._response
        if resp is not None:
            try:
                resp.shutdown()  # unblocks the reading thread (urllib3 2.3+)
            except Exception:  # noqa: BLE001 - the stream is going away anyway
                pass

    # on the loop
    def _deliver(self, msg: WatchMessage) -> None:
        if self.stopped.is_set():
            return
        if isinstance(msg, WatchClosed):
            self.stopped.set()
            self.cluster.watches.discard(self)
        self.sink(msg)

    # in the thread
    def _send(self, msg: WatchMessage) -> None:
        self.cluster._hand(self._deliver, msg)

    def _key(self, res: Resource, obj: dict[str, Any]) -> ObjectKey:
        meta = obj.get("metadata") or {}
        return ObjectKey(res.group, res.kind, (meta.get("namespace") or None) if res.namespaced else None,
                         str(meta.get("name") or ""))

    def _run(self) -> None:
        try:
            self._watch()
        except ApiError as e:
            self._send(WatchClosed(e))
        except (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError) as e:
            if self.stopped.is_set():
                return
            self._send(WatchClosed(api_error(e)))  # refused, or no connection: the engine backs off
        except Exception:  # noqa: BLE001 - never die silently: the engine must hear the stream ended
            log.exception("watch of %s failed", self.stream)
            if not self.stopped.is_set():
                self._send(WatchClosed(None))
        finally:
            with self._lock:
                resp, self._response = self._response, None
            if resp is not None:
                resp.close()  # closes the connection: the server ends its side, the pool never reuses it

    def _watch(self) -> None:
        cluster, stream = self.cluster, self.stream
        res = cluster.resource(stream.api_version, stream.kind)
        ns = stream.namespace if res.namespaced else None
        dyn = cluster.dynamic
        version = self.version
        if not version:  # LIST in pages (one snapshot: every page is at the first one's version)
            token: str | None = None
            while True:
                raw = dyn.get(res, namespace=ns, limit=cluster.list_page, _continue=token, serialize=False,
                              label_selector=self.label_selector)
                page = json.loads(raw.data)
                for item in page.get("items") or []:
                    _trim(item)
                    item.setdefault("apiVersion", res.group_version)
                    item.setdefault("kind", res.kind)
                    if self.stopped.is_set():
                        return
                    self._send(WatchEvent("ADDED", self._key(res, item), item,
                                          str((item.get("metadata") or {}).get("resourceVersion") or "")))
                meta = page.get("metadata") or {}
                version = str(meta.get("resourceVersion") or version)
                token = meta.get("continue") or None
                if not token:
                    break
            self._send(Synced(version))
        if self.stopped.is_set():
            return
        resp = dyn.request("get", res.path(namespace=ns), watch=True, resource_version=version,
                           allow_watch_bookmarks=True, serialize=False, label_selector=self.label_selector)
        with self._lock:
            self._response = resp
        if self.stopped.is_set():
            return
        try:
            for line in iter_resp_lines(resp):
                if self.stopped.is_set():
                    return
                event = json.loads(line)
                type_, obj = event.get("type"), _trim(event.get("object") or {})
                if type_ == "ERROR":
                    code = int(obj.get("code") or 500)
                    self._send(WatchClosed(ApiError(code, str(obj.get("message") or obj.get("reason") or ""))))
                    return
                rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
                if type_ == "BOOKMARK":
                    self._send(WatchEvent("BOOKMARK", None, obj, rv))
                else:
                    self._send(WatchEvent(str(type_), self._key(res, obj), obj, rv))
        except (urllib3.exceptions.HTTPError, OSError, ValueError):
            if not self.stopped.is_set():
                self._send(WatchClosed(None))  # the stream broke: dropped
            return
        if not self.stopped.is_set():
            self._send(WatchClosed(None))  # the server ended it
