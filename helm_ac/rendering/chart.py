"""Read a chart's tree of Chart.yaml files (directories and packaged .tgz), without running anything.

Helm, not us, decides what renders; we read the chart metadata only for what
the rendered output cannot tell: the chart-level annotations of the
extension, each dependency's alias / condition / tags, library charts, and
where a template file lives (for file names and line numbers in findings).

Subcharts are matched the way Helm does it: every chart under ``charts/``
(directory or ``.tgz``) is included; a ``dependencies`` entry (``requirements.yaml``
for apiVersion v1 charts) matching it by name adds its alias, condition and
tags, and one entry per alias makes one copy.
"""
from __future__ import annotations

import bisect
import functools
import io
import itertools
import os
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import yaml

from helm_ac.errors import ChartError
from helm_ac.rendering import yamlio

MAX_TGZ_BYTES = 64 * 1024 * 1024  # Helm's own limit for chart archives is in this range


class _Files:
    """Read-only view of one chart's files, from a directory or from an archive."""

    def __init__(self, root: Path | None = None, members: dict[str, bytes] | None = None,
                 prefix: str = "", origin: str = "") -> None:
        self.root, self.members, self.prefix, self.origin = root, members, prefix, origin

    def read(self, rel: str) -> bytes | None:
        if self.root is not None:
            p = self.root / rel
            return p.read_bytes() if p.is_file() else None
        assert self.members is not None
        return self.members.get(self.prefix + rel)

    def crds(self) -> tuple[str, ...]:
        """The chart's ``crds/`` files as Helm reads them (``.yaml``, ``.yml``, ``.json``), chart-relative."""
        ext = (".yaml", ".yml", ".json")
        if self.root is not None:
            d = self.root / "crds"
            return tuple(sorted(p.relative_to(self.root).as_posix() for p in d.rglob("*")
                                if p.is_file() and p.name.endswith(ext))) if d.is_dir() else ()
        assert self.members is not None
        base = self.prefix + "crds/"
        return tuple(sorted(n[len(self.prefix):] for n in self.members if n.startswith(base) and n.endswith(ext)))

    def subcharts(self) -> list["_Files"]:
        """Children under charts/: directories and .tgz archives."""
        out: list[_Files] = []
        if self.root is not None:
            cdir = self.root / "charts"
            if cdir.is_dir():
                for p in sorted(cdir.iterdir()):
                    if p.is_dir() and (p / "Chart.yaml").is_file():
                        out.append(_Files(root=p, origin=str(p)))
                    elif p.is_file() and p.name.endswith((".tgz", ".tar.gz")):
                        out.append(_from_archive(p.read_bytes(), str(p)))
            return out
        assert self.members is not None
        base = self.prefix + "charts/"
        seen: set[str] = set()
        for name in sorted(self.members):
            if not name.startswith(base):
                continue
            rest = name[len(base):]
            first = rest.split("/", 1)[0]
            if "/" in rest and first not in seen and (base + first + "/Chart.yaml") in self.members:
                seen.add(first)
                out.append(_Files(members=self.members, prefix=base + first + "/", origin=f"{self.origin}:{first}"))
            elif "/" not in rest and rest.endswith((".tgz", ".tar.gz")):
                out.append(_from_archive(self.members[name], f"{self.origin}:{rest}"))
        return out


def _member_path(name: str) -> str:
    """An archive member's path without a leading ``./`` or ``/`` (``./app/Chart.yaml`` -> ``app/Chart.yaml``);
    other leading dots are part of the name (``.hidden/``, ``..app/``)."""
    while name.startswith(("./", "/")):
        name = name[2:] if name.startswith("./") else name[1:]
    return name


def _from_archive(data: bytes, origin: str) -> _Files:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            members: dict[str, bytes] = {}
            total = 0
            for m in tar.getmembers():
                if not m.isfile():
                    continue
                total += m.size
                if total > MAX_TGZ_BYTES:
                    raise ChartError(f"{origin}: chart archive expands past {MAX_TGZ_BYTES // 2**20} MiB")
                f = tar.extractfile(m)
                if f is not None:
                    members[_member_path(m.name)] = f.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ChartError(f"{origin}: not a readable chart archive ({exc})") from None
    tops = {n.split("/", 1)[0] for n in members if n.endswith("/Chart.yaml") and n.count("/") == 1}
    if len(tops) != 1:
        raise ChartError(f"{origin}: chart archive must hold exactly one chart directory with a Chart.yaml")
    return _Files(members=members, prefix=tops.pop() + "/", origin=origin)


