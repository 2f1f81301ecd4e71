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
from typing import Any

import click

from helm_ac import __version__
from helm_ac.errors import UserError
from helm_ac.output.printers import LINT_FORMATS

PASS_THROUGH = dict(ignore_unknown_options=True, allow_interspersed_args=True,
                    help_option_names=["-h", "--help"], max_content_width=100)


#: The status of a process killed by SIGPIPE as shells report it (128 + 13): how helm and coreutils end
#: when the reader of their output goes away (``helm ac ... | head``).  Quietly, and the same for every
#: command and format, whenever the closed pipe is noticed (the first write, or the flush at exit).
EXIT_OUTPUT_CLOSED = 141

def _debug_from_env() -> bool:
    return os.environ.get("HELM_DEBUG", "").lower() in ("1", "true", "yes", "on")


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # in the order of the pipeline (as defined below), not alphabetical

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:  # no such command: click's "did you mean", then what there is
            raise click.UsageError(f"{exc.format_message()}\nCommands: {', '.join(self.list_commands(ctx))}.",
                                   ctx) from None

    # click turns a closed output pipe into exit 1 before main() sees it: caught here first, in both
    # places it writes (help and version while making the context; everything else while invoking).
    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except BrokenPipeError:
            _exit_now(EXIT_OUTPUT_CLOSED)
            raise  # not reached

    def invoke(self, ctx: click.Context) -> Any:
        try:
            try:
                return super().invoke(ctx)
            except UserError as exc:
                if ctx.obj and ctx.obj.get("debug"):
                    import traceback

                    traceback.print_exc()
                click.echo(f"Error: {exc.message}", err=True)
                if exc.hint:
                    click.echo(exc.hint, err=True)
                ctx.exit(exc.exit_code)
        except BrokenPipeError:
            _exit_now(EXIT_OUTPUT_CLOSED)


@click.group(cls=_Group, context_settings=dict(help_option_names=["-h", "--help"], max_content_width=100),
             epilog="First time? helm ac demo: an ordered install on an in-memory cluster, no cluster needed.")
@click.version_option(__version__, "--version", prog_name="helm-ac")
@click.option("--debug", is_flag=True, default=None, help="Show tracebacks of errors (also HELM_DEBUG=true).")
@click.pass_context
def cli(ctx: click.Context, debug: bool | None) -> None:
    """helm ac: orchestration for Helm charts (AppController for Helm 3 and 4).

    Declare "this object waits for that one" with appcontroller.k8s/ annotations
    in your chart; check them with `helm ac lint`, see the order with `helm ac graph`,
    emit AppController manifests with `helm ac template`, try the install on an
    in-memory cluster with `helm ac simulate`, and install it in order with
    `helm ac install`.  See docs/chart-extension.md.
    `helm ac COMMAND --help` shows a command's flags.
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


IMPLICIT_OPTION = click.option(
    "--implicit", default="crd,namespace", show_default=True, metavar="RULES",
    help="Implicit ordering rules: crd (custom resources after their CRD), namespace (objects after their "
         "Namespace), comma-separated, or none.")


@cli.command(context_settings=PASS_THROUGH, short_help="Validate the dependency annotations of charts.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@click.option("-o", "--output", type=click.Choice(list(LINT_FORMATS)), default="text",
              show_default=True, help="Output format.")
@IMPLICIT_OPTION
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="[CHART]... [HELM TEMPLATE FLAGS]")
@click.pass_context
def lint(ctx: click.Context, strict: bool, output: str, implicit: str, args: tuple[str, ...]) -> None:
    """Validate the chart extension on the rendered chart(s).

    \b
    helm ac lint [CHART...] [helm template flags] [--strict] [--implicit RULES] [-o text|json|sarif|junit|github]

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
    from helm_ac.rendering.helm import split_args

    hargs = _no_output_dir(split_args(_strip_debug(args, ctx)))
    charts = list(hargs.positionals) or ["."]
    pending = Lint(Renderer(), strict=strict, implicit=_implicit(implicit)).start(charts, hargs)
    from helm_ac.output.printers import lint_printer

    printer = lint_printer(output)  # loaded while helm renders: rich alone takes ~70 ms to import
    result = pending.result()
    for c in result.charts:
        if c.error is not None:
            _unknown_flag(ctx, c.error, hargs.flags)
            if not hargs.positionals:  # a new user's first `helm ac lint`, outside a chart
                _add_hint(c.error, "no CHART given, so the current directory was linted: helm ac lint ./mychart "
                                   "(more: helm ac lint --help)")
    if ctx.obj.get("debug"):
        for c in result.charts:
            if c.error is not None:
                import traceback

                click.echo(f"debug: {c.chart}:\n{''.join(traceback.format_exception(c.error)).rstrip()}", err=True)
    printer(result, sys.stdout)
    ctx.exit(result.exit_code)


