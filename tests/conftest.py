"""Shared fixtures: real helm binaries (3 and 4), isolated helm homes, CLI runners, chart builders."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "charts"
sys.path.insert(0, str(ROOT / "scripts"))

import get_helm  # noqa: E402

HELM_MAJORS = ("3", "4")


@dataclass
class HelmEnv:
    """A real helm binary with its own HELM_*_HOME directories."""

    major: str
    binary: str
    home: Path

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
        env.update(HELM_BIN=self.binary, HELM_CACHE_HOME=str(self.home / "cache"),
                   HELM_CONFIG_HOME=str(self.home / "config"), HELM_DATA_HOME=str(self.home / "data"),
                   NO_COLOR="1")
        return env

    def run(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, *args], capture_output=True, text=True, cwd=cwd,
                              env=env or self.env, check=check, timeout=300)


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture(autouse=True)
def _kubectl_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """kubectl caches discovery under ~/.kube/cache by server address (for hours), and an embedded
    API server's port is often one an earlier test's server used: a test's kubectl would then
    believe the earlier server's discovery (an anonymous user "read" it, a CRD gone "existed").
    Each test gets a cache of its own (KUBECACHEDIR: kubectl's default --cache-dir)."""
    monkeypatch.setenv("KUBECACHEDIR", str(tmp_path_factory.mktemp("kubectl-cache")))


@pytest.fixture(scope="session")
def helm_binaries() -> dict[str, str]:
    return {m: str(get_helm.fetch(m, quiet=True)) for m in HELM_MAJORS}


@pytest.fixture(params=HELM_MAJORS, ids=lambda m: f"helm{m}")
def helm(request: pytest.FixtureRequest, helm_binaries: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> HelmEnv:
    """Each Helm-facing test runs once per helm major version."""
    return HelmEnv(request.param, helm_binaries[request.param], tmp_path_factory.mktemp(f"helm{request.param}home"))


@pytest.fixture
def cli(helm: HelmEnv):
    """Run ``python -m helm_ac`` as a real process against the given helm."""

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, stdin: str | None = None) -> CliResult:
        e = dict(helm.env)
        if env:
            e.update(env)
        p = subprocess.run([sys.executable, "-m", "helm_ac", *args], capture_output=True, text=True,
                           cwd=cwd or ROOT, env=e, timeout=300, input=stdin)
        return CliResult(p.returncode, p.stdout, p.stderr)

    return run


def tgz(src_dir: Path, name: str) -> bytes:
    """A directory packaged as helm packages a chart: a gzipped tar with the directory as ``name``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src_dir, arcname=name)
    return buf.getvalue()


def write_chart(root: Path, name: str, templates: dict[str, str], *, chart_yaml: str = "", values: str = "",
                subcharts: dict[str, dict[str, Any]] | None = None, crds: dict[str, str] | None = None) -> Path:
    """Write a chart directory: ``subcharts`` maps a directory name to write_chart keyword arguments."""
    d = root / name
    (d / "templates").mkdir(parents=True, exist_ok=True)
    (d / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n{chart_yaml}")
    (d / "values.yaml").write_text(values)
    for fname, body in templates.items():
        p = d / "templates" / fname
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(body)
    for fname, body in (crds or {}).items():
        (d / "crds").mkdir(exist_ok=True)
        (d / "crds" / fname).write_text(body)
    for sub, kw in (subcharts or {}).items():
        (d / "charts").mkdir(exist_ok=True)
        kw = dict(kw)
        write_chart(d / "charts", kw.pop("name", sub), **kw)
    return d


def cm(name: str, annotations: dict[str, str] | None = None, namespace: str | None = None) -> str:
    """A ConfigMap manifest with extension annotations (values are written as given, quoted)."""
    ann = "".join(f"\n    {k}: {json.dumps(v) if isinstance(v, str) else v}" for k, v in (annotations or {}).items())
    ns = f"\n  namespace: {namespace}" if namespace else ""
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}{ns}\n  annotations:{ann or ' {}'}\ndata: {{}}\n"


def rendered(*docs: tuple[str, str]) -> str:
    """`helm template`-shaped text from (source, yaml) pairs."""
    return "".join(f"---\n# Source: {src}\n{body}" for src, body in docs)
