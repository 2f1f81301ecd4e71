"""Authentication, RBAC authorization, the 403 texts and the escalation check (helm_ac.kubesim.rbac),
and the request naming they share with the audit log (helm_ac.kubesim.audit).

Runs against the real store when helm_ac.kubesim.store exists, and against a small stand-in with
the store's contract (get/list/create/update/delete, subscribe, add_admission) either way, so the
module is tested on its own branch too.
"""
from __future__ import annotations

import contextvars
import copy
import io
import itertools
import json
from types import SimpleNamespace
from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helm_ac.clock import VirtualLoop
from helm_ac.kubesim import rbac
from helm_ac.kubesim.audit import AuditLog, RequestInfo, request_info
from helm_ac.kubesim.errors import StatusError, already_exists, not_found
from helm_ac.kubesim.rbac import (ADMIN, ANONYMOUS, RBAC_GROUP, Authenticator, Authorizer, UserInfo,
                                  acting_as, bootstrap, escalation_admission, forbidden, serviceaccount_user)
from helm_ac.kubesim.resources import Registry, Resource

START = 1_800_000_000.0  # 2027-01-15


class FakeStore:
    """The store contract's surface this module uses, nothing more (no selectors, GC, watch)."""

    def __init__(self) -> None:
        self.registry = Registry.builtin()
        self.clock = VirtualLoop(START)
        self.objects: dict[tuple[str, str, str, str], dict] = {}
        self._subs: list[Callable[[Any], None]] = []
        self._admission: list[Callable[[Any], None]] = []
        self._uid = itertools.count(1)
        self._rv = itertools.count(1)

    def add_admission(self, fn: Callable[[Any], None]) -> None:
        self._admission.append(fn)

    def subscribe(self, fn: Callable[[Any], None]) -> Callable[[], None]:
        self._subs.append(fn)
        return lambda: self._subs.remove(fn)

    def _key(self, res: Resource, ns: str | None, name: str) -> tuple[str, str, str, str]:
        return (res.group, res.plural, (ns or "") if res.namespaced else "", name)

    def get(self, res: Resource, namespace: str | None, name: str) -> dict:
        try:
            return self.objects[self._key(res, namespace, name)]
        except KeyError:
            raise not_found(res.plural, name, res.group) from None

    def list(self, res: Resource, namespace: str | None, **_: Any) -> dict:
        items = [o for (g, p, ns, _n), o in sorted(self.objects.items())
                 if (g, p) == (res.group, res.plural) and (namespace is None or ns == namespace)]
        return {"kind": res.list_kind, "apiVersion": res.group_version, "metadata": {"resourceVersion": "1"},
                "items": items}

    def _write(self, verb: str, res: Resource, ns: str | None, name: str, obj: dict | None, old: dict | None,
               user: str) -> None:
        op = SimpleNamespace(verb=verb, resource=res, namespace=ns, name=name, obj=obj, old=old, subresource=None,
                             dry_run=False, user=user)
        for fn in self._admission:
            fn(op)

    def create(self, res: Resource, namespace: str | None, obj: dict, *, user: str = "", **_: Any) -> dict:
        obj = copy.deepcopy(obj)
        name = obj["metadata"]["name"]
        key = self._key(res, namespace, name)
        if key in self.objects:
            raise already_exists(res.plural, name, res.group)
        self._write("create", res, namespace, name, obj, None, user)
        meta = obj["metadata"]
        meta.update(uid=f"uid-{next(self._uid)}", resourceVersion=str(next(self._rv)))
        if res.namespaced:
            meta["namespace"] = namespace
        obj.update(apiVersion=res.group_version, kind=res.kind)
        self.objects[key] = obj
        for fn in list(self._subs):
            fn(SimpleNamespace(type="ADDED", resource=res, obj=obj, old=None))
        return obj

    def update(self, res: Resource, namespace: str | None, name: str, obj: dict, *, user: str = "",
               **_: Any) -> dict:
        old = self.get(res, namespace, name)
        obj = copy.deepcopy(obj)
        self._write("update", res, namespace, name, obj, old, user)
        obj["metadata"].update(uid=old["metadata"]["uid"], resourceVersion=str(next(self._rv)))
        self.objects[self._key(res, namespace, name)] = obj
        for fn in list(self._subs):
            fn(SimpleNamespace(type="MODIFIED", resource=res, obj=obj, old=old))
        return obj

    def delete(self, res: Resource, namespace: str | None, name: str, **_: Any) -> dict:
        old = self.objects.pop(self._key(res, namespace, name))
        for fn in list(self._subs):
            fn(SimpleNamespace(type="DELETED", resource=res, obj=old, old=None))
        return old


def _real_store() -> Any:
    try:
        from helm_ac.kubesim.store import Store  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        pytest.skip("helm_ac.kubesim.store is not on this branch yet")
    return Store(Registry.builtin(), VirtualLoop(START))


