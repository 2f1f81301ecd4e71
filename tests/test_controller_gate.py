"""The gate (controller/gate.py, docs/hooks.md): `--wait-rollout DIGEST` completes once the
release's graph of that digest has rolled out, fails when it failed, and does not take another
graph's rollout for its own; on the embedded server with the controller."""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from controllerkit import CHAIN, cmap, embedded, emitted

from helm_ac.controller.gate import wait_rollout
from helm_ac.kube.config import connect


class Waiter(threading.Thread):
    def __init__(self, kubeconfig: str, digest: str, timeout: float) -> None:
        super().__init__(daemon=True)
        self.kubeconfig, self.digest, self.timeout = kubeconfig, digest, timeout
        self.lines: list[str] = []
        self.code: int | None = None
        self.ended = 0.0

    def run(self) -> None:
        api = connect(kubeconfig=self.kubeconfig, env={}).api
        self.code = asyncio.run(wait_rollout(api, "default", "r", self.digest, timeout=self.timeout,
                                             emit=self.lines.append))
        self.ended = time.time()


def _digest(docs: list[dict[str, Any]]) -> str:
    return next(d for d in docs if d["kind"] == "ReleaseGraph")["spec"]["digest"]


def test_the_gate_opens_once_the_graph_of_its_digest_is_ready(tmp_path, capsys):
    docs = emitted("r", CHAIN)
    with embedded(tmp_path) as server:
        server.create(docs)
        waiter = Waiter(str(server.srv.kubeconfig), _digest(docs), 60)
        waiter.start()
        time.sleep(1.0)
        assert waiter.is_alive()  # nothing ready yet: the gate stays shut
        code, _ = server.run("r", capsys)
        assert code == 0
        waiter.join(30)
        last_apply = max(t.timestamp() for t in server.first_applies("configmaps").values())
    assert waiter.code == 0, waiter.lines
    assert waiter.ended >= last_apply and "4 objects ready" in waiter.lines[-1]


def test_the_gate_fails_with_the_rollout_naming_what_failed(tmp_path, capsys):
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"}, "data": {"k": {"not": "a string"}}}
    docs = emitted("r", [bad, cmap("a", "configmap/bad"), cmap("free")])
    with embedded(tmp_path) as server:
        server.create(docs)
        code, _ = server.run("r", capsys)
        assert code == 1
        waiter = Waiter(str(server.srv.kubeconfig), _digest(docs), 30)
        waiter.run()
    assert waiter.code == 1
    assert any(line.startswith("configmap/bad failed:") and "blocked because of it: configmap/a" in line
               for line in waiter.lines), waiter.lines


def test_the_gate_of_another_graph_stays_shut(tmp_path, capsys):
    docs = emitted("r", CHAIN)
    with embedded(tmp_path) as server:
        server.create(docs)
        code, _ = server.run("r", capsys)
        assert code == 0
        waiter = Waiter(str(server.srv.kubeconfig), "0" * 63 + "1", 1.5)  # an upgrade's graph, not applied yet
        waiter.run()
    assert waiter.code == 1 and "not 000000000000" in waiter.lines[0]


def test_a_timeout_of_zero_negative_or_nan_seconds_is_a_usage_error(capsys):
    import pytest

    from helm_ac.controller import __main__ as entry

    for bad in ("0", "-5", "nan"):
        with pytest.raises(SystemExit) as exc:
            entry.main(["--release", "r", "--wait-rollout", "0" * 64, "--timeout", bad])
        assert exc.value.code == 2
        assert "--timeout must be a number of seconds above 0" in capsys.readouterr().err
