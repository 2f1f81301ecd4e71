"""The head reader: ``apiVersion``, ``kind`` and ``metadata`` of a rendered manifest (plus ``spec.group``,
``spec.names`` and ``spec.scope`` of a CustomResourceDefinition), without parsing the rest.

Ordering needs only ``apiVersion``, ``kind`` and ``metadata.{name, namespace, generateName,
annotations}`` of each object, and lint needs a CRD's group, kind and scope.  Parsing thousands of
documents, or CRDs of several hundred kB, with PyYAML (even the C loader: construction is Python)
costs more than helm's own rendering.  One pipeline (:func:`manifests.split`):

1. :func:`read_head` recognises the simple shapes with regular expressions and returns ``None`` for
   *anything* else.  Only the lines of the head's own keys are looked at: labels, ``spec``, ``data``
   (a CRD's ``versions`` included) are skipped by regular expressions, never walked line by line;
2. else :func:`head_text` cuts those same parts out of the document and the YAML loader parses the
   cut (a few lines), which also reports duplicate keys in it;
3. only documents that cannot be cut (Lists, flow style at the top, ...) are parsed whole.

Accepted by :func:`read_head`:

* block mappings indented with spaces; top-level keys at column 0; keys plain or quoted without
  escapes;
* scalars that are plain (resolved by PyYAML's own resolver, so ``3``, ``true`` or ``2024-01-01``
  are never mistaken for strings: anything that does not resolve to a string goes to the fallback),
  or single/double quoted without escapes;
* literal block scalars ``|`` and ``|-`` (the usual form of a multi-line ``depends-on``), without
  indentation indicators;
* ``annotations:`` empty (null) or ``{}``; comments and blank lines outside block scalars.

Everything else (flow collections, folded scalars, escapes, anchors, tags, tabs, duplicate keys,
``items`` of a List, ...) returns ``None``.  Property tests compare every generated document with
the YAML loader's result.
"""
from __future__ import annotations

import re
from typing import Any

from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

# Texts are handled as *blocks*: every line preceded by its "\n" (a document gets one added in
# front).  Patterns then start with a literal newline, which the regex engine searches for quickly;
# "^" with MULTILINE would be tried at every character.  This is most of this reader's speed.
_TOP_LINE = re.compile(r"\n(?![ #\n-])([^\n]+)")  # a line at column 0: not a comment, not a "- " item
_KEY = r"[A-Za-z0-9_][A-Za-z0-9_./-]*"  # a key written plain
_PLAIN_SCALAR = r"[A-Za-z0-9_./][A-Za-z0-9_./@=+~-]*(?::[A-Za-z0-9_./@=+~-]+)*"  # a plain one-line scalar
_QUOTED_KEY = r"\"[^\"\\\n]*\"|'[^'\n]*'"  # a key in quotes, without escapes
_KEY_LINE = re.compile(rf"({_KEY}|{_QUOTED_KEY}) *:(?: +(.*?))? *$")
_FIRST_CONTENT = re.compile(r"\n( *)[^ \n#]")  # the first line that is not blank or a comment
_NOT_COMMENT = re.compile(r"\n *[^ \n#]")
_PLAIN = re.compile(_PLAIN_SCALAR)
_RESOLVER = Resolver()
_STR_TAG = "tag:yaml.org,2002:str"
_META_KEEP = frozenset({"name", "namespace", "generateName"})
_MULTILINE_START = "|>\"'[{"
_BLOCK_HEADERS = ("|", "|-", ">", ">-")


def _multiline(rest: str | None) -> bool:
    """Does a value starting with ``rest`` possibly run over several lines in ways we do not follow
    (flow collections, quoted scalars; block scalar headers are fine where the value is not read)?"""
    return bool(rest and rest[0] in _MULTILINE_START and rest not in _BLOCK_HEADERS and rest not in ("{}", "[]"))

_FALLBACK = object()


def _scalar(text: str) -> Any:
    """A scalar value written on one line, or _FALLBACK."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"' and '"' not in text[1:-1] and "\\" not in text:
        return text[1:-1]
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'" and "'" not in text[1:-1]:
        return text[1:-1]
    if _PLAIN.fullmatch(text) and _is_str(text):
        return text
    return _FALLBACK


_str_cache: dict[str, bool] = {}


#: First characters of plain scalars that YAML may resolve to something else than a string (bools,
#: numbers, null, timestamps, ...): PyYAML's own index of its implicit resolvers.
_MAYBE_NOT_STR = frozenset(Resolver.yaml_implicit_resolvers)


def _is_str(text: str) -> bool:
    """Does YAML's resolver read this plain scalar as a string? (memoised: keys repeat a lot)"""
    if text[:1] not in _MAYBE_NOT_STR:
        return True  # no implicit resolver starts with this character
    hit = _str_cache.get(text)
    if hit is None:
        hit = _str_cache[text] = _RESOLVER.resolve(ScalarNode, text, (True, False)) == _STR_TAG
    return hit