@pytest.fixture(params=["stand-in", "store"])
def store(request: pytest.FixtureRequest) -> Any:
    s = FakeStore() if request.param == "stand-in" else _real_store()
    ns = s.registry.lookup("", "v1", "namespaces")
    for name in ("team-a", "team-b"):
        s.create(ns, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return s


def res(store: Any, plural: str, group: str = "") -> Resource:
    r = store.registry.lookup(group, "v1", plural)
    assert r is not None
    return r


def role(name: str, rules: list[dict], ns: str | None = "team-a", *, labels: dict | None = None,
         aggregate: dict | None = None) -> dict:
    obj: dict = {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "Role" if ns else "ClusterRole",
                 "metadata": {"name": name, **({"labels": labels} if labels else {})}, "rules": rules}
    if aggregate:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": aggregate}]}
    return obj


def binding(name: str, ref_kind: str, ref_name: str, subjects: list[dict], ns: str | None = "team-a") -> dict:
    return {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "RoleBinding" if ns else "ClusterRoleBinding",
            "metadata": {"name": name}, "roleRef": {"apiGroup": RBAC_GROUP, "kind": ref_kind, "name": ref_name},
            "subjects": subjects}


def user(name: str) -> dict:
    return {"apiGroup": RBAC_GROUP, "kind": "User", "name": name}


def group(name: str) -> dict:
    return {"apiGroup": RBAC_GROUP, "kind": "Group", "name": name}


def put(store: Any, obj: dict) -> dict:
    plural = {"Role": "roles", "ClusterRole": "clusterroles", "RoleBinding": "rolebindings",
              "ClusterRoleBinding": "clusterrolebindings"}[obj["kind"]]
    ns = "team-a" if obj["kind"] in ("Role", "RoleBinding") else None
    ns = obj["metadata"].pop("namespace", ns)
    return store.create(res(store, plural, RBAC_GROUP), ns, obj)


def R(verbs: list[str], resources: list[str], groups: list[str] | None = None, names: list[str] | None = None) -> dict:
    out: dict = {"apiGroups": groups if groups is not None else [""], "resources": resources, "verbs": verbs}
    if names:
        out["resourceNames"] = names
    return out


# --- request naming ---------------------------------------------------------------------------------

@pytest.mark.parametrize("method,path,query,want", [
    ("GET", "/api/v1/namespaces/team-a/pods", {}, ("list", "", "team-a", "pods", "", "")),
    ("GET", "/api/v1/namespaces/team-a/pods", {"watch": "true"}, ("watch", "", "team-a", "pods", "", "")),
    ("GET", "/api/v1/namespaces/team-a/pods", {"watch": "1"}, ("watch", "", "team-a", "pods", "", "")),
    ("GET", "/api/v1/namespaces/team-a/pods", {"watch": "yes"}, ("list", "", "team-a", "pods", "", "")),
    ("GET", "/api/v1/watch/namespaces/team-a/pods", {}, ("watch", "", "team-a", "pods", "", "")),
    ("GET", "/api/v1/namespaces/team-a/pods", {"fieldSelector": "metadata.name=web"},
     ("list", "", "team-a", "pods", "", "web")),
    ("GET", "/api/v1/namespaces/team-a/pods", {"fieldSelector": "metadata.name!=web"},
     ("list", "", "team-a", "pods", "", "")),
    ("GET", "/api/v1/namespaces/team-a/pods/web", {}, ("get", "", "team-a", "pods", "", "web")),
    ("GET", "/api/v1/namespaces/team-a/pods/web/log", {}, ("get", "", "team-a", "pods", "log", "web")),
    ("POST", "/api/v1/namespaces/team-a/serviceaccounts/ci/token", {},
     ("create", "", "team-a", "serviceaccounts", "token", "ci")),
    ("PUT", "/apis/apps/v1/namespaces/team-a/deployments/web/status", {},
     ("update", "apps", "team-a", "deployments", "status", "web")),
    ("PATCH", "/apis/apps/v1/namespaces/team-a/deployments/web", {}, ("patch", "apps", "team-a", "deployments", "", "web")),
    ("DELETE", "/apis/apps/v1/namespaces/team-a/deployments/web", {},
     ("delete", "apps", "team-a", "deployments", "", "web")),
    ("DELETE", "/apis/apps/v1/namespaces/team-a/deployments", {},
     ("deletecollection", "apps", "team-a", "deployments", "", "")),
    ("POST", "/api/v1/namespaces", {}, ("create", "", "", "namespaces", "", "")),
    # the Namespace object is in its own namespace, as kube-apiserver sees it
    ("GET", "/api/v1/namespaces/team-a", {}, ("get", "", "team-a", "namespaces", "", "team-a")),
    ("PUT", "/api/v1/namespaces/team-a/finalize", {}, ("update", "", "team-a", "namespaces", "finalize", "team-a")),
    ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles", {}, ("list", RBAC_GROUP, "", "clusterroles", "", "")),
])
def test_request_info_names_requests_as_kube_apiserver(method, path, query, want):
    info = request_info(method, path, query)
    assert info.resource_request
    assert (info.verb, info.group, info.namespace, info.resource, info.subresource, info.name) == want


@pytest.mark.parametrize("method,path,verb", [
    ("GET", "/version", "get"), ("GET", "/api", "get"), ("GET", "/api/v1", "get"), ("GET", "/apis", "get"),
    ("GET", "/apis/apps", "get"), ("GET", "/apis/apps/v1", "get"), ("GET", "/openapi/v3/apis/apps/v1", "get"),
    ("POST", "/healthz", "post"), ("HEAD", "/livez", "head"),
])
def test_non_resource_requests_keep_the_method_as_verb(method, path, verb):
    info = request_info(method, path, {})
    assert not info.resource_request and info.verb == verb and info.path == path


@settings(max_examples=150, deadline=None)
@given(method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
       segments=st.lists(st.sampled_from(["api", "apis", "v1", "apps", "namespaces", "team-a", "pods", "web",
                                          "status", "finalize", "watch", "proxy", "log", "", "x.y"]), max_size=8),
       watch=st.sampled_from(["", "true", "false", "1", "bogus"]))
def test_request_info_takes_any_path(method, segments, watch):
    path = "/" + "/".join(segments)
    info = request_info(method, path, {"watch": watch} if watch else {})
    assert info.path == path
    if not info.resource_request:
        assert info.verb == method.lower()
        return
    assert info.verb in ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
                         "proxy", "")
    parts = path.strip("/").split("/")  # kube trims the slashes at both ends, then splits
    assert parts[0] in ("api", "apis")
    if "" not in parts:  # "a//b" has an empty segment, as in kube, which may name "" the resource
        assert info.resource
    if info.verb in ("list", "deletecollection"):
        assert not info.name


