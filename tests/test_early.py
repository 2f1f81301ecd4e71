"""helm starts before the CLI loads for `lint`, and is reused only for exactly the same command."""
import stat
import subprocess
import sys

import pytest
from conftest import ROOT, cm, write_chart

from helm_ac.actions import render
from helm_ac.rendering import early
from helm_ac.rendering import helm as helmmod
from helm_ac.rendering.helm import split_args


@pytest.mark.parametrize("argv, expected", [
    (["lint", "c", "-o", "json", "--strict", "-f", "v.yaml"], ["c", "-f", "v.yaml"]),
    (["lint", "-ojson", "--output=sarif", "c", "--set", "a=b", "--debug"], ["c", "--set", "a=b"]),
    (["lint", "a", "b", "-n", "shop"], ["a", "b", "-n", "shop"]),
    (["lint", "c", "--help"], None),
    (["lint", "c", "--", "d"], None),
    (["template", "r", "c"], None),
    ([], None),
])
def test_lint_command_lines_are_read_with_lints_own_options(argv, expected):
    assert early.lint_helm_args(argv) == expected


def test_the_option_table_matches_the_lint_command():
    from helm_ac.cli import cli

    names = {n for p in cli.commands["lint"].params if p.name != "args" for n in p.opts}
    flags = {n for p in cli.commands["lint"].params if getattr(p, "is_flag", False) for n in p.opts}
    group = {n for p in cli.params for n in p.opts}
    assert names | {"--debug"} == early.LINT_FLAGS | early.LINT_VALUE_OPTIONS
    assert flags | {"--debug"} == early.LINT_FLAGS and "--debug" in group


@pytest.fixture(autouse=True)
def _no_leftovers():
    yield
    helmmod.discard_early()


@pytest.fixture
def counting_helm(helm, tmp_path):
    """The real helm behind a wrapper that logs each command line it runs."""
    log = tmp_path / "helm.log"
    wrapper = tmp_path / "helm"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{helm.binary}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    env = dict(helm.env, HELM_BIN=str(wrapper))
    return env, lambda: [line for line in log.read_text().splitlines() if line.startswith("template")] \
        if log.exists() else []


@pytest.mark.helm
def test_lint_runs_helm_template_once_per_chart(counting_helm, tmp_path):
    env, runs = counting_helm
    a = write_chart(tmp_path, "a", {"x.yaml": cm("x")})
    b = write_chart(tmp_path, "b", {"y.yaml": cm("y", {"appcontroller.k8s/depends-on": "configmap/nope"})})
    p = subprocess.run([sys.executable, "-m", "helm_ac", "lint", str(a), str(b), "-o", "json", "-nshop"],
                       capture_output=True, text=True, env=env, cwd=ROOT)
    assert p.returncode == 1, p.stderr
    assert sorted(runs()) == sorted(f"template {c} --include-crds -n shop" for c in (a, b))


@pytest.mark.helm
def test_help_and_other_verbs_start_nothing_early(counting_helm, tmp_path):
    env, runs = counting_helm
    c = write_chart(tmp_path, "c", {"x.yaml": cm("x")})
    for argv in (["lint", str(c), "--help"], ["lint", "--bogus-flag-helm-rejects", str(c), "--help"]):
        assert subprocess.run([sys.executable, "-m", "helm_ac", *argv], capture_output=True, env=env,
                              cwd=ROOT).returncode == 0
    assert runs() == []
    p = subprocess.run([sys.executable, "-m", "helm_ac", "template", "r", str(c)], capture_output=True, text=True,
                       env=env, cwd=ROOT)
    assert p.returncode == 0 and len(runs()) == 1


@pytest.mark.helm
def test_an_early_helm_is_reused_only_for_the_same_command(counting_helm, tmp_path, monkeypatch):
    env, runs = counting_helm
    c = write_chart(tmp_path, "c", {"x.yaml": cm("x")})
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    early.start_lint(["lint", str(c), "--set", "a=1"])
    assert len(helmmod._EARLY) == 1
    other = render.Renderer().start([str(c)], str(c), split_args([str(c), "--set", "a=2"]))
    assert len(helmmod._EARLY) == 1 and other.result().rendered.objects  # a different command: not reused
    same = render.Renderer().start([str(c)], str(c), split_args([str(c), "--set", "a=1"]))
    assert not helmmod._EARLY and same.result().rendered.objects
    early.start_lint(["lint", str(c)])
    (pending,) = helmmod._EARLY.values()
    helmmod.discard_early()
    assert not helmmod._EARLY and pending.returncode is not None  # stopped and reaped
    assert sorted(r.split()[-1] for r in runs() if "--set" in r) == ["a=1", "a=2"]  # one run each
