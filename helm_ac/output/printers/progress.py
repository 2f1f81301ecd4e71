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
    """Every object with its state, since when, and the last message; redrawn as events arrive."""

    def __init__(self, out: TextIO, *, live: bool = True) -> None:
        from rich.console import Console

        self.console = Console(file=out, highlight=False)
        self.rows: dict[str, tuple[State, float, str]] = {}
        self.summary: SummaryEvent | None = None
        self.now = 0.0
        self._live: Any = None
        if live:
            from rich.live import Live

            self._live = Live(self.render(), console=self.console, refresh_per_second=8, transient=False)

    def render(self) -> Any:
        from rich.table import Table

        t = Table(show_header=True, header_style="bold", expand=False, title=f"t = {self.now:.1f}s")
        t.add_column("object")
        t.add_column("state")
        t.add_column("since", justify="right")
        t.add_column("message", overflow="fold")
        for key, (state, since, msg) in self.rows.items():
            t.add_row(key, f"[{_STYLE.get(state, '')}]{state.value}[/]", f"{since:.1f}s", msg)
        if self.summary is not None:
            s = self.summary
            t.caption = ("✔ succeeded" if s.ok else "✖ failed") + f" after {s.duration:.1f}s: " + \
                ", ".join(f"{n} {k}" for k, n in sorted(s.counts.items()))
        return t

    def __call__(self, e: Event) -> None:
        self.now = e.time
        if isinstance(e, PlanEvent):
            self.rows = {k: (State.PENDING, e.time, "") for k in e.objects}
            if self._live is not None:
                self._live.start()
        elif isinstance(e, StateEvent):
            self.rows[e.key] = (e.state, e.time, e.message)
        elif isinstance(e, SummaryEvent):
            self.summary = e
        if self._live is not None:
            self._live.update(self.render())
            if isinstance(e, SummaryEvent):
                self._live.stop()
        elif isinstance(e, SummaryEvent):
            self.console.print(self.render())


def for_output(out: TextIO, fmt: str, *, tty: bool) -> Any:
    """``jsonl`` -> JSON lines; a terminal -> the live table; otherwise plain lines."""
    if fmt == "jsonl":
        return JsonLines(out)
    return LiveTable(out) if tty else PlainLines(out)
