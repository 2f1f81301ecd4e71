"""The lint checks: read an :class:`~helm_ac.analysis.model.Analysis` and its graph, report findings.

One function per rule (or per small family of rules), named after the rule.
:func:`run_all` runs them in a fixed order; findings are sorted by the caller.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from helm_ac.analysis import graph as graphmod
from helm_ac.analysis import model
from helm_ac.analysis.lint.rules import RULES, Finding
from helm_ac.analysis.lint.suggest import Suggestions, close
from helm_ac.analysis.model import Analysis, ChartInfo, ObjectInfo, Reference
from helm_ac.extension import interop, refs, spec
from helm_ac.kinds import ObjectKey
from helm_ac.rendering import chart as chartmod
from helm_ac.rendering.chart import Dependency
from helm_ac.rendering.manifests import RenderedObject, chart_file


def _chart_yaml(path: tuple[str, ...]) -> str:
    return chart_file(path, "Chart.yaml")


@dataclass
class Reporter:
    """Collects findings for one chart, filling in file names and line numbers."""

    analysis: Analysis
    chart_name: str
    findings: list[Finding] = field(default_factory=list)
    suggestions: Suggestions | None = None  # built on the first unresolved reference
    _seen: set[tuple[str, str, str, str]] = field(default_factory=set)  # (rule, file, object, message)
    _finders: dict[tuple[tuple[str, ...], str], Callable[[str], "int | None"]] = field(default_factory=dict)
    #: id of an object -> (its file, its kind/name, the line finder of its template, its kind line)
    _objects: dict[int, tuple[str, str, Callable[[str], "int | None"], str]] = field(default_factory=dict)

    def _finder(self, chart_path: tuple[str, ...], template: str) -> Callable[[str], "int | None"]:
        finder = self._finders.get((chart_path, template))
        if finder is None:
            info = self.analysis.charts.get(chart_path)
            finder = self._finders[(chart_path, template)] = (
                chartmod.line_finder(info.chart, template) if info is not None and info.chart is not None
                else lambda needle: None)
        return finder

    def _line(self, chart_path: tuple[str, ...], template: str, *needles: str) -> int | None:
        finder = self._finder(chart_path, template)
        for needle in needles:
            line = finder(needle)
            if line is not None:
                return line
        return None

    def object(self, rule: str, obj: RenderedObject, message: str, hint: str = "", needle: str = "") -> None:
        """A finding on an object; the line is the needle's (e.g. the annotation key), else the kind's.
        The same finding twice on one object is reported once.  (What the object's findings share is
        looked up once: 5,000 findings on one object.)"""
        known = self._objects.get(id(obj))
        if known is None:
            known = self._objects[id(obj)] = (obj.chart_file, str(obj.key), self._finder(obj.chart, obj.template),
                                              f"kind: {obj.key.kind}")
        file, name, finder, kind_line = known
        seen = (rule, file, name, message)
        if seen in self._seen:
            return
        self._seen.add(seen)
        line = finder(needle)
        if line is None:
            line = finder(kind_line)
        self.findings.append(Finding(rule, RULES[rule].severity, message, self.chart_name, file, line, name, hint))

    def chart(self, rule: str, path: tuple[str, ...], message: str, hint: str = "", needle: str = "") -> None:
        line = self._line(path, "Chart.yaml", needle) if needle else None
        self.findings.append(Finding(rule, RULES[rule].severity, message, self.chart_name, _chart_yaml(path),
                                     line, None, hint))

    def file(self, rule: str, file: str, message: str, hint: str = "") -> None:
        self.findings.append(Finding(rule, RULES[rule].severity, message, self.chart_name, file, None, None, hint))


# ------------------------------------------------------------------ manifests

def invalid_manifest(a: Analysis, r: Reporter) -> None:
    for p in a.rendered.problems:
        file = chart_file(p.chart, p.template) if p.template else ""
        r.file("invalid-manifest", file, p.message, p.hint)


def duplicate_object(a: Analysis, r: Reporter) -> None:
    for first, second in a.duplicates:
        r.object("duplicate-object", second,
                 f"{first.key} is rendered twice: here and in {first.obj.chart_file}",
                 "rename one of them or render it only once")


# ---------------------------------------------------------------- annotations

def _annotation_key_checks(keys: list[str], own: dict[str, spec.Annotation], other: dict[str, spec.Annotation],
                           where: str, emit: Callable[[str, str, str], None]) -> None:
    for key in keys:
        name = key[len(spec.PREFIX):]
        if name in other:
            emit(key, f"{key} is a {where} annotation key of the other level",
                 "object annotations go on rendered objects (metadata.annotations); chart annotations go in "
                 "Chart.yaml under annotations:")
            continue
        guess = close(name, list(own), 0.5)
        emit(key, f"unknown annotation {key}" + (f"; did you mean {spec.PREFIX}{guess}?" if guess else ""),
             f"known keys: {', '.join(spec.PREFIX + k for k in own)}")


def unknown_annotation(a: Analysis, r: Reporter) -> None:
    for key in a.order:
        info = a.objects[key]
        _annotation_key_checks(info.unknown_keys, spec.OBJECT_ANNOTATIONS, spec.CHART_ANNOTATIONS, "chart",
                               lambda k, m, h: r.object("unknown-annotation", info.obj, m, h, needle=k))
    for path, c in sorted(a.charts.items()):
        _annotation_key_checks(c.unknown_keys, spec.CHART_ANNOTATIONS, spec.OBJECT_ANNOTATIONS, "object",
                               lambda k, m, h: r.chart("unknown-annotation", path, m, h, needle=k))


def _value_problems(settings: dict[str, Any], emit: Callable[[str, str, str, str], None]) -> None:
    for name, s in settings.items():
        key = spec.PREFIX + name
        if not s.is_string:
            emit("non-string-annotation", key, *spec.non_string_problem(key, s.raw))
            if spec.scalar_text(s.raw) is None:
                continue  # no string to check against the spec
        if s.error is not None:
            emit("invalid-annotation-value", key, f"{key}: {s.error.reason}", s.error.hint)


def invalid_annotation_value(a: Analysis, r: Reporter) -> None:
    """Also reports non-string-annotation: both look at the raw values."""
    for key in a.order:
        info = a.objects[key]
        _value_problems(info.settings, lambda rule, k, m, h: r.object(rule, info.obj, m, h, needle=k))
    for path, c in sorted(a.charts.items()):
        emit = (lambda rule, k, m, h: r.chart(
            "invalid-chart-annotation" if rule == "invalid-annotation-value" else rule, path, m, h, needle=k))
        _value_problems(c.settings, emit)


# ----------------------------------------------------------------- references

def _suggest_object(a: Analysis, r: "Reporter", ref: refs.ObjectRef, referrer: ObjectKey) -> str | None:
    """The nearest object to an unresolved reference (never the referring object itself): indexes built once."""
    if r.suggestions is None:
        r.suggestions = Suggestions(a.order, a.namespace)
    return r.suggestions.suggest(ref, referrer)


def _disabled_by(dep: Dependency | None) -> str:
    """``condition x.enabled / tags a, b``: what disables a subchart, from its Chart.yaml entry."""
    why = []
    if dep and dep.condition:
        why.append(f"condition {dep.condition}")
    if dep and dep.tags:
        why.append(f"tags {', '.join(dep.tags)}")
    return " / ".join(why) or "condition or tags"


def _chart_ref_problem(a: Analysis, r: Reporter, info: ObjectInfo, ref_: Reference) -> None:
    assert isinstance(ref_.ref, refs.ChartRef)
    cref = ref_.ref
    base = a.root if cref.absolute else info.obj.chart
    target = base + cref.path
    state = a.chart_state(target)
    needle = str(cref)
    if state == "unknown":
        siblings = [p[-1] for p in a.subcharts_of(target[:-1])]
        guess = close(cref.path[-1], siblings, 0.5)
        where = "/".join(target[:-1])
        hint = f"subcharts of {where}: {', '.join(siblings) or 'none'}"
        if not cref.absolute and len(info.obj.chart) > 1 and (a.root + cref.path) in a.charts:
            guess = "/" + "/".join(cref.path)
            hint = "a reference without a leading / starts at the object's own chart"
        msg = f"depends-on {cref}: {where} has no subchart {cref.path[-1]!r}"
        r.object("unknown-subchart-reference", info.obj, msg + (f"; did you mean chart:{guess}?" if guess else ""),
                 hint, needle=needle)
    elif state == "disabled":
        dep = a.dependency_of(target)
        r.object("disabled-subchart-reference", info.obj,
                 f"depends-on {cref}: subchart {target[-1]} is disabled ({_disabled_by(dep)}) and renders nothing; "
                 "the dependency is dropped",
                 f"enable it (e.g. --set {dep.condition.split(',')[0]}=true)" if dep and dep.condition else
                 "enable it with its tags, or remove the reference", needle=needle)
    elif state in ("library", "empty"):
        what = "is a library chart" if state == "library" else "renders no regular object"
        r.object("empty-subchart-reference", info.obj, f"depends-on {cref}: subchart {target[-1]} {what}; "
                 "there is nothing to wait for", "remove the reference", needle=needle)


def _verb(ref_: Reference) -> str:
    """How a message names the annotation a reference came from."""
    return "depends-on" if ref_.source == spec.DEPENDS_ON else ref_.source


def _repetitions(texts: dict[str, int], shown: int = 5) -> str:
    """``lists a more than once`` / ``lists 3 references more than once: a (2 repetitions), b, c``."""
    def one(text: str, n: int) -> str:
        return text + (f" ({n} repetitions)" if n > 1 else "")

    if len(texts) == 1:
        [(text, n)] = texts.items()
        return f"lists {one(text, n)} more than once"
    items = [one(t, n) for t, n in list(texts.items())[:shown]]
    more = f", and {len(texts) - shown} more" if len(texts) > shown else ""
    return f"lists {len(texts)} references more than once: {', '.join(items)}{more}"


def unresolved_reference(a: Analysis, r: Reporter) -> None:
    """Reports invalid-, unresolved-, ambiguous-, duplicate-, hook-reference, self-dependency and the chart: rules,
    for our depends-on and for other tools' ordering annotations (helm_ac.extension.interop)."""
    for key in a.order:
        info = a.objects[key]
        repeats: dict[str, dict[str, int]] = {}  # annotation -> repeated text -> repetitions
        for ref_ in info.references:
            if ref_.duplicate:
                texts = repeats.setdefault(ref_.source, {})
                texts[ref_.text] = texts.get(ref_.text, 0) + 1
        for ref_ in info.references:
            needle = ref_.text if ref_.source == spec.DEPENDS_ON else ref_.source
            verb = _verb(ref_)
            if ref_.syntax_error is not None:
                e = ref_.syntax_error
                r.object("invalid-reference", info.obj, f"{verb} {e.text!r} {e.reason}", e.hint, needle=needle)
                continue
            if ref_.duplicate:
                texts = repeats.pop(ref_.source, {})
                if texts:  # one finding per annotation for all its repetitions
                    r.object("duplicate-reference", info.obj, f"{verb} {_repetitions(texts)}",
                             "remove the repetition", needle=needle)
                continue
            if isinstance(ref_.ref, refs.ChartRef):
                if a.chart_state(ref_.chart_target or ()) != "enabled" or ref_.chart_target is None:
                    _chart_ref_problem(a, r, info, ref_)
                continue
            if isinstance(ref_.ref, interop.GroupRef):
                if ref_.group_target is None:
                    known = sorted(g for c, g in a.resource_groups if c == info.obj.chart)
                    guess = close(ref_.ref.name, known, 0.5)
                    r.object("unresolved-reference", info.obj,
                             f"{verb}: no object of chart {'/'.join(info.obj.chart)} is in resource group "
                             f"{ref_.ref.name!r}" + (f"; did you mean {guess!r}?" if guess else ""),
                             f"groups are declared with {interop.HIP_GROUP} and are local to one chart; "
                             f"known here: {', '.join(known) or 'none'}", needle=needle)
                continue
            assert isinstance(ref_.ref, refs.ObjectRef)
            if key in ref_.targets:
                r.object("self-dependency", info.obj, f"{key} depends on itself ({verb} {ref_.text})",
                         "remove this reference", needle=needle)
            elif ref_.ambiguous:
                options = ", ".join(k.qualified(group=True) for k in sorted(ref_.ambiguous))
                r.object("ambiguous-reference", info.obj, f"{verb} {ref_.text} matches several objects: {options}",
                         "qualify the kind with its API group", needle=needle)
            elif ref_.hooks:
                h = ref_.hooks[0]
                r.object("hook-reference", info.obj,
                         f"{verb} {ref_.text} names a Helm hook ({', '.join(h.hooks)}) from {h.chart_file}",
                         "hooks run outside helm-ac's ordering: depend on a regular object, or remove the "
                         "helm.sh/hook annotation from the target", needle=needle)
            elif not ref_.targets:
                skipped = _skipped_crd(a, ref_.ref)
                if skipped is not None:
                    r.object("unresolved-reference", info.obj, f"{verb} {ref_.text}: {skipped}",
                             "drop --skip-crds: helm ac renders the charts' crds/ (--include-crds) so that objects "
                             "can wait for them; with --skip-crds nothing in this release creates the CRD",
                             needle=needle)
                    continue
                guess = _suggest_object(a, r, ref_.ref, key)
                r.object("unresolved-reference", info.obj,
                         f"{verb} {ref_.text}: no such object in the rendered chart"
                         + (f"; did you mean {guess}?" if guess else ""),
                         "references must match a rendered object's kind and metadata.name (template them "
                         "the same way, e.g. deployment/{{ include \"app.fullname\" . }})", needle=needle)


