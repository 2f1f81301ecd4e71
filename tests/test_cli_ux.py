"""The command line as a new user meets it: help, synopses, mistakes, commands not written yet, a closed pipe.

Help and mistakes run in-process through click (no helm involved); exits and pipes run ``python -m
helm_ac`` as a real process, with its standard output a real pipe whose reader is already gone.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, ROOT, HelmEnv, write_chart

from helm_ac.cli import EXIT_OUTPUT_CLOSED, cli

COMMANDS = list(cli.commands)
WORDPRESS = str(EXAMPLES / "wordpress")


def _run(*args: str, env: dict[str, str] | None = None, stdout: int | None = subprocess.PIPE,
         stderr: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
    e.update(env or {}, NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "helm_ac", *args], stdout=stdout, stderr=stderr, text=True,
                          cwd=ROOT, env=e, timeout=120)


def _help(*args: str) -> str:
    r = CliRunner().invoke(cli, [*args, "--help"], prog_name="helm ac", terminal_width=200)
    assert r.exit_code == 0, r.output
    return r.output


def _synopsis(command: str) -> str:
    """The `helm ac COMMAND ...` block of a command's help, continuation lines included."""
    lines = _help(command).splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(f"helm ac {command} "))
    block = [lines[start]]
    for line in lines[start + 1:]:
        if not line.strip():
            break
        block.append(line)
    return " ".join(line.strip() for line in block)


@pytest.mark.parametrize("command", ["lint", "template", "graph", "simulate"])
def test_synopsis_lists_every_flag_and_every_format(command):
    """The synopses listed fewer formats than the commands accept (template: 2 of 4, simulate: 2 of 4)."""
    synopsis = _synopsis(command)
    for param in cli.commands[command].params:
        if not isinstance(param, click.Option) or param.name == "help":
            continue
        names = [n for n in param.opts if re.search(rf"\[{re.escape(n)}[ \]=]", synopsis)]
        assert names, f"{command}: {param.opts} missing from the synopsis: {synopsis}"
        if isinstance(param.type, click.Choice):
            assert f"{names[0]} {'|'.join(param.type.choices)}]" in synopsis, synopsis


@pytest.mark.parametrize("command", COMMANDS)
def test_command_list_shows_whole_summaries(command):
    """The top-level help cut summaries off with "..."; it lists the commands in the pipeline's order."""
    top = _help()
    line = next(line for line in top.splitlines() if line.strip().startswith(command + " "))
    assert not line.rstrip().endswith("...") and len(line.split(None, 1)[1]) > 10, line
    listed = [line.split()[0] for line in top.split("Commands:")[1].strip().splitlines()[:len(COMMANDS)]]
    assert listed == ["lint", "template", "graph", "simulate", "cluster", "post-render", "controller", "status",
                      "install", "upgrade", "rollback", "uninstall", "demo", "crds", "schema", "rules"]
    assert "First time? helm ac demo" in " ".join(top.split())


def test_bare_command_shows_the_help_like_helm():
    """`helm ac` alone printed the help on stderr and exited 2: through helm, followed by "plugin exited with error"."""
    r = _run()
    assert (r.returncode, r.stderr) == (0, "") and "Commands:\n  lint " in r.stdout


@pytest.mark.parametrize("command", ["template", "graph", "simulate"])
def test_usage_line_names_the_arguments(command):
    assert f"Usage: helm ac {command} [OPTIONS] [NAME] CHART [HELM TEMPLATE FLAGS]" in _help(command)


@pytest.mark.parametrize("command", ["template", "graph", "simulate"])
def test_no_chart_gets_an_example_of_the_same_command(command):
    """`helm ac graph` and `helm ac simulate` with no arguments showed an example for template."""
    r = _run(command)
    assert r.returncode == 2 and r.stdout == ""
    assert f"helm ac {command} needs a chart" in r.stderr and f"e.g. helm ac {command} wordpress" in r.stderr
    others = {"template", "graph", "simulate"} - {command}
    assert not any(f"helm ac {o}" in r.stderr for o in others), r.stderr


def test_too_many_arguments_are_named(tmp_path):
    r = _run("graph", "wp", "./chart", "extra")
    assert r.returncode == 2 and "helm ac graph takes [NAME] CHART, got 3 arguments: wp ./chart extra" in r.stderr


@pytest.mark.parametrize("command", ["graph", "simulate"])
def test_generate_name_message_names_the_command(command):
    r = _run(command, "./chart", "--generate-name")
    assert r.returncode == 2 and f"helm ac {command} needs the release name" in r.stderr
    assert "helm ac template" not in r.stderr


@pytest.mark.parametrize("command", ["install", "upgrade", "rollback", "uninstall"])
def test_the_release_commands_say_what_they_take(command):
    """`helm ac install` said "not available yet" (before that "No such command"): now a real command
    that names what it takes, without a traceback."""
    r = _run(command)
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert f"Error: helm ac {command} takes NAME" in r.stderr and f"e.g. helm ac {command} wp" in r.stderr


def test_a_misspelt_command_gets_a_suggestion_and_the_list():
    r = _run("simulte")
    assert r.returncode == 2 and "No such command 'simulte'. Did you mean 'simulate'?" in r.stderr
    assert f"Commands: {', '.join(COMMANDS)}." in r.stderr


def test_a_misspelt_own_flag_of_a_command_without_helm_flags_is_named():
    r = _run("rules", "--ouput", "json")
    assert r.returncode == 2 and "--ouput" in r.stderr and re.search(r"Did you mean '?--output'?\?", r.stderr)


