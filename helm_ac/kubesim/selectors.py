"""Label and field selectors, parsed and matched as kube-apiserver does.

Label selectors follow ``k8s.io/apimachinery/pkg/labels`` (``Parse``): ``=``, ``==``, ``!=``, ``in``,
``notin``, ``>``/``<`` (integers), bare ``key`` (exists) and ``!key`` (does not exist), keys checked as
qualified names and values as label values. Field selectors follow ``pkg/fields``: ``=``, ``==`` and
``!=`` terms joined by ``,`` with ``\\`` escapes; which fields a resource supports is the API's own
table (:func:`supported_fields`). Bad syntax raises :class:`StatusError` 400 BadRequest with the
real messages.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Mapping

from .errors import StatusError, bad_request
from .fields import is_label_value, is_qualified_name

_SPECIAL = "=!(),><"
_WHITESPACE = " \t\r\n"
_KEYWORDS = {"in", "notin"}
_SYMBOLS = {")", ",", "!", "==", "=", ">", "<", "!=", "("}
_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"

_INT_RE = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class Requirement:
    """One term: ``key`` ``op`` ``values`` (op: in, notin, =, ==, !=, exists, !, gt, lt)."""

    key: str
    op: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op, key = self.op, self.key
        if op in ("=", "==", "in"):
            return key in labels and labels[key] in self.values
        if op in ("!=", "notin"):
            return key not in labels or labels[key] not in self.values
        if op == "exists":
            return key in labels
        if op == "!":
            return key not in labels
        # gt / lt
        if key not in labels or not _INT_RE.fullmatch(labels[key]):
            return False
        have, want = int(labels[key]), int(next(iter(self.values)))
        return have > want if op == "gt" else have < want


@dataclass(frozen=True)
class LabelSelector:
    """The parsed selector: all requirements must match (empty: everything)."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


class _Parser:
    """The apimachinery label-selector grammar, token by token, with its error messages."""

    def __init__(self, text: str) -> None:
        self.items = self._scan(text)
        self.pos = 0

    @staticmethod
    def _scan(s: str) -> list[tuple[str, str]]:
        """Tokens as (kind, literal): kind is the symbol/keyword itself, ``id``, ``end`` or ``error``."""
        out: list[tuple[str, str]] = []
        i, n = 0, len(s)
        while True:
            while i < n and s[i] in _WHITESPACE:
                i += 1
            if i >= n:
                out.append(("end", ""))
                return out
            if s[i] in _SPECIAL:
                j, last = i, ""
                while j < n and s[j] in _SPECIAL:
                    if s[i:j + 1] in _SYMBOLS:
                        last = s[i:j + 1]
                    elif last:
                        break
                    j += 1
                if not last:
                    out.append(("error", f"error expected: keyword found '{s[i:j]}'"))
                    i = j
                else:
                    out.append((last, last))
                    i += len(last)
                continue
            j = i
            while j < n and s[j] not in _SPECIAL and s[j] not in _WHITESPACE:
                j += 1
            word = s[i:j]
            out.append((word if word in _KEYWORDS else "id", word))
            i = j

    def look(self, values: bool = True) -> tuple[str, str]:
        tok, lit = self.items[self.pos]
        return ("id" if values and tok in _KEYWORDS else tok), lit

    def take(self, values: bool = True) -> tuple[str, str]:
        got = self.look(values)
        self.pos += 1
        return got

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.look()
            if tok in ("id", "!"):
                try:
                    reqs.append(self.requirement())
                except ValueError as e:
                    raise ValueError(f"unable to parse requirement: {e}") from None
                t, lit2 = self.take()
                if t == "end":
                    return reqs
                if t == ",":
                    t2, l2 = self.look()
                    if t2 not in ("id", "!"):
                        raise ValueError(f"found '{l2}', expected: identifier after ','")
                    continue
                raise ValueError(f"found '{lit2}', expected: ',' or 'end of string'")
            if tok == "end":
                return reqs
            raise ValueError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self) -> Requirement:
        op = ""
        tok, key = self.take()
        if tok == "!":
            op = "!"
            tok, key = self.take()
        if tok != "id":
            raise ValueError(f"found '{key}', expected: identifier")
        errs = is_qualified_name(key)
        if errs:
            raise ValueError(f'Invalid value: "{key}": {"; ".join(errs)}')
        if op == "!" or self.look()[0] in ("end", ","):
            return Requirement(key, op or "exists")  # after "!key" the caller wants ',' or the end
        tok, lit = self.take(values=False)
        names = {"in": "in", "notin": "notin", "=": "=", "==": "==", "!=": "!=", ">": "gt", "<": "lt"}
        if tok not in names:
            raise ValueError(f"found '{lit}', expected: {_BINARY_OPERATORS}")
        op = names[tok]
        values = self.value_set() if op in ("in", "notin") else self.exact_value()
        if op in ("gt", "lt"):
            v = next(iter(values))
            if not _INT_RE.fullmatch(v):
                raise ValueError(f"values[0]: Invalid value: \"{v}\": for 'Gt', 'Lt' operators, the value "
                                 "must be an integer")
        for v in sorted(values):
            errs = is_label_value(v)
            if errs:
                raise ValueError(f'values[0][{key}]: Invalid value: "{v}": {"; ".join(errs)}')
        return Requirement(key, op, frozenset(values))

    def value_set(self) -> set[str]:
        tok, lit = self.take()
        if tok != "(":
            raise ValueError(f"found '{lit}' expected: '('")
        tok, lit = self.look()
        if tok == ")":
            self.take()
            return {""}
        if tok not in ("id", ","):
            raise ValueError(f"found '{lit}', expected: ',', ')' or identifier")
        out: set[str] = set()
        while True:
            tok, lit = self.take()
            if tok == "id":
                out.add(lit)
                t2, l2 = self.look()
                if t2 == ",":
                    continue
                if t2 == ")":
                    self.take()
                    return out
                raise ValueError(f"found '{l2}', expected: ',' or ')'")
            if tok == ",":
                if not out:
                    out.add("")
                t2, _ = self.look()
                if t2 == ")":
                    out.add("")
                    self.take()
                    return out
                if t2 == ",":
                    self.take()
                    out.add("")
                continue
            raise ValueError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        tok, _ = self.look()
        if tok in ("end", ","):
            return {""}
        tok, lit = self.take()
        if tok == "id":
            return {lit}
        raise ValueError(f"found '{lit}', expected: identifier")


