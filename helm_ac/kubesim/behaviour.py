"""The simulated cluster's own settings: how long each object takes, which fail, seeded.

These are the emulator's settings (``helm ac cluster --behaviour FILE``, ``--seed``), not the
chart's annotations. A file (YAML, safe loader; format in ``docs/cluster-behaviour.md``)::

    seed: 7
    nodes: 1                 # simulated nodes (a DaemonSet runs one Pod on each)
    jitter: 0.1              # default: +-10 % on every duration, from the seeded RNG
    seconds:                 # default seconds per kind (these override the built-in table)
      Pod: 1
      Job: 3
    rules:                   # first match wins; kind/namespace/name are shell-style globs
      - {kind: Deployment, name: "web-*", seconds: 5}
      - {kind: Job, namespace: test, name: migrate, fail: true}
      - {kind: PersistentVolumeClaim, never: true}

:meth:`Behaviour.decide` gives an object its :class:`Decision` once (the controllers keep it
per uid): the same seed and the same sequence of objects give the same durations.
"""
from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from helm_ac.errors import UserError

#: Built-in default seconds per kind (from creation to ready); other kinds: :data:`OTHER_SECONDS`.
#: A workload's Pods take the workload's duration.
DEFAULT_SECONDS: dict[str, float] = {
    "Pod": 1.0, "ReplicaSet": 1.0, "Deployment": 1.0, "StatefulSet": 1.0, "DaemonSet": 1.0,
    "Job": 2.0, "PersistentVolumeClaim": 0.5, "CustomResourceDefinition": 0.2, "Service": 0.5,
}
OTHER_SECONDS = 0.0

_TOP_KEYS = ("seed", "nodes", "jitter", "seconds", "rules")
_RULE_KEYS = ("kind", "namespace", "name", "seconds", "fail", "never", "jitter")


class BehaviourError(UserError):
    """A behaviour file or flag the emulator cannot use."""


@dataclass(frozen=True)
class Rule:
    """Settings for the objects whose kind, namespace and name match the globs."""

    kind: str = "*"
    namespace: str = "*"
    name: str = "*"
    seconds: float | None = None
    fail: bool = False
    never: bool = False
    jitter: float | None = None

    def matches(self, kind: str, namespace: str, name: str) -> bool:
        return (fnmatch.fnmatchcase(kind, self.kind) and fnmatch.fnmatchcase(namespace, self.namespace)
                and fnmatch.fnmatchcase(name, self.name))


@dataclass(frozen=True)
class Decision:
    """What happens to one object: ready (or failed, with ``fail``) after ``seconds``; never with
    ``never``."""

    seconds: float
    fail: bool = False
    never: bool = False


@dataclass
class Behaviour:
    seed: int = 0
    nodes: int = 1
    jitter: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)  # overrides of DEFAULT_SECONDS
    rules: list[Rule] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def kind_seconds(self, kind: str) -> float:
        if kind in self.seconds:
            return self.seconds[kind]
        return DEFAULT_SECONDS.get(kind, OTHER_SECONDS)

    def decide(self, kind: str, namespace: str, name: str) -> Decision:
        """The object's fate; draws from the seeded RNG when it has jitter (call once per object)."""
        rule = next((r for r in self.rules if r.matches(kind, namespace or "", name)), None)
        seconds = self.kind_seconds(kind)
        jitter = self.jitter
        fail = never = False
        if rule is not None:
            seconds = rule.seconds if rule.seconds is not None else seconds
            jitter = rule.jitter if rule.jitter is not None else jitter
            fail, never = rule.fail, rule.never
        if jitter and seconds:
            seconds = max(0.0, seconds * (1.0 + self._rng.uniform(-jitter, jitter)))
        return Decision(seconds, fail, never)

    # -- reading settings

    @classmethod
    def from_dict(cls, data: Any, source: str = "behaviour settings") -> "Behaviour":
        """From parsed YAML; errors name ``source`` and the bad key."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise BehaviourError(f"{source}: expected a mapping with keys {', '.join(_TOP_KEYS)}, "
                                 f"got {type(data).__name__}")
        unknown = [k for k in data if k not in _TOP_KEYS]
        if unknown:
            raise BehaviourError(f"{source}: unknown key {unknown[0]!r}",
                                 hint=f"Known keys: {', '.join(_TOP_KEYS)} (see docs/cluster-behaviour.md).")
        seed = _int(data.get("seed", 0), f"{source}: seed")
        nodes = _int(data.get("nodes", 1), f"{source}: nodes")
        if nodes < 1:
            raise BehaviourError(f"{source}: nodes must be at least 1, got {nodes}")
        jitter = _fraction(data.get("jitter", 0.0), f"{source}: jitter")
        seconds_raw = data.get("seconds") or {}
        if not isinstance(seconds_raw, dict):
            raise BehaviourError(f"{source}: seconds must map kinds to seconds (Pod: 1), got {seconds_raw!r}")
        seconds = {str(k): _seconds(v, f"{source}: seconds.{k}") for k, v in seconds_raw.items()}
        rules_raw = data.get("rules") or []
        if not isinstance(rules_raw, list):
            raise BehaviourError(f"{source}: rules must be a list of mappings, got {type(rules_raw).__name__}")
        rules = [_rule(r, f"{source}: rules[{i}]") for i, r in enumerate(rules_raw)]
        return cls(seed=seed, nodes=nodes, jitter=jitter, seconds=seconds, rules=rules)

    @classmethod
    def from_yaml(cls, text: str, source: str = "behaviour settings") -> "Behaviour":
        import yaml

        from helm_ac.rendering.yamlio import Loader

        try:
            data = yaml.load(text, Loader=Loader)  # noqa: S506 - yamlio.Loader is a safe loader
        except yaml.YAMLError as e:
            raise BehaviourError(f"{source}: not valid YAML: {e}") from None
        return cls.from_dict(data, source)

    @classmethod
    def from_file(cls, path: str | Path) -> "Behaviour":
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise BehaviourError(f"cannot read behaviour file {path}: {e.strerror or e}") from None
        except UnicodeDecodeError as e:
            raise BehaviourError(f"{path}: not UTF-8 text (byte {e.start})",
                                 hint="Give a YAML file of the simulated controllers' settings "
                                      "(docs/cluster-behaviour.md).") from None
        return cls.from_yaml(text, str(path))

    def with_flags(self, *, seed: int | None = None, nodes: int | None = None,
                   rules: Sequence[str] = ()) -> "Behaviour":
        """The settings with command-line flags on top: ``--seed``, ``--nodes`` and ``--rule``
        strings ``Kind[/namespace]/name=SPEC`` where SPEC is seconds (``5``), ``fail`` or
        ``never``; flag rules win over the file's."""
        parsed = [parse_rule_flag(r) for r in rules]
        out = Behaviour(seed=self.seed if seed is None else seed, nodes=self.nodes if nodes is None else nodes,
                        jitter=self.jitter, seconds=dict(self.seconds), rules=parsed + list(self.rules))
        if out.nodes < 1:
            raise BehaviourError(f"--nodes must be at least 1, got {out.nodes}")
        return out