def test_a_misspelt_own_flag_before_a_value_is_named_not_counted_as_a_chart():
    """`simulate wp CHART --fial job/x`: --fial went to helm, job/x counted as a third argument, nothing said why."""
    r = _run("simulate", "wp", WORDPRESS, "--fial", "job/x")
    assert r.returncode == 2 and "got 3 arguments" in r.stderr
    assert "--fial is not a flag of helm ac simulate (unknown flags go to helm template): did you mean --fail?" in r.stderr


@pytest.mark.helm
@pytest.mark.parametrize("args, hint", [
    (("simulate", "wp", WORDPRESS, "--fial=job/x"), "--fial is not a flag of helm ac simulate"),
    (("graph", "wp", WORDPRESS, "--implict=none"), "--implict is not a flag of helm ac graph"),
    (("template", "wp", WORDPRESS, "--formt=plain"), "--formt is not a flag of helm ac template"),
], ids=["simulate", "graph", "template"])
def test_helms_unknown_flag_suggests_the_commands_own(helm: HelmEnv, args, hint):
    r = _run(*args, env=helm.env)
    assert r.returncode == 2 and "unknown flag: --" in r.stderr, r.stderr
    assert hint in r.stderr and re.search(r"did you mean --(fail|implicit|format)\?", r.stderr)


@pytest.mark.helm
def test_lint_unknown_flag_suggests_its_own_or_says_where_flags_go(helm: HelmEnv):
    r = _run("lint", WORDPRESS, "--strct", env=helm.env)
    assert r.returncode == 2 and "unknown flag: --strct" in r.stdout
    assert "\n  --strct is not a flag of helm ac lint (unknown flags go to helm template): did you mean --strict?\n" in r.stdout
    r = _run("lint", WORDPRESS, "--no-such-thing", env=helm.env)
    assert r.returncode == 2 and "unknown flag: --no-such-thing" in r.stdout and "did you mean" not in r.stdout
    assert "helm ac lint passes the flags it does not know to helm template; its own: helm ac lint --help" in r.stdout


@pytest.mark.helm
def test_lint_without_a_chart_outside_a_chart_says_what_it_linted(helm: HelmEnv, tmp_path):
    e = {k: v for k, v in helm.env.items() if k != "PYTHONPATH"}
    p = subprocess.run([sys.executable, "-m", "helm_ac", "lint"], capture_output=True, text=True, cwd=tmp_path,
                       env=dict(e, PYTHONPATH=str(ROOT)), timeout=120)
    assert p.returncode == 2
    assert "\n  no CHART given, so the current directory was linted: helm ac lint ./mychart" in p.stdout, p.stdout


def test_schema_usage_shows_its_choices_once():
    assert "Usage: helm ac schema [OPTIONS] [object|chart]\n" in _help("schema")


# A closed pipe: `helm ac ... | head` must end quietly with the status of a process killed by SIGPIPE
# (as helm template and coreutils do), whatever the command, format or timing; it used to exit 1 (click's
# and rich's handling) or 0 (when the output fit the buffer and the final flush's error was ignored).

def _closed_pipe_run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader went away before the first byte
    try:
        return _run(*args, env=env, stdout=write_end)
    finally:
        os.close(write_end)


NO_HELM = [("--help",), ("--version",), ("lint", "--help"), ("simulate", "--help"), ("crds",), ("schema",),
           ("schema", "chart"), ("rules",), ("rules", "-o", "json")]


@pytest.mark.parametrize("args", NO_HELM, ids=" ".join)
def test_closed_pipe_without_helm(args):
    r = _closed_pipe_run(*args)
    assert (r.returncode, r.stderr) == (EXIT_OUTPUT_CLOSED, "")


WITH_HELM = ([("lint", str(EXAMPLES / "broken" / "refs"), "-o", f) for f in ("text", "json", "sarif", "junit", "github")]
             + [("lint", WORDPRESS)]
             + [("template", "wp", WORDPRESS, "--format", f) for f in ("appcontroller", "plain", "argocd", "cli-utils")]
             + [("graph", "wp", WORDPRESS, "-o", f) for f in ("text", "dot", "mermaid", "json")]
             + [("simulate", "wp", WORDPRESS, "-o", f) for f in ("text", "json", "events", "jsonl")])


@pytest.mark.helm
@pytest.mark.parametrize("args", WITH_HELM, ids=lambda a: " ".join([a[0], *a[-2:]]).replace(str(EXAMPLES) + "/", ""))
def test_closed_pipe_every_command_and_format(helm: HelmEnv, args):
    r = _closed_pipe_run(*args, env=helm.env)
    assert (r.returncode, r.stderr) == (EXIT_OUTPUT_CLOSED, "")


def test_choices_of_the_closed_pipe_matrix_are_every_format():
    """The matrix above covers every format each command accepts."""
    def choices(command: str, name: str) -> set[str]:
        opt = next(p for p in cli.commands[command].params if p.name == name)
        return set(opt.type.choices)  # type: ignore[attr-defined]

    for command, name in (("lint", "output"), ("template", "fmt"), ("graph", "output"), ("simulate", "output")):
        covered = {a[-1] for a in WITH_HELM if a[0] == command and a[-2] in ("-o", "--format")}
        assert covered == choices(command, name), command


@pytest.mark.helm
def test_empty_chart_graph_says_there_is_nothing_to_order(helm: HelmEnv, tmp_path):
    """An empty chart printed "critical path (0ms, marked *, in order): " with nothing after it."""
    chart = write_chart(tmp_path, "empty", {})
    r = _run("graph", "e", str(chart), env=helm.env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "e (empty): no objects\n\nnothing to order: the rendered chart has no objects (Helm hooks are kept aside)\n"
    r = _run("simulate", "e", str(chart), env=helm.env)  # printed "✔ succeeded: " and "critical path: "
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"e ({chart}): nothing to simulate: the rendered chart has no objects (Helm hooks are kept aside)\n"
