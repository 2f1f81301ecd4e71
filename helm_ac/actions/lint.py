"""``helm ac lint``: validate the chart extension on the rendered chart.

Every chart is rendered by the real helm (all charts start rendering at
once), analysed (:mod:`helm_ac.model`), turned into a graph
(:mod:`helm_ac.graph`) and checked (:mod:`helm_ac.lint.checks`).  A chart that
cannot be rendered is reported with helm's message and makes the exit code 2.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from helm_ac.actions.render import PendingRender, Renderer
from helm_ac.errors import HelmNotFound, UserError
from helm_ac.helm import HelmArgs
from helm_ac.lint import Finding, Severity


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

    def effective(self, f: Finding) -> Severity:
        """Severity after ``--strict`` (warnings become errors)."""
        return Severity.ERROR if self.strict and f.severity is Severity.WARNING else f.severity

    @property
    def findings(self) -> list[Finding]:
        return [f for c in self.charts for f in c.findings]

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if self.effective(f) is severity)

    @property
    def exit_code(self) -> int:
        """0 clean or warnings only, 1 errors (warnings under --strict), 2 a chart could not be rendered."""
        if any(c.error for c in self.charts):
            return 2
        return 1 if self.count(Severity.ERROR) else 0


@dataclass
class Lint:
    """Lint one or more charts with the same helm flags."""

    renderer: Renderer
    strict: bool = False

    def run(self, charts: Sequence[str], args: HelmArgs) -> LintResult:
        return self.start(charts, args).result()

    def start(self, charts: Sequence[str], args: HelmArgs) -> "PendingLint":
        """Start rendering every chart (helm runs in the background) and return at once."""
        pending: list[tuple[str, PendingRender | UserError]] = []
        for location in charts:
            try:
                pending.append((location, self.renderer.start([location], location, args)))
            except HelmNotFound:
                raise  # no helm to run: nothing can be linted, an error of the command rather than of a chart
            except UserError as exc:
                pending.append((location, exc))
        return PendingLint(pending, self.strict)


@dataclass
class PendingLint:
    """Charts being rendered; :meth:`result` waits for helm and lints them."""

    pending: list[tuple[str, "PendingRender | UserError"]]
    strict: bool

    def result(self) -> LintResult:
        # Imported only now, usually while helm renders.
        from helm_ac import graph as graphmod
        from helm_ac import model
        from helm_ac.lint import checks

        results: list[ChartResult] = []
        for location, p in self.pending:
            res = ChartResult(location)
            results.append(res)
            if isinstance(p, UserError):
                res.error = p
                continue
            try:
                rc = p.result()
            except UserError as exc:
                res.error = exc
                continue
            analysis = model.analyze(rc.rendered, rc.chart, rc.namespace)
            edges = graphmod.collect(analysis)
            res.objects = len(analysis.order)
            res.hooks = len(analysis.hooks)
            # what objects wait for directly: other objects, or a chart barrier (chart:x, subchart rule)
            res.edges = sum(1 for _, v in edges if not isinstance(v, graphmod.Barrier))
            res.notes = rc.notes
            res.findings = sorted(checks.run_all(analysis, edges, location), key=Finding.sort_key)
        return LintResult(results, self.strict)