def _implicit(value: str) -> tuple[str, ...]:
    from helm_ac.analysis.graph import IMPLICIT_RULES

    if value in ("none", ""):
        return ()
    rules = tuple(r.strip() for r in value.split(",") if r.strip())
    bad = [r for r in rules if r not in IMPLICIT_RULES]
    if bad:
        raise click.BadParameter(f"unknown rule {bad[0]!r}; choose from {', '.join(IMPLICIT_RULES)} or none",
                                 param_hint="--implicit")
    return rules


def _report(chart: str, findings: list) -> None:
    """Lint findings of template/graph on stderr, without lint's summary line."""
    if findings:
        from helm_ac.analysis.lint.report import ChartResult, LintResult
        from helm_ac.output.printers import text

        text.print_findings(LintResult([ChartResult(chart, findings=findings)]), sys.stderr)


def _no_output_dir(hargs: Any) -> Any:
    if hargs.has("--output-dir"):
        raise click.UsageError("--output-dir makes helm write files instead of printing them; this command "
                               "reads helm's output (helm ac template has its own --output-dir)")
    return hargs


def _estimate_overrides(estimate: tuple[str, ...], estimates_file: str | None) -> dict[str, float]:
    """--estimate KEY=DUR (repeatable) and --estimates FILE, as seconds by kind or kind/name."""
    from helm_ac.analysis.estimates import parse_overrides
    from helm_ac.rendering import yamlio

    file_data = None
    if estimates_file:
        try:
            with open(estimates_file, encoding="utf-8") as fh:
                file_data = yamlio.load(fh.read())
        except Exception as exc:  # noqa: BLE001 - any YAML problem is the user's file
            raise UserError(f"{estimates_file}: not readable YAML: {' '.join(str(exc).split())}") from None
    return parse_overrides(list(estimate), file_data, source=estimates_file or "--estimates")


def ESTIMATE_OPTIONS(fn: Any) -> Any:  # noqa: N802 - used as a decorator, like IMPLICIT_OPTION
    """--estimate and --estimates, shared by graph and simulate."""
    fn = click.option("--estimates", "estimates_file", type=click.Path(dir_okay=False, exists=True),
                      help="YAML file mapping KIND or kind/name to a duration.")(fn)
    return click.option("--estimate", "estimate", multiple=True, metavar="KEY=DUR",
                        help="How long an object or kind takes to become ready: Deployment=90s, job/migrate=5m "
                             "(repeatable; kind/name beats the object's appcontroller.k8s/estimate, KIND does not).")(fn)


RELEASE_AND_CHART = "[NAME] CHART [HELM TEMPLATE FLAGS]"


def _own_flag_hint(ctx: click.Context, flags: Any) -> str | None:
    """Flags a command does not know go to helm template: say so when one looks like a misspelt flag of ours.

    Asked only once something failed (helm's "unknown flag", one argument too many), so a flag that
    helm knows is never questioned.
    """
    from helm_ac.analysis.lint.suggest import close

    own = sorted({o for p in ctx.command.params if isinstance(p, click.Option) for o in p.opts if o.startswith("--")})
    for flag in flags:
        name = flag.split("=", 1)[0]
        if name.startswith("--") and name not in own:
            meant = close(name, own, cutoff=0.75)
            if meant:
                return (f"{name} is not a flag of helm ac {ctx.info_name} (unknown flags go to helm template): "
                        f"did you mean {meant}?")
    return None


def _unknown_flag(ctx: click.Context, error: UserError, flags: Any) -> None:
    """helm's "unknown flag" for one of ours misspelt: add the suggestion to the error's hint."""
    if "unknown flag:" in error.message or "unknown shorthand flag:" in error.message:
        hint = _own_flag_hint(ctx, flags) or (f"helm ac {ctx.info_name} passes the flags it does not know to helm "
                                              f"template; its own: helm ac {ctx.info_name} --help")
        _add_hint(error, hint)


def _add_hint(error: UserError, hint: str) -> None:
    error.hint = f"{error.hint}\n{hint}" if error.hint else hint


def _run(ctx: click.Context, action: Any, hargs: Any) -> Any:
    """``action.run([NAME] CHART, flags)``, with the hint above when helm refused a flag."""
    try:
        return action.run(hargs.positionals, hargs)
    except UserError as exc:
        _unknown_flag(ctx, exc, hargs.flags)
        raise


def _release_and_chart(ctx: click.Context, hargs: Any) -> None:
    """template, graph and simulate take ``[NAME] CHART`` as helm template does: say which command wants what."""
    from helm_ac.actions.render import release_name

    try:
        release_name(hargs.positionals, hargs, ctx.info_name or "template")
    except UserError as exc:
        if len(hargs.positionals) > 2:  # a misspelt flag of ours may have left its value as a stray argument
            exc.hint = _own_flag_hint(ctx, hargs.flags) or exc.hint
        raise


