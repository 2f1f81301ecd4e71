"""``helm ac install/upgrade/rollback/uninstall`` (issue 11, ``docs/install.md``): the user's own
``helm`` does the release, helm-ac lints first, makes sure its CRDs are there, plugs itself in as
Helm's post-renderer and follows the rollout the controller Pod makes.

- install/upgrade: lint the chart rendered with the same flags (errors stop it: nothing installed);
  a chart from a repository or registry is pulled once into a temporary directory (the
  post-renderer reads its Chart.yaml tree); the CRDs applied server-side when missing or not
  current; ``helm install|upgrade NAME CHART <flags> --post-renderer ...`` with ``--wait
  --wait-for-jobs`` (unless ``--no-wait``: ``docs/hooks.md``) while the rollout is followed
  (``controller/follow.py``) until every object is ready, one failed, or the timeout;
- rollback: ``helm rollback`` (the old revision's manifest holds its graph: no post-renderer), followed;
- uninstall: Helm runs the ordered teardown as the release's ``pre-delete`` hook (Helm 4's
  post-renderer adds it; Helm 3 cannot take a hook from a post-renderer, so install/upgrade hand
  Helm 3 a copy of the chart holding it); a Helm 3 release without it (helm run by hand with
  helm-ac as post-renderer) is torn down here first (``controller/uninstall.py``), then
  ``helm uninstall``; the deletes are reported as they happen.

No printing: the command line hands in ``note`` (one line per step), ``sink`` (the rollout's
events, as ``helm ac status --watch``) and ``on_delete`` (uninstall's deletes).
"""
from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import socket
import tarfile
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from urllib3.exceptions import HTTPError

from helm_ac.actions.render import RenderedChart, check
from helm_ac.controller import follow, view
from helm_ac.engine.cluster import ApiError, Stream, Synced, WatchClosed, WatchEvent, WatchMessage
from helm_ac.engine.events import Event
from helm_ac.errors import ChartError, UserError
from helm_ac.extension import durations
from helm_ac.kube.cluster import KubeCluster
from helm_ac.kube.config import Connection, connect
from helm_ac.output import appcontroller, crds
from helm_ac.output import controller_manifests as cm
from helm_ac.rendering.helm import Helm, HelmArgs, HelmCommand, find_helm, run_command, split_args
from helm_ac.rendering import yamlio
from helm_ac.rendering.helmflags import GLOBAL_FLAGS, PULL_FLAGS

VERBS = ("install", "upgrade", "rollback", "uninstall")
FIELD_MANAGER = "helm-ac"
#: Helm's default --timeout (seconds)
HELM_TIMEOUT = 300.0
#: flags of helm upgrade/rollback/uninstall that helm template does not know and that take a value
#: (the flag table, ``rendering/helmflags.py``, is helm template's)
EXTRA_VALUE_FLAGS = ("--history-max", "--cascade")
#: helm upgrade's flags that helm template refuses: left out of the lint's rendering
UPGRADE_ONLY = ("-i", "--install", "--reuse-values", "--reset-values", "--reset-then-reuse-values",
                "--cleanup-on-fail", "--recreate-pods", "--history-max", "--hide-secret")
#: the Helm 4 post-renderer plugin (as ``helm-plugins/ac-postrender/plugin.yaml``)
PLUGIN_NAME = "ac-postrender"
PLUGIN_YAML = (f"apiVersion: v1\nname: {PLUGIN_NAME}\ntype: postrenderer/v1\nversion: 0.1.0\nruntime: subprocess\n"
               "runtimeConfig:\n  platformCommand:\n    - command: \"${HELM_PLUGIN_DIR}/post-render\"\n")
NO_CRD_RIGHTS = "you may not create CRDs: ask an admin to run `helm ac crds | kubectl apply --server-side -f -`"
#: the teardown's states (``controller/removal.py``) from a Definition's ``status.reason``
DELETE_STATES = {"Deleting": "deleting", "Deleted": "deleted", "DeleteFailed": "failed", "DeleteBlocked": "blocked"}


