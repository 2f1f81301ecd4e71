"""Issue 11 points 1, 5 and 6: `helm ac install/upgrade/rollback/uninstall` and `helm ac demo`, with
real Helm 3 and 4 on the embedded API server whose controller Pods run for real (`run_pods`): Helm →
post-renderer → Deployment → Pod → controller → ordered objects, checked from the server's audit
and readiness logs."""
from __future__ import annotations

import contextlib
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from conftest import ROOT, HelmEnv, cm, get_helm, write_chart
from controllerkit import _ts, audit_log, first_ready

from helm_ac.apiserver import server as apiserver
from helm_ac.extension import spec
from helm_ac.output import controller_manifests as cmf

DEPENDS = spec.DEPENDS_ON


def deployment(name: str, depends: str | None = None, image: str = "example/app:1") -> str:
    ann = f"\n  annotations:\n    {DEPENDS}: {json.dumps(depends)}" if depends else ""
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}{ann}\nspec:\n  replicas: 1\n"
            f"  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n"
            f"    spec:\n      containers: [{{name: c, image: {json.dumps(image)}}}]\n")


def job(name: str) -> str:
    return (f"apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\nspec:\n  backoffLimit: 0\n  template:\n"
            f"    spec:\n      restartPolicy: Never\n      containers: [{{name: c, image: busybox}}]\n")


#: the chart's own pre-delete hook (weight 5): helm uninstall runs it before the ordered teardown
def bye(name: str = "bye") -> str:
    return cm(name, {"helm.sh/hook": "pre-delete", "helm.sh/hook-weight": "5"})



#: v1: a, then web (waits for a), then b (waits for web)
V1 = {"a.yaml": cm("a"), "web.yaml": deployment("web", "configmap/a"), "b.yaml": cm("b", {DEPENDS: "deployment/web"}),
      "bye.yaml": bye()}
#: v2: a changed, b removed, c added (waits for web)
V2 = {"a.yaml": cm("a").replace("data: {}", "data: {k: changed}"), "web.yaml": deployment("web", "configmap/a"),
      "c.yaml": cm("c", {DEPENDS: "deployment/web"}), "bye.yaml": bye()}


def _teardown_after_the_charts_hook(calls: list[dict[str, Any]], release: str) -> None:
    """In the audit of an uninstall: the chart's pre-delete hook (a ConfigMap) was created, then
    the teardown hook Job, whose pod (the controller's ServiceAccount) deleted objects, all before
    Helm deleted the release's Definitions."""
    ok = [r for r in calls if r["code"] < 300 and not r["subresource"] and r["namespace"] == "default"]
    created = [(i, r["resource"]) for i, r in enumerate(ok) if r["code"] == 201]  # (a create's URI has no name)
    # the uninstall creates two objects, both hooks: the chart's ConfigMap, then the teardown Job
    assert [res for _, res in created] == ["configmaps", "jobs"], created
    teardown = created[1][0]
    assert ok[teardown]["user"] != "system:serviceaccount:default:" + cmf.name(release)  # Helm made it
    sa = [i for i, r in enumerate(ok) if r["verb"] == "delete" and r["user"].startswith("system:serviceaccount:")]
    helm_deletes = [i for i, r in enumerate(ok) if r["verb"] == "delete" and r["resource"] == "definitions"
                    and not r["user"].startswith("system:serviceaccount:")]
    assert sa and helm_deletes and teardown < min(sa) and max(sa) < min(helm_deletes)