def test_audit_log_writes_one_json_line_per_request():
    out = io.StringIO()
    log = AuditLog(out.write, VirtualLoop(START + 0.25))
    log.record(request_info("POST", "/api/v1/namespaces/team-a/serviceaccounts/ci/token"), 201,
               user="alice", groups=["devs"], user_agent="kubectl/v1.34.0", uri="/api/v1/namespaces/team-a/x?a=b")
    log.record(request_info("GET", "/api/v1/pods", {"watch": "true"}), 403, user="system:anonymous")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = map(json.loads, lines)
    assert first == {"time": "2027-01-15T08:00:00.250000Z", "user": "alice", "groups": ["devs"], "verb": "create",
                     "group": "", "version": "v1", "resource": "serviceaccounts", "subresource": "token",
                     "namespace": "team-a", "name": "ci", "uri": "/api/v1/namespaces/team-a/x?a=b", "code": 201,
                     "userAgent": "kubectl/v1.34.0"}
    assert (second["verb"], second["namespace"], second["code"], second["uri"]) == ("watch", "", 403, "/api/v1/pods")


# --- authentication ---------------------------------------------------------------------------------

def make_sa(store: Any, name: str = "ci", ns: str = "team-a") -> dict:
    return store.create(res(store, "serviceaccounts"), ns, {"apiVersion": "v1", "kind": "ServiceAccount",
                                                            "metadata": {"name": name}})


def test_static_tokens_anonymous_and_bad_headers(store):
    authn = Authenticator(store, admin_token="s3cret")
    assert authn.authenticate("Bearer s3cret") == ADMIN == UserInfo("kubernetes-admin",
                                                                     ("system:masters", "system:authenticated"))
    assert authn.authenticate("bearer  s3cret ") == ADMIN
    assert authn.authenticate(None) == ANONYMOUS and authn.authenticate("") == ANONYMOUS
    for header in ("Bearer wrong", "Basic czNjcmV0", "Bearer", "Bearer a.b.c", "s3cret"):
        with pytest.raises(StatusError) as e:
            authn.authenticate(header)
        assert (e.value.code, e.value.reason, e.value.message) == (401, "Unauthorized", "Unauthorized")
    assert Authenticator(store).admin_token != Authenticator(store).admin_token  # generated, not fixed
    with pytest.raises(StatusError):
        Authenticator(store, anonymous=False).authenticate(None)


def test_token_request_issues_a_serviceaccount_token(store):
    sa = make_sa(store)
    authn = Authenticator(store)
    tr = authn.token_request("team-a", "ci", {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                              "spec": {"expirationSeconds": 600}})
    assert (tr["kind"], tr["apiVersion"]) == ("TokenRequest", "authentication.k8s.io/v1")
    assert tr["metadata"] == {"name": "ci", "namespace": "team-a", "uid": sa["metadata"]["uid"],
                              "creationTimestamp": "2027-01-15T08:00:00Z"}
    assert tr["spec"]["expirationSeconds"] == 600 and tr["spec"]["audiences"] == [rbac.ISSUER]
    assert tr["status"]["expirationTimestamp"] == "2027-01-15T08:10:00Z"
    token = tr["status"]["token"]
    assert token.count(".") == 2  # a JWT
    who = authn.authenticate(f"Bearer {token}")
    assert who == UserInfo("system:serviceaccount:team-a:ci", ("system:serviceaccounts",
                                                                "system:serviceaccounts:team-a",
                                                                "system:authenticated"), sa["metadata"]["uid"])
    assert who.serviceaccount == ("team-a", "ci")
    # another server's key does not verify it
    assert Authenticator(store).authenticate_token(token) is None


def test_serviceaccount_tokens_expire(store):
    make_sa(store)
    authn = Authenticator(store)
    token = authn.token_request("team-a", "ci", {"spec": {"expirationSeconds": 600}})["status"]["token"]
    store.clock.call_later(599, lambda: None)
    store.clock.run()
    assert authn.authenticate_token(token) is not None
    store.clock.call_later(1, lambda: None)
    store.clock.run()
    assert authn.authenticate_token(token) is None


def test_a_deleted_or_recreated_serviceaccount_invalidates_its_tokens(store):
    make_sa(store)
    authn = Authenticator(store)
    token = authn.token_request("team-a", "ci")["status"]["token"]
    assert authn.authenticate_token(token) is not None
    store.delete(res(store, "serviceaccounts"), "team-a", "ci")
    assert authn.authenticate_token(token) is None
    make_sa(store)  # same name, new uid
    assert authn.authenticate_token(token) is None
    with pytest.raises(StatusError) as e:
        authn.authenticate(f"Bearer {token}")
    assert e.value.code == 401


def test_a_token_for_another_audience_is_not_the_api_servers(store):
    make_sa(store)
    authn = Authenticator(store)
    tr = authn.token_request("team-a", "ci", {"spec": {"audiences": ["vault"]}})
    assert tr["spec"]["audiences"] == ["vault"]
    assert authn.authenticate_token(tr["status"]["token"]) is None


def test_a_pod_bound_token_dies_with_its_pod(store):
    make_sa(store)
    pods = res(store, "pods")
    store.create(pods, "team-a", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "runner"},
                                  "spec": {"serviceAccountName": "ci", "containers": [{"name": "c", "image": "x"}]}})
    authn = Authenticator(store)
    token = authn.token_request("team-a", "ci", {"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1",
                                                                              "name": "runner"}}})["status"]["token"]
    assert authn.authenticate_token(token) is not None
    store.delete(pods, "team-a", "runner")
    assert authn.authenticate_token(token) is None


def test_a_pod_bound_token_lives_through_the_pods_graceful_deletion():
    """kube-apiserver's validator refuses a token only once its Pod's deletionTimestamp is more than
    the JWT leeway (60 s) in the past: a container stopping in its grace period (a controller giving
    its Lease up on SIGTERM) still talks to the API."""
    store = _real_store()
    store.create(res(store, "namespaces"), None, {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": "team-a"}})
    make_sa(store)
    pods = res(store, "pods")
    store.create(pods, "team-a", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "runner"},
                                  "spec": {"serviceAccountName": "ci", "nodeName": "n1",
                                           "terminationGracePeriodSeconds": 120,
                                           "containers": [{"name": "c", "image": "x"}]}})
    authn = Authenticator(store)
    token = authn.token_request("team-a", "ci", {"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1",
                                                                              "name": "runner"}}})["status"]["token"]
    store.delete(pods, "team-a", "runner")  # graceful: deletionTimestamp = now + 120 s
    assert store.get(pods, "team-a", "runner")["metadata"]["deletionTimestamp"]
    assert authn.authenticate_token(token) is not None
    store.clock.call_later(180, lambda: None)  # 60 s past the deletionTimestamp: still there, but over
    store.clock.run()
    assert authn.authenticate_token(token) is not None  # exactly at the leeway's edge (Before: strict)
    store.clock.call_later(1, lambda: None)
    store.clock.run()
    assert authn.authenticate_token(token) is None