def normalize(args: Sequence[str]) -> list[str]:
    """``--history-max 5`` -> ``--history-max=5``: flags helm template does not know keep their value."""
    out: list[str] = []
    i = 0
    while i < len(args):
        if args[i] in EXTRA_VALUE_FLAGS and i + 1 < len(args):
            out.append(f"{args[i]}={args[i + 1]}")
            i += 2
        else:
            out.append(args[i])
            i += 1
    return out


@dataclass
class Outcome:
    """How the command ended: its exit code, Helm's output, the rollout's last view, lint's findings,
    and the lines that say why it failed."""

    code: int
    helm_out: str = ""
    helm_err: str = ""
    view: view.ReleaseView | None = None
    findings: list = field(default_factory=list)
    chart: str = ""
    problems: list[str] = field(default_factory=list)


def _nothing(*_: Any) -> None:
    return None


@dataclass
class Install:
    """One ``helm ac VERB`` (``VERBS``); ``args`` are the user's arguments without helm-ac's own flags."""

    verb: str
    args: Sequence[str]
    no_wait: bool = False
    controller_image: str | None = None
    implicit: Sequence[str] = ("crd", "namespace")
    #: ``helm ac post-render`` takes ``--gate-timeout`` (the gate Job's deadline, from ``--timeout``)
    gate_timeout: bool = False
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    note: Callable[[str], None] = _nothing
    sink: Callable[[Event], None] = _nothing
    on_delete: Callable[[float, str, str, str], None] = _nothing

    def run(self) -> Outcome:
        hargs = split_args(normalize(self.args))
        release, target = self._positionals(hargs)
        if hargs.has("--post-renderer", "--post-renderer-args"):
            raise UserError(f"helm ac {self.verb} is Helm's post-renderer itself: --post-renderer cannot be given",
                            hint="chain your own post-processing into the chart, or run helm yourself (docs/install.md)")
        if hargs.has("--generate-name", "-g"):
            raise UserError(f"helm ac {self.verb} needs the release name: give NAME instead of --generate-name")
        helm = Helm(find_helm(self.env), self.env)
        major = str(helm.check_version()[0])
        conn = connect(kubeconfig=hargs.value("--kubeconfig"), context=hargs.value("--kube-context"),
                       namespace=hargs.value("-n", "--namespace"), env=self.env)
        try:
            with tempfile.TemporaryDirectory(prefix=f"helm-ac-{self.verb}-") as tmp:
                return self._run(helm, major, conn, hargs, release, target, Path(tmp))
        finally:
            conn.api.close()

    def _positionals(self, hargs: HelmArgs) -> tuple[str, str | None]:
        pos = hargs.positionals
        want = {"install": "NAME CHART", "upgrade": "NAME CHART", "rollback": "NAME [REVISION]",
                "uninstall": "NAME"}[self.verb]
        ok = len(pos) == 2 if self.verb in ("install", "upgrade") else (
            1 <= len(pos) <= 2 if self.verb == "rollback" else len(pos) == 1)
        if not ok:
            raise UserError(f"helm ac {self.verb} takes {want}, got {len(pos)} argument{'s' * (len(pos) != 1)}"
                            + (f": {' '.join(pos)}" if pos else ""),
                            hint=f"e.g. helm ac {self.verb} {'wp ./examples/charts/wordpress' if 'CHART' in want else 'wp'}"
                                 f"   (more: helm ac {self.verb} --help)")
        return pos[0], (pos[1] if len(pos) > 1 else None)

    # ------------------------------------------------------------------ the steps

    def _run(self, helm: Helm, major: str, conn: Connection, hargs: HelmArgs, release: str, target: str | None,
             tmp: Path) -> Outcome:
        ns = conn.namespace
        flags = _translate(list(hargs.flags), major)
        if not hargs.has("-n", "--namespace"):
            flags += ["--namespace", ns]  # the namespace helm-ac found (the context's): Helm's own choice
        dry_run = hargs.has("--dry-run")
        env = dict(self.env)
        if self.verb == "uninstall":
            return self._uninstall(helm, major, conn, release, flags, dry_run)
        timeout = _timeout(hargs)
        cmd: list[str] = [self.verb, release]
        if self.verb in ("install", "upgrade"):
            assert target is not None
            chart = target
            if not Path(chart).exists() and (os.path.isabs(chart) or chart.startswith(".")):
                # helm's own rule (LocateChart): such a name is a path, never a repository's chart
                raise UserError(f"{chart}: no chart directory or packaged chart (.tgz) there",
                                hint="check the path; a repository's chart is REPO/NAME (helm repo add), "
                                     "a registry's oci://...")
            if not Path(chart).exists():  # a repository or registry chart: pulled once, used as a directory
                chart = self._pull(helm, chart, hargs, tmp)
                flags = list(HelmArgs((), tuple(flags)).select(PULL_FLAGS, keep=False).flags)
            outcome, rendered = self._lint(helm, release, chart, flags, tmp)
            if outcome is not None:
                return outcome
            if major == "3" and not hargs.has("--no-hooks"):
                chart = self._with_teardown_hook(chart, rendered, release, ns, tmp)
            if not dry_run:
                ensure_crds(conn.api, tmp, self.note)
            elif major == "3" and not _served(DynamicClient(conn.api, cache_file=str(tmp / "discovery.json"))):
                raise UserError("helm 3's --dry-run needs the helm-ac CRDs in the cluster (it maps every object's "
                                "kind there), and a dry run creates nothing",
                                hint="install them first: helm ac crds | kubectl apply --server-side -f -  "
                                     "(or use Helm 4, or run without --dry-run)")
            pr_flags, env = self._post_renderer(helm, major, release, ns, chart, timeout, tmp, env)
            cmd += [chart, *flags, *pr_flags]
        else:
            cmd += [*([target] if target else []), *flags]
        if not self.no_wait and not dry_run:
            if not hargs.has("--wait"):
                cmd.append("--wait")
            if not hargs.has("--wait-for-jobs"):
                cmd.append("--wait-for-jobs")
        follow_it = not self.no_wait and not dry_run
        # the release's graph now, before helm changes it (one read: the prune rights and the digest)
        changes = self.verb in ("upgrade", "rollback") and not dry_run
        graph = _release_graph(conn.api, ns, release) if changes or follow_it else None
        if changes and graph is not None:
            keep_prune_rights(conn.api, ns, release, graph, tmp, self.note)
        before = _digest(graph) if follow_it else None
        self.note(f"running: helm {' '.join(shlex.quote(a) for a in cmd)}")
        return asyncio.run(self._helm_and_follow(helm, cmd, env, conn, release, before, timeout, follow_it))

    def _pull(self, helm: Helm, ref: str, hargs: HelmArgs, tmp: Path) -> str:
        dest = tmp / "chart"
        dest.mkdir()
        self.note(f"fetching {ref} (helm pull)")
        ok, message = helm.pull(ref, str(dest), list(hargs.select(PULL_FLAGS).flags))
        if not ok:
            raise ChartError(f"{ref}: helm pull failed: {message}",
                             hint="check the chart reference, --repo and --version (helm pull takes the same)")
        dirs = [p for p in dest.iterdir() if (p / "Chart.yaml").is_file()]
        if len(dirs) != 1:
            raise ChartError(f"{ref}: helm pull did not produce one chart directory")
        return str(dirs[0])

    def _lint(self, helm: Helm, release: str, chart: str, flags: list[str],
              tmp: Path) -> tuple[Outcome | None, RenderedChart]:
        """Lint the chart as helm template renders it with the same flags: an Outcome when it has
        errors, and the rendering."""
        from helm_ac.actions.render import Renderer
        from helm_ac.analysis.lint import Severity

        given = HelmArgs((), tuple(flags))
        tflags = given.select(UPGRADE_ONLY, keep=False).flags
        if self.verb == "upgrade":
            tflags = self._reused_values(helm, release, given, tmp) + tflags + ("--is-upgrade",)
        renderer = Renderer(env=dict(self.env), helm=helm)
        self.note(f"linting {chart}")
        rendered: RenderedChart = renderer.start([release, chart], chart, HelmArgs((), tflags)).result()
        checked = check(rendered, release, chart, self.implicit)
        errors = [f for f in checked.findings if f.severity is Severity.ERROR]
        if errors:
            return Outcome(1, findings=checked.findings, chart=chart,
                           problems=[f"the chart's dependency annotations have errors: nothing was "
                                     f"{'installed' if self.verb == 'install' else 'upgraded'}"]), rendered
        return None, rendered

    def _reused_values(self, helm: Helm, release: str, given: HelmArgs, tmp: Path) -> tuple[str, ...]:
        """``helm upgrade --reuse-values`` renders with the release's values: the lint must too. As
        Helm does: ``--reuse-values`` takes the last release's values with its chart's defaults
        (``helm get values --all``) under the new overrides; ``--reset-then-reuse-values`` only the
        values given to it (``helm get values``) over the new chart's defaults; ``--reset-values``
        wins over both. Returns ``-f <file>`` to put before the user's own flags (none: no release)."""
        if given.has("--reset-values") or not given.has("--reuse-values", "--reset-then-reuse-values"):
            return ()
        everything = ["--all"] if given.has("--reuse-values") else []
        code, out, _ = run_command(helm, ["get", "values", release, *everything, "-o", "yaml",
                                          *given.select(GLOBAL_FLAGS).flags], self.env)
        if code != 0:
            return ()  # no such release (upgrade --install): helm has nothing to reuse either
        path = tmp / "reused-values.yaml"
        path.write_text(out)
        return ("-f", str(path))

    def _with_teardown_hook(self, chart: str, rendered: RenderedChart, release: str, namespace: str,
                            tmp: Path) -> str:
        """Helm 3: a copy of the chart with the teardown ``pre-delete`` hook as one more template
        (``output.controller_manifests.teardown_template``), weighted after the chart's own
        ``pre-delete`` hooks, so that ``helm uninstall`` runs them, then the ordered teardown, then
        deletes the rest, as on Helm 4 (whose post-renderer adds the hook itself; Helm 3's cannot:
        ``docs/hooks.md``)."""
        dest = tmp / "chart-with-teardown"
        src = Path(chart)
        if src.is_dir():
            shutil.copytree(src, dest / src.name, symlinks=False)
            copy = dest / src.name
        else:
            copy = _unpack_chart(src, dest)
        weight = cm.teardown_weight(cm.hook_weight(o.annotations) for o in rendered.rendered.objects
                                    if "pre-delete" in o.hooks)
        hook = copy / "templates" / cm.TEARDOWN_TEMPLATE
        hook.parent.mkdir(exist_ok=True)
        hook.write_text(cm.teardown_template(release, namespace, self.controller_image or cm.DEFAULT_IMAGE, weight))
        return str(copy)

    def _post_renderer(self, helm: Helm, major: str, release: str, namespace: str, chart: str, timeout: float,
                       tmp: Path, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """helm's flags and environment for this helm-ac as its post-renderer: Helm 3 an executable,
        Helm 4 a postrenderer/v1 plugin in a plugins folder of its own (docs/install.md)."""
        root = Path(__file__).resolve().parent.parent.parent  # the directory that holds helm_ac
        launcher = ("#!/bin/sh\n# helm-ac's post-renderer for this run of helm ac (the same Python and code)\n"
                    f"PYTHONPATH={shlex.quote(str(root))}${{PYTHONPATH:+:$PYTHONPATH}} "
                    f"exec {shlex.quote(sys.executable)} -m helm_ac post-render --helm {major} \"$@\"\n")
        args = [f"--release={release}", f"--namespace={namespace}", f"--chart={os.path.abspath(chart)}"]
        if self.controller_image:
            args.append(f"--controller-image={self.controller_image}")
        if tuple(self.implicit) != ("crd", "namespace"):  # post-render's default
            args.append(f"--implicit={','.join(self.implicit) or 'none'}")
        if self.gate_timeout:
            args.append(f"--gate-timeout={int(timeout)}")
        pr_args = [f"--post-renderer-args={a}" for a in args]
        if major == "3":
            path = tmp / "helm-ac-postrender"
            path.write_text(launcher)
            path.chmod(0o755)
            return ["--post-renderer", str(path), *pr_args], env
        plugin = tmp / "plugins" / PLUGIN_NAME
        plugin.mkdir(parents=True)
        (plugin / "plugin.yaml").write_text(PLUGIN_YAML)
        (plugin / "post-render").write_text(launcher)
        (plugin / "post-render").chmod(0o755)
        existing = env.get("HELM_PLUGINS")
        if existing is None:
            code, out, _ = run_command(helm, ["env", "HELM_PLUGINS"], env)
            existing = out.strip() if code == 0 else ""
        env = {**env, "HELM_PLUGINS": os.pathsep.join(p for p in (existing, str(tmp / "plugins")) if p)}
        return ["--post-renderer", PLUGIN_NAME, *pr_args], env

    async def _helm_and_follow(self, helm: Helm, cmd: list[str], env: dict[str, str], conn: Connection,
                               release: str, before: str | None, timeout: float, follow_it: bool) -> Outcome:
        loop = asyncio.get_running_loop()
        proc = HelmCommand(helm, cmd, env)
        ended = loop.run_in_executor(None, proc.wait)
        got: view.ReleaseView | None = None
        problems: list[str] = []
        if follow_it:
            wake = asyncio.Event()
            helm_code: list[int] = []

            def on_helm_end(fut: asyncio.Future[int]) -> None:
                helm_code.append(fut.result() if not fut.exception() else 1)
                wake.set()

            def until(v: view.ReleaseView) -> bool:
                if helm_code and helm_code[0] != 0:
                    return True  # helm failed: nothing more will come
                # a new graph rolled out, or the same graph (an upgrade that changed no object) once helm is done
                return v.done and (v.digest != before or bool(helm_code))

            ended.add_done_callback(on_helm_end)
            cluster = KubeCluster(conn.api, loop)
            try:
                try:
                    await loop.run_in_executor(cluster.pool, lambda: [cluster.resource(crds.API_VERSION, k)
                                                                      for k in follow.KINDS])
                    got = await follow.follow(cluster, conn.namespace, release, self.sink, timeout=timeout,
                                              until=until, wake=wake,
                                              skip=lambda v: not helm_code and (
                                                  not v.complete or (v.digest == before and before is not None)))
                except ApiError as exc:
                    problems.append(f"cannot follow the rollout of {release}: {exc.code}: {exc.message}")
            finally:
                cluster.close()
            if not (helm_code and helm_code[0] != 0) and got is not None and not got.ok:
                problems += got.failure_report() or [
                    f"release {release} not ready after {durations.format_seconds(timeout)}: {got.phase} "
                    f"({', '.join(f'{n} {s}' for s, n in sorted(got.counts().items())) or 'no objects seen'})"]
                for line in problems:  # at once: Helm may go on a while (retries, --atomic's rollback)
                    self.note(f"Error: {line}")
                if proc.returncode is None:
                    self.note("waiting for helm to end")
        code = await ended
        failed = bool(problems)
        problems = [p for p in problems if p.startswith("cannot follow")]  # the others were said at once
        if code != 0:
            problems.append(f"helm {cmd[0]} failed (exit {code})")
        return Outcome(0 if code == 0 and not failed else 1, proc.out, proc.err, got, problems=problems)

    # ------------------------------------------------------------------ uninstall

    def _uninstall(self, helm: Helm, major: str, conn: Connection, release: str, flags: list[str],
                   dry_run: bool) -> Outcome:
        cmd = ["uninstall", release, *flags]
        if dry_run or major == "4" or HelmArgs((), tuple(flags)).has("--no-hooks") or \
                self._has_teardown_hook(helm, release, flags):
            # the teardown is the release's pre-delete hook (Helm 4's post-renderer adds it; on Helm 3,
            # helm ac install|upgrade put it in the chart): its deletes are followed from the Definitions
            return asyncio.run(self._helm_and_teardown(helm, cmd, conn, release, watch=not dry_run))
        # Helm 3, a release installed without helm ac install (helm itself with helm-ac as post-renderer)
        return asyncio.run(self._teardown_then_helm(helm, cmd, conn, release))

    def _has_teardown_hook(self, helm: Helm, release: str, flags: list[str]) -> bool:
        """The release's current revision holds the teardown hook (``helm get hooks``)."""
        args = HelmArgs((), tuple(flags)).select(GLOBAL_FLAGS).flags
        code, out, _ = run_command(helm, ["get", "hooks", release, *args], self.env)
        if code != 0:
            return False  # no such release: helm uninstall says so
        try:
            docs = list(yamlio.load_all(out))
        except (yaml.YAMLError, ValueError):
            return False
        want = cm.name(release, "-teardown")
        return any(isinstance(d, dict) and d.get("kind") == "Job" and (d.get("metadata") or {}).get("name") == want
                   for d in docs)

    async def _teardown_then_helm(self, helm: Helm, cmd: list[str], conn: Connection, release: str) -> Outcome:
        """Helm 3: the ordered teardown here (as the hook Job would run it), then ``helm uninstall``."""
        import json

        from helm_ac.controller.run import LeaseOptions
        from helm_ac.controller.uninstall import uninstall

        start = time.monotonic()

        def emit(line: str) -> None:
            try:
                rec = json.loads(line)
            except ValueError:
                return
            if "object" in rec and "state" in rec:
                self.on_delete(round(time.monotonic() - start, 3), str(rec["object"]), str(rec["state"]),
                               str(rec.get("message") or ""))

        self.note(f"tearing {release} down in reverse order (Helm 3 takes no pre-delete hook from helm-ac)")
        identity = f"helm-ac-uninstall_{socket.gethostname()}_{os.getpid()}"
        try:
            result = await uninstall(conn.api, conn.namespace, release, lease=LeaseOptions(identity), emit=emit)
        except UserError:
            raise
        if not result.ok:
            left = sorted([*result.failed, *result.blocked])
            return Outcome(1, problems=[f"the ordered teardown left {', '.join(left)}: helm uninstall not run",
                                        f"fix what blocks them, then run helm ac uninstall {release} again"])
        self.note(f"running: helm {' '.join(shlex.quote(a) for a in cmd)}")
        code, out, err = await asyncio.get_running_loop().run_in_executor(None, run_command, helm, cmd, self.env)
        return Outcome(0 if code == 0 else 1, out, err, problems=[] if code == 0 else [f"helm uninstall failed (exit {code})"])

    async def _helm_and_teardown(self, helm: Helm, cmd: list[str], conn: Connection, release: str,
                                 watch: bool) -> Outcome:
        loop = asyncio.get_running_loop()
        self.note(f"running: helm {' '.join(shlex.quote(a) for a in cmd)}")
        proc = HelmCommand(helm, cmd, self.env)
        ended = loop.run_in_executor(None, proc.wait)
        if watch:
            cluster = KubeCluster(conn.api, loop)
            try:
                watcher = asyncio.ensure_future(_teardown_states(cluster, conn.namespace, release, self.on_delete))
                await asyncio.wait({ended})
                await asyncio.sleep(follow.SETTLE * 4)  # the last status writes' events
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
            finally:
                cluster.close()
        code = await ended
        return Outcome(0 if code == 0 else 1, proc.out, proc.err,
                       problems=[] if code == 0 else [f"helm uninstall failed (exit {code})"])


async def _teardown_states(cluster: KubeCluster, namespace: str, release: str,
                           on_delete: Callable[[float, str, str, str], None]) -> None:
    """Hand ``on_delete`` each Definition's teardown state (its ``status.reason``) as it changes,
    from a watch of the release's Definitions (resumed when dropped, listed again after 410)."""
    from helm_ac.controller.release import ReleaseError, _wrapped

    loop = asyncio.get_running_loop()
    start = time.monotonic()
    seen: dict[str, str] = {}
    version = [""]
    try:
        await loop.run_in_executor(cluster.pool, cluster.resource, crds.API_VERSION, "Definition")
    except ApiError:
        return  # no Definitions to follow (the CRDs are gone): helm's answer says the rest

    def on_message(msg: WatchMessage) -> None:
        if isinstance(msg, WatchEvent):
            version[0] = msg.resource_version or version[0]
            if msg.type in ("BOOKMARK", "DELETED") or \
                    ((msg.obj.get("metadata") or {}).get("labels") or {}).get(appcontroller.RELEASE_LABEL) != release:
                return
            st = msg.obj.get("status") or {}
            state = DELETE_STATES.get(str(st.get("reason") or ""))
            if state is None:
                return
            try:
                _, body = _wrapped(msg.obj)
            except ReleaseError:
                return
            key = f"{str(body.get('kind') or '').lower()}/{(body.get('metadata') or {}).get('name')}"
            if seen.get(key) != state:
                seen[key] = state
                on_delete(round(time.monotonic() - start, 3), key, state, str(st.get("message") or ""))
        elif isinstance(msg, Synced):
            version[0] = msg.resource_version or version[0]
        elif isinstance(msg, WatchClosed):
            if msg.error is not None and msg.error.code == 410:
                version[0] = ""
            loop.call_later(0.2, open_)

    handle: list[Any] = []

    def open_() -> None:
        handle[:] = [cluster.watch(Stream(crds.API_VERSION, "Definition", namespace), version[0], on_message)]

    open_()
    try:
        await asyncio.Event().wait()  # until cancelled
    finally:
        for h in handle:
            h.stop()


def _unpack_chart(archive: Path, dest: Path) -> Path:
    """A packaged chart (``.tgz``) unpacked under ``dest``: its chart directory. Members that would
    land outside ``dest`` (absolute paths, ``..``, links) are refused, as Helm refuses them."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                target = (dest / m.name).resolve()
                if not (m.isfile() or m.isdir()) or not target.is_relative_to(dest.resolve()):
                    raise ChartError(f"{archive}: the archive holds {m.name!r}, which is not a plain file "
                                     "inside the chart")
            tar.extractall(dest, members=members)  # noqa: S202 - every member checked above
    except (tarfile.TarError, OSError) as exc:
        raise ChartError(f"{archive}: cannot unpack the chart: {exc}",
                         hint="give the chart's directory or a .tgz made by helm package") from None
    dirs = [p for p in dest.iterdir() if (p / "Chart.yaml").is_file()]
    if len(dirs) != 1:
        raise ChartError(f"{archive}: the archive does not hold one chart directory")
    return dirs[0]


def _translate(flags: list[str], major: str) -> list[str]:
    """``--atomic`` (Helm 3) and ``--rollback-on-failure`` (Helm 4's name) for the Helm running."""
    old, new = ("--rollback-on-failure", "--atomic") if major == "3" else ("--atomic", "--rollback-on-failure")
    return [new + f[len(old):] if f == old or f.startswith(old + "=") else f for f in flags]


def _timeout(hargs: HelmArgs) -> float:
    raw = hargs.value("--timeout")
    if raw is None:
        return HELM_TIMEOUT
    try:
        return durations.parse(raw.strip()) or HELM_TIMEOUT
    except ValueError:
        raise UserError(f"--timeout {raw!r} is not a duration", hint="e.g. --timeout 90s or --timeout 10m") from None


def _release_graph(api: client.ApiClient, namespace: str, release: str) -> dict[str, Any] | None:
    """The release's ReleaseGraph as it is now, None without one (or when it cannot be read)."""
    try:
        obj = client.CustomObjectsApi(api).get_namespaced_custom_object(
            crds.GROUP, crds.API_VERSION.split("/")[1], namespace, "releasegraphs", release)
    except (ApiException, HTTPError, OSError):
        return None
    return obj if isinstance(obj, dict) else None


def _digest(graph: dict[str, Any] | None) -> str | None:
    """A ReleaseGraph's digest, None without one."""
    digest = ((graph or {}).get("spec") or {}).get("digest")
    return str(digest) if digest else None


def keep_prune_rights(api: client.ApiClient, namespace: str, release: str, graph: dict[str, Any], tmp: Path,
                      note: Callable[[str], None]) -> None:
    """Before an upgrade or rollback: the controller keeps the right to remove every kind the
    release applied in its namespace (its ReleaseGraph's ``status.appliedKinds``), through a Role
    and RoleBinding of their own (``output.controller_manifests.prune_role``), server-side applied,
    owned by the ReleaseGraph. The revision's Role has only the kinds of that revision: without
    this, the objects of a kind the new revision no longer has could not be removed (``graph``:
    the ReleaseGraph as read before helm runs). Refused (403): said, and the upgrade goes on (what
    cannot be removed is reported by the rollout)."""
    from helm_ac.controller.removal import applied_kinds

    by_group: dict[str, set[str]] = {}
    try:
        # (the discovery cache ensure_crds filled, when it ran: discovery is read once)
        dyn = DynamicClient(api, cache_file=str(tmp / "discovery.json"))
        for entry in applied_kinds(graph):
            if (entry.get("namespace") or namespace) != namespace:
                continue
            try:
                res = dyn.resources.get(api_version=entry["apiVersion"], kind=entry["kind"])
            except Exception:  # noqa: BLE001 - not served (any more): nothing of it to remove
                continue
            if res.namespaced:
                by_group.setdefault(res.group or "", set()).add(res.name)
    except (ApiException, HTTPError, OSError) as exc:
        note(f"cannot read the cluster's kinds to keep the controller's right to remove them: {exc}")
        return
    if not by_group:
        return
    rbac = client.RbacAuthorizationV1Api(api)
    for obj, call in ((cm.prune_role(release, namespace, by_group, graph), "role"),
                      (cm.prune_role_binding(release, namespace, graph), "role_binding")):
        try:
            getattr(rbac, f"patch_namespaced_{call}")(
                obj["metadata"]["name"], namespace, obj, field_manager=FIELD_MANAGER, force=True,
                _content_type="application/apply-patch+yaml")
        except ApiException as exc:
            note(f"warning: cannot keep the controller's right to remove the release's objects "
                 f"({obj['kind']} {obj['metadata']['name']}: {exc.status} {exc.reason}): objects of a kind "
                 f"this revision no longer has may stay")
            return


def ensure_crds(api: client.ApiClient, tmp: Path, note: Callable[[str], None]) -> None:
    """The helm-ac CRDs, server-side applied (field manager ``helm-ac``) when missing or not
    current, then waited for until served; nothing written when they are current. A 403: the
    administrator's command."""
    try:
        dyn = DynamicClient(api, cache_file=str(tmp / "discovery.json"))
        res = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    except ApiException as exc:
        raise UserError(f"cannot read the cluster's API: {exc.status} {exc.reason}",
                        hint="check the kubeconfig and your permissions") from None
    except (HTTPError, OSError) as exc:
        raise UserError(f"cannot reach the cluster: {exc}", hint="check the kubeconfig and the connection") from None
    stale = []
    for crd in crds.all_crds():
        name = crd["metadata"]["name"]
        try:
            current = dyn.get(res, name=name).to_dict()
            would = dyn.server_side_apply(res, body=crd, name=name, field_manager=FIELD_MANAGER,
                                          force_conflicts=True, dry_run="All").to_dict()
            if current.get("spec") != would.get("spec"):
                stale.append(crd)
        except ApiException as exc:
            if exc.status == 404:
                stale.append(crd)
            elif exc.status == 403:
                if _served(dyn):
                    note("cannot read the helm-ac CRDs, but they are served: taking them as an admin keeps them")
                    return
                raise UserError(NO_CRD_RIGHTS) from None
            else:
                raise UserError(f"cannot read CRD {name}: {exc.status} {exc.reason}") from None
    if not stale:
        return
    for crd in stale:
        try:
            dyn.server_side_apply(res, body=crd, name=crd["metadata"]["name"], field_manager=FIELD_MANAGER,
                                  force_conflicts=True)
        except ApiException as exc:
            if exc.status == 403:
                raise UserError(NO_CRD_RIGHTS) from None
            raise UserError(f"cannot apply CRD {crd['metadata']['name']}: {exc.status} {exc.reason}",
                            hint="helm ac crds | kubectl apply --server-side -f -") from None
    note(f"applied the helm-ac CRDs ({', '.join(c['metadata']['name'] for c in stale)})")
    deadline = time.monotonic() + 60
    while not _served(dyn):
        if time.monotonic() > deadline:
            raise UserError("the helm-ac CRDs were applied but are not served after 60s",
                            hint="look at them: kubectl get crd definitions.appcontroller.k8s -o yaml")
        time.sleep(0.1)


def _served(dyn: DynamicClient) -> bool:
    try:
        dyn.resources.invalidate_cache()
        for crd in crds.all_crds():
            dyn.resources.get(api_version=crds.API_VERSION, kind=crd["spec"]["names"]["kind"])
        return True
    except Exception:  # noqa: BLE001 - not (yet) served
        return False
