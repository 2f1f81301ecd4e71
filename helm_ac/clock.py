"""Time and callbacks for the engine.

The engine never sleeps or polls: it registers callbacks (timeouts, watch events) and reacts.
:class:`VirtualLoop` runs them in virtual time, in order, as fast as the CPU allows; ties run in
the order they were scheduled, so runs are deterministic.
"""
from __future__ import annotations

import heapq
import itertools
from typing import Callable, Protocol


class Loop(Protocol):
    """What the engine needs from a clock."""

    def now(self) -> float: ...

    def call_later(self, delay: float, fn: Callable[[], None]) -> "Timer": ...


class Timer:
    """A scheduled callback; :meth:`cancel` prevents it from running."""

    __slots__ = ("when", "fn", "cancelled")

    def __init__(self, when: float, fn: Callable[[], None]) -> None:
        self.when, self.fn, self.cancelled = when, fn, False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualLoop:
    """A discrete-event loop in virtual seconds."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, Timer]] = []  # tuples compare in C; seq keeps ties in order
        self._seq = itertools.count()
        self.callbacks_run = 0

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer:
        t = Timer(self._now + max(delay, 0.0), fn)
        heapq.heappush(self._heap, (t.when, next(self._seq), t))
        return t

    def call_soon(self, fn: Callable[[], None]) -> Timer:
        return self.call_later(0.0, fn)

    def run(self, *, max_callbacks: int = 10_000_000) -> None:
        """Run until nothing is scheduled (a bound guards against runaway loops)."""
        while self._heap:
            _, _, t = heapq.heappop(self._heap)
            if t.cancelled:
                continue
            self._now = t.when
            t.fn()
            self.callbacks_run += 1
            if self.callbacks_run > max_callbacks:
                raise RuntimeError("virtual loop: too many callbacks (a runaway simulation?)")