@cli.command(context_settings=PASS_THROUGH, short_help="Render a chart as AppController manifests.")
@click.option("--format", "fmt", type=click.Choice(["appcontroller", "plain", "argocd", "cli-utils"]),
              default="appcontroller", show_default=True,
              help="appcontroller: objects wrapped in Definitions; plain: helm's output unchanged (both followed by "
                   "the Dependency objects); argocd: objects with sync waves; cli-utils: objects with "
                   "config.kubernetes.io/depends-on.")
@click.option("--output-dir", type=click.Path(file_okay=False), help="Write files under this directory instead of "
                                                                     "printing (like helm template --output-dir).")
@IMPLICIT_OPTION
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar=RELEASE_AND_CHART)
@click.pass_context
def template(ctx: click.Context, fmt: str, output_dir: str | None, implicit: str, args: tuple[str, ...]) -> None:
    """Render a chart with its AppController graph (Definitions and Dependencies).

    \b
    helm ac template [NAME] CHART [helm template flags]
        [--format appcontroller|plain|argocd|cli-utils] [--output-dir DIR] [--implicit RULES]

    The output is deterministic: the same chart and values give byte-identical
    output.  A chart with lint errors emits nothing (exit 1, findings on stderr).
    """
    from helm_ac.actions.render import Renderer
    from helm_ac.actions.template import Template, write_tree
    from helm_ac.rendering.helm import split_args

    hargs = split_args(_strip_debug(args, ctx))
    _release_and_chart(ctx, hargs)
    result = _run(ctx, Template(Renderer(), format=fmt, implicit=_implicit(implicit)), hargs)
    _report(result.chart, result.findings)
    if result.failed:
        click.echo("Error: the chart's dependency annotations have errors; nothing was emitted", err=True)
        ctx.exit(1)
    if output_dir:
        for path in write_tree(result, output_dir):
            click.echo(f"wrote {path}")
        return
    sys.stdout.write(result.render())


@cli.command(context_settings=PASS_THROUGH, short_help="Show the dependency graph and its critical path.")
@click.option("-o", "--output", type=click.Choice(["text", "dot", "mermaid", "json"]), default="text",
              show_default=True, help="text: levels and what each object waits for; dot/mermaid: pictures; json.")
@click.option("--svg", "svg", type=click.Path(dir_okay=False), help="Also render the graph to this SVG file "
                                                                     "(needs Graphviz).")
@ESTIMATE_OPTIONS
@IMPLICIT_OPTION
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar=RELEASE_AND_CHART)
@click.pass_context
def graph(ctx: click.Context, output: str, svg: str | None, estimate: tuple[str, ...], estimates_file: str | None,
          implicit: str, args: tuple[str, ...]) -> None:
    """Draw the dependency graph of a chart, with its critical path.

    \b
    helm ac graph [NAME] CHART [helm template flags]
        [-o text|dot|mermaid|json] [--svg FILE] [--estimate KEY=DUR]... [--estimates FILE] [--implicit RULES]

    Durations are per-kind defaults (Deployment 60s, StatefulSet 2m, Job 1m, ...)
    unless given with --estimate or --estimates.
    """
    from helm_ac.actions.graph import Graph, write_svg
    from helm_ac.actions.render import Renderer
    from helm_ac.output import views
    from helm_ac.rendering.helm import split_args

    overrides = _estimate_overrides(estimate, estimates_file)
    hargs = _no_output_dir(split_args(_strip_debug(args, ctx)))
    _release_and_chart(ctx, hargs)
    result = _run(ctx, Graph(Renderer(), format=output, overrides=overrides, implicit=_implicit(implicit)), hargs)
    _report(result.chart, result.findings)
    if result.failed:
        click.echo("Error: the chart's dependency annotations have errors; no graph", err=True)
        ctx.exit(1)
    if svg:
        write_svg(views.to_dot(result.view, result.release), svg)
    sys.stdout.write(result.output)


@cli.command(context_settings=PASS_THROUGH, short_help="Run the install on an in-memory cluster.")
@click.option("-o", "--output", type=click.Choice(["text", "json", "events", "jsonl"]), default="text",
              show_default=True,
              help="text: a Gantt chart and a summary; json: the timeline, events and summary; events: the engine's "
                   "events as they happen (a live table on a terminal, timestamped lines otherwise); jsonl: events "
                   "as JSON lines.")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=None, metavar="X",
              help="With -o events on a terminal: replay X times faster than the simulated time "
                   "(default: the whole run in about 5 seconds).")
