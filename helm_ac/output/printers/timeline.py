"""The timeline of a (simulated) run: a terminal Gantt chart, JSON, SVG and HTML pictures.

Readable at a glance: every object has a row; a bar from its first apply to its end, coloured by its
final state; a retry is a tick on the bar; a failure or timeout ends in a mark; an object that never
started says what blocked it, at the time it was blocked; the critical path is outlined and its
names in bold; a legend says all that, and the time axis has round ticks (1, 2, 5 × 10ⁿ seconds or
minutes).
"""
from __future__ import annotations

import html
import json
import math
from typing import Any

from helm_ac.engine.events import State, StateEvent
from helm_ac.engine.simulation import Bar, SimulateResult
from helm_ac.extension.durations import format_seconds

_MARK = {State.READY: "█", State.FAILED: "✖", State.TIMED_OUT: "⌛", State.BLOCKED: "⊘", State.SKIPPED: "⊘"}
_COLOUR = {State.READY: "#4c9f70", State.FAILED: "#d1495b", State.TIMED_OUT: "#edae49", State.BLOCKED: "#9e9e9e",
           State.SKIPPED: "#c8c8c8"}
_LABEL = {State.READY: "ready", State.FAILED: "failed", State.TIMED_OUT: "timed out", State.BLOCKED: "blocked",
          State.SKIPPED: "skipped"}
_DARK = {State.FAILED: "#a3263a", State.TIMED_OUT: "#8a5a00"}  # text in the failure colours, readable
_CRITICAL = "#1f3b73"


def _dur(s: float) -> str:
    return format_seconds(s) if s else "0s"


def tick_label(t: float) -> str:
    """A tick's label, exact to the tick: ``500ms``, ``1.5s``, ``2m30s`` (durations round whole seconds)."""
    whole = round(t)
    if t < 1 or abs(t - whole) < 1e-9:
        return _dur(t)
    m, s = divmod(t, 60)
    return (f"{int(m)}m" if m else "") + f"{s:.3f}".rstrip("0").rstrip(".") + "s"


def tick_step(span: float, max_ticks: int = 10) -> float:
    """A round step for an axis over ``span`` seconds, at most ``max_ticks`` steps: 1, 2 or 5 × 10ⁿ
    seconds up to 20 s, then in minutes (½, 1, 2, 5, 10, 20, 50 min, ...), so labels stay round."""
    if span <= 0:
        return 1.0
    per = span / max_ticks
    unit = 60.0 if per > 20 else 1.0
    raw = per / unit
    exp = 10.0 ** math.floor(math.log10(raw))
    step = next(m * exp for m in (1, 2, 5, 10) if m * exp >= raw * (1 - 1e-12))
    return step * unit


def ticks(span: float, max_ticks: int = 10) -> list[float]:
    """Round tick positions from 0 to the first tick at or past ``span``."""
    step = tick_step(span, max_ticks)
    n = max(1, math.ceil(span / step - 1e-9))
    return [round(i * step, 9) for i in range(n + 1)]


def _critical(r: SimulateResult) -> set[str]:
    return set(r.critical_path)


def summary_lines(r: SimulateResult) -> list[str]:
    sim = r.simulation
    assert sim is not None
    if sim.summary.ok and sim.makespan:
        lines = [f"makespan {_dur(sim.makespan)}; critical path {_dur(r.critical_seconds)}; a wave-based run "
                 f"(level by level) would take {_dur(sim.wave_makespan)} ({sim.wave_makespan / sim.makespan:.2f}×)"]
    else:
        lines = [f"ended after {_dur(sim.makespan)}; critical path of a successful run {_dur(r.critical_seconds)}"]
    calls = sim.api_calls
    objects = max(len(sim.bars), 1)
    lines.append(f"API calls: {sum(v for k, v in calls.items() if k != 'watch')} "
                 f"({', '.join(f'{k} {v}' for k, v in sorted(calls.items()))}), "
                 f"{sum(v for k, v in calls.items() if k != 'watch') / objects:.1f} per object; "
                 f"watches by kind and namespace, no polling")
    s = sim.summary
    lines.append(f"{'✔ succeeded' if s.ok else '✖ failed'}: " + ", ".join(f"{n} {k}" for k, n in sorted(s.counts.items())))
    for u in s.unfinished:
        lines.append(f"  {u.key}: {u.state.value}: {u.reason}")
    return lines


