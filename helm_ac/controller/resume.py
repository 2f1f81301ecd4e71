"""Resuming after a restart (docs/controller.md, *Resuming after a restart*): the engine's seeds
from the statuses an earlier controller wrote on the release's Definitions (pure).

A Definition's status seeds its object only when it was written for the Definition's current
content (``observedGeneration`` equal to ``metadata.generation``): a changed Definition starts
afresh. A status that does not parse (edited by hand, written by something else) seeds nothing.
"""
from __future__ import annotations

import datetime
from typing import Any

from helm_ac.engine.events import State
from helm_ac.engine.seed import Seed
from helm_ac.kinds import ObjectKey

#: recorded phase -> the engine's state (phases not here seed only the attempts)
STATES = {"Ready": State.READY, "Applying": State.APPLYING, "WaitingReady": State.WAITING,
          "Failed": State.FAILED, "TimedOut": State.TIMED_OUT}


def _time(value: Any) -> float | None:
    """metav1.Time (RFC 3339) as epoch seconds, the clock of the engine on a real cluster."""
    if not isinstance(value, str):
        return None
    try:
        t = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=datetime.timezone.utc)).timestamp()


def seed(status: dict[str, Any], generation: int) -> Seed | None:
    """What ``status`` (a Definition's, as read) tells a restarted run, or None."""
    if not status or status.get("observedGeneration") != generation or generation < 1:
        return None
    attempts = status.get("attempts") or 0
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 0:
        return None
    state = STATES.get(status.get("phase"))  # type: ignore[arg-type]
    if state is None and attempts == 0:
        return None
    started = _time(status.get("attemptStartedAt"))
    if started is None and attempts == 1:  # written before attemptStartedAt: the first attempt's start
        started = _time(status.get("startedAt"))
    return Seed(state, attempts, started)


def seeds(statuses: dict[str, dict[str, Any]], definitions: dict[str, tuple[str, int]],
          keys: dict[str, ObjectKey]) -> dict[ObjectKey, Seed]:
    """The seeds of a release: ``statuses`` and ``definitions`` as :class:`~.release.Release` holds
    them (by engine key), ``keys``: engine key -> the object's key."""
    out: dict[ObjectKey, Seed] = {}
    for key, status in statuses.items():
        if key not in keys or key not in definitions:
            continue
        s = seed(status, definitions[key][1])
        if s is not None:
            out[keys[key]] = s
    return out
