"""Secrets stay secret (issue 10 point 4, docs/controller.md): `helm ac template` keeps a Secret's
data out of its Definition and in a payload Secret; the controller reads the payload and applies
the whole Secret; nothing it writes quotes a Secret's content; who reads Definitions reads no
secret value."""
from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from conftest import EXAMPLES
from controllerkit import Server, embedded
from kubernetes import client
from kubernetes.client.rest import ApiException

from helm_ac.analysis import model
from helm_ac.analysis.keys import Keys
from helm_ac.apiserver import server as apiserver
from helm_ac.controller.release import ReleaseError, build
from helm_ac.controller.secrets import SecretsCluster, redact_secret_error
from helm_ac.engine.cluster import ApiError, Apply, Reply
from helm_ac.errors import UserError
from helm_ac.kinds import ObjectKey
from helm_ac.output import appcontroller, crds
from helm_ac.rendering import manifests

WP = str(EXAMPLES / "wordpress")
#: values no other part of the chart's output contains
SET = ("--set", "mariadb.auth.password=Xy9-opensesame-Q", "--set", "mariadb.auth.rootPassword=Rt7-rootsesame-Z")


def _docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def _chunks(text: str) -> list[str]:
    return [c for c in text.split("\n---\n") if c.strip()]


def _source(chunk: str) -> str:
    return next(line for line in chunk.splitlines() if line.startswith("# Source: "))


