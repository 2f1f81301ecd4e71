"""Human output: one block per finding, colour on a terminal, a summary line."""
from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.markup import escape

from helm_ac.analysis.lint import Severity
from helm_ac.analysis.lint.report import LintResult
from helm_ac.output.printers.paths import display_path

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"1 {word}"
    return f"{n} {word[:-1]}ies" if word.endswith("y") else f"{n} {word}s"


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """A closed output pipe is the command line's to handle (rich would exit 1 here)."""
        raise BrokenPipeError("the output was closed")


def print_findings(result: LintResult, out: TextIO) -> None:
    """Only the findings, no summary (template and graph report lint problems this way)."""
    print_lint(result, out, summary=False)


def print_lint(result: LintResult, out: TextIO, *, summary: bool = True) -> None:
    console = _Console(file=out, highlight=False, soft_wrap=True)
    for c in result.charts:
        if c.error is not None:
            console.print(f"[bold red]✖ {escape(c.chart)}[/]: {escape(c.error.message)}")
            for line in (c.error.hint or "").splitlines():
                console.print(f"  [dim]{escape(line)}[/]")
            continue
        for note in c.notes:
            console.print(f"[cyan]note[/] {escape(c.chart)}: {escape(note)}")
        lines = []  # printed at once: one print per finding costs ~0.2 ms, seconds for thousands of findings
        for f in c.findings:
            sev = result.effective(f)
            where = display_path(f) + (f":{f.line}" if f.line else "")
            obj = f" {escape(f.object)}:" if f.object else ""
            lines.append(f"{escape(where)}: [{_STYLE[sev]}]{sev.value}[/] [dim]\\[{f.rule}][/]{obj} {escape(f.message)}")
            if f.hint:
                lines.append(f"    [dim]hint: {escape(f.hint)}[/]")
        if lines:
            console.print("\n".join(lines))
        if not summary:
            continue
        errors = sum(1 for f in c.findings if result.effective(f) is Severity.ERROR)
        warnings = sum(1 for f in c.findings if result.effective(f) is Severity.WARNING)
        mark = "[bold red]✖[/]" if errors else ("[yellow]![/]" if warnings else "[green]✔[/]")
        stats = f"{_plural(c.objects, 'object')}, {_plural(c.edges, 'dependency')}" + \
            (f", {_plural(c.hooks, 'hook')} kept aside" if c.hooks else "")
        problems = f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}" if (errors or warnings) else "no problems"
        console.print(f"{mark} {escape(c.chart)}: {stats}; {problems}")
    if summary and len(result.charts) > 1:
        failed = sum(1 for c in result.charts if c.error)
        console.print(f"{_plural(len(result.charts), 'chart')} linted, {_plural(result.count(Severity.ERROR), 'error')}, "
                      f"{_plural(result.count(Severity.WARNING), 'warning')}"
                      + (f", {failed} failed to render" if failed else ""))
