"""Injected faults for tests: a seeded plan of refusals, dropped connections and latency per request.

A rule is written as on the command line (``helm ac cluster --fault SPEC``, repeatable) or as a YAML
mapping with the same keys::

    verb=create,resource=secrets,error=429,retry-after=1,rate=0.5
    error=500|503,count=3                  # one of the two codes each time, three times in all
    drop=connection,verb=patch             # the connection is closed with no answer
    drop=watch,after=2s                    # watch streams end abruptly two seconds in
    latency=50ms,namespace=team-a          # answers come 50 ms later

What a rule matches: ``verb`` (``get``, ``list``, ``watch``, ``create``, ``update``, ``patch``,
``delete``, ``deletecollection``; ``a|b`` for either), ``resource`` (``secrets``, or
``deployments.apps`` to name the group too), ``namespace``, ``name``; a rule without one of them
matches every value. What it does: ``error`` (429, 500, 503 or 504, with ``retry-after`` seconds for
429 and 503), ``drop`` (``connection``, or ``watch`` with ``after``), ``latency``; how often: ``rate``
(the chance each matching request is hit, 1 by default) and ``count`` (at most so many hits).

:meth:`FaultPlan.decide` is reproducible: each rule draws from its own random generator seeded from
the plan's seed and the rule, so the same requests get the same faults, and a rule's draws do not
depend on what the other rules matched. Latency rules add up; of the rules that refuse or drop, the
first one (in the order given) that hits decides.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import yaml

from helm_ac.errors import UserError
from helm_ac.extension import durations
from helm_ac.kubesim.errors import StatusError

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
#: The codes a rule may answer with, and the Status reason kube-apiserver gives each.
ERRORS = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
DROPS = ("connection", "watch")
KEYS = ("verb", "resource", "namespace", "name", "error", "retry-after", "drop", "after", "latency", "rate", "count")


class FaultSpecError(UserError):
    """A fault rule that cannot be read."""


@dataclass(frozen=True)
class Fault:
    """What to do to one request. The HTTP face waits ``latency`` seconds first, then answers
    :meth:`status_error` (with ``Retry-After`` when set) if ``error`` is set, closes the connection
    with no answer for ``drop == "connection"``, or ends a watch stream ``after`` seconds in for
    ``drop == "watch"``."""

    error: int | None = None
    retry_after: float | None = None
    drop: str | None = None
    after: float = 0.0
    latency: float = 0.0
    rule: str = ""

    def status_error(self) -> StatusError | None:
        """The refusal as kube-apiserver words it (API Priority and Fairness for 429)."""
        if self.error is None:
            return None
        reason = ERRORS[self.error]
        details: dict[str, Any] | None = None
        if self.retry_after is not None:
            details = {"retryAfterSeconds": int(self.retry_after)}
        if self.error == 429:
            message = "Too many requests, please try again later."
        elif self.error == 500:
            message = f"Internal error occurred: injected fault ({self.rule})"
            details = {**(details or {}), "causes": [{"message": f"injected fault ({self.rule})"}]}
        elif self.error == 503:
            message = f"the server is currently unable to handle the request (injected fault: {self.rule})"
        else:
            message = f"Timeout: injected fault ({self.rule})"
        return StatusError(self.error, reason, message, details=details, retry_after=self.retry_after)


@dataclass
class FaultRule:
    """One rule of a plan (see the module's documentation for the keys)."""

    spec: str
    verbs: frozenset[str] | None = None
    group: str | None = None
    resource: str | None = None
    namespace: str | None = None
    name: str | None = None
    errors: tuple[int, ...] = ()
    retry_after: float | None = None
    drop: str | None = None
    after: float = 0.0
    latency: float = 0.0
    rate: float = 1.0
    count: int | None = None
    hits: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    @property
    def refuses(self) -> bool:
        return bool(self.errors) or self.drop is not None

    def matches(self, verb: str, group: str, resource: str, namespace: str | None, name: str | None) -> bool:
        return ((self.verbs is None or verb in self.verbs)
                and (self.resource is None or (self.resource == resource
                                               and (self.group is None or self.group == group)))
                and (self.namespace is None or self.namespace == (namespace or ""))
                and (self.name is None or self.name == (name or "")))

    def draw(self) -> bool:
        """Whether this matching request is hit (uses the rule's generator only when it has to)."""
        if self.count is not None and self.hits >= self.count:
            return False
        if self.rate < 1.0 and self.rng.random() >= self.rate:
            return False
        self.hits += 1
        return True


def _number(what: str, key: str, value: object, *, integer: bool = False) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        num = int(str(value), 10) if integer else float(str(value))
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise FaultSpecError(f"{what}: {key}={value} is not {kind}") from None
    if num != num or num in (float("inf"), float("-inf")):
        raise FaultSpecError(f"{what}: {key}={value} is not a finite number")
    return num


def _duration(what: str, key: str, value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip()
        try:
            seconds = durations.parse(text)
        except ValueError:
            try:
                seconds = float(text)
            except ValueError:
                raise FaultSpecError(f"{what}: {key}={value} is not a duration (write it as 50ms, 2s, 1m or "
                                     f"a number of seconds)") from None
    if seconds < 0 or seconds != seconds:
        raise FaultSpecError(f"{what}: {key}={value} must not be negative")
    return seconds


def rule_from_mapping(fields: Mapping[str, Any], *, what: str, spec: str | None = None) -> FaultRule:
    """A rule from its keys (``what`` names it in errors: the flag or the file and entry)."""
    unknown = [k for k in fields if k not in KEYS]
    if unknown:
        raise FaultSpecError(f"{what}: unknown key {unknown[0]!r} (the keys are {', '.join(KEYS)})")
    text = spec if spec is not None else ",".join(f"{k}={v}" for k, v in fields.items())
    rule = FaultRule(spec=text)
    for key in ("verb", "resource", "namespace", "name", "drop"):
        if key in fields and (fields[key] is None or str(fields[key]).strip() == ""):
            raise FaultSpecError(f"{what}: {key}= needs a value")
    if "verb" in fields:
        verbs = [v.strip() for v in str(fields["verb"]).split("|")]
        bad = [v for v in verbs if v not in VERBS]
        if bad:
            raise FaultSpecError(f"{what}: verb={bad[0]} is not an API verb (one of {', '.join(VERBS)}; "
                                 f"a|b for either)")
        rule.verbs = frozenset(verbs)
    if "resource" in fields:
        resource, _, group = str(fields["resource"]).strip().partition(".")
        rule.resource, rule.group = resource, (group or None)
    if "namespace" in fields:
        rule.namespace = str(fields["namespace"]).strip()
    if "name" in fields:
        rule.name = str(fields["name"]).strip()
    if "error" in fields:
        codes = []
        for part in str(fields["error"]).split("|"):
            code = int(_number(what, "error", part.strip(), integer=True))
            if code not in ERRORS:
                raise FaultSpecError(f"{what}: error={part.strip()} is not one the fault plan can answer "
                                     f"(use {', '.join(map(str, ERRORS))}; a|b for either)")
            codes.append(code)
        rule.errors = tuple(codes)
    if "retry-after" in fields:
        if not set(rule.errors) & {429, 503}:
            raise FaultSpecError(f"{what}: retry-after goes with error=429 or error=503")
        rule.retry_after = _number(what, "retry-after", fields["retry-after"])
        if rule.retry_after < 0:
            raise FaultSpecError(f"{what}: retry-after must not be negative")
    if "drop" in fields:
        rule.drop = str(fields["drop"]).strip()
        if rule.drop not in DROPS:
            raise FaultSpecError(f"{what}: drop={rule.drop} is not a drop (drop=connection or drop=watch)")
        if rule.errors:
            raise FaultSpecError(f"{what}: a rule either answers an error or drops, not both")
        if rule.drop == "watch":
            if rule.verbs is None:
                rule.verbs = frozenset({"watch"})
            elif rule.verbs != {"watch"}:
                raise FaultSpecError(f"{what}: drop=watch applies to watch requests only (leave verb out or "
                                     f"write verb=watch)")
    if "after" in fields:
        if rule.drop != "watch":
            raise FaultSpecError(f"{what}: after= goes with drop=watch (how long a watch streams before the drop)")
        rule.after = _duration(what, "after", fields["after"])
    if "latency" in fields:
        rule.latency = _duration(what, "latency", fields["latency"])
    if "rate" in fields:
        rule.rate = _number(what, "rate", fields["rate"])
        if not 0.0 <= rule.rate <= 1.0:
            raise FaultSpecError(f"{what}: rate={fields['rate']} must be between 0 and 1")
    if "count" in fields:
        rule.count = int(_number(what, "count", fields["count"], integer=True))
        if rule.count < 1:
            raise FaultSpecError(f"{what}: count={fields['count']} must be at least 1")
    if not rule.errors and rule.drop is None and not rule.latency:
        raise FaultSpecError(f"{what}: the rule does nothing: give error=, drop= or latency=")
    return rule


def parse_spec(spec: str) -> FaultRule:
    """One ``--fault`` value: ``key=value`` pairs separated by commas."""
    what = f"--fault {spec!r}"
    fields: dict[str, str] = {}
    if not spec.strip():
        raise FaultSpecError(f"{what}: empty (write key=value pairs, e.g. verb=create,error=429)")
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise FaultSpecError(f"{what}: {part.strip()!r} is not key=value")
        if key in fields:
            raise FaultSpecError(f"{what}: {key} is given twice")
        fields[key] = value.strip()
    return rule_from_mapping(fields, what=what, spec=spec)


class FaultPlan:
    """The rules, in order, and the seed their draws come from."""

    def __init__(self, rules: Iterable[FaultRule] = (), *, seed: int = 0) -> None:
        self.seed = seed
        self.rules = list(rules)
        for i, rule in enumerate(self.rules):
            rule.rng = random.Random(f"{seed}/{i}/{rule.spec}")

    @classmethod
    def parse(cls, specs: Iterable[str], *, seed: int = 0) -> "FaultPlan":
        return cls([parse_spec(s) for s in specs], seed=seed)

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "faults", seed: int | None = None) -> "FaultPlan":
        """A list of rule mappings, or ``{seed: N, faults: [...]}``; ``seed`` given here wins."""
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise FaultSpecError(f"{source}: not YAML: {e}") from None
        file_seed = 0
        if isinstance(doc, dict):
            extra = [k for k in doc if k not in ("seed", "faults")]
            if extra:
                raise FaultSpecError(f"{source}: unknown key {extra[0]!r} (a fault file has seed: and faults:)")
            if "seed" in doc:
                file_seed = int(_number(source, "seed", doc["seed"], integer=True))
            doc = doc.get("faults") or []
        if not isinstance(doc, list):
            raise FaultSpecError(f"{source}: expected a list of fault rules (or faults: with one)")
        rules = []
        for i, entry in enumerate(doc, 1):
            if not isinstance(entry, dict):
                raise FaultSpecError(f"{source}: fault {i} is not a mapping of keys to values")
            rules.append(rule_from_mapping(entry, what=f"{source}: fault {i}"))
        return cls(rules, seed=file_seed if seed is None else seed)

    def decide(self, verb: str, group: str, resource: str, namespace: str | None = None,
               name: str | None = None) -> Fault | None:
        """The fault for this request, if any."""
        latency = 0.0
        hit: FaultRule | None = None
        specs = []
        for rule in self.rules:
            if rule.refuses and hit is not None:
                continue
            if not rule.matches(verb, group, resource, namespace, name) or not rule.draw():
                continue
            latency += rule.latency
            specs.append(rule.spec)
            if rule.refuses:
                hit = rule
        if not specs:
            return None
        if hit is None:
            return Fault(latency=latency, rule="; ".join(specs))
        error = None
        if hit.errors:
            error = hit.errors[0] if len(hit.errors) == 1 else hit.rng.choice(hit.errors)
        return Fault(error=error, retry_after=hit.retry_after if error in (429, 503) else None, drop=hit.drop,
                     after=hit.after, latency=latency, rule="; ".join(specs))
