"""Helpers for the controller's tests: what `helm ac template` emits for a list of objects, and an
embedded API server with the AppController CRDs installed (audit and readiness logs, a dynamic
client)."""
from __future__ import annotations

import contextlib
import datetime
import json
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml
from kubernetes.dynamic import DynamicClient

from helm_ac.analysis import graph, model
from helm_ac.analysis.keys import Keys
from helm_ac.apiserver import server as apiserver
from helm_ac.controller import __main__ as entry
from helm_ac.controller.release import selector
from helm_ac.extension import spec
from helm_ac.kube.config import connect
from helm_ac.output import appcontroller, crds
from helm_ac.rendering import manifests

DEPENDS_ON = spec.DEPENDS_ON


def cmap(name: str, depends: str | None = None, **annotations: str) -> dict[str, Any]:
    ann = {**annotations, **({DEPENDS_ON: depends} if depends else {})}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, **({"annotations": ann} if ann else {})}, "data": {"x": name}}


def objects_of(release: str, docs: list[dict[str, Any]], namespace: str = "default",
               chart: Any = None) -> tuple[model.Analysis, Any, list[dict[str, Any]], list[dict[str, Any]]]:
    """What `helm ac template` emits for ``docs``: the analysis, its graph, Definitions, Dependencies."""
    a = model.analyze(manifests.split(yaml.safe_dump_all(docs)), chart, namespace)
    g = graph.build(a)
    keys = Keys(a, release)
    return a, g, [appcontroller.definition(a, k, keys) for k in a.order], appcontroller.dependencies(a, g, keys)


CHAIN = [cmap("a"), cmap("b", "configmap/a", **{spec.PREFIX + "timeout": "90s", spec.PREFIX + "retry": "2"}),
         cmap("c", "configmap/a"), cmap("d", "configmap/b, configmap/c")]


# ---------------------------------------------------------------- the graph, read back (pure)


def _ts(s: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def wait(what: str, check: Callable[[], Any], seconds: float = 30.0) -> Any:
    """Poll ``check()`` until it is truthy (its value is returned), or fail naming ``what``."""
    deadline = time.monotonic() + seconds
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def audit_log(logs: Path) -> list[dict[str, Any]]:
    """The embedded server's audit log (``audit.jsonl`` in ``logs``), one record per request."""
    return [json.loads(line) for line in (logs / "audit.jsonl").read_text().splitlines()]


def first_ready(logs: Path) -> dict[tuple[str, str], datetime.datetime]:
    """(kind, name) -> when the object was first ready, from the server's readiness log."""
    out: dict[tuple[str, str], datetime.datetime] = {}
    for line in (logs / "ready.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["state"] == "ready":
            out.setdefault((rec["kind"], rec["name"]), _ts(rec["time"]))
    return out


class Server:
    """An embedded API server with the CRDs installed, and a dynamic client on it."""

    def __init__(self, srv: apiserver.Running, logs: Path) -> None:
        self.srv, self.logs = srv, logs
        self.dyn = DynamicClient(connect(kubeconfig=str(srv.kubeconfig), env={}).api)
        crd_res = self.dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
        for crd in crds.all_crds():
            self.dyn.create(crd_res, body=crd)
        for _ in range(500):  # established (the server's CRD controller: 0.2 s), all of them
            self.dyn.resources.invalidate_cache()
            try:
                for crd in crds.all_crds():
                    self.dyn.resources.get(api_version=crds.API_VERSION, kind=crd["spec"]["names"]["kind"])
                break
            except Exception:  # noqa: BLE001 - not served yet
                time.sleep(0.02)

    def create(self, docs: list[dict[str, Any]], namespace: str = "default") -> None:
        for d in docs:
            res = self.dyn.resources.get(api_version=d["apiVersion"], kind=d["kind"])
            self.dyn.create(res, body=d, namespace=namespace)

    def definitions(self, release: str) -> dict[str, dict[str, Any]]:
        res = self.dyn.resources.get(api_version=crds.API_VERSION, kind="Definition")
        items = self.dyn.get(res, namespace="default", label_selector=selector(release)).to_dict()["items"]
        return {d["metadata"]["name"]: d for d in items}

    def run(self, release: str, capsys: Any, *extra: str) -> tuple[int, list[dict[str, Any]]]:
        code = entry.main(["--release", release, "-n", "default", "--kubeconfig", str(self.srv.kubeconfig), *extra])
        err = capsys.readouterr().err
        return code, [json.loads(line) for line in err.splitlines() if line.startswith("{")]

    def audit(self) -> list[dict[str, Any]]:
        return audit_log(self.logs)

    def ready(self) -> dict[tuple[str, str], datetime.datetime]:
        return first_ready(self.logs)

    def first_applies(self, resource: str) -> dict[str, datetime.datetime]:
        out: dict[str, datetime.datetime] = {}
        for rec in self.audit():
            if rec["verb"] == "patch" and rec["code"] in (200, 201) and not rec["subresource"] \
                    and rec["resource"] == resource:
                out.setdefault(rec["name"], _ts(rec["time"]))
        return out


@contextlib.contextmanager
def embedded(tmp_path: Path, seconds: float = 0.2, faults: tuple[str, ...] = ()) -> Iterator[Server]:
    behaviour = tmp_path / "behaviour.yaml"  # without jitter: the order is what counts
    behaviour.write_text(yaml.safe_dump({"jitter": 0, "seconds": {k: seconds for k in (
        "Pod", "ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "Job", "PersistentVolumeClaim")}}))
    opts = apiserver.Options(audit_log=tmp_path / "audit.jsonl", readiness_log=tmp_path / "ready.jsonl",
                             behaviour=behaviour, faults=list(faults))
    with apiserver.running(opts) as srv:
        yield Server(srv, tmp_path)


def deployment(name: str, depends: str | None = None) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, **({"annotations": {DEPENDS_ON: depends}} if depends else {})},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "example/app:1"}]}}}}


def emitted(release: str, docs: list[dict[str, Any]], namespace: str = "default") -> list[dict[str, Any]]:
    """What `helm ac template` emits for ``docs`` (no hooks among them): the Definitions and
    Dependencies carrying the graph's digest, then the ReleaseGraph."""
    a = model.analyze(manifests.split(yaml.safe_dump_all(docs)), None, namespace)
    g = graph.build(a)
    keys = Keys(a, release)
    ph = appcontroller.DIGEST_PLACEHOLDER
    deps = appcontroller.dependencies(a, g, keys, ph)
    texts, digest = appcontroller.stamp([appcontroller.definition_text(a, k, keys, ph) for k in a.order]
                                        + [appcontroller.dependency_text(d) for d in deps])
    return [yaml.safe_load(t) for t in texts] + [
        appcontroller.release_graph(release, namespace, digest, len(a.order), len(deps))]
