#!/usr/bin/env python3
"""Benchmark: building the graph and emitting AppController manifests for a 10,000-object chart.

Issue target: "our part" (graph build + emission) < 1 s and < 0.3x of `helm template`.

The chart is the one ``lint_bench.py`` generates (chains of Deployments, Services and
ConfigMaps with ``depends-on``, a subchart), at ``--objects`` (default 10,000).  For each helm
version it prints, side by side and in one run:

* ``helm template``: median wall time of the bare render;
* ``parse``: splitting and reading helm's output (manifests.split) and resolving annotations
  (model.analyze), in process;
* ``graph+emit``: ``graph.build`` plus writing every Definition and Dependency as YAML text,
  exactly what ``helm ac template`` does after rendering (median, in process, output discarded);
* ``lint``: the lint checks on that graph;
* ratios of ``graph+emit`` and of everything helm-ac does, to ``helm template``.

Run: ``python3 benchmarks/graph_bench.py [--objects N] [--repeat R] [--helm 3,4]``.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lint_bench  # noqa: E402  (the chart generator and helm helpers)

from helm_ac.analysis import graph, model
from helm_ac.analysis.keys import Keys
from helm_ac.analysis.lint import checks  # noqa: E402
from helm_ac.output import appcontroller
from helm_ac.rendering import manifests  # noqa: E402


def _median(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    """Median wall time of ``fn``; the cyclic GC is off while it runs, as in the helm-ac CLI."""
    times, out = [], None
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
        gc.enable()
    return statistics.median(times), out


def bench(major: str, chart: Path, repeat: int, work: Path) -> dict[str, float]:
    binary = lint_bench.helm_binary(major)
    env = lint_bench.helm_env(binary, work / f"helm{major}")
    argv = [binary, "template", "bench", str(chart), "--include-crds"]
    lint_bench.timed_run(argv, env)  # warm-up
    t_helm = statistics.median(lint_bench.timed_run(argv, env)[0] for _ in range(repeat))
    text = lint_bench.timed_run(argv, env)[1].stdout.decode()

    def parse():  # type: ignore[no-untyped-def]
        return model.analyze(manifests.split(text), None, "default")

    t_parse, a = _median(parse, repeat)

    def graph_and_emit():  # type: ignore[no-untyped-def]
        g = graph.build(a)
        keys = Keys(a, "bench")
        out = [appcontroller.definition_text(a, k, keys) for k in a.order]
        out += [appcontroller.dependency_text(d) for d in appcontroller.dependencies(a, g, keys)]
        return g, sum(len(s) for s in out)

    t_emit, (g, size) = _median(graph_and_emit, repeat)
    edges = graph.collect(a)  # what lint checks: the edge mapping (the digraph above is for the emitters)
    t_lint, findings = _median(lambda: checks.run_all(a, edges, "bench"), repeat)
    if findings:
        raise SystemExit(f"unexpected findings: {findings[:3]}")
    return {"helm": t_helm, "parse": t_parse, "emit": t_emit, "lint": t_lint, "objects": len(a.order),
            "edges": g.number_of_edges(), "bytes": size}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objects", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--helm", default="3,4")
    args = p.parse_args()
    spec = lint_bench.ChartSpec(objects=args.objects, chain=50, per_file=10, subchart_objects=args.objects // 20)
    with tempfile.TemporaryDirectory(prefix="helm-ac-graph-bench-") as tmp:
        chart = lint_bench.generate_chart(Path(tmp), spec)
        rows = [(m, bench(m, chart, args.repeat, Path(tmp))) for m in args.helm.split(",")]
    print(f"chart: {args.objects} objects; medians of {args.repeat}; in-process timings for helm-ac's parts")
    print(f"{'helm':<5} {'objects':>7} {'edges':>6} {'helm template':>13} {'parse':>6} {'graph+emit':>10} "
          f"{'lint':>5} {'emit/helm':>9} {'all/helm':>8}  target (graph+emit < 1 s, < 0.3x)")
    for major, r in rows:
        total = r["parse"] + r["emit"] + r["lint"]
        ok = r["emit"] < 1.0 and r["emit"] / r["helm"] < 0.3
        print(f"{major:<5} {r['objects']:>7} {r['edges']:>6} {r['helm']:>12.2f}s {r['parse']:>5.2f}s "
              f"{r['emit']:>9.2f}s {r['lint']:>4.2f}s {r['emit'] / r['helm']:>8.2f}x {total / r['helm']:>7.2f}x  "
              f"{'PASS' if ok else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
