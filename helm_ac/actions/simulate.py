"""``helm ac simulate``: the real engine on an in-memory cluster in virtual time.

Renders and checks the chart like ``helm ac template``, resolves the faults the user asks for
(``--fail job/migrate``: what happens if the migration Job fails?), runs
:func:`helm_ac.engine.simulation.simulate` and returns the timeline.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Sequence

from helm_ac.actions.references import check_estimates, resolve
from helm_ac.actions.render import Renderer, render_and_check
from helm_ac.analysis.keys import Keys
from helm_ac.errors import UserError
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


def api_error_count(item: str) -> tuple[str, int]:
    """``REF[=N]`` of --api-error: N ≥ 1 (default 1)."""
    ref, eq, count = item.partition("=")
    if not eq:
        return ref, 1
    if not count.strip().isdigit() or not count.strip().isascii() or int(count) < 1:
        raise UserError(f"--api-error {item!r}: the count after '=' must be a whole number ≥ 1",
                        hint="e.g. --api-error job/migrate=2 (the first 2 applies fail)")
    return ref, int(count)


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
