"""GitHub Actions workflow commands: ``::error file=...,line=...,title=...::message``."""
from __future__ import annotations

from typing import TextIO

from helm_ac.analysis.lint import Severity
from helm_ac.analysis.lint.report import LintResult
from helm_ac.output.printers.paths import workspace_path

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(s: str) -> str:
    return _data(s).replace(":", "%3A").replace(",", "%2C")


def print_lint(result: LintResult, out: TextIO) -> None:
    for c in result.charts:
        if c.error is not None:
            out.write(f"::error title={_prop('helm-ac: ' + c.chart)}::{_data(str(c.error))}\n")
            continue
        for f in c.findings:
            props = [f"file={_prop(workspace_path(f))}"] if f.file else []
            if f.line:
                props.append(f"line={f.line}")
            props.append(f"title={_prop(f.rule)}")
            msg = (f"{f.object}: " if f.object else "") + f.message + (f"\n{f.hint}" if f.hint else "")
            out.write(f"::{_LEVEL[result.effective(f)]} {','.join(props)}::{_data(msg)}\n")
