"""The one seam between the engine and a Kubernetes API: :class:`Cluster`.

Two implementations: :class:`~helm_ac.engine.simulated.SimulatedCluster` (in memory, virtual
time) and, with the real-cluster work, one over the ``kubernetes`` client.  The engine only
applies objects, reads them, deletes them and listens to changes; readiness is computed by the
engine from the live objects with :func:`helm_ac.engine.readiness.compute`; the pods a Service selects
come from the same watch (no LIST calls).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from helm_ac.kinds import ObjectKey


class ApiError(Exception):
    """The API refused a request (``code`` as HTTP: 404, 409, 422, 500, ...)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class WatchEvent:
    """An object was added, modified or deleted."""

    type: str  # ADDED, MODIFIED, DELETED
    key: ObjectKey
    obj: dict[str, Any]


class Cluster(Protocol):
    """What the engine needs from Kubernetes."""

    def apply(self, key: ObjectKey, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or update the object; return it as stored.  Raises :class:`ApiError`."""

    def get(self, key: ObjectKey) -> dict[str, Any] | None:
        """The live object, or None."""

    def delete(self, key: ObjectKey) -> None:
        """Delete the object (absent is fine)."""

    def watch(self, callback: Callable[[WatchEvent], None]) -> None:
        """Call ``callback`` for every change from now on."""
