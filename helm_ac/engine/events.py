"""What the engine emits.  Renderers (progress table, timeline, JSON lines) and tests consume these;
the engine knows none of them.  Every event has ``__str__`` suitable for a log line."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple, Union


class State(str, enum.Enum):
    """The life of one object during a run."""

    PENDING = "pending"  # waiting for its parents
    BLOCKED = "blocked"  # a parent failed (or the run timed out): it will not be created
    APPLYING = "applying"
    WAITING = "waiting-ready"
    READY = "ready"
    FAILED = "failed"
    TIMED_OUT = "timed-out"
    SKIPPED = "skipped"  # on-error: ignore-all upstream

    @property
    def final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({State.BLOCKED, State.READY, State.FAILED, State.TIMED_OUT, State.SKIPPED})


@dataclass(frozen=True)
class PlanEvent:
    """Sent first: every object the run will handle and how many edges order them."""

    time: float
    objects: tuple[str, ...]
    edges: int

    def __str__(self) -> str:
        return f"plan: {len(self.objects)} objects, {self.edges} dependencies"


class StateEvent(NamedTuple):
    """An object changed state.  (A named tuple: thousands are made per run, and tuples are cheap.)"""

    time: float
    key: str
    state: State
    message: str = ""
    attempt: int = 0
    blocked_by: tuple[str, ...] = ()

    def __str__(self) -> str:
        extra = f" (attempt {self.attempt})" if self.attempt > 1 else ""
        return f"{self.key}: {self.state.value}{extra}" + (f": {self.message}" if self.message else "")


@dataclass(frozen=True)
class Unfinished:
    key: str
    state: State
    reason: str


@dataclass(frozen=True)
class SummaryEvent:
    """Sent last: the outcome, and for every object that is not ready, what blocks it."""

    time: float
    ok: bool
    counts: dict[str, int] = field(hash=False)
    unfinished: tuple[Unfinished, ...] = ()
    duration: float = 0.0  # from the start of the run

    def __str__(self) -> str:
        parts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
        return f"{'succeeded' if self.ok else 'failed'} after {self.duration:g}s: {parts}"


Event = Union[PlanEvent, StateEvent, SummaryEvent]
