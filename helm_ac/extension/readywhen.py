"""The ``appcontroller.k8s/ready-when`` readiness override (spec v1alpha1).

A value is one or more clauses, separated by newlines or ``&&``; the object
is ready when *all* clauses hold::

    exists                                   the object exists (ConfigMap-style)
    endpoints                                a Service: the Pods it selects are ready endpoints
    condition:Available                      status.conditions[type=Available].status == "True"
    condition:Progressing=False              ... with an explicit status
    {.status.phase} == Running               a kubectl-style JSONPath compared to a value
    {.status.readyReplicas} >= 2             numbers compare numerically
    {.status.loadBalancer.ingress}           the path exists and is not empty

JSONPath is evaluated against the whole object (``{.status...}``,
``{.spec...}``), with ``jsonpath-ng``'s extended syntax (filters such as
``{.status.conditions[?(@.type=="Ready")].status}``).  Operators:
``== != < <= > >=`` and no others (``===``, ``=``, ``<>`` are errors; a value that
starts with one of ``= < > !`` is quoted).  Values: numbers (ASCII digits),
``true``/``false``, ``null``, quoted strings, or bare words (strings).  When a
path yields several values, the clause holds if any of them satisfies it.
Whitespace around clauses, operators and values is spaces, tabs and carriage
returns (:data:`WS`).

:data:`PATTERN` is the same grammar as a regular expression, for the JSON
Schema; only the JSONPath inside the braces is left to jsonpath-ng.
"""
from __future__ import annotations

import json
import operator
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Union

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt,
}
#: Whitespace around clauses, operators and values (newlines separate clauses).
WS = " \t\r"
_CONDITION_RE = r"condition:(?P<type>[A-Za-z][A-Za-z0-9_.-]*)(?:=(?P<status>True|False|Unknown))?"
_CONDITION = re.compile(rf"^{_CONDITION_RE}$")
#: A path clause read loosely (any run of operator characters), so that a wrong operator gets its own message.
_PATH = re.compile(r"^\{(?P<path>[^{}]+)\}[ \t\r]*(?:(?P<op>[=<>!]+)[ \t\r]*(?P<value>.*))?$")
_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def _grammar_pattern() -> str:
    """The whole ready-when value as one regular expression (JSON Schema dialect: no named groups)."""
    ws = "[ \\t\\r]*"
    no_sep = "(?:[^&\\n]|&(?!&))"  # within a clause: no newline, no "&&"
    path = "(?:[^{}&\\n]|&(?!&))+"
    ops = "|".join(re.escape(op) for op in sorted(_OPS, key=len, reverse=True))
    value = f"(?![=<>! \\t\\r]){no_sep}+"
    condition = re.sub(r"\?P<\w+>", "?:", _CONDITION_RE)
    clause = f"(?:exists|endpoints|{condition}|\\{{{path}\\}}(?:{ws}(?:{ops}){ws}{value})?)"
    sep = "(?:&&|\\n)"
    return f"^(?:{ws}{sep})*{ws}{clause}{ws}(?:{sep}{ws}(?:{clause})?{ws})*$"


PATTERN = _grammar_pattern()


class ReadyWhenError(ValueError):
    """A clause does not follow the grammar."""

    def __init__(self, clause: str, reason: str) -> None:
        super().__init__(f"{clause!r}: {reason}")
        self.clause = clause
        self.reason = reason


@dataclass(frozen=True)
class Exists:
    """Ready as soon as the object exists."""

    def holds(self, obj: Mapping[str, Any]) -> bool:
        return True


@dataclass(frozen=True)
class Endpoints:
    """A Service's selected Pods are ready: the object alone cannot tell, so
    :func:`helm_ac.engine.readiness.compute` decides it with the Pods; here it never holds."""

    def holds(self, obj: Mapping[str, Any]) -> bool:
        return False


@dataclass(frozen=True)
class Condition:
    """``status.conditions`` has ``type`` with ``status`` (default True)."""

    type: str
    status: str = "True"

    def holds(self, obj: Mapping[str, Any]) -> bool:
        conds = (obj.get("status") or {}).get("conditions") or []
        return any(isinstance(c, Mapping) and c.get("type") == self.type and str(c.get("status")) == self.status
                   for c in conds)