@click.option("--svg", type=click.Path(dir_okay=False), help="Also write the timeline as an SVG picture.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), help="Also write it as an HTML page.")
@click.option("--fail", "fail", multiple=True, metavar="REF", help="Make this object fail, e.g. job/migrate.")
@click.option("--never-ready", "never", multiple=True, metavar="REF", help="This object never becomes ready.")
@click.option("--api-error", "api_errors", multiple=True, metavar="REF[=N]",
              help="The first N (default 1) applies of this object get HTTP 500.")
@click.option("--slow-api", default="0s", metavar="DUR", help="Latency of every API call, e.g. 2s.")
@click.option("--concurrency", type=click.IntRange(min=1), metavar="N", help="At most this many objects in flight.")
@click.option("--timeout", "run_timeout", metavar="DUR", help="Timeout of the whole run, e.g. 15m.")
@ESTIMATE_OPTIONS
@IMPLICIT_OPTION
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar=RELEASE_AND_CHART)
@click.pass_context
def simulate(ctx: click.Context, output: str, speed: float | None, svg: str | None, html_file: str | None,
             fail: tuple[str, ...],
             never: tuple[str, ...], api_errors: tuple[str, ...], slow_api: str, concurrency: int | None,
             run_timeout: str | None, estimate: tuple[str, ...], estimates_file: str | None, implicit: str,
             args: tuple[str, ...]) -> None:
    """Run the orchestration on an in-memory cluster with a virtual clock and print the timeline.

    \b
    helm ac simulate [NAME] CHART [helm template flags]
        [-o text|json|events|jsonl] [--speed X] [--svg FILE] [--html FILE] [--fail REF]... [--never-ready REF]...
        [--api-error REF[=N]]... [--slow-api DUR] [--concurrency N] [--timeout DUR]
        [--estimate KEY=DUR]... [--estimates FILE] [--implicit RULES]

    Objects take their estimated durations (per-kind defaults, --estimate, --estimates); faults
    answer "what happens if the migration Job fails?".  Exit 0 when the simulated install
    succeeds, 1 when it fails.
    """
    from helm_ac.actions.files import write_file
    from helm_ac.actions.render import Renderer
    from helm_ac.actions.simulate import Faults, Simulate
    from helm_ac.extension import durations
    from helm_ac.output.printers import timeline
    from helm_ac.rendering.helm import split_args

    def seconds(value: str, flag: str) -> float:
        try:
            return durations.parse(value.strip())
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a duration (e.g. 2s, 15m)", param_hint=flag) from None

    overrides = _estimate_overrides(estimate, estimates_file)
    faults = Faults(list(fail), list(never), list(api_errors), seconds(slow_api, "--slow-api"))
    hargs = _no_output_dir(split_args(_strip_debug(args, ctx)))
    _release_and_chart(ctx, hargs)
    action = Simulate(Renderer(), overrides=overrides, implicit=_implicit(implicit), faults=faults,
                      concurrency=concurrency, timeout=seconds(run_timeout, "--timeout") if run_timeout else None)
    result = _run(ctx, action, hargs)
    _report(result.chart, result.findings)
    if result.failed:
        click.echo("Error: the chart's dependency annotations have errors; nothing to simulate", err=True)
        ctx.exit(1)
    if svg:
        write_file(svg, timeline.to_svg(result), "--svg")
    if html_file:
        write_file(html_file, timeline.to_html(result), "--html")
    assert result.simulation is not None  # nothing failed: the simulation ran
    if output in ("events", "jsonl"):
        _replay(result.simulation.events, output, speed)
    elif output == "text" and not result.simulation.bars:  # not an empty Gantt chart and summary
        sys.stdout.write(f"{result.release} ({result.chart}): nothing to simulate: the rendered chart has no "
                         "objects (Helm hooks are kept aside)\n")
    else:
        sys.stdout.write(timeline.FORMATS[output](result))
    ctx.exit(0 if result.simulation.summary.ok else 1)


def _replay(events: list, fmt: str, speed: float | None) -> None:
    """Feed recorded events to a progress renderer; on a terminal, paced like the run (sped up)."""
    import time

    from helm_ac.output.printers import progress

    tty = fmt == "events" and sys.stdout.isatty()
    sink = progress.for_output(sys.stdout, fmt, tty=tty)
    span = max((e.time for e in events), default=0.0)
    factor = speed if speed else (max(span / 5.0, 1e-9) if span else 1.0)
    last = 0.0
    for e in events:
        if tty and e.time > last:
            time.sleep(min((e.time - last) / factor, 2.0))
            last = e.time
        sink(e)


@cli.command(short_help="Run an in-memory Kubernetes API server (for helm, kubectl).")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Write the kubeconfig here "
              "(default: $XDG_STATE_HOME/helm-ac/cluster/kubeconfig).")
@click.option("--host", type=click.Choice(["127.0.0.1", "::1"]), default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=0, show_default=True, help="0 = any free port.")
@click.option("--tls/--no-tls", default=True, show_default=True, help="HTTPS with a CA of its own, or plain HTTP.")
@click.option("--audit-log", type=click.Path(dir_okay=False), help="Append one JSON line per request.")
@click.option("--readiness-log", type=click.Path(dir_okay=False), help="Append one JSON line per object ready "
              "or failed.")
@click.option("--rbac", is_flag=True, help="Authorize every request by RBAC (403 otherwise).")
@click.option("--behaviour", type=click.Path(dir_okay=False), help="YAML settings of the simulated controllers.")
@click.option("--seed", type=int, help="Seed for the simulated controllers and faults.")
@click.option("--nodes", type=int, help="Simulated Nodes (a DaemonSet runs a Pod on each; default 1).")
@click.option("--rule", "rules", multiple=True, metavar="KIND[/NS]/NAME=SPEC", help="How long an object takes "
              "(SPEC: seconds, fail or never), over the --behaviour file's rules, e.g. 'Job/test/migrate=fail' "
              "(repeatable).")
