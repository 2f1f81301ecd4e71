"""The dependency graph of a release, pure (no I/O).

Nodes are objects (:class:`~helm_ac.kinds.ObjectKey`) and *barriers*
(:class:`Barrier`), AppController's ``void`` vertices: always ready once
their parents are, never created.  Edges run **parent -> child**: the child
is created only once the parent is ready.  Each edge carries the reasons it
exists (:class:`Why`), so that a cycle can be explained.

Encoding of chart-level rules (no N×M explosion: a chart reference costs one
edge per object, not one per pair):

* ``done(C)``: every regular object of chart C's subtree is ready.
  Edges: object -> done(its chart); done(S) -> done(parent of S).
* ``gate(C)``: C's *own* objects may start. Edges: done(S) -> gate(C) for each
  subchart S that C waits for (default: all enabled subcharts;
  ``appcontroller.k8s/wait-for-subcharts``), gate(C) -> each own object.
* ``start(C)``: C's whole subtree may start; only for charts ordered after a
  sibling (``appcontroller.k8s/subchart-order``). Edges: done(A) -> start(C),
  start(C) -> each object of C's subtree.
* ``chart:X`` in depends-on: done(X) -> the object.

Implicit rules (:data:`IMPLICIT_RULES`, on by default, each switchable off):

* ``crd``: a custom resource waits for the CustomResourceDefinition of its kind when the
  chart renders that CRD;
* ``namespace``: an object waits for the Namespace it lives in when the chart renders it.

Namespaces and CRDs, and everything from a chart's ``crds/`` directory (which Helm installs
before any template), never wait for subcharts: subcharts are typically what needs them.

Two forms: :func:`collect` gives the edges as a plain mapping (:class:`Edges`), which is all
``helm ac lint`` needs (its cycle check runs on the standard library's :mod:`graphlib`);
:func:`build` / :meth:`Edges.digraph` give a ``networkx.DiGraph`` for the views, the emitters and
the engine.  networkx is imported only there, and by :func:`cycles` once a cycle is known to exist:
importing it costs about a quarter of a second, a third of what ``helm template`` itself takes on
a 2,000-object chart (``benchmarks/lint_bench.py``).
"""
from __future__ import annotations

import graphlib
from typing import TYPE_CHECKING, Iterable, NamedTuple, Union

from helm_ac.analysis.model import Analysis
from helm_ac.extension import interop, spec
from helm_ac.kinds import ObjectKey
from helm_ac.rendering.manifests import chart_file

if TYPE_CHECKING:
    import networkx as nx


class Barrier(NamedTuple):
    """A void vertex: ``role`` is ``done``, ``gate`` or ``start`` of the chart at ``path``."""

    role: str
    path: tuple[str, ...]

    def label(self, *, relative: bool = False) -> str:
        """``[top/mariadb ready]``; ``relative``: the chart path below the top chart (``[mariadb ready]``)."""
        name = ("/".join(self.path[1:]) or self.path[0]) if relative else "/".join(self.path)
        if self.role.startswith("group:"):
            return f"[{name} group {self.role[6:]}]"
        return {"done": f"[{name} ready]", "gate": f"[{name} own objects]",
                "start": f"[{name} start]"}[self.role]

    def __str__(self) -> str:
        return self.label()


Node = Union[ObjectKey, Barrier]


class Why(NamedTuple):
    """Why an edge exists: ``rule`` is depends-on / subchart / subchart-order / chart-member /
    implicit-crd / implicit-namespace / resource-group, or another tool's annotation key
    (``config.kubernetes.io/depends-on``, ``werf.io/deploy-dependency-db``, ...).
    ``gate`` is "present" when the child may start as soon as the parent exists.  (A named tuple:
    one is made per declared edge, and tuples are made in C.)"""

    rule: str
    detail: str
    file: str = ""
    gate: str = "ready"


class Edges(dict):
    """The graph as ``{(parent, child): [Why, ...]}``, plus ``objects``: every object node, in
    analysis order (objects without any edge included)."""

    def __init__(self, objects: Iterable[ObjectKey]) -> None:
        super().__init__()
        self.objects = list(objects)

    def add(self, parent: Node, child: Node, why: Why) -> None:
        self.setdefault((parent, child), []).append(why)

    def digraph(self) -> "nx.DiGraph":
        """The same graph as a ``networkx.DiGraph`` whose edges carry ``why``; nodes in a stable order."""
        import networkx as nx

        g: nx.DiGraph[Node] = nx.DiGraph()
        g.add_nodes_from(self.objects)
        g.add_edges_from((p, c, {"why": whys}) for (p, c), whys in self.items())
        return g

    def has_cycle(self) -> bool:
        preds: dict[Node, list[Node]] = {n: [] for n in self.objects}
        for p, c in self:
            preds.setdefault(c, []).append(p)
        try:
            graphlib.TopologicalSorter(preds).prepare()
        except graphlib.CycleError:
            return True
        return False


