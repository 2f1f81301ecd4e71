""""Did you mean" for unresolved references, from indexes built once per chart, pure.

A chart of 10,000 objects with 10,000 misspelt references used to compare every reference with
every object name (``difflib.get_close_matches`` over all of them: minutes).  Here objects are
indexed once by (kind, name) and by name, and close names are looked up through
:class:`CloseNames`; answers are memoised, so a repeated reference costs a dictionary look-up.
"""
from __future__ import annotations

import bisect
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

    Up to :attr:`SCAN` names are simply scanned by difflib.  Among more, the candidates come from an
    index of every name's one-character deletions (the SymSpell method): a look-up per deletion of the
    word finds the names up to two edits away.  Those one edit away (a character inserted, deleted or
    replaced, or two neighbours swapped: the usual typos) are ranked by the characters they share;
    only when there are none does difflib rank the others.
    """

    SCAN = 300

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(set(names))
        self._deletions: dict[str, list[tuple[str, int]]] | None = None

    def _index(self) -> dict[str, list[tuple[str, int]]]:
        """Every name (position -1) and every one-character deletion of it, with the position deleted."""
        index: dict[str, list[tuple[str, int]]] = {}
        entry = index.setdefault  # (a defaultdict: 4.5 ms for 667 names of 23 characters; this: 3.2 ms)
        for name in self.names:
            entry(name, []).append((name, -1))
            for i in range(len(name)):
                entry(name[:i] + name[i + 1:], []).append((name, i))
        # the names and their mirror images sorted, as UTF-8 (sorted as the text is), for _window
        self._forward = [n.encode() for n in self.names]
        self._backward = sorted(n[::-1].encode() for n in self.names)
        return index

    def _window(self, word: str) -> range:
        """The deletion positions of ``word`` that find every name one edit away.  A name that agrees
        with ``word`` in its first p characters and its last s has its edit between them: a character
        deleted, inserted or replaced at a position i with p >= i >= len - 1 - s; two neighbours swapped
        at i - 1 and i, found from i (j = i - 1) with p + 1 >= i >= len - 1 - s.  Among sorted names the
        longest common start is a neighbour's (the longest common end: a neighbour's among the mirror
        images)."""
        # in UTF-8 bytes: as many as the characters in ASCII, more otherwise (a wider window)
        p = _longest_common_start(self._forward, word.encode())
        s = _longest_common_start(self._backward, word[::-1].encode())
        return range(max(0, len(word) - 1 - s), min(len(word), p + 2))

    def near(self, word: str) -> set[str]:
        """The names one edit away or equal: what :meth:`lookup` finds, with only the deletions of
        :meth:`_window` looked up (the bad-references chart: 2-3 look-ups a reference rather than 23)."""
        assert self._deletions is not None
        index = self._deletions
        near = {name for name, _ in index.get(word, ())}
        get = index.get
        for i in self._window(word):
            bucket = get(word[:i] + word[i + 1:])
            if bucket:
                for name, j in bucket:
                    if _one_edit(word, i, name, j):
                        near.add(name)
        return near

    def lookup(self, word: str) -> tuple[set[str], set[str]]:
        """(names one edit away or equal, names two edits away) found through the deletion index.

        ``word`` without its character i equals ``name`` without its character j: j = -1 (name is
        that deletion), j = i (one character replaced), j = i +- 1 (two neighbours swapped, when the
        one other character agrees), else two edits; ``word`` itself equals a name (j = -1) or a
        name without its character j (a character inserted)."""
        assert self._deletions is not None
        index = self._deletions
        near = {name for name, _ in index.get(word, ())}
        far: set[str] = set()
        for i in range(len(word)):
            for name, j in index.get(word[:i] + word[i + 1:], ()):
                (near if _one_edit(word, i, name, j) else far).add(name)
        return near, far - near

    def best(self, word: str, cutoff: float, exclude: str | None = None) -> str | None:
        """difflib's choice among the names (a scan) or, in a big set, among those one edit away when there
        are any, else among those two edits away that the index finds."""
        if len(self.names) <= self.SCAN:
            return close(word, (n for n in self.names if n != exclude), cutoff)
        if self._deletions is None:
            self._deletions = self._index()
        near = self.near(word)
        near.discard(exclude or "")
        if near:  # ranked like difflib ranks (ties: the larger name), by the characters they share
            score, name = max((_one_edit_ratio(word, n), n) for n in near)
            return name if score >= cutoff else None
        _, far = self.lookup(word)
        far.discard(exclude or "")
        return close(word, sorted(far), cutoff)


def _longest_common_start(words: list[bytes], word: bytes) -> int:
    """The longest start ``word`` shares with one of the sorted ``words``: a neighbour's where ``word``
    would be inserted."""
    at = bisect.bisect_left(words, word)
    before = _shared_start(words[at - 1], word) if at else 0
    return max(before, _shared_start(words[at], word)) if at < len(words) else before


def _shared_start(a: bytes, b: bytes) -> int:
    """How many leading bytes ``a`` and ``b`` share: the first differing byte found by XOR of the two as numbers."""
    n = min(len(a), len(b))
    return n - ((int.from_bytes(a[:n], "big") ^ int.from_bytes(b[:n], "big")).bit_length() + 7) // 8


def _one_edit(word: str, i: int, name: str, j: int) -> bool:
    """``word`` without its character i equals ``name`` without its character j (j = -1: all of
    ``name``): are the two one edit apart (deleted, inserted or replaced, or neighbours swapped)?"""
    return j == -1 or j == i or (j == i + 1 and name[i + 1] == word[i]) or (j == i - 1 and name[i - 1] == word[i])


def _one_edit_ratio(a: str, b: str) -> float:
    """difflib's ratio, 2 x shared characters / total length, of strings at most one edit apart: they share
    every character but the edited one.  (difflib's greedy matching can count fewer around a repeated
    character: ``-b-1``/``-1-1`` 0.5 rather than 0.75; no difflib call keeps each reference in a big chart
    to a few dictionary look-ups.)"""
    if not a and not b:
        return 1.0
    matched = min(len(a), len(b)) if len(a) != len(b) else len(a) - (a != b)
    return 2.0 * matched / (len(a) + len(b))


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
        self._memo: dict[tuple[refs.ObjectRef, ObjectKey | None], str | None] = {}
        self._suffixes: dict[str, dict[str, list[str]]] = {}
        self._kind_memo: dict[str, str | None] = {}

    def _kind(self, kind: str) -> str | None:
        if kind not in self._kind_memo:
            self._kind_memo[kind] = self.kinds.best(kind, 0.75)
        return self._kind_memo[kind]

    def _only(self, keys: list[ObjectKey], referrer: ObjectKey | None) -> bool:
        return len(keys) == 1 and keys[0] == referrer

    def of_kind(self, kind: str) -> CloseNames:
        got = self._close_by_kind.get(kind)
        if got is None:
            got = self._close_by_kind[kind] = CloseNames(self._names_by_kind.get(kind, ()))
        return got

    def with_suffix(self, kind: str, name: str) -> list[str]:
        """Names of ``kind`` ending in ``-<name>``: ``name`` without helm's fullname prefix
        (``job/migrate`` for ``job/app-migrations-migrate``); indexed once per kind."""
        index = self._suffixes.get(kind)
        if index is None:
            index = self._suffixes[kind] = defaultdict(list)
            for full in self._names_by_kind.get(kind, ()):
                for i, c in enumerate(full):
                    if c == "-" and i + 1 < len(full):
                        index[full[i + 1:]].append(full)
        return sorted(set(index.get(name, ())))

    def suggest(self, ref: refs.ObjectRef, referrer: ObjectKey | None) -> str | None:
        """``referrer``: the object whose reference it is (never suggested), None for a command-line one."""
        memo_key = (ref, referrer)
        if memo_key not in self._memo:
            self._memo[memo_key] = self._suggest(ref, referrer)
        return self._memo[memo_key]

    def _suggest(self, ref: refs.ObjectRef, referrer: ObjectKey | None) -> str | None:
        named = self.by_kind_name.get((ref.kind, ref.name))  # (the usual misspelling names nothing: no lists)
        same = [k for k in named if k != referrer] if named else None
        if same:
            want_ns = ref.namespace or (referrer.namespace if referrer else None) or self.namespace
            k = same[0]
            if ref.group and k.group != ref.group:
                return k.qualified(group=True)
            if k.namespace and k.namespace != want_ns:
                return f"{k.qualified(namespace=True)} (it is in namespace {k.namespace})"
        kind = kinds.ALIASES.get(ref.kind) or self._kind(ref.kind)
        if kind and kind != ref.kind and any(k != referrer for k in self.by_kind_name.get((kind, ref.name), ())):
            return f"{kind}/{ref.name}"
        by_name = self.by_name.get(ref.name)
        other_kind = [k for k in by_name if k.kind.lower() != ref.kind and k != referrer] if by_name else None
        if other_kind:
            return str(sorted(other_kind)[0])
        want_kind = kind or ref.kind
        own = referrer.name if referrer and self._only(self.by_kind_name.get((want_kind, referrer.name), []),
                                                       referrer) else None
        name = self.of_kind(want_kind).best(ref.name, 0.6, exclude=own)
        if name:
            return f"{want_kind}/{name}"
        prefixed = [n for n in self.with_suffix(want_kind, ref.name) if n != own]
        if len(prefixed) == 1:
            return f"{want_kind}/{prefixed[0]}"
        own = referrer.name if referrer and self._only(self.by_name.get(referrer.name, []), referrer) else None
        any_name = self.all_names.best(ref.name, 0.75, exclude=own)
        if any_name:
            return str(sorted(k for k in self.by_name[any_name] if k != referrer)[0])
        return None