@dataclass
class Dependency:
    """One ``dependencies:`` entry of a Chart.yaml."""

    name: str
    alias: str | None = None
    condition: str | None = None
    tags: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()  # HIP-0025 draft: sibling subcharts this one waits for

    @property
    def effective_name(self) -> str:
        return self.alias or self.name


@dataclass
class Chart:
    """A chart node of the tree; ``path`` is the chain of names/aliases as Helm prints them."""

    name: str
    path: tuple[str, ...]
    chart_type: str = "application"
    annotations: dict[str, Any] = field(default_factory=dict)
    dependency: Dependency | None = None  # how the parent declared it
    subcharts: dict[str, "Chart"] = field(default_factory=dict)
    directory: Path | None = None  # on disk, when it is a plain directory
    origin: str = ""  # where it came from (for messages)
    dependencies: list[Dependency] = field(default_factory=list)
    crd_files: tuple[str, ...] = ()  # crds/x.yaml, ...: Helm installs them before the templates, never templated
    files: _Files | None = field(default=None, repr=False, compare=False)

    @property
    def is_library(self) -> bool:
        return self.chart_type == "library"

    def walk(self) -> list["Chart"]:
        """This chart and all subcharts, depth first, deterministic."""
        out = [self]
        for name in sorted(self.subcharts):
            out.extend(self.subcharts[name].walk())
        return out

    def find(self, path: tuple[str, ...]) -> "Chart | None":
        """The chart at ``path`` (a tuple starting with this chart's name)."""
        if not path or path[0] != self.name:
            return None
        node: Chart | None = self
        for part in path[1:]:
            node = node.subcharts.get(part) if node else None
        return node


def _load_yaml(files: _Files, rel: str) -> Any:
    data = files.read(rel)
    if data is None:
        return None
    try:
        return yamlio.load(data.decode("utf-8", errors="replace"))
    except (yaml.YAMLError, yamlio.AliasBomb) as exc:
        raise ChartError(f"{files.origin}/{rel}: invalid YAML: {' '.join(str(exc).split())}") from None


def _parse_deps(raw: Any, where: str) -> list[Dependency]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ChartError(f"{where}: dependencies must be a list")
    deps = []
    for item in raw:
        if not isinstance(item, dict) or not item.get("name"):
            raise ChartError(f"{where}: every dependency needs a name")
        tags = item.get("tags") or []
        after = item.get("depends-on") or []
        deps.append(Dependency(str(item["name"]), str(item["alias"]) if item.get("alias") else None,
                               str(item["condition"]) if item.get("condition") else None,
                               tuple(str(t) for t in tags) if isinstance(tags, list) else (),
                               tuple(str(t) for t in after) if isinstance(after, list) else ()))
    return deps


def _load(files: _Files, path_prefix: tuple[str, ...], dep: Dependency | None) -> Chart:
    meta = _load_yaml(files, "Chart.yaml")
    if not isinstance(meta, dict) or not meta.get("name"):
        raise ChartError(f"{files.origin}: Chart.yaml is missing or has no name")
    name = str(meta["name"])
    shown = dep.effective_name if dep else name
    deps = _parse_deps(meta.get("dependencies"), f"{files.origin}/Chart.yaml")
    if str(meta.get("apiVersion", "v2")) == "v1":
        req = _load_yaml(files, "requirements.yaml")
        if isinstance(req, dict):
            deps = _parse_deps(req.get("dependencies"), f"{files.origin}/requirements.yaml")
    annotations = a if isinstance(a := meta.get("annotations"), dict) else {}
    chart = Chart(name=shown, path=path_prefix + (shown,), chart_type=str(meta.get("type") or "application"),
                  annotations=dict(annotations), dependency=dep, directory=files.root, origin=files.origin,
                  dependencies=deps, crd_files=files.crds(),
                  files=files)
    for sub in files.subcharts():
        sub_meta = _load_yaml(sub, "Chart.yaml")
        sub_name = str(sub_meta.get("name")) if isinstance(sub_meta, dict) and sub_meta.get("name") else None
        if sub_name is None:
            raise ChartError(f"{sub.origin}: Chart.yaml is missing or has no name")
        declared: list[Dependency | None] = [d for d in deps if d.name == sub_name] or [None]
        for d in declared:
            child = _load(sub, chart.path, d)
            chart.subcharts[child.name] = child
    return chart