class Cluster:
    """An embedded API server (controller Pods run for real) and helm-ac's command line on it."""

    def __init__(self, srv: apiserver.Running, logs: Path, helm: HelmEnv) -> None:
        self.srv, self.logs, self.helm = srv, logs, helm
        self.env = {**helm.env, "KUBECONFIG": str(srv.kubeconfig), "PYTHONPATH": str(ROOT)}

    def ac(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "helm_ac", *args], capture_output=True, text=True,
                              env=env or self.env, timeout=180, cwd=ROOT)

    def ac_tty(self, *args: str) -> tuple[int, str, str]:
        """``helm ac ARGS`` with its stdout on a terminal (a pty, 160 columns): (exit code, what the
        terminal got, stderr)."""
        import fcntl
        import pty
        import struct
        import termios
        import threading

        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
        p = subprocess.Popen([sys.executable, "-m", "helm_ac", *args], stdin=subprocess.DEVNULL, stdout=slave,
                             stderr=subprocess.PIPE, env={**self.env, "TERM": "xterm-256color"}, cwd=ROOT)
        os.close(slave)
        err: list[bytes] = []
        reader = threading.Thread(target=lambda: err.append(p.stderr.read() if p.stderr else b""))
        reader.start()
        got = bytearray()
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            got += chunk
        os.close(master)
        code = p.wait(timeout=180)
        reader.join()
        return code, got.decode("utf-8", "replace"), b"".join(err).decode("utf-8", "replace")

    def helm_(self, *args: str) -> str:
        return self.helm.run(*args, env=self.env).stdout

    def releases(self, namespace: str = "default") -> list[tuple[str, str]]:
        return [(r["name"], r["status"]) for r in json.loads(self.helm_("list", "-n", namespace, "-o", "json"))]

    def audit(self) -> list[dict[str, Any]]:
        return audit_log(self.logs)

    def ready(self) -> dict[tuple[str, str], datetime.datetime]:
        return first_ready(self.logs)

    def controller_calls(self, verb: str, resource: str, namespace: str = "default") -> list[tuple[str, datetime.datetime]]:
        """(name, time) of the successful calls of the controller (its ServiceAccount), in order."""
        return [(r["name"], _ts(r["time"])) for r in self.audit()
                if r["user"].startswith("system:serviceaccount:") and r["verb"] == verb and r["resource"] == resource
                and not r["subresource"] and r["code"] < 300 and r["namespace"] == namespace]


@contextlib.contextmanager
def cluster(tmp_path: Path, helm: HelmEnv, rules: tuple[str, ...] = (), rbac: bool = False,
            faults: tuple[str, ...] = ()) -> Iterator[Cluster]:
    behaviour = tmp_path / "behaviour.yaml"
    behaviour.write_text(yaml.safe_dump({"jitter": 0, "seconds": {k: 0.2 for k in (
        "Pod", "ReplicaSet", "Deployment", "StatefulSet", "Job", "PersistentVolumeClaim")}}))
    opts = apiserver.Options(audit_log=tmp_path / "audit.jsonl", readiness_log=tmp_path / "ready.jsonl",
                             behaviour=behaviour, rules=list(rules), run_pods=True, rbac=rbac, faults=list(faults),
                             pod_logs=tmp_path / "pods")
    with apiserver.running(opts) as srv:
        yield Cluster(srv, tmp_path, helm)


def _before(first: datetime.datetime, then: datetime.datetime) -> bool:
    return first <= then


