#!/usr/bin/env python3
"""Benchmark: the embedded API server (``helm ac cluster``) under a release-sized load, on loopback.

The server runs as its own process (``python3 -m helm_ac cluster``), so its memory is measured
alone; the load comes from this process (aiohttp), on the same machine.

1. 100 watches on ConfigMaps of the bench namespace are opened (``watch=true``, JSON lines).
2. 10,000 ConfigMaps (about 1 KiB of data each, labels) are created by ``--writers`` concurrent
   clients: object writes per second and request latency p50/p99.  Every watch must receive every
   ADDED event (checked: a server that drops or duplicates events fails the run).
3. Then ``--patches`` merge patches on existing objects, also seen by every watch.
4. A real ``helm install`` of a 10,000-object chart (``--helm 4|3``; off with ``--helm none``):
   Helm's own requests (discovery, OpenAPI, the SSA or create of each object, the release Secret
   in protobuf) against the server, and its wall time next to ``helm template`` of the same chart.
5. The server's resident memory (VmRSS and peak VmHWM) with everything stored, and the peak of
   each phase apart (raw HTTP, Helm; the kernel's peak reset at each phase's start, and sampled),
   with the most connections the server had open at once during it.

Goals (issue 9): >= 500 object writes/s with 100 watches open, p99 < 50 ms, < 500 MiB resident
for 10,000 objects.  Run: ``python3 benchmarks/apiserver_bench.py [--objects 10000] [--watches 100]
[--writers 16] [--patches 2000] [--helm 4]``.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
NS = "bench"


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str, str, str]:
    """Start ``helm ac cluster`` on a free port; return the process, its URL, admin token and CA (PEM).

    Over TLS, as clients use it: client-go (Helm, kubectl) sends the kubeconfig's token only to an
    https server, so against ``--no-tls`` Helm's requests would be anonymous (403)."""
    kubeconfig = workdir / "kubeconfig"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "helm_ac", "cluster", "--kubeconfig", str(kubeconfig),
                             "--port", "0"], env=env, stdout=subprocess.DEVNULL,
                            stderr=(workdir / "server.log").open("wb"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited: {(workdir / 'server.log').read_text()[-2000:]}")
        if kubeconfig.exists() and kubeconfig.stat().st_size:
            cfg = yaml.safe_load(kubeconfig.read_text())
            if cfg and cfg.get("clusters"):
                server = cfg["clusters"][0]["cluster"]["server"]
                token = cfg["users"][0]["user"]["token"]
                ca = base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
                return proc, server, token, ca
        time.sleep(0.05)
    proc.kill()
    sys.exit("the server did not write its kubeconfig within 60 s")


def rss(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            fields[k] = int(v.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def sockets(pid: int) -> int:
    """Sockets the process has open (its connections, the listening one included)."""
    n = 0
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    for fd in fds:
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return n


class Phase:
    """The peak resident memory and open sockets of ``pid`` while a phase runs (``with Phase(pid) as p``).

    The kernel's peak (VmHWM) is reset at the start (``/proc/PID/clear_refs``), so it is this
    phase's own; a sampling thread (every 50 ms) also records the RSS and socket peaks."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_mib = 0.0
        self.peak_sockets = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._reset = False

    def __enter__(self) -> "Phase":
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            self._reset = True
        except OSError:
            pass
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            try:
                now = rss(self.pid)[0]
            except OSError:
                return
            self.peak_mib = max(self.peak_mib, now)
            self.peak_sockets = max(self.peak_sockets, sockets(self.pid))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        try:
            cur, hwm = rss(self.pid)
        except OSError:
            return
        self.peak_mib = max(self.peak_mib, cur, hwm if self._reset else 0.0)


class Watcher:
    def __init__(self) -> None:
        self.added: set[str] = set()
        self.modified = 0
        self.duplicates = 0
        self.ready = asyncio.Event()

    async def run(self, session: aiohttp.ClientSession, url: str) -> None:
        params = {"watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": "3600"}
        async with session.get(f"{url}/api/v1/namespaces/{NS}/configmaps", params=params) as resp:
            resp.raise_for_status()
            self.ready.set()
            async for line in resp.content:
                if not line.strip():
                    continue
                ev = json.loads(line)
                if ev["type"] == "ADDED":
                    name = ev["object"]["metadata"]["name"]
                    if name in self.added:
                        self.duplicates += 1
                    self.added.add(name)
                elif ev["type"] == "MODIFIED":
                    self.modified += 1


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000


async def load(url: str, token: str, ca: str, args: argparse.Namespace, pid: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    conn = aiohttp.TCPConnector(limit=0, ssl=ssl.create_default_context(cadata=ca))
    async with aiohttp.ClientSession(headers=headers, connector=conn,
                                     timeout=aiohttp.ClientTimeout(total=None)) as session:
        async with session.post(f"{url}/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                                  "metadata": {"name": NS}}) as r:
            assert r.status == 201, await r.text()
        watchers = [Watcher() for _ in range(args.watches)]
        tasks = [asyncio.create_task(w.run(session, url)) for w in watchers]
        await asyncio.wait_for(asyncio.gather(*(w.ready.wait() for w in watchers)), 60)

        data = {f"key{i}": "x" * 100 for i in range(10)}
        latencies: list[float] = []
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(args.objects):
            queue.put_nowait(i)

        async def writer() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                body = {"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": f"cm-{i:05d}", "labels": {"app": "bench", "shard": str(i % 10)}},
                        "data": data}
                t = time.perf_counter()
                async with session.post(f"{url}/api/v1/namespaces/{NS}/configmaps", json=body) as r:
                    await r.read()
                    if r.status != 201:
                        raise SystemExit(f"create cm-{i}: HTTP {r.status}")
                latencies.append(time.perf_counter() - t)

        t0 = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(args.writers)))
        create_s = time.perf_counter() - t0

        patch_lat: list[float] = []
        pq: asyncio.Queue[int] = asyncio.Queue()
        for i in range(args.patches):
            pq.put_nowait(i % args.objects)

        async def patcher() -> None:
            while not pq.empty():
                i = pq.get_nowait()
                t = time.perf_counter()
                async with session.patch(f"{url}/api/v1/namespaces/{NS}/configmaps/cm-{i:05d}",
                                         data=json.dumps({"data": {"patched": str(i)}}),
                                         headers={"Content-Type": "application/merge-patch+json"}) as r:
                    await r.read()
                    if r.status != 200:
                        raise SystemExit(f"patch cm-{i}: HTTP {r.status}")
                patch_lat.append(time.perf_counter() - t)

        t1 = time.perf_counter()
        await asyncio.gather(*(patcher() for _ in range(args.writers)))
        patch_s = time.perf_counter() - t1

        deadline = time.monotonic() + 120  # let the watches drain
        while time.monotonic() < deadline and any(
                len(w.added) < args.objects or w.modified < args.patches for w in watchers):
            await asyncio.sleep(0.1)
        drained = time.perf_counter() - t0
        for t in tasks:
            t.cancel()
        mem = rss(pid)
    complete = all(len(w.added) == args.objects and w.modified == args.patches and not w.duplicates
                   for w in watchers)
    return {"create_s": create_s, "patch_s": patch_s, "latencies": latencies, "patch_latencies": patch_lat,
            "drained_s": drained, "watch_complete": complete,
            "watch_min_added": min(len(w.added) for w in watchers),
            "watch_min_modified": min(w.modified for w in watchers), "rss": mem}


def helm_phase(version: str, url_kubeconfig: Path, objects: int, workdir: Path) -> tuple[float, float] | None:
    """(helm template seconds, helm install seconds) of a chart with ``objects`` ConfigMaps."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from get_helm import fetch  # type: ignore[import-not-found]

    helm = str(fetch(version, quiet=True))
    chart = workdir / "big"
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: big\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text(f"count: {objects}\n")
    (chart / "templates" / "cms.yaml").write_text(
        "{{- range $i := until (int .Values.count) }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        "  name: big-{{ $i }}\ndata:\n  index: \"{{ $i }}\"\n{{- end }}\n")
    env = dict(os.environ, KUBECONFIG=str(url_kubeconfig), HELM_CACHE_HOME=str(workdir / "hc"),
               HELM_CONFIG_HOME=str(workdir / "hcfg"), HELM_DATA_HOME=str(workdir / "hd"))
    t = time.perf_counter()
    subprocess.run([helm, "template", "big", str(chart)], env=env, check=True, stdout=subprocess.DEVNULL)
    tmpl = time.perf_counter() - t
    t = time.perf_counter()
    r = subprocess.run([helm, "install", f"big{version}", str(chart), "-n", "helm-bench", "--create-namespace",
                        "--timeout", "10m"], env=env, capture_output=True, text=True)
    inst = time.perf_counter() - t
    if r.returncode:
        print(f"helm {version} install failed: {r.stderr.strip()[-1000:]}")
        return None
    return tmpl, inst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--watches", type=int, default=100)
    ap.add_argument("--writers", type=int, default=16)
    ap.add_argument("--patches", type=int, default=2_000)
    ap.add_argument("--helm", choices=("3", "4", "none"), default="4")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="helm-ac-apibench-") as tmp:
        work = Path(tmp)
        proc, url, token, ca = start_server(work)
        try:
            idle = rss(proc.pid)
            with Phase(proc.pid) as raw:
                res = asyncio.run(load(url, token, ca, args, proc.pid))
            helm_mem = Phase(proc.pid)
            helm = None
            if args.helm != "none":
                with helm_mem:
                    helm = helm_phase(args.helm, work / "kubeconfig", args.objects, work)
            final = rss(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    lat = res["latencies"]
    writes = args.objects / res["create_s"]
    p50, p99 = pct(lat, 50), pct(lat, 99)
    plat = res["patch_latencies"] or [0.0]
    rows = [
        ("object writes/s (create, %d watches open)" % args.watches, f"{writes:,.0f}", ">= 500", writes >= 500),
        ("create latency p50 / p99 ms", f"{p50:.1f} / {p99:.1f}", "p99 < 50", p99 < 50),
        ("patch writes/s, p99 ms", f"{args.patches / max(res['patch_s'], 1e-9):,.0f}, {pct(plat, 99):.1f}",
         "p99 < 50", pct(plat, 99) < 50),
        ("every watch saw every event (no loss, no duplicate)",
         f"{res['watch_complete']} (min {res['watch_min_added']}/{args.objects} added, "
         f"{res['watch_min_modified']}/{args.patches} modified)", "True", res["watch_complete"]),
        ("server RSS idle / loaded / peak MiB", f"{idle[0]:.0f} / {res['rss'][0]:.0f} / "
         f"{max(raw.peak_mib, helm_mem.peak_mib):.0f}",
         "< 500", max(raw.peak_mib, helm_mem.peak_mib) < 500),
        ("raw-HTTP phase: server peak MiB, most sockets open", f"{raw.peak_mib:.0f}, {raw.peak_sockets}",
         "< 500", raw.peak_mib < 500),
    ]
    if args.helm != "none":
        rows.append((f"helm {args.helm} phase: server peak MiB, most sockets open",
                     f"{helm_mem.peak_mib:.0f}, {helm_mem.peak_sockets}", "< 500", helm_mem.peak_mib < 500))
        rows.append(("server RSS after everything MiB", f"{final[0]:.0f}", "< 500", final[0] < 500))
    if helm:
        rows.append((f"helm {args.helm} install of {args.objects} objects s (vs template)",
                     f"{helm[1]:.1f} (template {helm[0]:.1f}; ratio {helm[1] / helm[0]:.1f}x)", "reported", True))
    w = max(len(r[0]) for r in rows)
    print(f"{'measure':<{w}}  {'ours':>44}  {'goal':>8}  verdict")
    for name, val, goal, ok in rows:
        print(f"{name:<{w}}  {val:>44}  {goal:>8}  {'PASS' if ok else 'MISS'}")
    print(f"(all events drained {res['drained_s']:.1f} s after the first write; {os.cpu_count()} cores; "
          f"median create latency {statistics.median(lat) * 1000:.1f} ms)")
    if not res["watch_complete"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