def _critical_line(r: SimulateResult) -> str:
    if not r.critical_path:
        return "critical path: none (nothing to install)"
    return "critical path: " + " → ".join(r.critical_path)


def _row_text(b: Bar, span: float, width: int) -> str:
    row = [" "] * width

    def col(t: float) -> int:
        return min(int(t / span * width), width - 1)

    if b.start is None:  # never started: the mark where it was blocked (or skipped)
        if b.end is not None and b.state in (State.BLOCKED, State.SKIPPED):
            row[col(b.end)] = _MARK[b.state]
        return "".join(row)
    end = b.end if b.end is not None else span
    a = col(b.start)
    z = max(a + 1, min(int(round(end / span * width)), width))
    for i in range(a, z):
        row[i] = "█" if b.state is State.READY else "░"
    for t in b.retries:
        row[col(t)] = "↻"
    if b.state in (State.FAILED, State.TIMED_OUT, State.BLOCKED):
        row[z - 1] = _MARK[b.state]
    return "".join(row)


def to_text(r: SimulateResult, width: int = 48) -> str:
    sim = r.simulation
    assert sim is not None
    span = max(sim.makespan, 1e-9)
    crit = _critical(r)
    name_w = max((len(b.key) for b in sim.bars), default=10)
    out = [f"{r.release} ({r.chart}): simulated install, virtual time", ""]
    for b in sim.bars:
        end = b.end if b.end is not None else sim.makespan
        if b.start is not None:
            times = f"{_dur(b.start)} → {_dur(end)} {b.state.value}" + \
                (f" ({b.message})" if b.message and b.state in (State.BLOCKED, State.SKIPPED) else "")
        else:
            times = f"{b.state.value} at {_dur(end)}" + (f" ({b.message})" if b.message else "")
        tries = f", {b.attempts} attempts" if b.attempts > 1 else ""
        mark = "*" if b.key in crit else " "
        out.append(f"{mark}{b.key:<{name_w}} │{_row_text(b, span, width)}│ {times}{tries}")
    out.append(f" {'':<{name_w}} └{'─' * width}┘ 0 … {_dur(sim.makespan)}")
    out.append(f" {'':<{name_w}}  █ ready  ░ not ready  ✖ failed  ⌛ timed out  ⊘ blocked/skipped  ↻ retry  "
               f"* critical path")
    out.append("")
    out += summary_lines(r)
    out.append(_critical_line(r))
    return "\n".join(out) + "\n"


def to_json(r: SimulateResult) -> str:
    sim = r.simulation
    assert sim is not None
    doc: dict[str, Any] = {
        "version": 1, "release": r.release, "chart": r.chart, "ok": sim.summary.ok,
        "makespan": sim.makespan, "criticalPath": {"seconds": r.critical_seconds, "nodes": r.critical_path},
        "waveMakespan": sim.wave_makespan, "apiCalls": sim.api_calls,
        "objects": [{"key": b.key, "start": b.start, "end": b.end, "state": b.state.value, "attempts": b.attempts,
                     "retries": b.retries, "message": b.message}
                    for b in sim.bars],
        "unfinished": [{"key": u.key, "state": u.state.value, "reason": u.reason} for u in sim.summary.unfinished],
        "events": [{"time": e.time, "key": e.key, "state": e.state.value, "message": e.message, "attempt": e.attempt}
                   for e in sim.events if isinstance(e, StateEvent)],
    }
    return json.dumps(doc, indent=2) + "\n"


def _text_width(s: str, size: float = 12) -> float:
    return len(s) * size * 0.6


