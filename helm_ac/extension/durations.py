"""Go duration strings (``time.ParseDuration``): ``90s``, ``5m``, ``1h30m``, ``1.5h``, ``300ms``."""
from __future__ import annotations

import re

MAX_SECONDS = 2562047 * 3600.0  # time.Duration is an int64 of nanoseconds
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
#: Digits are ASCII as in Go (Python's \d and float() take any Unicode digit: "٣s" would be 3s).
_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
#: Same grammar as a regular expression, for the JSON Schema.
PATTERN = r"^(0|([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))*)$"


def parse(text: str) -> float:
    """Return the duration in seconds; raise ValueError when ``text`` is not a Go duration.

    Signs are not accepted (a negative timeout makes no sense) and ``0`` alone
    is accepted as Go does; digits are ASCII only, as for Go.  Surrounding whitespace is the caller's business.
    """
    s = text
    if s == "0":
        return 0.0
    if not s:
        raise ValueError("empty duration")
    pos, total = 0, 0.0
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m:
            raise ValueError(f"not a Go duration: {text!r}")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if total > MAX_SECONDS:
        raise ValueError(f"duration too large: {text!r} (Go's limit is about 2562047h)")
    return total


def format_seconds(seconds: float) -> str:
    """Render seconds as a short Go-style duration (``1h30m``, ``90s`` -> ``1m30s``)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = int(round(seconds))
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
    return out or "0s"
