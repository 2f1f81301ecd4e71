"""The timeline of a (simulated) run: a terminal Gantt chart, JSON, SVG and HTML pictures."""
from __future__ import annotations

import html
import json
from typing import Any

from helm_ac.engine.events import State, StateEvent
from helm_ac.engine.simulation import SimulateResult
from helm_ac.extension.durations import format_seconds

_MARK = {State.READY: "█", State.FAILED: "✖", State.TIMED_OUT: "⌛", State.BLOCKED: "·", State.SKIPPED: "·"}
_COLOUR = {State.READY: "#4c9f70", State.FAILED: "#d1495b", State.TIMED_OUT: "#edae49", State.BLOCKED: "#bbbbbb",
           State.SKIPPED: "#bbbbbb"}


def _dur(s: float) -> str:
    return format_seconds(s) if s else "0s"


def summary_lines(r: SimulateResult) -> list[str]:
    sim = r.simulation
    assert sim is not None, "a timeline is printed only after a simulation ran"
    if sim.summary.ok and sim.makespan:
        lines = [f"makespan {_dur(sim.makespan)}; critical path {_dur(r.critical_seconds)}; a wave-based run "
                 f"(level by level) would take {_dur(sim.wave_makespan)} ({sim.wave_makespan / sim.makespan:.2f}×)"]
    else:
        lines = [f"ended after {_dur(sim.makespan)}; critical path of a successful run {_dur(r.critical_seconds)}"]
    calls = sim.api_calls
    objects = max(len(sim.bars), 1)
    lines.append(f"API calls: {sum(v for k, v in calls.items() if k != 'watch')} "
                 f"({', '.join(f'{k} {v}' for k, v in sorted(calls.items()))}), "
                 f"{sum(v for k, v in calls.items() if k != 'watch') / objects:.1f} per object; one watch, no polling")
    s = sim.summary
    lines.append(f"{'✔ succeeded' if s.ok else '✖ failed'}: " + ", ".join(f"{n} {k}" for k, n in sorted(s.counts.items())))
    for u in s.unfinished:
        lines.append(f"  {u.key}: {u.state.value}: {u.reason}")
    return lines


def to_text(r: SimulateResult, width: int = 48) -> str:
    sim = r.simulation
    assert sim is not None, "a timeline is printed only after a simulation ran"
    span = max(sim.makespan, 1e-9)
    name_w = max((len(b.key) for b in sim.bars), default=10)
    out = [f"{r.release} ({r.chart}): simulated install, virtual time", ""]
    for b in sim.bars:
        start = b.start if b.start is not None else None
        end = b.end if b.end is not None else sim.makespan
        row = [" "] * width
        if start is not None:
            a = min(int(start / span * width), width - 1)
            z = max(a + 1, min(int(round(end / span * width)), width))
            for i in range(a, z):
                row[i] = "█" if b.state is State.READY else "░"
            if b.state in (State.FAILED, State.TIMED_OUT):
                row[z - 1] = _MARK[b.state]
        times = f"{_dur(start)} → {_dur(end)}" if start is not None else "not started"
        tries = f", {b.attempts} attempts" if b.attempts > 1 else ""
        out.append(f"{b.key:<{name_w}} │{''.join(row)}│ {times} {b.state.value}{tries}")
    out.append(f"{'':<{name_w}} └{'─' * width}┘ 0 … {_dur(span)}")
    out.append("")
    out += summary_lines(r)
    out.append("critical path: " + " → ".join(r.critical_path))
    return "\n".join(out) + "\n"


def to_json(r: SimulateResult) -> str:
    sim = r.simulation
    assert sim is not None, "a timeline is printed only after a simulation ran"
    doc: dict[str, Any] = {
        "version": 1, "release": r.release, "chart": r.chart, "ok": sim.summary.ok,
        "makespan": sim.makespan, "criticalPath": {"seconds": r.critical_seconds, "nodes": r.critical_path},
        "waveMakespan": sim.wave_makespan, "apiCalls": sim.api_calls,
        "objects": [{"key": b.key, "start": b.start, "end": b.end, "state": b.state.value, "attempts": b.attempts}
                    for b in sim.bars],
        "unfinished": [{"key": u.key, "state": u.state.value, "reason": u.reason} for u in sim.summary.unfinished],
        "events": [{"time": e.time, "key": e.key, "state": e.state.value, "message": e.message, "attempt": e.attempt}
                   for e in sim.events if isinstance(e, StateEvent)],
    }
    return json.dumps(doc, indent=2) + "\n"


def to_svg(r: SimulateResult) -> str:
    sim = r.simulation
    assert sim is not None, "a timeline is printed only after a simulation ran"
    span = max(sim.makespan, 1e-9)
    name_w = 8 * max((len(b.key) for b in sim.bars), default=10) + 16
    chart_w, row_h, top = 640, 22, 40
    height = top + row_h * len(sim.bars) + 60
    width = name_w + chart_w + 40
    esc = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="Helvetica, Arial, sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="10" y="22" font-size="15" font-weight="bold">{esc(r.release)}: simulated install '
             f'— makespan {esc(_dur(sim.makespan))}, wave-based {esc(_dur(sim.wave_makespan))}</text>']
    for i in range(11):
        x = name_w + chart_w * i / 10
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + row_h * len(sim.bars)}" '
                     f'stroke="#eeeeee"/>')
        parts.append(f'<text x="{x:.1f}" y="{top + row_h * len(sim.bars) + 16}" text-anchor="middle" '
                     f'fill="#666">{esc(_dur(span * i / 10))}</text>')
    for i, b in enumerate(sim.bars):
        y = top + i * row_h
        parts.append(f'<text x="{name_w - 8}" y="{y + 15}" text-anchor="end">{esc(b.key)}</text>')
        if b.start is None:
            continue
        end = b.end if b.end is not None else sim.makespan
        x0 = name_w + chart_w * b.start / span
        w = max(chart_w * (end - b.start) / span, 2)
        parts.append(f'<rect x="{x0:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" rx="3" '
                     f'fill="{_COLOUR.get(b.state, "#4c9f70")}"><title>{esc(b.key)}: {esc(b.state.value)} '
                     f'{esc(_dur(b.start))} → {esc(_dur(end))}</title></rect>')
    parts.append(f'<text x="10" y="{height - 12}" fill="#444">critical path {esc(_dur(r.critical_seconds))}: '
                 f'{esc(" → ".join(r.critical_path))}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def to_html(r: SimulateResult) -> str:
    body = "\n".join(html.escape(line) for line in summary_lines(r))
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>helm ac simulate: {html.escape(r.release)}"
            f"</title></head>\n<body style=\"font-family: sans-serif\">\n{to_svg(r)}<pre>{body}</pre>\n</body></html>\n")


FORMATS = {"text": to_text, "json": to_json}
