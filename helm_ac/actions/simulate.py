"""``helm ac simulate``: the real engine on an in-memory cluster in virtual time.

Renders and checks the chart like ``helm ac template``, resolves the faults the user asks for
(``--fail job/migrate``: what happens if the migration Job fails?), runs
:func:`helm_ac.engine.simulation.simulate` and returns the timeline.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence

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


def resolve(ref_text: str, analysis: Any, keys: Any) -> Any:
    """A fault's target: an object of the chart named like in depends-on (kind/name, ns/kind/name)."""
    from helm_ac.extension import refs

    try:
        ref = refs.parse_ref(ref_text)
    except refs.RefSyntaxError as exc:
        raise UserError(f"{ref_text!r}: {exc.reason}", hint=exc.hint) from None
    if isinstance(ref, refs.ChartRef):
        raise UserError(f"{ref_text!r}: faults name objects, not charts", hint="e.g. --fail job/migrate")
    matches = [k for k in analysis.order
               if k.kind.lower() == ref.kind and k.name == ref.name
               and (ref.group is None or k.group == ref.group)
               and (ref.namespace is None or k.namespace == ref.namespace)]
    if len(matches) == 1:
        return matches[0]
    names = [keys.key(k) for k in analysis.order]
    if not matches:
        close = difflib.get_close_matches(ref_text.lower(), names, n=3, cutoff=0.5)
        raise UserError(f"{ref_text!r} names no object of the chart" + (f"; did you mean {', '.join(close)}?"
                                                                        if close else ""),
                        hint="objects: " + ", ".join(names[:20]) + (" ..." if len(names) > 20 else ""))
    raise UserError(f"{ref_text!r} matches several objects: {', '.join(keys.key(k) for k in matches)}",
                    hint="qualify it: namespace/kind.group/name")


@dataclass
class Simulate:
    renderer: Renderer
    overrides: dict[str, float] = field(default_factory=dict)
    implicit: Iterable[str] = ("crd", "namespace")
    faults: Faults = field(default_factory=Faults)
    concurrency: int | None = None
    timeout: float | None = None

    def run(self, positionals: Sequence[str], args: HelmArgs) -> SimulateResult:
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
        est = from_analysis(a, self.overrides)
        behaviour = Behaviour(seconds=est.seconds, api_latency=self.faults.api_latency)
        for ref in self.faults.fail:
            behaviour.fail.add(resolve(ref, a, keys))
        for ref in self.faults.never:
            behaviour.never.add(resolve(ref, a, keys))
        for item in self.faults.api_errors:
            ref, _, count = item.partition("=")
            try:
                n = int(count) if count else 1
            except ValueError:
                raise UserError(f"--api-error {item!r}: the count after '=' must be a number") from None
            behaviour.api_errors[resolve(ref, a, keys)] = n
        options = Options(concurrency=self.concurrency, timeout=self.timeout)
        result.simulation = simulation.simulate(a, g, keys, est, behaviour=behaviour, options=options)
        view = views.GraphView(a, g, keys, est)
        result.critical_seconds = view.critical_seconds
        result.critical_path = view.critical_labels()
        return result
