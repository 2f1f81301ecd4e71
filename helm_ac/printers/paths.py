"""File paths in output: findings carry chart-relative paths; users and CI want them joined to the chart."""
from __future__ import annotations

import os
from pathlib import Path

from helm_ac.lint import Finding


def chart_dir(chart: str) -> str | None:
    """The chart's directory relative to the working directory (POSIX), or None for archives and remote charts."""
    p = Path(chart)
    if not p.is_dir():
        return None
    try:
        rel = os.path.relpath(p.resolve(), Path.cwd().resolve())
    except ValueError:
        return p.as_posix()
    return Path(rel).as_posix()


def display_path(f: Finding) -> str:
    """``examples/charts/x/templates/a.yaml`` for directory charts, ``chart.tgz:templates/a.yaml`` otherwise."""
    base = chart_dir(f.chart)
    if not f.file:
        return f.chart
    if base is None:
        return f"{f.chart}:{f.file}"
    return f.file if base == "." else f"{base}/{f.file}"