@click.option("--fault", "faults", multiple=True, metavar="SPEC", help="A fault to inject, e.g. "
              "'verb=create,resource=secrets,error=429,retry-after=1' (repeatable).")
@click.option("--pod-logs", type=click.Path(file_okay=False), help="Directory of the logs of the controller Pods "
              "it runs for real (default: $XDG_STATE_HOME/helm-ac/cluster/pods).")
def cluster(kubeconfig: str | None, host: str, port: int, tls: bool, audit_log: str | None,
            readiness_log: str | None, rbac: bool, behaviour: str | None, seed: int | None,
            nodes: int | None, rules: tuple[str, ...], faults: tuple[str, ...], pod_logs: str | None) -> None:
    """Run an in-memory Kubernetes API server on loopback until Ctrl-C.

    Point helm, kubectl or the Python client at it with the kubeconfig it writes."""
    from pathlib import Path

    from helm_ac.actions.cluster import Cluster

    def ready(server: Any, path: Path) -> None:
        click.echo(f"Kubernetes API server (helm-ac) listening on {server.url}")
        click.echo(f"kubeconfig: {path}")
        click.echo(f"  export KUBECONFIG={path}")
        click.echo("Stop with Ctrl-C.")

    def opt(p: str | None) -> Path | None:
        return Path(p) if p else None

    Cluster(kubeconfig=opt(kubeconfig), host=host, port=port, tls=tls, audit_log=opt(audit_log),
            readiness_log=opt(readiness_log), rbac=rbac, behaviour=opt(behaviour), seed=seed,
            nodes=nodes, rules=list(rules), faults=list(faults), pod_logs=opt(pod_logs)).run(ready)


@cli.command("post-render", short_help="Helm post-renderer: the graph and controller of a release.")
@click.option("--release", required=True, help="The release's name (Helm does not tell its post-renderer).")
@click.option("-n", "--namespace", required=True, help="The release's namespace (helm's -n).")
@click.option("--chart", type=click.Path(exists=True), help="The chart's directory or .tgz: its Chart.yaml tree "
              "(subchart order, aliases), which the manifest does not carry.")
@click.option("--controller-image", metavar="IMAGE", help="The controller's image (default: "
              "ghcr.io/helm-ac/controller:<version>).")
@click.option("--helm", "helm_major", type=click.Choice(["3", "4"]), help="The Helm calling (default: 4 when the "
              "manifest carries Helm 4's file annotations): only Helm 4 takes hooks from a post-renderer.")
@click.option("--gate-timeout", type=click.IntRange(min=1), default=300, show_default=True, metavar="SECONDS",
              help="How long the gate Job waits for the ordered rollout before it fails (helm's --timeout).")
@IMPLICIT_OPTION
def post_render(release: str, namespace: str, chart: str | None, controller_image: str | None,
                helm_major: str | None, gate_timeout: int, implicit: str) -> None:
    """Turn the manifest Helm rendered (stdin) into Definitions, Dependencies, the ReleaseGraph
    and the controller's objects (stdout), for `helm install --post-renderer`.

    \b
    Helm 3: helm install NAME CHART -n NS --post-renderer DIR/bin/helm-ac-postrender \\
              --post-renderer-args=--release=NAME --post-renderer-args=--namespace=NS --post-renderer-args=--chart=CHART
    Helm 4: HELM_PLUGINS="$(helm env HELM_PLUGINS):DIR/helm-plugins" helm install ... --post-renderer ac-postrender
    (DIR: helm-ac's plugin directory, e.g. $(helm env HELM_PLUGINS)/helm-ac; more: docs/install.md)

    A chart with lint errors is refused (exit 1, the findings on stderr), so Helm installs nothing.
    """
    from helm_ac.actions.postrender import PostRender

    text = sys.stdin.read()
    result = PostRender(release, namespace, chart, controller_image, helm_major, _implicit(implicit),
                        gate_timeout=gate_timeout).run(text)
    _report(result.chart, result.findings)
    if result.failed:
        click.echo("Error: the chart's dependency annotations have errors (helm ac lint shows them); "
                   "helm-ac refuses to post-render it", err=True)
        sys.exit(1)
    sys.stdout.write(result.render())


@cli.command(short_help="Roll one release out in order: the controller.",
             add_help_option=False, context_settings=dict(ignore_unknown_options=True, allow_extra_args=True))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def controller(ctx: click.Context, args: tuple[str, ...]) -> None:
    """Roll a release's objects out in dependency order: the controller, with the argv and exit
    statuses of `python -m helm_ac.controller` (`helm ac controller --help` lists its flags)."""
    from helm_ac.controller import __main__ as entry

    prog = entry.PROG
    entry.PROG = f"{ctx.find_root().info_name} controller"
    try:
        code = entry.main(list(args))
    finally:
        entry.PROG = prog
    ctx.exit(code)


