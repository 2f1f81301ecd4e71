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

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

import yaml

from helm_ac import kinds
from helm_ac.errors import UserError
from helm_ac.kinds import ObjectKey
from helm_ac.rendering import fasthead, yamlio

HOOK_ANNOTATION = "helm.sh/hook"
# A "---" line (with an optional comment), found from the newline before it: a literal prefix
# the regex engine searches fast, where "^---" with MULTILINE would be tried at every position.
_SEPARATOR = r"---[ \t]*(?:#[^\n]*)?(?=\n|\Z)"
_DOC_SPLIT = re.compile("\n" + _SEPARATOR)
_DOC_FIRST = re.compile(_SEPARATOR)  # the same line first in the text (no newline before it)
# From the newline before it, like _DOC_SPLIT: documents of several hundred kB (CRDs) have no such line
_SOURCE = re.compile(r"\n# Source: (.+?)\s*$", re.MULTILINE)
_CONTENT = re.compile(r"^[ \t]*[^#\s]", re.MULTILINE)


class ManifestError(UserError):
    """A rendered object whose body the YAML loader refuses, found when the body is first needed."""


#: What the YAML loader raises on input it refuses: PyYAML raises ValueError for e.g. impossible dates,
#: the pure-Python loader RecursionError on deep nesting.
_PARSE_ERRORS = (yaml.YAMLError, ValueError, RecursionError)


@dataclass
class RenderedObject:
    """One rendered Kubernetes object and where it came from.

    ``head`` holds ``apiVersion``, ``kind`` and ``metadata`` (a CRD's also ``spec.group``, ``names``,
    ``scope``), which is all that ordering and lint need; the whole object (``body``) is parsed only
    when asked for.
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
        """The whole object (parsed on first use; a :class:`ManifestError` when that fails)."""
        if self._body is None:
            assert self.text is not None
            try:
                doc = yamlio.load(self.text)
            except _PARSE_ERRORS as exc:
                raise ManifestError(
                    f"{self.chart_file}: {self.key} cannot be read as YAML: {_one_line(exc)}",
                    hint="helm printed it, but helm-ac's YAML loader refuses it: simplify the value (deep "
                         "nesting, unusual tags), or run `helm ac lint` to see every such object") from None
            self._body = doc if isinstance(doc, dict) else self.head
        return self._body

    @property
    def hooks(self) -> tuple[str, ...]:
        """Helm hook events of this object; empty for regular objects."""
        value = self.annotations.get(HOOK_ANNOTATION)
        if value is None:
            return ()
        return tuple(h.strip() for h in str(value).split(",") if h.strip())

    @functools.cached_property
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
    reported elsewhere).  The head holds the labels when they are of the usual shape, else the body
    is parsed for them."""
    meta = obj.head.get("metadata")
    if not (isinstance(meta, dict) and "labels" in meta):
        try:
            meta = obj.body.get("metadata")
        except ManifestError:
            return None
    labels = meta.get("labels") if isinstance(meta, dict) else None
    label = labels.get(CHART_LABEL) if isinstance(labels, dict) else None
    return label if isinstance(label, str) else None


def _chunks(text: str) -> Iterator[str]:
    """The text between "---" lines (the lines themselves dropped, their newlines kept)."""
    start = 0
    first = _DOC_FIRST.match(text)  # "---" on the first line (the others are found from the newline before)
    if first is not None:
        yield ""
        start = first.end()
    for m in _DOC_SPLIT.finditer(text, start):  # (not in "\n" + text: a copy of MBs of CRDs costs page faults)
        yield text[start:m.start() + 1]
        start = m.end()
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
            m = _SOURCE.search(chunk if chunk.startswith("\n") else "\n" + chunk)
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


