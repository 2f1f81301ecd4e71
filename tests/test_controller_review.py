"""Defects found reviewing the merged controller (session 5, part ``review``), each a test that
failed before its fix. On the embedded API server through the real client."""
from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any, Callable

import yaml

from helm_ac.analysis import graph, model
from helm_ac.analysis.keys import Keys
from helm_ac.output import appcontroller, crds
from helm_ac.rendering import manifests

from controllerkit import Server, cmap, embedded, emitted
from test_controller_watch import Watching


def _secret(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque", "stringData": data}


def emitted_with_payloads(release: str, docs: list[dict[str, Any]],
                          namespace: str = "default") -> list[dict[str, Any]]:
    """What `helm ac template` emits for ``docs``: the payload Secrets, the Definitions (a Secret's
    naming its payload) and Dependencies carrying the digest, then the ReleaseGraph."""
    a = model.analyze(manifests.split(yaml.safe_dump_all(docs)), None, namespace)
    g = graph.build(a)
    keys = Keys(a, release)
    pays = appcontroller.payloads(a, keys)
    ph = appcontroller.DIGEST_PLACEHOLDER
    deps = appcontroller.dependencies(a, g, keys, ph)
    texts, digest = appcontroller.stamp(
        [appcontroller.definition_text(a, k, keys, ph, payload=pays[k].name if k in pays else None) for k in a.order]
        + [appcontroller.dependency_text(d) for d in deps])
    return [p.secret for p in pays.values()] + [yaml.safe_load(t) for t in texts] + [
        appcontroller.release_graph(release, namespace, digest, len(a.order), len(deps))]


def _until(cond: Callable[[], bool], seconds: float = 10.0) -> None:
    end = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < end, "not reached in time"
        time.sleep(0.02)


def _names(server: Server, api: str, kind: str) -> set[str]:
    res = server.dyn.resources.get(api_version=api, kind=kind)
    return {o["metadata"]["name"] for o in server.dyn.get(res, namespace="default").to_dict()["items"]}


def test_the_prune_after_a_rollout_leaves_the_payload_secrets_alone(tmp_path, capsys):
    """A payload Secret carries the release label (Helm creates it with the release) but is
    Helm's, not the controller's: the prune after an ok run deleted it (it lists Secrets by the
    release label, and no Definition's key names it), so the next run (a restart, ``--watch``'s
    next graph) failed the Secret for a missing payload."""
    docs = emitted_with_payloads("r", [_secret("db", password="pw"), cmap("a")])
    payload = next(d["metadata"]["name"] for d in docs if d.get("type") == appcontroller.PAYLOAD_TYPE)
    with embedded(tmp_path, seconds=0.05) as server:
        server.create(docs)
        code, log = server.run("r", capsys)
        assert code == 0, log
        assert log[-1]["msg"] == "rollout finished" and log[-1]["pruned"] == []
        assert _names(server, "v1", "Secret") == {"db", payload}
        code, log = server.run("r", capsys)  # a restart: the payload is still there to read
        assert code == 0, log


def _graph_uid(server: Server, release: str = "r") -> str:
    res = server.dyn.resources.get(api_version=crds.API_VERSION, kind="ReleaseGraph")
    return str(server.dyn.get(res, name=release, namespace="default").to_dict()["metadata"]["uid"])


def _owners(server: Server) -> dict[str, list[str]]:
    res = server.dyn.resources.get(api_version="v1", kind="ConfigMap")
    return {o["metadata"]["name"]: [r["uid"] for r in o["metadata"].get("ownerReferences") or []]
            for o in server.dyn.get(res, namespace="default").to_dict()["items"]}


def test_objects_are_owned_again_by_a_re_created_release_graph(tmp_path, capsys):
    """The ReleaseGraph deleted (orphaning its objects) and created again has a new uid. The
    Definitions' statuses still say Ready for their generation, so the run was seeded and applied
    nothing: every object kept the old owner (or none), and the garbage collector would delete
    them (or an uninstall without the hook would leak them). A run on a ReleaseGraph no run has
    reported on yet trusts no seed of an object it owns: it applies them all, owned by the new one."""
    docs = emitted("r", [cmap("a"), cmap("b", "configmap/a")])
    with embedded(tmp_path, seconds=0.05) as server:
        server.create(docs)
        assert server.run("r", capsys)[0] == 0
        first = _graph_uid(server)
        assert _owners(server) == {"a": [first], "b": [first]}
        res = server.dyn.resources.get(api_version=crds.API_VERSION, kind="ReleaseGraph")
        server.dyn.delete(res, name="r", namespace="default", body={"propagationPolicy": "Orphan"})
        _until(lambda: not server.dyn.get(res, namespace="default").to_dict()["items"])
        server.create([d for d in docs if d["kind"] == "ReleaseGraph"])
        uid = _graph_uid(server)
        code, log = server.run("r", capsys)
        assert code == 0, log
        assert _owners(server) == {"a": [uid], "b": [uid]}
        # a restart once this ReleaseGraph has a run reported is seeded again: nothing re-applied
        mark = len(server.audit())
        assert server.run("r", capsys)[0] == 0
        assert not [r for r in server.audit()[mark:] if r["resource"] == "configmaps" and r["verb"] == "patch"]


def test_a_watching_controller_owns_the_objects_by_a_release_graph_re_created_within_a_burst(tmp_path):
    """The ReleaseGraph deleted (orphaning) and created again before the watcher looked (one burst):
    same digest and generations, so the run was taken for the one already done and nothing was
    applied: the objects kept their old owner (the collector removes them) or none."""
    docs = emitted("r", [cmap("a"), cmap("b", "configmap/a")])
    with embedded(tmp_path, seconds=0.05) as server:
        w = Watching(server, debounce=1.0)
        try:
            server.create(docs)
            _until(lambda: w.said("rollout finished"), 30)
            res = server.dyn.resources.get(api_version=crds.API_VERSION, kind="ReleaseGraph")
            server.dyn.delete(res, name="r", namespace="default", body={"propagationPolicy": "Orphan"})
            _until(lambda: not server.dyn.get(res, namespace="default").to_dict()["items"])
            server.create([d for d in docs if d["kind"] == "ReleaseGraph"])
            uid = _graph_uid(server)
            _until(lambda: _owners(server) == {"a": [uid], "b": [uid]}, 10)
            assert w.thread.is_alive() and len(w.said("graph read")) == 2
        finally:
            w.stop()


def test_the_one_shot_run_keeps_its_lease_renewed_while_it_prunes(tmp_path, capsys):
    """The Lease was renewed only while the engine ran: the prune after it (each delete awaited,
    for minutes with a slow finalizer) and the status writer's last writes went on under a Lease
    nobody renewed, so another controller could take it over and act at the same time."""
    from test_controller_teardown import _release_slowly, _slow, _upgrade

    with embedded(tmp_path, seconds=0.05) as server:
        server.create(emitted("r", _slow([cmap("a"), cmap("k", "configmap/a")], "k")))
        assert server.run("r", capsys, "--lease-duration", "1")[0] == 0
        _upgrade(server, [cmap("a")])
        mark = len(server.audit())
        with _release_slowly(server, "v1", "ConfigMap", "k"):  # the finalizer goes 0.5 s after the delete
            code, log = server.run("r", capsys, "--lease-duration", "1")
        assert code == 0, log
        assert log[-1]["msg"] == "rollout finished" and log[-1]["pruned"] == ["configmap/k"]
        audit = server.audit()[mark:]
        [delete] = [r for r in audit if r["verb"] == "delete" and r["resource"] == "configmaps"]
        # renewed every third of a second meanwhile (and given up at the end: the last update)
        renewals = [r for r in audit if r["resource"] == "leases" and r["verb"] == "update" and r["time"] > delete["time"]]
        assert len(renewals) >= 2, renewals


def _finalizer_removed_when(server: Server, name: str, go: threading.Event) -> threading.Thread:
    """Removes ``example.com/slow`` from the ConfigMap ``name`` once ``go`` is set."""
    res = server.dyn.resources.get(api_version="v1", kind="ConfigMap")

    def work() -> None:
        go.wait(60)
        server.dyn.patch(res, name=name, namespace="default", body={"metadata": {"finalizers": None}},
                         content_type="application/merge-patch+json")

    t = threading.Thread(target=work, daemon=True)
    t.start()
    return t


def test_a_new_graph_stops_the_prune_of_the_run_before_it(tmp_path):
    """``--watch``: the prune after a finished run went on when an upgrade started a new run, so
    it deleted an object the new run had just applied again (m: removed, then added back while
    the prune still waited for its child k to go; same object, same uid)."""
    from test_controller_teardown import _slow, _upgrade

    with embedded(tmp_path, seconds=0.05) as server:
        cms = server.dyn.resources.get(api_version="v1", kind="ConfigMap")

        def live() -> dict[str, dict[str, Any]]:
            return {o["metadata"]["name"]: o for o in server.dyn.get(cms, namespace="default").to_dict()["items"]}

        w = Watching(server, debounce=0.1)
        go = threading.Event()
        try:
            server.create(emitted("r", _slow([cmap("a"), cmap("m", "configmap/a"), cmap("k", "configmap/m")], "k")))
            _until(lambda: w.said("rollout finished"), 30)
            remover = _finalizer_removed_when(server, "k", go)
            _upgrade(server, [cmap("a")])  # m and k removed: k deleted first, held by its finalizer
            _until(lambda: live()["k"]["metadata"].get("deletionTimestamp"), 30)
            _upgrade(server, [cmap("a"), cmap("m", "configmap/a")])  # m back, while the prune waits for k
            _until(lambda: len(w.said("graph read")) == 3, 30)
            go.set()  # k goes: the stopped prune must not go on with m
            remover.join(30)
            _until(lambda: len(w.said("rollout finished")) == 2, 30)  # the third run's prune (k) is done
            time.sleep(0.5)  # (what the earlier prune would delete next, it would have deleted by now)
            assert set(live()) == {"a", "m"}
        finally:
            go.set()
            w.stop()


def test_a_refused_delete_of_a_secret_is_redacted_as_a_refused_apply_is():
    """Prune and ``--teardown`` write a refused delete's message into the log and the Definition's
    status; for a Secret it went out as the server (or an admission webhook) said it, which may
    quote the Secret's data. It now goes through the same redaction as the rollout's applies."""
    from helm_ac.controller import removal
    from helm_ac.engine.cluster import ApiError, Reply, Stream
    from helm_ac.kinds import ObjectKey

    said = 'admission webhook "p.example.com" denied the request: Secret db: data[password]: Invalid value: "hunter2"'

    class Refusing:
        def call(self, request: Any, reply: Callable[[Reply], None]) -> None:
            reply(Reply(error=ApiError(422, said)))

    def refused(kind: str) -> str:
        c = removal._Candidate(f"{kind.lower()}/db", ObjectKey("", kind, "default", "db"), "u-1",
                               Stream("v1", kind, "default"), (), 1.0)
        err = asyncio.run(removal._delete(Refusing(), c))  # type: ignore[arg-type]
        assert err is not None and err.code == 422
        return err.message

    assert "hunter2" not in refused("Secret") and "data[password]: Invalid value" in refused("Secret")
    assert refused("ConfigMap") == said  # other kinds: as the server said


def test_a_definition_created_again_under_a_watching_controller_gets_a_status_of_its_own(tmp_path):
    """``--watch`` kept the last status it wrote for every Definition name it ever ran (memory
    that grows with every name, for the life of the process) and took it as the ``previous``
    status of a new Definition of the same name: removed by one upgrade and added back by a later
    one, it was written the old one's ``startedAt`` and ``finishedAt``."""
    from test_controller_teardown import _upgrade

    with embedded(tmp_path, seconds=0.05) as server:
        w = Watching(server, debounce=0.1)
        try:
            server.create(emitted("r", [cmap("a"), cmap("x", "configmap/a")]))
            _until(lambda: len(w.said("rollout finished")) == 1, 30)
            _upgrade(server, [cmap("a")])
            _until(lambda: len(w.said("rollout finished")) == 2, 30)
            time.sleep(1.1)  # statuses' times are whole seconds: the new Definition is a second younger
            _upgrade(server, [cmap("a"), cmap("x", "configmap/a")])
            _until(lambda: len(w.said("rollout finished")) == 3, 30)
            _until(lambda: server.definitions("r")["configmap-x"]["status"].get("phase") == "Ready", 10)
            x = server.definitions("r")["configmap-x"]
            created = x["metadata"]["creationTimestamp"]
            assert x["status"]["startedAt"] >= created and x["status"]["finishedAt"] >= created, x["status"]
        finally:
            w.stop()


def test_a_kubeconfig_that_is_not_a_mapping_is_a_clear_error(tmp_path, capsys):
    """A kubeconfig file whose YAML is a plain string (a wrong file passed to --kubeconfig) made the
    client raise TypeError: a traceback instead of exit 2 naming the file."""
    from helm_ac.controller import __main__ as entry

    bad = tmp_path / "kubeconfig"
    bad.write_text("not a kubeconfig\n")
    assert entry.main(["--release", "r", "--kubeconfig", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"kubeconfig {bad}" in err and "Traceback" not in err


def test_a_renewal_on_its_way_does_not_take_the_lease_back_after_it_was_given_up():
    """At the end of a run the renewal task is cancelled, but a renewal already in its thread goes
    on: when its GET landed after ``give_up`` emptied the holder, it took the Lease again (an
    empty holder is free), and the next controller waited a whole duration for a dead one."""
    from helm_ac.controller.lease import Lease

    class Obj(dict):  # type: ignore[type-arg]
        def to_dict(self) -> dict[str, Any]:
            return json.loads(json.dumps(self))

    state: dict[str, Any] = {"spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}, "rv": 1}
    in_get, release_get = threading.Event(), threading.Event()

    class Dynamic:
        resources = type("R", (), {"get": staticmethod(lambda **kw: object())})()

        def get(self, res: Any, name: str, namespace: str) -> Obj:
            if threading.current_thread().name == "renewal":
                in_get.set()
                release_get.wait(30)  # this GET lands late
            return Obj({"spec": state["spec"], "metadata": {"resourceVersion": str(state["rv"])}})

        def replace(self, res: Any, body: dict[str, Any], name: str, namespace: str) -> None:
            if body["metadata"]["resourceVersion"] != str(state["rv"]):
                from kubernetes.client.exceptions import ApiException
                raise ApiException(status=409, reason="Conflict")
            state["spec"], state["rv"] = body["spec"], state["rv"] + 1

    lease = Lease(Dynamic(), "ns", "r", "me")  # type: ignore[arg-type]
    renewal = threading.Thread(target=lease.renew_once, name="renewal", daemon=True)
    renewal.start()
    assert in_get.wait(30)
    giving_up = threading.Thread(target=lease.give_up, daemon=True)
    giving_up.start()
    giving_up.join(0.5)  # (without the fix it is done by now; with it, it waits for the renewal)
    release_get.set()
    renewal.join(30)
    giving_up.join(30)
    assert not state["spec"].get("holderIdentity"), state
