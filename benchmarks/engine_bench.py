#!/usr/bin/env python3
"""Benchmark: the orchestration engine on the simulated cluster (virtual time), side by side.

1. Random DAGs of 500 objects with random readiness durations, installed under a slow API
   (``--latency``, default 2 s per object) and a concurrency limit (``--concurrency``, default 8
   objects in flight): the engine's makespan against a **lower bound** that accounts for both,
   ``max(longest path with latency + duration per object, total slot time / concurrency)``; no
   schedule can beat it, so a ratio of 1.000 is optimal.  The engine orders its queue by the chain
   still ahead of each object (critical-path list scheduling) from *estimates*: here they are ±50%
   off the true durations.  Target: mean ≤ 1.05, worst ≤ 1.10 (dispatch in name order, as before
   this benchmark, measured 1.06 / 1.14 at concurrency 8 and 1.11 / 1.48 at 16: it misses).  Next to
   it the engine with exact durations, and the wave-based run (level by level, HIP-0025 batches,
   Argo CD waves, cli-utils phases) under the same latency and limit, against the same bound.
2. A 10,000-object graph: CPU time to plan and dispatch the whole install (target < 1 s): the
   engine's own share from the plan event to the summary (median of three), manifests already
   parsed; the timeline and the wave comparison that ``helm ac simulate`` adds are not counted.  The
   simulated cluster is the full Kubernetes model of :mod:`helm_ac.kubesim` (store, managedFields,
   ReplicaSets, Pods, endpoints), whose CPU is measured apart (:class:`Meter`) and printed beside it.
3. API calls per object during a simulated install (target ≤ 3, plus watch events; no polling).

No helm needed: charts are generated as rendered manifests.  Run:
``python3 benchmarks/engine_bench.py [--graphs 20] [--objects 500] [--latency 2] [--concurrency 8]
[--big 10000] [--seed 1]``.
"""
from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helm_ac.analysis import graph, model
from helm_ac.analysis.estimates import Estimates  # noqa: E402
from helm_ac.analysis.keys import Keys
from helm_ac.engine import simulation
from helm_ac.clock import VirtualLoop  # noqa: E402
from helm_ac.engine.scheduler import Engine, Options  # noqa: E402
from helm_ac.engine.simulated import Behaviour, SimulatedCluster  # noqa: E402
from helm_ac.output import views
from helm_ac.rendering import manifests  # noqa: E402

KINDS = ("ConfigMap", "Deployment", "Job", "StatefulSet", "Secret")


def _doc(i: int, kind: str, parents: list[tuple[int, str]]) -> str:
    api = {"ConfigMap": "v1", "Secret": "v1", "Deployment": "apps/v1", "StatefulSet": "apps/v1", "Job": "batch/v1"}[kind]
    dep = ""
    if parents:
        refs = ", ".join(f"{k.lower()}/o{p}" for p, k in parents)
        dep = f"\n  annotations:\n    appcontroller.k8s/depends-on: \"{refs}\""
    body = f"---\n# Source: bench/templates/o{i}.yaml\napiVersion: {api}\nkind: {kind}\nmetadata:\n  name: o{i}{dep}\n"
    if kind in ("Deployment", "StatefulSet"):
        body += (f"spec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: o{i}}}\n  template:\n"
                 f"    metadata:\n      labels: {{app: o{i}}}\n")
    return body


def random_chart(rng: random.Random, n: int, edge_p: float) -> tuple[str, dict[str, float]]:
    kinds = [rng.choice(KINDS) for _ in range(n)]
    docs, seconds = [], {}
    for i in range(n):
        cands = range(max(0, i - 60), i)
        parents = [(p, kinds[p]) for p in cands if rng.random() < edge_p]
        docs.append(_doc(i, kinds[i], parents))
        seconds[f"{kinds[i].lower()}/o{i}"] = float(rng.randint(1, 300))
    return "".join(docs), seconds