def label_selector_string(selector: Mapping[str, Any]) -> str:
    """A ``LabelSelector`` object (matchLabels, matchExpressions) as selector text, as
    ``metav1.LabelSelectorAsSelector(...).String()`` writes it (requirements sorted by key)."""
    terms: list[tuple[str, str]] = []
    for k, v in sorted((selector.get("matchLabels") or {}).items()):
        terms.append((k, f"{k}={v}"))
    ops = {"In": "in", "NotIn": "notin"}
    for e in selector.get("matchExpressions") or ():
        key, op, values = e.get("key", ""), e.get("operator", ""), sorted(e.get("values") or ())
        if op in ops:
            terms.append((key, f"{key} {ops[op]} ({','.join(values)})"))
        elif op == "Exists":
            terms.append((key, key))
        elif op == "DoesNotExist":
            terms.append((key, f"!{key}"))
    return ",".join(t for _, t in sorted(terms, key=lambda kt: kt[0]))


@lru_cache(maxsize=512)
def parse_label_selector(text: str) -> LabelSelector:
    """``labelSelector=...`` of a list or watch; 400 BadRequest on bad syntax."""
    if not text.strip():
        return LabelSelector()
    try:
        reqs = _Parser(text).parse()
    except ValueError as e:
        raise bad_request(str(e)) from None
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


# ---------------------------------------------------------------------------------------------
# field selectors

@dataclass(frozen=True)
class FieldTerm:
    field: str
    op: str  # "=" (also for "==") or "!="
    value: str


