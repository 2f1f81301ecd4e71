"""AppController keys and object names of graph nodes within one release, pure.

Keys use the ``depends-on`` reference grammar: ``kind/name`` (the AppController form), qualified as
``kind.group/name`` only when two rendered kinds share a lower-case name, and prefixed with a
namespace (``db/statefulset/postgres``) only for objects outside the release namespace. Barrier
vertices become AppController's always-ready ``void/<name>`` keys. The emitters, the views and the
engine all name nodes through :class:`Keys`.
"""
from __future__ import annotations

import hashlib
import re

from helm_ac.analysis.graph import Barrier, Node
from helm_ac.analysis.model import Analysis
from helm_ac.kinds import ObjectKey

_DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


def slug(text: str, limit: int = 253) -> str:
    """A DNS-1123 subdomain from ``text``; a hash suffix keeps long or mangled names unique."""
    if len(text) <= limit and _DNS1123.fullmatch(text) and "--" not in text:
        return text
    s = re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-.")
    s = re.sub(r"-{2,}", "-", s) or "x"
    if s != text.lower() or len(s) > limit:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        s = f"{s[:limit - 9].rstrip('-.')}-{digest}"
    return s


class Keys:
    """AppController keys of graph nodes within one release."""

    def __init__(self, a: Analysis, release: str) -> None:
        self.release = release
        self.namespace = a.namespace
        groups: dict[str, set[str]] = {}
        for k in a.order:
            groups.setdefault(k.kind.lower(), set()).add(k.group)
        self._qualify = {kind for kind, gs in groups.items() if len(gs) > 1}
        self._cache: dict[Node, str] = {}

    def key(self, node: Node) -> str:
        hit = self._cache.get(node)
        if hit is not None:
            return hit
        if isinstance(node, Barrier):
            dotted = ".".join((self.release, *node.path, node.role))
            if any("." in part for part in (*node.path, node.role)):  # dots would make names ambiguous
                dotted += "-" + hashlib.sha256("\0".join((self.release, *node.path, node.role)).encode()).hexdigest()[:8]
            out = "void/" + slug(dotted)
        else:
            out = node.qualified(group=node.kind.lower() in self._qualify, namespace=node.namespace != self.namespace)
        self._cache[node] = out
        return out

    def definition_name(self, node: ObjectKey) -> str:
        """AppController's ``kubeac wrap`` naming, ``<kind>-<name>``, qualified like the key."""
        return slug(self.key(node).replace("/", "-"))
