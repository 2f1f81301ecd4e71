"""From rendered objects to a resolved release model, pure (no I/O).

:func:`analyze` takes the parsed `helm template` output, the chart tree and the
release namespace, and returns an :class:`Analysis`:

* every regular (non-hook) object with its extension annotations parsed
  (:class:`ObjectInfo`), keeping raw values and parse errors side by side;
* every ``depends-on`` reference resolved to graph nodes, or marked
  unresolved / ambiguous / pointing at a hook / at a disabled subchart;
* every chart of the tree with its chart-level annotations parsed;
* the dependency graph (:mod:`helm_ac.analysis.graph`).

Nothing here decides what is an error: the lint checks
(:mod:`helm_ac.analysis.lint.checks`) read the analysis and report findings; the
template and graph commands read the same analysis and emit it.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence

from helm_ac import kinds
from helm_ac.extension import interop, refs, spec
from helm_ac.kinds import ObjectKey
from helm_ac.rendering.chart import Chart, Dependency
from helm_ac.rendering.manifests import Rendered, RenderedObject


@dataclass
class Setting:
    """One extension annotation on one object (or chart): raw value, parsed value or error."""

    name: str
    raw: Any
    value: Any = None
    error: spec.SpecValueError | None = None

    @property
    def is_string(self) -> bool:
        return isinstance(self.raw, str)


@dataclass
class Reference:
    """One entry of ``depends-on`` and what it resolved to."""

    text: str
    ref: refs.Ref | None = None
    syntax_error: refs.RefSyntaxError | None = None
    targets: Sequence[ObjectKey] = ()  # object refs: resolved objects
    chart_target: tuple[str, ...] | None = None  # chart refs: resolved chart path (may be empty/disabled)
    ambiguous: Sequence[ObjectKey] = ()
    hooks: Sequence[RenderedObject] = ()  # matched hook objects only
    duplicate: bool = False
    source: str = spec.PREFIX + "depends-on"  # the annotation it came from (other tools': helm_ac.extension.interop)
    gate: str = "ready"  # "present": the dependent may start once the target exists (werf state=present)
    group_target: str | None = None  # a HIP-0025 resource group of the object's chart


@dataclass
class ObjectInfo:
    """A regular object with its extension annotations."""

    obj: RenderedObject
    key: ObjectKey  # namespace made effective (release namespace for namespaced kinds)
    settings: dict[str, Setting] = field(default_factory=dict)
    references: list[Reference] = field(default_factory=list)
    unknown_keys: list[str] = field(default_factory=list)

    def setting(self, name: str) -> Any:
        """Parsed value of an annotation, or None when absent or invalid."""
        s = self.settings.get(name)
        return s.value if s is not None and s.error is None else None


@dataclass
class ChartInfo:
    """A chart of the tree (or seen only in the rendered output) and its chart-level annotations."""

    path: tuple[str, ...]
    chart: Chart | None
    settings: dict[str, Setting] = field(default_factory=dict)
    unknown_keys: list[str] = field(default_factory=list)
    own_objects: list[ObjectKey] = field(default_factory=list)
    subtree_objects: int = 0

    @property
    def name(self) -> str:
        return self.path[-1]

    def wait_for(self) -> bool | tuple[str, ...]:
        """Ours (wait-for-subcharts), else HIP-0025's helm.sh/depends-on/subcharts, else all (True)."""
        s = self.settings.get("wait-for-subcharts")
        if s is not None:
            return True if s.error is not None else s.value
        hip = self.hip_subcharts()
        return tuple(hip) if isinstance(hip, list) else True

    def hip_subcharts(self) -> list[str] | ValueError | None:
        """HIP-0025's Chart.yaml annotation, parsed (a ValueError when malformed, None when absent)."""
        raw = self.chart.annotations.get(interop.HIP_DEPENDS_ON_SUBCHARTS) if self.chart else None
        if raw is None:
            return None
        try:
            return interop.json_string_list(raw)
        except ValueError as exc:
            return exc

    def order(self) -> spec.SubchartOrder | None:
        """Ours (subchart-order) plus HIP-0025's dependencies[].depends-on, as one set of chains."""
        s = self.settings.get("subchart-order")
        chains = list(s.value.chains) if s is not None and s.error is None else []
        for dep in self.chart.dependencies if self.chart else []:
            if dep.depends_on:
                chains.append((tuple(dep.depends_on), (dep.effective_name,)))
        return spec.SubchartOrder(tuple(chains)) if chains else None