@dataclass(frozen=True)
class FieldSelector:
    terms: tuple[FieldTerm, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.terms

    def matches(self, fields: Mapping[str, str]) -> bool:
        for t in self.terms:
            have = fields.get(t.field, "")
            if (have == t.value) != (t.op == "="):
                return False
        return True


def _split_unescaped(s: str, sep: str) -> list[str]:
    parts, cur, esc = [], [], False
    for ch in s:
        if esc:
            cur.append("\\" + ch)
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if esc:
        cur.append("\\")
    parts.append("".join(cur))
    return parts


def _unescape(v: str) -> str:
    """pkg/fields UnescapeValue, with its messages (a rune printed as its number, as Go's %v does)."""
    out, esc = [], False
    for ch in v:
        if esc:
            if ch not in "\\,=":
                raise bad_request(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            esc = False
        elif ch == "\\":
            esc = True
        elif ch in ",=":
            raise bad_request(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if esc:
        raise bad_request("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _find_operator(term: str) -> tuple[str, str, str] | None:
    """pkg/fields splitTerm: the leftmost operator (``!=`` and ``==`` before ``=``), escapes or not."""
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


@lru_cache(maxsize=512)
def parse_field_selector(text: str) -> FieldSelector:
    """``fieldSelector=...``; 400 BadRequest on bad syntax (which fields exist is checked separately)."""
    if not text.strip():
        return FieldSelector()
    terms = []
    for part in _split_unescaped(text, ","):
        if not part:
            continue
        found = _find_operator(part)
        if found is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        lhs, op, rhs = found
        terms.append(FieldTerm(lhs, "!=" if op == "!=" else "=", _unescape(rhs)))
    return FieldSelector(tuple(terms))


def _get(obj: Mapping[str, Any], *path: str) -> Any:
    cur: Any = obj
    for p in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(p)
    return cur


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _pod_fields(o: Mapping[str, Any]) -> dict[str, str]:
    ips = _get(o, "status", "podIPs") or []
    return {"spec.nodeName": _text(_get(o, "spec", "nodeName")),
            "spec.restartPolicy": _text(_get(o, "spec", "restartPolicy")),
            "spec.schedulerName": _text(_get(o, "spec", "schedulerName")),
            "spec.serviceAccountName": _text(_get(o, "spec", "serviceAccountName")),
            "spec.hostNetwork": _text(bool(_get(o, "spec", "hostNetwork"))),
            "status.phase": _text(_get(o, "status", "phase")),
            "status.podIP": _text(_get(o, "status", "podIP")),
            "status.podIPs": _text(ips[0].get("ip") if ips and isinstance(ips[0], Mapping) else ""),
            "status.nominatedNodeName": _text(_get(o, "status", "nominatedNodeName"))}


def _event_fields(o: Mapping[str, Any]) -> dict[str, str]:
    out = {f"involvedObject.{k}": _text(_get(o, "involvedObject", k))
           for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")}
    out.update({"reason": _text(o.get("reason")), "reportingComponent": _text(o.get("reportingComponent")),
                "source": _text(_get(o, "source", "component")), "type": _text(o.get("type"))})
    return out


#: (group, plural) -> the extra fields the API lets a field selector name (as the registries'
#: GetAttrs / field label conversion functions), and how to read them.
_EXTRA: dict[tuple[str, str], Callable[[Mapping[str, Any]], dict[str, str]]] = {
    ("", "pods"): _pod_fields,
    ("", "secrets"): lambda o: {"type": _text(o.get("type"))},
    ("", "namespaces"): lambda o: {"status.phase": _text(_get(o, "status", "phase"))},
    ("", "nodes"): lambda o: {"spec.unschedulable": _text(bool(_get(o, "spec", "unschedulable")))},
    ("", "events"): _event_fields,
    ("events.k8s.io", "events"): lambda o: {"reason": _text(o.get("reason")), "type": _text(o.get("type")),
                                            "regarding.kind": _text(_get(o, "regarding", "kind")),
                                            "regarding.name": _text(_get(o, "regarding", "name")),
                                            "regarding.namespace": _text(_get(o, "regarding", "namespace"))},
    ("", "replicationcontrollers"): lambda o: {"status.replicas": _text(_get(o, "status", "replicas"))},
    ("apps", "replicasets"): lambda o: {"status.replicas": _text(_get(o, "status", "replicas"))},
    ("batch", "jobs"): lambda o: {"status.successful": _text(_get(o, "status", "succeeded"))},
    ("", "services"): lambda o: {"spec.clusterIP": _text(_get(o, "spec", "clusterIP")),
                                 "spec.type": _text(_get(o, "spec", "type"))},
    ("certificates.k8s.io", "certificatesigningrequests"):
        lambda o: {"spec.signerName": _text(_get(o, "spec", "signerName"))},
}


def supported_fields(group: str, plural: str, namespaced: bool) -> frozenset[str]:
    base = {"metadata.name", "metadata.namespace"} if namespaced else {"metadata.name"}
    extra = _EXTRA.get((group, plural))
    if extra is not None:
        base |= set(extra({}))
    return frozenset(base)


def check_fields(sel: FieldSelector, group: str, plural: str, namespaced: bool) -> None:
    """400 ``field label not supported: X`` for a field the resource cannot be selected by."""
    ok = supported_fields(group, plural, namespaced)
    for t in sel.terms:
        if t.field not in ok:
            raise bad_request(f'field label not supported: {t.field}')


def object_fields(obj: Mapping[str, Any], group: str, plural: str, namespaced: bool) -> dict[str, str]:
    """The selectable field values of ``obj``."""
    meta = obj.get("metadata") or {}
    out = {"metadata.name": _text(meta.get("name"))}
    if namespaced:
        out["metadata.namespace"] = _text(meta.get("namespace"))
    extra = _EXTRA.get((group, plural))
    if extra is not None:
        out.update(extra(obj))
    return out


__all__ = ["FieldSelector", "FieldTerm", "LabelSelector", "Requirement", "StatusError", "check_fields",
           "label_selector_string", "object_fields", "parse_field_selector", "parse_label_selector", "supported_fields"]
