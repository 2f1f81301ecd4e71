"""Issue 11 points 1 (the post-renderer) and 3 (least privilege, a hardened pod): `helm ac
post-render`, the controller's manifests, Helm 3's executable and Helm 4's postrenderer/v1 plugin,
both Helms accepting them (`helm template`, `helm install` on the embedded server), and the
controller running with the Role it gets, on the embedded server's RBAC."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES, ROOT, HelmEnv, cm, write_chart
from controllerkit import cmap, objects_of

from helm_ac.actions.postrender import HELM4_FILENAME, PostRender, helm4_sources
from helm_ac.controller import lease
from helm_ac.errors import UserError
from helm_ac.extension import spec
from helm_ac.output import appcontroller
from helm_ac.output import controller_manifests as cmf

kubernetes_validate = pytest.importorskip("kubernetes_validate")

WORDPRESS = EXAMPLES / "wordpress"
RBAC_KINDS = ("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")


def _docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def _by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


# ---------------------------------------------------------------- the controller's manifests (pure)


def _svc(name: str, **ann: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "annotations": ann},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}}


CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "backups.example.com"},
       "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"kind": "Backup", "plural": "backupz", "singular": "backup", "listKind": "BackupList"},
                "versions": [{"name": "v1", "served": True, "storage": True,
                              "schema": {"openAPIV3Schema": {"type": "object"}}}]}}


def _rules(obj: dict[str, Any]) -> set[tuple[str, str, str, tuple[str, ...]]]:
    return {(g, r, v, tuple(rule.get("resourceNames", ()))) for rule in obj["rules"] for g in rule["apiGroups"]
            for r in rule["resources"] for v in rule["verbs"]}


OWN = {("appcontroller.k8s", r, v, ()) for r in ("definitions", "dependencies", "releasegraphs")
       for v in ("get", "list", "watch")} | {
    ("appcontroller.k8s", "definitions/status", "patch", ()), ("appcontroller.k8s", "releasegraphs/status", "patch", ()),
    ("appcontroller.k8s", "releasegraphs", "patch", ("rel",)),
    ("coordination.k8s.io", "leases", "get", ("helm-ac-rel",)), ("coordination.k8s.io", "leases", "update", ("helm-ac-rel",)),
    ("coordination.k8s.io", "leases", "create", ())}


def _grants(group: str, plural: str) -> set[tuple[str, str, str, tuple[str, ...]]]:
    return {(group, plural, v, ()) for v in cmf.OBJECT_VERBS}


def test_the_role_grants_the_controllers_calls_for_the_kinds_of_the_release_and_no_more():
    a, _, _, _ = objects_of("rel", [cmap("a"), _svc("web", **{spec.PREFIX + "ready-when": "endpoints"}),
                                    {"apiVersion": "example.com/v1", "kind": "Backup", "metadata": {"name": "b"}},
                                    {"apiVersion": "example.com/v1", "kind": "Restore", "metadata": {"name": "r"}},
                                    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                                     "spec": {"template": {"metadata": {"labels": {"app": "web"}}}}}],
                            namespace="shop")
    n = cmf.needs(a, "rel")
    role = cmf.role(n)
    # the plural of a kind of no CRD of the release is guessed as kubectl guesses it; a CRD's is read
    assert _rules(role) == OWN | _grants("", "configmaps") | _grants("", "services") | _grants("apps", "deployments") \
        | _grants("example.com", "backups") | _grants("example.com", "restores") \
        | {("", "pods", "list", ()), ("", "pods", "watch", ())}
    assert role["metadata"]["namespace"] == "shop" and cmf.cluster_role(n) is None
    a2, _, _, _ = objects_of("rel", [cmap("a"), CRD, {"apiVersion": "example.com/v1", "kind": "Backup",
                                                      "metadata": {"name": "b"}}], namespace="shop")
    n2 = cmf.needs(a2, "rel", payload_secrets=["rel-acp-1", "rel-acp-0"])
    assert ("example.com", "backupz", "create", ()) in _rules(cmf.role(n2))
    assert ("", "secrets", "get", ("rel-acp-0", "rel-acp-1")) in _rules(cmf.role(n2))
    assert ("", "pods", "list", ()) not in _rules(cmf.role(n2))  # no Service waits for its endpoints
    # the CRD itself is cluster-scoped: a ClusterRole named for the release and its namespace
    cr = cmf.cluster_role(n2)
    assert cr is not None and _rules(cr) == _grants("apiextensions.k8s.io", "customresourcedefinitions")
    assert cr["metadata"]["name"] == "shop-rel-helm-ac" and "namespace" not in cr["metadata"]
    crb = cmf.cluster_role_binding("rel", "shop")
    assert crb["roleRef"]["name"] == cr["metadata"]["name"]
    assert crb["subjects"] == [{"kind": "ServiceAccount", "name": "rel-helm-ac", "namespace": "shop"}]


def test_objects_in_other_namespaces_get_the_cluster_role():
    a, _, _, _ = objects_of("rel", [cmap("a"), {**cmap("b"), "metadata": {"name": "b", "namespace": "other"}}],
                            namespace="shop")
    n = cmf.needs(a, "rel")
    assert n.local == {"": {"configmaps"}} and n.elsewhere == {"": {"configmaps"}}
    cr = cmf.cluster_role(n)
    assert cr is not None and _rules(cr) == _grants("", "configmaps")
    kinds = [d["kind"] for d in cmf.manifests(n)]
    assert kinds == ["ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "Deployment", "Job"]


def test_the_lease_name_is_the_controllers():
    assert cmf.lease_name("my-rel") == lease.lease_name("my-rel")


@pytest.mark.parametrize("release", ["a", "wordpress", "r" * 53, "x" * 40 + "-" + "y" * 12])
def test_names_are_dns_labels_of_at_most_63_characters(release):
    for suffix in ("", "-teardown"):
        n = cmf.name(release, suffix)
        assert len(n) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", n), n
        assert n.endswith(f"helm-ac{suffix}")
    assert cmf.name("wordpress") == "wordpress-helm-ac"
    long1, long2 = "a" * 50 + "bcd", "a" * 50 + "bce"
    assert cmf.name(long1, "-teardown") != cmf.name(long2, "-teardown")  # the hash tells them apart
    assert len(cmf.cluster_name("r" * 53, "n" * 63)) <= 253


def test_the_deployment_and_the_job_are_hardened():
    dep = cmf.deployment("rel", "shop", "example.org/ac:1")
    job = cmf.teardown_job("rel", "shop", "example.org/ac:1")
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"] == {"type": "Recreate"}
    for obj, args in ((dep, ["--release", "rel", "-n", "shop", "--watch", "--health-port", "8080",
                             "--identity", "$(POD_NAME)"]),
                      (job, ["--release", "rel", "-n", "shop", "--teardown"])):
        tpl = obj["spec"]["template"]
        assert tpl["metadata"]["annotations"] == {"appcontroller.k8s/controller": "true"}
        pod = tpl["spec"]
        assert pod["automountServiceAccountToken"] is True and pod["serviceAccountName"] == "rel-helm-ac"
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65532
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        (c,) = pod["containers"]
        assert c["image"] == "example.org/ac:1" and c["command"] == ["python", "-m", "helm_ac.controller"]
        assert c["args"] == args
        assert c["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                        "runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                                        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
        assert c["resources"] == cmf.RESOURCES
        assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]  # the root filesystem is read-only
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz" and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert job["metadata"]["annotations"] == {"helm.sh/hook": "pre-delete", "helm.sh/hook-weight": "0",
                                              "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded"}
    assert job["spec"]["backoffLimit"] == cmf.TEARDOWN_BACKOFF_LIMIT
    assert job["spec"]["activeDeadlineSeconds"] == cmf.TEARDOWN_DEADLINE_SECONDS
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert cmf.service_account("rel", "shop")["automountServiceAccountToken"] is False
    assert cmf.DEFAULT_IMAGE.startswith("ghcr.io/helm-ac/controller:")


def test_the_controller_manifests_pass_strict_kubernetes_validation():
    a, _, _, _ = objects_of("rel", [cmap("a"), CRD, {**cmap("b"), "metadata": {"name": "b", "namespace": "o"}},
                                    _svc("s", **{spec.PREFIX + "ready-when": "endpoints"})], namespace="shop")
    objs = cmf.manifests(cmf.needs(a, "rel", ["rel-acp-0"]), digest="ab" * 32)
    assert [o["kind"] for o in objs][-2:] == ["Job", "Job"]  # the gate, the teardown hook
    assert {o["kind"] for o in objs} == {*RBAC_KINDS, "Deployment", "Job"}
    version = kubernetes_validate.utils.major_minor(kubernetes_validate.utils.latest_version())
    for v in ("1.30", version):  # the oldest Kubernetes the project validates for, and the newest
        for obj in objs:
            assert kubernetes_validate.validate(obj, v, strict=True) == v, obj["kind"]
    bad = cmf.deployment("rel", "shop")
    bad["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFS"] = True
    with pytest.raises(kubernetes_validate.ValidationError):  # strict: an unknown field is refused
        kubernetes_validate.validate(bad, version, strict=True)


# ---------------------------------------------------------------- helm ac post-render (no helm)


def _post_render(stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "helm_ac", "post-render", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=120)


def test_helm4_file_annotations_become_sources_and_leave_the_objects():
    text = (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations:\n"
            f"    {HELM4_FILENAME}: c/templates/a.yaml\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n"
            f"  annotations:\n    {HELM4_FILENAME}: c/templates/b.yaml\n    keep: me\n")
    out = helm4_sources(text)
    assert HELM4_FILENAME not in out
    assert re.findall(r"# Source: (.+)", out) == ["c/templates/a.yaml", "c/templates/b.yaml"]
    a, b = _docs(out)
    assert "annotations" not in a["metadata"] and b["metadata"]["annotations"] == {"keep": "me"}


@pytest.mark.parametrize("annotations", [
    "  annotations:\n    {f}: c/t/a.yaml\n",
    "  annotations:\n    {f}: c/t/a.yaml\n    keep: me\n",
    "  annotations:\n    keep: me\n    {f}: c/t/a.yaml\n",
    "  annotations:\n    a: b\n    {f}: c/t/a.yaml\n    keep: me\n",
    "  annotations:\n    {f}: 'c/t/a b.yaml'\n",
    "  annotations: {{{f}: c/t/a.yaml, keep: me}}\n",
    "  annotations:\n    {f}: c/t/a.yaml\n  labels:\n    x: y\n",
])
def test_helm4_file_annotations_are_cut_as_text_or_parsed_alike(annotations):
    """The usual layout is edited as text (fast); any other is parsed: the same objects either way."""
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n" + annotations.format(f=HELM4_FILENAME) + \
        "data:\n  k: |\n    line\n"
    out = helm4_sources(doc + "---\n" + doc)
    want = yaml.safe_load(doc)
    ann = want["metadata"].pop("annotations")
    source = ann.pop(HELM4_FILENAME)
    if ann:
        want["metadata"]["annotations"] = ann
    assert _docs(out) == [want, want]
    assert re.findall(r"# Source: (.+)", out) == [source, source]


def test_post_render_emits_what_template_emits_plus_the_controller(tmp_path):
    chart = write_chart(tmp_path, "c", {"a.yaml": cm("a"), "b.yaml": cm("b", {spec.DEPENDS_ON: "configmap/a"})})
    rendered = (f"---\n# Source: c/templates/a.yaml\n{cm('a')}---\n# Source: c/templates/b.yaml\n"
                f"{cm('b', {spec.DEPENDS_ON: 'configmap/a'})}")
    p = _post_render(rendered, "--release", "rel", "-n", "shop", "--chart", str(chart), "--helm", "3",
                     "--controller-image", "example.org/ac:2")
    assert p.returncode == 0, p.stderr
    docs = _docs(p.stdout)
    assert [d["kind"] for d in docs] == ["Definition", "Definition", "Dependency", "ReleaseGraph", "ServiceAccount",
                                         "Role", "RoleBinding", "Deployment", "Job"]  # Helm 3: the gate, no hook
    assert {d["metadata"]["namespace"] for d in docs} == {"shop"}
    (dep,) = _by_kind(docs, "Deployment")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "example.org/ac:2"
    # Helm 4's input (its file annotations, hooks among the documents): the same graph, the hook kept, the Job added
    helm4 = (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations:\n"
             f"    {HELM4_FILENAME}: c/templates/a.yaml\ndata: {{}}\n---\n"
             f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  annotations:\n"
             f"    {HELM4_FILENAME}: c/templates/b.yaml\n    {spec.DEPENDS_ON}: configmap/a\ndata: {{}}\n---\n"
             f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\n  annotations:\n    helm.sh/hook: test\n"
             f"    {HELM4_FILENAME}: c/templates/t.yaml\nspec:\n  containers: [{{name: t, image: busybox}}]\n")
    p4 = _post_render(helm4, "--release", "rel", "-n", "shop", "--chart", str(chart))
    assert p4.returncode == 0, p4.stderr
    docs4 = _docs(p4.stdout)
    assert [d["kind"] for d in docs4] == ["Definition", "Definition", "Pod", "Dependency", "ReleaseGraph",
                                          "ServiceAccount", "Role", "RoleBinding", "Deployment", "Job", "Job"]
    # the annotation is Helm 4's to file each document (it removes it): on the Definition, never on what it wraps
    assert [d["metadata"]["annotations"][HELM4_FILENAME] for d in _by_kind(docs4, "Definition")] == \
        ["c/templates/a.yaml", "c/templates/b.yaml"]
    assert all(HELM4_FILENAME not in (d["configmap"]["metadata"].get("annotations") or {})
               for d in _by_kind(docs4, "Definition"))
    def graph(ds: list[dict[str, Any]]) -> tuple[list, list]:
        return ([(d["metadata"]["name"], d["meta"], d["configmap"]["metadata"]["name"]) for d in _by_kind(ds, "Definition")],
                [(d["parent"], d["child"]) for d in _by_kind(ds, "Dependency")])

    assert graph(docs4) == graph(docs) == ([("configmap-a", {"timeout": 600}, "a"), ("configmap-b", {"timeout": 600}, "b")],
                                           [("configmap/a", "configmap/b")])
    assert _by_kind(docs4, "Job")[1]["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete"


def test_post_render_refuses_a_chart_with_lint_errors_and_bad_flags_clearly(tmp_path):
    bad = f"---\n# Source: c/templates/a.yaml\n{cm('a', {spec.DEPENDS_ON: 'configmap/nope'})}"
    p = _post_render(bad, "--release", "rel", "-n", "shop")
    assert p.returncode == 1 and p.stdout == ""
    assert "configmap/nope" in p.stderr and "refuses to post-render" in p.stderr
    p = _post_render("", "--release", "Not_A_Name", "-n", "shop")
    assert p.returncode == 2 and "is not a release name" in p.stderr and "Traceback" not in p.stderr
    p = _post_render("", "--release", "rel", "-n", "Shop")
    assert p.returncode == 2 and "is not a namespace name" in p.stderr and "Traceback" not in p.stderr
    p = _post_render("", "--release", "rel")
    assert p.returncode == 2 and "--namespace" in p.stderr
    with pytest.raises(UserError, match="--chart .*Chart.yaml"):
        PostRender("rel", "shop", chart=str(tmp_path)).run("")


# ---------------------------------------------------------------- both Helms take it


def plugin_root(tmp_path: Path) -> Path:
    """The post-renderer launchers as a plugin install lays them out, with an environment whose
    helm-ac is this working tree (a real `helm plugin install` builds it with pip: test_plugin.py)."""
    root = tmp_path / "ac"
    (root / "scripts").mkdir(parents=True)
    shutil.copytree(ROOT / "bin", root / "bin")
    shutil.copytree(ROOT / "helm-plugins", root / "helm-plugins")
    shutil.copy2(ROOT / "scripts" / "helm-ac", root / "scripts" / "helm-ac")
    venv = root / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(sys.executable)
    (venv / "helm-ac").write_text(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                                  "from helm_ac.__main__ import main\nmain()\n")
    return root


def post_renderer_args(helm: HelmEnv, root: Path, release: str, namespace: str, chart: Path) -> tuple[list[str], dict]:
    """helm's flags and environment for helm-ac as its post-renderer."""
    args = [f"--post-renderer-args=--release={release}", f"--post-renderer-args=--namespace={namespace}",
            f"--post-renderer-args=--chart={chart}"]
    env = dict(helm.env)
    if helm.major == "3":
        return ["--post-renderer", str(root / "bin" / "helm-ac-postrender"), *args], env
    env["HELM_PLUGINS"] = str(root / "helm-plugins")
    return ["--post-renderer", "ac-postrender", *args], env


