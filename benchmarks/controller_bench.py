#!/usr/bin/env python3
"""Benchmark: the controller (``python -m helm_ac.controller``, one-shot) on the embedded API server.

Both run as their own processes (``python3 -m helm_ac cluster`` with an audit log, a readiness log
and a behaviour file without jitter; the controller as a child of this script, so its CPU time and
peak memory are its own: ``os.wait4``). Each case creates the release's Definitions and
Dependencies (as ``helm ac template`` emits them) on a fresh server, then runs the controller.

1. **Makespan against the critical path**: a chain of Deployments, a wide fan-out (one Deployment,
   then many Deployments, then one ConfigMap), a layered DAG of Deployments, Jobs and ConfigMaps.
   Readiness delays are the server's, per kind (``--delay`` s for Deployments and Jobs, ConfigMaps
   ready on creation). Critical path = the sum of the delays along the longest path. Makespan = from
   the controller's ``graph read`` log line to the last object's readiness (readiness log; a
   ConfigMap is ready at its apply). Goal: makespan <= critical path + one watch latency goal per
   object on that path.
   **Watch latency** per hop: from a parent's ``ready`` record in the readiness log to the first
   apply (audit log; its answer: one apply round trip is in it) of a child that parent was the last
   to release. Every child's delay is reported apart: a wide fan-out's children queue behind their
   siblings' applies. Goal < 50 ms per hop (median; p90 reported): kube-apiserver's watch cache delivers an event
   in a few ms, a client-go informer hands it to its handler in well under 1 ms, and one
   server-side apply is ~5-20 ms on a quiet control plane: a client-go controller acts within
   ~10-30 ms of the change; 50 ms leaves room for Python and this 2-core machine.
2. **API calls per object** from the audit log (the controller's requests only), split: applies,
   deletes, status writes, gets per object (goal <= 3, status writes included; watch events are not
   requests); lists, watches, discovery, Lease per run (reported).
3. **10,000 objects** (``--big``; ConfigMaps with Secrets, ServiceAccounts, Deployments and Jobs, a
   layered DAG): the controller's user+sys CPU seconds and peak RSS (goal < 150 MiB), and the graph
   read (from its ``Lease taken`` to its ``graph read`` log lines: two LISTs, parse, build).

Self-checks (exit 1, whatever the timings): the controller exits 0, every object is created once
(one ``201`` apply each) and ready, no object is applied before each parent is ready. Verdicts are
PASS/MISS. ``--quick`` runs tiny sizes (the smoke test). Run: ``python3 benchmarks/controller_bench.py
[--chain 20] [--fanout 100] [--layers 6 --width 20] [--delay 0.5] [--big 10000] [--json]``.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import json
import os
import random
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helm_ac.analysis import graph, model  # noqa: E402
from helm_ac.analysis.keys import Keys  # noqa: E402
from helm_ac.output import appcontroller, crds  # noqa: E402
from helm_ac.rendering import manifests  # noqa: E402

NS = "default"
RELEASE = "bench"
AGENT = "helm-ac-controller-bench"  # the bench's own requests, told apart in the audit log
HOP_GOAL_MS = 50.0
CALLS_GOAL = 3.0
RSS_GOAL_MIB = 150.0
DELAYED = ("Deployment", "Job")  # kinds the server makes wait (--delay); the others are ready on creation


class BenchError(SystemExit):
    """A self-check failed: the run's figures mean nothing."""


# ---------------------------------------------------------------- the graphs


@dataclass
class Obj:
    kind: str
    name: str
    parents: list[str] = field(default_factory=list)  # names (unique across kinds)

    @property
    def key(self) -> str:
        return f"{self.kind.lower()}/{self.name}"


def body(o: Obj, by_name: dict[str, Obj]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": o.name}
    if o.parents:
        meta["annotations"] = {"appcontroller.k8s/depends-on": ", ".join(by_name[p].key for p in o.parents)}
    labels = {"app": o.name}
    pod: dict[str, Any] = {"metadata": {"labels": labels},
                           "spec": {"containers": [{"name": "c", "image": "example/app:1"}]}}
    if o.kind == "Deployment":
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": pod}}
    if o.kind == "Job":
        pod = {**pod, "spec": {**pod["spec"], "restartPolicy": "Never"}}
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": {"template": pod}}
    if o.kind == "Secret":
        return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": {"k": o.name}}
    if o.kind == "ServiceAccount":
        return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"x": o.name * 4}}


