"""Printers: turn a lint result into text, JSON, SARIF 2.1.0, JUnit XML or GitHub annotations.

Each printer is a function ``(result, out) -> None`` registered in
:data:`LINT_PRINTERS`; actions know none of them.
"""
from __future__ import annotations

from typing import Callable, TextIO

from helm_ac.actions.lint import LintResult
from helm_ac.printers import github, json_printer, junit, sarif, text

LINT_PRINTERS: dict[str, Callable[[LintResult, TextIO], None]] = {
    "text": text.print_lint,
    "json": json_printer.print_lint,
    "sarif": sarif.print_lint,
    "junit": junit.print_lint,
    "github": github.print_lint,
}