def _skipped_crd(a: Analysis, ref: refs.ObjectRef) -> str | None:
    """Why a reference to a CRD of the chart's crds/ resolves to nothing under --skip-crds, or None."""
    if not a.crds_skipped or ref.kind != "customresourcedefinition" or a.chart is None:
        return None
    charts = [c for c in a.chart.walk() if c.crd_files]
    for c in charts:
        rel = chartmod.crd_file(c, ref.name)
        if rel is not None:
            return (f"the CRD is in {chart_file(c.path, rel)}, which --skip-crds leaves out of the rendered chart")
    if charts:
        files = [chart_file(c.path, f) for c in charts for f in c.crd_files]
        return (f"no such object in the rendered chart, and --skip-crds leaves out the charts' crds/ "
                f"({', '.join(files[:3])}{', ...' if len(files) > 3 else ''})")
    return None


def invalid_annotation_key(a: Analysis, r: Reporter) -> None:
    """Annotation keys Kubernetes rejects that another tool's draft defines (HIP-0025)."""
    for key in a.order:
        info = a.objects[key]
        for bad in interop.INVALID_KEYS:
            if bad in info.obj.annotations:
                r.object("invalid-annotation-key", info.obj,
                         f"{bad} is not a valid Kubernetes annotation key (one '/' at most): the API server "
                         "rejects this object as rendered",
                         "helm ac reads it and strips it from what helm ac template emits (but --format plain); "
                         "plain helm install fails. Prefer appcontroller.k8s/depends-on", needle=bad)


