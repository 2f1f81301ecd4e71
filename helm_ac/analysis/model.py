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
from helm_ac.rendering import manifests
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
    ref: refs.Ref | interop.GroupRef | None = None
    syntax_error: refs.RefSyntaxError | None = None
    targets: Sequence[ObjectKey] = ()  # object refs: resolved objects
    chart_target: tuple[str, ...] | None = None  # chart refs: resolved chart path (may be empty/disabled)
    ambiguous: Sequence[ObjectKey] = ()
    hooks: Sequence[RenderedObject] = ()  # matched hook objects only
    duplicate: bool = False
    source: str = spec.DEPENDS_ON  # the annotation it came from (other tools': helm_ac.extension.interop)
    gate: str = "ready"  # "present": the dependent may start once the target exists (werf state=present)
    group_target: str | None = None  # a HIP-0025 resource group of the object's chart

    def repeated(self) -> "Reference":
        """A copy marked duplicate: the same text listed again (``dataclasses.replace`` runs ``__init__``
        again, 5 us a copy: 25 ms for 5,000 repetitions)."""
        copy = object.__new__(Reference)
        copy.__dict__.update(self.__dict__)
        copy.duplicate = True
        return copy


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
    #: objects helm printed no ``# Source:`` for and that no label placed: ordered as the top-level chart's own
    unattributed: list[RenderedObject] = field(default_factory=list)
    crds_skipped: bool = False  # rendered with --skip-crds: the charts' crds/ files are not among the objects

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
        try:
            s.value = spec.parse_raw(ann, raw)
        except spec.SpecValueError as exc:
            s.error = exc
        settings[name] = s
    return settings, unknown


def analyze(rendered: Rendered, chart: Chart | None, namespace: str, *, crds_skipped: bool = False) -> Analysis:
    """Build the :class:`Analysis` of a rendered release (see module doc)."""
    regular = rendered.regular
    cluster_scoped = set(kinds.CLUSTER_SCOPED)
    for gk, is_cluster in kinds.scopes_from_crds(
            o.head for o in rendered.objects if o.key.kind == "CustomResourceDefinition").items():  # spec fields in the head
        (cluster_scoped.add if is_cluster else cluster_scoped.discard)(gk)

    root = chart.path if chart is not None else \
        next((o.chart[:1] for o in rendered.objects if o.source), ("chart",))
    unattributed = attribute(rendered, chart, root)
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
                        {k.namespace for k in order if k.namespace}, unattributed=unattributed,
                        crds_skipped=crds_skipped)
    _resolve_references(analysis, cluster_scoped)
    return analysis


CHART_LABEL = manifests.CHART_LABEL


def attribute(rendered: Rendered, chart: Chart | None, root: tuple[str, ...]) -> list[RenderedObject]:
    """Place every object in the chart tree; return the regular objects whose chart is a guess.

    Helm's ``# Source:`` line gives the chart path, as Helm prints it: Helm 3 prints the subcharts
    of a chart used under an alias with the chart's name instead of the alias (and renders them once,
    with the values of the last alias), mapped here onto that alias.  Objects without a source (a
    post-renderer dropped the comments and :func:`~helm_ac.rendering.manifests.attribute_from` found no
    match) or with a source outside the chart (Helm 4's name for an object a post-renderer added)
    are placed by their ``helm.sh/chart`` label when it names one chart of the tree, else
    counted as the top-level chart's own objects and returned, unless the chart has no subcharts
    (then that is where they belong).
    """
    guessed: list[RenderedObject] = []
    paths: dict[tuple[str, ...], tuple[str, ...]] = {}
    for obj in rendered.objects:
        # Helm 4 keeps the sources through a post-renderer, and names what the post-renderer added
        # "generated-by-postrender-<n>.yaml": no chart of the tree
        if obj.source and (chart is None or obj.chart[:1] == chart.path):
            if chart is not None and obj.chart not in paths:
                paths[obj.chart] = _tree_path(chart, obj.chart)
            obj.chart = paths.get(obj.chart, obj.chart)
            continue
        placed = _by_label(obj, chart)
        obj.chart = placed or root
        if placed is None and not obj.hooks and (chart is None or chart.subcharts):
            guessed.append(obj)
    return guessed


def _tree_path(chart: Chart, path: tuple[str, ...]) -> tuple[str, ...]:
    """``path`` as printed by helm -> the path of the chart tree (aliases as declared)."""
    if path[:1] != chart.path:
        return path
    node, out = chart, list(chart.path)
    for part in path[1:]:
        sub = node.subcharts.get(part)
        if sub is None:  # Helm 3: the chart's name where the alias belongs; its last alias is the one rendered
            aliases = [d.effective_name for d in node.dependencies if d.name == part and d.alias]
            sub = node.subcharts.get(aliases[-1]) if aliases else None
        if sub is None:
            return path
        node = sub
        out.append(sub.name)
    return tuple(out)


def _by_label(obj: RenderedObject, chart: Chart | None) -> tuple[str, ...] | None:
    """The one chart of the tree whose name and a version make the object's ``helm.sh/chart`` label."""
    label = manifests.chart_label(obj) if chart is not None else None
    if chart is None or label is None:
        return None
    found = []
    for c in chart.walk():
        name = c.dependency.name if c.dependency else c.name
        if label.startswith(name + "-") and label[len(name) + 1:len(name) + 2].isdigit():
            found.append(c.path)
    return found[0] if len(found) == 1 else None


def _candidates(named: Sequence[ObjectKey], ref: refs.ObjectRef, namespace: str | None,
                cluster_scoped: set[tuple[str, str]] | None = None) -> list[ObjectKey]:
    """Of the objects with the reference's kind and name, those it names: the group if given, the
    namespace given or else ``namespace``; cluster-scoped objects (no namespace) anywhere."""
    want_ns = ref.namespace or namespace

    def scoped(k: ObjectKey) -> bool:
        return (k.group, k.kind) in cluster_scoped if cluster_scoped is not None else k.namespace is None

    return [k for k in named if (ref.group is None or k.group == ref.group) and (scoped(k) or k.namespace == want_ns)]


def find_objects(a: Analysis, ref: refs.ObjectRef, namespace: str | None = None) -> list[ObjectKey]:
    """The objects a reference names, resolved as depends-on resolves it (``namespace``: the
    referrer's, default the release's).  For command-line references: faults, estimates."""
    named = [k for k in a.order if k.kind.lower() == ref.kind and k.name == ref.name]
    return _candidates(named, ref, namespace or a.namespace)


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
        named = by_kind_name.get((ref.kind, ref.name))
        cands = _candidates(named, ref, key.namespace or a.namespace, cluster_scoped) if named else []
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
        first: dict[str, Reference] = {}  # a text listed again: its first reading, resolved once
        for text in own:
            earlier = first.get(text)
            if earlier is not None and earlier.ref is not None:
                info.references.append(earlier.repeated())
                continue
            r = Reference(text)
            first[text] = r
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