def test_both_helms_take_the_post_renderer_and_emit_the_graph_and_the_controller(helm, tmp_path, cli):
    root = plugin_root(tmp_path)
    flags, env = post_renderer_args(helm, root, "wp", "shop", WORDPRESS)
    p = helm.run("template", "wp", str(WORDPRESS), "-n", "shop", *flags, env=env, check=False)
    assert p.returncode == 0, p.stderr
    docs = _docs(p.stdout)
    kinds = sorted({d["kind"] for d in docs})
    assert kinds == sorted({"Definition", "Dependency", "ReleaseGraph", "ServiceAccount", "Role", "RoleBinding",
                            "Deployment", "Pod", "Secret",  # Pod: the chart's test hook; Secret: the payloads
                            "Job"})  # the gate (both), the teardown hook (Helm 4)
    assert {d["type"] for d in _by_kind(docs, "Secret")} == {appcontroller.PAYLOAD_TYPE}
    # the graph is what helm ac template emits for the same chart
    t = cli("template", "wp", str(WORDPRESS), "-n", "shop")
    assert t.code == 0, t.err
    want = _docs(t.out)
    (rg,) = _by_kind(docs, "ReleaseGraph")
    graph = _by_kind(docs, "Definition") + _by_kind(docs, "Dependency")
    assert {d["metadata"]["annotations"][appcontroller.GRAPH_ANNOTATION] for d in graph} == {rg["spec"]["digest"]}

    def undigested(d: dict[str, Any]) -> str:  # Helm 4 reformats the documents: their digest differs
        d = json.loads(json.dumps(d))
        d["metadata"].get("annotations", {}).pop(appcontroller.GRAPH_ANNOTATION, None)
        d.get("spec", {}).pop("digest", None)
        return json.dumps(d, sort_keys=True)

    for kind in ("Definition", "Dependency", "ReleaseGraph"):
        assert sorted(map(undigested, _by_kind(docs, kind))) == sorted(map(undigested, _by_kind(want, kind))), kind
    (role,) = _by_kind(docs, "Role")
    assert {r for rule in role["rules"] for r in rule["resources"]} >= {"statefulsets", "deployments", "services",
                                                                          "secrets", "persistentvolumeclaims"}
    jobs = _by_kind(docs, "Job")
    assert [j["metadata"]["name"] for j in jobs if "helm.sh/hook" not in j["metadata"].get("annotations", {})] == \
        [cmf.gate_name("wp", rg["spec"]["digest"])]
    if helm.major == "4":
        (job,) = [j for j in jobs if j["metadata"].get("annotations", {}).get("helm.sh/hook")]
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete"
        # Helm 4 files every document under the file the post-renderer gave it, and drops the annotation
        assert "generated-by-postrender" not in p.stdout and HELM4_FILENAME not in p.stdout
        sources = set(re.findall(r"^# Source: (.+)$", p.stdout, re.MULTILINE))
        assert {"wordpress/templates/deployment.yaml", "wordpress/appcontroller/dependencies.yaml",
                "wordpress/appcontroller/controller.yaml"} <= sources