def prepare(text: str, seconds: dict[str, float]):  # type: ignore[no-untyped-def]
    a = model.analyze(manifests.split(text), None, "default")
    g = graph.build(a)
    return a, g, Keys(a, "bench"), Estimates(seconds)


def lower_bound(g: Any, seconds: Any, latency: float, concurrency: int | None) -> float:
    """No install can be faster: the longest chain (each object: latency + duration) and, under a
    limit, the total slot time shared by ``concurrency`` slots."""
    import networkx as nx

    from helm_ac.kinds import ObjectKey

    def cost(n: Any) -> float:
        return latency + seconds(n) if isinstance(n, ObjectKey) else 0.0

    finish: dict[Any, float] = {}
    for n in nx.topological_sort(g):
        finish[n] = max((finish[p] for p in g.predecessors(n)), default=0.0) + cost(n)
    chain = max(finish.values(), default=0.0)
    work = sum(cost(n) for n in g)
    return max(chain, work / concurrency) if concurrency else chain


TARGET_MEAN, TARGET_WORST = 1.05, 1.10


class Meter:
    """CPU time split between the engine and the simulated cluster, which call each other: the
    cluster's calls, the loop callbacks the cluster schedules and the store's change deliveries are
    the cluster's; the engine's watch callbacks (run inside a store write) and the callbacks it
    schedules are the engine's.  A stack of owners; each switch charges the time since the last."""

    def __init__(self) -> None:
        self.spent = {"engine": 0.0, "cluster": 0.0}
        self._stack: list[str] = []
        self._mark = 0.0

    def _switch(self) -> None:
        now = time.process_time()
        if self._stack:
            self.spent[self._stack[-1]] += now - self._mark
        self._mark = now

    def run(self, owner: str, fn: Any, *args: Any, **kw: Any) -> Any:
        self._switch()
        self._stack.append(owner)
        try:
            return fn(*args, **kw)
        finally:
            self._switch()
            self._stack.pop()

    def wrap(self, owner: str, fn: Any) -> Any:
        return lambda *a, **kw: self.run(owner, fn, *a, **kw)

    def instrument(self, loop: VirtualLoop, cluster: SimulatedCluster) -> None:
        call_later = loop.call_later
        # a callback belongs to whoever scheduled it
        loop.call_later = lambda delay, fn: call_later(  # type: ignore[method-assign]
            delay, self.wrap(self._stack[-1] if self._stack else "engine", fn))
        call, watch = cluster.call, cluster.watch
        # the cluster's calls are the cluster's; the replies and watch messages it hands back are the engine's
        cluster.call = lambda request, reply: self.run(  # type: ignore[method-assign]
            "cluster", call, request, self.wrap("engine", reply))
        cluster.watch = lambda stream, version, sink: self.run(  # type: ignore[method-assign]
            "cluster", watch, stream, version, self.wrap("engine", sink))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--graphs", type=int, default=20)
    p.add_argument("--objects", type=int, default=500)
    p.add_argument("--latency", type=float, default=2.0, help="API latency per call, virtual seconds")
    p.add_argument("--concurrency", type=int, default=8, help="objects in flight at once")
    p.add_argument("--big", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    rng = random.Random(args.seed)
    noise = random.Random(args.seed + 1)

    ours, noisy, waves, free, calls = [], [], [], [], []
    for _ in range(args.graphs):
        a, g, keys, est = prepare(*random_chart(rng, args.objects, rng.choice([0.02, 0.05, 0.1])))
        sim = simulation.simulate(a, g, keys, est, behaviour=Behaviour(seconds=est.seconds, api_latency=args.latency),
                                  options=Options(concurrency=args.concurrency))
        if not sim.summary.ok:
            raise SystemExit("a simulated install failed")
        bound = lower_bound(g, est.seconds, args.latency, args.concurrency)
        ours.append(sim.makespan / bound)
        off = {k: noise.uniform(0.5, 1.5) for k in a.order}  # the engine orders by estimates that are ±50% off
        rough = simulation.simulate(a, g, keys, est, behaviour=Behaviour(seconds=est.seconds, api_latency=args.latency),
                                    options=Options(concurrency=args.concurrency,
                                                    durations=lambda k, off=off: est.seconds(k) * off[k]))
        noisy.append(rough.makespan / bound)
        waves.append(sim.wave_makespan / bound)
        calls.append(sum(v for k, v in sim.api_calls.items() if k != "watch") / len(a.order))
        unlimited = simulation.simulate(a, g, keys, est)  # no latency, no limit: exactly the critical path
        free.append(unlimited.makespan / views.GraphView(a, g, keys, est).critical_seconds)

    a, g, keys, est = prepare(*random_chart(rng, args.big, 0.03))
    for info in a.objects.values():  # parsing manifests is rendering's cost (graph_bench.py), not dispatch's
        info.obj.body
    cpus, cluster_cpus = [], []
    for _ in range(3):  # the median of three: CPU time still wobbles on shared machines
        gc.collect()
        gc.disable()
        loop = VirtualLoop()
        cluster = SimulatedCluster(loop, Behaviour(seconds=est.seconds))
        meter = Meter()
        meter.instrument(loop, cluster)
        engine = Engine(a, g, cluster, loop, keys)
        meter.run("engine", engine.start)
        meter.run("engine", loop.run)  # each callback is charged to its owner
        meter.run("engine", engine.summary)
        cpus.append(meter.spent["engine"])
        cluster_cpus.append(meter.spent["cluster"])
        gc.enable()
    cpu = statistics.median(cpus)
    sim = simulation.simulate(a, g, keys, est)
    big_calls = sum(v for k, v in sim.api_calls.items() if k != "watch") / len(a.order)

    ok_mean, ok_worst = statistics.mean(noisy) <= TARGET_MEAN, max(noisy) <= TARGET_WORST
    print(f"engine benchmark (seed {args.seed}), virtual time on the simulated cluster")
    print(f"{args.graphs} DAGs x {args.objects} objects, API latency {args.latency:g}s, concurrency {args.concurrency}; "
          f"ratios to the lower bound max(longest chain, slot time / {args.concurrency})")
    print("engine: the queue ordered by estimates ±50% off (the target); exact: by the true durations")
    print(f"{'measure':<40} {'engine':>8} {'exact':>8} {'waves':>8}  target (engine)")
    print(f"{'makespan / lower bound (mean)':<40} {statistics.mean(noisy):>8.3f} {statistics.mean(ours):>8.3f} "
          f"{statistics.mean(waves):>8.3f}  ≤ {TARGET_MEAN:.2f}  {'PASS' if ok_mean else 'MISS'}")
    print(f"{'makespan / lower bound (worst)':<40} {max(noisy):>8.3f} {max(ours):>8.3f} {max(waves):>8.3f}  "
          f"≤ {TARGET_WORST:.2f}  {'PASS' if ok_worst else 'MISS'}")
    print(f"{'no latency, no limit: makespan / crit. path':<40} {max(free):>8.3f} {'':>8} {'':>8}  = 1  "
          f"{'PASS' if max(free) <= 1 + 1e-9 else 'MISS'}")
    print(f"{f'CPU to dispatch {len(a.order)} objects (s)':<40} {cpu:>8.2f} {'':>8} {'':>8}  < 1 s  "
          f"{'PASS' if cpu < 1 else 'MISS'}")
    print(f"  (the simulated cluster's own CPU on top: {statistics.median(cluster_cpus):.2f} s for "
          f"{sim.api_calls.get('apply', 0)} applies)")
    print(f"{'API calls per object (DAGs / big graph)':<40} {statistics.mean(calls):>8.2f} {big_calls:>8.2f} "
          f"{'':>8}  ≤ 3 + watch  {'PASS' if max(calls + [big_calls]) <= 3 else 'MISS'}")
    print(f"  big graph: {g.number_of_edges()} edges, {sim.callbacks} loop callbacks, makespan {sim.makespan:.0f}s "
          f"virtual, waves {sim.wave_makespan:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