@pytest.mark.parametrize("spec,code,text", [
    ({"expirationSeconds": 599}, 422,
     'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 599: '
     'may not specify a duration less than 10 minutes'),
    ({"expirationSeconds": 2**32 + 1}, 422,
     'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 4294967297: '
     'may not specify a duration larger than 2^32 seconds'),
    ({"boundObjectRef": {"apiVersion": "v1", "kind": "ConfigMap", "name": "x"}}, 400,
     'cannot bind token for serviceaccount "ci" to object of type /v1, Kind=ConfigMap'),
    ({"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "gone"}}, 404, 'pods "gone" not found'),
    ({"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "other"}}, 400,
     'cannot bind token for serviceaccount "ci" to pod running with different serviceaccount name.'),
    ({"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "runner", "uid": "stale"}}, 409,
     'Operation cannot be fulfilled on Pod "runner": the UID in the bound object reference (stale) does not match '
     'the UID in record. The object might have been deleted and then recreated'),
])
def test_token_request_refuses_bad_specs_as_the_real_one(store, spec, code, text):
    make_sa(store)
    for pod, sa in (("runner", "ci"), ("other", "default")):
        store.create(res(store, "pods"), "team-a", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod},
                                                    "spec": {"serviceAccountName": sa,
                                                             "containers": [{"name": "c", "image": "x"}]}})
    with pytest.raises(StatusError) as e:
        Authenticator(store).token_request("team-a", "ci", {"spec": spec})
    assert (e.value.code, e.value.message) == (code, text)


def test_token_request_for_a_missing_serviceaccount_is_404(store):
    with pytest.raises(StatusError) as e:
        Authenticator(store).token_request("team-a", "nobody")
    assert (e.value.code, e.value.message) == (404, 'serviceaccounts "nobody" not found')


# --- authorization ----------------------------------------------------------------------------------

ALICE = UserInfo("alice", ("system:authenticated",))
BOB = UserInfo("bob", ("devs", "system:authenticated"))
CI = serviceaccount_user("team-a", "ci")


@pytest.fixture
def policy(store):
    """alice reads pods and one ConfigMap in team-a; bob (group devs) lists namespaces anywhere and
    reads secrets in team-b through a ClusterRole; the SA team-a/ci scales deployments in team-a."""
    put(store, role("pod-reader", [R(["get", "list", "watch"], ["pods"])]))
    put(store, role("one-config", [R(["get", "list", "update"], ["configmaps"], names=["app-config"])]))
    put(store, role("scaler", [R(["get", "update"], ["deployments/scale"], ["apps"]),
                               R(["get"], ["*/status"], ["*"])]))
    put(store, binding("alice-pods", "Role", "pod-reader", [user("alice")]))
    put(store, binding("alice-config", "Role", "one-config", [user("alice")]))
    # a ServiceAccount subject without a namespace means the binding's
    put(store, binding("ci-scaler", "Role", "scaler", [{"kind": "ServiceAccount", "name": "ci"}]))
    put(store, role("secret-reader", [R(["get"], ["secrets"])], ns=None))
    put(store, role("ns-lister", [R(["list"], ["namespaces"]), {"nonResourceURLs": ["/logs/*"], "verbs": ["get"]}],
                    ns=None))
    b = binding("bob-secrets", "ClusterRole", "secret-reader", [user("bob")])
    b["metadata"]["namespace"] = "team-b"
    put(store, b)
    put(store, binding("devs-ns", "ClusterRole", "ns-lister", [group("devs")], ns=None))
    return Authorizer(store)


@pytest.mark.parametrize("who,verb,resource,group,ns,name,sub,allowed", [
    (ALICE, "get", "pods", "", "team-a", "web", "", True),
    (ALICE, "list", "pods", "", "team-a", "", "", True),
    (ALICE, "delete", "pods", "", "team-a", "web", "", False),
    (ALICE, "get", "pods", "", "team-b", "web", "", False),       # a Role is its namespace's only
    (ALICE, "list", "pods", "", "", "", "", False),               # nor cluster-wide
    (ALICE, "get", "pods", "", "team-a", "web", "log", False),    # pods/log is not pods
    (ALICE, "get", "configmaps", "", "team-a", "app-config", "", True),
    (ALICE, "get", "configmaps", "", "team-a", "other", "", False),   # resourceNames
    (ALICE, "list", "configmaps", "", "team-a", "", "", False),       # a list names no object
    (ALICE, "list", "configmaps", "", "team-a", "app-config", "", True),  # ...unless its field selector does
    (ALICE, "get", "pods", "apps", "team-a", "web", "", False),       # apiGroups
    (BOB, "get", "secrets", "", "team-b", "db", "", True),            # a ClusterRole through a RoleBinding
    (BOB, "get", "secrets", "", "team-a", "db", "", False),
    (BOB, "get", "secrets", "", "", "", "", False),
    (BOB, "list", "namespaces", "", "", "", "", True),                # a ClusterRoleBinding to a group
    (BOB, "list", "namespaces", "", "team-a", "", "", True),          # ...holds in every namespace
    (CI, "update", "deployments", "apps", "team-a", "web", "scale", True),
    (CI, "update", "deployments", "apps", "team-a", "web", "", False),
    (CI, "get", "statefulsets", "apps", "team-a", "db", "status", True),  # */status
    (CI, "get", "statefulsets", "apps", "team-a", "db", "", False),
    (CI, "update", "deployments", "apps", "team-b", "web", "scale", False),
    (serviceaccount_user("team-b", "ci"), "update", "deployments", "apps", "team-a", "web", "scale", False),
    (ANONYMOUS, "get", "pods", "", "team-a", "web", "", False),
    (ADMIN, "delete", "nodes", "", "", "n1", "", True),               # system:masters
])
def test_rbac_decisions(policy, who, verb, resource, group, ns, name, sub, allowed):
    assert policy.allowed(who, verb, resource, group=group, namespace=ns, name=name, subresource=sub) is allowed


def test_non_resource_urls(policy):
    logs = request_info("GET", "/logs/kube-apiserver.log")
    assert policy.authorize(BOB, logs).allowed
    assert not policy.authorize(BOB, request_info("POST", "/logs/x")).allowed
    assert not policy.authorize(ALICE, logs).allowed


def test_decision_reasons_name_the_binding(policy):
    d = policy.authorize(CI, request_info("PUT", "/apis/apps/v1/namespaces/team-a/deployments/web/scale"))
    assert d == rbac.Decision(True, 'RBAC: allowed by RoleBinding "ci-scaler/team-a" of Role "scaler" to '
                                    'ServiceAccount "ci/team-a"')
    d = policy.authorize(BOB, request_info("GET", "/api/v1/namespaces"))
    assert d.reason == 'RBAC: allowed by ClusterRoleBinding "devs-ns" of ClusterRole "ns-lister" to Group "devs"'


def test_a_binding_to_a_missing_role_says_so_in_the_403(store, policy):
    put(store, binding("dangling", "Role", "nope", [user("alice")]))
    info = request_info("DELETE", "/api/v1/namespaces/team-a/pods/web")
    d = policy.authorize(ALICE, info)
    assert d == rbac.Decision(False, 'RBAC: role.rbac.authorization.k8s.io "nope" not found')
    with pytest.raises(StatusError) as e:
        policy.check(ALICE, info)
    assert e.value.message == ('pods "web" is forbidden: User "alice" cannot delete resource "pods" in API group "" '
                               'in the namespace "team-a": RBAC: role.rbac.authorization.k8s.io "nope" not found')


@pytest.mark.parametrize("method,path,query,who,message", [
    ("GET", "/api/v1/namespaces/team-a/secrets/db", {}, ALICE,
     'secrets "db" is forbidden: User "alice" cannot get resource "secrets" in API group "" in the namespace "team-a"'),
    ("GET", "/apis/apps/v1/deployments", {}, ALICE,
     'deployments.apps is forbidden: User "alice" cannot list resource "deployments" in API group "apps" '
     'at the cluster scope'),
    ("GET", "/apis/apps/v1/namespaces/team-a/deployments", {"watch": "true"}, ANONYMOUS,
     'deployments.apps is forbidden: User "system:anonymous" cannot watch resource "deployments" in API group '
     '"apps" in the namespace "team-a"'),
    ("PATCH", "/apis/apps/v1/namespaces/team-a/deployments/web/status", {}, CI,
     'deployments.apps "web" is forbidden: User "system:serviceaccount:team-a:ci" cannot patch resource '
     '"deployments/status" in API group "apps" in the namespace "team-a"'),
    ("DELETE", "/api/v1/nodes", {}, BOB,
     'nodes is forbidden: User "bob" cannot deletecollection resource "nodes" in API group "" at the cluster scope'),
    ("GET", "/metrics", {}, ALICE, 'forbidden: User "alice" cannot get path "/metrics"'),
])
def test_403_texts_are_kube_apiservers(policy, method, path, query, who, message):
    info = request_info(method, path, query)
    with pytest.raises(StatusError) as e:
        policy.check(who, info)
    err = e.value
    assert (err.code, err.reason, err.message) == (403, "Forbidden", message)
    body = err.status()
    assert body["reason"] == "Forbidden" and body["code"] == 403
    if info.resource_request:
        assert body["details"]["kind"] == info.resource and body["details"].get("group", "") == info.group
        assert body["details"].get("name", "") == info.name


def test_forbidden_sanitizes_like_kube_apiserver():
    info = RequestInfo(resource_request=False, path="/<script>&", verb="get")
    assert forbidden(ALICE, info).message == 'forbidden: User "alice" cannot get path "/&lt;script&gt;&amp;"'


def test_changes_to_roles_and_bindings_take_effect_at_once(store, policy):
    assert not policy.allowed(ALICE, "delete", "pods", namespace="team-a", name="web")
    put(store, role("pod-deleter", [R(["delete"], ["pods"])]))
    assert not policy.allowed(ALICE, "delete", "pods", namespace="team-a", name="web")
    put(store, binding("alice-delete", "Role", "pod-deleter", [user("alice")]))
    assert policy.allowed(ALICE, "delete", "pods", namespace="team-a", name="web")
    store.delete(res(store, "rolebindings", RBAC_GROUP), "team-a", "alice-delete")
    assert not policy.allowed(ALICE, "delete", "pods", namespace="team-a", name="web")


def test_aggregated_clusterroles_follow_their_selectors(store, policy):
    put(store, role("widget-admin", [], ns=None, aggregate={"example.com/aggregate-to-widgets": "true"}))
    put(store, binding("carol-widgets", "ClusterRole", "widget-admin", [user("carol")], ns=None))
    carol = UserInfo("carol")
    assert not policy.allowed(carol, "get", "widgets", group="example.com", namespace="team-a")
    part = put(store, role("widget-reader", [R(["get"], ["widgets"], ["example.com"])], ns=None,
                           labels={"example.com/aggregate-to-widgets": "true"}))
    assert policy.allowed(carol, "get", "widgets", group="example.com", namespace="team-a")
    assert not policy.allowed(carol, "delete", "widgets", group="example.com", namespace="team-a")
    part = copy.deepcopy(part)
    part["metadata"]["labels"] = {}
    store.update(res(store, "clusterroles", RBAC_GROUP), None, "widget-reader", part)
    assert not policy.allowed(carol, "get", "widgets", group="example.com", namespace="team-a")


# --- the default policy -----------------------------------------------------------------------------

@pytest.fixture
def defaults(store):
    bootstrap(store)
    bootstrap(store)  # the server may start twice on the same store: no AlreadyExists
    for who, role_name in (("viewer", "view"), ("editor", "edit"), ("owner", "admin")):
        put(store, binding(f"{who}-{role_name}", "ClusterRole", role_name, [user(who)]))
    return Authorizer(store)


@pytest.mark.parametrize("who,verb,resource,group,sub,allowed", [
    ("viewer", "list", "pods", "", "", True),
    ("viewer", "get", "deployments", "apps", "status", True),
    ("viewer", "get", "secrets", "", "", False),          # view does not read secrets
    ("viewer", "create", "configmaps", "", "", False),
    ("editor", "create", "deployments", "apps", "", True),
    ("editor", "get", "secrets", "", "", True),
    ("editor", "create", "serviceaccounts", "", "token", True),
    ("editor", "list", "pods", "", "", True),              # edit aggregates view
    ("editor", "create", "roles", RBAC_GROUP, "", False),
    ("owner", "create", "roles", RBAC_GROUP, "", True),     # admin aggregates edit and view
    ("owner", "patch", "jobs", "batch", "", True),
    ("owner", "list", "pods", "", "", True),
    ("owner", "create", "namespaces", "", "", False),
])
def test_default_roles_grant_what_a_real_cluster_grants(defaults, who, verb, resource, group, sub, allowed):
    assert defaults.allowed(UserInfo(who, ("system:authenticated",)), verb, resource, group=group,
                            namespace="team-a", subresource=sub) is allowed


def test_default_bindings_for_discovery_and_public_info(defaults):
    someone = UserInfo("someone", ("system:authenticated",))
    for path in ("/api", "/apis/apps/v1", "/version", "/openapi/v3", "/healthz"):
        assert defaults.authorize(someone, request_info("GET", path)).allowed, path
    assert defaults.authorize(ANONYMOUS, request_info("GET", "/version")).allowed
    assert defaults.authorize(ANONYMOUS, request_info("GET", "/readyz")).allowed
    assert not defaults.authorize(ANONYMOUS, request_info("GET", "/apis")).allowed
    assert not defaults.authorize(someone, request_info("GET", "/metrics")).allowed
    assert not defaults.allowed(someone, "list", "pods", namespace="team-a")
    assert defaults.allowed(someone, "create", "selfsubjectaccessreviews", group="authorization.k8s.io")


def test_bootstrap_writes_the_aggregated_rules_as_the_controller_does(store, defaults):
    view = store.get(res(store, "clusterroles", RBAC_GROUP), None, "view")
    assert view["metadata"]["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
    stored = {(tuple(r.get("apiGroups", ())), tuple(r.get("resources", ())), tuple(r["verbs"])) for r in view["rules"]}
    assert (("",), ("namespaces",), ("get", "list", "watch")) in stored
    admin = store.get(res(store, "clusterroles", RBAC_GROUP), None, "admin")
    assert len(admin["rules"]) > len(view["rules"])


def test_the_aggregation_controller_writes_new_rules_into_view_edit_and_admin(store, defaults):
    crs = res(store, "clusterroles", RBAC_GROUP)
    widget_rule = R(["get", "list", "watch"], ["widgets"], ["example.com"])
    put(store, role("widgets-view", [widget_rule], ns=None,
                    labels={"rbac.authorization.k8s.io/aggregate-to-view": "true"}))
    for name in ("view", "edit", "admin"):  # edit aggregates view, admin aggregates edit
        assert widget_rule in store.get(crs, None, name)["rules"], name
    assert defaults.allowed(UserInfo("viewer"), "list", "widgets", group="example.com", namespace="team-a")
    store.delete(crs, None, "widgets-view")
    for name in ("view", "edit", "admin"):
        assert widget_rule not in store.get(crs, None, name)["rules"], name
    assert not defaults.allowed(UserInfo("viewer"), "list", "widgets", group="example.com", namespace="team-a")


# --- escalation -------------------------------------------------------------------------------------

class AsRequest:
    """Writes as the HTTP face makes them: inside acting_as(user), naming that user in the write."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.registry = store.registry

    @staticmethod
    def _who() -> str:
        who = rbac.current_user.get()
        return who.name if who else ""

    def create(self, *args: Any, **kw: Any) -> dict:
        return self.store.create(*args, user=self._who(), **kw)

    def update(self, *args: Any, **kw: Any) -> dict:
        return self.store.update(*args, user=self._who(), **kw)


@pytest.fixture
def guarded(store, policy):
    store.add_admission(escalation_admission(policy))
    return AsRequest(store)


def test_a_role_granting_more_than_its_creator_holds_is_forbidden(guarded):
    roles = res(guarded, "roles", RBAC_GROUP)
    with acting_as(ALICE):
        guarded.create(roles, "team-a", role("sub-reader", [R(["get", "list"], ["pods"])]))  # held: fine
        with pytest.raises(StatusError) as e:
            guarded.create(roles, "team-a", role("grab", [R(["get", "list"], ["pods", "secrets"]),
                                                          R(["delete"], ["pods"])]))
    assert (e.value.code, e.value.reason) == (403, "Forbidden")
    assert e.value.message == (
        'roles.rbac.authorization.k8s.io "grab" is forbidden: user "alice" (groups=["system:authenticated"]) is '
        'attempting to grant RBAC permissions not currently held:\n'
        '{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}\n'
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}')
    # the same in team-b, where alice holds nothing
    with acting_as(ALICE), pytest.raises(StatusError):
        guarded.create(roles, "team-b", role("sub-reader", [R(["get"], ["pods"])]))
    # resourceNames narrow what is granted: alice may pass on her one ConfigMap, not all of them
    with acting_as(ALICE):
        guarded.create(roles, "team-a", role("cfg", [R(["get"], ["configmaps"], names=["app-config"])]))
        with pytest.raises(StatusError):
            guarded.create(roles, "team-a", role("cfgs", [R(["get"], ["configmaps"])]))


def test_escalate_and_masters_skip_the_check(store, guarded, policy):
    roles = res(guarded, "roles", RBAC_GROUP)
    big = role("big", [R(["*"], ["*"], ["*"])])
    with acting_as(ADMIN):
        guarded.create(roles, "team-a", copy.deepcopy(big))
    put(store, role("escalator", [R(["escalate"], ["roles"], [RBAC_GROUP])]))
    put(store, binding("alice-escalates", "Role", "escalator", [user("alice")]))
    with acting_as(ALICE):
        big["metadata"]["name"] = "big2"
        guarded.create(roles, "team-a", big)
    # writes outside any request (the server's own) are not checked
    store.create(roles, "team-b", role("internal", [R(["*"], ["*"], ["*"])]))


def test_updating_a_role_is_checked_only_when_it_grants_something_new(guarded):
    roles = res(guarded, "roles", RBAC_GROUP)
    held = guarded.create(roles, "team-a", role("wide", [R(["*"], ["*"], ["*"])]))  # by the server
    with acting_as(ALICE):
        touched = copy.deepcopy(held)
        touched["metadata"]["finalizers"] = ["example.com/keep"]
        touched = guarded.update(roles, "team-a", "wide", touched)  # only what the GC writes: no check
        relabelled = copy.deepcopy(touched)
        relabelled["metadata"]["labels"] = {"a": "b"}
        with pytest.raises(StatusError) as e:
            guarded.update(roles, "team-a", "wide", relabelled)
    assert e.value.code == 403


def test_binding_needs_the_roles_rules_or_bind(store, guarded):
    rbs = res(guarded, "rolebindings", RBAC_GROUP)
    crbs = res(guarded, "clusterrolebindings", RBAC_GROUP)
    put(store, role("secret-writer", [R(["create"], ["secrets"])]))
    with acting_as(ALICE):
        guarded.create(rbs, "team-a", binding("share", "Role", "pod-reader", [user("dave")]))  # held: fine
        with pytest.raises(StatusError) as e:
            guarded.create(rbs, "team-a", binding("grab", "Role", "secret-writer", [user("alice")]))
        assert e.value.message == (
            'rolebindings.rbac.authorization.k8s.io "grab" is forbidden: user "alice" '
            '(groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
            '{APIGroups:[""], Resources:["secrets"], Verbs:["create"]}')
        with pytest.raises(StatusError) as e:
            guarded.create(rbs, "team-a", binding("ghost", "Role", "no-such-role", [user("alice")]))
        assert (e.value.code, e.value.message) == (404, 'roles.rbac.authorization.k8s.io "no-such-role" not found')
        with pytest.raises(StatusError) as e:
            guarded.create(crbs, None, binding("root", "ClusterRole", "secret-reader", [user("alice")], ns=None))
        assert e.value.code == 403
    put(store, role("binder", [R(["bind"], ["roles"], [RBAC_GROUP], names=["secret-writer"])]))
    put(store, binding("alice-binds", "Role", "binder", [user("alice")]))
    with acting_as(ALICE):
        guarded.create(rbs, "team-a", binding("grab", "Role", "secret-writer", [user("alice")]))
        with pytest.raises(StatusError):  # bind names secret-writer only
            guarded.create(rbs, "team-a", binding("grab2", "Role", "scaler", [user("alice")]))


def test_an_aggregation_rule_needs_cluster_admin(store, guarded):
    crs = res(guarded, "clusterroles", RBAC_GROUP)
    put(store, role("escalator", [R(["escalate"], ["clusterroles"], [RBAC_GROUP])], ns=None))
    put(store, role("all-in-team-a", [R(["*"], ["*"], ["*"])], ns=None))
    put(store, binding("alice-all", "ClusterRole", "all-in-team-a", [user("alice")]))
    with acting_as(ALICE):
        with pytest.raises(StatusError) as e:
            guarded.create(crs, None, role("agg", [], ns=None, aggregate={"x": "y"}))
    assert e.value.message == ('clusterroles.rbac.authorization.k8s.io "agg" is forbidden: must have cluster-admin '
                               'privileges to use the aggregationRule')
    put(store, binding("alice-escalates", "ClusterRole", "escalator", [user("alice")], ns=None))
    with acting_as(ALICE):
        guarded.create(crs, None, role("agg", [], ns=None, aggregate={"x": "y"}))


def test_the_servers_own_writes_in_a_context_copied_from_a_request_are_not_checked(store, guarded):
    """asyncio runs a timer in a copy of the context it was scheduled in: a controller's timer set
    during alice's request still sees her as current_user, but its writes are the server's."""
    roles = res(store, "roles", RBAC_GROUP)
    with acting_as(ALICE):
        timer_context = contextvars.copy_context()
    created = timer_context.run(store.create, roles, "team-a", role("controller-made", [R(["*"], ["*"], ["*"])]))
    assert created["metadata"]["name"] == "controller-made"
    with acting_as(ALICE), pytest.raises(StatusError):
        guarded.create(roles, "team-a", role("alice-made", [R(["*"], ["*"], ["*"])]))


# --- reviews (kubectl auth can-i / whoami) ----------------------------------------------------------

AUTHZ = "authorization.k8s.io"


def ssar(verb: str, resource: str, namespace: str = "", **more: str) -> dict:
    return {"apiVersion": f"{AUTHZ}/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": verb, "resource": resource, "namespace": namespace, **more}}}


def test_self_subject_access_review_is_kubectl_auth_can_i(policy):
    out = rbac.create_review(AUTHZ, "selfsubjectaccessreviews", ssar("get", "pods", "team-a"), requester=ALICE,
                             authorizer=policy)
    assert out["kind"] == "SelfSubjectAccessReview" and out["spec"] == ssar("get", "pods", "team-a")["spec"]
    assert out["status"] == {"allowed": True,
                             "reason": 'RBAC: allowed by RoleBinding "alice-pods/team-a" of Role "pod-reader" to '
                                       'User "alice"'}
    denied = rbac.create_review(AUTHZ, "selfsubjectaccessreviews", ssar("delete", "pods", "team-a"),
                                requester=ALICE, authorizer=policy)
    assert denied["status"] == {"allowed": False}
    scale = ssar("update", "deployments", "team-a", group="apps", subresource="scale", name="web")
    assert rbac.create_review(AUTHZ, "selfsubjectaccessreviews", scale, requester=CI,
                              authorizer=policy)["status"]["allowed"]
    logs = {"kind": "SelfSubjectAccessReview", "spec": {"nonResourceAttributes": {"path": "/logs/a", "verb": "get"}}}
    assert rbac.create_review(AUTHZ, "selfsubjectaccessreviews", logs, requester=BOB,
                              authorizer=policy)["status"]["allowed"]
    # without --rbac every authenticated user may do everything, and the review says so
    assert rbac.create_review(AUTHZ, "selfsubjectaccessreviews", ssar("delete", "nodes"), requester=ALICE,
                              authorizer=None)["status"] == {"allowed": True}


def test_subject_access_reviews_ask_about_someone_else(policy):
    sar = {"kind": "SubjectAccessReview", "spec": {"user": "bob", "groups": ["devs"],
                                                   "resourceAttributes": {"verb": "get", "resource": "secrets",
                                                                          "namespace": "team-b"}}}
    assert rbac.create_review(AUTHZ, "subjectaccessreviews", sar, requester=ADMIN,
                              authorizer=policy)["status"]["allowed"]
    sar["spec"]["resourceAttributes"]["namespace"] = "team-a"
    assert not rbac.create_review(AUTHZ, "subjectaccessreviews", sar, requester=ADMIN,
                                  authorizer=policy)["status"]["allowed"]
    local = {"kind": "LocalSubjectAccessReview", "spec": {"user": "alice", "resourceAttributes": {
        "verb": "list", "resource": "pods", "namespace": "team-a"}}}
    out = rbac.create_review(AUTHZ, "localsubjectaccessreviews", local, requester=ADMIN, authorizer=policy,
                             namespace="team-a")
    assert out["status"]["allowed"] and out["metadata"]["namespace"] == "team-a"


@pytest.mark.parametrize("plural,body,namespace,words", [
    ("selfsubjectaccessreviews", {"kind": "SelfSubjectAccessReview", "spec": {}}, None,
     'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: null: '
     'exactly one of nonResourceAttributes or resourceAttributes must be specified'),
    ("selfsubjectaccessreviews", {"kind": "SelfSubjectAccessReview", "spec": {
        "resourceAttributes": {"verb": "get"}, "nonResourceAttributes": {"path": "/x", "verb": "get"}}}, None,
     "cannot be specified in combination with resourceAttributes"),
    ("subjectaccessreviews", {"kind": "SubjectAccessReview", "spec": {"resourceAttributes": {"verb": "get"}}}, None,
     'spec.user: Invalid value: "": at least one of user or group must be specified'),
    ("localsubjectaccessreviews", {"kind": "LocalSubjectAccessReview", "spec": {
        "user": "alice", "resourceAttributes": {"verb": "get", "namespace": "team-b"}}}, "team-a",
     'spec.resourceAttributes.namespace: Invalid value: "team-b": must match metadata.namespace'),
])
def test_bad_reviews_are_422(policy, plural, body, namespace, words):
    with pytest.raises(StatusError) as e:
        rbac.create_review(AUTHZ, plural, body, requester=ADMIN, authorizer=policy, namespace=namespace)
    assert e.value.code == 422 and words in e.value.message


def test_a_review_body_of_another_kind_is_400(policy):
    with pytest.raises(StatusError) as e:
        rbac.create_review(AUTHZ, "selfsubjectaccessreviews", {"kind": "Pod"}, requester=ALICE, authorizer=policy)
    assert e.value.code == 400


def test_whoami_token_review_and_rules_review(store, policy):
    who = rbac.create_review("authentication.k8s.io", "selfsubjectreviews", {"kind": "SelfSubjectReview"},
                             requester=BOB, authorizer=policy)
    assert who["status"] == {"userInfo": {"username": "bob", "groups": ["devs", "system:authenticated"]}}
    make_sa(store)
    authn = Authenticator(store)
    token = authn.token_request("team-a", "ci")["status"]["token"]
    good = rbac.create_review("authentication.k8s.io", "tokenreviews", {"kind": "TokenReview", "spec": {"token": token}},
                              requester=ADMIN, authorizer=policy, authenticator=authn)
    assert good["status"]["authenticated"] and good["status"]["user"]["username"] == "system:serviceaccount:team-a:ci"
    bad = rbac.create_review("authentication.k8s.io", "tokenreviews", {"kind": "TokenReview", "spec": {"token": "x"}},
                             requester=ADMIN, authorizer=policy, authenticator=authn)
    assert bad["status"] == {"user": {}, "error": "invalid bearer token"}
    rules = rbac.create_review(AUTHZ, "selfsubjectrulesreviews", {"kind": "SelfSubjectRulesReview",
                                                                  "spec": {"namespace": "team-a"}},
                               requester=ALICE, authorizer=policy)["status"]
    assert {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods"]} in rules["resourceRules"]
    assert rules["incomplete"] is False


def test_patches_and_applies_of_roles_are_checked_too(store, guarded):
    """The check is an admission hook, so it sees the object a patch or an apply makes (the real
    store only: the stand-in has no patch)."""
    if isinstance(store, FakeStore):
        pytest.skip("the stand-in store has no patch")
    pytest.importorskip("helm_ac.kubesim.patch")
    roles = res(store, "roles", RBAC_GROUP)
    grab = {"rules": [R(["get"], ["secrets"])]}
    with acting_as(ALICE):
        guarded.create(roles, "team-a", role("mine", [R(["get"], ["pods"])]))
        for patch_type, name, body in (
                ("merge", "mine", grab),
                ("json", "mine", [{"op": "add", "path": "/rules/-", "value": R(["get"], ["secrets"])}]),
                ("apply", "applied", {**role("applied", []), **grab})):
            with pytest.raises(StatusError) as e:
                store.patch(roles, "team-a", name, patch_type, body, user="alice", field_manager="kubectl")
            assert e.value.code == 403 and "not currently held" in e.value.message, patch_type
