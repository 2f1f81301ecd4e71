"""``helm ac graph``: the dependency graph of a chart, for people (text, pictures) and tools (JSON)."""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from helm_ac.actions.references import check_estimates
from helm_ac.actions.render import Renderer, render_and_check
from helm_ac.analysis.keys import Keys
from helm_ac.analysis.lint import Finding, has_errors
from helm_ac.errors import UserError
from helm_ac.rendering.helm import HelmArgs


@dataclass
class GraphResult:
    chart: str
    release: str
    output: str = ""
    findings: list[Finding] = field(default_factory=list)
    view: object = None

    @property
    def failed(self) -> bool:
        return has_errors(self.findings)


@dataclass
class Graph:
    """Render a chart and draw its dependency graph."""

    renderer: Renderer
    format: str = "text"
    overrides: dict[str, float] = field(default_factory=dict)
    implicit: Iterable[str] = ("crd", "namespace")

    def run(self, positionals: Sequence[str], args: HelmArgs) -> GraphResult:
        checked = render_and_check(self.renderer, positionals, args, self.implicit)
        from helm_ac.analysis.estimates import from_analysis
        from helm_ac.output import views

        release = checked.release
        result = GraphResult(checked.location, release, findings=checked.findings)
        if result.failed:
            return result
        keys = Keys(checked.analysis, release)
        overrides = check_estimates(self.overrides, checked.analysis, keys)
        view = views.GraphView(checked.analysis, checked.graph, keys, from_analysis(checked.analysis, overrides))
        result.view = view
        result.output = views.FORMATS[self.format](view, release)
        return result


def write_svg(dot_text: str, path: str) -> None:
    """Render DOT to SVG with Graphviz's ``dot``; a clear hint when it is not installed."""
    dot = shutil.which("dot")
    if dot is None:
        raise UserError("--svg needs Graphviz's `dot` command, which is not installed",
                        hint="install Graphviz (apt install graphviz, brew install graphviz), or use -o dot / "
                             "-o mermaid and render elsewhere (e.g. GitHub renders Mermaid in Markdown)")
    proc = subprocess.run([dot, "-Tsvg", "-o", path], input=dot_text, capture_output=True, text=True)  # noqa: S603
    if proc.returncode != 0:
        raise UserError(f"dot failed to render {path}: {proc.stderr.strip()}")
