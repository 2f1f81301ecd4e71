"""The resource table: which kinds the API serves, under which plural, scope and verbs.

Built-in resources are read from ``lightkube-models`` (generated from Kubernetes' own OpenAPI
document, released with each Kubernetes minor), never typed by hand; a CustomResourceDefinition adds
its resources once Established and takes them away when deleted (:meth:`Registry.add`,
:meth:`Registry.remove`).
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from functools import lru_cache

#: The Kubernetes version the table (and ``/version``) describe: lightkube-models' own.
KUBERNETES_VERSION = "v1.37.0"

#: lightkube's verb names -> the API's (discovery) verb names.
_VERBS = {"post": "create", "put": "update", "get": "get", "list": "list", "watch": "watch", "patch": "patch",
          "delete": "delete", "deletecollection": "deletecollection"}


@dataclass(frozen=True)
class Resource:
    """One served resource of one group-version (``deployments`` of ``apps/v1``)."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: tuple[str, ...]
    subresources: tuple[str, ...] = ()  # "status", "scale", ...
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    crd: str | None = None  # the CustomResourceDefinition's name, for custom resources

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def group_version(self) -> str:
        """``v1`` for the core group, ``apps/v1`` otherwise (what ``apiVersion`` says)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The URL path of the collection or of one object."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


@dataclass
class Registry:
    """The resources the API serves now: built-ins plus established custom resources."""

    by_plural: dict[tuple[str, str, str], Resource] = field(default_factory=dict)  # (group, version, plural)
    by_kind: dict[tuple[str, str, str], Resource] = field(default_factory=dict)  # (group, version, kind)

    @classmethod
    def builtin(cls, *, prereleases: bool = False) -> "Registry":
        """The built-in resources; alpha and beta versions only with ``prereleases`` (a real
        cluster serves none of them unless enabled, and kubectl would list them)."""
        reg = cls()
        for r in builtin_resources():
            if prereleases or _version_priority(r.version)[0] == 0:
                reg.add(r)
        return reg

    def add(self, r: Resource) -> None:
        self.by_plural[(r.group, r.version, r.plural)] = r
        self.by_kind[(r.group, r.version, r.kind)] = r

    def remove(self, r: Resource) -> None:
        self.by_plural.pop((r.group, r.version, r.plural), None)
        self.by_kind.pop((r.group, r.version, r.kind), None)

    def lookup(self, group: str, version: str, plural: str) -> Resource | None:
        return self.by_plural.get((group, version, plural))

    def for_kind(self, api_version: str, kind: str) -> Resource | None:
        group, _, version = api_version.rpartition("/")
        return self.by_kind.get((group, version, kind))

    def group_versions(self) -> dict[str, list[str]]:
        """Each group's versions, the preferred (newest stable) first."""
        out: dict[str, set[str]] = {}
        for (g, v, _) in self.by_plural:
            out.setdefault(g, set()).add(v)
        return {g: sorted(vs, key=_version_priority) for g, vs in sorted(out.items())}

    def resources(self, group: str, version: str) -> list[Resource]:
        return sorted((r for (g, v, _), r in self.by_plural.items() if (g, v) == (group, version)),
                      key=lambda r: r.plural)


def _version_priority(v: str) -> tuple[int, int, int]:
    """Kubernetes' version ordering: GA before beta before alpha, then higher numbers first."""
    import re

    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
    if not m:
        return (3, 0, 0)
    major, level, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    return ({None: 0, "beta": 1, "alpha": 2}[level], -major, -minor)


@lru_cache(maxsize=1)
def builtin_resources() -> tuple[Resource, ...]:
    """Every built-in resource of lightkube-models, with its subresources."""
    import lightkube.resources as pkg
    from lightkube.core import resource as lk

    tops: dict[tuple[str, str, str], dict[str, object]] = {}
    subs: dict[tuple[str, str, str], list[str]] = {}
    for mod_info in pkgutil.iter_modules(pkg.__path__):
        mod = importlib.import_module(f"{pkg.__name__}.{mod_info.name}")
        for cls in vars(mod).values():
            if not (isinstance(cls, type) and cls.__module__ == mod.__name__ and hasattr(cls, "_api_info")):
                continue
            info = cls._api_info
            if info.parent is not None:
                p = info.parent
                subs.setdefault((p.group, p.version, info.plural), []).append(info.action)
                continue
            d = info.resource
            tops[(d.group, d.version, info.plural)] = {
                "kind": d.kind, "namespaced": issubclass(cls, lk.NamespacedResource),
                "verbs": tuple(sorted({_VERBS[v] for v in info.verbs if v in _VERBS}))}
    out = []
    for (g, v, plural), t in sorted(tops.items()):
        out.append(Resource(group=g, version=v, kind=str(t["kind"]), plural=plural, namespaced=bool(t["namespaced"]),
                            verbs=t["verbs"],  # type: ignore[arg-type]
                            subresources=tuple(sorted(subs.get((g, v, plural), [])))))
    return tuple(out)
