"""File paths in output: findings carry chart-relative paths; users and CI want them joined to the chart."""
from __future__ import annotations

import functools
import os
from pathlib import Path

from helm_ac.analysis.lint import Finding


def chart_dir(chart: str) -> str | None:
    """The chart's directory relative to the working directory (POSIX, e.g. ``charts/web``, ``.``),
    its absolute path when it lies outside, or None for archives and remote charts."""
    p = Path(chart)
    if not p.is_dir():
        return None
    rel = os.path.relpath(p.resolve(), Path.cwd().resolve())
    if rel == ".." or rel.startswith("../"):
        return p.resolve().as_posix()
    return Path(rel).as_posix()


@functools.lru_cache(maxsize=64)
def _is_dir(chart: str) -> bool:
    """Asked once per chart, not once per finding (a chart may have thousands)."""
    return Path(chart).is_dir()


def display_path(f: Finding) -> str:
    """The chart as the user named it joined with the file (``examples/charts/x/templates/a.yaml``);
    ``chart.tgz:templates/a.yaml`` for archives and remote charts."""
    if not f.file:
        return f.chart
    if not _is_dir(f.chart):
        return f"{f.chart}:{f.file}"
    base = f.chart.rstrip("/") or "/"
    return f.file if base in (".", "./") else f"{base}/{f.file}"


def workspace_path(f: Finding) -> str:
    """The file relative to the working directory (the repository root in CI), for GitHub annotations."""
    base = chart_dir(f.chart)
    if base is None or not f.file:
        return display_path(f)
    return f.file if base == "." else f"{base}/{f.file}"
