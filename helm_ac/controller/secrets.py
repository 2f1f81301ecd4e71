"""Secrets stay secret (``docs/controller.md``, *Secrets stay secret*): what the controller writes
never quotes a Secret's content.

* :func:`redact_secret_error` is **the one place** where an API error about a Secret is reduced to
  what is safe to write (its code, the kind of refusal, the field paths): an API server's 422 (or
  an admission webhook's refusal) may echo a value, and the engine's message goes into the
  Definition's status (readable by whoever reads Definitions) and the log.
* :class:`SecretsCluster` puts the engine's :class:`~helm_ac.engine.cluster.Cluster` seam through
  it: every error answering an apply of a Secret is redacted before the engine sees it, so no
  message built from it (status, log line, summary) can quote the Secret; and the apply of a
  Secret whose payload Secret could not be used fails at once with the payload's name (the
  object's status says Failed, naming it; the rest of the graph runs).
"""
from __future__ import annotations

import re
from typing import Callable, Mapping

from helm_ac.engine.cluster import ApiError, Apply, Cluster, Reply, Request, Stream, WatchHandle, WatchMessage
from helm_ac.kinds import ObjectKey

#: a Go-quoted string (``Invalid value: "the value"``, strconv.Quote): removed before anything is read
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
#: the error types of apimachinery's field.Error (``<path>: <type>: <detail>``)
_TYPES = ("Invalid value", "Required value", "Unsupported value", "Duplicate value", "Forbidden",
          "Too long", "Too many", "Not found", "Internal error")
#: a field path (``data[my-key]``, ``metadata.labels``) right before one of those types
_FIELD = re.compile(r"((?:[A-Za-z0-9_$.\-]|\[[^\]\"]*\])+): (" + "|".join(_TYPES) + ")")
#: messages known to quote nothing of the object (anchored: the whole message has this shape)
_SAFE = (
    # RBAC's refusal
    re.compile(r'secrets "[^"\\]*" is forbidden: User "[^"\\]*" cannot [a-z]+ resource "secrets" in API group ""'
               r'( in the namespace "[^"\\]*")?'),
    # server-side apply's conflicts: field paths and managers
    re.compile(r'Apply failed with \d+ conflicts?: (conflict with "[^"\\]*"( using [^:\n"]+)?: [^\s"]+\s*)+'),
    # gone
    re.compile(r'secrets "[^"\\]*" not found'),
)
_REASONS = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict", 422: "Invalid",
            429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}


def redact_secret_error(err: ApiError) -> ApiError:
    """``err`` (an error answering a request about a Secret) as it may be written: messages of a
    shape known to quote no content are kept; any other is reduced to the refusal's reason and the
    field paths it names (``data[password]: Invalid value``), the rest withheld. The code and
    ``Retry-After`` are kept (retries work as before)."""
    if err.code == 0 or any(p.fullmatch(err.message.strip()) for p in _SAFE):
        return err  # code 0: no answer (the client's own words, no object in them)
    text = _QUOTED.sub('""', err.message)
    fields: list[str] = []
    for m in _FIELD.finditer(text):
        item = f"{m.group(1)}: {m.group(2)}"
        if item not in fields:
            fields.append(item)
    reason = _REASONS.get(err.code, "Refused")
    message = (f"the Secret was refused ({reason}" + (f"; {', '.join(fields)}" if fields else "")
               + "); the API server's message is withheld, as it may quote the Secret's data")
    return ApiError(err.code, message, retry_after=err.retry_after)


def is_secret(key: ObjectKey) -> bool:
    return key.group == "" and key.kind == "Secret"


class SecretsCluster:
    """``inner`` (the run's cluster) for the engine, with Secrets' errors redacted and the applies
    of the Secrets in ``unusable`` (key -> why its payload cannot be used, naming it) failed."""

    def __init__(self, inner: Cluster, unusable: Mapping[ObjectKey, str] | None = None) -> None:
        self.inner = inner
        self.unusable = dict(unusable or {})

    def call(self, request: Request, reply: Callable[[Reply], None]) -> None:
        if not is_secret(request.key):
            self.inner.call(request, reply)
            return
        if isinstance(request, Apply) and request.key in self.unusable:
            # answered before call returns: the engine queues every answer (engine/cluster.py)
            reply(Reply(error=ApiError(404, self.unusable[request.key])))
            return

        def redacted(r: Reply) -> None:
            reply(r if r.error is None else Reply(r.obj, redact_secret_error(r.error)))

        self.inner.call(request, redacted)

    def watch(self, stream: Stream, resource_version: str, sink: Callable[[WatchMessage], None]) -> WatchHandle:
        return self.inner.watch(stream, resource_version, sink)