def hook_annotations_ignored(a: Analysis, r: Reporter) -> None:
    for h in a.hooks:
        keys = sorted(k for k in h.annotations if isinstance(k, str) and k.startswith(spec.PREFIX))
        if keys:
            r.object("hook-annotations-ignored", h,
                     f"{h.key} is a Helm hook ({', '.join(h.hooks)}); {', '.join(keys)} has no effect",
                     "hooks are run by Helm, not ordered by helm-ac: drop helm.sh/hook to let helm-ac order it",
                     needle=keys[0])


# --------------------------------------------------------------------- charts

def invalid_chart_annotation(a: Analysis, r: Reporter) -> None:
    """Names in wait-for-subcharts / subchart-order must be subcharts of that chart."""
    for path, c in sorted(a.charts.items()):
        names: list[tuple[str, str]] = []
        hip = c.hip_subcharts()
        if isinstance(hip, ValueError):
            r.chart("invalid-chart-annotation", path, f"{interop.HIP_DEPENDS_ON_SUBCHARTS}: {hip}",
                    "a JSON list of subchart names or aliases", needle=interop.HIP_DEPENDS_ON_SUBCHARTS)
        elif hip and "wait-for-subcharts" not in c.settings:
            names += [(n, interop.HIP_DEPENDS_ON_SUBCHARTS) for n in hip]
        wait = c.wait_for()
        if isinstance(wait, tuple) and "wait-for-subcharts" in c.settings:
            names += [(n, "wait-for-subcharts") for n in wait]
        order = c.order()
        if order is not None:
            names += [(n, "subchart-order") for n in sorted(order.names())]
        for n, ann in names:
            _check_subchart_name(a, r, c, n, ann)