def _secret(name: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque", **fields}


def _analysis(docs: list[dict[str, Any]]) -> tuple[model.Analysis, Keys]:
    a = model.analyze(manifests.split(yaml.safe_dump_all(docs)), None, "default")
    return a, Keys(a, "r")


# ---------------------------------------------------------------- helm ac template


def test_template_keeps_secret_values_out_of_definitions_and_in_payloads(cli, helm):
    plain = _docs(cli("template", "wp", WP, "--format", "plain", *SET).out)
    secrets = {d["metadata"]["name"]: d["data"] for d in plain if d["kind"] == "Secret"}
    assert set(secrets) == {"wp-mariadb", "wp-wordpress"}
    values = {v for data in secrets.values() for v in data.values()}
    values |= {base64.b64decode(v).decode() for v in list(values)}
    assert {"Xy9-opensesame-Q", "Rt7-rootsesame-Z"} <= values

    res = cli("template", "wp", WP, *SET)
    assert res.code == 0, res.err
    out = res.out
    assert cli("template", "wp", WP, *SET).out == out  # deterministic
    chunks = _chunks(out)
    docs = [yaml.safe_load(c) for c in chunks]
    graph_texts = [c for c, d in zip(chunks, docs) if d["apiVersion"] == crds.API_VERSION]
    assert len(graph_texts) > 11
    for text in graph_texts:  # no Definition, Dependency or ReleaseGraph holds a value, encoded or not
        assert not [v for v in values if v in text], text
    by_name = {d["metadata"]["name"]: (i, d) for i, d in enumerate(docs)}
    for name, data in secrets.items():
        i, definition = by_name[f"secret-{name}"]
        assert set(definition["secret"]) == {"apiVersion", "kind", "metadata", "type"}
        payload_name = definition["payload"]["secretName"]
        assert payload_name.startswith("wp-acp-")
        j, payload = by_name[payload_name]
        assert j == i + 1 and _source(chunks[j]) == _source(chunks[i])  # right after, same Source
        assert payload == {"apiVersion": "v1", "kind": "Secret", "type": "appcontroller.k8s/payload",
                           "metadata": {"name": payload_name, "namespace": "default",
                                        "labels": appcontroller.labels("wp")},
                           "data": data}
    assert appcontroller.payload_names(docs) == sorted(by_name[f"secret-{n}"][1]["payload"]["secretName"]
                                                       for n in secrets)
    rg = docs[-1]
    assert rg["kind"] == "ReleaseGraph" and rg["spec"]["definitions"] == 11  # payloads are not in the graph


def test_a_secret_value_change_changes_its_definition_and_the_digest(cli, helm):
    def out(*extra: str) -> list[dict[str, Any]]:
        return _docs(cli("template", "wp", WP, *SET, *extra).out)

    before, after = out(), out("--set", "mariadb.auth.rootPassword=another")
    payload = {d["metadata"]["name"]: d["payload"]["secretName"] for d in before if "payload" in d}
    changed = {d["metadata"]["name"]: d["payload"]["secretName"] for d in after if "payload" in d}
    assert payload["secret-wp-mariadb"] != changed["secret-wp-mariadb"]
    assert before[-1]["spec"]["digest"] != after[-1]["spec"]["digest"]


def test_string_data_is_folded_into_data_as_the_api_server_does():
    a, keys = _analysis([_secret("s", data={"a": "QQ==", "b": "Qg=="}, stringData={"b": "bee", "c": "sée"}),
                         _secret("empty")])
    payloads = appcontroller.payloads(a, keys)
    [(key, p)] = payloads.items()
    assert key.name == "s"
    assert p.secret["data"] == {"a": "QQ==", "b": "YmVl", "c": base64.b64encode("sée".encode()).decode()}
    d = appcontroller.definition(a, key, keys, payload=p.name)
    assert "data" not in d["secret"] and "stringData" not in d["secret"] and d["payload"] == {"secretName": p.name}
    # a Secret without data has nothing to hide: wrapped as it is, no payload
    empty = next(k for k in a.order if k.name == "empty")
    assert "payload" not in appcontroller.definition(a, empty, keys)


def test_payload_names_hide_low_entropy_values_behind_the_releases_other_secrets():
    """A plain hash of one Secret's content would let a reader of its Definition confirm a guessed
    password; the name is keyed with all the release's payloads, so it changes when any does."""
    one = _secret("db", stringData={"password": "hunter2"})
    a1, k1 = _analysis([one])
    a2, k2 = _analysis([one, _secret("token", stringData={"t": "a7Fq0pZ3"})])
    n1 = appcontroller.payloads(a1, k1)[ObjectKey("", "Secret", "default", "db")].name
    n2 = appcontroller.payloads(a2, k2)[ObjectKey("", "Secret", "default", "db")].name
    assert n1 != n2


@pytest.mark.parametrize("field_, value, words", [
    ("stringData", {"port": 5432}, "stringData.port is not a string"),
    ("data", {"k": None}, "data.k is empty"),
    ("stringData", ["x"], "stringData must be a mapping"),
])
def test_a_secret_value_that_is_not_a_string_is_a_clear_error(field_, value, words):
    a, keys = _analysis([_secret("s", **{field_: value})])
    with pytest.raises(UserError) as e:
        appcontroller.payloads(a, keys)
    assert "Secret secret/s" in e.value.message and words in e.value.message


# ---------------------------------------------------------------- the controller (pure)


def _definition(name: str, body: dict[str, Any], payload: str | None = None) -> dict[str, Any]:
    d = {"apiVersion": crds.API_VERSION, "kind": "Definition", "metadata": {"name": name, "generation": 1},
         "secret": body}
    return {**d, "payload": {"secretName": payload}} if payload else d


def test_build_folds_the_payload_into_the_secret_and_records_one_it_cannot_use():
    payload = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "r-acp-1"},
               "type": appcontroller.PAYLOAD_TYPE, "data": {"k": "djE="}}
    wrong = {**payload, "metadata": {"name": "other"}, "type": "Opaque"}
    defs = [_definition("secret-a", _secret("a"), "r-acp-1"), _definition("secret-b", _secret("b"), "r-acp-gone"),
            _definition("secret-c", _secret("c"), "other")]
    rel = build("r", "default", defs, [], {"r-acp-1": payload, "other": wrong})
    bodies = {k.name: info.obj.body for k, info in rel.analysis.objects.items()}
    assert bodies["a"]["data"] == {"k": "djE="} and bodies["a"]["type"] == "Opaque"
    assert "data" not in bodies["b"] and "data" not in bodies["c"]
    assert {k.name: why for k, why in rel.unusable_payloads.items()} == {
        "b": "payload Secret r-acp-gone of Definition secret-b not found in namespace default "
             "(Helm creates it with the release: was it deleted?)",
        "c": "Secret other, named as the payload of Definition secret-c, is not a payload "
             "(its type is not appcontroller.k8s/payload)"}
    assert rel.missing_payloads == ["r-acp-gone"]


_CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}