@cli.command(short_help="Show a release's rollout, object by object.", context_settings=dict(help_option_names=["-h", "--help"]))
@click.argument("release")
@click.option("-n", "--namespace", help="The release's namespace (default: $HELM_NAMESPACE, the context's).")
@click.option("--kube-context", help="kubeconfig context (default: $HELM_KUBECONTEXT, the current one).")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="kubeconfig file (default: $KUBECONFIG, "
              "~/.kube/config).")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml", "jsonl"]), default="table",
              show_default=True, help="jsonl: with --watch, one JSON object per change.")
@click.option("-w", "--watch", "follow", is_flag=True, help="Follow the rollout until every object is ready or "
              "one failed (exit 1), showing each change (a live table on a terminal).")
@click.option("--timeout", default="5m", show_default=True, metavar="DUR", help="With --watch: give up after this "
              "long (exit 1), e.g. 90s, 10m.")
def status(release: str, namespace: str | None, kube_context: str | None, kubeconfig: str | None, output: str,
           follow: bool, timeout: str) -> None:
    """Show RELEASE's objects as the cluster holds them: state, what each waits for, attempts, time
    taken and the controller's message. Exit 0 when found (whatever the state), 1 when the release
    has no helm-ac objects in the namespace, 2 when the cluster cannot be read. With --watch: exit 0
    when every object is ready, 1 at a failure or at the timeout (naming the object, the reason and
    what it blocks)."""
    from helm_ac.actions.status import Status

    st = Status(kubeconfig=kubeconfig, context=kube_context, namespace=namespace)
    if follow:
        from helm_ac.extension import durations
        from helm_ac.output.printers.progress import for_output

        try:
            seconds = durations.parse(timeout.strip())
        except ValueError:
            raise click.BadParameter(f"{timeout!r} is not a duration (e.g. 90s, 10m)", param_hint="--timeout") from None
        st.run(release)  # found at all? (exit 1 at once, not at the timeout)
        sink = for_output(sys.stdout, "jsonl" if output == "jsonl" else "text", tty=sys.stdout.isatty())
        got, now = st.follow(release, sink if output in ("table", "jsonl") else (lambda e: None), seconds)
        if output in ("json", "yaml"):
            _print_status(got, now, output)
        if not got.ok:
            for line in got.failure_report() or [f"release {release} not ready after {timeout}: {got.phase}"]:
                click.echo(f"Error: {line}", err=True)
            sys.exit(1)
        return
    if output == "jsonl":
        raise UserError("-o jsonl streams changes: use it with --watch")
    got, now = st.run(release)
    _print_status(got, now, output)


def _print_status(got: Any, now: float, output: str) -> None:
    import json

    if output == "table":
        click.echo(got.table(now), nl=False)
    elif output == "json":
        click.echo(json.dumps(got.as_dict(now), indent=2))
    else:
        from helm_ac.rendering import yamlio

        click.echo(yamlio.dump(got.as_dict(now)), nl=False)


INSTALL_OUTPUT = click.option("-o", "--output", type=click.Choice(["table", "jsonl"]), default="table",
                              show_default=True, help="table: a live table on a terminal, plain lines otherwise; "
                              "jsonl: one JSON object per change (replaces helm's own -o).")
NO_WAIT = click.option("--no-wait", is_flag=True, help="Return once helm has returned: neither --wait nor following "
                       "the rollout.")


def _install_command(verb: str, summary: str, usage: str) -> Any:
    """install, upgrade, rollback: helm's command with helm-ac around it (actions/install.py)."""

    @cli.command(verb, context_settings=PASS_THROUGH, short_help=summary, help=usage)
    @INSTALL_OUTPUT
    @NO_WAIT
    @click.option("--controller-image", metavar="IMAGE", help="The controller's image (default: "
                  "ghcr.io/helm-ac/controller:<version>).", hidden=verb == "rollback")
    @IMPLICIT_OPTION
    @click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="NAME " + (
        "[REVISION]" if verb == "rollback" else "CHART") + f" [HELM {verb.upper()} FLAGS]")
    @click.pass_context
    def command(ctx: click.Context, output: str, no_wait: bool, controller_image: str | None, implicit: str,
                args: tuple[str, ...]) -> None:
        _run_install(ctx, verb, _strip_debug(args, ctx), output, no_wait, controller_image, _implicit(implicit))

    return command