def _check_subchart_name(a: Analysis, r: Reporter, c: ChartInfo, name: str, ann: str) -> None:
    target = c.path + (name,)
    state = a.chart_state(target)
    key = ann if "/" in ann else spec.PREFIX + ann
    if state == "unknown":
        subs = [p[-1] for p in a.subcharts_of(c.path)]
        guess = close(name, subs, 0.5)
        r.chart("unknown-subchart-reference", c.path,
                f"{key} names {name!r}, which is not a subchart of {c.name}"
                + (f"; did you mean {guess}?" if guess else ""),
                f"subcharts of {c.name}: {', '.join(subs) or 'none'}", needle=key)
    elif state == "disabled":
        r.chart("disabled-subchart-reference", c.path,
                f"{key} names {name}, which is disabled ({_disabled_by(a.dependency_of(target))}); "
                "that part of the order is dropped",
                "enable the subchart or remove it from the annotation", needle=key)


def unattributed_object(a: Analysis, r: Reporter) -> None:
    """Objects placed in the top-level chart for want of a ``# Source:`` line (see model.attribute)."""
    top = "/".join(a.root)
    for obj in a.unattributed:
        why = (f"helm names its source {obj.source!r}: a post-renderer added it" if obj.source else
               "no '# Source:' line, and no object of that kind and name without the --post-renderer")
        r.object("unattributed-object", obj,
                 f"helm-ac cannot tell which chart of {top} this object comes from ({why}; no {model.CHART_LABEL} "
                 f"label naming one chart), so it is ordered as an object of the top-level chart {top}",
                 "let the post-renderer keep helm's '# Source:' comments and the objects' names; give an object "
                 f"it adds or renames the {model.CHART_LABEL} label (<chart>-<version>) of the chart it belongs to")


