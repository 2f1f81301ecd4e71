"""Progress renderers: consume the engine's events as they come.

* :class:`PlainLines`: one timestamped line per event (logs, CI, pipes);
* :class:`JsonLines`: one JSON object per event (``-o jsonl``), for tools;
* :class:`LiveTable`: a table of every object, redrawn in place on a terminal (rich), seeded from
  the plan event like cli-utils' table printer.

:func:`for_output` picks one.  Each is a callable sink: ``engine.sink = renderer``.
"""
from __future__ import annotations

import json
from typing import Any, TextIO

from helm_ac.engine.events import Event, PlanEvent, State, StateEvent, SummaryEvent

_STYLE = {State.READY: "green", State.FAILED: "bold red", State.TIMED_OUT: "bold yellow", State.BLOCKED: "dim",
          State.SKIPPED: "dim", State.APPLYING: "cyan", State.WAITING: "cyan", State.PENDING: "dim"}


#: the states an object ends in: its elapsed time stops there
DONE = frozenset({State.READY, State.FAILED, State.TIMED_OUT, State.BLOCKED, State.SKIPPED})


def _stamp(t: float) -> str:
    return f"[{t:8.1f}s]"


class PlainLines:
    """``[   12.0s] deployment/web: waiting-ready``"""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, e: Event) -> None:
        self.out.write(f"{_stamp(e.time)} {e}\n")
        if isinstance(e, SummaryEvent):
            for u in e.unfinished:
                self.out.write(f"{'':11} {u.key}: {u.state.value}: {u.reason}\n")


def event_dict(e: Event) -> dict[str, Any]:
    if isinstance(e, PlanEvent):
        return {"type": "plan", "time": e.time, "objects": list(e.objects), "edges": e.edges}
    if isinstance(e, StateEvent):
        return {"type": "state", "time": e.time, "key": e.key, "state": e.state.value, "message": e.message,
                "attempt": e.attempt, "blockedBy": list(e.blocked_by)}
    return {"type": "summary", "time": e.time, "duration": e.duration, "ok": e.ok, "counts": e.counts,
            "unfinished": [{"key": u.key, "state": u.state.value, "reason": u.reason} for u in e.unfinished]}


class JsonLines:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, e: Event) -> None:
        self.out.write(json.dumps(event_dict(e)) + "\n")


class LiveTable:
    """Every object with its state, what it waits for, the time spent on it and the last message;
    redrawn in place as events arrive, and ticking in between (the elapsed column).

    ``elapsed`` is the time spent on the object: from its first apply (while pending: from the
    start) to now, frozen once it is done (ready, failed, timed out, blocked, skipped)."""

    def __init__(self, out: TextIO, *, live: bool = True, clock: Any = None) -> None:
        import threading
        import time

        from rich.console import Console

        self.console = Console(file=out, highlight=False)
        #: key -> (state, first apply or None, when the state was entered, blocked by, message)
        self.rows: dict[str, tuple[State, float | None, float, tuple[str, ...], str]] = {}
        self.summary: SummaryEvent | None = None
        self.start = 0.0
        self.now = 0.0
        self._clock = clock or time.monotonic
        self._at = self._clock()  # when ``now`` was the event time (the table ticks from there)
        self._lock = threading.Lock()  # rich refreshes from its own thread
        self._live: Any = None
        if live:
            from rich.live import Live

            self._live = Live(console=self.console, refresh_per_second=4, transient=False,
                              get_renderable=self.render)

    def _elapsed(self, state: State, applied: float | None, since: float, now: float) -> float:
        begin = self.start if applied is None else applied
        return max(0.0, (since if state in DONE else now) - begin)

    def render(self) -> Any:
        from rich.table import Table

        with self._lock:
            now = self.now if self.summary is not None else self.now + (self._clock() - self._at)
            rows = list(self.rows.items())
            summary = self.summary
        t = Table(show_header=True, header_style="bold", expand=False, title=f"t = {now:.1f}s")
        t.add_column("object")
        t.add_column("state")
        t.add_column("waiting for", overflow="fold")
        t.add_column("elapsed", justify="right")
        t.add_column("message", overflow="fold")
        for key, (state, applied, since, blocked_by, msg) in rows:
            waiting = ", ".join(blocked_by) if state in (State.PENDING, State.BLOCKED) else ""
            t.add_row(key, f"[{_STYLE.get(state, '')}]{state.value}[/]", waiting,
                      f"{self._elapsed(state, applied, since, now):.1f}s", msg)
        if summary is not None:
            t.caption = ("✔ succeeded" if summary.ok else "✖ failed") + f" after {summary.duration:.1f}s: " + \
                ", ".join(f"{n} {k}" for k, n in sorted(summary.counts.items()))
        return t

    def __call__(self, e: Event) -> None:
        with self._lock:
            self.now, self._at = e.time, self._clock()
            if isinstance(e, PlanEvent):
                self.start = e.time
                self.rows = {k: (State.PENDING, None, e.time, (), "") for k in e.objects}
            elif isinstance(e, StateEvent):
                _, applied, _, _, _ = self.rows.get(e.key, (State.PENDING, None, e.time, (), ""))
                if applied is None and e.state in (State.APPLYING, State.WAITING, State.READY):
                    applied = e.time
                self.rows[e.key] = (e.state, applied, e.time, e.blocked_by, e.message)
            elif isinstance(e, SummaryEvent):
                self.summary = e
        if self._live is not None and (self._live.is_started or isinstance(e, PlanEvent)):
            if isinstance(e, PlanEvent) and not self._live.is_started:
                self._live.start()
            self._live.refresh()
            if isinstance(e, SummaryEvent):
                self._live.stop()
        elif isinstance(e, SummaryEvent):  # not live, or no plan came: the table once, at the end
            self.console.print(self.render())


def for_output(out: TextIO, fmt: str, *, tty: bool) -> Any:
    """``jsonl`` -> JSON lines; a terminal -> the live table; otherwise plain lines."""
    if fmt == "jsonl":
        return JsonLines(out)
    return LiveTable(out) if tty else PlainLines(out)
