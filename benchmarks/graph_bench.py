"""Benchmark: what `helm ac template` does after helm, for a 10,000-object chart, beside `helm template`.

Issue target: helm-ac's own part < 0.3x of `helm template`, graph build + emission < 1 s.

The chart is the one ``lint_bench.py`` generates (chains of Deployments, Services and
ConfigMaps with ``depends-on``, a subchart), at ``--objects`` (default 10,000).  For each helm
version it prints, side by side and in one run:

* ``helm template``: median wall time of the bare render;
* ``parse``: from helm's output bytes to the analysis: decoding, splitting and reading every
  object (manifests.split), reading the chart's Chart.yaml tree (chart.load_chart) and resolving
  annotations (model.analyze), in process;
* ``graph+emit``: ``graph.build`` plus writing every Definition and Dependency as YAML text,
  exactly what ``helm ac template`` does after rendering (median, in process, output discarded);
* ``lint``: the lint checks on that graph (``helm ac template`` runs them too);
* ratios to ``helm template``: ``emit/helm`` (graph+emit) and ``ours/helm`` (parse + graph+emit +
  lint: everything helm-ac does after helm).  PASS/MISS judges ``ours/helm`` < 0.3x and
  graph+emit < 1 s.

Before timing, it checks what it times (and exits 1 if a check fails): the analysis holds every
generated object, the graph has one depends-on edge per object but the chain heads, lint finds
nothing, and the emitted text read back with a YAML parser is one Definition per object, holding
the rendered object unchanged, and one Dependency per graph edge.

Run: ``python3 benchmarks/graph_bench.py [--objects N] [--repeat R] [--helm 3,4] [--json]``.
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lint_bench  # noqa: E402  (the chart generator and helm helpers)
import yaml  # noqa: E402

from helm_ac.analysis import graph, model  # noqa: E402
from helm_ac.analysis.keys import Keys  # noqa: E402
from helm_ac.analysis.lint import checks  # noqa: E402
from helm_ac.output import appcontroller  # noqa: E402
from helm_ac.rendering import manifests  # noqa: E402
from helm_ac.rendering.chart import load_chart  # noqa: E402

TARGET_RATIO = 0.3
TARGET_EMIT_SECONDS = 1.0


def _median(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
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


def emit(a: model.Analysis, g: Any) -> list[str]:
    """Every Definition and Dependency as YAML text, as ``helm ac template`` writes them."""
    keys = Keys(a, "bench")
    out = [appcontroller.definition_text(a, k, keys) for k in a.order]
    out += [appcontroller.dependency_text(d) for d in appcontroller.dependencies(a, g, keys)]
    return out


def self_check(spec: lint_bench.ChartSpec, a: model.Analysis, g: Any, edges: graph.Edges, findings: list[Any],
               texts: list[str]) -> dict[str, int]:
    """Check that the benchmark timed the right work; the counts checked, or SystemExit with what is wrong."""
    problems = []
    if len(a.order) != spec.objects:
        problems.append(f"{len(a.order)} objects analysed, expected {spec.objects}")
    depends_on = sum(1 for whys in edges.values() if any(w.rule == "depends-on" for w in whys))
    if depends_on != spec.objects - spec.chain_count:
        problems.append(f"{depends_on} depends-on edges, expected {spec.objects - spec.chain_count}")
    if g.number_of_edges() != len(edges):
        problems.append(f"the digraph has {g.number_of_edges()} edges, lint's edge mapping {len(edges)}")
    if findings:
        problems.append(f"unexpected findings: {findings[:3]}")
    docs = list(yaml.load_all("---\n".join(texts), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    definitions = [d for d in docs if isinstance(d, dict) and d.get("kind") == "Definition"]
    dependencies = [d for d in docs if isinstance(d, dict) and d.get("kind") == "Dependency"]
    if len(docs) != len(definitions) + len(dependencies):
        problems.append(f"{len(docs) - len(definitions) - len(dependencies)} emitted documents are neither "
                        "Definition nor Dependency")
    if len(definitions) != spec.objects:
        problems.append(f"{len(definitions)} Definitions emitted, expected {spec.objects}")
    for key, d in zip(a.order, definitions):
        if d.get(key.kind.lower()) != a.objects[key].obj.body:
            problems.append(f"the Definition of {key} does not hold the rendered object")
            break
    if len(dependencies) != g.number_of_edges():
        problems.append(f"{len(dependencies)} Dependencies emitted, expected one per graph edge "
                        f"({g.number_of_edges()})")
    if problems:
        raise SystemExit("graph_bench self-check failed:\n  " + "\n  ".join(problems))
    return {"objects": len(a.order), "depends_on_edges": depends_on, "edges": g.number_of_edges(),
            "definitions": len(definitions), "dependencies": len(dependencies)}


def bench(major: str, chart: Path, spec: lint_bench.ChartSpec, repeat: int, work: Path) -> dict[str, Any]:
    binary = lint_bench.helm_binary(major)
    env = lint_bench.helm_env(binary, work / f"helm{major}")
    argv = [binary, "template", "bench", str(chart), "--include-crds"]
    lint_bench.timed_run(argv, env)  # warm-up
    t_helm = statistics.median(lint_bench.timed_run(argv, env)[0] for _ in range(repeat))
    raw = lint_bench.timed_run(argv, env)[1].stdout

    def parse() -> model.Analysis:
        text = raw.decode("utf-8", errors="replace")
        return model.analyze(manifests.split(text), load_chart(str(chart)), "default")

    t_parse, a = _median(parse, repeat)

    def graph_and_emit() -> tuple[Any, list[str]]:
        g = graph.build(a)
        return g, emit(a, g)

    t_emit, (g, texts) = _median(graph_and_emit, repeat)
    edges = graph.collect(a)  # what lint checks: the edge mapping (the digraph above is for the emitters)
    t_lint, findings = _median(lambda: checks.run_all(a, edges, "bench"), repeat)
    checked = self_check(spec, a, g, edges, findings, texts)
    ours = t_parse + t_emit + t_lint
    return {"helm_version": major, "helm": t_helm, "parse": t_parse, "emit": t_emit, "lint": t_lint, "ours": ours,
            "emit_ratio": t_emit / t_helm, "ratio": ours / t_helm, "bytes": sum(len(s) for s in texts),
            "checks": checked,
            "target": "PASS" if ours / t_helm < TARGET_RATIO and t_emit < TARGET_EMIT_SECONDS else "MISS"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objects", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--helm", default="3,4")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args()
    spec = lint_bench.ChartSpec(objects=args.objects, chain=50, per_file=10, subchart_objects=args.objects // 20)
    with tempfile.TemporaryDirectory(prefix="helm-ac-graph-bench-") as tmp:
        chart = lint_bench.generate_chart(Path(tmp), spec)
        rows = [bench(m, chart, spec, args.repeat, Path(tmp)) for m in args.helm.split(",")]
    if args.json:
        print(json.dumps({"objects": args.objects, "repeat": args.repeat, "results": rows}, indent=2))
        return 0
    print(f"chart: {args.objects} objects; medians of {args.repeat}; in-process timings for helm-ac's parts; "
          "self-checks passed")
    print(f"{'helm':<5} {'objects':>7} {'edges':>6} {'helm template':>13} {'parse':>6} {'graph+emit':>10} "
          f"{'lint':>5} {'emit/helm':>9} {'ours/helm':>9}  target (ours < {TARGET_RATIO}x, graph+emit < "
          f"{TARGET_EMIT_SECONDS:g} s)")
    for r in rows:
        c = r["checks"]
        print(f"{r['helm_version']:<5} {c['objects']:>7} {c['edges']:>6} {r['helm']:>12.2f}s {r['parse']:>5.2f}s "
              f"{r['emit']:>9.2f}s {r['lint']:>4.2f}s {r['emit_ratio']:>8.2f}x {r['ratio']:>8.2f}x  {r['target']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