@dataclass
class Analysis:
    """Everything known about one rendered release."""

    chart: Chart | None
    root: tuple[str, ...]
    namespace: str
    objects: dict[ObjectKey, ObjectInfo]
    order: list[ObjectKey]  # helm's output order
    duplicates: list[tuple[ObjectInfo, RenderedObject]]
    hooks: list[RenderedObject]
    charts: dict[tuple[str, ...], ChartInfo]
    rendered: Rendered
    namespaces: set[str] = field(default_factory=set)
    resource_groups: set[tuple[tuple[str, ...], str]] = field(default_factory=set)  # HIP-0025 (chart, group)

    def subcharts_of(self, path: tuple[str, ...]) -> list[tuple[str, ...]]:
        """Direct subcharts of ``path`` known from the tree or the rendered output."""
        return sorted(p for p in self.charts if len(p) == len(path) + 1 and p[:len(path)] == path)

    def dependency_of(self, path: tuple[str, ...]) -> Dependency | None:
        """How the parent declared ``path``: its Chart.yaml dependency entry, if any."""
        info = self.charts.get(path)
        if info and info.chart and info.chart.dependency:
            return info.chart.dependency
        parent = self.charts.get(path[:-1])
        if parent and parent.chart:
            for d in parent.chart.dependencies:
                if d.effective_name == path[-1]:
                    return d
        return None

    def chart_state(self, path: tuple[str, ...]) -> str:
        """``enabled`` (has objects), ``library``, ``disabled`` (condition/tags, nothing rendered),
        ``empty`` (enabled but renders no regular object) or ``unknown``."""
        info = self.charts.get(path)
        if info is not None and info.subtree_objects:
            return "enabled"
        if info is not None and info.chart is not None and info.chart.is_library:
            return "library"
        dep = self.dependency_of(path)
        if dep is not None and (dep.condition or dep.tags):
            return "disabled"
        if info is not None or dep is not None:
            return "empty"
        return "unknown"


def effective_key(obj: RenderedObject, namespace: str, cluster_scoped: set[tuple[str, str]]) -> ObjectKey:
    k = obj.key
    if (k.group, k.kind) in cluster_scoped:
        return ObjectKey(k.group, k.kind, None, k.name)
    return ObjectKey(k.group, k.kind, k.namespace or namespace, k.name)


def _parse_settings(annotations: dict[str, Any], table: dict[str, spec.Annotation]) -> tuple[dict[str, Setting], list[str]]:
    settings: dict[str, Setting] = {}
    unknown: list[str] = []
    for key in sorted(k for k in annotations if isinstance(k, str) and k.startswith(spec.PREFIX)):
        name = key[len(spec.PREFIX):]
        ann = table.get(name)
        if ann is None:
            unknown.append(key)
            continue
        raw = annotations[key]
        s = Setting(name, raw)
        text = raw if isinstance(raw, str) else ("" if raw is None else (str(raw).lower() if isinstance(raw, bool) else str(raw)))
        try:
            s.value = ann.parse(text)
        except spec.SpecValueError as exc:
            s.error = exc
        settings[name] = s
    return settings, unknown