@dataclass(frozen=True)
class PathCheck:
    """A JSONPath compared to a value, or just tested for presence."""

    path: str
    op: str | None = None
    value: Any = None
    _compiled: Any = field(default=None, compare=False, repr=False)

    def values(self, obj: Mapping[str, Any]) -> list[Any]:
        return [m.value for m in self._compiled.find(obj)]

    def holds(self, obj: Mapping[str, Any]) -> bool:
        found = self.values(obj)
        if self.op is None:
            return any(v not in (None, "", [], {}) for v in found)
        fn = _OPS[self.op]
        for v in found:
            try:
                if fn(_coerce(v, self.value), self.value):
                    return True
            except TypeError:
                continue
        return False


Clause = Union[Exists, Endpoints, Condition, PathCheck]


def _coerce(live: Any, want: Any) -> Any:
    """Compare numbers numerically even when the live value is a numeric string."""
    if isinstance(want, (int, float)) and not isinstance(want, bool) and isinstance(live, str):
        try:
            return float(live)
        except ValueError:
            return live
    if isinstance(want, str) and not isinstance(live, str) and live is not None:
        return json.dumps(live) if isinstance(live, bool) else str(live)
    return live


def _parse_value(text: str) -> Any:
    text = text.strip(WS)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false", "null"):
        return json.loads(text)
    if _NUMBER.fullmatch(text):  # ASCII digits only: int()/float() would take "٣", "1_0", "nan"
        return float(text) if any(c in text for c in ".eE") else int(text)
    return text


def compile_path(path: str) -> Any:
    """Compile a kubectl-style path (``.status.phase``) with jsonpath-ng; raise ReadyWhenError."""
    from jsonpath_ng.exceptions import (
        JSONPathError,  # lazy: only charts using paths pay for it
    )
    from jsonpath_ng.ext import parse

    p = path.strip()
    expr = "$" + p if p.startswith((".", "[")) else ("$." + p if not p.startswith("$") else p)
    try:
        return parse(expr)
    except (JSONPathError, Exception) as exc:  # jsonpath-ng raises a few unrelated types on garbage
        raise ReadyWhenError("{" + path + "}", f"invalid JSONPath: {exc}") from None


def split_clauses(value: str) -> list[str]:
    """Split on newlines and ``&&``."""
    return [c.strip(WS) for line in value.split("\n") for c in line.split("&&") if c.strip(WS)]


#: How to write a path clause, for its errors.
_PATH_GRAMMAR = "write {<jsonpath>} [== != < <= > >= <value>]"


def parse_clause(text: str) -> Clause:
    """Parse one clause; raise :class:`ReadyWhenError`."""
    if text == "exists":
        return Exists()
    if text == "endpoints":
        return Endpoints()
    if text.startswith("condition:"):
        m = _CONDITION.match(text)
        if not m:
            raise ReadyWhenError(text, "write condition:<Type> or condition:<Type>=<True|False|Unknown>")
        return Condition(m.group("type"), m.group("status") or "True")
    m = _PATH.match(text)
    if m:
        op, value = m.group("op"), m.group("value")
        if op is not None:
            grammar = _PATH_GRAMMAR
            if op not in _OPS:
                raise ReadyWhenError(text, f"unknown operator {op!r}; {grammar}")
            if not value:
                raise ReadyWhenError(text, f"missing value after {op}; {grammar}")
            if value[0] in "=<>!":
                raise ReadyWhenError(text, f"the value after {op} starts with {value[0]!r}; {grammar}, "
                                           f"and quote a value that starts with = < > or !: {op} '{value}'")
        return PathCheck(m.group("path").strip(), op, _parse_value(value) if op else None,
                         compile_path(m.group("path")))
    if text.startswith("{"):
        raise ReadyWhenError(text, _PATH_GRAMMAR)
    raise ReadyWhenError(text, "expected exists, endpoints, condition:<Type> or {<jsonpath>} <op> <value>")


def parse(value: str) -> list[Clause]:
    """Parse a whole ready-when value into clauses (all must hold)."""
    clauses = split_clauses(value)
    if not clauses:
        raise ReadyWhenError(value, "empty")
    return [parse_clause(c) for c in clauses]


def is_ready(clauses: list[Clause], obj: Mapping[str, Any]) -> bool:
    """True when every clause holds for the live object."""
    return all(c.holds(obj) for c in clauses)
