"""The command line: ``helm ac <verb>`` (as a Helm plugin) and ``helm-ac <verb>`` behave the same.

Thin by design: each command binds its flags onto an action
(:mod:`helm_ac.actions`), runs it and hands the result to a printer.  Helm
flags we do not own are passed through to ``helm template`` untouched and in
order.  Errors the user can fix print one paragraph and exit 2; a traceback
appears only with ``--debug`` or ``HELM_DEBUG``.
"""
from __future__ import annotations

import os
import sys
import traceback
from typing import Any

import click

from helm_ac import __version__
from helm_ac.errors import UserError

PASS_THROUGH = dict(ignore_unknown_options=True, allow_interspersed_args=True,
                    help_option_names=["-h", "--help"], max_content_width=100)


def _debug_from_env() -> bool:
    return os.environ.get("HELM_DEBUG", "").lower() in ("1", "true", "yes", "on")


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            click.echo(f"Error: {exc.message}", err=True)
            if exc.hint:
                click.echo(exc.hint, err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, context_settings=dict(help_option_names=["-h", "--help"], max_content_width=100))
@click.version_option(__version__, "--version", prog_name="helm-ac")
@click.option("--debug", is_flag=True, default=None, help="Show tracebacks and helm commands (also HELM_DEBUG=true).")
@click.pass_context
def cli(ctx: click.Context, debug: bool | None) -> None:
    """helm ac: orchestration for Helm charts (AppController for Helm 3 and 4).

    Declare "this object waits for that one" with appcontroller.k8s/ annotations
    in your chart, check it with `helm ac lint`.  See docs/chart-extension.md.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = bool(debug) if debug is not None else _debug_from_env()


def _strip_debug(args: tuple[str, ...], ctx: click.Context) -> list[str]:
    out = []
    for a in args:
        if a == "--debug":
            ctx.obj["debug"] = True
        else:
            out.append(a)
    return out


@cli.command(context_settings=PASS_THROUGH)
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@click.option("-o", "--output", type=click.Choice(["text", "json", "sarif", "junit", "github"]), default="text",
              show_default=True, help="Output format.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def lint(ctx: click.Context, strict: bool, output: str, args: tuple[str, ...]) -> None:
    """Validate the chart extension on the rendered chart(s).

    \b
    helm ac lint [CHART...] [helm template flags] [--strict] [-o FORMAT]

    Each CHART (directory, packaged .tgz or repo/chart reference; default .) is
    rendered with your helm and `helm template` flags (-f, --set, --set-string,
    --set-file, --set-json, --version, --kube-version, --api-versions, -n, ...),
    passed through unchanged.  CRDs are included unless --skip-crds.

    \b
    Exit codes: 0 no problems (or only warnings), 1 errors (or warnings with
    --strict), 2 usage error or a chart that could not be rendered.
    """
    from helm_ac.actions.lint import Lint
    from helm_ac.actions.render import Renderer
    from helm_ac.helm import split_args
    from helm_ac.printers import LINT_PRINTERS

    hargs = split_args(_strip_debug(args, ctx))
    if hargs.has("--output-dir"):
        raise click.UsageError("--output-dir makes helm write files instead of printing them; lint cannot use it")
    charts = list(hargs.positionals) or ["."]
    result = Lint(Renderer(), strict=strict).run(charts, hargs)
    if ctx.obj.get("debug"):
        for c in result.charts:
            if c.error is not None:
                click.echo(f"debug: {c.chart}: {c.error!r}", err=True)
    LINT_PRINTERS[output](result, sys.stdout)
    ctx.exit(result.exit_code)


@cli.command()
@click.argument("which", type=click.Choice(["object", "chart"]), default="object")
@click.option("--write", "directory", type=click.Path(file_okay=False), help="Write all schemas under this directory.")
def schema(which: str, directory: str | None) -> None:
    """Print the JSON Schema of the annotations (object or chart level)."""
    from pathlib import Path

    from helm_ac import schema as schemamod

    if directory:
        for p in schemamod.write(Path(directory)):
            click.echo(str(p))
        return
    click.echo(schemamod.render(schemamod.schemas()[f"{which}-annotations.schema.json"]), nl=False)


@cli.command()
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def rules(output: str) -> None:
    """List the lint rules with their default severity."""
    import json

    from helm_ac.lint import RULES

    if output == "json":
        click.echo(json.dumps([{"id": r.id, "severity": r.severity.value, "summary": r.summary, "help": r.help}
                               for r in RULES.values()], indent=2))
        return
    width = max(len(r) for r in RULES)
    for r in RULES.values():
        click.echo(f"{r.id:<{width}}  {r.severity.value:<7}  {r.summary}")


def _exit_now(code: int) -> None:
    """Flush and leave without tearing the interpreter down.

    A lint run holds many small objects (and networkx); freeing them one by one at exit takes
    longer than some whole runs.  Nothing needs cleaning up: files are closed, children reaped.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``helm-ac`` and ``python -m helm_ac``."""
    import gc

    gc.disable()  # a short-lived CLI: collecting cycles while parsing thousands of objects only costs time
    debug = _debug_from_env() or "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name=os.environ.get("HELM_PLUGIN_NAME") and "helm ac" or "helm-ac",
                 standalone_mode=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            click.echo(exc.code, err=True)
        _exit_now(code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception:  # noqa: BLE001 - last resort: never a bare traceback for users
        if debug:
            raise
        exc = sys.exc_info()[1]
        click.echo(f"Error: internal error in helm-ac: {type(exc).__name__}: {exc}", err=True)
        click.echo("Run again with --debug for the traceback, and please report it.", err=True)
        sys.exit(3)