def _key(text: str) -> str | None:
    """The key of a ``key:`` line as YAML reads it (quotes removed), or None when it is not a string."""
    if text[0] in "\"'":
        return text[1:-1]
    return text if _is_str(text) else None


def _only_comments(block: str) -> bool:
    return _NOT_COMMENT.search(block) is None


_LEVELS: dict[int, tuple["re.Pattern[str]", "re.Pattern[str]"]] = {}


def _level_patterns(level: int) -> tuple["re.Pattern[str]", "re.Pattern[str]"]:
    """(lines indented exactly ``level`` that are not comments, content lines indented less)."""
    pats = _LEVELS.get(level)
    if pats is None:
        pats = _LEVELS[level] = (re.compile(rf"\n {{{level}}}([^ \n#][^\n]*)"),
                                 re.compile(rf"\n {{0,{level - 1}}}[^ \n#]"))
    return pats


#: (key, text after the colon or None, the block of lines below the key, the entry's whole text)
Entry = tuple[str, "str | None", str, str]


def _entries(block: str, parent: int, want: frozenset[str] | None = None) -> tuple[list[Entry], int] | None:
    """The keys of the block mapping held by ``block`` (lines indented deeper than ``parent``, blank
    lines and comments), and the mapping's indentation; None when the shape is not simple.

    Only the lines at the mapping's own indentation are looked at one by one (regular expressions
    skip the rest): labels, a CRD's schema and the like are never walked.  With ``want``, only those
    keys' lines are cut out (the others get empty blocks: a CRD's ``versions`` is not copied).
    """
    first = _FIRST_CONTENT.search(block)
    if first is None:
        return [], parent + 1
    level = len(first.group(1))
    if level <= parent:
        return None
    at_level, shallower = _level_patterns(level)
    if shallower.search(block):
        return None  # a content line left of the mapping's keys
    keys: list[tuple[str, str | None, int, int]] = []
    for m in at_level.finditer(block):
        content = m.group(1)
        if content[0] == "-" and (len(content) == 1 or content[1] == " "):
            if not keys:
                return None
            continue  # a compact sequence item of the previous key's value (YAML allows "key:\n- a")
        k = _KEY_LINE.match(content)
        key = _key(k.group(1)) if k is not None else None
        if key is None:
            return None  # not a "key: ..." line, or a key YAML does not read as a string (123:, true:)
        keys.append((key, k.group(2), m.start(), m.end()))  # type: ignore[union-attr]
    if len({k[0] for k in keys}) != len(keys):
        return None  # duplicate keys: YAML keeps the last, Kubernetes refuses them; the caller reports it
    out = []
    for j, (key, rest, start, end) in enumerate(keys):
        if want is not None and key not in want:
            out.append((key, rest, "", ""))
            continue
        stop = keys[j + 1][2] if j + 1 < len(keys) else len(block)
        out.append((key, rest, block[end:stop], block[start:stop]))
    return out, level


def _value(rest: str | None, below: str, level: int) -> Any:
    """The scalar value of a key at ``level``: ``rest`` follows its colon, ``below`` is the block of
    lines under it up to the next key; _FALLBACK unless it is a simple string."""
    if not rest:
        return _FALLBACK  # null or a nested collection: not a head scalar
    if rest in ("|", "|-"):
        value = _plain_literal(below, level, rest == "|-")
        return _FALLBACK if value is None else value
    return _scalar(rest) if not below or _only_comments(below) else _FALLBACK  # no multi-line plain scalars


_LITERALS: dict[int, "re.Pattern[str]"] = {}


def _plain_literal(below: str, parent: int, strip: bool) -> str | None:
    """A literal block scalar (the lines under its key) whose lines are all empty or indented at least as
    the first (each with content, and nothing after the scalar), read by regular expressions: a depends-on
    of thousands of lines is not walked line by line; else None."""
    first = _FIRST_CONTENT.search(below)
    if first is None:
        return None
    ind = len(first.group(1))
    if ind <= parent:
        return None
    pattern = _LITERALS.get(ind)
    if pattern is None:
        pattern = _LITERALS[ind] = re.compile(rf"(?:\n(?: {{{ind}}}[^\n]*?[^ \n][^\n]*)?)*")
    if not pattern.fullmatch(below):
        return None
    text = below.replace("\n" + " " * ind, "\n")[1:].rstrip("\n")  # [1:]: the newline of the key's line
    return text + ("" if strip else "\n")


CRD = "CustomResourceDefinition"