#: Implicit rules users expect; ``build(..., implicit=...)`` chooses which apply.
IMPLICIT_RULES = ("crd", "namespace")


def _prerequisite(a: Analysis, key: ObjectKey) -> bool:
    """Objects that never wait for subcharts: Namespaces, CRDs, and whatever comes from crds/."""
    return (key.kind in ("Namespace", "CustomResourceDefinition")
            or a.objects[key].obj.template.startswith("crds/"))


def object_parents(g: "nx.DiGraph", node: Node) -> set[ObjectKey]:
    """``node``'s nearest *object* parents in ``g``: its predecessors, looking through barriers."""
    out: set[ObjectKey] = set()
    todo, seen = list(g.predecessors(node)), set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        if isinstance(p, Barrier):
            todo.extend(g.predecessors(p))
        else:
            out.add(p)
    return out


def levels(g: "nx.DiGraph") -> dict[Node, int]:
    """Each vertex's level: 1 + the highest level of its parents for objects (barriers take none), the
    batches of a wave-based install (Helm HIP-0025, Argo CD sync waves, cli-utils apply sets)."""
    import networkx as nx

    level: dict[Node, int] = {}
    for n in nx.topological_sort(g):
        level[n] = max((level[p] for p in g.predecessors(n)), default=0) + (1 if isinstance(n, ObjectKey) else 0)
    return level


def build(a: Analysis, *, implicit: Iterable[str] = IMPLICIT_RULES) -> "nx.DiGraph":
    """The dependency graph of an analysis as a ``networkx.DiGraph`` (see :func:`collect`)."""
    return collect(a, implicit=implicit).digraph()



def collect(a: Analysis, *, implicit: Iterable[str] = IMPLICIT_RULES) -> Edges:
    """The edges of an analysis's dependency graph (self-dependencies are left out)."""
    implicit = frozenset(implicit)
    edges = Edges(a.order)
    started: set[Barrier] = set()
    enabled = {p for p, c in a.charts.items() if c.subtree_objects}

    for path in sorted(enabled):
        info = a.charts[path]
        done = Barrier("done", path)
        member = Why("chart-member", f"an object of chart {'/'.join(path)}")
        for key in info.own_objects:
            edges.add(key, done, member)
        subs = [s for s in a.subcharts_of(path) if s in enabled]
        for s in subs:
            edges.add(Barrier("done", s), done,
                      Why("chart-member", f"{'/'.join(s)} is a subchart of {'/'.join(path)}"))
        wait = info.wait_for()
        waited = subs if wait is True else ([] if wait is False else [s for s in subs if s[-1] in wait])
        gated = [k for k in info.own_objects if not _prerequisite(a, k)]
        if waited and gated:
            gate = Barrier("gate", path)
            file = chart_file(path, "Chart.yaml")
            for s in waited:
                edges.add(Barrier("done", s), gate, Why("subchart", f"chart {'/'.join(path)} waits for its subchart "
                                                                 f"{s[-1]}", file))
            own = Why("subchart", f"an object of chart {'/'.join(path)}")
            for key in gated:
                edges.add(gate, key, own)
        order = info.order()
        if order is not None:
            file = chart_file(path, "Chart.yaml")
            for before, after in order.edges():
                b, c = path + (before,), path + (after,)
                if b not in enabled or c not in enabled:
                    continue
                start = Barrier("start", c)
                if start not in started:
                    started.add(start)
                    inside = Why("subchart-order", f"an object of subchart {after}")
                    for key in a.order:
                        if a.objects[key].obj.chart[:len(c)] == c and not _prerequisite(a, key):
                            edges.add(start, key, inside)
                edges.add(Barrier("done", b), start, Why("subchart-order", f"{after} after {before}", file))

    for key in a.order:
        oinfo = a.objects[key]
        group = oinfo.obj.annotations.get(interop.HIP_GROUP)
        if isinstance(group, str) and group:
            edges.add(key, Barrier(f"group:{group}", oinfo.obj.chart),
                      Why("resource-group", f"{key} is in resource group {group}", oinfo.obj.chart_file))
        for r in oinfo.references:
            if not (r.targets or r.chart_target is not None or r.group_target is not None):
                continue  # resolved to nothing: no edge (10,000 such references: 6 ms of reasons nobody reads)
            rule = "depends-on" if r.source == spec.DEPENDS_ON else r.source
            why = Why(rule, f"{key} {rule} {r.text}", oinfo.obj.chart_file, r.gate)
            for t in r.targets:
                if t != key:
                    edges.add(t, key, why)
            if r.chart_target is not None and r.chart_target in enabled:
                edges.add(Barrier("done", r.chart_target), key, why)
            if r.group_target is not None:
                edges.add(Barrier(f"group:{r.group_target}", oinfo.obj.chart), key, why)
    _implicit_edges(a, edges, implicit)
    _prune_sinks(edges)
    return edges