def test_helm4_installs_the_post_renderer_plugin_through_a_link(helm_binaries, tmp_path):
    """`helm plugin install <dir>/helm-plugins/ac-postrender` links the folder into Helm 4's plugins: the
    launcher finds helm-ac two folders up through the link."""
    root = plugin_root(tmp_path)
    h = HelmEnv("4", helm_binaries["4"], tmp_path / "home")
    env = {k: v for k, v in h.env.items() if k != "HELM_PLUGINS"}  # Helm 4.1 installs into HELM_DATA_HOME/plugins
    p = h.run("plugin", "install", str(root / "helm-plugins" / "ac-postrender"), env=env, check=False)
    assert p.returncode == 0 and "Installed plugin: ac-postrender" in p.stdout + p.stderr, p.stderr
    assert (tmp_path / "home" / "data" / "plugins" / "ac-postrender").is_symlink()
    out = h.run("template", "wp", str(WORDPRESS), "--post-renderer", "ac-postrender",
                "--post-renderer-args=--release=wp", "--post-renderer-args=--namespace=default", env=env).stdout
    assert len(_by_kind(_docs(out), "Definition")) == 11 and len(_by_kind(_docs(out), "Role")) == 1


def test_both_helms_fail_on_a_chart_with_lint_errors(helm, tmp_path):
    root = plugin_root(tmp_path)
    chart = write_chart(tmp_path, "bad", {"a.yaml": cm("a", {spec.DEPENDS_ON: "configmap/nope"})})
    flags, env = post_renderer_args(helm, root, "r", "default", chart)
    p = helm.run("template", "r", str(chart), *flags, env=env, check=False)
    assert p.returncode == 1 and "Definition" not in p.stdout
    if helm.major == "3":  # Helm 3 shows its post-renderer's stderr
        assert "configmap/nope" in p.stderr and "refuses to post-render" in p.stderr
    else:  # Helm 4.1 drops it: only that the plugin failed (helm ac install lints first: docs/install.md)
        assert 'plugin "ac-postrender" exited with error' in p.stderr


