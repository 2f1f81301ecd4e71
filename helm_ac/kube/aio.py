"""Real time on an asyncio loop, behind :class:`helm_ac.clock.Loop`: the clock of the embedded API
server (its store and simulated controllers) and of the engine driving a real cluster
(:func:`drive`)."""
from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from typing import TYPE_CHECKING, Callable

from helm_ac.clock import Timer

if TYPE_CHECKING:
    from helm_ac.engine.events import SummaryEvent
    from helm_ac.engine.scheduler import Engine

log = logging.getLogger("helm_ac.kube")


class _AsyncioTimer(Timer):
    __slots__ = ("handle",)

    def __init__(self, when: float, fn: Callable[[], None]) -> None:
        super().__init__(when, fn)
        self.handle: asyncio.TimerHandle | None = None

    def cancel(self) -> None:
        super().cancel()
        if self.handle is not None:
            self.handle.cancel()


class AsyncioClock:
    """A :class:`helm_ac.clock.Loop` in real time on an asyncio loop: ``now()`` is the wall clock
    (epoch seconds, for timestamps), callbacks run on the loop after ``delay`` seconds."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def now(self) -> float:
        return time.time()

    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer:
        delay = max(delay, 0.0)
        t = _AsyncioTimer(self.now() + delay, fn)
        # a fresh context: a timer set during a request must not run as that request's user
        t.handle = self._loop.call_later(delay, self._run, t, context=contextvars.Context())
        return t

    @staticmethod
    def _run(t: Timer) -> None:
        if t.cancelled:
            return
        try:
            t.fn()
        except Exception:  # noqa: BLE001 - a failing callback must not stop the loop
            log.exception("timer callback failed")


async def drive(engine: "Engine") -> "SummaryEvent":
    """Start ``engine`` (built with an :class:`AsyncioClock` on the running loop and a cluster
    that answers on it) and wait for its completion signal; returns the summary."""
    done: asyncio.Future[SummaryEvent] = asyncio.get_running_loop().create_future()
    previous = engine.on_done

    def on_done(summary: "SummaryEvent") -> None:
        if previous is not None:
            previous(summary)
        if not done.done():
            done.set_result(summary)

    engine.on_done = on_done
    engine.start()
    return await done
