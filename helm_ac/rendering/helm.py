"""The only door to the ``helm`` binary.

We never re-implement Go templating: charts are rendered by the user's own
helm (``$HELM_BIN``, set by Helm when we run as a plugin, else ``helm`` on
``PATH``), with the user's flags passed through unchanged, as an argument
list (never a shell).  :meth:`Helm.start_template` returns at once so that the
caller can do its own start-up work while helm renders.

This module is the first thing ``helm-ac`` imports (:mod:`helm_ac.rendering.early` starts
helm from here before the CLI loads), so it imports only what starting helm needs:
no dataclasses, typing or shutil at import time (together about 20 ms), nor subprocess
(see :class:`PendingTemplate`).
"""
from __future__ import annotations

import os
import time
from collections import namedtuple
from collections.abc import Collection, Iterator, Mapping, Sequence

from helm_ac.errors import HelmNotFound, HelmTooOld, RenderError, UserError
from helm_ac.rendering.helmflags import SHORT_VALUE_LETTERS, VALUE_FLAGS

MIN_VERSION = (3, 12, 0)

#: How long one ``helm template`` or ``helm pull`` may run before it is stopped (seconds) ...
DEFAULT_TIMEOUT = 300.0
#: ... unless this environment variable says otherwise (a Go duration such as ``10m``; ``0``: no limit).
TIMEOUT_ENV = "HELM_AC_HELM_TIMEOUT"


class HelmArgs(namedtuple("HelmArgs", "positionals flags")):
    """User arguments split into positionals and pass-through helm flags (order kept)."""

    positionals: tuple[str, ...]
    flags: tuple[str, ...]

    def has(self, *names: str) -> bool:
        """Any of ``names`` is given (the value of another flag is not looked at)."""
        return any(g[0] == n or g[0].startswith(n + "=") for g in self._groups() for n in names)

    def value(self, *names: str) -> str | None:
        """Last value given to any of ``names`` (``--n v``, ``--n=v``, ``-nv``)."""
        out = None
        for group in self._groups():
            f = group[0]
            for n in names:
                if f == n and len(group) == 2:
                    out = group[1]
                elif n.startswith("--") and f.startswith(n + "="):
                    out = f[len(n) + 1:]
                elif not n.startswith("--") and f.startswith(n) and len(f) > len(n):
                    out = f[len(n):].removeprefix("=")
        return out

    def _groups(self) -> Iterator[tuple[str, ...]]:
        """Each flag with its value when it takes the next argument (as :func:`split_args` paired them)."""
        i = 0
        while i < len(self.flags):
            n = 2 if self.flags[i] in VALUE_FLAGS and i + 1 < len(self.flags) else 1
            yield tuple(self.flags[i:i + n])
            i += n

    def select(self, names: Collection[str], keep: bool = True) -> HelmArgs:
        """These arguments with only (``keep``) or without the flags ``names`` (``--flag value`` and
        ``--flag=value``); the value of another flag is never taken for one of them."""
        flags = tuple(part for group in self._groups() if (group[0].split("=", 1)[0] in names) == keep
                      for part in group)
        return HelmArgs(self.positionals, flags)


def split_args(args: Sequence[str]) -> HelmArgs:
    """Separate positional arguments from helm flags (which flags take a value: :mod:`helm_ac.rendering.helmflags`)."""
    pos: list[str] = []
    flags: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            pos.extend(args[i + 1:])
            break
        if a.startswith("-") and a != "-":
            flags.append(a)
            if a in VALUE_FLAGS and i + 1 < len(args):
                flags.append(args[i + 1])
                i += 1
        else:
            pos.append(a)
        i += 1
    return HelmArgs(tuple(pos), tuple(flags))


