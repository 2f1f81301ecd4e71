"""Issue 10 point 3: a Definition reads as in progress from the moment Helm creates it.

The Definition CRD's ``status`` has a default (``observedGeneration: 0, phase: Pending, reason:
NotObserved``) that the API server (here the embedded one, which defaults as kube-apiserver does)
puts on every read; the controller no longer writes Pending over it. So Helm 4's ``--wait``
(kstatus) waits for the ordered rollout, ``kubectl wait --for=condition=Ready`` returns once the
controller made a Definition Ready, and Helm 3's ``--wait`` (which does not read custom resources)
returns at once.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import get_helm  # scripts/ is on sys.path (tests/conftest.py)
import jsonschema
import pytest
import yaml
from conftest import HelmEnv
from controllerkit import Server, cmap, deployment, embedded, objects_of

from helm_ac.controller.run import reads_pending
from helm_ac.controller.status import PHASE
from helm_ac.kubesim import crds as kubesim_crds
from helm_ac.kubesim import validation
from helm_ac.output import crds

DEFAULT = {"observedGeneration": 0, "phase": "Pending", "reason": "NotObserved"}


def chain(prefix: str) -> list[dict[str, Any]]:
    """Three ConfigMaps in a row, named for the test (releases share the server's namespace)."""
    return [cmap(f"{prefix}a"), cmap(f"{prefix}b", f"configmap/{prefix}a"), cmap(f"{prefix}c", f"configmap/{prefix}b")]


def graph_of(release: str, prefix: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    _, _, defs, deps = objects_of(release, chain(prefix))
    return defs, deps


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with embedded(tmp_path_factory.mktemp("defaults")) as srv:
        yield srv


def definitions_res(server: Server) -> Any:
    return server.dyn.resources.get(api_version=crds.API_VERSION, kind="Definition")


def eventually(check: Callable[[], Any], what: str, seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def status_events(server: Server, since: str, names: set[str]) -> list[dict[str, Any]]:
    """The Definitions' watch events after resourceVersion ``since`` (replayed from the history)."""
    res = definitions_res(server)
    out = []
    for ev in server.dyn.watch(res, namespace="default", resource_version=since, timeout=1):
        obj = ev["raw_object"]
        if obj["metadata"]["name"] in names:
            out.append({"type": ev["type"], "name": obj["metadata"]["name"], "status": obj.get("status"),
                        "generation": obj["metadata"]["generation"]})
    return out


# ---------------------------------------------------------------------------------------------- the CRD


def test_the_definition_crd_declares_a_valid_status_default_and_its_reason():
    crd = crds.definition_crd()
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["default"] == DEFAULT == crds.STATUS_DEFAULT
    jsonschema.validate(DEFAULT, crds.schema_of("Definition")["properties"]["status"])
    # the embedded server's CRD validation: structural, and the default valid and pruned
    assert kubesim_crds.causes(crd) == [] and validation.default_causes(crd) == []
    assert {reason for _, reason in PHASE.values()} | {"NotObserved"} == set(crds.REASONS)
    assert "NotObserved" in status["properties"]["reason"]["description"]


def test_the_run_writes_pending_only_where_the_status_read_does_not_say_so():
    assert reads_pending(dict(DEFAULT), 1)  # never written: the default
    assert reads_pending({"phase": "Pending", "observedGeneration": 3}, 3)
    assert not reads_pending(None, 1)  # an API server without the default (an older CRD)
    assert not reads_pending({"phase": "Ready", "observedGeneration": 1}, 2)  # an upgrade
    assert not reads_pending({"phase": "Pending", "observedGeneration": 1}, 2)
    assert not reads_pending({"phase": "WaitingReady", "observedGeneration": 2}, 2)


# ---------------------------------------------------------------------------------------------- reads


def test_a_definition_no_controller_touched_reads_pending_on_create_get_list_watch_and_kubectl(server):
    defs, _ = graph_of("idle", "idle-")
    res = definitions_res(server)
    since = server.dyn.get(res, namespace="default").metadata.resourceVersion
    created = server.dyn.create(res, body=defs[0], namespace="default").to_dict()
    assert created["status"] == DEFAULT and created["metadata"]["generation"] == 1
    for d in defs[1:]:
        server.dyn.create(res, body={**d, "status": {"phase": "Ready", "observedGeneration": 1}}, namespace="default")
    name = defs[0]["metadata"]["name"]
    assert server.dyn.get(res, name=name, namespace="default").to_dict()["status"] == DEFAULT
    listed = server.definitions("idle")
    assert len(listed) == 3 and all(d["status"] == DEFAULT for d in listed.values())  # a create drops status
    events = status_events(server, since, set(listed))
    assert [e["type"] for e in events] == ["ADDED"] * 3 and all(e["status"] == DEFAULT for e in events)
    kubectl = [str(get_helm.fetch_kubectl(quiet=True)), "--kubeconfig", str(server.srv.kubeconfig), "-n", "default"]
    out = subprocess.run([*kubectl, "get", "acdef", name, "-o", "jsonpath={.status}"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert yaml.safe_load(out) == DEFAULT
    table = subprocess.run([*kubectl, "get", "acdef", name], capture_output=True, text=True, timeout=60,
                           check=True).stdout.split("\n")
    assert table[0].split()[:2] == ["NAME", "PHASE"] and table[1].split()[:2] == [name, "Pending"]


# ---------------------------------------------------------------------------------------------- the controller


def test_the_controller_writes_no_pending_over_the_default_but_over_an_older_generations_status(server, capsys):
    defs, deps = graph_of("fresh", "fresh-")
    res = definitions_res(server)
    since = server.dyn.get(res, namespace="default").metadata.resourceVersion
    server.create(defs + deps)
    code, log = server.run("fresh", capsys)
    assert code == 0, log
    names = {d["metadata"]["name"] for d in defs}
    events = status_events(server, since, names)
    written = [e for e in events if e["type"] == "MODIFIED"]
    assert {e["name"] for e in written} == names
    assert all(e["status"]["phase"] != "Pending" for e in written), [e["status"]["phase"] for e in written]
    # an upgrade: the status says Ready for generation 1, the Definition is at 2 -> Pending first
    # (its parent, a Deployment, is ready only after 0.2 s: the Pending write is not coalesced away)
    _, _, defs, deps = objects_of("up", [deployment("up-a"), cmap("up-b", "deployment/up-a")])
    server.create(defs + deps)
    name = "configmap-up-b"
    server.dyn.patch(res.subresources["status"], name=name, namespace="default",
                     content_type="application/merge-patch+json",
                     body={"status": {"phase": "Ready", "reason": "Ready", "observedGeneration": 1}})
    bumped = server.dyn.patch(res, name=name, namespace="default", content_type="application/merge-patch+json",
                              body={"configmap": {"data": {"x": "changed"}}}).to_dict()
    assert bumped["metadata"]["generation"] == 2 and bumped["status"]["phase"] == "Ready"
    since = bumped["metadata"]["resourceVersion"]
    code, log = server.run("up", capsys)
    assert code == 0, log
    mine = [e["status"] for e in status_events(server, since, {name}) if e["type"] == "MODIFIED"]
    assert (mine[0]["phase"], mine[0]["observedGeneration"]) == ("Pending", 2)
    assert (mine[-1]["phase"], mine[-1]["observedGeneration"]) == ("Ready", 2)


# ---------------------------------------------------------------------------------------------- real tools


def chart(tmp: Path, docs: list[dict[str, Any]]) -> Path:
    """A chart whose templates are what ``helm ac template`` emits (Definitions and Dependencies)."""
    (tmp / "templates").mkdir(parents=True)
    (tmp / "Chart.yaml").write_text("apiVersion: v2\nname: graph\nversion: 0.1.0\n")
    (tmp / "templates" / "graph.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return tmp


def helm_env(helm: HelmEnv, server: Server) -> dict[str, str]:
    return dict(helm.env, KUBECONFIG=str(server.srv.kubeconfig))


def helm_of(major: str, binaries: dict[str, str], tmp: Path) -> HelmEnv:
    return HelmEnv(major, binaries[major], tmp / f"helm{major}")


def helm_made(server: Server, release: str) -> list[dict[str, Any]]:
    """The Definitions Helm created for ``release``, found by the controller's own selector. Helm
    (3 and 4) sets ``app.kubernetes.io/managed-by: Helm`` on everything it installs, over the chart's
    ``helm-ac``: the selector is helm-ac's own label, which Helm leaves alone."""
    made = list(server.definitions(release).values())
    assert all(d["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm" for d in made)
    return made


def test_helm4_wait_times_out_without_a_controller(server, helm_binaries, tmp_path):
    helm = helm_of("4", helm_binaries, tmp_path)
    defs, deps = graph_of("h4idle", "h4idle-")
    p = helm.run("install", "h4idle", str(chart(tmp_path / "chart", defs + deps)), "-n", "default", "--wait",
                 "--timeout", "3s", env=helm_env(helm, server), check=False)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "context deadline exceeded" in p.stderr, p.stderr
    assert "Definition generation is 1, but latest observed generation is 0" in p.stderr, p.stderr
    made = helm_made(server, "h4idle")
    assert len(made) == 3 and all(d["status"] == DEFAULT for d in made)


def test_helm4_wait_returns_once_the_controller_rolled_the_release_out(server, helm_binaries, tmp_path, capsys):
    helm = helm_of("4", helm_binaries, tmp_path)
    defs, deps = graph_of("h4", "h4-")
    proc = subprocess.Popen([helm.binary, "install", "h4", str(chart(tmp_path / "chart", defs + deps)), "-n",
                             "default", "--wait", "--timeout", "60s"], env=helm_env(helm, server),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: len(helm_made(server, "h4")) == 3 or proc.poll() is not None, "Helm's Definitions")
        time.sleep(1.0)  # Helm is waiting, and keeps waiting on the Definitions as created
        assert proc.poll() is None, proc.communicate()
        code, log = server.run("h4", capsys)
        assert code == 0, log
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, (out, err)
    assert "STATUS: deployed" in out
    assert all(d["status"]["phase"] == "Ready" for d in server.definitions("h4").values())


def test_kubectl_wait_for_ready_returns_once_the_controller_made_the_definition_ready(server, capsys):
    defs, deps = graph_of("kw", "kw-")
    server.create(defs + deps)
    name = defs[-1]["metadata"]["name"]
    kubectl = [str(get_helm.fetch_kubectl(quiet=True)), "--kubeconfig", str(server.srv.kubeconfig), "-n", "default"]
    early = subprocess.run([*kubectl, "wait", "--for=condition=Ready", f"definition/{name}", "--timeout=1s"],
                           capture_output=True, text=True, timeout=60)
    assert early.returncode == 1, early  # the default status has no Ready condition
    proc = subprocess.Popen([*kubectl, "wait", "--for=condition=Ready", f"definition/{name}", "--timeout=60s"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        assert proc.poll() is None
        code, log = server.run("kw", capsys)
        assert code == 0, log
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, (out, err)
    assert out.strip() == f"definition.appcontroller.k8s/{name} condition met"


def test_helm3_wait_does_not_read_definitions_and_returns_at_once(server, helm_binaries, tmp_path):
    helm = helm_of("3", helm_binaries, tmp_path)
    defs, deps = graph_of("h3", "h3-")
    p = helm.run("install", "h3", str(chart(tmp_path / "chart", defs + deps)), "-n", "default", "--wait",
                 "--timeout", "30s", env=helm_env(helm, server), check=False)
    assert p.returncode == 0, (p.stdout, p.stderr)  # nothing rolled out: Helm 3 waited for nothing
    assert "STATUS: deployed" in p.stdout
    made = helm_made(server, "h3")
    assert len(made) == 3 and all(d["status"] == DEFAULT for d in made)