def parse_rule_flag(text: str) -> Rule:
    """``Deployment/web=5``, ``Job/test/migrate=fail``, ``PersistentVolumeClaim/*=never``."""
    where, sep, spec = text.partition("=")
    parts = where.split("/")
    if not sep or not spec or len(parts) not in (2, 3) or not all(parts):
        raise BehaviourError(f"--rule {text!r}: expected KIND[/NAMESPACE]/NAME=SECONDS|fail|never "
                             "(globs allowed), e.g. Deployment/web=5 or Job/test/migrate=fail")
    kind, namespace, name = (parts[0], "*", parts[1]) if len(parts) == 2 else parts
    if spec == "fail":
        return Rule(kind, namespace, name, fail=True)
    if spec == "never":
        return Rule(kind, namespace, name, never=True)
    return Rule(kind, namespace, name, seconds=_seconds(spec, f"--rule {text!r}"))


def _rule(raw: Any, where: str) -> Rule:
    if not isinstance(raw, dict):
        raise BehaviourError(f"{where}: expected a mapping like {{kind: Job, name: migrate, fail: true}}, got {raw!r}")
    unknown = [k for k in raw if k not in _RULE_KEYS]
    if unknown:
        raise BehaviourError(f"{where}: unknown key {unknown[0]!r}", hint=f"Known keys: {', '.join(_RULE_KEYS)}.")
    globs = {}
    for key in ("kind", "namespace", "name"):
        v = raw.get(key, "*")
        if not isinstance(v, str) or not v:
            raise BehaviourError(f"{where}: {key} must be a non-empty string (a glob), got {v!r}")
        globs[key] = v
    flags = {}
    for key in ("fail", "never"):
        v = raw.get(key, False)
        if not isinstance(v, bool):
            raise BehaviourError(f"{where}: {key} must be true or false, got {v!r}")
        flags[key] = v
    if flags["fail"] and flags["never"]:
        raise BehaviourError(f"{where}: fail and never exclude each other; keep one")
    seconds = _seconds(raw["seconds"], f"{where}: seconds") if "seconds" in raw else None
    jitter = _fraction(raw["jitter"], f"{where}: jitter") if "jitter" in raw else None
    return Rule(kind=globs["kind"], namespace=globs["namespace"], name=globs["name"], seconds=seconds,
                fail=flags["fail"], never=flags["never"], jitter=jitter)


def _int(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise BehaviourError(f"{where} must be an integer, got {v!r}")
    return v


def _seconds(v: Any, where: str) -> float:
    try:
        f = float(v) if not isinstance(v, bool) else float("nan")
    except (TypeError, ValueError):
        f = float("nan")
    if not f >= 0 or f == float("inf"):
        raise BehaviourError(f"{where} must be a number of seconds >= 0, got {v!r}")
    return f


def _fraction(v: Any, where: str) -> float:
    f = _seconds(v, where)
    if f >= 1:
        raise BehaviourError(f"{where} must be a fraction in [0, 1) (0.1 = +-10 %), got {v!r}")
    return f