def _run_install(ctx: click.Context, verb: str, args: list[str], output: str, no_wait: bool,
                 controller_image: str | None, implicit: tuple[str, ...]) -> None:
    from helm_ac.actions.install import Install
    from helm_ac.output.printers.progress import for_output

    tty = sys.stdout.isatty()
    sink = for_output(sys.stdout, "jsonl" if output == "jsonl" else "text", tty=tty)
    if output != "jsonl" and not tty:
        sink = _without_pending(sink)
    gate = any(p.name == "gate_timeout" for p in post_render.params)  # the gate Job's deadline (docs/hooks.md)
    action = Install(verb, args, no_wait=no_wait, controller_image=controller_image, implicit=implicit,
                     gate_timeout=gate, note=lambda line: click.echo(line, err=True), sink=sink,
                     on_delete=_delete_printer(output))
    try:
        result = action.run()
    except UserError as exc:
        _unknown_flag(ctx, exc, args)
        raise
    _report(result.chart, result.findings)
    if result.helm_out:  # with -o jsonl on stderr: stdout is JSON lines only
        click.echo(result.helm_out, nl=False, err=output == "jsonl")
    if result.helm_err.strip():
        click.echo(result.helm_err.rstrip(), err=True)
    for line in result.problems:
        click.echo(f"Error: {line}", err=True)
    ctx.exit(result.code)


def _without_pending(sink: Any) -> Any:
    """Plain lines: what happens to each object (applied, ready, failed, blocked), not each change of
    what a pending object still waits for (the live table and JSON lines show those)."""
    from helm_ac.engine.events import State, StateEvent

    def forward(e: Any) -> None:
        if not (isinstance(e, StateEvent) and e.state is State.PENDING):
            sink(e)
            sys.stdout.flush()

    return forward


def _delete_printer(output: str) -> Any:
    import json

    def line(t: float, key: str, state: str, message: str) -> None:
        if output == "jsonl":
            click.echo(json.dumps({"type": "delete", "time": t, "key": key, "state": state, "message": message}))
        else:
            click.echo(f"[{t:8.1f}s] {key}: {state}" + (f": {message}" if state not in ("deleted",) else ""))
        sys.stdout.flush()

    return line


_install_command("install", "Install a chart, rolled out in order by a controller pod.", """Install CHART as release NAME through your helm, rolled out in dependency order.

\b
helm ac install NAME CHART [helm install flags] [--no-wait] [-o table|jsonl]

Lints the chart rendered with the same flags (errors: nothing is installed,
exit 1), applies the helm-ac CRDs when missing (server-side), then runs
`helm install NAME CHART <flags> --wait --wait-for-jobs` with helm-ac as its
post-renderer and follows the rollout object by object.  Helm's flags pass
through (-n, --kube-context, --kubeconfig, -f, --set*, --version, --repo,
--timeout, --dry-run, --create-namespace, --atomic/--rollback-on-failure).

\b
Exit codes: 0 every object ready, 1 lint errors, a failed object (named, with
what it blocks), the timeout or a helm failure, 2 usage or cluster errors.""")
_install_command("upgrade", "Upgrade a release: changed, added and removed objects in order.", """Upgrade release NAME to CHART through your helm: the controller rolls the
changed and added objects out in order and removes the dropped ones, dependents first.

\b
helm ac upgrade NAME CHART [helm upgrade flags] [--no-wait] [-o table|jsonl]

As helm ac install (lint, CRDs, post-renderer, --wait --wait-for-jobs, the
rollout followed); exit codes the same.""")
_install_command("rollback", "Roll a release back to a revision, followed in order.", """Roll release NAME back to REVISION (default: the previous one) with helm
rollback; the old revision's graph is rolled out again in order and followed.

\b
helm ac rollback NAME [REVISION] [helm rollback flags] [--no-wait] [-o table|jsonl]

Exit codes as helm ac install.""")


@cli.command(context_settings=PASS_THROUGH, short_help="Uninstall a release, its objects deleted in reverse order.")
@INSTALL_OUTPUT
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="NAME [HELM UNINSTALL FLAGS]")
@click.pass_context
def uninstall(ctx: click.Context, output: str, args: tuple[str, ...]) -> None:
    """Uninstall release NAME: its objects are deleted in reverse dependency order
    (dependents first), each awaited, then Helm deletes the rest.

    \b
    helm ac uninstall NAME [helm uninstall flags] [-o table|jsonl]

    Helm 4 runs the ordered teardown as the release's pre-delete hook; Helm 3
    cannot take a hook from a post-renderer, so helm-ac tears down first, then
    runs helm uninstall.  Each delete is shown as it happens.  Exit 0 when
    everything is gone, 1 otherwise."""
    _run_install(ctx, "uninstall", _strip_debug(args, ctx), output, False, None, ())


@cli.command(short_help="An ordered install and teardown on an in-memory cluster: no cluster needed.")
@click.option("--keep", is_flag=True, help="Leave the release and the server running (Ctrl-C stops it), with the "
              "kubeconfig to explore them.")
@click.option("--helm", "helm_major", type=click.Choice(["3", "4"]), help="The Helm to fetch (from a checkout; "
              "default: $HELM_BIN, else Helm 4).")
@click.option("-o", "--output", type=click.Choice(["table", "jsonl"]), default="table", show_default=True,
              help="The rollout as a live table on a terminal (plain lines otherwise), or JSON lines.")