def to_svg(r: SimulateResult) -> str:
    sim = r.simulation
    assert sim is not None
    esc = html.escape
    crit = _critical(r)
    marks = ticks(sim.makespan, 8)
    axis_end = marks[-1] or 1.0
    name_w = max((_text_width(b.key) for b in sim.bars), default=80) + 24
    chart_w, row_h, top = 640, 24, 78
    rows = len(sim.bars)
    bottom = top + row_h * rows
    note_w = max((_text_width(b.message[:60]) for b in sim.bars if b.state in (State.BLOCKED, State.SKIPPED)),
                 default=0)
    s = sim.summary
    crit_text = _critical_line(r).replace("critical path", "critical path " + _dur(r.critical_seconds), 1)
    failures = sorted((b for b in sim.bars if b.state in (State.FAILED, State.TIMED_OUT) and b.end is not None),
                      key=lambda b: b.end or 0.0)
    first = failures[0] if failures and not s.ok else None
    first_text = f"first failure: {first.key} at {_dur(first.end or 0.0)}: {first.message}" if first else ""
    width = int(max(name_w + chart_w + max(40, min(note_w, 360)) + 20, _text_width(crit_text, 12.5) + 30,
                    _text_width(first_text) + 30))
    height = bottom + (80 if first is not None else 60)

    def x(t: float) -> float:
        return name_w + chart_w * t / axis_end

    outcome = "succeeded" if s.ok else "FAILED"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="Helvetica, Arial, sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="10" y="22" font-size="15" font-weight="bold">{esc(r.release)}: simulated install '
             f'{outcome} — {"makespan" if s.ok else "ended after"} {esc(_dur(sim.makespan))}, critical path '
             f'{esc(_dur(r.critical_seconds))}, wave-based {esc(_dur(sim.wave_makespan))}</text>',
             f'<text x="10" y="40" fill="#444">{esc(", ".join(f"{n} {k}" for k, n in sorted(s.counts.items())))}'
             f'</text>']
    # legend
    lx = 10.0
    ly = 52
    for st in (State.READY, State.FAILED, State.TIMED_OUT, State.BLOCKED, State.SKIPPED):
        parts.append(f'<rect x="{lx:.0f}" y="{ly}" width="14" height="10" rx="2" fill="{_COLOUR[st]}"/>')
        parts.append(f'<text x="{lx + 18:.0f}" y="{ly + 9}">{_LABEL[st]}</text>')
        lx += 18 + _text_width(_LABEL[st]) + 14
    parts.append(f'<line x1="{lx + 6:.0f}" y1="{ly - 1}" x2="{lx + 6:.0f}" y2="{ly + 11}" stroke="white" '
                 f'stroke-width="5"/><line x1="{lx + 6:.0f}" y1="{ly - 1}" x2="{lx + 6:.0f}" y2="{ly + 11}" '
                 f'stroke="#222" stroke-width="2"/>')
    parts.append(f'<text x="{lx + 14:.0f}" y="{ly + 9}">retry</text>')
    lx += 14 + _text_width("retry") + 14
    parts.append(f'<rect x="{lx:.0f}" y="{ly}" width="14" height="10" rx="2" fill="#4c9f70" stroke="{_CRITICAL}" '
                 f'stroke-width="2.5"/>')
    parts.append(f'<text x="{lx + 18:.0f}" y="{ly + 9}" font-weight="bold" fill="{_CRITICAL}">critical path</text>')
    # axis: round ticks
    for t in marks:
        parts.append(f'<line x1="{x(t):.1f}" y1="{top - 4}" x2="{x(t):.1f}" y2="{bottom}" stroke="#e4e4e4"/>')
        parts.append(f'<text x="{x(t):.1f}" y="{bottom + 16}" text-anchor="middle" fill="#666">{esc(tick_label(t))}'
                     f'</text>')
    if sim.makespan and abs(sim.makespan - axis_end) > 1e-9:
        parts.append(f'<line x1="{x(sim.makespan):.1f}" y1="{top - 4}" x2="{x(sim.makespan):.1f}" y2="{bottom}" '
                     f'stroke="#888" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x(sim.makespan):.1f}" y="{top - 8}" text-anchor="middle" fill="#666" '
                     f'font-size="10">end {esc(_dur(sim.makespan))}</text>')
    blocked_marks: list[tuple[float, float, str, str]] = []
    for i, b in enumerate(sim.bars):
        y = top + i * row_h
        on_path = b.key in crit
        if i % 2:
            parts.append(f'<rect x="0" y="{y}" width="{width}" height="{row_h}" fill="#f7f7f7"/>')
        weight = ' font-weight="bold"' if on_path else ""
        fill = f' fill="{_CRITICAL}"' if on_path else ""
        parts.append(f'<text x="{name_w - 10:.0f}" y="{y + 16}" text-anchor="end"{weight}{fill}>{esc(b.key)}</text>')
        end = b.end if b.end is not None else sim.makespan
        blocked = b.state in (State.BLOCKED, State.SKIPPED)
        if blocked:  # where it was blocked (or skipped), and by what; a bar first if it had started
            note = b.message if b.message.startswith(b.state.value) else \
                f"{b.state.value}: {b.message}" if b.message else b.state.value
            blocked_marks.append((x(end), y, note, _COLOUR.get(b.state, "#9e9e9e")))
        if b.start is None:
            continue
        x0, w = x(b.start), max(x(end) - x(b.start), 2.0)
        stroke = f' stroke="{_CRITICAL}" stroke-width="2.5"' if on_path else ""
        tip = f"{b.key}: {b.state.value} {_dur(b.start)} → {_dur(end)}" + \
            (f", {b.attempts} attempts" if b.attempts > 1 else "") + (f": {b.message}" if b.message else "")
        parts.append(f'<rect x="{x0:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" rx="3" '
                     f'fill="{_COLOUR.get(b.state, "#4c9f70")}"{stroke}><title>{esc(tip)}</title></rect>')
        for t in b.retries:
            parts.append(f'<line x1="{x(t):.1f}" y1="{y + 2}" x2="{x(t):.1f}" y2="{y + row_h - 2}" stroke="white" '
                         f'stroke-width="5"/><line x1="{x(t):.1f}" y1="{y + 2}" x2="{x(t):.1f}" '
                         f'y2="{y + row_h - 2}" stroke="#222" stroke-width="2"/>')
        if b.state in (State.FAILED, State.TIMED_OUT):
            cx, cy = x0 + w, y + row_h / 2
            parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="7" fill="white" stroke="{_COLOUR[b.state]}" '
                         f'stroke-width="2"/>')
            if b.state is State.FAILED:
                parts.append(f'<path d="M{cx - 3.5:.1f},{cy - 3.5:.1f} L{cx + 3.5:.1f},{cy + 3.5:.1f} '
                             f'M{cx - 3.5:.1f},{cy + 3.5:.1f} L{cx + 3.5:.1f},{cy - 3.5:.1f}" '
                             f'stroke="{_COLOUR[b.state]}" stroke-width="2.2"/>')
            else:
                parts.append(f'<path d="M{cx:.1f},{cy - 4:.1f} L{cx:.1f},{cy:.1f} L{cx + 3:.1f},{cy + 2:.1f}" '
                             f'fill="none" stroke="{_COLOUR[b.state]}" stroke-width="2"/>')
        label = ""
        if blocked:
            continue
        if b.attempts > 1:
            label = f"{b.attempts} attempts"
        if b.state in (State.FAILED, State.TIMED_OUT):
            label = (label + ", " if label else "") + _LABEL[b.state]
        if label:
            parts.append(f'<text x="{x0 + w + 12:.1f}" y="{y + 16}" fill="#555">{esc(label)}</text>')
    for cx, y_row, note, colour in blocked_marks:
        cy = y_row + row_h / 2
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="6" fill="white" stroke="{colour}" stroke-width="2"/>'
                     f'<line x1="{cx - 4:.1f}" y1="{cy + 4:.1f}" x2="{cx + 4:.1f}" y2="{cy - 4:.1f}" '
                     f'stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{cx + 10:.1f}" y="{y_row + 16}" fill="#555" font-style="italic">'
                     f'{esc(note if len(note) <= 60 else note[:59] + "…")}<title>{esc(note)}</title></text>')
    parts.append(f'<text x="10" y="{bottom + 40}" fill="{_CRITICAL}" font-weight="bold">{esc(crit_text)}</text>')
    if first is not None:
        parts.append(f'<text x="10" y="{bottom + 60}" fill="{_DARK[first.state]}">{esc(first_text)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def to_html(r: SimulateResult) -> str:
    body = "\n".join(html.escape(line) for line in summary_lines(r))
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>helm ac simulate: {html.escape(r.release)}"
            f"</title></head>\n<body style=\"font-family: sans-serif\">\n{to_svg(r)}<pre>{body}</pre>\n</body></html>\n")


FORMATS = {"text": to_text, "json": to_json}