def chain(n: int) -> list[Obj]:
    return [Obj("Deployment", f"d{i}", [f"d{i - 1}"] if i else []) for i in range(n)]


def fanout(n: int) -> list[Obj]:
    return ([Obj("Deployment", "root")] + [Obj("Deployment", f"w{i}", ["root"]) for i in range(n)]
            + [Obj("ConfigMap", "sink", [f"w{i}" for i in range(n)])])


def layered(layers: int, width: int, kinds: dict[str, float], seed: int, prefix: str = "o") -> list[Obj]:
    """``layers`` layers of ``width`` objects; each depends on 1-3 objects of the layer before
    (seeded); kinds drawn with the given weights."""
    rnd = random.Random(seed)
    names, weights = list(kinds), list(kinds.values())
    out: list[Obj] = []
    prev: list[str] = []
    for layer in range(layers):
        cur = []
        for i in range(width):
            name = f"{prefix}{layer}-{i}"
            parents = sorted(rnd.sample(prev, min(len(prev), rnd.randint(1, 3)))) if prev else []
            out.append(Obj(rnd.choices(names, weights)[0], name, parents))
            cur.append(name)
        prev = cur
    return out


def critical_path(objs: list[Obj], delay: float) -> tuple[float, int]:
    """(seconds, objects on it): the longest path by the server's delays (ties: more objects)."""
    by_name = {o.name: o for o in objs}
    best: dict[str, tuple[float, int]] = {}
    for o in objs:  # every generator lists parents before children
        d = delay if o.kind in DELAYED else 0.0
        before = max((best[p] for p in o.parents), default=(0.0, 0))
        best[o.name] = (before[0] + d, before[1] + 1)
    assert len(by_name) == len(objs)
    return max(best.values())


