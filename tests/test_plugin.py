"""helm-ac installed as a Helm plugin (`helm plugin install <dir>`) on Helm 3 and Helm 4.

The install hook builds the plugin's own virtual environment; pip runs offline from the wheelhouse
that scripts/wheelhouse.py fills (CI runs it; the fixture fills it when missing).
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import EXAMPLES, HELM_MAJORS, ROOT, HelmEnv, cm, write_chart

pytestmark = [pytest.mark.helm, pytest.mark.plugin]


def _copy_repo(dest: Path) -> Path:
    ignore = shutil.ignore_patterns(".git", ".venv", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis",
                                    "build", "dist")
    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)
    return dest


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    import wheelhouse as wh  # scripts/wheelhouse.py

    return wh.build()


@pytest.fixture(scope="module", params=HELM_MAJORS, ids=lambda m: f"helm{m}")
def plugin(request, helm_binaries, wheelhouse, tmp_path_factory):
    """helm-ac installed into a fresh helm home from a copy of this repository."""
    root = tmp_path_factory.mktemp(f"plugin{request.param}")
    h = HelmEnv(request.param, helm_binaries[request.param], root / "home")
    src = _copy_repo(root / "helm-ac")
    env = dict(h.env, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse))
    env.pop("HELM_PLUGINS", None)  # Helm 4.1 installs into HELM_DATA_HOME/plugins but looks up HELM_PLUGINS
    p = h.run("plugin", "install", str(src), env=env, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Installed plugin: ac" in p.stdout + p.stderr
    assert (src / ".venv" / "bin" / "python").exists()
    return h, src, p.stdout + p.stderr


def test_install_hook_reports_what_it_did(plugin):
    _, src, output = plugin
    # HELM_PLUGIN_DIR is the link Helm made in its plugins folder, which points at our copy
    assert "/plugins/helm-ac/.venv with Python" in output and "helm-ac 0.1.0 installed" in output


def test_plugin_is_listed(plugin):
    h, _, _ = plugin
    out = h.run("plugin", "list").stdout
    assert "ac" in out and "0.1.0" in out


def test_helm_ac_lint_matches_standalone(plugin, cli):
    h, _, _ = plugin
    chart = str(EXAMPLES / "broken" / "refs")
    via_helm = h.run("ac", "lint", chart, "-o", "json", check=False)
    assert via_helm.returncode != 0  # errors: helm reports the plugin's non-zero exit
    standalone = cli("lint", chart, "-o", "json", env={"HELM_BIN": h.binary})
    assert via_helm.stdout == standalone.out


def test_clean_chart_exit_zero(plugin):
    h, _, _ = plugin
    r = h.run("ac", "lint", str(EXAMPLES / "wordpress"), check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no problems" in r.stdout


def test_global_namespace_flag_reaches_helm_template(plugin, tmp_path):
    """Helm strips -n from a plugin's arguments and exports HELM_NAMESPACE instead."""
    h, _, _ = plugin
    c = write_chart(tmp_path, "ns", {"a.yaml": cm("a", {"appcontroller.k8s/depends-on": "configmap/b"}),
                                     "b.yaml": cm("b", namespace="prod")})
    assert h.run("ac", "lint", str(c), check=False).returncode != 0
    r = h.run("ac", "lint", "-n", "prod", str(c), check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_help_and_debug(plugin, tmp_path):
    h, _, _ = plugin
    assert "lint" in h.run("ac", "--help").stdout
    r = h.run("--debug", "ac", "lint", str(tmp_path / "missing"), check=False)
    assert r.returncode != 0 and "no such chart directory" in r.stdout and "debug:" in r.stderr


def test_update_hook_keeps_a_current_environment(plugin):
    h, src, _ = plugin
    env = dict(h.env, HELM_PLUGIN_DIR=str(src))
    r = subprocess.run([str(src / "scripts" / "install-plugin")], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "already set up" in r.stdout


def test_install_hook_needs_python_3_10(tmp_path):
    """Without a recent enough Python the hook fails with a message saying what to do."""
    fake = tmp_path / "bin"
    fake.mkdir()
    for tool in ("sed", "dirname"):
        os.symlink(shutil.which(tool), fake / tool)
    old = fake / "python3"
    old.write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo 'Python 3.8.10' && exit 0\nexit 1\n")
    old.chmod(0o755)
    plugin_dir = _copy_repo(tmp_path / "helm-ac")
    r = subprocess.run(["/bin/sh", str(plugin_dir / "scripts" / "install-plugin")], capture_output=True, text=True,
                       env={"PATH": str(fake), "HELM_PLUGIN_DIR": str(plugin_dir)})
    assert r.returncode == 1
    assert "needs Python >= 3.10" in r.stderr and "Python 3.8.10" in r.stderr and "HELM_AC_PYTHON" in r.stderr
    assert not (plugin_dir / ".venv").exists()


def test_launcher_without_environment_says_how_to_fix(tmp_path):
    plugin_dir = _copy_repo(tmp_path / "helm-ac")
    r = subprocess.run([str(plugin_dir / "scripts" / "helm-ac"), "lint"], capture_output=True, text=True,
                       env={"PATH": os.environ["PATH"], "HELM_PLUGIN_DIR": str(plugin_dir)})
    assert r.returncode == 2 and "helm plugin update ac" in r.stderr
