"""``helm ac simulate``: the real engine on an in-memory cluster in virtual time.

Renders and checks the chart like ``helm ac template``, resolves the faults the user asks for
(``--fail job/migrate``: what happens if the migration Job fails?), runs
:func:`helm_ac.engine.simulation.simulate` and returns the timeline.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from helm_ac.actions.render import Renderer, render_and_check
from helm_ac.analysis.keys import Keys
from helm_ac.errors import UserError
from helm_ac.kinds import ObjectKey
from helm_ac.rendering.helm import HelmArgs

if TYPE_CHECKING:
    from helm_ac.engine.simulation import SimulateResult


@dataclass
class Faults:
    """Faults as the user wrote them (references), resolved against the chart at run time."""

    fail: list[str] = field(default_factory=list)
    never: list[str] = field(default_factory=list)
    api_errors: list[str] = field(default_factory=list)  # REF or REF=N
    api_latency: float = 0.0


def resolve(flag: str, ref_text: str, analysis: Any, keys: Any) -> ObjectKey:
    """A command-line object reference (a fault's target, an estimate's object), resolved as
    depends-on resolves references (:func:`helm_ac.analysis.model.find_objects`), with lint's
    "did you mean"."""
    from helm_ac.analysis import model
    from helm_ac.analysis.lint.checks import suggest_object
    from helm_ac.extension import refs

    try:
        ref = refs.parse_ref(ref_text)
    except refs.RefSyntaxError as exc:
        raise UserError(f"{flag} {ref_text!r}: {exc.reason}", hint=exc.hint) from None
    if isinstance(ref, refs.ChartRef):
        raise UserError(f"{flag} {ref_text!r}: name an object, not a chart", hint="e.g. job/migrate")
    matches = model.find_objects(analysis, ref)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        close = suggest_object(analysis, ref)
        names = [keys.key(k) for k in analysis.order]
        raise UserError(f"{flag} {ref_text!r} names no object of the chart" + (f"; did you mean {close}?"
                                                                                if close else ""),
                        hint="objects: " + ", ".join(names[:20]) + (" ..." if len(names) > 20 else ""))
    raise UserError(f"{flag} {ref_text!r} matches several objects: {', '.join(keys.key(k) for k in matches)}",
                    hint="qualify it: kind.group/name")


def api_error_count(item: str) -> tuple[str, int]:
    """``REF[=N]`` of --api-error: N ≥ 1 (default 1)."""
    ref, eq, count = item.partition("=")
    if not eq:
        return ref, 1
    if not count.strip().isdigit() or not count.strip().isascii() or int(count) < 1:
        raise UserError(f"--api-error {item!r}: the count after '=' must be a whole number ≥ 1",
                        hint="e.g. --api-error job/migrate=2 (the first 2 applies fail)")
    return ref, int(count)


def check_estimates(overrides: dict[str, float], analysis: Any, keys: Any) -> dict[str, float]:
    """Object estimates (kind/name) must name an object of the chart, as --fail does; kinds may be any."""
    out: dict[str, float] = {}
    for key, seconds in overrides.items():
        if "/" in key:
            obj = resolve("--estimate", key, analysis, keys)
            key = f"{obj.kind.lower()}/{obj.name}"
        out[key] = seconds
    return out


@dataclass
class Simulate:
    renderer: Renderer
    overrides: dict[str, float] = field(default_factory=dict)
    implicit: Iterable[str] = ("crd", "namespace")
    faults: Faults = field(default_factory=Faults)
    concurrency: int | None = None
    timeout: float | None = None

    def run(self, positionals: Sequence[str], args: HelmArgs) -> SimulateResult:
        api_errors = [api_error_count(item) for item in self.faults.api_errors]  # before helm runs
        checked = render_and_check(self.renderer, positionals, args, self.implicit)
        from helm_ac.engine.simulation import SimulateResult

        result = SimulateResult(checked.location, checked.release, findings=checked.findings)
        if result.failed:
            return result
        from helm_ac.analysis.estimates import from_analysis
        from helm_ac.engine import simulation
        from helm_ac.engine.scheduler import Options
        from helm_ac.engine.simulated import Behaviour
        from helm_ac.output import views

        a, g = checked.analysis, checked.graph
        keys = Keys(a, checked.release)
        est = from_analysis(a, check_estimates(self.overrides, a, keys))
        behaviour = Behaviour(seconds=est.seconds, api_latency=self.faults.api_latency)
        for ref in self.faults.fail:
            behaviour.fail.add(resolve("--fail", ref, a, keys))
        for ref in self.faults.never:
            behaviour.never.add(resolve("--never-ready", ref, a, keys))
        for ref, n in api_errors:
            behaviour.api_errors[resolve("--api-error", ref, a, keys)] = n
        options = Options(concurrency=self.concurrency, timeout=self.timeout)
        result.simulation = simulation.simulate(a, g, keys, est, behaviour=behaviour, options=options)
        view = views.GraphView(a, g, keys, est)
        result.critical_seconds = view.critical_seconds
        result.critical_path = view.critical_labels()
        return result