def split_attached_short_flags(args: Sequence[str]) -> list[str]:
    """``-nshop`` -> ``-n shop``: click would read the letters as a cluster of short options
    (``-n -s -h -o -p``), so helm's short flags with attached values are split before parsing
    (the value of a flag that takes one is left alone: ``--set -nx`` stays)."""
    out: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            out.extend(args[i:])
            break
        if a in VALUE_FLAGS and i + 1 < len(args):
            out += [a, args[i + 1]]
            i += 2
            continue
        if len(a) > 2 and a[0] == "-" and a[1] in SHORT_VALUE_LETTERS:
            out += [a[:2], a[2:].removeprefix("=")]
        else:
            out.append(a)
        i += 1
    return out


def find_helm(env: Mapping[str, str] | None = None) -> str:
    """The helm to run: ``$HELM_BIN`` if set (Helm sets it for plugins), else ``helm``, which the
    system looks up on ``PATH`` when it runs.  A helm that cannot run is reported then, by
    :func:`not_found` (looking it up here would cost the start-up every command pays)."""
    env = os.environ if env is None else env
    return env.get("HELM_BIN") or "helm"


def not_found(binary: str, env: Mapping[str, str] | None, exc: OSError) -> HelmNotFound:
    """The error for a helm that could not be started: what is wrong with it and how to fix it.

    The system's error alone can mislead (a search of ``PATH`` that meets a directory named ``helm``,
    say a chart's, says "Permission denied" for a helm that is nowhere), so the file is looked at
    here, once starting it failed."""
    import shutil

    env = os.environ if env is None else env
    fix = ("set HELM_BIN to the path of your helm binary, or put helm on PATH "
           "(https://helm.sh/docs/intro/install/); developers can run python3 scripts/get_helm.py")
    where = f"HELM_BIN={binary}" if env.get("HELM_BIN") else binary
    if os.sep in binary:
        path: str | None = binary
    else:
        path = shutil.which(binary, mode=os.F_OK, path=env.get("PATH", os.defpath))
    if path is None or not os.path.exists(path):
        if not env.get("HELM_BIN"):
            return HelmNotFound("helm was not found on PATH: helm-ac renders charts with your own helm "
                                "(3.12 or newer)", hint=fix)
        what = "the file does not exist" if os.sep in binary else "no such command on PATH"
        return HelmNotFound(f"{where}: {what}", hint=fix)
    if os.path.isdir(path):
        return HelmNotFound(f"{where}: {path} is a directory, not the helm binary", hint=fix)
    if not os.access(path, os.X_OK):
        return HelmNotFound(f"{where}: {path} is not executable", hint=f"chmod +x {path}, or {fix}")
    return HelmNotFound(f"could not run {where}: {exc.strerror or exc}", hint=fix)


