"""``helm ac simulate``'s core: run the real engine on the simulated cluster, in virtual time. Pure.

Returns the events, the summary, a per-object timeline, the makespan, and what a wave-based
(level by level) run of the same graph would take with the same durations.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx

from helm_ac.analysis.estimates import Estimates
from helm_ac.analysis.graph import levels
from helm_ac.analysis.keys import Keys
from helm_ac.analysis.lint import Finding, has_errors
from helm_ac.analysis.model import Analysis
from helm_ac.engine.events import Event, State, StateEvent, SummaryEvent
from helm_ac.clock import VirtualLoop
from helm_ac.engine.scheduler import Engine, Options
from helm_ac.engine.simulated import Behaviour, SimulatedCluster
from helm_ac.kinds import ObjectKey


@dataclass
class Bar:
    """One object on the timeline."""

    key: str
    start: float | None
    end: float | None
    state: State
    attempts: int = 1
    retries: list[float] = field(default_factory=list)  # when each attempt after the first started
    message: str = ""  # of the final state: why it failed, what blocked it
    ready_at: float | None = None  # first ready (start of its children); None if never


@dataclass
class Simulation:
    events: list[Event]
    summary: SummaryEvent
    bars: list[Bar]
    makespan: float
    wave_makespan: float
    api_calls: dict[str, int] = field(default_factory=dict)
    callbacks: int = 0


def wave_makespan(analysis: Analysis, graph: nx.DiGraph, seconds: Any, *, latency: float = 0.0,
                  concurrency: int | None = None) -> float:
    """Level-synchronous install (Helm HIP-0025 batches, Argo CD waves, cli-utils phases): each level
    starts when the slowest object of the previous level is ready.  Like with like: every object takes
    the API ``latency`` on top of its duration, as on the simulated cluster, and with a
    ``concurrency`` limit a level's objects share that many slots, taken in name order (a wave tool knows
    no chains; the engine's queue puts the longest chain ahead first)."""
    by_level: dict[int, list[ObjectKey]] = {}
    for n, lv in levels(graph).items():
        if isinstance(n, ObjectKey):
            by_level.setdefault(lv, []).append(n)
    total = 0.0
    for lv in sorted(by_level):
        durations = [latency + seconds(n) for n in sorted(by_level[lv], key=str)]
        if concurrency is None or concurrency >= len(durations):
            total += max(durations)
            continue
        slots = [0.0] * concurrency  # free times; each object takes the earliest free slot
        for d in durations:
            i = slots.index(min(slots))
            slots[i] += d
        total += max(slots)
    return total


def simulate(analysis: Analysis, graph: nx.DiGraph, keys: Keys, estimates: Estimates, *,
             behaviour: Behaviour | None = None, options: Options | None = None) -> Simulation:
    """Install the graph on a simulated cluster and record what happened."""
    loop = VirtualLoop()
    behaviour = behaviour or Behaviour(seconds=estimates.seconds)
    cluster = SimulatedCluster(loop, behaviour)
    events: list[Event] = []
    options = options or Options()
    if options.durations is None:  # the engine orders its queue by the same estimates
        options = replace(options, durations=estimates.seconds)
    engine = Engine(analysis, graph, cluster, loop, keys, options, events.append)
    engine.start()
    loop.run()
    summary = engine.summary()  # sent at the end of the run (Engine.done); asked here if it never ended
    bars: dict[str, Bar] = {}
    for e in events:
        if not isinstance(e, StateEvent):
            continue
        bar = bars.setdefault(e.key, Bar(e.key, None, None, e.state))
        if e.state is State.APPLYING and bar.start is None:
            bar.start = e.time
        elif e.state is State.APPLYING and (e.attempt or 1) > bar.attempts:
            bar.retries.append(e.time)
        bar.attempts = max(bar.attempts, e.attempt or 1)
        if e.state.final:
            bar.end, bar.state, bar.message = e.time, e.state, e.message
            if e.state is State.READY and bar.ready_at is None:
                bar.ready_at = e.time
    order = {keys.key(k): i for i, k in enumerate(analysis.order)}
    timeline = sorted(bars.values(), key=lambda b: (b.start if b.start is not None else float("inf"),
                                                    order.get(b.key, 0)))
    wave = wave_makespan(analysis, graph, behaviour.seconds, latency=behaviour.api_latency,
                         concurrency=options.concurrency)
    return Simulation(events, summary, timeline, summary.duration, wave, dict(cluster.calls), loop.callbacks_run)


@dataclass
class SimulateResult:
    chart: str
    release: str
    findings: list[Finding] = field(default_factory=list)
    simulation: Simulation | None = None
    critical_seconds: float = 0.0
    critical_path: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return has_errors(self.findings)
