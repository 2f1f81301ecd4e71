"""The chart-extension spec, v1alpha1: every annotation helm-ac reads, in one place.

Object annotations (``metadata.annotations`` of rendered objects) and chart
annotations (``annotations:`` in Chart.yaml) share the prefix
``appcontroller.k8s/``.  Each :class:`Annotation` below carries its key, its
documentation, its default, the JSON Schema fragment published under
``schema/`` (generated from this module by :mod:`helm_ac.extension.schema`) and the
parser that turns the string value into a typed value or raises
:class:`SpecValueError` with a hint.  ``docs/chart-extension.md`` is the prose
version; a test keeps the three in step.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from helm_ac.extension import durations, readywhen, refs

PREFIX = "appcontroller.k8s/"
DEPENDS_ON = PREFIX + "depends-on"  # the annotation key of the references
API_VERSION = "appcontroller.k8s/v1alpha1"


class SpecValueError(ValueError):
    """An annotation value is invalid; ``reason`` says why, ``hint`` what to write."""

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


@dataclass(frozen=True)
class Annotation:
    """One annotation of the spec."""

    name: str  # key without the prefix
    summary: str
    default: str | None
    schema: dict[str, Any]
    parse: Callable[[str], Any]
    example: str

    @property
    def key(self) -> str:
        return PREFIX + self.name


ON_ERROR_VALUES = ("abort", "ignore", "ignore-all")
_SUCCESS_FACTOR = r"(100|[1-9][0-9]?)%?"
#: Whitespace allowed around a value (block scalars add a trailing newline); the schema says the same.
WS = " \t\r\n"
_WS_RE = "[ \\t\\r\\n]*"


def _padded(pattern: str) -> str:
    """An anchored schema pattern that allows surrounding whitespace."""
    return f"^{_WS_RE}(?:{pattern}){_WS_RE}$"
DEFAULT_TIMEOUT_SECONDS = 600.0  # AppController's WaitTimeout


def _parse_depends_on(value: str) -> list[str]:
    # Syntax of each reference is checked one by one by the linter (one finding
    # per bad reference), so here we only split.
    return refs.split_refs(value)


def _parse_timeout(value: str) -> float:
    try:
        seconds = durations.parse(value.strip(WS))
    except ValueError:
        raise SpecValueError(f"{value!r} is not a Go duration", "write e.g. 90s, 5m or 1h30m") from None
    if seconds <= 0:
        raise SpecValueError("a timeout must be greater than zero", "write e.g. 90s, 5m or 1h30m")
    return seconds


def _parse_estimate(value: str) -> float:
    try:
        return durations.parse(value.strip(WS))
    except ValueError:
        raise SpecValueError(f"{value!r} is not a Go duration", "write e.g. 30s, 2m or 1h") from None


def _parse_on_error(value: str) -> str:
    v = value.strip(WS)
    if v not in ON_ERROR_VALUES:
        raise SpecValueError(f"{value!r} is not an on-error policy",
                             "write abort (default: fail the run), ignore (treat as ready and go on) "
                             "or ignore-all (skip it and everything that depends on it)")
    return v


def _parse_retry(value: str) -> int:
    v = value.strip(WS)
    if not re.fullmatch(r"[0-9]+", v):
        raise SpecValueError(f"{value!r} is not a whole number ≥ 0", "write e.g. \"0\" or \"3\" (extra attempts)")
    return int(v)


def _parse_success_factor(value: str) -> int:
    v = value.strip(WS)
    m = re.fullmatch(_SUCCESS_FACTOR, v)
    if not m:
        raise SpecValueError(f"{value!r} is not a percentage from 1 to 100",
                             "write the percent of replicas that must be ready, e.g. \"80\"")
    return int(m.group(1))


def _parse_ready_when(value: str) -> list[readywhen.Clause]:
    try:
        return readywhen.parse(value)
    except readywhen.ReadyWhenError as exc:
        raise SpecValueError(f"ready-when clause {exc.clause!r}: {exc.reason}",
                             "clauses: exists | endpoints | condition:<Type>[=<Status>] | {<jsonpath>} <op> <value>, "
                             "joined by && or newlines") from None


def scalar_text(raw: Any) -> str | None:
    """The string a value stands for: itself, or a YAML boolean or number as written (``true``, ``3``);
    None for what no string stands for (a list, a mapping, binary data, a date, null)."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, (int, float)):
        return str(raw)
    return None


