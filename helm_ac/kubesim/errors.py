"""A request the API refuses, as a Kubernetes ``Status`` object (reason and HTTP code together)."""
from __future__ import annotations

from typing import Any


class StatusError(Exception):
    """``code`` is the HTTP status, ``reason`` the Status reason clients test (``NotFound``,
    ``AlreadyExists``, ``Conflict``, ``Invalid``, ``Forbidden``, ``Gone``, ``BadRequest``,
    ``MethodNotAllowed``, ``UnsupportedMediaType``, ``TooManyRequests``, ``InternalError``,
    ``ServiceUnavailable``, ``Expired``)."""

    def __init__(self, code: int, reason: str, message: str, *, details: dict[str, Any] | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.retry_after = retry_after

    def status(self) -> dict[str, Any]:
        """The ``Status`` body a real API server answers with."""
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def not_found(resource: str, name: str, group: str = "") -> StatusError:
    qualified = f"{resource}.{group}" if group else resource
    return StatusError(404, "NotFound", f'{qualified} "{name}" not found',
                       details={"name": name, "group": group, "kind": resource})


def already_exists(resource: str, name: str, group: str = "") -> StatusError:
    qualified = f"{resource}.{group}" if group else resource
    return StatusError(409, "AlreadyExists", f'{qualified} "{name}" already exists',
                       details={"name": name, "group": group, "kind": resource})


def conflict(resource: str, name: str, why: str, group: str = "") -> StatusError:
    qualified = f"{resource}.{group}" if group else resource
    return StatusError(409, "Conflict", f'Operation cannot be fulfilled on {qualified} "{name}": {why}',
                       details={"name": name, "group": group, "kind": resource})


def invalid(kind: str, name: str, causes: list[dict[str, str]], group: str = "") -> StatusError:
    """``causes``: ``{"reason": "FieldValueInvalid", "message": ..., "field": "spec.replicas"}``."""
    text = "; ".join(f"{c.get('field', '')}: {c.get('message', '')}" for c in causes)
    gk = f"{kind}.{group}" if group else kind
    return StatusError(422, "Invalid", f'{gk} "{name}" is invalid: {text}',
                       details={"name": name, "group": group, "kind": kind, "causes": causes})


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)
