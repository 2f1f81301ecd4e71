"""``python -m helm_ac.controller --release NAME [-n NS]``: roll one release's objects out in
dependency order from its Definitions and Dependencies in the cluster (``docs/controller.md``).

The cluster is found as Helm finds it (``--kubeconfig``, ``--kube-context``, ``-n``, their
environment variables, in a pod the ServiceAccount). Logs are JSON lines on stderr. Exit status: 0
when every object is ready, 1 when the rollout failed or the release's Lease was lost, 2 on bad
input (the message names what to fix; no traceback). With ``--watch`` it keeps running, runs each
new graph of the release, and exits 0 once the release is uninstalled (:mod:`.watch`);
``--health-port`` serves its probes (:mod:`.health`). SIGTERM (the pod deleted) or SIGINT stops
the run and gives the release's Lease up, so a replacement controller takes over at once (exit
128 + the signal's number).
``--teardown`` deletes the release's objects in reverse order instead (exit 0 when all are gone, 1
otherwise: :mod:`.uninstall`); ``--wait-rollout DIGEST`` only waits until the release's graph of
that digest has rolled out (exit 0) or failed (1): the gate Job's side (:mod:`.gate`,
``docs/hooks.md``)."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from typing import Any, Callable, Coroutine, Iterator, Sequence

from helm_ac.controller.lease import LeaseLost
from helm_ac.controller.gate import wait_rollout
from helm_ac.controller.health import HealthServer
from helm_ac.controller.run import LeaseOptions, json_line, rollout
from helm_ac.controller.watch import Health, watch
from helm_ac.controller.removal import PruneResult
from helm_ac.controller.uninstall import uninstall
from helm_ac.engine.events import SummaryEvent
from helm_ac.engine.scheduler import Options
from helm_ac.errors import UserError
from helm_ac.kube.config import connect
from helm_ac.controller.status import rfc3339


class JsonLog(logging.Handler):
    """The ``helm_ac`` loggers' records (the status writer's and the Lease's warnings) as the
    controller's other log lines: one JSON object each, through ``emit``, so that a log reader
    never meets a plain-text line among them."""

    def __init__(self, emit: Callable[[str], None], release: str) -> None:
        super().__init__(logging.INFO)
        self._emit, self._release = emit, release

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._emit(json_line(time=rfc3339(record.created), release=self._release, level=record.levelname.lower(),
                                 logger=record.name, msg=record.getMessage()))
        except Exception:  # noqa: BLE001 - logging's own contract: a bad record never stops the program
            self.handleError(record)


@contextlib.contextmanager
def json_logging(emit: Callable[[str], None], release: str) -> Iterator[None]:
    """While it lasts, the ``helm_ac`` loggers go to :class:`JsonLog` only (not to stderr as plain text)."""
    logger = logging.getLogger("helm_ac")
    handler = JsonLog(emit, release)
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


#: the program's name in its usage and errors (``helm ac controller`` sets its own)
PROG = "python -m helm_ac.controller"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG,
                                description="Roll a release's objects out in dependency order.")
    p.add_argument("--release", required=True, help="the release whose Definitions and Dependencies to run")
    p.add_argument("-n", "--namespace", help="the release's namespace (default: as helm picks it)")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    p.add_argument("--kube-context", help="kubeconfig context (default: $HELM_KUBECONTEXT, the current one)")
    p.add_argument("--concurrency", type=int, help="objects in flight at once (default: no limit)")
    p.add_argument("--lease-duration", type=int, default=15, metavar="SECONDS",
                   help="the release's Lease: taken over this long after its holder stopped renewing it; "
                        "renewed every third of it (default: 15)")
    p.add_argument("--identity", help="who holds the Lease (default: <host name>_<process id>: in a pod, "
                                      "the pod's name, so a restarted container takes its Lease back at once)")
    p.add_argument("--teardown", action="store_true",
                   help="uninstall: mark the release's ReleaseGraph, take the Lease, delete the release's objects "
                        "in reverse order, each awaited (exit 0 when all are gone, 1 otherwise)")
    p.add_argument("--watch", action="store_true",
                   help="keep running: hold the Lease, watch the release's graph and run each new one "
                        "(an upgrade supersedes the run under way); exit 0 once the release is uninstalled")
    p.add_argument("--health-port", type=int, metavar="PORT",
                   help="with --watch: serve /healthz (the controller answers) and /readyz (Lease held, graph read)")
    p.add_argument("--health-address", default="0.0.0.0", metavar="ADDRESS",
                   help="the address --health-port binds (default: 0.0.0.0, for the kubelet's probes)")
    p.add_argument("--wait-rollout", metavar="DIGEST",
                   help="only wait until the release's graph of this digest (its ReleaseGraph's spec.digest) has "
                        "rolled out (exit 0) or failed (exit 1): what the gate Job runs before Helm's post-install "
                        "hooks (docs/hooks.md)")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="with --wait-rollout: give up after this long (exit 1)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.concurrency is not None and args.concurrency < 1:
        parser().error("--concurrency must be at least 1")
    if args.lease_duration < 1:
        parser().error("--lease-duration must be at least 1")
    if args.health_port is not None and not args.watch:
        parser().error("--health-port needs --watch (a one-shot run has no probes)")
    if sum(map(bool, (args.watch, args.teardown, args.wait_rollout))) > 1:
        parser().error("--watch, --teardown and --wait-rollout are different modes: give one")
    if args.timeout is not None and not args.wait_rollout:
        parser().error("--timeout goes with --wait-rollout")
    if args.timeout is not None and not args.timeout > 0:  # (not NaN either)
        parser().error("--timeout must be a number of seconds above 0")
    if args.health_port is not None and not 0 <= args.health_port <= 65535:
        parser().error("--health-port must be between 0 and 65535")
    identity = args.identity or f"{socket.gethostname()}_{os.getpid()}"

    def emit(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    async def run() -> SummaryEvent | PruneResult | int | None:
        conn = connect(kubeconfig=args.kubeconfig, context=args.kube_context, namespace=args.namespace)
        lease = LeaseOptions(identity, args.lease_duration)
        options = Options(concurrency=args.concurrency)
        work: Coroutine[Any, Any, SummaryEvent | PruneResult | int]
        if args.wait_rollout:
            work = wait_rollout(conn.api, conn.namespace, args.release, args.wait_rollout, timeout=args.timeout,
                                emit=emit)
        elif args.teardown:
            work = uninstall(conn.api, conn.namespace, args.release, concurrency=args.concurrency, lease=lease, emit=emit)
        elif args.watch:
            work = watch(conn.api, conn.namespace, args.release, options=options, lease=lease, emit=emit, health=health)
        else:
            work = rollout(conn.api, conn.namespace, args.release, options=options, lease=lease, emit=emit)
        task: asyncio.Future[SummaryEvent | PruneResult | int] = asyncio.ensure_future(work)
        loop = asyncio.get_running_loop()

        def stop(sig: signal.Signals) -> None:
            stopped_by.append(sig)
            task.cancel()

        for sig in (signal.SIGTERM, signal.SIGINT):  # the pod deleted, ^C: stop, give the Lease up
            loop.add_signal_handler(sig, stop, sig)
        try:
            return await task
        except asyncio.CancelledError:
            if not stopped_by:
                raise
            emit(json_line(release=args.release, msg=f"stopped by {stopped_by[0].name}: the Lease is given up"))
            return None

    stopped_by: list[signal.Signals] = []
    health = Health()
    server: HealthServer | None = None
    try:
        if args.health_port is not None:
            try:
                server = HealthServer(health, args.health_address, args.health_port).start()
            except OSError as exc:
                print(f"Error: cannot serve the health endpoints on {args.health_address}:{args.health_port}: "
                      f"{exc.strerror or exc}", file=sys.stderr)
                return 2
            emit(json_line(release=args.release, msg="health endpoints served", address=args.health_address,
                           port=server.port))
        with json_logging(emit, args.release):
            summary = asyncio.run(run())
        if summary is None:
            return 128 + int(stopped_by[0])
        if isinstance(summary, int):
            return summary
    except UserError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    except LeaseLost as exc:
        print(f"Error: {exc}; stopped: the controller that holds it now carries on", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.close()
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