def load_chart(location: str | Path) -> Chart:
    """Load a chart from a directory or a packaged ``.tgz``; raise :class:`ChartError`."""
    p = Path(location)
    if p.is_dir():
        if not (p / "Chart.yaml").is_file():
            raise ChartError(f"{location}: not a chart directory (no Chart.yaml)",
                             hint="point helm ac at a directory containing Chart.yaml, or at a packaged .tgz")
        return _load(_Files(root=p, origin=str(location)), (), None)
    if p.is_file():
        return _load(_from_archive(p.read_bytes(), str(location)), (), None)
    raise ChartError(f"{location}: no such chart directory or archive")


def crd_file(chart: Chart, name: str) -> str | None:
    """The file of ``chart``'s ``crds/`` that defines the CustomResourceDefinition ``name`` (read as text:
    a ``name:`` line with that value; CRD files can be large and only this line is needed)."""
    if not chart.crd_files or chart.files is None:
        return None
    line = re.compile(r"^[ \t]*name:[ \t]*[\"']?" + re.escape(name) + r"[\"']?[ \t]*(?:#.*)?$", re.MULTILINE)
    for rel in chart.crd_files:
        data = chart.files.read(rel)
        if data is not None and line.search(data.decode("utf-8", errors="replace")):
            return rel
    return None


def find_line(chart: Chart, template: str, needle: str) -> int | None:
    """1-based line of ``template`` where ``needle`` appears as a whole token outside a comment.

    Best effort, for directory charts only: templates are not YAML until rendered, so we search text.
    A token ends where a name cannot continue (``deployment/web`` does not match ``deployment/web-api``);
    lines that are YAML (``#``) or template (``{{/* */}}``) comments are skipped.  Each file is read
    once (:func:`_code`) and each answer kept: lint asks again for every finding.
    """
    return line_finder(chart, template)(needle)


def line_finder(chart: Chart, template: str) -> "Callable[[str], int | None]":
    """:func:`find_line` for one file: ``needle -> line`` (the path resolved and the file checked once)."""
    if chart.directory is None:
        return lambda needle: None
    path = str(chart.directory / PurePosixPath(template))
    try:
        st = os.stat(path)
    except OSError:
        return lambda needle: None
    stamp = (st.st_mtime_ns, st.st_size)
    return lambda needle: _find_line(path, stamp, needle) if needle else None


_TOKEN_CONTINUES = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


@functools.lru_cache(maxsize=100_000)
def _find_line(path: str, stamp: tuple[int, int], needle: str) -> int | None:
    code = _code(path, stamp)
    if code is None:
        return None
    text, starts, runs = code
    last = _LAST_RUN.search(needle)
    if last is not None and last.start() > 0 and last.group() not in runs:
        return None  # the needle's last name ends a match, whole: it is not in the file (no scan of the text)
    at = text.find(needle)
    while at != -1:
        end = at + len(needle)
        if end == len(text) or text[end] not in _TOKEN_CONTINUES:
            return bisect.bisect_right(starts, at)
        at = text.find(needle, at + 1)
    return None


_RUN = re.compile(r"[A-Za-z0-9_.-]+")  # a name: the characters _TOKEN_CONTINUES
_LAST_RUN = re.compile(r"[A-Za-z0-9_.-]+\Z")


@functools.lru_cache(maxsize=256)
def _code(path: str, stamp: tuple[int, int]) -> tuple[str, list[int], frozenset[str]] | None:
    """A file's text (``stamp``: its modification time and size, so that a changed file is read again)
    with comments blanked (a line of each stays, so offsets map to lines), the offset where each line
    starts, and every name in it (maximal runs of name characters); None when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().split("\n")
    except OSError:
        return None
    # a line with neither '#' nor '/*' has no comment (a file of 10,000 references: 10 ms -> 3 ms)
    code = [line if "#" not in line and "/*" not in line else _uncommented(line) for line in lines]
    starts = [0, *itertools.accumulate(len(c) + 1 for c in code)]
    starts.pop()
    text = "\n".join(code)
    # the runs of name characters: in ASCII text, what is left between the others (2 ms for 400 kB, findall 5 ms)
    runs = text.translate(_NOT_RUN).split() if text.isascii() else _RUN.findall(text)
    return text, starts, frozenset(runs)


def _uncommented(line: str) -> str:
    """A template line without its comment: a YAML comment line or a ``{{/* */}}`` line is blanked,
    a comment after `` #`` cut off."""
    c = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
    if c.lstrip().startswith("{{/*") or c.lstrip().startswith("{{- /*"):
        c = ""
    return c


#: str.translate table: every ASCII character that cannot be part of a name becomes a space
_NOT_RUN = {i: " " for i in range(128) if chr(i) not in _TOKEN_CONTINUES}
