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
    # HELM_PLUGIN_DIR is the link Helm made in its plugins folder; the environment is made in our copy
    # itself, under its physical path (the link goes away with `helm plugin uninstall`)
    assert f"creating {src.resolve()}/.venv with Python" in output and "helm-ac 0.1.0 installed" in output


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


def test_the_installed_plugin_is_helms_post_renderer(plugin):
    """Helm 3 runs bin/helm-ac-postrender, Helm 4 the ac-postrender plugin of helm-plugins/: both
    reach the plugin's own environment (test_controller_postrender.py tests the rest)."""
    h, src, _ = plugin
    chart = str(EXAMPLES / "wordpress")
    args = ["template", "wp", chart, "--post-renderer-args=--release=wp", "--post-renderer-args=--namespace=default",
            f"--post-renderer-args=--chart={chart}"]
    env = dict(h.env)
    if h.major == "3":
        args += ["--post-renderer", str(src / "bin" / "helm-ac-postrender")]
    else:
        env["HELM_PLUGINS"] = f"{h.home / 'data' / 'plugins'}:{src / 'helm-plugins'}"
        args += ["--post-renderer", "ac-postrender"]
    r = h.run(*args, env=env, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("kind: Definition") == 11 and "kind: ReleaseGraph" in r.stdout and "kind: Role\n" in r.stdout
    if h.major == "4":  # listed beside helm-ac itself, from the second folder of HELM_PLUGINS
        assert "ac-postrender" in h.run("plugin", "list", env=env).stdout


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


def test_new_user_mistakes_through_helm(plugin):
    """What a new user meets through `helm ac` on both helms: our message, then helm's own one line."""
    h, _, _ = plugin
    r = h.run("ac", check=False)  # like bare `helm`: the help, exit 0
    assert (r.returncode, r.stderr) == (0, "") and "Commands:" in r.stdout
    r = h.run("ac", "install", "wp", check=False)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("Error: helm ac install takes NAME CHART, got 1 argument: wp") and "Traceback" not in r.stderr
    r = h.run("ac", "graph", check=False)
    assert r.returncode == 2 and "e.g. helm ac graph wordpress" in r.stderr and "helm ac template" not in r.stderr
    r = h.run("ac", "lnt", check=False)
    assert r.returncode == 2 and "Did you mean 'lint'?" in r.stderr and "Commands: lint, template" in r.stderr
    assert "Usage: helm ac lint [OPTIONS] [CHART]... [HELM TEMPLATE FLAGS]" in h.run("ac", "lint", "--help").stdout


@pytest.mark.parametrize("args", [("rules",), ("--help",), ("graph", "wp", str(EXAMPLES / "wordpress"))], ids=" ".join)
def test_closed_pipe_through_helm(plugin, args):
    """`helm ac ... | head`: helm-ac ends quietly with 141; helm adds its own one line for any non-zero exit."""
    h, _, _ = plugin
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        r = subprocess.run([h.binary, "ac", *args], stdout=write_end, stderr=subprocess.PIPE, text=True, env=h.env,
                           timeout=120)
    finally:
        os.close(write_end)
    assert r.returncode == 141
    assert r.stderr.strip().splitlines() == ['Error: plugin "ac" exited with error'], r.stderr


def _hook_env(h: HelmEnv, wheelhouse: Path) -> dict[str, str]:
    env = dict(h.env, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse))
    env.pop("HELM_PLUGINS", None)
    return env


def _install(h: HelmEnv, src: Path, env: dict[str, str]) -> str:
    p = h.run("plugin", "install", str(src), env=env, check=False)
    assert p.returncode == 0 and "Installed plugin: ac" in p.stdout + p.stderr, p.stdout + p.stderr
    return p.stdout + p.stderr


@pytest.mark.parametrize("major", HELM_MAJORS, ids=lambda m: f"helm{m}")
def test_reinstall_from_a_changed_checkout_installs_the_new_code(major, helm_binaries, wheelhouse, tmp_path):
    """The hook used to keep the environment when the version was unchanged: edits never arrived."""
    h = HelmEnv(major, helm_binaries[major], tmp_path / "home")
    src = _copy_repo(tmp_path / "helm-ac")
    env = _hook_env(h, wheelhouse)
    assert "creating" in _install(h, src, env)
    assert h.run("ac", "--help", env=env).stderr == ""
    cli_py = src / "helm_ac" / "cli.py"
    cli_py.write_text(cli_py.read_text().replace('"""helm ac: orchestration', '"""helm ac (edited checkout): orchestration', 1))
    # Helm linked the checkout: the edit reaches the plugin only through the hook, and the launcher says so
    r = h.run("ac", "--help", env=env)
    assert "(edited checkout)" not in r.stdout
    assert (f"note: the sources in {src.resolve()} changed since the plugin was installed; to run the new code: "
            f"{src.resolve()}/scripts/install-plugin") in r.stderr
    h.run("plugin", "uninstall", "ac", env=env)
    assert "creating" in _install(h, src, env)
    r = h.run("ac", "--help", env=env)
    assert "(edited checkout)" in r.stdout and r.stderr == ""
    h.run("plugin", "uninstall", "ac", env=env)
    assert "sources unchanged" in _install(h, src, env)  # unchanged: the environment is kept
    assert "(edited checkout)" in h.run("ac", "--help", env=env).stdout


