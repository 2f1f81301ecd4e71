"""``helm ac cluster`` as a user runs it: a foreground process that says where its kubeconfig is,
serves until SIGTERM or Ctrl-C and stops cleanly; bad flags are one clear error, no traceback."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import urllib3
import yaml

ROOT = Path(__file__).resolve().parents[2]


def start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "helm_ac", "cluster", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_foreground_serves_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    kc = tmp_path / "kc"
    p = start("--kubeconfig", str(kc), "--no-tls", "--audit-log", str(tmp_path / "audit.jsonl"))
    try:
        assert p.stdout is not None
        lines = [p.stdout.readline() for _ in range(3)]
        assert lines[0].startswith("Kubernetes API server (helm-ac) listening on http://127.0.0.1:")
        assert lines[1] == f"kubeconfig: {kc}\n" and lines[2] == f"  export KUBECONFIG={kc}\n"
        conf = yaml.safe_load(kc.read_text())
        server, token = conf["clusters"][0]["cluster"]["server"], conf["users"][0]["user"]["token"]
        r = urllib3.request("GET", server + "/api/v1/namespaces", headers={"Authorization": f"Bearer {token}"})
        assert r.status == 200 and r.json()["kind"] == "NamespaceList"
    finally:
        p.send_signal(sig)
        out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert "Traceback" not in err
    assert '"resource":"namespaces"' in (tmp_path / "audit.jsonl").read_text()


@pytest.mark.parametrize("args, message", [
    (["--port", "70000"], "--port 70000: not a TCP port"),
    (["--behaviour", "/nonexistent.yaml"], "--behaviour /nonexistent.yaml: no such file"),
    (["--fault", "error=418"], "error=418"),
    (["--host", "0.0.0.0"], "'0.0.0.0' is not one of '127.0.0.1', '::1'"),
    (["--rule", "Deployment=5"], "--rule 'Deployment=5': expected KIND[/NAMESPACE]/NAME=SECONDS|fail|never"),
    (["--nodes", "0"], "--nodes must be at least 1, got 0"),
])
def test_bad_flags_are_clear_errors(args: list[str], message: str) -> None:
    p = start(*args)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2, err
    assert message in err and "Traceback" not in err


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = start("--port", str(port), "--kubeconfig", str(tmp_path / "kc"))
        out, err = p.communicate(timeout=60)
    assert p.returncode == 2
    assert f"cannot start the API server on 127.0.0.1:{port}" in err and "address already in use" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("flag", ["--kubeconfig", "--audit-log", "--readiness-log"])
def test_unwritable_file_flags_name_the_flag(tmp_path: Path, flag: str) -> None:
    """A file the server cannot write was reported as 'cannot start the API server ... Pick another
    --port'; it names the flag and the file instead, before anything starts."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    target = blocker / "out"  # a path under a regular file: no directory can be made there
    args = [flag, str(target)] + ([] if flag == "--kubeconfig" else ["--kubeconfig", str(tmp_path / "kc")])
    p = start(*args)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2, err
    assert f"{flag} {target}: cannot write the file" in err, err
    assert "--port" not in err and "Traceback" not in err
    assert not (tmp_path / "kc").exists()  # nothing started, no kubeconfig written


def test_nodes_and_rules_reach_the_controllers(tmp_path: Path) -> None:
    """docs/cluster-behaviour.md promised --nodes and --rule on top of the behaviour file; the command
    had neither (click: 'No such option')."""
    import asyncio

    from helm_ac.actions.cluster import Cluster
    from helm_ac.apiserver.server import ApiServer

    (tmp_path / "b.yaml").write_text("rules:\n  - {kind: Job, name: migrate, seconds: 9}\n")
    options = Cluster(behaviour=tmp_path / "b.yaml", nodes=3, rules=["Job/test/migrate=fail"]).options()
    server, loop = ApiServer(options), asyncio.new_event_loop()
    try:
        server.build(loop)
        b = server.controllers.behaviour
        assert server.controllers.nodes == ["sim-node-1", "sim-node-2", "sim-node-3"]
        assert [(r.kind, r.namespace, r.name, r.fail, r.seconds) for r in b.rules] == [
            ("Job", "test", "migrate", True, None), ("Job", "*", "migrate", False, 9.0)]
    finally:
        loop.run_until_complete(server.stop())
        loop.close()
    p = start("--nodes", "2", "--rule", "Job/test/migrate=fail", "--kubeconfig", str(tmp_path / "kc"),
              "--no-tls")
    try:
        assert p.stdout is not None and p.stdout.readline().startswith("Kubernetes API server")
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    assert p.returncode == 0 and "Traceback" not in err, err


def test_a_behaviour_file_that_is_not_text_is_a_clear_error(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 were an internal error (exit 3, UnicodeDecodeError)."""
    bad = tmp_path / "b.yaml"
    bad.write_bytes(b"seed: \xd5\xff\x00\n")
    p = start("--behaviour", str(bad), "--kubeconfig", str(tmp_path / "kc"))
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2, err
    assert f"{bad}: not UTF-8 text" in err and "internal error" not in err and "Traceback" not in err


def test_a_failure_after_the_start_is_not_called_a_busy_port(tmp_path: Path) -> None:
    """Every OSError of the whole run (a log that cannot be written any more, ...) was reported as
    'cannot start the API server ... Pick another --port'; only the start's are."""
    from helm_ac.actions.cluster import Cluster
    from helm_ac.errors import UserError

    def ready(server: object, path: Path) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError) as info:
        Cluster(kubeconfig=tmp_path / "kc", tls=False).run(ready)
    assert not isinstance(info.value, UserError) and info.value.strerror == "No space left on device"
