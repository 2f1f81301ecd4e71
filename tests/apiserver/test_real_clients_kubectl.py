"""Issue 9, point 6: real kubectl 1.34 (from the Helm 4 wheel) against the embedded API server:
server-side apply (create, then an update that drops fields), get -o json, get -w in the
background, delete waiting for garbage collection, api-resources (CRDs come and go), explain;
and the RBAC mode with a ServiceAccount token. One server per module, a namespace per test.
(test_kubectl.py: apply, wait, namespace deletion.)"""
from __future__ import annotations

import json
import os
import selectors
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import get_helm  # scripts/ is on sys.path (tests/conftest.py)
import pytest

from helm_ac.apiserver.server import Options, running

BEHAVIOUR = "seconds: {Pod: 0.2, ReplicaSet: 0.2, Deployment: 0.2, CustomResourceDefinition: 0.1}\n"


class Kubectl:
    def __init__(self, binary: str, kubeconfig: Path) -> None:
        self.binary, self.kubeconfig = binary, kubeconfig

    def argv(self, *args: str, token: str | None = None) -> list[str]:
        return [self.binary, "--kubeconfig", str(self.kubeconfig), *(["--token", token] if token else []), *args]

    def run(self, *args: str, stdin: str | None = None, token: str | None = None,
            code: int = 0) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(self.argv(*args, token=token), capture_output=True, text=True, input=stdin,
                           timeout=120, check=False)
        assert p.returncode == code, f"kubectl {' '.join(args)} -> {p.returncode}:\n{p.stdout}\n{p.stderr}"
        return p

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        return self.run(*args, stdin=stdin).stdout

    def json(self, *args: str) -> dict:
        return json.loads(self(*args, "-o", "json"))  # type: ignore[no-any-return]


def start(options: Options, tmp: Path) -> Iterator[Kubectl]:
    (tmp / "behaviour.yaml").write_text(BEHAVIOUR)
    options.behaviour = tmp / "behaviour.yaml"
    with running(options) as r:
        yield Kubectl(str(get_helm.fetch_kubectl(quiet=True)), r.kubeconfig)


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    yield from start(Options(bookmark_interval=0.5), tmp_path_factory.mktemp("kubectl"))


@pytest.fixture
def ns(kubectl: Kubectl) -> str:
    name = f"k-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    return name


def deployment(ns: str, *, env: bool, label: bool) -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
  labels:
    app: web{'''
    tier: front''' if label else ''}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1{'''
        env:
        - {name: MODE, value: debug}''' if env else ''}
"""


def test_apply_server_side_then_an_update_without_fields(kubectl: Kubectl, ns: str) -> None:
    assert kubectl("apply", "--server-side", "-f", "-", stdin=deployment(ns, env=True, label=True)) == \
        "deployment.apps/web serverside-applied\n"
    kubectl("wait", "-n", ns, "--for=condition=Available", "deployment/web", "--timeout=30s")
    dep = kubectl.json("get", "-n", ns, "deployment", "web")
    assert dep["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert dep["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "MODE", "value": "debug"}]
    assert dep["status"]["readyReplicas"] == 2 and dep["metadata"]["generation"] == 1
    # applied again without the label and the env var: the sole manager's fields are removed
    kubectl("apply", "--server-side", "-f", "-", stdin=deployment(ns, env=False, label=False))
    dep = kubectl.json("get", "-n", ns, "deployment", "web")
    assert dep["metadata"]["labels"] == {"app": "web"}
    assert "env" not in dep["spec"]["template"]["spec"]["containers"][0]
    assert dep["metadata"]["generation"] == 2
    kubectl("wait", "-n", ns, "--for=jsonpath={.status.observedGeneration}=2", "deployment/web", "--timeout=30s")


def test_get_watch_in_the_background_sees_a_change(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "configmap", "cfg", "-n", ns, "--from-literal=a=1")
    watcher = subprocess.Popen(kubectl.argv("get", "configmap", "cfg", "-n", ns, "-w", "--output-watch-events",
                                            "-o", "jsonpath={.type} {.object.data.a}{'\\n'}"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = read_lines(watcher, 1)
        assert lines == ["ADDED 1"]
        kubectl("patch", "configmap", "cfg", "-n", ns, "-p", '{"data":{"a":"2"}}')
        assert read_lines(watcher, 1) == ["MODIFIED 2"]
        assert watcher.poll() is None  # still watching
    finally:
        watcher.kill()
        watcher.wait(timeout=10)


def read_lines(proc: subprocess.Popen[str], n: int, seconds: float = 20) -> list[str]:
    """The next ``n`` lines of a running process's stdout (fails after ``seconds``)."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + seconds
    lines: list[str] = []
    fd = proc.stdout.fileno()
    buf = b""
    while len(lines) < n:
        if not sel.select(timeout=max(deadline - time.monotonic(), 0)):
            raise AssertionError(f"no line from {proc.args!r} after {lines}")
        chunk = os.read(fd, 1)  # byte by byte: nothing is left in a buffer for the next call
        if not chunk:
            raise AssertionError(f"{proc.args!r} ended: {proc.stderr.read() if proc.stderr else ''}")
        buf += chunk
        if chunk == b"\n":
            lines.append(buf.decode().rstrip("\n"))
            buf = b""
    return lines