def run_timeout(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds one helm run may take (:data:`TIMEOUT_ENV`, else :data:`DEFAULT_TIMEOUT`); None: no limit."""
    raw = (os.environ if env is None else env).get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    from helm_ac.extension import durations

    try:
        seconds = durations.parse(raw)
    except ValueError:
        raise UserError(f"{TIMEOUT_ENV}={raw!r} is not a duration",
                        hint=f"write a Go duration such as {TIMEOUT_ENV}=10m, or 0 for no limit") from None
    return seconds or None


def _timeout_hint(seconds: float) -> str:
    from helm_ac.extension import durations

    return (f"it was stopped after {durations.format_seconds(seconds)}; to give helm longer, set {TIMEOUT_ENV} "
            f"(e.g. {TIMEOUT_ENV}=15m, or 0 for no limit)")


def parse_version(text: str) -> tuple[int, int, int] | None:
    import re

    m = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


#: helm runs started by :meth:`Helm.start_early`, not taken yet.
_EARLY: dict[tuple[object, ...], "PendingTemplate"] = {}


def discard_early() -> None:
    """Stop the early helm runs nobody took (the command line turned out to mean something else)."""
    while _EARLY:
        _, pending = _EARLY.popitem()
        pending.cancel()


class PendingTemplate:
    """A running ``helm template``; :meth:`result` waits for it.

    Started with ``os.posix_spawnp`` and read with ``select.poll``, not with :mod:`subprocess`, whose
    import alone (locale, re, enum, threading, selectors: 7-9 ms) would hold back helm's start for
    every lint; a pipe each for stdout and stderr, stdin from /dev/null, no shell.
    """

    def __init__(self, helm: "Helm", argv: list[str]) -> None:
        self.helm, self.argv = helm, argv
        self.timeout = helm.timeout
        self.returncode: int | None = None
        out_r, out_w = os.pipe()  # not inheritable: only the dup2 copies reach helm
        err_r, err_w = os.pipe()
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
        try:
            self.pid = os.posix_spawnp(argv[0], argv, os.environ if helm.env is None else helm.env,
                                       file_actions=actions)
        except OSError as exc:
            for fd in (out_r, err_r):
                os.close(fd)
            raise not_found(helm.binary, helm.env, exc) from None
        finally:
            os.close(out_w)
            os.close(err_w)
        self.fds: tuple[int, int] = (out_r, err_r)
        self.deadline = None if self.timeout is None else time.monotonic() + self.timeout

    def _read(self) -> tuple[bytes, bytes] | None:
        """stdout and stderr to their ends (None when the deadline passes first); then reap helm."""
        import select

        chunks: dict[int, list[bytes]] = {fd: [] for fd in self.fds}
        poller = select.poll()
        for fd in self.fds:
            poller.register(fd, select.POLLIN)
        reading = set(self.fds)
        while reading:
            left = None if self.deadline is None else self.deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            for fd, _ in poller.poll(None if left is None else int(left * 1000) + 1):
                data = os.read(fd, 1 << 20)
                if data:
                    chunks[fd].append(data)
                else:  # end of output
                    poller.unregister(fd)
                    reading.discard(fd)
        out, err = (b"".join(chunks[fd]) for fd in self.fds)
        self._reap(kill=False)
        return out, err

    def _reap(self, kill: bool) -> None:
        """Kill helm (when asked and still running), wait for it and close our ends of its pipes."""
        if self.returncode is None:
            if kill:
                import signal

                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass  # closed already
        self.fds = (-1, -1)

    def cancel(self) -> None:
        """Stop helm and reap it (its output is not wanted; a post-renderer it started could hold the
        pipes open, so nothing waits for them)."""
        self._reap(kill=True)

    def result(self) -> str:
        got = self._read()
        if got is None:
            self.cancel()
            assert self.timeout is not None
            raise RenderError(f"helm template did not finish: {_timeout_hint(self.timeout)}",
                              hint=f"command: {' '.join(self.argv)}")
        out, err = got
        if self.returncode != 0:
            self.helm.check_version()
            message = err.decode("utf-8", errors="replace").strip() or f"exit code {self.returncode}"
            raise RenderError(f"helm template failed: {message}",
                              hint=f"command: {' '.join(self.argv)}")
        return out.decode("utf-8", errors="replace")


def template_args(chart_args: Sequence[str], args: HelmArgs, env: dict[str, str]) -> list[str]:
    """The argument list for ``helm template``: user's positionals and flags in their order, plus our defaults
    (``--include-crds`` unless ``--skip-crds``; the namespace Helm exported when we run as a plugin)."""
    extra = []
    if not args.has("--include-crds", "--skip-crds"):
        extra.append("--include-crds")
    if not args.has("-n", "--namespace") and env.get("HELM_NAMESPACE"):
        extra += ["--namespace", env["HELM_NAMESPACE"]]
    return [*chart_args, *extra, *args.flags]  # ours first: a user's trailing "--set" must not eat them


class Helm:
    """A helm binary and the environment to run it in (None: this process's)."""

    def __init__(self, binary: str, env: dict[str, str] | None = None) -> None:
        self.binary, self.env = binary, env
        self.timeout = run_timeout(env)  # seconds each template or pull may take; None: no limit

    def __repr__(self) -> str:
        return f"Helm({self.binary!r})"

    def version(self) -> tuple[int, int, int]:
        import subprocess

        try:
            out = subprocess.run([self.binary, "version", "--template", "{{.Version}}"],  # noqa: S603
                                 capture_output=True, text=True, env=self.env, timeout=60)
        except OSError as exc:
            raise not_found(self.binary, self.env, exc) from None
        except subprocess.TimeoutExpired:
            raise HelmNotFound(f"{self.binary} version did not answer within 60s") from None
        v = parse_version(out.stdout)
        if out.returncode != 0 or v is None:
            raise HelmNotFound(f"{self.binary} does not look like helm: `helm version` said "
                               f"{(out.stderr or out.stdout).strip()[:200]!r}")
        return v

    def check_version(self) -> tuple[int, int, int]:
        v = self.version()
        if v < MIN_VERSION:
            raise HelmTooOld(f"{self.binary} is helm {'.'.join(map(str, v))}; helm-ac needs helm "
                             f"{'.'.join(map(str, MIN_VERSION))} or newer (3.x or 4.x)",
                             hint="upgrade helm: https://helm.sh/docs/intro/install/")
        return v

    def start_template(self, args: Sequence[str]) -> PendingTemplate:
        """Start ``helm template <args>`` and return without waiting (or take the same run started early)."""
        argv = [self.binary, "template", *args]
        return _EARLY.pop(self._run_key(argv), None) or PendingTemplate(self, argv)

    def start_early(self, args: Sequence[str]) -> None:
        """Start ``helm template <args>`` for a :meth:`start_template` with the same arguments and environment
        to take later (see :mod:`helm_ac.rendering.early`); what nobody takes is stopped by :func:`discard_early`."""
        argv = [self.binary, "template", *args]
        key = self._run_key(argv)
        if key not in _EARLY:
            _EARLY[key] = PendingTemplate(self, argv)

    def _run_key(self, argv: list[str]) -> tuple[object, ...]:
        return (tuple(argv), tuple(sorted((os.environ if self.env is None else self.env).items())))

    def pull(self, ref: str, dest: str, flags: Sequence[str]) -> tuple[bool, str]:
        """``helm pull REF --untar --untardir DEST [flags]``: (success, helm's message)."""
        import subprocess

        argv = [self.binary, "pull", ref, "--untar", "--untardir", dest, *flags]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, env=self.env,  # noqa: S603
                                  stdin=subprocess.DEVNULL, timeout=self.timeout)
        except OSError as exc:
            raise not_found(self.binary, self.env, exc) from None
        except subprocess.TimeoutExpired:  # run() has killed and reaped it
            assert self.timeout is not None
            return False, f"helm pull did not finish: {_timeout_hint(self.timeout)} (command: {' '.join(argv)})"
        return proc.returncode == 0, proc.stderr.strip()

    def template(self, args: Sequence[str]) -> str:
        """Run ``helm template <args>`` and return its stdout; raise :class:`RenderError`."""
        return self.start_template(args).result()


class HelmCommand:
    """A helm command running in the background (``helm install ...`` while its rollout is followed):
    stdout and stderr collected whole, stdin from /dev/null, no shell; :meth:`wait` returns its
    exit code."""

    def __init__(self, helm: Helm, args: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        import subprocess

        self.argv = [helm.binary, *args]
        self.out = self.err = ""
        self.returncode: int | None = None
        try:
            self._proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,  # noqa: S603
                                          stderr=subprocess.PIPE, text=True,
                                          env=dict(env) if env is not None else helm.env)
        except OSError as exc:
            raise not_found(helm.binary, helm.env, exc) from None

    def wait(self) -> int:
        """Wait for helm to end (blocking) and keep its output."""
        if self.returncode is None:
            self.out, self.err = self._proc.communicate()
            self.returncode = self._proc.returncode
        return self.returncode

    def stop(self) -> None:
        """Interrupt helm as Ctrl-C would (it cleans up what it can), then reap it."""
        import signal

        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
        self.wait()


def run_command(helm: Helm, args: Sequence[str], env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``helm <args>`` to its end: (exit code, stdout, stderr)."""
    cmd = HelmCommand(helm, args, env)
    return cmd.wait(), cmd.out, cmd.err
