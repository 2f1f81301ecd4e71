"""Times as Kubernetes writes them: RFC 3339 in UTC, ``2026-11-30T17:00:00Z`` (``metav1.Time``, whole
seconds) or ``2026-11-30T17:00:00.123456Z`` (``MicroTime``), and the one parser of either."""
from __future__ import annotations

import time
from datetime import datetime, timezone


def format_rfc3339(seconds: int, micros: int | None = None) -> str:
    """``seconds`` since the epoch, with ``micros`` as a six-digit fraction when given."""
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return text + (f".{micros:06d}Z" if micros is not None else "Z")


def rfc3339(epoch: float) -> str:
    """A ``metav1.Time``: whole seconds (the fraction is dropped, as the API server's encoding does)."""
    return format_rfc3339(int(epoch // 1))


def rfc3339_micro(epoch: float) -> str:
    """A ``MicroTime`` (audit events, readiness records), rounded to the microsecond."""
    whole = int(epoch // 1)
    micro = int(round((epoch - whole) * 1_000_000))
    if micro == 1_000_000:
        whole, micro = whole + 1, 0
    return format_rfc3339(whole, micro)


def parse_rfc3339(text: object) -> datetime | None:
    """An RFC 3339 time (``Z`` or an offset, any fraction) as an aware datetime; None if it is not one.
    A time without a zone is taken as UTC."""
    if not isinstance(text, str) or not text:
        return None
    try:
        t = datetime.fromisoformat(text.upper())  # RFC 3339 allows 't' and 'z'
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)
