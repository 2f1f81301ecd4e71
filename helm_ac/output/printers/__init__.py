"""Printers: turn a lint result into text, JSON, SARIF 2.1.0, JUnit XML or GitHub annotations.

Each printer is a function ``print_lint(result, out) -> None`` in the module that
:data:`LINT_FORMATS` names for its format; :func:`lint_printer` loads only the one
asked for (rich for text, ElementTree for JUnit, ... each take a while to import).
Actions know none of them.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Callable, TextIO

if TYPE_CHECKING:
    from helm_ac.analysis.lint.report import LintResult

#: ``-o`` format of ``helm ac lint`` -> module of helm_ac.output.printers.
LINT_FORMATS = {"text": "text", "json": "json_printer", "sarif": "sarif", "junit": "junit", "github": "github"}


def lint_printer(output: str) -> Callable[["LintResult", TextIO], None]:
    """The printer of one lint output format."""
    return importlib.import_module(f"helm_ac.output.printers.{LINT_FORMATS[output]}").print_lint
