""""Did you mean" for unresolved references, from indexes built once per chart, pure.

A chart of 10,000 objects with 10,000 misspelt references used to compare every reference with
every object name (``difflib.get_close_matches`` over all of them: minutes).  Here objects are
indexed once by (kind, name) and by name, and close names are looked up through
:class:`CloseNames`; answers are memoised, so a repeated reference costs a dictionary look-up.
"""
from __future__ import annotations

import difflib
from collections import defaultdict
from typing import Iterable

from helm_ac import kinds
from helm_ac.extension import refs
from helm_ac.kinds import ObjectKey


def close(word: str, options: Iterable[str], cutoff: float) -> str | None:
    """The option nearest to ``word`` by difflib's ratio, if at least ``cutoff``."""
    m = difflib.get_close_matches(word, list(options), n=1, cutoff=cutoff)
    return m[0] if m else None


class CloseNames:
    """The names close to a word, as ``difflib.get_close_matches`` ranks them, without a scan of all.

    Up to :attr:`SCAN` names are simply scanned.  Among more, the candidates are the names within one
    edit of the word (a character inserted, deleted or replaced, or two neighbours swapped: the usual
    typos), found through an index of every name's one-character deletions (the SymSpell method):
    a look-up per deletion of the word, then difflib ranks the few candidates.  A name that differs
    more is not suggested in a big chart.
    """

    SCAN = 300

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(set(names))
        self._deletions: dict[str, list[str]] | None = None

    def _index(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = defaultdict(list)
        for name in self.names:
            index[name].append(name)
            for variant in {name[:i] + name[i + 1:] for i in range(len(name))}:
                index[variant].append(name)
        return index

    def candidates(self, word: str) -> list[str]:
        if len(self.names) <= self.SCAN:
            return self.names
        if self._deletions is None:
            self._deletions = self._index()
        found = set(self._deletions.get(word, ()))
        for variant in {word[:i] + word[i + 1:] for i in range(len(word))}:
            found.update(self._deletions.get(variant, ()))
        return sorted(found)

    def best(self, word: str, cutoff: float, exclude: str | None = None) -> str | None:
        """difflib's choice among the candidates; in a big set, among those one edit away when there are
        any (the deletion index also finds some two edits away, which difflib may rank first on ties)."""
        found = [n for n in self.candidates(word) if n != exclude]
        if len(self.names) > self.SCAN:
            near = [n for n in found if _one_edit(word, n)]
            found = near or found
        return close(word, found, cutoff)


def _one_edit(a: str, b: str) -> bool:
    """Are ``a`` and ``b`` at most one edit apart (insert, delete, replace, or swap two neighbours)?"""
    if len(a) < len(b):
        a, b = b, a
    if len(a) - len(b) > 1:
        return False
    i = 0
    while i < len(b) and a[i] == b[i]:
        i += 1
    if len(a) != len(b):
        return a[i + 1:] == b[i:]
    if i == len(a) or a[i + 1:] == b[i + 1:]:
        return True  # equal, or one character replaced
    return i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2:] == b[i + 2:]


class Suggestions:
    """The nearest object to an unresolved object reference (never the referring object itself)."""

    def __init__(self, order: list[ObjectKey], namespace: str) -> None:
        self.namespace = namespace
        self.by_kind_name: dict[tuple[str, str], list[ObjectKey]] = defaultdict(list)
        self.by_name: dict[str, list[ObjectKey]] = defaultdict(list)
        names_by_kind: dict[str, list[str]] = defaultdict(list)
        for k in order:
            kind = k.kind.lower()
            self.by_kind_name[(kind, k.name)].append(k)
            self.by_name[k.name].append(k)
            names_by_kind[kind].append(k.name)
        self.kinds = CloseNames(names_by_kind)
        self._names_by_kind = names_by_kind
        self._close_by_kind: dict[str, CloseNames] = {}
        self.all_names = CloseNames(self.by_name)
        self._memo: dict[tuple[refs.ObjectRef, ObjectKey], str | None] = {}
        self._kind_memo: dict[str, str | None] = {}

    def _kind(self, kind: str) -> str | None:
        if kind not in self._kind_memo:
            self._kind_memo[kind] = self.kinds.best(kind, 0.75)
        return self._kind_memo[kind]

    def _only(self, keys: list[ObjectKey], referrer: ObjectKey) -> bool:
        return len(keys) == 1 and keys[0] == referrer

    def of_kind(self, kind: str) -> CloseNames:
        got = self._close_by_kind.get(kind)
        if got is None:
            got = self._close_by_kind[kind] = CloseNames(self._names_by_kind.get(kind, ()))
        return got

    def suggest(self, ref: refs.ObjectRef, referrer: ObjectKey) -> str | None:
        memo_key = (ref, referrer)
        if memo_key not in self._memo:
            self._memo[memo_key] = self._suggest(ref, referrer)
        return self._memo[memo_key]

    def _suggest(self, ref: refs.ObjectRef, referrer: ObjectKey) -> str | None:
        want_ns = ref.namespace or referrer.namespace or self.namespace
        same = [k for k in self.by_kind_name.get((ref.kind, ref.name), ()) if k != referrer]
        if same:
            k = same[0]
            if ref.group and k.group != ref.group:
                return k.qualified(group=True)
            if k.namespace and k.namespace != want_ns:
                return f"{k.qualified(namespace=True)} (it is in namespace {k.namespace})"
        kind = kinds.ALIASES.get(ref.kind) or self._kind(ref.kind)
        if kind and kind != ref.kind and any(k != referrer for k in self.by_kind_name.get((kind, ref.name), ())):
            return f"{kind}/{ref.name}"
        other_kind = [k for k in self.by_name.get(ref.name, ()) if k.kind.lower() != ref.kind and k != referrer]
        if other_kind:
            return str(sorted(other_kind)[0])
        want_kind = kind or ref.kind
        own = referrer.name if self._only(self.by_kind_name.get((want_kind, referrer.name), []), referrer) else None
        name = self.of_kind(want_kind).best(ref.name, 0.6, exclude=own)
        if name:
            return f"{want_kind}/{name}"
        own = referrer.name if self._only(self.by_name.get(referrer.name, []), referrer) else None
        any_name = self.all_names.best(ref.name, 0.75, exclude=own)
        if any_name:
            return str(sorted(k for k in self.by_name[any_name] if k != referrer)[0])
        return None
