"""What Helm 3.17.3 and 4.1.4 do with post-renderers, hooks and `--wait --wait-for-jobs`, checked
on the embedded API server: the facts `helm ac install`'s hook mechanism stands on (docs/hooks.md).
If a Helm release changes one of them, this file says which, before an install misbehaves.

- A post-renderer sees the hooks on Helm 4 only; a hook it adds is a hook on Helm 4, and on Helm 3
  an ordinary resource of the release (so helm-ac never adds hooks through Helm 3's post-renderer).
- `--wait --wait-for-jobs` holds the post-install hooks until a Job of the release has completed,
  on both; a failed Job fails the install without running them (Helm 4 at once; Helm 3 after its
  retries or at --timeout).
"""
from __future__ import annotations

import datetime
import json
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from conftest import HelmEnv

from helm_ac.apiserver.server import Options, running

pytestmark = pytest.mark.helm

ADDED_HOOK = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "added-hook", "annotations": {"helm.sh/hook": "post-install"}}, "data": {"a": "b"}}


def _chart(root: Path, job: bool) -> Path:
    d = root / ("gated" if job else "plain")
    (d / "templates").mkdir(parents=True)
    (d / "Chart.yaml").write_text("apiVersion: v2\nname: facts\nversion: 0.1.0\n")
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "plain"}, "data": {"a": "b"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "post", "annotations": {
            "helm.sh/hook": "post-install", "helm.sh/hook-delete-policy": "before-hook-creation"}}, "data": {"a": "b"}}]
    if job:
        docs.append({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "gate"}, "spec": {
            "backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
                                                     "containers": [{"name": "c", "image": "example/gate:1"}]}}}})
    (d / "templates" / "all.yaml").write_text(yaml.safe_dump_all(docs))
    return d


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Path]]:
    d = tmp_path_factory.mktemp("facts")
    (d / "behaviour.yaml").write_text("seconds: {Job: 1.5, Pod: 0.1}\n")
    # the Job "gate" fails in namespaces named fail-*
    opts = Options(behaviour=d / "behaviour.yaml", audit_log=d / "audit.jsonl",
                   rules=["Job/fail-3/gate=fail", "Job/fail-4/gate=fail"])
    with running(opts) as srv:
        yield srv.kubeconfig, d / "audit.jsonl", d


def _post_renderer(d: Path, helm: HelmEnv) -> tuple[list[str], dict[str, str]]:
    """A post-renderer that records its input and adds a post-install hook: Helm 3 takes the
    executable, Helm 4 a postrenderer/v1 plugin naming it."""
    script = d / f"pr{helm.major}.py"
    script.write_text(f"#!{sys.executable}\nimport sys\ndata = sys.stdin.read()\n"
                      f"open({str(d / f'stdin{helm.major}.yaml')!r}, 'w').write(data)\n"
                      f"sys.stdout.write(data + '\\n---\\n' + {yaml.safe_dump(ADDED_HOOK)!r})\n")
    script.chmod(0o755)
    if helm.major == "3":
        return ["--post-renderer", str(script)], {}
    plugins = d / "plugins4"
    (plugins / "facts-pr").mkdir(parents=True, exist_ok=True)
    (plugins / "facts-pr" / "plugin.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v1", "type": "postrenderer/v1", "name": "facts-pr", "version": "0.1.0",
        "runtime": "subprocess", "runtimeConfig": {"platformCommand": [{"command": str(script)}]}}))
    return ["--post-renderer", "facts-pr"], {"HELM_PLUGINS": str(plugins)}


def _sections(out: str) -> tuple[str, str]:
    hooks, _, manifest = out.partition("\nMANIFEST:\n")
    return hooks.partition("\nHOOKS:\n")[2], manifest


def test_a_post_renderer_sees_and_adds_hooks_on_helm_4_only(server, helm, tmp_path):
    kubeconfig, _, d = server
    chart = _chart(tmp_path, job=False)
    flags, env = _post_renderer(d, helm)
    p = helm.run("install", "facts", str(chart), "--dry-run=server", "-n", "default", *flags,
                 env={**helm.env, **env, "KUBECONFIG": str(kubeconfig)}, check=False)
    assert p.returncode == 0, p.stderr
    hooks, manifest = _sections(p.stdout)
    seen = (d / f"stdin{helm.major}.yaml").read_text()
    if helm.major == "3":
        assert "helm.sh/hook" not in seen and "name: post" not in seen  # hooks never reach it
        assert "name: added-hook" in manifest and "name: added-hook" not in hooks  # an ordinary resource
    else:
        assert "helm.sh/hook: post-install" in seen and "name: post" in seen
        assert "name: added-hook" in hooks and "name: added-hook" not in manifest  # a hook
    assert "name: post" in hooks


def _creates(audit: Path, namespace: str) -> list[tuple[str, float]]:
    """(resource, time) of each object created in ``namespace``, in order (Helm 3 creates by POST to
    the collection: the audit record has no name)."""
    out = []
    for line in audit.read_text().splitlines():
        r = json.loads(line)
        if r.get("namespace") == namespace and r["verb"] in ("create", "patch") and r["code"] == 201:
            out.append((r["resource"], datetime.datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp()))
    return out


def test_wait_for_jobs_holds_the_post_install_hooks_until_a_job_completed(server, helm, tmp_path):
    kubeconfig, audit, _ = server
    chart = _chart(tmp_path, job=True)
    ns = f"ok-{helm.major}"
    p = helm.run("install", "facts", str(chart), "-n", ns, "--create-namespace", "--wait", "--wait-for-jobs",
                 "--timeout", "60s", env={**helm.env, "KUBECONFIG": str(kubeconfig)}, check=False)
    assert p.returncode == 0, p.stderr
    created = _creates(audit, ns)
    # the release (ConfigMap "plain", Job "gate"), then the hook (ConfigMap "post") once the Job completed (1.5 s)
    assert [r for r, _ in created if r not in ("secrets", "namespaces")] == ["configmaps", "jobs", "configmaps"]
    job = next(t for r, t in created if r == "jobs")
    assert created[-1][0] == "configmaps" and created[-1][1] - job >= 1.0


def test_a_failed_job_fails_the_install_before_the_post_install_hooks(server, helm, tmp_path):
    kubeconfig, audit, _ = server
    chart = _chart(tmp_path, job=True)
    ns = f"fail-{helm.major}"
    start = time.monotonic()
    p = helm.run("install", "facts", str(chart), "-n", ns, "--create-namespace", "--wait", "--wait-for-jobs",
                 "--timeout", "8s", env={**helm.env, "KUBECONFIG": str(kubeconfig)}, check=False)
    took = time.monotonic() - start
    assert p.returncode != 0
    assert [r for r, _ in _creates(audit, ns) if r not in ("secrets", "namespaces")] == ["configmaps", "jobs"]  # no hook
    if helm.major == "4":
        assert "Job/fail-4/gate not ready. status: Failed" in p.stderr and took < 6  # at once
    else:
        assert "context deadline exceeded" in p.stderr  # Helm 3 retries a failed Job's error 30 times
