"""SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

Locations are chart-relative (``templates/web.yaml``) with ``uriBaseId``
``CHARTROOT``; ``run.originalUriBaseIds.CHARTROOT`` gives the chart directory
relative to the working directory (``%SRCROOT%``, the repository root in CI),
so viewers resolve the full path while the artifact stays chart-relative.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from helm_ac import __version__
from helm_ac.analysis.lint import RULES, Severity
from helm_ac.analysis.lint.report import LintResult
from helm_ac.output.printers.paths import chart_dir

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _base_uri(base: str | None, chart: str) -> dict[str, Any]:
    """CHARTROOT: relative to %SRCROOT% (the working directory) when inside it, a file:// URI when outside,
    a description only for archives and remote charts (their files have no path of their own)."""
    if base is None:
        return {"description": {"text": f"files inside {chart}"}}
    if base.startswith("/"):
        return {"uri": Path(base).as_uri() + "/"}
    return {"uri": "./" if base == "." else base.rstrip("/") + "/", "uriBaseId": "%SRCROOT%"}


def sarif_document(result: LintResult) -> dict[str, Any]:
    rule_ids = list(RULES)
    runs = []
    for c in result.charts:
        base = chart_dir(c.chart)
        results = []
        for f in c.findings:
            loc: dict[str, Any] = {"artifactLocation": {"uri": f.file or "Chart.yaml", "uriBaseId": "CHARTROOT"}}
            if f.line:
                loc["region"] = {"startLine": f.line}
            entry: dict[str, Any] = {
                "ruleId": f.rule, "ruleIndex": rule_ids.index(f.rule), "level": _LEVEL[result.effective(f)],
                "message": {"text": (f"{f.object}: " if f.object else "") + f.message
                            + (f" (hint: {f.hint})" if f.hint else "")},
                "locations": [{"physicalLocation": loc}],
            }
            if f.object:
                entry["locations"][0]["logicalLocations"] = [{"name": f.object, "kind": "resource"}]
            entry["partialFingerprints"] = {"helmAc/v1": f"{f.rule}:{f.file}:{f.object}:{f.message}"}
            results.append(entry)
        run: dict[str, Any] = {
            "tool": {"driver": {
                "name": "helm-ac", "version": __version__,
                "rules": [{"id": r.id, "name": r.id, "shortDescription": {"text": r.summary},
                           "fullDescription": {"text": r.help},
                           "help": {"text": f"{r.help} See docs/lint-rules.md#{r.id} in helm-ac."},
                           "defaultConfiguration": {"level": _LEVEL[r.severity]}}
                          for r in RULES.values()],
            }},
            "originalUriBaseIds": {"CHARTROOT": _base_uri(base, c.chart)},
            "results": results,
            "invocations": [{"executionSuccessful": c.error is None,
                             **({"toolExecutionNotifications": [{"level": "error", "message": {"text": str(c.error)}}]}
                                if c.error else {})}],
            "automationDetails": {"id": f"helm-ac-lint/{c.chart}/"},
        }
        runs.append(run)
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": runs}


def print_lint(result: LintResult, out: TextIO) -> None:
    json.dump(sarif_document(result), out, indent=2, ensure_ascii=False)
    out.write("\n")
