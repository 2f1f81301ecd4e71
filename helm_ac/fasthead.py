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
from typing import Any, Callable

from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

_KEY_LINE = re.compile(r"^( *)([A-Za-z0-9_][A-Za-z0-9_./-]*) *:(?: +(.*?))? *$")
_PLAIN = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./@=+~-]*(?::[A-Za-z0-9_./@=+~-]+)*")
_RESOLVER = Resolver()
_STR_TAG = "tag:yaml.org,2002:str"
_META_KEEP = frozenset({"name", "namespace", "generateName"})

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


def _key(m: "re.Match[str]") -> str | None:
    """The key of a matched line if YAML reads it as a string (``123:`` or ``true:`` are not)."""
    key = m.group(2)
    return key if _is_str(key) else None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block(lines: list[str], i: int, parent: int, strip: bool) -> tuple[Any, int]:
    """Read a literal block scalar starting at lines[i] (after the key line); return (value, next i)."""
    body: list[str] = []
    indent = None
    while i < len(lines):
        line = lines[i]
        if line == "":
            body.append("")
            i += 1
            continue
        if line.strip(" ") == "":
            return _FALLBACK, i  # whitespace-only lines: YAML's rules are subtle, let it decide
        ind = _indent(line)
        if ind <= parent:
            break
        if indent is None:
            indent = ind
        if ind < indent or "\t" in line[:indent]:
            return _FALLBACK, i
        body.append(line[indent:])
        i += 1
    while body and body[-1] == "":
        body.pop()  # clip/strip chomping drop trailing empty lines
    if not body:
        return "", i
    return "\n".join(body) + ("" if strip else "\n"), i


def _skip(lines: list[str], i: int, parent: int) -> int:
    """Skip the value of a key at ``parent``: deeper lines, blank lines, comments, and "- " items at
    the key's own indentation (YAML's compact sequences)."""
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip(" ")
        if stripped and not stripped.startswith("#"):
            ind = len(line) - len(stripped)
            if ind < parent or (ind == parent and not (stripped.startswith("- ") or stripped == "-")):
                break
        i += 1
    return i


def _value(lines: list[str], i: int, indent: int, rest: str | None) -> tuple[Any, int]:
    """The scalar value of a key at ``indent`` whose line is lines[i-1] with ``rest`` after the colon."""
    if rest is None or rest == "":
        return _FALLBACK, i  # null or a nested collection: not a head scalar
    if rest in ("|", "|-"):
        return _block(lines, i, indent, rest == "|-")
    return _scalar(rest), i


_TOP_LINE = re.compile(r"^(?![ #\n-]).+", re.MULTILINE)
_str_cache: dict[str, bool] = {}


def _is_str(text: str) -> bool:
    """Does YAML's resolver read this plain scalar as a string? (memoised: keys repeat a lot)"""
    hit = _str_cache.get(text)
    if hit is None:
        hit = _str_cache[text] = _RESOLVER.resolve(ScalarNode, text, (True, False)) == _STR_TAG
    return hit


def _only_comments(text: str) -> bool:
    return all(not ln.strip(" ") or ln.lstrip(" ").startswith("#") for ln in text.split("\n"))


def read_head(doc: str) -> dict[str, Any] | None:
    """``{"apiVersion", "kind", "metadata": {...}}`` of a simple manifest, or None (use YAML).

    Top-level keys are found with one regular expression (lines at column 0 that are
    not comments or "- " items); only the metadata block is read line by line.
    """
    if "\t" in doc or "&" in doc or "!" in doc:
        return None
    tops = list(_TOP_LINE.finditer(doc))
    head: dict[str, Any] = {}
    for n, top in enumerate(tops):
        m = _KEY_LINE.match(top.group())
        if m is None or m.group(1) or not _is_str(m.group(2)):
            return None  # column 0 must hold "key: ..."
        key, rest = m.group(2), m.group(3)
        if key in head:
            return None  # duplicate keys: let YAML decide
        body = doc[top.end() + 1:tops[n + 1].start()] if n + 1 < len(tops) else doc[top.end() + 1:]
        if key in ("apiVersion", "kind"):
            value = _scalar(rest) if rest else _FALLBACK
            if value is _FALLBACK or not _only_comments(body):
                return None
            head[key] = value
        elif key == "metadata":
            if rest:
                return None
            lines = body.split("\n")
            meta, i = _metadata(lines, 0)
            if meta is None or i < len(lines):
                return None
            head["metadata"] = meta
        elif key == "items" or (rest and rest[0] in "|>\"'[{" and rest not in ("|", "|-", ">", ">-")):
            return None  # a List, or a value that may run over several lines
        else:
            head[key] = None  # seen; its value is not read
    if not isinstance(head.get("metadata"), dict) or "kind" not in head or "apiVersion" not in head:
        return None
    return {"apiVersion": head["apiVersion"], "kind": head["kind"], "metadata": head["metadata"]}


KeyHandler = Callable[[str, "str | None", int, int], "tuple[bool, int]"]


def _mapping(lines: list[str], i: int, parent: int, on_key: KeyHandler) -> tuple[bool, int]:
    """Walk the keys of a block mapping nested under ``parent`` (its lines indented deeper).

    ``on_key(key, rest, level, next_line)`` consumes the value and returns (ok, next line).
    Returns (False, i) for anything not of the simple shape: the caller falls back to YAML.
    """
    level = None
    seen: set[str] = set()
    while i < len(lines):
        line = lines[i]
        stripped = line.strip(" ")
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        ind = _indent(line)
        if ind <= parent:
            break
        if level is None:
            level = ind
        m = _KEY_LINE.match(line)
        if ind != level or m is None or _key(m) is None or m.group(2) in seen:
            return False, i  # odd indentation, not a "key:" line, or a duplicate key
        seen.add(m.group(2))
        ok, i = on_key(m.group(2), m.group(3), level, i + 1)
        if not ok:
            return False, i
    return True, i


def _metadata(lines: list[str], i: int) -> tuple[dict[str, Any] | None, int]:
    meta: dict[str, Any] = {}

    def on_key(key: str, rest: str | None, level: int, i: int) -> tuple[bool, int]:
        if key in _META_KEEP:
            value, i = _value(lines, i, level, rest)
            meta[key] = value
            return value is not _FALLBACK, i
        if key == "annotations":
            if rest == "{}":
                meta[key] = {}
                return True, i
            if rest:
                return False, i
            ann, i = _annotations(lines, i, level)
            meta[key] = ann
            return ann is not None, i
        if rest and rest[0] in "|>\"'[{" and rest not in ("|", "|-", ">", ">-"):
            return False, i
        return True, _skip(lines, i, level)

    ok, i = _mapping(lines, i, 0, on_key)
    return (meta if ok else None), i


def _annotations(lines: list[str], i: int, parent: int) -> tuple[dict[str, Any] | None, int]:
    ann: dict[str, Any] = {}

    def on_key(key: str, rest: str | None, level: int, i: int) -> tuple[bool, int]:
        value, i = _value(lines, i, level, rest)
        ann[key] = value
        return value is not _FALLBACK, i

    ok, i = _mapping(lines, i, parent, on_key)
    return (ann if ok and ann else None), i