# Anchors, aliases and tags written as YAML writes them (a word after "&", "*", "!" or "!!", then a space, and
# a space or flow indicator before): the "&&" of a CEL rule or the "*emphasis*" of a description in a CRD
# does not count.  The patterns start with their literal character, which the regex engine searches fast;
# the character before is checked for each (rare) match.
_ANCHOR = re.compile(r"&[A-Za-z0-9_.-]+(?=[ \t\n])")
_ALIAS = re.compile(r"\*[A-Za-z0-9_.-]+(?=[\s,\]}]|\Z)")
_TAG = re.compile(r"!(?:!?[A-Za-z0-9_.:/-]*|<[^>\s]*>)(?=[ \t\n]|\Z)")
_BEFORE_PROPERTY = frozenset(" \t\n[{,")


_PROPERTY = {"&": _ANCHOR, "*": _ALIAS, "!": _TAG}


def _has_token(char: str, text: str) -> bool:
    """Does ``text`` hold an anchor (``char`` "&"), alias ("*") or tag ("!") as YAML writes them?"""
    if char not in text:
        return False  # a substring test is much cheaper than a regex search
    pattern = _PROPERTY[char]
    return any(m.start() == 0 or text[m.start() - 1] in _BEFORE_PROPERTY for m in pattern.finditer(text))


def _load_documents(chunk: str) -> tuple[list[tuple[Any, str | None]], list[str]]:
    """Parse one chunk into (head or whole document, text to parse the body from later), and the paths of
    keys its head repeats (see :mod:`helm_ac.rendering.fasthead` for the pipeline).

    Documents with anchors and aliases are parsed whole, so that the alias-bomb bound applies to
    them now; so are documents with tags (``!!omap``), which helm accepts and our loader may refuse:
    lint reports them instead of a later command failing on the body.
    """
    if _has_token("!", chunk) or (_has_token("&", chunk) and _has_token("*", chunk)):
        return [(d, None) for d in yamlio.load_all(chunk)], []
    fast = fasthead.read_head(chunk)
    if fast is not None:
        return [(fast, chunk)], []
    head = fasthead.head_text(chunk)
    if head is not None:
        try:
            doc = yamlio.load(head)
            dups = yamlio.duplicate_keys(head) if isinstance(doc, dict) else []
        except yaml.YAMLError:
            doc = None  # e.g. an alias into a cut-away part: parse it whole below
        if isinstance(doc, dict) and (doc.get("kind") != fasthead.CRD or isinstance(doc.get("spec"), dict)):
            return [(doc, chunk)], dups
    return [(d, None) for d in yamlio.load_all(chunk)], []


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
            loaded, dups = _load_documents(chunk)
        except yamlio.AliasBomb as exc:
            out.problems.append(Problem(source, chart, template, f"YAML alias bomb: {exc}",
                                        "remove the YAML anchors/aliases that multiply this document"))
            continue
        except _PARSE_ERRORS as exc:
            out.problems.append(Problem(source, chart, template, f"{_name_of(chunk)}invalid YAML: {_one_line(exc)}",
                                        "render plain YAML here: helm-ac reads manifests with a safe YAML loader, which "
                                        "refuses unsafe or unknown tags (e.g. !!python/..., !!omap)"))
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
                obj = RenderedObject(item, source, chart, template, len(out.objects), lazy_text)
                out.objects.append(obj)
                for path in dups:
                    out.problems.append(Problem(
                        source, chart, template,
                        f"{obj.key}: {path} is given twice; YAML keeps only the last one (the first is ignored) "
                        "and Kubernetes refuses duplicate keys",
                        f"merge the two {path.rsplit('.', 1)[-1]}: blocks into one"))
    return out


def _name_of(chunk: str) -> str:
    """``kind/name: `` of a document that cannot be parsed whole, when its head can be read; else ``""``."""
    head = fasthead.read_head(chunk)
    if head is None:
        cut = fasthead.head_text(chunk)
        try:
            head = yamlio.load(cut) if cut is not None else None
        except _PARSE_ERRORS:
            head = None
    meta = head.get("metadata") if isinstance(head, dict) else None
    if isinstance(meta, dict) and isinstance(head.get("kind"), str) and meta.get("name"):  # type: ignore[union-attr]
        return f"{head['kind'].lower()}/{meta['name']}: "  # type: ignore[index]
    return ""


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