@pytest.mark.parametrize("definition, words", [
    (_definition("secret-a", _secret("a", data={"k": "djE="}), "r-acp-1"), "the data belongs in the payload only"),
    ({"apiVersion": crds.API_VERSION, "kind": "Definition", "metadata": {"name": "configmap-a"},
      "configmap": _CM, "payload": {"secretName": "r-acp-1"}}, "names a payload Secret but wraps a ConfigMap"),
    ({**_definition("secret-a", _secret("a")), "payload": "r-acp-1"}, "payload must be {secretName"),
])
def test_a_definition_misusing_payload_is_a_clear_error(definition, words):
    with pytest.raises(ReleaseError) as e:
        build("r", "default", [definition], [], {})
    assert words in e.value.message and definition["metadata"]["name"] in e.value.message


# ---------------------------------------------------------------- redaction


ECHO = ('Secret "db" is invalid: [data[password]: Invalid value: "hunter2": must be base64, '
        'metadata.labels: Invalid value: "s3cr3t \\"quoted\\" value": a valid label must be ...]')


def test_redaction_keeps_field_paths_and_drops_values():
    err = redact_secret_error(ApiError(422, ECHO, retry_after=None))
    assert err.code == 422
    assert "hunter2" not in err.message and "s3cr3t" not in err.message and "quoted" not in err.message
    assert "data[password]: Invalid value" in err.message and "metadata.labels: Invalid value" in err.message
    assert "Invalid" in err.message and "withheld" in err.message
    webhook = redact_secret_error(ApiError(400, 'admission webhook "x" denied the request: password hunter2 is weak'))
    assert "hunter2" not in webhook.message and "BadRequest" in webhook.message


@pytest.mark.parametrize("message", [
    ('secrets "db" is forbidden: User "system:serviceaccount:ns:ac" cannot patch resource "secrets" in API group "" '
     'in the namespace "ns"'),
    'Apply failed with 1 conflict: conflict with "kubectl" using v1: .data.password',
    'secrets "db" not found',
])
def test_messages_that_quote_no_content_are_kept(message):
    assert redact_secret_error(ApiError(403, message)).message == message


def test_the_controllers_cluster_redacts_secret_errors_and_fails_unusable_payloads():
    class Answering:  # a cluster answering every call with a 422 echoing a value
        def __init__(self) -> None:
            self.calls: list[Any] = []

        def call(self, request: Any, reply: Any) -> None:
            self.calls.append(request)
            reply(Reply(error=ApiError(422, ECHO)))

        def watch(self, *a: Any) -> Any:
            raise NotImplementedError

    inner = Answering()
    secret, gone, cm = (ObjectKey("", "Secret", "ns", "db"), ObjectKey("", "Secret", "ns", "gone"),
                        ObjectKey("", "ConfigMap", "ns", "db"))
    c = SecretsCluster(inner, {gone: "payload Secret r-acp-9 of Definition secret-gone not found"})
    replies: list[Reply] = []
    for key in (secret, gone, cm):
        c.call(Apply(key, {}), replies.append)
    assert [r.error.code for r in replies if r.error] == [422, 404, 422]
    assert "hunter2" not in str(replies[0].error) and "data[password]" in str(replies[0].error)
    assert "r-acp-9" in str(replies[1].error)
    assert str(replies[2].error) == f"422: {ECHO}"  # other kinds are not touched
    assert [r.key for r in inner.calls] == [secret, cm]  # the unusable payload's Secret is never sent


# ---------------------------------------------------------------- on the embedded API server