# ---------------------------------------------------------------- helm install on the embedded server


@pytest.fixture
def server(tmp_path):
    from controllerkit import embedded

    with embedded(tmp_path) as s:
        yield s


def test_helm_install_with_the_post_renderer_creates_the_graph_and_the_controller(helm, tmp_path, server):
    root = plugin_root(tmp_path)
    ns, rel = f"shop{helm.major}", "wp"
    flags, env = post_renderer_args(helm, root, rel, ns, WORDPRESS)
    env["KUBECONFIG"] = str(server.srv.kubeconfig)
    p = helm.run("install", rel, str(WORDPRESS), "-n", ns, "--create-namespace", *flags, env=env, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    dyn = server.dyn

    def names(api_version: str, kind: str) -> list[str]:
        res = dyn.resources.get(api_version=api_version, kind=kind)
        return sorted(o["metadata"]["name"] for o in dyn.get(res, namespace=ns).to_dict()["items"])

    assert len(names("appcontroller.k8s/v1alpha1", "Definition")) == 11
    assert len(names("appcontroller.k8s/v1alpha1", "Dependency")) == 16
    assert names("appcontroller.k8s/v1alpha1", "ReleaseGraph") == [rel]
    for kind, api in (("ServiceAccount", "v1"), ("Role", "rbac.authorization.k8s.io/v1"),
                      ("RoleBinding", "rbac.authorization.k8s.io/v1"), ("Deployment", "apps/v1")):
        assert set(names(api, kind)) - {"default"} == {"wp-helm-ac"}, kind  # "default": the namespace's own
    # only the controller's Deployment and gate Job: the chart's objects are the controller's to create
    assert names("apps/v1", "StatefulSet") == []
    assert [n for n in names("batch/v1", "Job") if "-helm-ac-gate-" not in n] == []
    listed = json.loads(helm.run("list", "-n", ns, "-o", "json", env=env).stdout)
    assert [(r["name"], r["status"]) for r in listed] == [(rel, "deployed")]
    manifest = helm.run("get", "manifest", rel, "-n", ns, env=env).stdout
    assert "kind: Definition" in manifest and "kind: ReleaseGraph" in manifest
    hooks = helm.run("get", "hooks", rel, "-n", ns, env=env).stdout
    # Helm 4 sorts hooks out of the post-renderer's answer: the teardown Job is its pre-delete hook
    assert ("wp-helm-ac-teardown" in hooks) == (helm.major == "4")
    installed = len(server.audit())  # the gate Job is created at install: only the uninstall's count
    p = helm.run("uninstall", rel, "-n", ns, "--timeout", "60s", env=env, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    audit = [r for r in server.audit()[installed:] if r["namespace"] == ns and r["code"] < 300]
    job = [i for i, r in enumerate(audit) if r["resource"] == "jobs" and r["verb"] in ("create", "patch")
           and not r.get("subresource")]
    deletes = [i for i, r in enumerate(audit) if r["resource"] == "definitions" and r["verb"] == "delete"]
    assert deletes and names("appcontroller.k8s/v1alpha1", "Definition") == []
    if helm.major == "4":  # the hook ran (and was waited for) before Helm deleted anything
        assert job and max(job) < min(deletes)
    else:
        assert job == []


# ---------------------------------------------------------------- the controller with its Role (RBAC)


RBAC_CHART = {
    "cm.yaml": cm("settings"),
    "role.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: reader\nrules:\n"
                 "- {apiGroups: [''], resources: [configmaps], verbs: [get, list]}\n",
    "rb.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: reader\n"
               "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}\n"
               "subjects: [{kind: ServiceAccount, name: default, namespace: shop}]\n",
    "view.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: viewer\n"
                 "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\n"
                 "subjects: [{kind: ServiceAccount, name: default, namespace: shop}]\n",
    "cr.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: shop-nodes\nrules:\n"
               "- {apiGroups: [''], resources: [nodes], verbs: [get, list, watch]}\n",
    "crb.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: shop-nodes\n"
                "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: shop-nodes}\n"
                "subjects: [{kind: ServiceAccount, name: default, namespace: shop}]\n",
}


@pytest.mark.parametrize("chart", ["wordpress", "migrations", "rbac"])
def test_the_controller_rolls_the_release_out_with_its_role_and_nothing_outside_it_is_allowed(
        helm, chart, tmp_path, capsys):
    """The example charts, and one whose objects are Roles and bindings (kube-apiserver lets the
    controller write them only with `escalate`/`bind` on them, or every permission they hand out)."""
    from controllerkit import Server
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    from helm_ac.apiserver import server as apiserver
    from helm_ac.controller import __main__ as entry
    from helm_ac.kube.config import connect

    ns, rel = "shop", "rel"
    path = write_chart(tmp_path, "rbac", RBAC_CHART) if chart == "rbac" else EXAMPLES / chart
    rendered = helm.run("template", rel, str(path), "-n", ns).stdout
    docs = _docs(PostRender(rel, ns, chart=str(path), helm=helm.major).run(rendered).render())
    behaviour = tmp_path / "behaviour.yaml"
    behaviour.write_text(yaml.safe_dump({"jitter": 0, "seconds": {k: 0.2 for k in (
        "Pod", "ReplicaSet", "Deployment", "StatefulSet", "Job", "PersistentVolumeClaim")}}))
    opts = apiserver.Options(rbac=True, audit_log=tmp_path / "audit.jsonl", readiness_log=tmp_path / "ready.jsonl",
                             behaviour=behaviour)
    with apiserver.running(opts) as srv:
        s = Server(srv, tmp_path)  # the admin: the CRDs, then what Helm would create
        core = client.CoreV1Api(s.dyn.client)
        core.create_namespace({"metadata": {"name": ns}})
        for f in sorted((path / "crds").glob("*.yaml")):  # Helm installs a chart's crds/ itself
            s.create(_docs(f.read_text()))
        for d in docs:  # not the controller's Deployment (it runs here, in-process) nor hooks
            if d["kind"] != "Deployment" and "helm.sh/hook" not in (d["metadata"].get("annotations") or {}):
                for _ in range(100):  # a custom resource's CRD: served once established
                    try:
                        s.create([d], namespace=ns)
                        break
                    except Exception:  # noqa: BLE001 - not served yet
                        s.dyn.resources.invalidate_cache()
                        import time

                        time.sleep(0.05)
        tr = core.create_namespaced_service_account_token(
            cmf.name(rel), ns, {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                "spec": {"expirationSeconds": 3600}})
        kc = yaml.safe_load(srv.kubeconfig.read_text())
        for u in kc["users"]:
            u["user"] = {"token": tr.status.token}
        sa_config = tmp_path / "sa.kubeconfig"
        sa_config.write_text(yaml.safe_dump(kc))

        code = entry.main(["--release", rel, "-n", ns, "--kubeconfig", str(sa_config)])
        err = capsys.readouterr().err
        assert code == 0, err
        user = f"system:serviceaccount:{ns}:{cmf.name(rel)}"
        calls = [r for r in s.audit() if r["user"] == user]
        assert calls and [r for r in calls if r["code"] in (401, 403)] == []  # (404: the Lease, before it is made)
        touched = {r["resource"] for r in calls if r["resource"] and not r["subresource"]}
        roles = _by_kind(docs, "Role") + _by_kind(docs, "ClusterRole")
        granted = {res for role in roles if role["metadata"]["name"].endswith("helm-ac") for rule in role["rules"]
                   if "create" in rule["verbs"] and rule["apiGroups"] != ["coordination.k8s.io"]
                   for res in rule["resources"]}
        # every kind the Role grants was applied (so needed), and the graph was read
        assert granted and granted <= touched and {"definitions", "dependencies", "releasegraphs"} <= touched
        # anything else: 403
        sa = connect(kubeconfig=str(sa_config), env={}).api
        job = {"metadata": {"name": "x"}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}}
        for call in (lambda: client.BatchV1Api(sa).create_namespaced_job("default", job),
                     lambda: client.CoreV1Api(sa).list_namespaced_config_map("default"),
                     lambda: client.CoreV1Api(sa).list_namespaced_pod(ns),
                     lambda: client.AppsV1Api(sa).list_namespaced_daemon_set(ns),
                     lambda: client.RbacAuthorizationV1Api(sa).create_namespaced_role(ns, {
                         "metadata": {"name": "other"}, "rules": [{"apiGroups": [""], "resources": ["secrets"],
                                                                   "verbs": ["get"]}]}),
                     lambda: client.RbacAuthorizationV1Api(sa).create_cluster_role(
                         {"metadata": {"name": "mine"}, "rules": [{"apiGroups": ["*"], "resources": ["*"],
                                                                   "verbs": ["*"]}]}),
                     lambda: client.CoordinationV1Api(sa).read_namespaced_lease("helm-ac-other", ns)):
            with pytest.raises(ApiException) as e:
                call()
            assert e.value.status == 403


def test_an_apply_that_creates_needs_create_as_on_kube_apiserver(tmp_path):
    """The embedded server authorizes a server-side apply that creates its object as a create of that
    name too (kube-apiserver's handlers/patch.go), so a Role without `create` is caught here."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    from helm_ac.apiserver import server as apiserver
    from helm_ac.kube.config import connect

    with apiserver.running(apiserver.Options(tls=False, rbac=True)) as srv:
        admin = connect(kubeconfig=str(srv.kubeconfig), env={}).api
        core, rbac_api = client.CoreV1Api(admin), client.RbacAuthorizationV1Api(admin)
        core.create_namespace({"metadata": {"name": "t"}})
        core.create_namespaced_service_account("t", {"metadata": {"name": "bot"}})
        core.create_namespaced_config_map("t", {"metadata": {"name": "old"}})
        rbac_api.create_namespaced_role("t", {"metadata": {"name": "r"}, "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["patch"]}]})
        rbac_api.create_namespaced_role_binding("t", {
            "metadata": {"name": "r"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "t"}]})
        token = core.create_namespaced_service_account_token(
            "bot", "t", {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}).status.token
        conf = client.Configuration()
        conf.host = srv.url
        conf.api_key = {"authorization": f"Bearer {token}"}
        bot = client.ApiClient(conf)

        from kubernetes.dynamic import DynamicClient

        dyn = DynamicClient(bot)
        cms = dyn.resources.get(api_version="v1", kind="ConfigMap")

        def apply(name: str) -> str:
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}
            return str(dyn.server_side_apply(cms, body=body, name=name, namespace="t",
                                             field_manager="helm-ac").metadata.name)

        assert apply("old") == "old"  # an existing object: patch is enough
        with pytest.raises(ApiException) as e:
            apply("new")
        assert e.value.status == 403 and 'cannot create resource "configmaps"' in json.loads(e.value.body)["message"]
        rbac_api.patch_namespaced_role("r", "t", {"rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["patch", "create"]}]})
        assert apply("new") == "new"


def test_the_charts_crds_are_left_to_helm_and_what_waits_for_them_is_not_refused(helm):
    """Helm installs crds/ before anything and never passes them to a post-renderer: the references
    to them resolve (lint refused the crd-operator example before), and they are neither wrapped nor
    granted to the controller."""
    chart = EXAMPLES / "crd-operator"
    rendered = helm.run("template", "op", str(chart), "-n", "shop").stdout  # no --include-crds: as Helm passes it
    assert "kind: CustomResourceDefinition" not in rendered
    result = PostRender("op", "shop", chart=str(chart), helm=helm.major).run(rendered)
    assert not result.failed, result.findings
    docs = _docs(result.render())
    wrapped = {next(k for k in d if k not in ("apiVersion", "kind", "metadata", "meta")) for d in _by_kind(docs, "Definition")}
    assert "backup" in wrapped and "customresourcedefinition" not in wrapped
    assert not [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    assert all("customresourcedefinition" not in d["parent"] for d in _by_kind(docs, "Dependency"))
    (cr,) = [d for d in _by_kind(docs, "ClusterRole") if d["metadata"]["name"].endswith("helm-ac")]
    assert "customresourcedefinitions" not in {r for rule in cr["rules"] for r in rule["resources"]}
    # the chart's own ClusterRole and binding: escalate and bind on exactly those names
    assert {("clusterroles", "escalate", ("op-crd-operator",)), ("clusterroles", "bind", ("op-crd-operator",))} <= {
        (res, v, tuple(rule.get("resourceNames", ()))) for rule in cr["rules"] for res in rule["resources"]
        for v in rule["verbs"]}


@pytest.mark.parametrize("meta", [
    "metadata:\n  name: a\n  annotations:\n    x: y\n",
    "metadata:\n  annotations:\n    x: y\n  name: a\n",
    "metadata:\n  name: a\n",
    "metadata:\n  name: a\n  labels:\n    l: v\n",
    "metadata:\n  name: a\n  annotations: {x: y}\n",
    "metadata: {name: a, annotations: {x: y}}\n",
])
def test_documents_for_helm4_carry_their_file(meta):
    from helm_ac.actions.postrender import with_file_annotation

    text = "apiVersion: v1\nkind: ConfigMap\n" + meta + "data:\n  k: v\n"
    out = yaml.safe_load(with_file_annotation(text, "c/templates/a b.yaml"))
    want = yaml.safe_load(text)
    want["metadata"].setdefault("annotations", {})[HELM4_FILENAME] = "c/templates/a b.yaml"
    assert out == want
    back = helm4_sources("---\n" + with_file_annotation(text, "c/templates/a.yaml"))
    assert re.findall(r"# Source: (.+)", back) == ["c/templates/a.yaml"] and _docs(back) == [yaml.safe_load(text)]
