#!/usr/bin/env python3
"""Build a wheelhouse of helm-ac's dependencies (and of the build backend) outside the repository.

The plugin tests run `helm plugin install`, whose install hook creates a
virtual environment and pip-installs helm-ac into it.  With
``PIP_NO_INDEX=1 PIP_FIND_LINKS=<wheelhouse>`` that install is offline and
fast.  Prints the wheelhouse path.  Cached in ``<cache>/wheelhouse``; rebuilt
when pyproject.toml's dependencies change.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from get_helm import cache_root  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def build(quiet: bool = True) -> Path:
    """Fill the wheelhouse if needed and return its path."""
    pyproject = (ROOT / "pyproject.toml").read_bytes()
    digest = hashlib.sha256(pyproject).hexdigest()[:16]
    house = cache_root() / "wheelhouse"
    stamp = house / f".built-{digest}"
    if stamp.exists():
        return house
    house.mkdir(parents=True, exist_ok=True)
    q = ["-q"] if quiet else []
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", *q, "-w", str(house), str(ROOT)], check=True, stdout=sys.stderr)
    subprocess.run([*pip, "download", *q, "-d", str(house), "setuptools>=61", "wheel"], check=True, stdout=sys.stderr)
    for old in house.glob("helm_ac-*.whl"):
        old.unlink()  # the project itself is always installed from source
    for old in house.glob(".built-*"):
        old.unlink()
    stamp.touch()
    return house


if __name__ == "__main__":
    print(build(quiet="-v" not in sys.argv))
