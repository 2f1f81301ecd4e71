"""What lint reports: the findings of each chart, the exit code, ``--strict``. Printers read it."""
from __future__ import annotations

from dataclasses import dataclass, field

from helm_ac.analysis.lint.rules import Finding, Severity
from helm_ac.errors import UserError


@dataclass
class ChartResult:
    """Lint result of one chart."""

    chart: str
    objects: int = 0
    hooks: int = 0
    edges: int = 0  # graph edges into objects: each is one thing an object waits for directly
    findings: list[Finding] = field(default_factory=list)
    error: UserError | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class LintResult:
    """Lint result of every chart given."""

    charts: list[ChartResult]
    strict: bool = False

    def severity(self, severity: Severity) -> Severity:
        """A severity after ``--strict`` (warnings become errors)."""
        return Severity.ERROR if self.strict and severity is Severity.WARNING else severity

    def effective(self, f: Finding) -> Severity:
        """A finding's severity after ``--strict``."""
        return self.severity(f.severity)

    @property
    def findings(self) -> list[Finding]:
        return [f for c in self.charts for f in c.findings]

    def count(self, severity: Severity) -> int:
        """Findings of this severity after ``--strict`` (list.count: 5,000 findings, asked four times)."""
        raw = [f.severity for c in self.charts for f in c.findings]
        return sum(raw.count(s) for s in Severity if self.severity(s) is severity)

    @property
    def exit_code(self) -> int:
        """0 clean or warnings only, 1 errors (warnings under --strict), 2 a chart could not be rendered."""
        if any(c.error for c in self.charts):
            return 2
        return 1 if self.count(Severity.ERROR) else 0
