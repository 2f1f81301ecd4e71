"""The one seam between the engine and a Kubernetes API: :class:`Cluster`.

The seam is asynchronous without being asyncio: the engine *sends* requests and is *told* the
outcome later, through callbacks, so that it stays a pure reactor (no I/O, no threads, no event
loop of its own) and every face drives it its own way (docs/engine.md):

* :meth:`Cluster.call` starts one API call (:class:`Apply`, :class:`Get`, :class:`Delete`) and
  returns at once; ``reply`` gets a :class:`Reply` once the call is done: the object, or the
  :class:`ApiError` (``code`` 0: the connection failed).  A face may answer before ``call``
  returns (a cluster that answers at once): the engine queues every answer, so nothing recurses.
* :meth:`Cluster.watch` opens one watch on a :class:`Stream` (one kind in one namespace, or a
  cluster-scoped kind), from a ``resource_version``: ``""`` lists first (the objects that exist,
  each as an ``ADDED`` event, then :class:`Synced`), a version resumes after it.  The sink gets
  :class:`WatchEvent` (``BOOKMARK`` events only move the version on) and, when the stream ends,
  :class:`WatchClosed`: without an error it was dropped (resume from the last version), with
  ``410 Gone`` the version is too old (list again).

Faces: :class:`~helm_ac.engine.simulated.SimulatedCluster` (the kubesim store in virtual time),
a synchronous stand-in in the tests, and :class:`helm_ac.kube.cluster.KubeCluster` (the official
``kubernetes`` client, in the ``kube`` layer).  Readiness is computed by the engine from the watched objects with
:func:`helm_ac.engine.readiness.compute`; the pods a Service selects come from a Pod stream.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Protocol, Union

from helm_ac.kinds import ObjectKey

#: HTTP codes worth trying again: throttled, server trouble, the connection failed (0).
TRANSIENT_CODES = frozenset({0, 429, 500, 502, 503, 504})


class ApiError(Exception):
    """The API refused a request (``code`` as HTTP: 404, 409, 422, 500, ...; 0: no connection).
    ``retry_after``: the seconds the server asked for (``Retry-After``), if it did."""

    def __init__(self, code: int, message: str, *, retry_after: float | None = None, tries: int = 1) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.tries = tries  # how many times the call was sent (transient refusals tried again)

    @property
    def transient(self) -> bool:
        """Worth retrying the same call: 429, 5xx, a failed connection."""
        return self.code in TRANSIENT_CODES

    @property
    def immutable(self) -> bool:
        """An update refused because it changes a field that never changes (422, kube-apiserver's
        ``field is immutable``)."""
        return self.code == 422 and "field is immutable" in self.message


@dataclass(frozen=True)
class Apply:
    """Create or update the object (server-side apply on a real API)."""

    key: ObjectKey
    obj: dict[str, Any]


@dataclass(frozen=True)
class Get:
    """Read the object; ``Reply.obj`` is None when it does not exist."""

    key: ObjectKey


@dataclass(frozen=True)
class Delete:
    """Delete the object; absent is fine.  With ``uid``, only that incarnation (a precondition:
    an object re-created meanwhile is left alone)."""

    key: ObjectKey
    uid: str | None = None


Request = Union[Apply, Get, Delete]


@dataclass(frozen=True)
class Reply:
    """A call's outcome: ``error`` None is success.  ``obj`` (Apply, Get): the object as stored,
    with its uid; an Apply may answer None when the object is accepted but not visible yet (the
    simulated cluster does so for kinds it makes appear after their duration)."""

    obj: dict[str, Any] | None = None
    error: ApiError | None = None


class Stream(NamedTuple):
    """What one watch covers: a kind (by apiVersion) in a namespace (None: cluster-scoped)."""

    api_version: str
    kind: str
    namespace: str | None


class WatchEvent(NamedTuple):
    """An object was added, modified or deleted (``BOOKMARK``: only ``resource_version`` counts)."""

    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK
    key: ObjectKey | None
    obj: dict[str, Any]
    resource_version: str = ""


@dataclass(frozen=True)
class Synced:
    """Every object that existed when the watch started (listed) has been sent."""

    resource_version: str = ""


@dataclass(frozen=True)
class WatchClosed:
    """The stream ended: dropped (``error`` None: resume from the last version), ``410`` (the
    version is gone: list again), or another error (try again later)."""

    error: ApiError | None = None


WatchMessage = Union[WatchEvent, Synced, WatchClosed]


class WatchHandle(Protocol):
    def stop(self) -> None:
        """No more messages for this watch."""


class Cluster(Protocol):
    """What the engine needs from Kubernetes (see the module docstring)."""

    def call(self, request: Request, reply: Callable[[Reply], None]) -> None:
        """Start ``request``; ``reply`` is called once with its outcome (maybe before this returns)."""

    def watch(self, stream: Stream, resource_version: str, sink: Callable[[WatchMessage], None]) -> WatchHandle:
        """Watch ``stream`` from ``resource_version`` (``""``: list first, then :class:`Synced`)."""


def uid_of(obj: dict[str, Any] | None) -> str | None:
    """The object's uid (None for an object not stored yet)."""
    if not obj:
        return None
    uid = (obj.get("metadata") or {}).get("uid")
    return str(uid) if uid else None


def version_of(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")