def _template(cli: Any, *extra: str) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The wordpress example as `helm ac template` emits it (hooks left out: Helm runs those), and the
    Secrets as `helm ac template --format plain` renders them."""
    out = _docs(cli("template", "ex", WP, "-n", "default", *SET, *extra).out)
    plain = _docs(cli("template", "ex", WP, "-n", "default", "--format", "plain", *SET, *extra).out)
    hooks = [d for d in out if "helm.sh/hook" in ((d.get("metadata") or {}).get("annotations") or {})]
    return [d for d in out if d not in hooks], {d["metadata"]["name"]: d for d in plain if d["kind"] == "Secret"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with embedded(tmp_path) as srv:
        yield srv


def test_the_controller_applies_each_secret_with_its_payloads_data(cli, helm, server, capsys):
    docs, rendered = _template(cli)
    server.create(docs)
    code, log = server.run("ex", capsys)
    assert code == 0, [r for r in log if r.get("state") not in ("ready", "pending")]
    res = server.dyn.resources.get(api_version="v1", kind="Secret")
    for name, secret in rendered.items():
        got = server.dyn.get(res, name=name, namespace="default").to_dict()
        assert got["data"] == secret["data"] and got["type"] == secret["type"]
    text = "\n".join(json.dumps(r) for r in log) + json.dumps(server.definitions("ex"))
    assert not [v for s in rendered.values() for v in s["data"].values() if v in text]


def test_a_missing_payload_fails_its_secret_naming_it_and_blocks_only_its_dependents(cli, helm, server, capsys):
    docs, _ = _template(cli)
    [mariadb] = [d for d in docs if d["metadata"]["name"] == "secret-ex-mariadb"]
    missing = mariadb["payload"]["secretName"]
    server.create([d for d in docs if d["metadata"]["name"] != missing])
    code, log = server.run("ex", capsys)
    assert code == 1
    status = server.definitions("ex")["secret-ex-mariadb"]["status"]
    assert status["phase"] == "Failed" and missing in status["message"]
    statuses = {n: d["status"]["phase"] for n, d in server.definitions("ex").items()}
    assert statuses["statefulset-ex-mariadb"] == "Blocked" and statuses["configmap-ex-mariadb"] == "Ready"
    assert any(r.get("definition") == "secret-ex-mariadb" and missing in r.get("message", "") for r in log)


def test_a_watching_controller_runs_the_graph_again_when_a_missing_payload_arrives(cli, helm, server):
    """--watch: the payload Secret of secret/ex-mariadb is missing, so that Secret fails and MariaDB
    is blocked; Secrets are not watched, so the controller looks for the payload again (1 s,
    doubled) and, once it is there, runs the graph again: the Secret and what waits for it roll out.
    (Before, the release stayed failed until something else changed its graph.)"""
    from test_controller_watch import Watching

    docs, _ = _template(cli)
    [mariadb] = [d for d in docs if d["metadata"]["name"] == "secret-ex-mariadb"]
    missing = mariadb["payload"]["secretName"]
    [payload] = [d for d in docs if d["metadata"]["name"] == missing]
    server.create([d for d in docs if d is not payload])
    w = Watching(server, release="ex")
    try:
        w.until(lambda: (server.definitions("ex")["secret-ex-mariadb"].get("status") or {}).get("phase") == "Failed")
        server.create([payload])
        w.until(lambda: {(d.get("status") or {}).get("phase") for d in server.definitions("ex").values()} == {"Ready"})
        (line,) = w.said("payload Secrets arrived: running the graph again")
        assert line["secrets"] == [missing]
    finally:
        w.stop()


def test_a_422_about_a_secret_does_not_put_the_value_in_the_status_or_the_log(server, capsys):
    """The server's 422 echoes an invalid value (here a label's, as kube-apiserver does): the
    status and the log name the field, not the value."""
    a, keys = _analysis([_secret("s", metadata={"name": "s", "labels": {"x": "s3cr3t value!"}},
                                 stringData={"k": "v"})])
    [(key, p)] = appcontroller.payloads(a, keys).items()
    server.create([p.secret, appcontroller.definition(a, key, keys, payload=p.name)])
    code, log = server.run("r", capsys)
    assert code == 1
    status = server.definitions("r")["secret-s"]["status"]
    assert status["phase"] == "Failed" and "metadata.labels: Invalid value" in status["message"]
    assert "s3cr3t" not in json.dumps(status) and "s3cr3t" not in json.dumps(log)
    audit = [r for r in server.audit() if r["resource"] == "secrets" and r["verb"] == "patch"]
    assert audit and {r["code"] for r in audit} == {422}  # the server did refuse it, echoing the value


@contextlib.contextmanager
def _rbac_server(tmp_path: Path) -> Iterator[Server]:
    opts = apiserver.Options(tls=False, rbac=True, audit_log=tmp_path / "audit.jsonl",
                             readiness_log=tmp_path / "ready.jsonl")
    with apiserver.running(opts) as srv:
        yield Server(srv, tmp_path)


def test_who_may_only_read_definitions_reads_no_secret_value(cli, helm, tmp_path):
    docs, rendered = _template(cli)
    values = {v for s in rendered.values() for v in s["data"].values()}
    values |= {base64.b64decode(v).decode() for v in list(values)}
    with _rbac_server(tmp_path) as server:
        server.create(docs)
        admin = server.dyn.client
        core, rbac_api = client.CoreV1Api(admin), client.RbacAuthorizationV1Api(admin)
        core.create_namespaced_service_account("default", {"metadata": {"name": "viewer"}})
        token = core.create_namespaced_service_account_token(
            "viewer", "default", {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                  "spec": {"expirationSeconds": 3600}}).status.token
        rbac_api.create_namespaced_role("default", {
            "metadata": {"name": "definitions-reader"},
            "rules": [{"apiGroups": ["appcontroller.k8s"], "verbs": ["get", "list"],
                       "resources": ["definitions", "dependencies", "releasegraphs"]}]})
        rbac_api.create_namespaced_role_binding("default", {
            "metadata": {"name": "viewer-reads"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "definitions-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": "default"}]})
        conf = client.Configuration()
        conf.host = server.srv.url
        conf.api_key = {"authorization": f"Bearer {token}"}
        viewer = client.CustomObjectsApi(client.ApiClient(conf))
        seen = ""
        for plural in ("definitions", "dependencies", "releasegraphs"):
            items = viewer.list_namespaced_custom_object("appcontroller.k8s", "v1alpha1", "default", plural)["items"]
            assert items
            seen += json.dumps(items)
        for name in rendered:
            seen += json.dumps(viewer.get_namespaced_custom_object("appcontroller.k8s", "v1alpha1", "default",
                                                                   "definitions", f"secret-{name}"))
        assert '"payload"' in seen and not [v for v in values if v in seen]
        with pytest.raises(ApiException) as e:  # the payloads are Secrets: RBAC on Secrets is the boundary
            client.CoreV1Api(client.ApiClient(conf)).read_namespaced_secret(
                appcontroller.payload_names(docs)[0], "default")
        assert e.value.status == 403


def test_the_controller_reads_payloads_with_get_on_exactly_their_names(tmp_path):
    """`get` with resourceNames (what payload_names gives the Role) is enough to read a payload; a
    Secret outside them is a 403, a clear ReleaseError naming it and the grant, not a traceback."""
    import asyncio

    from helm_ac.controller.release import read_payloads
    from helm_ac.kube.cluster import KubeCluster

    a, keys = _analysis([_secret("one", stringData={"k": "v1"}), _secret("two", stringData={"k": "v2"})])
    payloads = appcontroller.payloads(a, keys)
    defs = [appcontroller.definition(a, k, keys, payload=p.name) for k, p in payloads.items()]
    first, second = appcontroller.payload_names(defs)
    with _rbac_server(tmp_path) as server:
        server.create([p.secret for p in payloads.values()])
        core = client.CoreV1Api(server.dyn.client)
        core.create_namespaced_service_account("default", {"metadata": {"name": "ac"}})
        token = core.create_namespaced_service_account_token(
            "ac", "default", {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                              "spec": {"expirationSeconds": 3600}}).status.token
        rbac_api = client.RbacAuthorizationV1Api(server.dyn.client)
        rbac_api.create_namespaced_role("default", {"metadata": {"name": "payloads"}, "rules": [
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": [first]}]})
        rbac_api.create_namespaced_role_binding("default", {
            "metadata": {"name": "ac-payloads"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "payloads"},
            "subjects": [{"kind": "ServiceAccount", "name": "ac", "namespace": "default"}]})
        conf = client.Configuration()
        conf.host = server.srv.url
        conf.api_key = {"authorization": f"Bearer {token}"}
        loop = asyncio.new_event_loop()
        cluster = KubeCluster(client.ApiClient(conf), loop)
        try:
            got = read_payloads(cluster, "default", [first])
            assert got[first]["data"] == next(p.secret["data"] for p in payloads.values() if p.name == first)
            with pytest.raises(ReleaseError) as e:
                read_payloads(cluster, "default", [first, second])
        finally:
            cluster.close()
            loop.close()
        assert e.value.message == (f"cannot read the payload Secret {second} in namespace default: secrets "
                                   f'"{second}" is forbidden: User "system:serviceaccount:default:ac" cannot get '
                                   'resource "secrets" in API group "" in the namespace "default"')
        assert f"the controller needs `get` on the Secret {second}" in str(e.value)
