"""The benchmark scripts still run: tiny sizes, one round each (timings are not checked here)."""
import json
import subprocess
import sys

import pytest
from conftest import ROOT

BENCH = ROOT / "benchmarks"


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    return p


@pytest.mark.helm
def test_lint_bench_runs_and_checks_what_lint_reports(helm_binaries):
    out = _run(str(BENCH / "lint_bench.py"), "--objects", "30", "--chain", "5", "--per-file", "3", "--repeat", "1",
               "--helm", "4", "--lint-from", "source", "--json", "--quiet").stdout
    [r] = json.loads(out)["results"]
    assert r["objects"] == 30 and len(r["template_runs"]) == len(r["lint_runs"]) == 1 and r["ratio"] > 0


@pytest.mark.helm
def test_graph_bench_runs_and_checks_what_it_times(helm_binaries):
    """Structure and self-checks, never the timing: the script exits 1 when a check fails (_run asserts 0),
    and the counts it checked are those of the generated chart (60 objects, chains of 50: 2 + 1 chains)."""
    doc = json.loads(_run(str(BENCH / "graph_bench.py"), "--objects", "60", "--repeat", "1", "--helm", "3,4",
                          "--json").stdout)
    assert [r["helm_version"] for r in doc["results"]] == ["3", "4"]
    for r in doc["results"]:
        c = r["checks"]
        assert c["objects"] == c["definitions"] == 60
        assert c["depends_on_edges"] == 60 - 3
        assert c["dependencies"] == c["edges"] > c["depends_on_edges"]
        assert r["ours"] == r["parse"] + r["emit"] + r["lint"] and min(r["parse"], r["emit"], r["helm"]) > 0
        assert r["ratio"] == r["ours"] / r["helm"] and r["target"] in ("PASS", "MISS")


def test_graph_bench_self_check_catches_a_wrong_emission(tmp_path):
    """The checks the smoke test relies on can fail: one Dependency missing, one Definition changed."""
    sys.path.insert(0, str(BENCH))
    import graph_bench
    import lint_bench

    from helm_ac.analysis import graph, model
    from helm_ac.rendering import manifests

    spec = lint_bench.ChartSpec(objects=12, chain=5, per_file=3, subchart_objects=0)
    docs = "".join(f"---\n# Source: c/templates/o{i}.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                   f"  name: o{i}\n" + (f"  annotations:\n    appcontroller.k8s/depends-on: configmap/o{i - 1}\n"
                                        if i % 5 else "") + f"data:\n  i: \"{i}\"\n" for i in range(12))
    a = model.analyze(manifests.split(docs), None, "default")
    edges = graph.collect(a)
    g = edges.digraph()
    texts = graph_bench.emit(a, g)
    assert graph_bench.self_check(spec, a, g, edges, [], texts)["dependencies"] == 12 - 3
    with pytest.raises(SystemExit, match="8 Dependencies emitted, expected one per graph edge"):
        graph_bench.self_check(spec, a, g, edges, [], texts[:-1])
    with pytest.raises(SystemExit, match="the Definition of configmap/o3 does not hold the rendered object"):
        graph_bench.self_check(spec, a, g, edges, [], [t.replace('i: "3"', 'i: "x"') for t in texts])
    with pytest.raises(SystemExit, match="12 objects analysed, expected 13"):
        graph_bench.self_check(lint_bench.ChartSpec(objects=13, chain=5, per_file=3, subchart_objects=0),
                               a, g, edges, [], texts)


def test_engine_bench_runs():
    """Not timing: the rows are there, no makespan beats the lower bound, the unconstrained run equals the
    critical path, and the wave model (same latency and limit) is never below the bound either."""
    import re

    out = _run(str(BENCH / "engine_bench.py"), "--graphs", "2", "--objects", "40", "--big", "200",
               "--concurrency", "3", "--latency", "1").stdout
    rows = {m.group(1).strip(): [float(x) for x in m.group(2).split()]
            for m in re.finditer(r"^(makespan / lower bound \((?:mean|worst)\)|no latency[^\d]*)\s+([\d. ]+?)\s+[≤=]",
                                 out, re.M)}
    assert set(rows) == {"makespan / lower bound (mean)", "makespan / lower bound (worst)",
                         "no latency, no limit: makespan / crit. path"}, out
    for name in ("makespan / lower bound (mean)", "makespan / lower bound (worst)"):
        engine, exact, waves = rows[name]
        assert engine >= 1 and exact >= 1 and waves >= 1, out
    assert rows["no latency, no limit: makespan / crit. path"] == [1.0]
    assert "API calls per object" in out and "latency 1s, concurrency 3" in out


@pytest.mark.helm
@pytest.mark.plugin
def test_lint_bench_times_the_installed_plugin(helm_binaries):
    """The default mode installs a copy of the repository as a Helm plugin and times it three ways."""
    out = _run(str(BENCH / "lint_bench.py"), "--objects", "30", "--chain", "5", "--per-file", "3", "--repeat", "1",
               "--helm", "4", "--json", "--quiet").stdout
    [r] = json.loads(out)["results"]
    assert r["lint_from"] == "installed" and len(r["lint_runs"]) == len(r["plugin_runs"]) == 1
    assert r["plugin_ratio"] > 0
