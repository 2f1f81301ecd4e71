"""Where a run starts from when it is not the first: what an earlier run (a controller that was
restarted) recorded about each object, for the object's current content (docs/engine.md, *Seeds*).

A :class:`Seed` only tells the engine what was recorded; the engine still looks at the object
itself (its watch's first list) before it believes any of it.
"""
from __future__ import annotations

from dataclasses import dataclass

from helm_ac.engine.events import State


@dataclass(frozen=True)
class Seed:
    """One object's record from an earlier run of the same content.

    ``state``: the state recorded (``None``: none worth acting on, e.g. pending; the attempts
    still count on); ``attempts``: attempts already made (the next one is ``attempts + 1``, and
    the retry budget is not reset); ``attempt_started``: when the current attempt began, by the
    engine's clock (its timeout runs from there)."""

    state: State | None = None
    attempts: int = 0
    attempt_started: float | None = None

    @property
    def applied(self) -> bool:
        """The earlier run had applied the object (it may exist): the engine checks it before
        anything else, whatever its parents."""
        return self.state in CHECKED


#: recorded states whose object the engine looks at first (ready, in flight, given up)
CHECKED = frozenset({State.READY, State.APPLYING, State.WAITING, State.FAILED, State.TIMED_OUT})