def describe(raw: Any) -> str:
    """What a YAML value that is not a string is, in words (for messages: never a Python repr)."""
    import datetime

    kinds: list[tuple[type | tuple[type, ...], str]] = [
        (bool, "a boolean"), (int, "an integer"), (float, "a number"), (list, "a list"), (dict, "a mapping"),
        (type(None), "empty (null)"), ((bytes, bytearray), "binary data (a !!binary value)"),
        ((datetime.date, datetime.datetime), "a date (a YAML timestamp)"), (set, "a set (!!set)")]
    for types, words in kinds:
        if isinstance(raw, types):
            return words
    return f"a YAML {type(raw).__name__} value"


def non_string_problem(key: str, raw: Any) -> tuple[str, str]:
    """(message, hint) for an annotation whose value is not a string."""
    message = f"{key} is {describe(raw)}, not a string: Kubernetes annotation values are strings"
    text = scalar_text(raw)
    if text is not None:
        return message, f"quote the value: {key}: \"{text}\""
    if raw is None:
        return message, f"give it a value in quotes ({key}: \"...\") or remove it"
    if isinstance(raw, (bytes, bytearray)):
        return message, f"write the value as a quoted string, without the !!binary tag: {key}: \"...\""
    return message, f"write the value as one quoted string: {key}: \"...\""


def parse_raw(annotation: Annotation, raw: Any) -> Any:
    """Parse a value as YAML gave it: a string, or a boolean or number standing for one (reported apart,
    as non-string-annotation); anything else raises :class:`SpecValueError`."""
    text = scalar_text(raw)
    if text is None:
        raise SpecValueError(f"{describe(raw)} is not a string", "write the value as a quoted string")
    return annotation.parse(text)


_STRING = {"type": "string"}

OBJECT_ANNOTATIONS: dict[str, Annotation] = {a.name: a for a in (
    Annotation(
        "depends-on",
        "Objects (kind/name, kind.group/name, namespace/kind/name) or subcharts (chart:<name>) that must be ready "
        "before this object is created; separated by commas and/or newlines.",
        None,
        {**_STRING, "pattern": rf"^\s*({refs.REF_PATTERN})?(\s*[,\n]\s*({refs.REF_PATTERN})?)*\s*$"},
        _parse_depends_on,
        "statefulset/db, job/migrate",
    ),
    Annotation(
        "timeout",
        "How long to wait for this object to become ready (Go duration).",
        "10m",
        {**_STRING, "pattern": _padded(durations.PATTERN.strip("^$"))},
        _parse_timeout,
        "5m",
    ),
    Annotation(
        "on-error",
        "What a failure or timeout of this object does: abort (fail the run), ignore (treat as ready and go on), "
        "ignore-all (skip it and all its dependents).",
        "abort",
        {**_STRING, "anyOf": [{"enum": list(ON_ERROR_VALUES)}, {"pattern": _padded("|".join(ON_ERROR_VALUES))}]},
        _parse_on_error,
        "ignore",
    ),
    Annotation(
        "retry",
        "How many more attempts after a failure or timeout (integer ≥ 0); the object is deleted and created again.",
        "0",
        {**_STRING, "pattern": _padded("[0-9]+")},
        _parse_retry,
        "2",
    ),
    Annotation(
        "success-factor",
        "Percent (1-100) of the desired replicas that must be ready for the object to count as ready.",
        "100",
        {**_STRING, "pattern": _padded(_SUCCESS_FACTOR)},
        _parse_success_factor,
        "80",
    ),
    Annotation(
        "estimate",
        "How long the object usually takes to become ready (Go duration), for the critical path of "
        "helm ac graph and the durations of helm ac simulate; --estimate on the command line wins.",
        None,
        {**_STRING, "pattern": _padded(durations.PATTERN.strip("^$"))},
        _parse_estimate,
        "90s",
    ),
    Annotation(
        "ready-when",
        "Readiness override: clauses joined by && or newlines, all must hold: exists | endpoints (a Service's "
        "selected Pods are ready) | condition:<Type>[=<Status>] | {<jsonpath>} [<op> <value>].",
        None,
        {**_STRING, "pattern": readywhen.PATTERN},
        _parse_ready_when,
        "{.status.phase} == Active",
    ),
)}


