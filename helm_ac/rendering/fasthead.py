"""A fast, exact reader for the *head* of a rendered manifest, with YAML as the fallback.

Ordering needs only ``apiVersion``, ``kind`` and ``metadata.{name, namespace,
generateName, annotations}`` of each object, and `helm template` prints those in
a handful of simple shapes.  Parsing thousands of documents with PyYAML (even
the C loader: construction is Python) costs more than helm's own rendering, so
:func:`read_head` recognises the simple shapes line by line and returns
``None`` for *anything* else, in which case the caller parses the document with
the YAML loader.  Accepted:

* block mappings indented with spaces; top-level keys at column 0;
* scalars that are plain (resolved by PyYAML's own resolver, so ``3``,
  ``true`` or ``2024-01-01`` are never mistaken for strings: anything that does
  not resolve to a string goes to the fallback), or single/double quoted
  without escapes;
* literal block scalars ``|`` and ``|-`` (the usual form of a multi-line
  ``depends-on``), without indentation indicators;
* comments on lines of their own outside block scalars.

Everything else (flow collections, folded scalars, escapes, anchors, tags,
tabs, keys needing quotes, ``items`` of a List, ...) returns ``None``.
A property-based test checks that whenever this returns a value, it equals the
YAML loader's result.
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
_KEY_LINE = re.compile(rf"({_KEY}) *:(?: +(.*?))? *$")
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
    return bool(rest and rest[0] in _MULTILINE_START and rest not in _BLOCK_HEADERS)

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


Entry = tuple[str, "str | None", str]


def _entries(block: str, parent: int) -> tuple[list[Entry], int] | None:
    """The keys of the block mapping held by ``block`` (lines indented deeper than ``parent``, blank
    lines and comments), as (key, text after the colon or None, the block of lines below the key),
    and the mapping's indentation; None when the shape is not simple.

    Only the lines at the mapping's own indentation are looked at one by one (regular expressions
    skip the rest): labels and the like are never walked.
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
        if k is None or not _is_str(k.group(1)):
            return None  # not a "key: ..." line, or a key YAML does not read as a string (123:, true:)
        keys.append((k.group(1), k.group(2), m.start(), m.end()))
    if len({k[0] for k in keys}) != len(keys):
        return None  # duplicate keys: let YAML decide
    out = [(key, rest, block[end:keys[j + 1][2]] if j + 1 < len(keys) else block[end:])
           for j, (key, rest, _, end) in enumerate(keys)]
    return out, level


def _value(rest: str | None, below: str, level: int) -> Any:
    """The scalar value of a key at ``level``: ``rest`` follows its colon, ``below`` is the block of
    lines under it up to the next key; _FALLBACK unless it is a simple string."""
    if not rest:
        return _FALLBACK  # null or a nested collection: not a head scalar
    if rest in ("|", "|-"):
        lines = below.split("\n")[1:]
        value, i = _literal(lines, level, rest == "|-")
        return value if i == len(lines) or _only_comments("\n" + "\n".join(lines[i:])) else _FALLBACK
    return _scalar(rest) if not below or _only_comments(below) else _FALLBACK  # no multi-line plain scalars


def _literal(lines: list[str], parent: int, strip: bool) -> tuple[Any, int]:
    """Read a literal block scalar from the lines under its key; return (value, index of the first line
    after it)."""
    body: list[str] = []
    indent = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line == "":
            body.append("")
            i += 1
            continue
        stripped = line.lstrip(" ")
        if not stripped:
            return _FALLBACK, i  # whitespace-only lines: YAML's rules are subtle, let it decide
        ind = len(line) - len(stripped)
        if ind <= parent:
            break
        if indent is None:
            indent = ind
        if ind < indent:
            return _FALLBACK, i
        body.append(line[indent:])
        i += 1
    while body and body[-1] == "":
        body.pop()  # clip/strip chomping drop trailing empty lines
    if not body:
        return "", i
    return "\n".join(body) + ("" if strip else "\n"), i


def read_head(doc: str) -> dict[str, Any] | None:
    """``{"apiVersion", "kind", "metadata": {...}}`` of a simple manifest, or None (use YAML)."""
    if "\t" in doc or "&" in doc or "!" in doc:
        return None
    block = "\n" + doc
    return _canonical(block) or _general(block)


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
    if not (_is_str(api) and _is_str(kind) and _is_str(name)) or (namespace is not None and not _is_str(namespace)):
        return None
    seen = set()
    for top in _TOP_LINE.finditer(block, m.end()):  # the rest: other top-level keys, not read
        k = _KEY_LINE.match(top.group(1))
        if k is None or not _is_str(k.group(1)) or k.group(1) in seen or k.group(1) in _HEAD_AND_ITEMS:
            return None
        seen.add(k.group(1))
        if _multiline(k.group(2)):
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


def _general(block: str) -> dict[str, Any] | None:
    """Top-level keys are found with one regular expression (lines at column 0 that are
    not comments or "- " items); in the metadata block only the lines of its own keys
    and of its annotations are read."""
    tops = list(_TOP_LINE.finditer(block))
    head: dict[str, Any] = {}
    for n, top in enumerate(tops):
        end = tops[n + 1].start() if n + 1 < len(tops) else len(block)  # the key's lines are block[top.end():end]
        m = _KEY_LINE.match(top.group(1))
        if m is None or not _is_str(m.group(1)):
            return None  # column 0 must hold "key: ..."
        key, rest = m.group(1), m.group(2)
        if key in head:
            return None  # duplicate keys: let YAML decide
        if key in ("apiVersion", "kind"):
            value = _scalar(rest) if rest else _FALLBACK
            if value is _FALLBACK or not _only_comments(block[top.end():end]):
                return None
            head[key] = value
        elif key == "metadata":
            meta = None if rest else _metadata(block[top.end():end])
            if meta is None:
                return None
            head["metadata"] = meta
        elif key == "items" or _multiline(rest):
            return None  # a List, or a value that may run over several lines
        else:
            head[key] = None  # seen; its value is not read
    if not isinstance(head.get("metadata"), dict) or "kind" not in head or "apiVersion" not in head:
        return None
    return {"apiVersion": head["apiVersion"], "kind": head["kind"], "metadata": head["metadata"]}


def _metadata(block: str) -> dict[str, Any] | None:
    """``name``, ``namespace``, ``generateName`` and ``annotations`` of the block under ``metadata:``."""
    found = _entries(block, 0)
    if found is None:
        return None
    entries, level = found
    meta: dict[str, Any] = {}
    for key, rest, below in entries:
        if key in _META_KEEP:
            value = meta[key] = _value(rest, below, level)
            if value is _FALLBACK:
                return None
        elif key == "annotations":
            if rest == "{}":
                meta[key] = {}
                continue
            ann = _annotations(below, level) if not rest else None
            if ann is None:
                return None
            meta[key] = ann
        elif _multiline(rest):
            return None
    return meta


def _annotations(block: str, parent: int) -> dict[str, Any] | None:
    found = _entries(block, parent)
    if found is None or not found[0]:
        return None  # not simple, or null (``annotations:`` with nothing under it)
    entries, level = found
    ann: dict[str, Any] = {}
    for key, rest, below in entries:
        value = ann[key] = _value(rest, below, level)
        if value is _FALLBACK:
            return None
    return ann