def test_install_upgrade_rollback_uninstall_in_order_beside_another_release(helm, tmp_path):
    v1 = write_chart(tmp_path / "v1", "app", V1)
    v2 = write_chart(tmp_path / "v2", "app", V2)
    with cluster(tmp_path, helm) as c:
        # another release first, in the same namespace: left alone throughout
        other = write_chart(tmp_path / "o", "other", {"o.yaml": cm("o"), "bye.yaml": bye("bye-o")})
        p = c.ac("install", "other", str(other), "--no-wait")  # returns once helm has: its controller goes on
        assert p.returncode == 0 and "plan:" not in p.stdout, p.stdout + p.stderr
        p = c.ac("install", "rel", str(v1), "--timeout", "60s")
        assert p.returncode == 0, p.stdout + p.stderr
        assert "configmap/b: ready" in p.stdout and "succeeded after" in p.stdout  # plain lines (no terminal)
        assert "STATUS: deployed" in p.stdout  # Helm's own output, after the rollout
        crd_writes = [r for r in c.audit() if r["resource"] == "customresourcedefinitions" and r["verb"] == "patch"
                      and "dryRun" not in r["uri"]]
        assert len(crd_writes) == 3  # applied by the first install only: then current, nothing written
        ready = c.ready()
        applied = dict(c.controller_calls("patch", "configmaps")) | dict(c.controller_calls("patch", "deployments"))
        assert _before(applied["a"], applied["web"])  # a ConfigMap is ready once it exists
        assert _before(ready[("Deployment", "web")], applied["b"])
        assert sorted(c.releases()) == [("other", "deployed"), ("rel", "deployed")]

        mark = len(c.audit())
        p = c.ac("upgrade", "rel", str(v2), "--timeout", "60s")
        assert p.returncode == 0, p.stdout + p.stderr
        assert "configmap/c: ready" in p.stdout and "configmap/b" not in p.stdout
        calls = c.audit()[mark:]
        ctl = [r for r in calls if r["user"].startswith("system:serviceaccount:") and r["code"] < 300
               and not r["subresource"] and r["resource"] == "configmaps"]
        assert ("delete", "b") in {(r["verb"], r["name"]) for r in ctl}  # removed
        assert {"a", "c"} <= {r["name"] for r in ctl if r["verb"] == "patch"}  # changed and added
        core = c.helm_("get", "manifest", "rel")
        assert "configmap-c" in core and "configmap-b" not in core

        p = c.ac("rollback", "rel", "1", "--timeout", "60s", "-o", "jsonl")
        assert p.returncode == 0, p.stdout + p.stderr
        events = [json.loads(line) for line in p.stdout.splitlines()]  # JSON lines only (Helm's output: stderr)
        assert {"type": "state", "key": "configmap/b", "state": "ready"}.items() <= \
            next(e for e in events if e.get("key") == "configmap/b" and e["state"] == "ready").items()
        assert events[0]["type"] == "plan" and events[-1]["type"] == "summary" and events[-1]["ok"] is True
        assert [r["revision"] for r in json.loads(c.helm_("history", "rel", "-o", "json"))] == [1, 2, 3]

        mark = len(c.audit())
        p = c.ac("uninstall", "rel")
        assert p.returncode == 0, p.stdout + p.stderr
        deletes = [(r["resource"], r["name"]) for r in c.audit()[mark:] if r["verb"] == "delete" and r["code"] < 300
                   and r["resource"] in ("configmaps", "deployments") and r["namespace"] == "default"]
        # reverse order: b before web before a (each awaited)
        assert deletes.index(("configmaps", "b")) < deletes.index(("deployments", "web")) < \
            deletes.index(("configmaps", "a")), deletes
        assert "configmap/b: deleted" in p.stdout and "configmap/a: deleted" in p.stdout
        assert p.stdout.index("configmap/b: deleted") < p.stdout.index("configmap/a: deleted")
        # on both Helms the teardown is the release's pre-delete hook (Helm 3: in helm ac's copy of the chart)
        _teardown_after_the_charts_hook(c.audit()[mark:], "rel")
        assert c.releases() == [("other", "deployed")]
        assert "configmap-o" in c.helm_("get", "manifest", "other") and ("configmaps", "o") not in deletes
        assert ("o", "other") in {(n, r["user"].split(":")[-1].removesuffix("-helm-ac")) for r in c.audit()
                                  for n in [r["name"]] if r["resource"] == "configmaps" and r["verb"] == "patch"
                                  and r["user"].startswith("system:serviceaccount:")}  # rolled out by its controller
        # a plain helm uninstall of a release helm ac installed runs the ordered teardown too
        mark = len(c.audit())
        c.helm_("uninstall", "other", "--timeout", "60s")
        _teardown_after_the_charts_hook(c.audit()[mark:], "other")


