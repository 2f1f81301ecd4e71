"""Start ``helm template`` before the command-line machinery loads (``helm ac lint`` only).

``helm ac lint`` spends most of its time waiting for helm.  Loading click, the
commands and the linter takes about 50 ms before helm could start, so the entry
point (:mod:`helm_ac.__main__`) first asks :func:`start_lint` to read a ``lint``
command line with the small table below of lint's own options (a test checks it
against the click command).  When the command is plainly a lint of local charts,
helm starts for each at once (:meth:`Helm.start_early <helm_ac.rendering.helm.Helm.start_early>`).
Only :mod:`helm_ac.rendering.helm` is loaded for that, which is kept light.

Then the CLI parses the command line for real.  :meth:`Helm.start_template
<helm_ac.rendering.helm.Helm.start_template>` takes an early run only when it would have
started exactly the same command (binary, arguments, environment); anything
nobody takes is stopped at exit.  At the least doubt (help,
``--``, another verb, a chart that is not a local path, no helm) nothing starts
early and the command runs as it would have anyway.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

#: ``helm ac lint``'s own options: flags, and options that take a value.  Everything else
#: goes to helm template (helm's own flags: :mod:`helm_ac.rendering.helmflags`).
LINT_FLAGS = frozenset({"--strict", "--debug"})
LINT_VALUE_OPTIONS = frozenset({"-o", "--output", "--implicit"})


def lint_helm_args(argv: Sequence[str]) -> list[str] | None:
    """The arguments a ``lint`` command line passes to helm, or None when in doubt."""
    from helm_ac.rendering.helmflags import VALUE_FLAGS

    if not argv or argv[0] != "lint":
        return None
    rest: list[str] = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help", "--"):
            return None
        if a in LINT_VALUE_OPTIONS:
            i += 2
            continue
        if a in VALUE_FLAGS:  # helm's: its value goes along, whatever it looks like
            rest += argv[i:i + 2]
            i += 2
            continue
        own = a in LINT_FLAGS or a.split("=", 1)[0] in LINT_VALUE_OPTIONS or (a.startswith("-o") and a[2:3] != "-")
        if not own:
            rest.append(a)
        i += 1
    return rest


def start_lint(argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
    """Start helm for each chart of a ``lint`` command line, when it is plain enough (see module doc)."""
    args = lint_helm_args(argv)
    if args is None:
        return
    from helm_ac.errors import UserError
    from helm_ac.rendering.helm import Helm, find_helm, split_args, template_args

    hargs = split_args(args)
    charts = list(hargs.positionals) or ["."]
    if hargs.has("--output-dir") or not all(os.path.exists(c) for c in charts):
        return
    env = dict(os.environ if env is None else env)
    try:
        helm = Helm(find_helm(env), env)
        for chart in charts:
            helm.start_early(template_args([chart], hargs, env))
    except UserError:
        return  # no helm, or it cannot run: the CLI reports it
