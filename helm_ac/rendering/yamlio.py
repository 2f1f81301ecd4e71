"""The one YAML loader of helm-ac.

* Safe only: ``yaml.CSafeLoader`` when PyYAML was built with libyaml, else
  ``yaml.SafeLoader``.  No Python object tags, ever.
* Rendered charts (e.g. prometheus-operator CRDs) contain a bare ``=`` list
  item, which YAML 1.1 resolves to the ``tag:yaml.org,2002:value`` tag that
  PyYAML cannot construct; we load it as the string ``"="``.
* Kubernetes reads manifests with Go YAML into JSON, where timestamps and YAML 1.1 base-60
  numbers (``12:30``) stay strings; so do they here.
* Alias bombs ("billion laughs") load quickly as shared references but blow up
  any later walk.  :func:`load` measures the *expanded* size of each document
  in time linear in its distinct nodes and rejects documents that expand past
  :data:`MAX_EXPANDED_NODES`; documents with (benign) aliases are deep-copied
  so that no two places share one mutable node.
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterator

import yaml
from yaml.resolver import Resolver

_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Upper bound on the number of nodes a document may expand to.
MAX_EXPANDED_NODES = 2_000_000


class Loader(_Base):
    """Safe loader with the YAML 1.1 ``=`` value tag read as a string."""


def _construct_value(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


Loader.add_constructor("tag:yaml.org,2002:value", _construct_value)


def _construct_timestamp(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    # Kubernetes reads manifests with Go YAML into JSON: a timestamp stays the string it was
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


def _number_or_string(tag: str) -> Any:
    base = yaml.SafeLoader.yaml_constructors[tag]

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        value = loader.construct_scalar(node)  # type: ignore[arg-type]
        if isinstance(value, str) and ":" in value:
            return value  # YAML 1.1 base 60 ("12:30" -> 750): Go YAML keeps the string
        return base(loader, node)

    return construct


Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
Loader.add_constructor("tag:yaml.org,2002:int", _number_or_string("tag:yaml.org,2002:int"))
Loader.add_constructor("tag:yaml.org,2002:float", _number_or_string("tag:yaml.org,2002:float"))


class AliasBomb(ValueError):
    """A document expands (through aliases) past the size limit."""


def _expanded_size(root: Any, limit: int) -> tuple[int, bool]:
    """Return (expanded node count, whether any container is shared).

    Iterative post-order walk memoised on container identity: linear in the
    number of *distinct* nodes, whatever the aliasing.
    """
    sizes: dict[int, int] = {}
    shared = False
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        key = id(node)
        if expanded:
            children = node.values() if isinstance(node, dict) else node
            total = 1
            for child in children:
                total += sizes.get(id(child), 1) if isinstance(child, (dict, list)) else 1
                if total > limit:
                    raise AliasBomb(f"document expands to more than {limit:,} nodes")
            sizes[key] = total
            continue
        if key in sizes:
            shared = True
            continue
        sizes[key] = 0  # in progress; a cycle (impossible in safe YAML) counts 0
        stack.append((node, True))
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, (dict, list)):
                if id(child) in sizes:
                    shared = True
                else:
                    stack.append((child, False))
    return (sizes.get(id(root), 1), shared)


def _unshare(root: Any) -> Any:
    """Copy a tree whose containers may be shared, so that every place gets its own copy.

    (``copy.deepcopy`` would keep the sharing.)  Iterative; the size is already bounded.
    """
    def fresh(node: Any) -> Any:
        return {} if isinstance(node, dict) else [] if isinstance(node, list) else node

    out = fresh(root)
    stack = [(root, out)]
    while stack:
        src, dst = stack.pop()
        items = src.items() if isinstance(src, dict) else enumerate(src)
        for k, v in items:
            new = fresh(v)
            if isinstance(dst, dict):
                dst[k] = new
            else:
                dst.append(new)
            if isinstance(v, (dict, list)):
                stack.append((v, new))
    return out


def _checked(doc: Any, limit: int) -> Any:
    _, shared = _expanded_size(doc, limit)
    return _unshare(doc) if shared else doc


def load(text: str, *, limit: int = MAX_EXPANDED_NODES) -> Any:
    """Load one YAML document safely (see module doc)."""
    doc = yaml.load(text, Loader=Loader)  # noqa: S506 - Loader is safe
    return doc if "*" not in text else _checked(doc, limit)  # no alias without a '*'



def duplicate_keys(text: str) -> list[str]:
    """Paths (``metadata.annotations``) of the mapping keys that occur twice in a document.

    YAML loaders keep the last value silently; Kubernetes decodes strictly and refuses the object.
    Composes the node tree (no construction): meant for the few lines of a head.
    """
    out: list[str] = []
    stack: list[tuple[yaml.Node, str]] = []
    root = yaml.compose(text, Loader=Loader)  # noqa: S506 - Loader is safe
    if root is not None:
        stack.append((root, ""))
    seen_nodes: set[int] = set()
    while stack:
        node, path = stack.pop()
        if id(node) in seen_nodes:
            continue  # an alias: walked once
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for k, v in node.value:
                name = str(k.value) if isinstance(k, yaml.ScalarNode) else "?"
                where = f"{path}.{name}" if path else name
                if isinstance(k, yaml.ScalarNode):
                    if name in keys and where not in out:
                        out.append(where)
                    keys.add(name)
                stack.append((v, where))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(node.value))
    return out


def load_all(text: str, *, limit: int = MAX_EXPANDED_NODES) -> Iterator[Any]:
    """Load every document of a stream safely."""
    for doc in yaml.load_all(text, Loader=Loader):  # noqa: S506 - Loader is safe
        yield _checked(doc, limit)


#: plain scalars that Go's YAML (YAML 1.1, as Helm and kubectl read) takes for booleans and PyYAML's
#: resolver does not: written quoted (a release named ``y`` labels every object ``...: y``)
_GO_BOOLS = re.compile(r"^(?:y|Y|n|N)$")


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """The safe dumper, quoting :data:`_GO_BOOLS` too."""


_Dumper.add_implicit_resolver("tag:yaml.org,2002:bool", _GO_BOOLS, list("yYnN"))


def dump(data: Any) -> str:
    """Dump YAML deterministically (block style, insertion order kept)."""
    return yaml.dump(data, Dumper=_Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True)


_SAFE_PLAIN = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./@=+~-]*(?::[A-Za-z0-9_./@=+~-]+)*")
_RESOLVER = Resolver()
_STR_TEXT: dict[str, str | None] = {}  # memo: the same names, labels and keys recur thousands of times


def _str_text(v: str) -> str | None:
    hit = _STR_TEXT.get(v, False)
    if hit is not False:
        return hit  # type: ignore[return-value]
    if _SAFE_PLAIN.fullmatch(v) and not _GO_BOOLS.match(v) and \
            _RESOLVER.resolve(yaml.ScalarNode, v, (True, False)) == "tag:yaml.org,2002:str":
        out: str | None = v
    elif any(ord(c) > 0xFFFF for c in v):
        out = None  # JSON would write a surrogate pair, which YAML does not join
    else:
        out = json.dumps(v)  # ASCII with \uXXXX escapes: a valid YAML double-quoted scalar
    if len(_STR_TEXT) < 200_000:
        _STR_TEXT[v] = out
    return out


def scalar(v: Any) -> str | None:
    """One scalar as YAML text that reads back as the same value, or None when :func:`dump` is needed."""
    if type(v) is str:
        return _str_text(v)
    if v is None:
        return "null"
    if type(v) is bool:
        return "true" if v else "false"
    if type(v) is int:
        return str(v)
    return None


_scalar = scalar


def dump_simple(data: dict[str, Any]) -> str:
    """Dump a tree of dicts, lists of scalars, strings, ints, bools and None as block YAML, fast.

    helm-ac's one writer of its own documents (Definition headers, Dependencies: tens of
    thousands on a large chart).  Strings are written plain when YAML reads them back as the same
    string, else as JSON strings (valid YAML double-quoted scalars).  Anything else (floats,
    dates, lists of mappings, ...) is handed to :func:`dump`.  A property test checks that
    ``load(dump_simple(x)) == x``.
    """
    out: list[str] = []
    if type(data) is dict and _emit(data, "", out):
        return "\n".join(out) + "\n"
    return dump(data)


_MISS = object()


def _emit(node: dict[str, Any], indent: str, out: list[str]) -> bool:
    """Append ``node``'s lines to ``out``; False when some value needs the general dumper.  The
    memo of string texts is read inline: this runs for every key and value of tens of thousands of
    documents."""
    if not node:
        return False
    memo = _STR_TEXT
    for k, v in node.items():
        if type(k) is not str:
            return False
        key = memo.get(k, _MISS)
        if key is _MISS:
            key = _str_text(k)
        if key is None:
            return False
        t = type(v)
        if t is str:
            s = memo.get(v, _MISS)
            if s is _MISS:
                s = _str_text(v)
        elif t is dict:
            if v:
                out.append(f"{indent}{key}:")
                if not _emit(v, indent + "  ", out):
                    return False
                continue
            s = "{}"
        elif t is list:
            if v:
                out.append(f"{indent}{key}:")
                for item in v:
                    s = None if type(item) in (dict, list) else scalar(item)
                    if s is None:
                        return False
                    out.append(f"{indent}  - {s}")
                continue
            s = "[]"
        else:
            s = scalar(v)
        if s is None:
            return False
        out.append(f"{indent}{key}: {s}")
    return True