def test_a_failing_job_fails_the_install_naming_it_and_blocks_only_its_subtree(helm, tmp_path):
    """--atomic (Helm 4: given as --rollback-on-failure): Helm 4's --wait reads the Definitions and
    the gate Job, fails at once and rolls back; Helm 3's --wait ignores custom resources and fails
    through the gate Job (docs/hooks.md): after its retries of the failed Job, or at --timeout, here
    15 s; then it rolls back too."""
    chart = write_chart(tmp_path, "app", {"migrate.yaml": job("migrate"),
                                          "after.yaml": cm("after", {DEPENDS: "job/migrate"}), "free.yaml": cm("free")})
    with cluster(tmp_path, helm, rules=("Job/*/migrate=fail",)) as c:
        # on a terminal: the live table (issue 11 point 5), redrawn in place, then the failure on stderr
        code, screen, err = c.ac_tty("install", "rel", str(chart), "--timeout", "15s", "--atomic")
        assert code == 1, screen + err
        assert "Error: job/migrate failed" in err and "blocked because of it: configmap/after" in err
        assert "\x1b[2K" in screen and "\x1b[?25l" in screen  # rich's Live: lines erased and redrawn, no cursor
        rows = _table_rows(screen)
        assert rows["job/migrate"][1] == "failed" and rows["configmap/free"][1] == "ready"
        assert rows["configmap/after"][1:3] == ["blocked", "job/migrate"]  # state, waiting for
        assert [h.strip() for h in _header(screen)] == ["object", "state", "waiting for", "elapsed", "message"]
        assert [n for n, _ in c.controller_calls("patch", "configmaps")] == ["free"]  # not what waits for the Job
        assert c.releases() == []  # rolled back


def _plain(screen: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "", screen)


def _table_rows(screen: str) -> dict[str, list[str]]:
    """The live table's last drawing: object -> its cells."""
    import re

    rows: dict[str, list[str]] = {}
    for line in _plain(screen).splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if cells and "/" in cells[0]:
            rows[cells[0]] = cells
    return rows


def _header(screen: str) -> list[str]:
    import re

    line = next(line for line in _plain(screen).splitlines() if "waiting for" in line)
    return re.split(r"[│┃]", line)[1:-1]


def test_dry_run_and_lint_errors_create_nothing(helm, tmp_path):
    good = write_chart(tmp_path, "good", V1)
    bad = write_chart(tmp_path, "bad", {"a.yaml": cm("a", {DEPENDS: "configmap/nope"})})
    with cluster(tmp_path, helm) as c:
        p = c.ac("install", "rel", str(bad))
        assert p.returncode == 1 and "configmap/nope" in p.stderr and "nothing was installed" in p.stderr
        assert "Traceback" not in p.stderr
        if helm.major == "3":  # Helm 3 maps every kind in the cluster, even for --dry-run: the CRDs are needed
            p = c.ac("install", "rel", str(good), "--dry-run")
            assert p.returncode == 2 and "helm ac crds | kubectl apply --server-side -f -" in p.stderr, p.stderr
        assert [r for r in c.audit() if r["verb"] in ("create", "patch", "update") and "dryRun" not in r["uri"]] == []
        admin = subprocess.run(f"{sys.executable} -m helm_ac crds | {get_helm.fetch_kubectl(quiet=True)} apply "
                               f"--server-side -f - --kubeconfig {c.srv.kubeconfig}", shell=True, env=c.env,
                               capture_output=True, text=True)
        assert admin.returncode == 0, admin.stderr
        mark = len(c.audit())
        p = c.ac("install", "rel", str(good), "--dry-run")
        assert p.returncode == 0, p.stdout + p.stderr
        assert "kind: Definition" in p.stdout and "kind: ReleaseGraph" in p.stdout
        # the teardown is one of the release's hooks (Helm 3: from helm ac's copy of the chart), after the chart's
        hooks = p.stdout.split("HOOKS:", 1)[1].split("MANIFEST:", 1)[0]
        assert hooks.index("name: bye") < hooks.index("rel-helm-ac-teardown")  # Helm 3 prints our template's JSON
        # a packaged chart too (Helm 3: unpacked, the hook added)
        c.helm_("package", str(good), "-d", str(tmp_path))
        p = c.ac("install", "rel", str(tmp_path / "good-0.1.0.tgz"), "--dry-run")
        assert p.returncode == 0 and "rel-helm-ac-teardown" in p.stdout.split("MANIFEST:", 1)[0], p.stdout + p.stderr
        writes = [r for r in c.audit()[mark:] if r["verb"] in ("create", "patch", "update") and "dryRun" not in r["uri"]]
        assert writes == [] and c.releases() == []
        # a path that is not there is named as such (helm would look it up as a repository's chart)
        for missing in (str(tmp_path / "nope"), "./nope"):
            p = c.ac("install", "rel", missing)
            assert p.returncode == 2 and f"{missing}: no chart directory or packaged chart" in p.stderr, p.stderr


