"""The one helm flag table (helm_ac.rendering.helmflags) against what both helms say of their flags."""
import re
import subprocess

import pytest
from conftest import HELM_MAJORS

from helm_ac.rendering import early, helmflags
from helm_ac.rendering.helm import split_args, split_attached_short_flags

#: One flag line of cobra's help: "  -n, --namespace string   text" or "      --wait WaitStrategy[=watcher]   text".
_LINE = re.compile(r"^\s+(?:-(?P<short>\w), )?--(?P<name>[\w-]+)(?: (?P<type>\S+))?\s{2,}")
#: Helm repository and registry settings (global flags) that a pull needs as much as template does.
REPOSITORY_GLOBALS = {"--registry-config", "--repository-config", "--repository-cache", "--content-cache"}


def listed_flags(help_text: str, sections: tuple[str, ...] = ("Flags:", "Global Flags:")) -> dict[str, tuple[str, str]]:
    """--long -> (short, arity) of every flag in the given sections of a cobra help text.  pflag takes
    the next argument as the value unless the flag has no type (a boolean) or an optional value
    (``string[="client"]``: only ``--flag=value``)."""
    out: dict[str, tuple[str, str]] = {}
    section = None
    for line in help_text.splitlines():
        if line and not line[0].isspace():
            section = line.strip()
            continue
        m = _LINE.match(line)
        if m and section in sections:
            kind = m.group("type")
            arity = helmflags.FLAG if kind is None or "[=" in kind else helmflags.VALUE
            out["--" + m.group("name")] = (m.group("short") or "", arity)
    return out


def table_problems(table: dict[str, tuple[str, str, bool]], listed: dict[str, tuple[str, str]], who: str) -> list[str]:
    """What the table gets wrong about the flags one helm lists."""
    problems = []
    for name, (short, arity) in sorted(listed.items()):
        if name not in table:
            problems.append(f"{who}: {name} ({arity}) is missing from the table")
        elif table[name][:2] != (short, arity):
            problems.append(f"{who}: {name} is {(short, arity)}, the table says {table[name][:2]}")
    return problems


@pytest.fixture(scope="module")
def helps(helm_binaries):
    def run(major, *args):
        return subprocess.run([helm_binaries[major], *args, "--help"], capture_output=True, text=True, check=True,
                              timeout=60).stdout
    return {m: {"template": run(m, "template"), "pull": run(m, "pull")} for m in HELM_MAJORS}


@pytest.mark.helm
def test_every_flag_of_helm_template_is_in_the_table_with_its_arity(helps):
    listed = {m: listed_flags(h["template"]) for m, h in helps.items()}
    assert all(len(v) > 60 for v in listed.values())  # the help was read (about 70 flags each)
    problems = [p for m, flags in listed.items() for p in table_problems(helmflags.FLAGS, flags, f"helm {m}")]
    assert not problems, "\n".join(problems)
    stale = set(helmflags.FLAGS) - {n for flags in listed.values() for n in flags}
    assert not stale, f"in the table but listed by neither helm: {sorted(stale)}"


@pytest.mark.helm
def test_the_check_fails_for_a_missing_flag_or_a_wrong_arity(helps):
    listed = listed_flags(helps["4"]["template"])
    missing = {k: v for k, v in helmflags.FLAGS.items() if k != "--color"}
    assert table_problems(missing, listed, "helm 4") == ["helm 4: --color (value) is missing from the table"]
    wrong = dict(helmflags.FLAGS, **{"--wait": ("", helmflags.VALUE, False)})
    assert table_problems(wrong, listed, "helm 4") == [
        "helm 4: --wait is ('', 'flag'), the table says ('', 'value')"]
    wrong_short = dict(helmflags.FLAGS, **{"--labels": ("", helmflags.VALUE, False)})
    assert len(table_problems(wrong_short, listed, "helm 4")) == 1


@pytest.mark.helm
def test_the_pull_flags_are_those_helm_pull_shares_with_template(helps):
    for major, h in helps.items():
        template = listed_flags(h["template"])
        pull_own = listed_flags(h["pull"], ("Flags:",))
        pull_all = listed_flags(h["pull"])
        shared = {n for n in pull_own if n in template and n != "--help"}
        expected = shared | (REPOSITORY_GLOBALS & set(template))
        assert {n for n in helmflags.PULL_FLAGS if n in template} == expected, major
        for n in expected:  # and pull reads them as template does
            assert pull_all[n][1] == template[n][1], (major, n)


def test_derived_sets():
    assert helmflags.SHORT_VALUE_LETTERS == "aflns"
    assert {"-n", "--namespace", "--color", "--set", "-f"} <= helmflags.VALUE_FLAGS
    assert not {"--wait", "--dry-run", "--include-crds", "-g"} & helmflags.VALUE_FLAGS


@pytest.mark.parametrize("args, positionals", [
    (["c", "--color", "never"], ("c",)),
    (["--colour", "always", "c", "--kube-as-group", "g"], ("c",)),
    (["c", "--wait", "d"], ("c", "d")),  # --wait takes no separate value: d is a chart (as for helm)
    (["c", "--dry-run=server", "--set", "a=b"], ("c",)),
    (["c", "-l", "a=b", "--burst-limit", "5"], ("c",)),
])
def test_flag_values_are_not_charts(args, positionals):
    assert split_args(args).positionals == positionals


def test_attached_short_values_are_split_but_flag_values_left_alone():
    assert split_attached_short_flags(["lint", "c", "-nshop", "-lx=y", "-ojson"]) == \
        ["lint", "c", "-n", "shop", "-l", "x=y", "-ojson"]
    assert split_attached_short_flags(["lint", "c", "--description", "-nope"]) == \
        ["lint", "c", "--description", "-nope"]


def test_early_start_reads_helm_values_with_the_table():
    assert early.lint_helm_args(["lint", "c", "--color", "never", "--implicit", "none"]) == ["c", "--color", "never"]
    assert early.lint_helm_args(["lint", "c", "--implicit=crd", "--description", "-o"]) == \
        ["c", "--description", "-o"]


def test_helm_pull_gets_the_pull_flags_not_values_that_look_like_them(tmp_path):
    """A value of another flag (here a post-renderer's own --verify, a --description) is no flag of helm pull."""
    from helm_ac.actions.render import _pull
    from helm_ac.errors import ChartError

    class FakeHelm:
        def pull(self, ref: str, dest: str, flags: list[str]) -> tuple[bool, str]:
            self.flags = flags
            return False, "refused"

    helm = FakeHelm()
    args = split_args(["repo/app", "--post-renderer", "./pr", "--post-renderer-args", "--verify", "--description",
                       "--devel", "--version", "1.2.3", "--repo=https://charts.example", "--set", "a=b"])
    with pytest.raises(ChartError, match="refused"):
        _pull(helm, "repo/app", args, str(tmp_path))  # type: ignore[arg-type]
    assert helm.flags == ["--version", "1.2.3", "--repo=https://charts.example"]


def test_a_flag_value_that_looks_like_a_flag_is_not_that_flag():
    """A post-renderer's own --skip-crds or -n is its argument, not helm's: CRDs stay included, no namespace."""
    from helm_ac.rendering.helm import template_args

    args = split_args(["app", "--post-renderer", "./pr", "--post-renderer-args", "--skip-crds",
                       "--post-renderer-args", "-n", "--set", "a=b"])
    assert not args.has("--skip-crds") and not args.has("-n", "--namespace") and args.has("--set")
    assert args.value("-n", "--namespace") is None and args.value("--set") == "a=b"
    assert "--include-crds" in template_args(["app"], args, {})