def test_delete_waits_for_garbage_collection(kubectl: Kubectl, ns: str) -> None:
    kubectl("apply", "--server-side", "-f", "-", stdin=deployment(ns, env=False, label=False))
    kubectl("wait", "-n", ns, "--for=condition=Available", "deployment/web", "--timeout=30s")
    assert len(kubectl("get", "-n", ns, "pods", "-o", "name").split()) == 2
    # foreground: the Deployment goes only once its ReplicaSet and Pods are gone, and kubectl waits for it
    out = kubectl("delete", "-n", ns, "deployment", "web", "--cascade=foreground", "--wait=true", "--timeout=30s")
    assert out == f'deployment.apps "web" deleted from {ns} namespace\n'
    assert kubectl("get", "-n", ns, "deployments,replicasets,pods", "-o", "name") == ""


CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.org
spec:
  group: example.org
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget, shortNames: [gd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
"""


def test_api_resources_with_a_crd_coming_and_going(kubectl: Kubectl) -> None:
    rows = {line.split()[0]: line.split()[1:] for line in kubectl("api-resources", "--no-headers").splitlines()}
    assert rows["deployments"] == ["deploy", "apps/v1", "true", "Deployment"]
    assert rows["namespaces"] == ["ns", "v1", "false", "Namespace"]
    assert rows["customresourcedefinitions"] == ["crd,crds", "apiextensions.k8s.io/v1", "false",
                                                 "CustomResourceDefinition"]
    assert "gadgets" not in rows
    kubectl("apply", "--server-side", "-f", "-", stdin=CRD)
    kubectl("wait", "--for=condition=Established", "crd/gadgets.example.org", "--timeout=30s")
    assert kubectl("api-resources", "--api-group=example.org", "--no-headers").split() == \
        ["gadgets", "gd", "example.org/v1", "true", "Gadget"]
    kubectl("delete", "crd", "gadgets.example.org", "--wait=true", "--timeout=30s")
    assert kubectl("api-resources", "--api-group=example.org", "--no-headers") == ""


def test_explain_deployment_spec(kubectl: Kubectl) -> None:
    out = kubectl("explain", "deployment.spec")
    assert out.startswith("GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n\nFIELD: spec <DeploymentSpec>\n")
    assert "  replicas\t<integer>\n" in out and "  template\t<PodTemplateSpec> -required-\n" in out
    # recursive explain walks the referenced schemas (OpenAPI v3 $refs)
    assert "      containers\t<[]Container> -required-\n" in kubectl("explain", "deployment.spec", "--recursive")


@pytest.fixture(scope="module")
def rbac_kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    yield from start(Options(rbac=True), tmp_path_factory.mktemp("rbac"))


def test_rbac_serviceaccount_with_a_role_on_configmaps(rbac_kubectl: Kubectl) -> None:
    k = rbac_kubectl
    k("create", "namespace", "team")
    k("create", "namespace", "other")
    k("create", "serviceaccount", "bot", "-n", "team")
    k("create", "role", "cm-writer", "-n", "team", "--verb=create,get,list", "--resource=configmaps")
    k("create", "rolebinding", "bot-cm", "-n", "team", "--role=cm-writer", "--serviceaccount=team:bot")
    token = k("create", "token", "bot", "-n", "team").strip()
    assert k.run("create", "configmap", "mine", "-n", "team", "--from-literal=a=1", token=token).stdout == \
        "configmap/mine created\n"
    assert k.run("get", "configmap", "mine", "-n", "team", "-o", "name", token=token).stdout == "configmap/mine\n"
    user = '"system:serviceaccount:team:bot"'
    p = k.run("create", "secret", "generic", "s", "-n", "team", "--from-literal=a=1", token=token, code=1)
    assert p.stderr == (f'error: failed to create secret secrets is forbidden: User {user} cannot create resource '
                        '"secrets" in API group "" in the namespace "team"\n')
    p = k.run("create", "configmap", "mine", "-n", "other", "--from-literal=a=1", token=token, code=1)
    assert p.stderr == (f'error: failed to create configmap: configmaps is forbidden: User {user} cannot create '
                        'resource "configmaps" in API group "" in the namespace "other"\n')
    p = k.run("get", "secrets", "-n", "team", token=token, code=1)
    assert p.stderr == (f'Error from server (Forbidden): secrets is forbidden: User {user} cannot list resource '
                        '"secrets" in API group "" in the namespace "team"\n')


def test_rbac_auth_can_i_and_whoami(rbac_kubectl: Kubectl) -> None:
    """kubectl auth can-i / whoami POST review objects: answered from the authorizer, not stored."""
    k = rbac_kubectl
    k("create", "namespace", "review")
    k("create", "serviceaccount", "bot", "-n", "review")
    k("create", "role", "cm-reader", "-n", "review", "--verb=get,list", "--resource=configmaps")
    k("create", "rolebinding", "bot-cm", "-n", "review", "--role=cm-reader", "--serviceaccount=review:bot")
    token = k("create", "token", "bot", "-n", "review").strip()
    assert k.run("auth", "can-i", "list", "configmaps", "-n", "review", token=token).stdout == "yes\n"
    assert k.run("auth", "can-i", "create", "secrets", "-n", "review", token=token, code=1).stdout == "no\n"
    assert k.run("auth", "can-i", "list", "configmaps", "-n", "default", token=token, code=1).stdout == "no\n"
    assert k("auth", "can-i", "create", "secrets", "-n", "review") == "yes\n"  # the admin
    who = json.loads(k.run("auth", "whoami", "-o", "json", token=token).stdout)
    assert who["status"]["userInfo"]["username"] == "system:serviceaccount:review:bot"


def test_rollout_undo(kubectl: Kubectl, ns: str) -> None:
    """kubectl rollout undo JSON-patches the Deployment's template and replaces its annotations: it
    needs the revision annotation the deployment controller keeps on the Deployment."""
    kubectl("create", "deployment", "web", "-n", ns, "--image=nginx:1")
    kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=30s")
    kubectl("set", "image", "-n", ns, "deployment/web", "nginx=nginx:2")
    kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=30s")
    dep = kubectl.json("get", "-n", ns, "deployment", "web")
    assert dep["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "2"}
    assert dep["metadata"]["generation"] == 2  # the controller's annotation came with a status write
    assert kubectl("rollout", "undo", "-n", ns, "deployment/web") == "deployment.apps/web rolled back\n"
    kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=30s")
    dep = kubectl.json("get", "-n", ns, "deployment", "web")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1"
    assert dep["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "3"}
    assert kubectl("rollout", "history", "-n", ns, "deployment/web").split()[-4:] == ["2", "<none>", "3", "<none>"]


def test_plain_http_is_the_insecure_port(tmp_path: Path) -> None:
    """client-go sends a kubeconfig's token only to an https server, so over --no-tls kubectl and
    Helm come without one: without --rbac they act as system:unsecured (system:masters), as on
    kube-apiserver's old insecure port; with --rbac they stay anonymous and are refused (discovery
    included: system:discovery is bound to system:authenticated only)."""
    (tmp_path / "open").mkdir()
    (tmp_path / "rbac").mkdir()
    server = start(Options(tls=False), tmp_path / "open")
    k = next(server)
    try:
        k("create", "configmap", "plain", "-n", "default", "--from-literal=a=1")
        assert "plain" in k("get", "configmaps", "-n", "default", "-o", "name")
    finally:
        server.close()
    server = start(Options(tls=False, rbac=True), tmp_path / "rbac")
    k = next(server)
    try:
        p = k.run("get", "configmaps", "-n", "default", code=1)  # anonymous may not even read discovery
        assert "couldn't get current server API group list" in p.stderr
    finally:
        server.close()
