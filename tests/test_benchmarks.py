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
def test_graph_bench_runs(helm_binaries):
    out = _run(str(BENCH / "graph_bench.py"), "--objects", "60", "--repeat", "1", "--helm", "4").stdout
    assert "graph+emit" in out and ("PASS" in out or "MISS" in out)


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
