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
               "--helm", "4", "--cases", "synthetic", "--json", "--quiet").stdout
    [r] = json.loads(out)["results"]
    assert r["lint_from"] == "installed" and len(r["lint_runs"]) == len(r["plugin_runs"]) == 1
    assert r["checked_runs"] == 6 and r["plugin_ratio"] == pytest.approx(
        r["plugin_median_s"] / r["template_median_s"], rel=0.01, abs=0.002)


def test_controller_bench_runs_and_checks_what_it_measures():
    """The controller on the embedded server, tiny sizes: every case ran (the script's self-checks: exit 0,
    each object created once and ready, none applied before its parents), and no makespan beats its
    critical path (the server's delays are a floor no controller can go under)."""
    doc = json.loads(_run(str(BENCH / "controller_bench.py"), "--quick", "--json").stdout)
    results = {r["case"]: r for r in doc["results"]}
    assert list(results) == ["chain", "fan-out", "layered", "big"]
    assert [r["objects"] for r in results.values()] == [3, 6, 9, 60]
    assert results["chain"]["critical_path_objects"] == results["fan-out"]["critical_path_objects"] == 3
    assert results["chain"]["critical_path_s"] == pytest.approx(3 * 0.2)
    assert results["chain"]["hops"] == 2 and results["fan-out"]["hops"] == 2  # root, then the last of the four
    assert results["fan-out"]["children"] == 5
    for r in results.values():
        assert r["calls"]["applies"] == r["objects"] and r["calls"]["deletes"] == 0
        assert r["calls"]["status writes"] >= r["objects"] and r["calls"]["lease"] >= 2
        assert r["makespan_s"] >= r["critical_path_s"]
        assert 0 < r["peak_rss_mib"] and 0 < r["cpu_s"] and r["graph_read_s"] >= 0
    verdicts = {row["measure"]: row["verdict"] for row in doc["rows"]}
    chain = results["chain"]
    assert verdicts[next(m for m in verdicts if m.startswith("chain: makespan"))] == \
        ("PASS" if chain["makespan_s"] <= chain["makespan_goal_s"] else "MISS")
    assert not any(m.startswith("big: makespan /") for m in verdicts)  # reported, not judged


def test_controller_bench_self_checks_refuse_a_broken_run():
    """A controller that failed, created an object twice or applied a child before its parent was
    ready fails the run (exit 1), whatever its timings."""
    sys.path.insert(0, str(BENCH))
    import controller_bench as cb

    case = cb.Case("c", cb.chain(2), 0.5)
    t0 = 1_700_000_000.0

    def stamp(t: float) -> str:
        import datetime
        return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat().replace("+00:00", "Z")

    def apply(name: str, t: float, code: int = 201) -> dict:
        return {"time": stamp(t), "userAgent": "x", "verb": "patch", "subresource": "", "code": code,
                "namespace": "default", "resource": "deployments", "name": name}

    ready = {("Deployment", "d0"): t0 + 0.5, ("Deployment", "d1"): t0 + 1.02}
    ok = cb.Controller(0, 1.0, 70.0, 2.0, [(t0 - 1, {"msg": "Lease taken"}), (t0, {"msg": "graph read"})], "")
    good = [apply("d0", t0 + 0.01), apply("d1", t0 + 0.51)]
    r = cb.check(case, ok, good, ready)
    assert r["hops"] == 1 and r["hop_ms_median"] == pytest.approx(10, abs=0.01)
    assert r["makespan_s"] == pytest.approx(1.02) and r["critical_path_s"] == 1.0 and r["graph_read_s"] == 1.0
    assert r["calls"]["applies"] == 2 and r["calls_per_object"] == 1
    late = cb.Controller(0, 1.0, 70.0, 2.0, [(t0 - 1, {"msg": "Lease taken"}), (t0 + 0.2, {"msg": "graph read"})], "")
    assert cb.check(case, late, good, ready)["makespan_s"] == pytest.approx(1.01)  # a log line read late
    with pytest.raises(cb.BenchError, match="exited 1"):
        cb.check(case, cb.Controller(1, *[getattr(ok, f) for f in ("cpu_s", "peak_rss_mib", "wall_s", "lines",
                                                                    "stderr_tail")]), good, ready)
    with pytest.raises(cb.BenchError, match="deployment/d1 created 2 times"):
        cb.check(case, ok, good + [apply("d1", t0 + 0.6)], ready)
    with pytest.raises(cb.BenchError, match="deployment/d1 applied 0.090 s before its parent deployment/d0"):
        cb.check(case, ok, [apply("d0", t0 + 0.01), apply("d1", t0 + 0.41)], ready)
    with pytest.raises(cb.BenchError, match="deployment/d1 never reported ready"):
        cb.check(case, ok, good, {("Deployment", "d0"): t0 + 0.5})