def read_head(doc: str) -> dict[str, Any] | None:
    """``{"apiVersion", "kind", "metadata": {...}}`` of a simple manifest (a CRD's also with
    ``"spec": {"group", "names": {"kind"}, "scope"}``, as far as present), or None (use :func:`head_text`)."""
    block = doc if doc.startswith("\n") else "\n" + doc  # (a document after "---" starts with its newline)
    head = _canonical(block)
    return head if head is not None else _general(block)


# The shape most charts render (Helm's own `helm create` scaffold included): apiVersion, kind, then
# metadata with name, namespace, labels and annotations in this order, two spaces deep, one-line
# values.  One regular expression reads all of it; anything else goes to _general.
_P, _K = _PLAIN_SCALAR, _KEY  # short names for the patterns below
_CANONICAL = re.compile(
    r"(?:\n(?:#[^\n]*)?)*?"  # blank lines and comments (helm's "# Source:")
    rf"\napiVersion: ({_P}) *\nkind: ({_P}) *\nmetadata: *"
    rf"\n  name: ({_P}) *"
    rf"(?:\n  namespace: ({_P}) *)?"
    r"(?:\n  labels: *(?:\n    [^\n]*)*)?"  # not read: anything indented deeper
    r"(?:\n  annotations: *((?:\n    [^\n]*)*))?"
    r"(?=\n[^ \n#-]|\n*\Z)")  # then a top-level key, or the end
_CANONICAL_ANNOTATIONS = re.compile(rf"(?:\n    {_K} *: +(?:{_P}|\"[^\"\\\n]*\"|'[^'\n]*') *)+")
_ANNOTATION = re.compile(rf"\n    ({_K}) *: +([^\n]*?) *(?=\n|\Z)")


def _canonical(block: str) -> dict[str, Any] | None:
    m = _CANONICAL.match(block)
    if m is None:
        return None
    api, kind, name, namespace, annotations = m.groups()
    if kind == CRD:
        return None  # its spec's group, names and scope are read by _general (spare a scan of its lines here)
    if not (_is_str(api) and _is_str(kind) and _is_str(name)) or (namespace is not None and not _is_str(namespace)):
        return None
    seen = set()
    for top in _TOP_LINE.finditer(block, m.end()):  # the rest: other top-level keys, not read
        k = _KEY_LINE.match(top.group(1))
        key = _key(k.group(1)) if k is not None else None
        if key is None or key in seen or key in _HEAD_AND_ITEMS:
            return None
        seen.add(key)
        if _multiline(k.group(2)):  # type: ignore[union-attr]
            return None
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if annotations is not None:
        if not _CANONICAL_ANNOTATIONS.fullmatch(annotations):
            return None
        ann = meta["annotations"] = {}
        for key, value in _ANNOTATION.findall(annotations):
            value = _scalar(value)
            if key in ann or not _is_str(key) or value is _FALLBACK:
                return None
            ann[key] = value
    return {"apiVersion": api, "kind": kind, "metadata": meta}


_HEAD_AND_ITEMS = frozenset({"apiVersion", "kind", "metadata", "items"})


def _top_entries(block: str) -> list[tuple[str, "str | None", int, int, int]] | None:
    """The top-level keys: (key, text after the colon, start of its line, end of its line, end of its
    lines); None when a line at column 0 is not ``key: ...``, a key repeats, or content precedes the first."""
    tops = list(_TOP_LINE.finditer(block))
    if not tops or not _only_comments(block[:tops[0].start()]):
        return None
    out = []
    seen = set()
    for n, top in enumerate(tops):
        m = _KEY_LINE.match(top.group(1))
        key = _key(m.group(1)) if m is not None else None
        if key is None or key in seen:
            return None  # column 0 must hold "key: ..."; duplicate keys: the caller reports them
        seen.add(key)
        out.append((key, m.group(2), top.start(), top.end(),  # type: ignore[union-attr]
                    tops[n + 1].start() if n + 1 < len(tops) else len(block)))
    return out


def _general(block: str) -> dict[str, Any] | None:
    """Top-level keys are found with one regular expression (lines at column 0 that are
    not comments or "- " items); in the metadata block only the lines of its own keys
    and of its annotations are read, in a CRD's spec only those of group, names and scope."""
    tops = _top_entries(block)
    if tops is None:
        return None
    head: dict[str, Any] = {}
    spec_block = None
    for key, rest, _, line_end, end in tops:
        if key in ("apiVersion", "kind"):
            value = _scalar(rest) if rest else _FALLBACK
            if value is _FALLBACK or not _only_comments(block[line_end:end]):
                return None
            head[key] = value
        elif key == "metadata":
            meta = None if rest else _metadata(block[line_end:end])
            if meta is None:
                return None
            head["metadata"] = meta
        elif key == "items" or _multiline(rest):
            return None  # a List, or a value that may run over several lines
        elif key == "spec" and not rest:
            spec_block = block[line_end:end]
    if not isinstance(head.get("metadata"), dict) or "kind" not in head or "apiVersion" not in head:
        return None
    out = {"apiVersion": head["apiVersion"], "kind": head["kind"], "metadata": head["metadata"]}
    if head["kind"] == CRD and spec_block is not None:
        spec = _crd_spec(spec_block)
        if spec is None:
            return None
        out["spec"] = spec
    return out