def _prune_sinks(edges: Edges) -> None:
    """Drop barriers that nothing waits for (e.g. ``done`` of the top-level chart): they order nothing."""
    out: dict[Node, int] = {}
    preds: dict[Node, list[Node]] = {}
    for p, c in edges:
        out[p] = out.get(p, 0) + 1
        preds.setdefault(c, []).append(p)
    sinks = {c for c in preds if isinstance(c, Barrier) and c not in out}
    while sinks:
        nxt = set()
        for n in sinks:
            for p in preds.pop(n, ()):
                del edges[(p, n)]
                out[p] -= 1
                if not out[p] and isinstance(p, Barrier):
                    nxt.add(p)
        sinks = nxt


def _implicit_edges(a: Analysis, edges: Edges, rules: frozenset[str]) -> None:
    crds: dict[tuple[str, str], ObjectKey] = {}
    namespaces: dict[str, ObjectKey] = {}
    for key in a.order:
        if key.kind == "CustomResourceDefinition" and key.group == "apiextensions.k8s.io":
            spec = a.objects[key].obj.head.get("spec")  # a CRD's head holds group, names, scope
            spec = spec if isinstance(spec, dict) else {}
            names = n if isinstance(n := spec.get("names"), dict) else {}
            if spec.get("group") and names.get("kind"):
                crds[(str(spec["group"]), str(names["kind"]))] = key
        elif key.kind == "Namespace" and key.group == "":
            namespaces[key.name] = key
    for key in a.order:
        if "crd" in rules and (key.group, key.kind) in crds:
            crd = crds[(key.group, key.kind)]
            edges.add(crd, key, Why("implicit-crd", f"{key} is a {key.kind}, defined by {crd}"))
        if "namespace" in rules and key.namespace in namespaces and key.kind != "Namespace":
            ns = namespaces[key.namespace]
            edges.add(ns, key, Why("implicit-namespace", f"{key} lives in {ns}"))


def cycles(edges: Edges, *, per_component: int = 10) -> list[list[Node]]:
    """Elementary cycles (as node lists, parent before child), at most ``per_component`` per strongly
    connected component, deterministic.  Self-loops are not in the graph (see :func:`collect`)."""
    if not edges.has_cycle():
        return []
    import networkx as nx

    g = edges.digraph()
    out: list[list[Node]] = []
    comps = [c for c in nx.strongly_connected_components(g) if len(c) > 1]
    for comp in sorted(comps, key=lambda c: min(_sort_key(n) for n in c)):
        # Integer labels in sorted order: simple_cycles pops start nodes from sets, and ints hash
        # to themselves, so the per-component cap keeps the same cycles whatever PYTHONHASHSEED is.
        nodes = sorted(comp, key=_sort_key)
        index = {n: i for i, n in enumerate(nodes)}
        sub: nx.DiGraph[int] = nx.DiGraph()
        sub.add_nodes_from(range(len(nodes)))
        sub.add_edges_from(sorted((index[u], index[v]) for u in nodes for v in g.successors(u) if v in index))
        found: list[list[Node]] = []
        for cyc in nx.simple_cycles(sub):
            found.append(_rotate([nodes[i] for i in cyc]))
            if len(found) >= per_component:
                break
        out.extend(sorted(found, key=lambda c: [_sort_key(n) for n in c]))
    return out


def _sort_key(n: Node) -> tuple:
    # objects first, then barriers; deterministic across runs
    if isinstance(n, ObjectKey):
        return (0, n.kind.lower(), n.name, n.namespace or "", n.group)
    return (1, n.role, n.path)


def _rotate(cycle: list[Node]) -> list[Node]:
    """Start the cycle at its smallest object (or barrier) so output is stable."""
    i = min(range(len(cycle)), key=lambda k: _sort_key(cycle[k]))
    return cycle[i:] + cycle[:i]


def waits_for_path(cycle: Iterable[Node]) -> list[Node]:
    """The cycle read as "waits for": child first (a → b means a waits for b), closed."""
    nodes = list(cycle)
    rev = [nodes[0]] + list(reversed(nodes[1:]))
    return rev + [rev[0]]