def test_without_the_right_to_create_crds_the_admins_command_is_named(helm_binaries, tmp_path):
    from kubernetes import client

    from helm_ac.kube.config import connect

    helm = HelmEnv("4", helm_binaries["4"], tmp_path / "home")
    chart = write_chart(tmp_path, "good", {"a.yaml": cm("a")})
    with cluster(tmp_path, helm, rbac=True) as c:
        admin = connect(kubeconfig=str(c.srv.kubeconfig), env={}).api
        core, rbac = client.CoreV1Api(admin), client.RbacAuthorizationV1Api(admin)
        core.create_namespaced_service_account("default", {"metadata": {"name": "dev"}})
        rbac.create_namespaced_role_binding("default", {
            "metadata": {"name": "dev"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                                     "name": "admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "dev", "namespace": "default"}]})
        token = core.create_namespaced_service_account_token(
            "dev", "default", {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}).status.token
        kc = yaml.safe_load(c.srv.kubeconfig.read_text())
        for u in kc["users"]:
            u["user"] = {"token": token}
        dev = tmp_path / "dev.kubeconfig"
        dev.write_text(yaml.safe_dump(kc))
        p = c.ac("install", "rel", str(chart), env={**c.env, "KUBECONFIG": str(dev)})
        assert p.returncode == 2, p.stdout + p.stderr
        assert "you may not create CRDs: ask an admin to run `helm ac crds | kubectl apply --server-side -f -`" \
            in p.stderr and "Traceback" not in p.stderr
        assert c.releases() == []


@pytest.mark.parametrize("major", ["4", "3"])
def test_the_demo_installs_in_order_and_uninstalls_in_reverse(major, helm_binaries):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_") and k != "KUBECONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    p = subprocess.run([sys.executable, "-m", "helm_ac", "demo", "--helm", major], capture_output=True, text=True,
                       env=env, timeout=120, cwd=ROOT)
    out = p.stdout
    assert p.returncode == 0, out + p.stderr
    lines = out.splitlines()

    def at(text: str) -> int:
        return next(i for i, line in enumerate(lines) if text in line)

    # MariaDB ready before WordPress is even applied; then the deletes, WordPress's before MariaDB's
    assert at("statefulset/wp-mariadb: ready") < at("deployment/wp-wordpress: waiting-ready")
    assert at("deployment/wp-wordpress: ready") < at("== helm ac status wp") < at("== helm list") \
        < at("== helm ac uninstall wp") < at("deployment/wp-wordpress: deleted") < at("statefulset/wp-mariadb: deleted")
    assert "PHASE: Ready   READY: 11/11" in out and "deployed" in lines[at("== helm list") + 2]
    assert "== done in" in out


def test_a_chart_from_a_repository_is_pulled_once_and_its_chart_tree_ordered(helm, tmp_path):
    """`--repo URL --version V`: helm pull into a temporary directory, which the post-renderer reads
    (`--chart`): the parent's objects wait for the subchart's (a Dependency only the Chart.yaml tree
    gives)."""
    import functools
    import http.server
    import threading

    src = write_chart(tmp_path / "src", "app", {"a.yaml": cm("a")}, chart_yaml="dependencies:\n- name: sub\n"
                      "  version: 0.1.0\n", subcharts={"sub": {"templates": {"s.yaml": cm("s")}}})
    repo = tmp_path / "repo"
    repo.mkdir()
    helm.run("package", str(src), "-d", str(repo))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(repo))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    helm.run("repo", "index", str(repo), "--url", url)
    try:
        with cluster(tmp_path, helm) as c:
            p = c.ac("install", "rel", "app", "--repo", url, "--version", "0.1.0", "--no-wait")
            assert p.returncode == 0, p.stdout + p.stderr
            assert "fetching app (helm pull)" in p.stderr
            manifest = c.helm_("get", "manifest", "rel")
            assert "kind: Dependency" in manifest and "parent: configmap/s" in manifest, manifest
            p = c.ac("install", "rel2", "app", "--repo", url, "--version", "9.9.9")
            assert p.returncode == 2 and "helm pull failed" in p.stderr and "Traceback" not in p.stderr
    finally:
        httpd.shutdown()


@pytest.mark.parametrize("value", ["y", "Y", "n", "N", "yes", "off"])
def test_yaml_1_1_booleans_are_quoted_for_helm(value):
    """`helm ac install y CHART` failed in Helm 3 ("cannot unmarshal bool into ... labels of type string"):
    Go's YAML (YAML 1.1) reads a plain y/Y/n/N as a boolean, PyYAML's resolver does not, so the label
    `appcontroller.k8s/release: y` was written plain by both of helm-ac's YAML writers."""
    from helm_ac.rendering import yamlio

    for text in (yamlio.dump({"k": value}), yamlio.dump_simple({"k": value})):
        assert text.strip() in (f"k: '{value}'", f'k: "{value}"'), text
        assert yamlio.load(text) == {"k": value}


def test_helm_flags_for_each_helm_and_for_the_lint():
    from helm_ac.actions.install import _translate, normalize
    from helm_ac.rendering.helm import split_args

    args = split_args(normalize(["rel", "chart", "--history-max", "3", "-n", "shop", "--atomic"]))
    assert args.positionals == ("rel", "chart")  # the value of an upgrade-only flag is not taken for a chart
    assert _translate(list(args.flags), "4") == ["--history-max=3", "-n", "shop", "--rollback-on-failure"]
    assert _translate(["--rollback-on-failure"], "3") == ["--atomic"]


def test_a_packaged_chart_is_unpacked_only_when_every_member_stays_inside(tmp_path):
    """Helm 3's copy of a packaged chart (to add the teardown hook): a member outside the chart
    (``..``, an absolute path, a link) is refused, as Helm refuses it, naming the archive."""
    import io
    import tarfile

    from helm_ac.actions.install import _unpack_chart
    from helm_ac.errors import ChartError

    def archive(name: str, members: dict[str, bytes], link: str | None = None) -> Path:
        path = tmp_path / name
        with tarfile.open(path, "w:gz") as tar:
            for member, data in members.items():
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            if link:
                info = tarfile.TarInfo("app/templates/link.yaml")
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
        return path

    chart = {"app/Chart.yaml": b"apiVersion: v2\nname: app\nversion: 0.1.0\n", "app/templates/a.yaml": b"{}\n"}
    got = _unpack_chart(archive("ok.tgz", chart), tmp_path / "ok")
    assert got == tmp_path / "ok" / "app" and (got / "templates" / "a.yaml").read_text() == "{}\n"
    for bad, members, link in (("up.tgz", {**chart, "app/../../evil": b"x"}, None),
                               ("abs.tgz", {**chart, "/tmp/evil": b"x"}, None),
                               ("link.tgz", chart, "/etc/passwd")):
        with pytest.raises(ChartError, match=f"{bad}: the archive holds"):
            _unpack_chart(archive(bad, members, link), tmp_path / bad.split(".")[0])
        assert not (tmp_path / "evil").exists()
    with pytest.raises(ChartError, match="cannot unpack"):
        (tmp_path / "junk.tgz").write_bytes(b"not a tar")
        _unpack_chart(tmp_path / "junk.tgz", tmp_path / "junk")


def test_an_upgrade_or_rollback_that_drops_a_kind_still_removes_its_objects(helm, tmp_path):
    """With the server's RBAC: the revision's Role grants only the kinds it has, so the controller
    could not list or delete the Deployment that v2 no longer has (403: it stayed). helm ac
    upgrade|rollback keep a Role of their own for every kind the release applied (owned by the
    ReleaseGraph: it goes with the release)."""
    from kubernetes import client

    from helm_ac.kube.config import connect

    v1 = write_chart(tmp_path / "v1", "app", {"a.yaml": cm("a"), "web.yaml": deployment("web", "configmap/a")})
    v2 = write_chart(tmp_path / "v2", "app", {"a.yaml": cm("a", {"x": "2"})})
    with cluster(tmp_path, helm, rbac=True) as c:
        rbac = client.RbacAuthorizationV1Api(connect(kubeconfig=str(c.srv.kubeconfig), env={}).api)

        def removed_by_the_controller(mark: int) -> bool:
            return ("delete", "web", 200) in {(r["verb"], r["name"], r["code"]) for r in c.audit()[mark:]
                                               if r["user"] == f"system:serviceaccount:default:{cmf.name('rel')}"
                                               and r["resource"] == "deployments" and not r["subresource"]}

        p = c.ac("install", "rel", str(v1), "--timeout", "60s")
        assert p.returncode == 0, p.stdout + p.stderr
        for verb, args, web_after in (("upgrade", [str(v2)], False), ("rollback", ["1"], True),
                                      ("rollback", ["2"], False)):
            mark = len(c.audit())
            p = c.ac(verb, "rel", *args, "--timeout", "60s")
            assert p.returncode == 0, (verb, args, p.stdout + p.stderr)
            names = [d.metadata.name for d in client.AppsV1Api(rbac.api_client).list_namespaced_deployment(
                "default").items]
            assert ("web" in names) == web_after, (verb, args, names)
            if not web_after:
                assert removed_by_the_controller(mark), (verb, args)
        prune = rbac.read_namespaced_role(cmf.name("rel", "-prune"), "default")
        assert {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["delete", "get", "list", "watch"]} in \
            [{"apiGroups": r.api_groups, "resources": r.resources, "verbs": r.verbs} for r in prune.rules]
        assert prune.metadata.owner_references[0].kind == "ReleaseGraph"
        p = c.ac("uninstall", "rel")
        assert p.returncode == 0, p.stdout + p.stderr
        deadline = time.monotonic() + 10  # the garbage collector follows the ReleaseGraph
        while any(r.metadata.name.startswith("rel-") for r in rbac.list_namespaced_role("default").items):
            assert time.monotonic() < deadline, [r.metadata.name for r in rbac.list_namespaced_role("default").items]
            time.sleep(0.1)


def test_upgrade_with_reuse_values_lints_with_the_releases_values(helm, tmp_path):
    """The lint rendered --reuse-values upgrades with the chart's defaults: here a reference to an
    object that does not exist, which the release's own --set had replaced, so the upgrade was refused."""
    chart = write_chart(tmp_path, "app", {"a.yaml": cm("a"),
                                          "b.yaml": cm("b").replace("annotations: {}", f"annotations:\n    {DEPENDS}: "
                                                                   "{{ .Values.dep | quote }}")},
                        values="dep: configmap/nope\n")
    with cluster(tmp_path, helm) as c:
        p = c.ac("install", "rel", str(chart), "--set", "dep=configmap/a", "--no-wait")
        assert p.returncode == 0, p.stdout + p.stderr
        for flag in ("--reuse-values", "--reset-then-reuse-values"):
            p = c.ac("upgrade", "rel", str(chart), flag, "--dry-run")
            assert p.returncode == 0 and "configmap/nope" not in p.stderr, (flag, p.stdout + p.stderr)
        p = c.ac("upgrade", "rel", str(chart), "--reuse-values", "--reset-values", "--dry-run")  # helm: reset wins
        assert p.returncode == 1 and "configmap/nope" in p.stderr, p.stdout + p.stderr
        p = c.ac("upgrade", "rel", str(chart), "--reuse-values", "--set", "dep=configmap/nope", "--dry-run")
        assert p.returncode == 1 and "configmap/nope" in p.stderr, p.stdout + p.stderr  # the new --set wins


def test_an_upgrade_runs_the_changed_migration_job_again_before_the_app(helm, tmp_path):
    """A Job's Pod template cannot change: the controller replaces the migration Job (deleted, gone,
    created anew), which runs again, and only then rolls the changed Deployment out."""
    def chart(version: str) -> Path:
        return write_chart(tmp_path / version, "app", {
            "migrate.yaml": job("migrate").replace("image: busybox", f"image: 'example/migrate:{version}'"),
            "web.yaml": deployment("web", "job/migrate", image=f"example/web:{version}")})

    with cluster(tmp_path, helm) as c:
        p = c.ac("install", "rel", str(chart("1")), "--timeout", "60s")
        assert p.returncode == 0, p.stdout + p.stderr
        mark = len(c.audit())
        p = c.ac("upgrade", "rel", str(chart("2")), "--timeout", "60s")
        assert p.returncode == 0, p.stdout + p.stderr
        calls = [(r["verb"], r["resource"], r["code"], _ts(r["time"])) for r in c.audit()[mark:]
                 if r["user"] == f"system:serviceaccount:default:{cmf.name('rel')}" and not r["subresource"]
                 and r["resource"] in ("jobs", "deployments") and r["verb"] in ("patch", "delete")]
        jobs = [(verb, code) for verb, res, code, _ in calls if res == "jobs"]
        assert jobs == [("patch", 422), ("delete", 200), ("patch", 201)], jobs
        web = [t for verb, res, code, t in calls if res == "deployments" and verb == "patch"]
        new_job = next(t for verb, res, code, t in calls if res == "jobs" and code == 201)
        assert web and min(web) > new_job  # the app only after the new Job
        from kubernetes import client

        from helm_ac.kube.config import connect
        batch = client.BatchV1Api(connect(kubeconfig=str(c.srv.kubeconfig), env={}).api)
        j = batch.read_namespaced_job("migrate", "default")
        assert j.spec.template.spec.containers[0].image == "example/migrate:2" and j.status.succeeded == 1


def test_an_upgrade_whose_prune_fails_fails_naming_what_stayed(helm, tmp_path):
    """The objects of the new revision are all ready, but the Deployment it dropped cannot be
    deleted (every try refused): the ReleaseGraph reads Failed (PruneFailed), so the upgrade fails
    naming it, and helm ac status says so. (Before: Ready, exit 0, the Deployment silently left.)"""
    v1 = write_chart(tmp_path / "v1", "app", {"a.yaml": cm("a"), "web.yaml": deployment("web", "configmap/a")})
    v2 = write_chart(tmp_path / "v2", "app", {"a.yaml": cm("a", {"x": "2"})})
    with cluster(tmp_path, helm, faults=("verb=delete,resource=deployments,name=web,error=429,retry-after=0",)) as c:
        p = c.ac("install", "rel", str(v1), "--timeout", "60s")
        assert p.returncode == 0, p.stdout + p.stderr
        p = c.ac("upgrade", "rel", str(v2), "--timeout", "20s")
        s = c.ac("status", "rel", "-o", "json")
        got = json.loads(s.stdout)
        assert got["phase"] == "Failed" and list(got["pruneFailed"]) == ["deployment/web"], s.stdout + s.stderr
        assert p.returncode == 1, p.stdout + p.stderr
        assert "Error: deployment/web not removed (the release no longer has it): delete refused: 429" in p.stderr, p.stderr