def emitted(objs: list[Obj]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The Definitions and Dependencies ``helm ac template`` emits for these objects."""
    by_name = {o.name: o for o in objs}
    a = model.analyze(manifests.split(yaml.safe_dump_all([body(o, by_name) for o in objs])), None, NS)
    g = graph.build(a)
    keys = Keys(a, RELEASE)
    return [appcontroller.definition(a, k, keys) for k in a.order], appcontroller.dependencies(a, g, keys)


# ---------------------------------------------------------------- the processes


def _ts(s: str) -> float:
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


class Server:
    """``helm ac cluster`` in its own process with its logs, on a free port, over TLS."""

    def __init__(self, work: Path, delay: float) -> None:
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.kubeconfig = work / "kubeconfig"
        behaviour = work / "behaviour.yaml"
        behaviour.write_text(yaml.safe_dump({"jitter": 0, "seconds": {
            k: delay for k in ("Pod", "ReplicaSet", "Deployment", "Job")}}))
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "helm_ac", "cluster", "--kubeconfig", str(self.kubeconfig), "--port", "0",
             "--audit-log", str(work / "audit.jsonl"), "--readiness-log", str(work / "ready.jsonl"),
             "--behaviour", str(behaviour)], env=env, stdout=subprocess.DEVNULL,
            stderr=(work / "server.log").open("wb"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"the server exited: {(work / 'server.log').read_text()[-2000:]}")
            if self.kubeconfig.exists() and self.kubeconfig.stat().st_size:
                cfg = yaml.safe_load(self.kubeconfig.read_text())
                if cfg and cfg.get("clusters"):
                    self.url = cfg["clusters"][0]["cluster"]["server"]
                    self.token = cfg["users"][0]["user"]["token"]
                    self.ca = base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
                    return
            time.sleep(0.05)
        self.stop()
        raise BenchError("the server did not write its kubeconfig within 60 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def audit(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.work / "audit.jsonl").read_text().splitlines()]

    def ready(self) -> dict[tuple[str, str], float]:
        out: dict[tuple[str, str], float] = {}
        path = self.work / "ready.jsonl"
        for line in path.read_text().splitlines() if path.exists() else []:
            rec = json.loads(line)
            if rec["state"] == "ready" and rec["namespace"] == NS:
                out.setdefault((rec["kind"], rec["name"]), _ts(rec["time"]))
        return out

    async def _create(self, docs: list[dict[str, Any]], writers: int = 8) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "User-Agent": AGENT}
        conn = aiohttp.TCPConnector(limit=0, ssl=ssl.create_default_context(cadata=self.ca))
        async with aiohttp.ClientSession(headers=headers, connector=conn) as s:
            for crd in crds.all_crds():
                async with s.post(f"{self.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                  json=crd) as r:
                    if r.status != 201:
                        raise BenchError(f"create CRD {crd['metadata']['name']}: {r.status} {await r.text()}")
            base = f"{self.url}/apis/{crds.API_VERSION}/namespaces/{NS}"
            for _ in range(500):  # established: served
                async with s.get(f"{base}/dependencies") as r:
                    if r.status == 200:
                        break
                await asyncio.sleep(0.02)
            queue = list(reversed(docs))

            async def writer() -> None:
                while queue:
                    d = queue.pop()
                    plural = "definitions" if d["kind"] == "Definition" else "dependencies"
                    async with s.post(f"{base}/{plural}", json=d) as r:
                        if r.status != 201:
                            raise BenchError(f"create {d['kind']} {d['metadata']['name']}: {r.status} "
                                             f"{(await r.text())[:500]}")

            await asyncio.gather(*(writer() for _ in range(writers)))

    def create(self, docs: list[dict[str, Any]]) -> None:
        asyncio.run(self._create(docs))


@dataclass
class Controller:
    """One run of ``python -m helm_ac.controller``: exit code, rusage, log lines stamped on arrival."""

    code: int
    cpu_s: float
    peak_rss_mib: float
    wall_s: float
    lines: list[tuple[float, dict[str, Any]]]
    stderr_tail: str

    def stamp(self, msg: str) -> float:
        for t, rec in self.lines:
            if rec.get("msg") == msg:
                return t
        raise BenchError(f"the controller logged no {msg!r} line:\n{self.stderr_tail}")


def run_controller(server: Server, timeout: float) -> Controller:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    argv = [sys.executable, "-m", "helm_ac.controller", "--release", RELEASE, "-n", NS,
            "--kubeconfig", str(server.kubeconfig), "--identity", "bench"]
    start = time.time()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines: list[tuple[float, dict[str, Any]]] = []
    raw: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for b in proc.stderr:
            now = time.time()
            text = b.decode(errors="replace")
            raw.append(text)
            if text.startswith("{"):
                try:
                    lines.append((now, json.loads(text)))
                except ValueError:
                    pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (ru_maxrss: KiB on Linux)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join(10)
    return Controller(proc.returncode, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                      time.time() - start, lines, "".join(raw)[-3000:])


# ---------------------------------------------------------------- the figures


def categorize(rec: dict[str, Any]) -> str:
    if not rec["resource"]:
        return "discovery"
    if rec["resource"] == "leases":
        return "lease"
    if rec["subresource"] == "status":
        return "status writes"
    verb = rec["verb"]
    return {"patch": "applies", "delete": "deletes", "list": "lists", "watch": "watches", "get": "gets",
            "create": "creates", "update": "updates"}.get(verb, verb)


CATEGORIES = ("applies", "deletes", "status writes", "gets", "lists", "watches", "discovery", "lease")
PER_OBJECT = ("applies", "deletes", "status writes", "gets")  # the rest is paid once per run


def percentile(xs: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted ``xs`` (0 when empty)."""
    if not xs:
        return 0.0
    rank = -int(-len(xs) * p // 100)  # ceil
    return xs[max(0, min(len(xs) - 1, rank - 1))]


@dataclass
class Case:
    name: str
    objs: list[Obj]
    delay: float
    #: the makespan is judged against the critical path; not for the 10,000 objects, whose rollout
    #: is bound by the server's write rate (its makespan is reported with the applies per second)
    judged: bool = True
    timeout: float = 600.0


def check(case: Case, ctl: Controller, audit: list[dict[str, Any]], ready: dict[tuple[str, str], float]
          ) -> dict[str, Any]:
    """The run's figures, after the self-checks (:class:`BenchError` when one fails)."""
    if ctl.code != 0:
        raise BenchError(f"{case.name}: the controller exited {ctl.code}:\n{ctl.stderr_tail}")
    mine = [r for r in audit if r["userAgent"] != AGENT]
    by_name = {o.name: o for o in case.objs}
    plural = {"Deployment": "deployments", "Job": "jobs", "ConfigMap": "configmaps", "Secret": "secrets",
              "ServiceAccount": "serviceaccounts"}
    applied: dict[tuple[str, str], float] = {}
    created: dict[tuple[str, str], int] = {}
    for r in mine:
        if r["verb"] == "patch" and not r["subresource"] and r["code"] in (200, 201) and r["namespace"] == NS:
            k = (r["resource"], r["name"])
            applied.setdefault(k, _ts(r["time"]))
            created[k] = created.get(k, 0) + (r["code"] == 201)
    ready_at: dict[str, float] = {}
    for o in case.objs:
        k = (plural[o.kind], o.name)
        if created.get(k) != 1:
            raise BenchError(f"{case.name}: {o.key} created {created.get(k, 0)} times (expected once)")
        if o.kind in DELAYED:
            if (o.kind, o.name) not in ready:
                raise BenchError(f"{case.name}: {o.key} never reported ready by the server")
            ready_at[o.name] = ready[(o.kind, o.name)]
        else:
            ready_at[o.name] = applied[k]  # ready on creation
    hops: dict[str, float] = {}  # the parent whose readiness let children go -> its first child's delay
    spread: list[float] = []  # every child's delay (a wide fan-out queues behind its siblings' applies)
    for o in case.objs:
        if not o.parents:
            continue
        late = max(o.parents, key=lambda p: ready_at[p])
        parent_ready = ready_at[late]
        first = applied[(plural[o.kind], o.name)]
        if first < parent_ready:
            raise BenchError(f"{case.name}: {o.key} applied {parent_ready - first:.3f} s before its parent "
                             f"{by_name[late].key} was ready")
        hops[late] = min(hops.get(late, first - parent_ready), first - parent_ready)
        spread.append(first - parent_ready)
    counts = {c: 0 for c in CATEGORIES}
    for r in mine:
        c = categorize(r)
        counts[c] = counts.get(c, 0) + 1
    n = len(case.objs)
    cp, cp_objects = critical_path(case.objs, case.delay)
    # the graph read line as it reached us; a starved reader cannot make it later than the first apply
    start = min(ctl.stamp("graph read"), min(applied.values()))
    makespan = max(ready_at.values()) - start
    hops_ms = sorted(h * 1000 for h in hops.values())
    spread_ms = sorted(h * 1000 for h in spread)
    return {
        "case": case.name, "objects": n, "critical_path_s": cp, "critical_path_objects": cp_objects,
        "makespan_s": makespan, "makespan_goal_s": cp + cp_objects * HOP_GOAL_MS / 1000,
        "judged": case.judged, "applies_per_s": n / makespan if makespan > 0 else 0.0,
        "hop_ms_median": statistics.median(hops_ms) if hops_ms else 0.0,
        "hop_ms_p90": percentile(hops_ms, 90), "hop_ms_max": hops_ms[-1] if hops_ms else 0.0, "hops": len(hops_ms),
        "child_ms_median": statistics.median(spread_ms) if spread_ms else 0.0,
        "child_ms_max": spread_ms[-1] if spread_ms else 0.0, "children": len(spread_ms),
        "calls": counts, "calls_per_object": sum(counts[c] for c in PER_OBJECT) / n,
        "calls_per_run": sum(v for c, v in counts.items() if c not in PER_OBJECT),
        "calls_total_per_object": sum(counts.values()) / n,
        "graph_read_s": ctl.stamp("graph read") - ctl.stamp("Lease taken"),
        "cpu_s": ctl.cpu_s, "peak_rss_mib": ctl.peak_rss_mib, "wall_s": ctl.wall_s,
    }


def cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a running process (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_case(case: Case, work: Path) -> dict[str, Any]:
    defs, deps = emitted(case.objs)
    server = Server(work / case.name, case.delay)
    try:
        server.create(defs + deps)
        before = cpu_seconds(server.proc.pid)
        ctl = run_controller(server, case.timeout)
        spent = cpu_seconds(server.proc.pid) - before
        return {**check(case, ctl, server.audit(), server.ready()), "server_cpu_s": spent}
    finally:
        server.stop()


def rows_of(results: list[dict[str, Any]]) -> list[tuple[str, str, str, bool | None]]:
    """(measure, ours, goal, verdict) per row; verdict None: reported, no goal."""
    rows = []
    for r in results:
        c = r["case"]
        if r["judged"]:
            rows.append((f"{c}: makespan / critical path s ({r['objects']} objects, {r['critical_path_objects']} "
                         "on the path)", f"{r['makespan_s']:.2f} / {r['critical_path_s']:.2f}",
                         f"<= {r['makespan_goal_s']:.2f}", r["makespan_s"] <= r["makespan_goal_s"]))
            rows.append((f"{c}: watch latency per hop ms median / p90 / max ({r['hops']} hops)",
                         f"{r['hop_ms_median']:.1f} / {r['hop_ms_p90']:.1f} / {r['hop_ms_max']:.1f}",
                         f"< {HOP_GOAL_MS:.0f}", r["hop_ms_median"] < HOP_GOAL_MS))
            if r["children"] > r["hops"]:
                rows.append((f"{c}: parent ready -> each child applied ms median / max ({r['children']} children)",
                             f"{r['child_ms_median']:.1f} / {r['child_ms_max']:.1f}", "reported", None))
        else:
            rows.append((f"{c}: makespan s / critical path s / objects ready per s ({r['objects']} objects)",
                         f"{r['makespan_s']:.1f} / {r['critical_path_s']:.1f} / {r['applies_per_s']:.0f}",
                         "reported", None))
            rows.append((f"{c}: parent ready -> each child applied ms median / max (queued behind the applies)",
                         f"{r['child_ms_median']:.0f} / {r['child_ms_max']:.0f}", "reported", None))
        per_obj = ", ".join(f"{k} {r['calls'][k]}" for k in PER_OBJECT if r["calls"][k])
        per_run = ", ".join(f"{k} {v}" for k, v in r["calls"].items() if v and k not in PER_OBJECT)
        rows.append((f"{c}: API calls per object ({per_obj})", f"{r['calls_per_object']:.2f}",
                     f"<= {CALLS_GOAL:.0f}", r["calls_per_object"] <= CALLS_GOAL))
        rows.append((f"{c}: API calls per run ({per_run}); all per object", f"{r['calls_per_run']} ; "
                     f"{r['calls_total_per_object']:.2f}", "reported", None))
        rows.append((f"{c}: controller CPU s / peak RSS MiB / graph read s / wall s (server CPU s meanwhile "
                     f"{r.get('server_cpu_s', 0):.1f})",
                     f"{r['cpu_s']:.1f} / {r['peak_rss_mib']:.0f} / {r['graph_read_s']:.2f} / {r['wall_s']:.1f}",
                     f"< {RSS_GOAL_MIB:.0f} MiB", r["peak_rss_mib"] < RSS_GOAL_MIB))
    return rows


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chain", type=int, default=20, help="Deployments in the chain (0: skip)")
    ap.add_argument("--fanout", type=int, default=100, help="Deployments under the root (0: skip)")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--width", type=int, default=20, help="objects per layer of the layered DAG (0: skip)")
    ap.add_argument("--delay", type=float, default=0.5, help="seconds a Deployment or Job takes to be ready")
    ap.add_argument("--big", type=int, default=10_000, help="objects of the large case (0: skip)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON, not a table")
    args = ap.parse_args(argv)
    if args.quick:
        args.chain, args.fanout, args.layers, args.width, args.delay, args.big = 3, 4, 3, 3, 0.2, 60
    cases: list[Case] = []
    if args.chain:
        cases.append(Case("chain", chain(args.chain), args.delay))
    if args.fanout:
        cases.append(Case("fan-out", fanout(args.fanout), args.delay))
    if args.width and args.layers:
        cases.append(Case("layered", layered(args.layers, args.width, {"Deployment": 2, "Job": 1, "ConfigMap": 2},
                                             args.seed), args.delay))
    if args.big:
        layers = 10
        width = max(1, args.big // layers)
        cases.append(Case("big", layered(layers, width, {"ConfigMap": 900, "Secret": 40, "ServiceAccount": 40,
                                                         "Deployment": 10, "Job": 10}, args.seed), args.delay,
                          judged=False))
    results = []
    with tempfile.TemporaryDirectory(prefix="helm-ac-ctlbench-") as tmp:
        for case in cases:
            results.append(run_case(case, Path(tmp)))
    rows = rows_of(results)
    if args.json:
        print(json.dumps({"results": results, "rows": [
            {"measure": m, "ours": v, "goal": g, "verdict": _verdict(ok)} for m, v, g, ok in rows]},
            indent=1))
        return
    w = max(len(r[0]) for r in rows)
    print(f"{'measure':<{w}}  {'ours':>26}  {'goal':>12}  verdict")
    for name, val, goal, ok in rows:
        print(f"{name:<{w}}  {val:>26}  {goal:>12}  {_verdict(ok)}")
    print(f"(delays: Deployment and Job {args.delay} s, no jitter; {os.cpu_count()} cores; load "
          f"{os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
