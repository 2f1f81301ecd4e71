"""Shared by every verb that renders a chart: helm flags, chart metadata, analysis.

:class:`RenderRequest` turns the user's pass-through helm flags into the
``helm template`` argument list (adding ``--include-crds`` unless told
``--skip-crds``, and the namespace Helm exported when we run as a plugin),
starts helm, reads the chart's own files while helm renders, and returns a
:class:`RenderedChart`: the parsed objects, the chart tree, the analysis and
the dependency graph.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from helm_ac.errors import ChartError, UserError
from helm_ac.rendering.helm import Helm, HelmArgs, find_helm, template_args
from helm_ac.rendering.helmflags import PULL_FLAGS

if TYPE_CHECKING:  # imported lazily at run time: helm starts before the YAML machinery loads
    from helm_ac.rendering import manifests
    from helm_ac.rendering.chart import Chart


def release_namespace(args: HelmArgs, env: dict[str, str]) -> str:
    """-n/--namespace, else $HELM_NAMESPACE (set by Helm for plugins), else default."""
    return args.value("-n", "--namespace") or env.get("HELM_NAMESPACE") or "default"


@dataclass
class RenderedChart:
    """One rendered chart and everything derived from it."""

    location: str
    rendered: "manifests.Rendered"
    chart: "Chart | None"
    namespace: str
    notes: list[str] = field(default_factory=list)
    text: str = ""  # helm's output, verbatim
    crds_skipped: bool = False  # --skip-crds: the chart's crds/ are not rendered


def _is_local(location: str) -> bool:
    return Path(location).exists()


def _pull(helm: Helm, location: str, args: HelmArgs, tmp: str) -> "Chart":
    from helm_ac.rendering.chart import load_chart

    ok, message = helm.pull(location, tmp, list(args.select(PULL_FLAGS).flags))
    if not ok:
        raise ChartError(f"{location}: could not fetch the chart to read its Chart.yaml: {message}")
    dirs = [p for p in Path(tmp).iterdir() if (p / "Chart.yaml").is_file()]
    if len(dirs) != 1:
        raise ChartError(f"{location}: helm pull did not produce one chart directory")
    return load_chart(dirs[0])


@dataclass
class Renderer:
    """Renders charts with one helm binary and one environment."""

    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    helm: Helm | None = None

    def __post_init__(self) -> None:
        if self.helm is None:
            self.helm = Helm(find_helm(self.env), self.env)

    def start(self, chart_args: Sequence[str], location: str, args: HelmArgs) -> "PendingRender":
        assert self.helm is not None
        if _is_local(location) is False and (location.startswith((".", "/")) or location.endswith((".tgz", "/"))):
            raise ChartError(f"{location}: no such chart directory or archive",
                             hint="give the path of a chart directory (with Chart.yaml) or of a packaged .tgz")
        pending = self.helm.start_template(template_args(chart_args, args, self.env))
        return PendingRender(self, pending, location, args, tuple(chart_args))


@dataclass
class PendingRender:
    """A chart being rendered; :meth:`result` collects it."""

    renderer: Renderer
    pending: object
    location: str
    args: HelmArgs
    chart_args: tuple[str, ...] = ()

    def result(self) -> RenderedChart:
        from helm_ac.rendering import manifests
        from helm_ac.rendering.chart import load_chart

        notes = []
        chart: Chart | None = None
        chart_error: UserError | None = None
        local = _is_local(self.location)
        try:
            if local:
                chart = load_chart(self.location)
            else:
                import tempfile

                assert self.renderer.helm is not None
                with tempfile.TemporaryDirectory(prefix="helm-ac-pull-") as tmp:
                    chart = _pull(self.renderer.helm, self.location, self.args, tmp)
        except ChartError as exc:
            chart_error = exc
        text = self.pending.result()  # type: ignore[attr-defined]
        if chart_error is not None:
            if local:
                raise chart_error
            notes.append(f"chart metadata unavailable: {chart_error.message}")
        rendered = manifests.split(text)
        if self.args.has(*_POST_RENDERER_FLAGS) and any(not o.source for o in rendered.objects):
            notes += self._attribute(rendered)
        return RenderedChart(self.location, rendered, chart, release_namespace(self.args, self.renderer.env), notes,
                             text, self.args.has("--skip-crds") and not self.args.has("--include-crds"))

    def _attribute(self, rendered: manifests.Rendered) -> list[str]:
        """The post-renderer dropped helm's ``# Source:`` lines, which tell each object's chart and template:
        render once more without it and match the objects (what is left is reported by lint)."""
        from helm_ac.rendering import manifests

        assert self.renderer.helm is not None
        plain = without_post_renderer(self.args)
        try:
            text = self.renderer.helm.template(template_args(self.chart_args or [self.location], plain,
                                                             self.renderer.env))
        except UserError as exc:
            return [(f"the --post-renderer output has no '# Source:' lines, and rendering without it failed "
                     f"({exc.message}): objects could not be matched to their charts")]
        left = manifests.attribute_from(rendered, manifests.split(text))
        note = ("the --post-renderer output has no '# Source:' lines: objects were matched to their charts "
                "and templates by rendering once more without it")
        return [note + (f" ({len(left)} not found there)" if left else "")]


#: helm template flags that name the post-renderer and its arguments (their arity: the flag table).
_POST_RENDERER_FLAGS = ("--post-renderer", "--post-renderer-args")


def without_post_renderer(args: HelmArgs) -> HelmArgs:
    """``args`` without ``--post-renderer`` and ``--post-renderer-args`` (and their values)."""
    return args.select(_POST_RENDERER_FLAGS, keep=False)


@dataclass
class Checked:
    """A release rendered, analysed, turned into a graph and linted: what template and graph start from."""

    release: str
    location: str
    rendered: RenderedChart
    analysis: "Any"  # helm_ac.analysis.model.Analysis
    graph: "Any"  # networkx.DiGraph
    findings: list  # helm_ac.analysis.lint.Finding, sorted


def release_name(positionals: Sequence[str], args: HelmArgs, command: str = "template") -> tuple[str, str]:
    """(release, chart) from ``[NAME] CHART`` as helm template takes them; when they do not fit, an
    error saying what ``helm ac COMMAND`` wants."""
    if len(positionals) == 2:
        return positionals[0], positionals[1]
    if len(positionals) == 1:
        if args.has("--generate-name", "-g", "--name-template"):
            raise UserError(f"helm ac {command} needs the release name to label its objects: give it as NAME "
                            "instead of --generate-name/--name-template", hint=f"helm ac {command} NAME CHART")
        return "release-name", positionals[0]  # helm's own default
    example = f"e.g. helm ac {command} wordpress ./charts/wordpress   (more: helm ac {command} --help)"
    if not positionals:
        raise UserError(f"helm ac {command} needs a chart: [NAME] CHART", hint=example)
    raise UserError(f"helm ac {command} takes [NAME] CHART, got {len(positionals)} arguments: {' '.join(positionals)}",
                    hint=example)


def render_and_check(renderer: Renderer, positionals: Sequence[str], args: HelmArgs,
                     implicit: "Iterable[str]") -> Checked:
    """``[NAME] CHART``: render (helm starts first), analyse, build the graph, run the lint checks."""
    release, location = release_name(positionals, args)
    pending = renderer.start(list(positionals), location, args)
    # Loaded while helm renders (networkx alone takes ~0.25 s to import; the digraph below needs it).
    import networkx  # noqa: F401

    from helm_ac.analysis import graph as graphmod  # noqa: F401
    from helm_ac.analysis import model  # noqa: F401
    from helm_ac.analysis.lint import checks  # noqa: F401

    return check(pending.result(), release, location, implicit)


def check(rc: RenderedChart, release: str, location: str, implicit: "Iterable[str]") -> Checked:
    """A release already rendered (by us, or by Helm for a post-renderer): analyse, build the graph,
    run the lint checks."""
    from helm_ac.analysis import graph as graphmod
    from helm_ac.analysis import model
    from helm_ac.analysis.lint import Finding, checks

    a = model.analyze(rc.rendered, rc.chart, rc.namespace, crds_skipped=rc.crds_skipped)
    edges = graphmod.collect(a, implicit=implicit)
    findings = sorted(checks.run_all(a, edges, location), key=Finding.sort_key)
    return Checked(release, location, rc, a, edges.digraph(), findings)