# ---------------------------------------------------------------------- graph

def dependency_cycle(a: Analysis, r: Reporter, edges: graphmod.Edges) -> None:
    for cyc in graphmod.cycles(edges):
        path = graphmod.waits_for_path(cyc)
        reasons = []
        declared: list[ObjectKey] = []  # objects whose own depends-on closes part of the cycle
        for waiter, waited in zip(path, path[1:]):
            for why in edges[(waited, waiter)]:
                if why.rule not in ("chart-member",) and why.file:
                    reasons.append(f"{why.detail} ({why.file})")
                if why.rule not in ("chart-member", "subchart", "subchart-order", "resource-group") \
                        and not why.rule.startswith("implicit-") and isinstance(waiter, ObjectKey):
                    declared.append(waiter)
        first = declared[0] if declared else next(n for n in path if isinstance(n, ObjectKey))
        start = path.index(first)
        shown = " → ".join(str(n) for n in path[start:-1] + path[:start + 1])  # read from the reported object
        hint = "break one of: " + "; ".join(dict.fromkeys(reasons)) if reasons else "break one edge of the cycle"
        r.object("dependency-cycle", a.objects[first].obj, f"dependency cycle: {shown}", hint,
                 needle=spec.DEPENDS_ON)


def endpoints_deadlock(a: Analysis, r: Reporter, edges: graphmod.Edges) -> None:
    """A Service with ``ready-when: endpoints`` whose every pod source in the chart waits for it."""
    from helm_ac.analysis import pods
    from helm_ac.extension import readywhen

    services = [k for k in a.order if k.kind == "Service" and k.group == "" and k in a.objects
                and any(isinstance(c, readywhen.Endpoints) for c in a.objects[k].setting("ready-when") or ())]
    if not services:
        return
    import networkx as nx

    g = edges.digraph()
    for svc in services:
        sources = pods.pod_sources(a, svc)
        if not sources or not all(nx.has_path(g, svc, s) for s in sources):
            continue
        chains = []
        for s in sources:
            path = [n for n in nx.shortest_path(g, svc, s) if isinstance(n, ObjectKey)]
            chains.append(" → ".join(str(n) for n in reversed(path)))
        r.object("endpoints-deadlock", a.objects[svc].obj,
                 f"{svc} waits for the pods it selects (ready-when: endpoints), but they come from objects that "
                 f"wait for it: {'; '.join(chains)}",
                 f"drop the dependency on {svc}, or the endpoints clause", needle=spec.PREFIX + "ready-when")


def suggest_object(a: Analysis, ref: refs.ObjectRef) -> str | None:
    """What an unresolved command-line reference (a fault, an estimate) probably meant, as lint suggests
    for depends-on."""
    return Suggestions(a.order, a.namespace).suggest(ref, None)


def run_all(a: Analysis, edges: graphmod.Edges, chart_name: str) -> list[Finding]:
    """Run every check on one analysed chart; return its findings (unsorted)."""
    r = Reporter(a, chart_name)
    for check in (invalid_manifest, duplicate_object, unknown_annotation, invalid_annotation_value,
                  unresolved_reference, invalid_annotation_key, hook_annotations_ignored, invalid_chart_annotation,
                  unattributed_object):
        check(a, r)
    dependency_cycle(a, r, edges)
    endpoints_deadlock(a, r, edges)
    return r.findings
