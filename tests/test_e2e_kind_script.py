"""scripts/e2e-kind.sh (issue 11 point 7): the real-cluster end-to-end script cannot run here (no
container engine, no kind); what can be checked is: it parses, it skips cleanly (77) without its
tools, and its order check (the Python it runs on the Definitions' statuses) passes a good order
and fails a wrong one."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

SCRIPT = ROOT / "scripts" / "e2e-kind.sh"


def test_the_script_parses_and_skips_without_its_tools(tmp_path):
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False).returncode == 0
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for tool in ("python3", "bash", "dirname", "mktemp", "grep"):
        found = shutil.which(tool)
        if found:
            (bin_ / tool).symlink_to(found)
    p = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PATH": str(bin_), "PYTHONPATH": str(ROOT)})
    assert p.returncode == 77 and "skipped: docker is not installed" in p.stderr


def _check(tmp_path: Path, statuses: dict[str, dict[str, str]]) -> subprocess.CompletedProcess[str]:
    code = re.search(r"<<'PY'\n(.*?)\nPY\n", SCRIPT.read_text(), re.S)
    assert code is not None
    path = tmp_path / "defs.json"
    path.write_text(json.dumps({"items": [{"metadata": {"name": n}, "status": s} for n, s in statuses.items()]}))
    return subprocess.run([sys.executable, "-", "wp", str(path)], input=code.group(1), capture_output=True, text=True,
                          timeout=60)


def test_the_order_check_passes_mariadb_before_wordpress_and_fails_otherwise(tmp_path):
    good = {"statefulset-wp-mariadb": {"phase": "Ready", "startedAt": "2026-01-01T00:00:00Z",
                                       "finishedAt": "2026-01-01T00:00:30Z"},
            "deployment-wp-wordpress": {"phase": "Ready", "startedAt": "2026-01-01T00:00:31Z",
                                        "finishedAt": "2026-01-01T00:00:50Z"}}
    ok = _check(tmp_path, good)
    assert ok.returncode == 0 and "2 Definitions Ready" in ok.stdout
    early = json.loads(json.dumps(good))
    early["deployment-wp-wordpress"]["startedAt"] = "2026-01-01T00:00:10Z"
    bad = _check(tmp_path, early)
    assert bad.returncode == 1 and "before MariaDB was ready" in bad.stderr
    pending = json.loads(json.dumps(good))
    pending["deployment-wp-wordpress"]["phase"] = "WaitingReady"
    assert "not Ready: ['deployment-wp-wordpress']" in _check(tmp_path, pending).stderr
