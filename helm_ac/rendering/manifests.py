"""Split `helm template` output into objects, pure (no I/O).

Helm prints every rendered document as ``---`` + ``# Source: <chart>/<path>``
+ YAML.  For each document we keep the source path, the chart it came from
(``wordpress/charts/mariadb/templates/x.yaml`` -> ``("wordpress", "mariadb")``,
aliases included, as Helm prints them) and the path inside that chart.
Empty documents are dropped, ``List`` kinds are expanded, hook objects
(``helm.sh/hook``) are marked so that callers keep them aside.  Documents that
cannot be parsed or are not Kubernetes objects become :class:`Problem` s, so a
linter can report them with their file instead of aborting.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

import yaml

from helm_ac import kinds
from helm_ac.kinds import ObjectKey
from helm_ac.rendering import fasthead, yamlio

HOOK_ANNOTATION = "helm.sh/hook"
# A "---" line (with an optional comment), found from the newline before it: a literal prefix
# the regex engine searches fast, where "^---" with MULTILINE would be tried at every position.
_DOC_SPLIT = re.compile(r"\n---[ \t]*(?:#[^\n]*)?(?=\n|\Z)")
_SOURCE = re.compile(r"^# Source: (.+?)\s*$", re.MULTILINE)
_CONTENT = re.compile(r"^[ \t]*[^#\s]", re.MULTILINE)


@dataclass
class RenderedObject:
    """One rendered Kubernetes object and where it came from.

    ``head`` holds ``apiVersion``, ``kind`` and ``metadata``, which is all that
    ordering needs; the whole object (``body``) is parsed only when asked for.
    """

    head: dict[str, Any]
    source: str  # as printed by helm: "<chart>/charts/<sub>/templates/x.yaml"
    chart: tuple[str, ...]  # ("wordpress", "mariadb")
    template: str  # path inside its own chart: "templates/x.yaml"
    index: int  # position in helm's output (0-based, counting objects)
    text: str | None = None  # the document's YAML, when the body is not parsed yet
    key: ObjectKey = field(init=False)
    #: ``metadata.annotations`` (empty when missing or not a mapping); read many times, so kept.
    annotations: dict[str, Any] = field(init=False, repr=False)
    _body: dict[str, Any] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        meta = self.head.get("metadata") or {}
        ns = meta.get("namespace")
        self.key = ObjectKey(kinds.group_of(str(self.head.get("apiVersion", ""))), str(self.head.get("kind", "")),
                             str(ns) if ns else None, str(meta.get("name", "")))
        ann = meta.get("annotations") if isinstance(meta, dict) else None
        self.annotations = ann if isinstance(ann, dict) else {}
        if self.text is None:
            self._body = self.head

    @property
    def body(self) -> dict[str, Any]:
        """The whole object (parsed on first use)."""
        if self._body is None:
            assert self.text is not None
            doc = yamlio.load(self.text)
            self._body = doc if isinstance(doc, dict) else self.head
        return self._body

    @property
    def hooks(self) -> tuple[str, ...]:
        """Helm hook events of this object; empty for regular objects."""
        value = self.annotations.get(HOOK_ANNOTATION)
        if value is None:
            return ()
        return tuple(h.strip() for h in str(value).split(",") if h.strip())

    @property
    def chart_file(self) -> str:
        """Path relative to the top-level chart: ``charts/mariadb/templates/x.yaml``."""
        return chart_file(self.chart, self.template)


@dataclass(frozen=True)
class Problem:
    """A document that is not a usable object."""

    source: str
    chart: tuple[str, ...]
    template: str
    message: str
    hint: str


def chart_file(chart: tuple[str, ...], file: str) -> str:
    """A file of a (sub)chart, relative to the top-level chart: (("wp", "mariadb"), "Chart.yaml") ->
    ``charts/mariadb/Chart.yaml``."""
    return "/".join([p for sub in chart[1:] for p in ("charts", sub)] + [file])


def parse_source(source: str) -> tuple[tuple[str, ...], str]:
    """``c/charts/a/charts/b/templates/x.yaml`` -> (("c", "a", "b"), "templates/x.yaml")."""
    parts = source.split("/")
    chart = [parts[0]]
    i = 1
    while i + 1 < len(parts) - 1 and parts[i] == "charts":
        chart.append(parts[i + 1])
        i += 2
    return tuple(chart), "/".join(parts[i:])


def attribute_from(rendered: Rendered, reference: Rendered) -> list[RenderedObject]:
    """Give the objects that came without a ``# Source:`` line (a user's ``--post-renderer`` dropped
    helm's comments) the source of the same object in ``reference``: the same chart rendered
    without the post-renderer.  Objects are matched by API group, kind, namespace and name, else
    by group, kind and name when that names one object of ``reference`` (a post-renderer that sets
    namespaces).  Returns the objects still without a source (renamed or added by the post-renderer).
    """
    exact: dict[ObjectKey, RenderedObject] = {}
    loose: dict[tuple[str, str, str], list[RenderedObject]] = {}
    for o in reference.objects:
        if o.source:
            exact.setdefault(o.key, o)
            loose.setdefault((o.key.group, o.key.kind, o.key.name), []).append(o)
    left = []
    for o in rendered.objects:
        if o.source:
            continue
        match = exact.get(o.key)
        if match is None:
            same = loose.get((o.key.group, o.key.kind, o.key.name), [])
            match = same[0] if len(same) == 1 else None
        if match is None:
            left.append(o)
        else:
            o.source, o.chart, o.template = match.source, match.chart, match.template
    return left


#: the label of helm's chart conventions (``helm create``): ``<chart name>-<chart version>``
CHART_LABEL = "helm.sh/chart"


def chart_label(obj: RenderedObject) -> str | None:
    """The object's ``helm.sh/chart`` label (None when missing, or when the body does not parse: that is
    reported elsewhere).  Labels are not part of the head: the body is parsed for them."""
    try:
        meta = obj.body.get("metadata")
    except (yaml.YAMLError, ValueError, RecursionError):
        return None
    labels = meta.get("labels") if isinstance(meta, dict) else None
    label = labels.get(CHART_LABEL) if isinstance(labels, dict) else None
    return label if isinstance(label, str) else None


def _chunks(text: str) -> Iterator[str]:
    """The text between "---" lines (the lines themselves dropped, their newlines kept)."""
    start = 0
    for m in _DOC_SPLIT.finditer("\n" + text):
        yield text[start:m.start()]  # m.start() in "\n" + text is where the "---" line starts in text
        start = m.end() - 1
    yield text[start:]


def _documents(text: str) -> Iterator[tuple[str, str]]:
    """Yield (source, yaml text) per document.

    Helm prints a ``# Source:`` line before every document, except inside a file of ``crds/``, which
    it prints whole under one line: the documents after it keep its source.  Any other document
    without one (a post-renderer dropped or added it) has the source "".
    """
    source = ""
    for chunk in _chunks(text):
        line = ""
        if chunk.startswith("\n# Source: "):  # as helm prints it, right after "---"
            end = chunk.find("\n", 11)
            line = chunk[11:end if end != -1 else len(chunk)].rstrip()
        if line:
            source = line
        else:
            m = _SOURCE.search(chunk)
            if m:
                source = m.group(1)
            elif source and not parse_source(source)[1].startswith("crds/"):
                source = ""
        yield source, chunk


@dataclass
class Rendered:
    """The parsed output of one `helm template` run."""

    objects: list[RenderedObject] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def regular(self) -> list[RenderedObject]:
        """Objects that helm-ac orchestrates (everything but hooks)."""
        return [o for o in self.objects if not o.hooks]

    @property
    def hook_objects(self) -> list[RenderedObject]:
        """Hook objects: kept aside and reported, never orchestrated."""
        return [o for o in self.objects if o.hooks]


def _is_list(body: dict[str, Any]) -> bool:
    """``kind: List`` (and typed lists such as ``ConfigMapList``) in the core API group."""
    kind = str(body.get("kind", ""))
    return (kind == "List" or (kind.endswith("List") and body.get("apiVersion") == "v1")) \
        and isinstance(body.get("items"), list)


#: Top-level keys that ordering needs; everything else (spec, data, ...) is parsed lazily.
HEAD_KEYS = frozenset({"apiVersion", "kind", "metadata"})
#: Keys of ``metadata`` that ordering needs (labels, managedFields, ... are left out of the head).
META_KEYS = frozenset({"name", "namespace", "annotations", "generateName"})
_SUB_KEY = re.compile(r"^([ \t]+)([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*:(?:[ \t]|$)")
_TOP_KEY = re.compile(r"^(apiVersion|kind|metadata|items|[A-Za-z_][A-Za-z0-9_.-]*)[ \t]*:(?:[ \t]|$)")


def head_text(doc: str) -> str | None:
    """The lines of ``doc`` under the top-level keys of :data:`HEAD_KEYS`, or None when the
    document is not a plain block mapping we can cut safely (then it is parsed whole).

    Rendered manifests are block mappings whose top-level keys start at column 0;
    a line at column 0 that is not such a key (a list, a flow collection, a document
    marker, a directive, a List's ``items``) sends the document down the full path.
    """
    keep: list[str] = []
    current: str | None = None
    seen_key = False
    meta_indent: str | None = None  # indentation of metadata's keys, once known
    meta_keep = True
    for line in doc.split("\n"):
        if not line or line[0] in " \t#":
            if current == "metadata" and line and line[0] in " \t":
                if meta_indent is None:
                    m = _SUB_KEY.match(line)
                    meta_indent = m.group(1) if m else ""
                rest = line[len(meta_indent):] if meta_indent and line.startswith(meta_indent) else ""
                if rest and rest[0] not in " \t#" and not (rest[0] == "-" and rest[1:2] in ("", " ")):
                    # a new key of metadata (a "- item" at this level continues the previous key)
                    m = _SUB_KEY.match(line)
                    if m is None or m.group(1) != meta_indent:
                        return None  # not a plain key: parse the document whole
                    meta_keep = m.group(2) in META_KEYS
                if meta_keep or not meta_indent:
                    keep.append(line)
            elif current in HEAD_KEYS:
                keep.append(line)
            continue
        m = _TOP_KEY.match(line)
        if m is None or m.group(1) == "items":
            return None
        current = m.group(1)
        seen_key = True
        if current in HEAD_KEYS:
            keep.append(line)
    return "\n".join(keep) if seen_key else None


def _load_documents(chunk: str) -> list[tuple[Any, str | None]]:
    """Parse one chunk into (head or whole document, text to parse the body from later).

    Documents that may hold anchors and aliases are parsed whole, so that the alias-bomb
    bound applies to all of them now rather than whenever the body is first used.
    """
    fast = fasthead.read_head(chunk)
    if fast is not None and fast.get("kind") != "CustomResourceDefinition":
        return [(fast, chunk)]
    head = None if ("&" in chunk and "*" in chunk) else head_text(chunk)
    if head is not None:
        try:
            doc = yamlio.load(head)
        except yaml.YAMLError:
            doc = None  # e.g. an alias into a cut-away part: parse it whole below
        if isinstance(doc, dict) and doc.get("kind") != "CustomResourceDefinition":
            return [(doc, chunk)]
    return [(d, None) for d in yamlio.load_all(chunk)]


def split(text: str) -> Rendered:
    """Parse `helm template` output into objects and problems."""
    out = Rendered()
    sources: dict[str, tuple[tuple[str, ...], str]] = {}
    for source, chunk in _documents(text):
        if not _CONTENT.search(chunk):
            continue  # empty, or comments only
        where = sources.get(source)
        if where is None:
            where = sources[source] = parse_source(source) if source else (("",), "")
        chart, template = where
        try:
            loaded = _load_documents(chunk)
        except yamlio.AliasBomb as exc:
            out.problems.append(Problem(source, chart, template, f"YAML alias bomb: {exc}",
                                        "remove the YAML anchors/aliases that multiply this document"))
            continue
        except (yaml.YAMLError, ValueError) as exc:  # PyYAML raises ValueError for e.g. impossible dates
            out.problems.append(Problem(source, chart, template, f"invalid YAML: {_one_line(exc)}",
                                        "fix the template so that it renders valid YAML; run helm template to see it"))
            continue
        for body, lazy_text in loaded:
            if body is None:
                continue
            items = body.get("items") if isinstance(body, dict) and _is_list(body) else [body]
            for item in items or []:
                problem = _check_object(item)
                if problem:
                    out.problems.append(Problem(source, chart, template, problem[0], problem[1]))
                    continue
                out.objects.append(RenderedObject(item, source, chart, template, len(out.objects), lazy_text))
    return out


def _check_object(body: Any) -> tuple[str, str] | None:
    if not isinstance(body, dict):
        return (f"document is a {type(body).__name__}, not a Kubernetes object",
                "each YAML document must be a mapping with apiVersion, kind and metadata.name")
    missing = [f for f in ("apiVersion", "kind") if not isinstance(body.get(f), str) or not body.get(f)]
    meta = body.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        missing.append("metadata.name")
    if missing:
        return (f"object without {', '.join(missing)}", "every Kubernetes object needs apiVersion, kind and metadata.name")
    return None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


_LEADING_COMMENTS = re.compile(r"\A(?:[ \t]*(?:#[^\n]*)?\n)*")  # blank and comment lines before the object


def strip_leading_comments(text: str) -> str:
    """A document's text without the blank and comment lines before it (helm's ``# Source:`` line)."""
    return _LEADING_COMMENTS.sub("", text, count=1)