def analyze(rendered: Rendered, chart: Chart | None, namespace: str) -> Analysis:
    """Build the :class:`Analysis` of a rendered release (see module doc)."""
    regular = rendered.regular
    cluster_scoped = set(kinds.CLUSTER_SCOPED)
    for gk, is_cluster in kinds.scopes_from_crds(
            o.head for o in rendered.objects if o.key.kind == "CustomResourceDefinition").items():  # spec fields in the head
        (cluster_scoped.add if is_cluster else cluster_scoped.discard)(gk)

    root = chart.path if chart is not None else (regular[0].chart[:1] if regular else ("chart",))
    objects: dict[ObjectKey, ObjectInfo] = {}
    order: list[ObjectKey] = []
    duplicates: list[tuple[ObjectInfo, RenderedObject]] = []
    for obj in regular:
        key = effective_key(obj, namespace, cluster_scoped)
        if key in objects:
            duplicates.append((objects[key], obj))
            continue
        settings, unknown = _parse_settings(obj.annotations, spec.OBJECT_ANNOTATIONS)
        objects[key] = ObjectInfo(obj, key, settings, [], unknown)
        order.append(key)

    charts: dict[tuple[str, ...], ChartInfo] = {}
    if chart is not None:
        for c in chart.walk():
            settings, unknown = _parse_settings(c.annotations, spec.CHART_ANNOTATIONS)
            charts[c.path] = ChartInfo(c.path, c, settings, unknown)
    for key in order:
        path = objects[key].obj.chart
        for i in range(1, len(path) + 1):
            charts.setdefault(path[:i], ChartInfo(path[:i], None))
            charts[path[:i]].subtree_objects += 1
        charts[path].own_objects.append(key)

    analysis = Analysis(chart, root, namespace, objects, order, duplicates, rendered.hook_objects, charts, rendered,
                        {k.namespace for k in order if k.namespace})
    _resolve_references(analysis, cluster_scoped)
    return analysis


def _resolve_references(a: Analysis, cluster_scoped: set[tuple[str, str]]) -> None:
    by_kind_name: dict[tuple[str, str], list[ObjectKey]] = defaultdict(list)
    for key in a.order:
        by_kind_name[(key.kind.lower(), key.name)].append(key)
    hooks_by_kind_name: dict[tuple[str, str], list[RenderedObject]] = defaultdict(list)
    for h in a.hooks:
        hooks_by_kind_name[(h.key.kind.lower(), h.key.name)].append(h)
    groups: set[tuple[tuple[str, ...], str]] = set()  # (chart, HIP-0025 resource group)
    for key in a.order:
        g = a.objects[key].obj.annotations.get(interop.HIP_GROUP)
        if isinstance(g, str) and g:
            groups.add((a.objects[key].obj.chart, g))
    a.resource_groups = groups

    def resolve_object(r: Reference, ref: refs.ObjectRef, key: ObjectKey) -> None:
        want_ns = ref.namespace or key.namespace or a.namespace
        cands = [k for k in by_kind_name.get((ref.kind, ref.name), [])
                 if (ref.group is None or k.group == ref.group)
                 and ((k.group, k.kind) in cluster_scoped or k.namespace == want_ns)]
        if len({k.group for k in cands}) > 1:
            r.ambiguous = cands
        elif cands:
            r.targets = cands
        else:
            r.hooks = [h for h in hooks_by_kind_name.get((ref.kind, ref.name), [])
                       if ref.group is None or h.key.group == ref.group]

    for key in a.order:
        info = a.objects[key]
        s = info.settings.get("depends-on")
        own = s.value if s is not None and s.error is None and isinstance(s.value, list) else []
        seen: set[str] = set()
        for text in own:
            r = Reference(text)
            try:
                r.ref = refs.parse_ref(text)
            except refs.RefSyntaxError as exc:
                r.syntax_error = exc
                info.references.append(r)
                continue
            canon = r.ref.canonical() if isinstance(r.ref, refs.ObjectRef) else str(r.ref)
            r.duplicate = canon in seen
            seen.add(canon)
            if isinstance(r.ref, refs.ChartRef):
                base = a.root if r.ref.absolute else info.obj.chart
                r.chart_target = base + r.ref.path
                if a.chart_state(r.chart_target) == "unknown":
                    r.chart_target = None
            else:
                resolve_object(r, r.ref, key)
            info.references.append(r)
        for f in interop.foreign_references(info.obj.annotations):
            r = Reference(f.text, source=f.key, gate=f.gate)
            if f.error is not None:
                r.syntax_error = f.error
            elif isinstance(f.ref, interop.GroupRef):
                r.ref = f.ref
                if (info.obj.chart, f.ref.name) in groups:
                    r.group_target = f.ref.name
            elif f.ref is not None:
                r.ref = f.ref
                resolve_object(r, f.ref, key)
            info.references.append(r)