def demo(keep: bool, helm_major: str | None, output: str) -> None:
    """Start an in-memory Kubernetes API server, install the WordPress example as
    release wp with `helm ac install` (MariaDB first, WordPress once it is ready,
    created by a real controller pod), show `helm ac status wp` and `helm list`,
    uninstall it in reverse order with `helm ac uninstall`, and stop the server.
    Helm: $HELM_BIN, else fetched into ~/.cache/helm-ac (from a checkout)."""
    import signal
    import time
    from pathlib import Path

    from helm_ac.actions.demo import Demo, keep_message

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # the server stops its controller Pods' processes on the way out

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background
    from helm_ac.output.printers.progress import for_output

    tty = sys.stdout.isatty()
    sink = for_output(sys.stdout, "jsonl" if output == "jsonl" else "text", tty=tty)
    if output != "jsonl" and not tty:
        sink = _without_pending(sink)

    def say(line: str) -> None:
        click.echo(line)
        sys.stdout.flush()

    def hold(kubeconfig: Path) -> None:
        for line in keep_message(kubeconfig):
            say(line)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            say("stopping")

    code = Demo(keep=keep, helm_major=helm_major, say=say, sink=sink, on_delete=_delete_printer(output)).run(hold)
    sys.exit(code)


@cli.command(short_help="Print the CRDs of Definition, Dependency and ReleaseGraph.")
def crds() -> None:
    """Print the CustomResourceDefinitions of Definition, Dependency and ReleaseGraph (appcontroller.k8s/v1alpha1).

    For clusters where an administrator installs them: helm ac crds | kubectl apply --server-side -f -"""
    from helm_ac.output import crds as crdmod
    from helm_ac.rendering import yamlio

    sys.stdout.write("".join(f"---\n{yamlio.dump(c)}" for c in crdmod.all_crds()))


@cli.command(short_help="Print the JSON Schema of the annotations.")
@click.argument("which", type=click.Choice(["object", "chart"]), default="object", metavar="[object|chart]")
@click.option("--write", "directory", type=click.Path(file_okay=False), help="Write all schemas under this directory.")
def schema(which: str, directory: str | None) -> None:
    """Print the JSON Schema of the annotations (object or chart level)."""
    from pathlib import Path

    from helm_ac.extension import schema as schemamod

    if directory:
        from helm_ac.actions.files import write_file

        for name, doc in schemamod.schemas().items():
            path = Path(directory) / "v1alpha1" / name
            write_file(path, schemamod.render(doc), "--write", make_parents=True)
            click.echo(str(path))
        return
    click.echo(schemamod.render(schemamod.schemas()[f"{which}-annotations.schema.json"]), nl=False)


@cli.command(short_help="List the lint rules.")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def rules(output: str) -> None:
    """List the lint rules with their default severity."""
    import json

    from helm_ac.analysis.lint import RULES

    if output == "json":
        click.echo(json.dumps([{"id": r.id, "severity": r.severity.value, "summary": r.summary, "help": r.help}
                               for r in RULES.values()], indent=2))
        return
    width = max(len(r) for r in RULES)
    for r in RULES.values():
        click.echo(f"{r.id:<{width}}  {r.severity.value:<7}  {r.summary}")


def _exit_now(code: int) -> None:
    """Flush and leave without tearing the interpreter down.

    A run holds many small objects (thousands of parsed objects; networkx's graphs); freeing them
    one by one at exit takes longer than some whole runs.  Nothing needs cleaning up: files are
    closed, children reaped, and early helm runs nobody took are stopped here.
    """
    helm = sys.modules.get("helm_ac.rendering.helm")
    if helm is not None:
        helm.discard_early()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            code = EXIT_OUTPUT_CLOSED  # the rest of the output had no reader
        except (OSError, ValueError):
            pass
    os._exit(code)


def main(argv: list[str]) -> None:
    """Run the command line ``argv`` (normalised by :func:`helm_ac.__main__.main`, the entry point) and exit."""
    debug = _debug_from_env() or "--debug" in argv
    if not argv:
        argv = ["--help"]  # like bare `helm`: the help on stdout, exit 0 (click: on stderr, exit 2)
    try:
        cli.main(args=argv, prog_name=os.environ.get("HELM_PLUGIN_NAME") and "helm ac" or "helm-ac",
                 standalone_mode=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            click.echo(exc.code, err=True)
        _exit_now(code)
    except BrokenPipeError:  # e.g. a usage error written to a closed stderr
        _exit_now(EXIT_OUTPUT_CLOSED)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        _exit_now(130)
    except Exception:  # noqa: BLE001 - last resort: never a bare traceback for users
        if debug:
            import traceback

            traceback.print_exc()
            _exit_now(3)
        err = sys.exc_info()[1]
        click.echo(f"Error: internal error in helm-ac: {type(err).__name__}: {err}", err=True)
        click.echo("Run again with --debug for the traceback, and please report it.", err=True)
        _exit_now(3)