# ---------------------------------------------------------------- chart level

_CHART_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"


@dataclass(frozen=True)
class SubchartOrder:
    """``a, b -> c -> d``: every subchart of a group waits for every one of the previous group."""

    chains: tuple[tuple[tuple[str, ...], ...], ...]

    def edges(self) -> list[tuple[str, str]]:
        """(before, after) pairs between adjacent groups of every chain."""
        out: list[tuple[str, str]] = []
        for chain in self.chains:
            for before, after in zip(chain, chain[1:]):
                out.extend((b, a) for b in before for a in after)
        return out

    def names(self) -> set[str]:
        return {n for chain in self.chains for group in chain for n in group}


def _parse_wait_for_subcharts(value: str) -> bool | tuple[str, ...]:
    v = value.strip()
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    names = tuple(n.strip() for n in re.split(r"[,\n]", v) if n.strip())
    bad = [n for n in names if not re.fullmatch(_CHART_NAME, n)]
    if not names or bad:
        raise SpecValueError(f"{value!r} is neither true, false nor a list of subchart names",
                             "write \"true\" (default), \"false\", or the subcharts to wait for: \"mariadb, redis\"")
    return names


def _parse_subchart_order(value: str) -> SubchartOrder:
    chains = []
    for raw in re.split(r"[;\n]", value):
        raw = raw.strip()
        if not raw or raw.startswith("#"):
            continue
        groups = [tuple(n.strip() for n in g.split(",")) for g in re.split(r"->|→", raw)]
        if len(groups) < 2 or any(not n or not re.fullmatch(_CHART_NAME, n) for g in groups for n in g):
            raise SpecValueError(f"{raw!r} is not a chain of subcharts",
                                 "write chains like \"postgresql -> keycloak -> app\" or \"redis, postgresql -> app\", "
                                 "separated by ; or newlines")
        chains.append(tuple(groups))
    if not chains:
        raise SpecValueError("empty subchart order", "write e.g. \"postgresql -> keycloak\"")
    return SubchartOrder(tuple(chains))


CHART_ANNOTATIONS: dict[str, Annotation] = {a.name: a for a in (
    Annotation(
        "wait-for-subcharts",
        "Whether this chart's own objects wait until its enabled subcharts are ready: true (default), false, "
        "or a comma-separated list of the subcharts (name or alias) to wait for.",
        "true",
        {**_STRING, "pattern": rf"^\s*(true|false|True|False|{_CHART_NAME}(\s*[,\n]\s*{_CHART_NAME})*)\s*$"},
        _parse_wait_for_subcharts,
        "mariadb, redis",
    ),
    Annotation(
        "subchart-order",
        "Ordering between sibling subcharts: chains such as \"postgresql -> keycloak -> app\"; a comma groups "
        "subcharts (\"redis, postgresql -> app\"); several chains are separated by ; or newlines. Namespaces, CRDs "
        "and crds/ never wait (Helm installs crds/ first).",
        None,
        {**_STRING, "minLength": 1},
        _parse_subchart_order,
        "postgresql -> keycloak",
    ),
)}
