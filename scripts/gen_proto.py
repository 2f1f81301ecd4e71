#!/usr/bin/env python3
"""Generate the Python protobuf modules of Kubernetes' own ``.proto`` files, and (for maintainers)
vendor those files from Kubernetes' repositories.

Usage::

    python3 scripts/gen_proto.py                 # helm_ac/apiserver/proto/**/*.proto -> helm_ac/apiserver/pb/
    python3 scripts/gen_proto.py --out DIR       # the same into DIR (tests compare it with pb/)
    python3 scripts/gen_proto.py --vendor TAG API.git APIMACHINERY.git APIEXTENSIONS.git
        # copy the .proto files of tag TAG (kubernetes-1.3x.y) from clones of github.com/kubernetes/
        # api, apimachinery and apiextensions-apiserver into helm_ac/apiserver/proto/, and write
        # proto/gotags.json from their Go struct tags; then generate.

Generation runs ``grpc_tools.protoc --python_out`` (grpcio-tools, a test extra) on the vendored
files. The files are vendored under their import paths (``k8s.io/api/core/v1/generated.proto``), so
protoc resolves their imports unchanged; but ``k8s.io`` (and ``apiextensions-apiserver``) cannot be
Python package names, so protoc's output ``k8s/io/<path>/generated_pb2.py`` is moved to
``helm_ac/apiserver/pb/<path with - as _>/generated_pb2.py`` and each generated
``from k8s.io.<path> import generated_pb2`` line is rewritten to the new package. That is the only
change: the message definitions are untouched. Empty ``__init__.py`` files make the folders packages.

``gotags.json`` records what the ``.proto`` files cannot say but Kubernetes' JSON needs, from the Go
structs the ``.proto`` files were generated from: per message, the fields embedded with
``json:",inline"``, the fields whose JSON name differs from the proto name, and the scalar fields
whose zero value is still written in JSON (Go pointers, or no ``omitempty``).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "helm_ac" / "apiserver" / "proto"
PB = ROOT / "helm_ac" / "apiserver" / "pb"
PB_PACKAGE = "helm_ac.apiserver.pb"

#: (repository clone, folder in it, import prefix) of each vendored tree; ``api``'s GA versions only.
APIMACHINERY = ("pkg/apis/meta/v1", "pkg/runtime", "pkg/runtime/schema", "pkg/api/resource",
                "pkg/util/intstr")
APIEXTENSIONS = ("pkg/apis/apiextensions/v1",)
GA = re.compile(r"^[a-z0-9]+/v[0-9]+$")


def _git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True).stdout


def vendor(tag: str, api: str, apimachinery: str, apiextensions: str) -> None:
    """Copy the .proto files of ``tag`` and derive gotags.json from the Go types beside them."""
    trees: list[tuple[str, str, list[str]]] = []  # (repo, import prefix, folders)
    api_dirs = sorted(p.rpartition("/")[0] for p in _git(api, "ls-tree", "-r", "--name-only", tag).split()
                      if p.endswith("/generated.proto") and GA.match(p.rpartition("/")[0]))
    trees.append((api, "k8s.io/api", api_dirs))
    trees.append((apimachinery, "k8s.io/apimachinery", list(APIMACHINERY)))
    trees.append((apiextensions, "k8s.io/apiextensions-apiserver", list(APIEXTENSIONS)))
    if PROTO.exists():
        shutil.rmtree(PROTO / "k8s.io", ignore_errors=True)
    tags: dict[str, dict[str, object]] = {}
    for repo, prefix, dirs in trees:
        for d in dirs:
            text = _git(repo, "show", f"{tag}:{d}/generated.proto")
            dest = PROTO / prefix / d / "generated.proto"
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text)
            package = re.search(r"^package ([\w.]+);", text, re.M)
            assert package, dest
            go_files = [p for p in _git(repo, "ls-tree", "--name-only", f"{tag}:{d}").split()
                        if p.endswith(".go") and not p.endswith("_test.go") and not p.startswith("zz_")]
            for f in go_files:
                _go_tags(_git(repo, "show", f"{tag}:{d}/{f}"), package.group(1), tags)
    (PROTO / "gotags.json").write_text(json.dumps(dict(sorted(tags.items())), indent=1, sort_keys=True) + "\n")
    (PROTO / "SOURCE").write_text(f"{tag}\n")


_STRUCT = re.compile(r"^type (\w+) struct \{")
_FIELD = re.compile(r"^\s+(?:(\w+)\s+)?(\S+)\s+`([^`]*)`")


def _go_tags(source: str, package: str, out: dict[str, dict[str, object]]) -> None:
    """Record inline, renamed and zero-keeping fields of each struct that has protobuf tags."""
    struct = None
    for line in source.splitlines():
        m = _STRUCT.match(line)
        if m:
            struct = m.group(1)
            continue
        if line.startswith("}"):
            struct = None
            continue
        f = _FIELD.match(line) if struct else None
        if not f or "protobuf:" not in f.group(3):
            continue
        gotype, tag = f.group(2), f.group(3)
        proto = re.search(r'protobuf:"[^"]*name=(\w+)', tag)
        js = re.search(r'json:"([^"]*)"', tag)
        if not proto or not js:
            continue
        name = proto.group(1)
        json_name, _, opts = js.group(1).partition(",")
        entry = out.setdefault(f"{package}.{struct}", {})
        if json_name == "" and "inline" in opts.split(","):
            entry.setdefault("inline", []).append(name)  # type: ignore[union-attr]
            continue
        if json_name and json_name != name:
            entry.setdefault("renamed", {})[name] = json_name  # type: ignore[index]
        # only scalar proto fields consult this (the decoder knows which are scalar)
        single = not gotype.startswith(("[]", "map["))
        if single and (gotype.startswith("*") or "omitempty" not in opts.split(",")):
            entry.setdefault("keep_zero", []).append(name)  # type: ignore[union-attr]
    for key in [k for k, v in out.items() if not v]:
        del out[key]


def generate(out: Path) -> list[Path]:
    """Run protoc on every vendored file; write the pb2 modules (and __init__.py files) into ``out``."""
    from grpc_tools import protoc  # the test extra; only needed to generate

    protos = sorted(p.relative_to(PROTO).as_posix() for p in PROTO.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        rc = protoc.main(["grpc_tools.protoc", f"-I{PROTO}", f"--python_out={tmp}", *protos])
        if rc != 0:
            raise SystemExit(f"protoc failed ({rc})")
        if out.exists():
            shutil.rmtree(out)
        written = []
        for src in sorted(Path(tmp, "k8s", "io").rglob("*_pb2.py")):
            rel = src.relative_to(Path(tmp, "k8s", "io"))
            dest = out / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            text = re.sub(r"^from k8s\.io\.([\w.]+) import", lambda m: f"from {PB_PACKAGE}.{m.group(1)} import",
                          src.read_text(), flags=re.M)
            dest.write_text(text)
            written.append(dest)
    for d in sorted({p.parent for p in written} | {out}):
        while True:
            (d / "__init__.py").touch()
            if d == out:
                break
            d = d.parent
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=PB, help="where the pb2 package goes (default: %(default)s)")
    ap.add_argument("--vendor", nargs=4, metavar=("TAG", "API", "APIMACHINERY", "APIEXTENSIONS"),
                    help="re-vendor the .proto files from git clones at TAG first")
    args = ap.parse_args(argv)
    if args.vendor:
        vendor(*args.vendor)
    written = generate(args.out)
    print(f"{len(written)} modules in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