_CRD_SPEC_KEEP = frozenset({"group", "names", "scope"})


def _crd_spec(block: str) -> dict[str, Any] | None:
    """``group``, ``names.kind`` and ``scope`` of a CRD's spec (the schema under ``versions`` is skipped)."""
    found = _entries(block, 0, _CRD_SPEC_KEEP)
    if found is None:
        return None
    entries, level = found
    spec: dict[str, Any] = {}
    for key, rest, below, _ in entries:
        if key in ("group", "scope"):
            value = spec[key] = _value(rest, below, level)
            if value is _FALLBACK:
                return None
        elif key == "names":
            sub = None if rest else _entries(below, level)
            if sub is None or not sub[0]:
                return None
            names = spec["names"] = {}
            for nkey, nrest, nbelow, _ in sub[0]:
                if nkey == "kind":
                    names["kind"] = _value(nrest, nbelow, sub[1])
                    if names["kind"] is _FALLBACK:
                        return None
                elif _multiline(nrest):
                    return None
        elif _multiline(rest):
            return None
    return spec


_UNREAD_IN_HEAD = re.compile(r"[\t&*!]")  # tabs, anchors, aliases, tags: the YAML loader reads those


def _metadata(block: str) -> dict[str, Any] | None:
    """``name``, ``namespace``, ``generateName`` and ``annotations`` of the block under ``metadata:``."""
    if _UNREAD_IN_HEAD.search(block):
        return None
    found = _entries(block, 0)
    if found is None:
        return None
    entries, level = found
    meta: dict[str, Any] = {}
    for key, rest, below, _ in entries:
        if key in _META_KEEP:
            value = meta[key] = _value(rest, below, level)
            if value is _FALLBACK:
                return None
        elif key == "annotations":
            if rest == "{}" and _only_comments(below):
                meta[key] = {}
                continue
            ann = _annotations(below, level) if not rest else _FALLBACK
            if ann is _FALLBACK:
                return None
            meta[key] = ann
        elif _multiline(rest):
            return None
    return meta


_EMPTY_FLOW = re.compile(r"(?:\n *(?:#[^\n]*)?)*\n +\{\} *(?:\n *(?:#[^\n]*)?)*")  # "{}" on a line of its own


def _annotations(block: str, parent: int) -> Any:
    """The annotations mapping under its key: a dict, None (nothing under the key: YAML's null), or _FALLBACK."""
    if _EMPTY_FLOW.fullmatch(block):
        return {}
    found = _entries(block, parent)
    if found is None:
        return _FALLBACK
    entries, level = found
    if not entries:
        return None
    ann: dict[str, Any] = {}
    for key, rest, below, _ in entries:
        value = ann[key] = _value(rest, below, level)
        if value is _FALLBACK:
            return _FALLBACK
    return ann


_HEAD_KEYS = frozenset({"apiVersion", "kind", "metadata"})


def head_text(doc: str) -> str | None:
    """The lines of ``doc`` under its top-level ``apiVersion``, ``kind`` and ``metadata`` (and a CRD's
    ``spec.group``, ``spec.names`` and ``spec.scope``), for the YAML loader when :func:`read_head` does
    not answer; None when the document is not a block mapping that can be cut safely (a List, flow
    style, a directive, a duplicate top-level key: then it is parsed whole)."""
    block = "\n" + doc
    tops = _top_entries(block)
    if tops is None:
        return None
    keep: list[str] = []
    kind = spec = None
    for key, rest, start, line_end, end in tops:
        if key == "items":
            return None
        if key in _HEAD_KEYS:
            keep.append(block[start + 1:end + 1])  # the key's lines with the newline after them, as in the document
            if key == "kind":
                kind = (rest or "").strip("'\" ")
        elif key == "spec":
            spec = (rest, block[start:line_end], block[line_end:end])
    if not keep:
        return None
    if kind == CRD and spec is not None:
        rest, line, below = spec
        found = None if rest else _entries(below, 0, _CRD_SPEC_KEEP)
        if found is None:
            return None  # not a block mapping: parse the CRD whole
        keep.append(line[1:] + "\n" + "".join(text[1:] + "\n" for key, _, _, text in found[0] if key in _CRD_SPEC_KEEP))
    return "".join(keep)