def test_one_checkout_installed_under_helm3_then_helm4(helm_binaries, wheelhouse, tmp_path):
    """The environment was made under Helm's link to the checkout; its scripts died with that link (exit 127)."""
    src = _copy_repo(tmp_path / "helm-ac")
    h3 = HelmEnv("3", helm_binaries["3"], tmp_path / "home3")
    h4 = HelmEnv("4", helm_binaries["4"], tmp_path / "home4")
    _install(h3, src, _hook_env(h3, wheelhouse))
    h3.run("plugin", "uninstall", "ac", env=_hook_env(h3, wheelhouse))
    assert "sources unchanged" in _install(h4, src, _hook_env(h4, wheelhouse))
    r = h4.run("ac", "--version", env=_hook_env(h4, wheelhouse), check=False)
    assert r.returncode == 0 and "helm-ac, version 0.1.0" in r.stdout, r.stdout + r.stderr


def _launch_without_environment(plugin_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(plugin_dir / "scripts" / "helm-ac"), "lint"], capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], "HELM_PLUGIN_DIR": str(plugin_dir)})


def test_launcher_without_environment_says_how_to_fix(tmp_path):
    """`helm plugin update ac` works only for plugins installed from a VCS URL: the advice follows the install."""
    checkout = _copy_repo(tmp_path / "helm-ac")
    hook = f"Run: {checkout.resolve()}/scripts/install-plugin"
    # `helm plugin install <dir>`: Helm's plugin directory is a link to the checkout
    (tmp_path / "plugins").mkdir()
    link = tmp_path / "plugins" / "helm-ac"
    link.symlink_to(checkout)
    r = _launch_without_environment(link)
    assert r.returncode == 2 and "environment is missing" in r.stderr
    assert hook in r.stderr and f"helm plugin uninstall ac && helm plugin install {checkout.resolve()}" in r.stderr
    assert "plugin update" not in r.stderr
    # an archive or URL without VCS: Helm unpacked a copy
    r = _launch_without_environment(checkout)
    assert r.returncode == 2 and hook in r.stderr and "plugin update" not in r.stderr
    # a VCS install: helm plugin update works
    (checkout / ".git").mkdir()
    r = _launch_without_environment(checkout)
    assert r.returncode == 2 and hook in r.stderr and "helm plugin update ac" in r.stderr


def test_advice_of_the_launcher_works(plugin, wheelhouse):
    """The command the launcher advises rebuilds the environment; helm ac works again."""
    h, src, _ = plugin
    shutil.rmtree(src / ".venv")
    r = h.run("ac", "rules", check=False)
    assert r.returncode == 2 and "environment is missing" in r.stderr
    advice = next(line for line in r.stderr.splitlines() if line.startswith("Run: ")).split()[1]
    fix = subprocess.run([advice], capture_output=True, text=True, env=_hook_env(h, wheelhouse))
    assert fix.returncode == 0, fix.stdout + fix.stderr
    r = h.run("ac", "rules", check=False)
    assert r.returncode == 0 and "unresolved-reference" in r.stdout


def test_launcher_notes_a_changed_pyproject(tmp_path):
    """The install hook hashes pyproject.toml with helm_ac/ (dependencies live there): the launcher's
    note looked at *.py files only, so a changed pyproject.toml went unnoticed."""
    import sys
    import time

    plugin_dir = tmp_path / "helm-ac"
    (plugin_dir / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "helm-ac", plugin_dir / "scripts" / "helm-ac")
    (plugin_dir / "helm_ac").mkdir()
    (plugin_dir / "helm_ac" / "__init__.py").write_text("")
    (plugin_dir / "pyproject.toml").write_text("[project]\nname = 'helm-ac'\n")
    bin_dir = plugin_dir / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    (bin_dir / "helm-ac").write_text("print('launched')\n")
    stamp = plugin_dir / ".venv" / ".helm-ac-installed"
    stamp.write_text("")
    old = time.time() - 60
    for p in (plugin_dir / "helm_ac" / "__init__.py", plugin_dir / "pyproject.toml"):
        os.utime(p, (old, old))
    launch = [str(plugin_dir / "scripts" / "helm-ac")]
    env = {"PATH": os.environ["PATH"], "HELM_PLUGIN_DIR": str(plugin_dir)}
    r = subprocess.run(launch, capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout == "launched\n" and r.stderr == ""
    (plugin_dir / "pyproject.toml").write_text("[project]\nname = 'helm-ac'\ndependencies = ['pyyaml']\n")
    r = subprocess.run(launch, capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout == "launched\n"
    assert f"note: the sources in {plugin_dir.resolve()} changed since the plugin was installed" in r.stderr
