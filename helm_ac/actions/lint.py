"""``helm ac lint``: validate the chart extension on the rendered chart.

Every chart is rendered by the real helm (all charts start rendering at
once), analysed (:mod:`helm_ac.analysis.model`), turned into a graph
(:mod:`helm_ac.analysis.graph`) and checked (:mod:`helm_ac.analysis.lint.checks`).  A chart that
cannot be rendered is reported with helm's message and makes the exit code 2.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from helm_ac.actions.render import PendingRender, Renderer
from helm_ac.analysis.lint import Finding
from helm_ac.analysis.lint.report import ChartResult, LintResult
from helm_ac.errors import HelmNotFound, UserError
from helm_ac.rendering.helm import HelmArgs


@dataclass
class Lint:
    """Lint one or more charts with the same helm flags."""

    renderer: Renderer
    strict: bool = False
    implicit: Iterable[str] = ("crd", "namespace")

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
        return PendingLint(pending, self.strict, tuple(self.implicit))


@dataclass
class PendingLint:
    """Charts being rendered; :meth:`result` waits for helm and lints them."""

    pending: list[tuple[str, "PendingRender | UserError"]]
    strict: bool
    implicit: Iterable[str] = ("crd", "namespace")

    def result(self) -> LintResult:
        # Imported only now, usually while helm renders.
        from helm_ac.analysis import graph as graphmod
        from helm_ac.analysis import model
        from helm_ac.analysis.lint import checks

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
            analysis = model.analyze(rc.rendered, rc.chart, rc.namespace, crds_skipped=rc.crds_skipped)
            edges = graphmod.collect(analysis, implicit=self.implicit)
            res.objects = len(analysis.order)
            res.hooks = len(analysis.hooks)
            # what objects wait for directly: other objects, or a chart barrier (chart:x, subchart rule)
            res.edges = sum(1 for _, v in edges if not isinstance(v, graphmod.Barrier))
            res.notes = rc.notes
            res.findings = sorted(checks.run_all(analysis, edges, location), key=Finding.sort_key)
        return LintResult(results, self.strict)
