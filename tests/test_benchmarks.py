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
def test_lint_bench_runs_every_case_and_checks_what_lint_reports(helm_binaries):
    """The synthetic chart, the vendored real chart and the bad-references chart, side by side; every run's
    output was checked (a failed check makes the script exit 1, which _run refuses)."""
    out = _run(str(BENCH / "lint_bench.py"), "--objects", "30", "--chain", "5", "--per-file", "3", "--repeat", "1",
               "--helm", "4", "--lint-from", "source", "--bad-refs", "40", "--json", "--quiet").stdout
    doc = json.loads(out)
    results = {r["case"]: r for r in doc["results"]}
    assert list(results) == ["synthetic", "real", "bad-refs"]
    assert [r["objects"] for r in results.values()] == [30, 125, 31]
    for r in results.values():
        assert len(r["template_runs"]) == len(r["lint_runs"]) == 1 and r["checked_runs"] == 4  # warm-up + 1 round
        assert r["ratio"] == pytest.approx(r["lint_median_s"] / r["baseline_median_s"], rel=0.01, abs=0.002)
        assert r["result"] == ("PASS" if r["ratio"] <= r["target"] else "MISS")
    assert results["synthetic"]["baseline"] == results["real"]["baseline"] == "helm template"
    assert results["synthetic"]["target"] == results["real"]["target"] == 1.3
    bad = results["bad-refs"]
    assert bad["baseline"] == "synthetic lint" and bad["target"] == 1.5
    assert bad["baseline_runs"] == results["synthetic"]["lint_runs"]


def test_lint_bench_checks_refuse_a_broken_case(tmp_path, monkeypatch):
    """The self-checks fail a lint run that reports other findings, objects or exit codes than the case expects."""
    import importlib.util
    import subprocess as sp

    spec = importlib.util.spec_from_file_location("lint_bench", BENCH / "lint_bench.py")
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "lint_bench", bench)  # dataclasses look their module up
    spec.loader.exec_module(bench)
    case = bench.Case("bad-refs", tmp_path, 3, 3, 2, {"unresolved-reference": 1, "duplicate-reference": 1})
    finding = {"rule": "unresolved-reference", "message": "depends-on x: no such object; did you mean y?"}
    good = {"charts": [{"rendered": True, "objects": 3, "dependencies": 2,
                        "findings": [finding, {"rule": "duplicate-reference", "message": "lists x more than once"}]}],
            "summary": {"exitCode": 1}}
    bench.check_lint(["lint"], sp.CompletedProcess(["lint"], 1, json.dumps(good).encode(), b""), case)
    broken = [
        (0, good),  # exit code
        (1, {**good, "charts": [{**good["charts"][0], "objects": 2}]}),
        (1, {**good, "charts": [{**good["charts"][0], "findings": [finding]}]}),  # a duplicate not reported
        (1, {**good, "charts": [{**good["charts"][0], "findings": [
            {**finding, "message": "no such object"}, good["charts"][0]["findings"][1]]}]}),  # no suggestion
    ]
    for code, doc in broken:
        with pytest.raises(bench.BenchError):
            bench.check_lint(["lint"], sp.CompletedProcess(["lint"], code, json.dumps(doc).encode(), b""), case)


@pytest.mark.helm
def test_graph_bench_runs(helm_binaries):
    out = _run(str(BENCH / "graph_bench.py"), "--objects", "60", "--repeat", "1", "--helm", "4").stdout
    assert "graph+emit" in out and ("PASS" in out or "MISS" in out)


def test_engine_bench_runs():
    out = _run(str(BENCH / "engine_bench.py"), "--graphs", "2", "--objects", "30", "--big", "200").stdout
    assert "makespan / critical path" in out and "API calls per object" in out


@pytest.mark.helm
@pytest.mark.plugin
def test_lint_bench_times_the_installed_plugin(helm_binaries):
    """The default mode installs a copy of the repository as a Helm plugin and times it three ways."""
    out = _run(str(BENCH / "lint_bench.py"), "--objects", "30", "--chain", "5", "--per-file", "3", "--repeat", "1",
               "--helm", "4", "--cases", "synthetic", "--json", "--quiet").stdout
    [r] = json.loads(out)["results"]
    assert r["lint_from"] == "installed" and len(r["lint_runs"]) == len(r["plugin_runs"]) == 1
    assert r["checked_runs"] == 6 and r["plugin_ratio"] == pytest.approx(
        r["plugin_median_s"] / r["template_median_s"], rel=0.01, abs=0.002)
