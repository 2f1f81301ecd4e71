"""Views of a dependency graph for people and tools: levels, critical path, text, DOT, Mermaid, JSON. Pure.

Graph edges run parent -> child (the child starts once the parent is ready).
Barriers (chart-level vertices) take no time; objects take their estimate.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import networkx as nx

from helm_ac.analysis.estimates import Estimates
from helm_ac.analysis.graph import Barrier, Node, levels
from helm_ac.analysis.keys import Keys
from helm_ac.analysis.model import Analysis
from helm_ac.extension import durations
from helm_ac.kinds import ObjectKey

JSON_VERSION = 1


@dataclass
class GraphView:
    """A graph with everything the printers need."""

    analysis: Analysis
    graph: nx.DiGraph
    keys: Keys
    estimates: Estimates

    def __post_init__(self) -> None:
        self.order = list(nx.lexicographical_topological_sort(self.graph, key=self._sort_key))
        position = {n: i for i, n in enumerate(self.order)}
        self.edges = sorted(self.graph.edges, key=lambda e: (position[e[0]], position[e[1]]))  # drawing order
        self.level: dict[Node, int] = levels(self.graph)
        self.finish: dict[Node, float] = {}
        best_pred: dict[Node, Node | None] = {}
        for n in self.order:
            preds = sorted(self.graph.predecessors(n), key=self._sort_key)
            best = max(preds, key=lambda p: self.finish[p]) if preds else None  # first of equals: deterministic
            self.finish[n] = (self.finish[best] if best is not None else 0.0) + self.duration(n)
            best_pred[n] = best
        end = max(self.order, key=lambda n: self.finish[n]) if self.order else None
        path: list[Node] = []
        while end is not None:
            path.append(end)
            end = best_pred[end]
        self.critical = list(reversed(path))
        self.critical_seconds = self.finish[self.critical[-1]] if self.critical else 0.0

    def _sort_key(self, n: Node) -> str:
        return self.keys.key(n)

    def duration(self, n: Node) -> float:
        return self.estimates.seconds(n) if isinstance(n, ObjectKey) else 0.0

    def label(self, n: Node) -> str:
        if isinstance(n, Barrier):
            return n.label(relative=True)
        return self.keys.key(n)

    def waits_for(self, n: Node) -> list[str]:
        """Readable prerequisites: objects, and charts as "all of X"; gates and starts are looked through."""
        out: list[str] = []
        stack = sorted(self.graph.predecessors(n), key=self._sort_key, reverse=True)
        seen = set()
        while stack:
            p = stack.pop()
            if p in seen:
                continue
            seen.add(p)
            if isinstance(p, Barrier) and p.role.startswith("group:"):
                out.append(f"group {p.role[6:]}")
            elif isinstance(p, Barrier) and p.role != "done":
                stack.extend(sorted(self.graph.predecessors(p), key=self._sort_key, reverse=True))
            elif isinstance(p, Barrier):
                out.append(f"all of {'/'.join(p.path[1:]) or p.path[0]}")
            else:
                gates = {w.gate for w in self.graph[p][n]["why"]} if self.graph.has_edge(p, n) else {"ready"}
                out.append(self.keys.key(p) + (" (exists)" if gates == {"present"} else ""))
        return out

    def critical_labels(self) -> list[str]:
        """The critical path for people: objects and chart barriers ("[mariadb ready]"), in order."""
        return [self.label(n) for n in self.critical if isinstance(n, ObjectKey) or n.role == "done"]

    def objects(self) -> list[ObjectKey]:
        return [n for n in self.order if isinstance(n, ObjectKey)]


def _dur(seconds: float) -> str:
    return durations.format_seconds(seconds)


def to_text(v: GraphView, release: str) -> str:
    objs = v.objects()
    lines = [f"{release} ({v.analysis.root[0]}): {len(objs)} objects, "
             f"{max((v.level[o] for o in objs), default=0)} levels, critical path {_dur(v.critical_seconds)}"
             if objs else f"{release} ({v.analysis.root[0]}): no objects", ""]
    width = max((len(v.keys.key(o)) for o in objs), default=10)
    by_level: dict[int, list[ObjectKey]] = {}
    for o in objs:
        by_level.setdefault(v.level[o], []).append(o)
    for level in sorted(by_level):
        lines.append(f"level {level}")
        for o in sorted(by_level[level], key=v.keys.key):
            mark = "*" if o in v.critical else " "
            waits = v.waits_for(o)
            tail = f"  waits for {', '.join(waits)}" if waits else ""
            lines.append(f" {mark} {v.keys.key(o):<{width}}  {_dur(v.duration(o)):>6}{tail}")
    if not objs:
        lines.append("nothing to order: the rendered chart has no objects (Helm hooks are kept aside)")
        return "\n".join(lines) + "\n"
    path = " → ".join(v.critical_labels())
    lines += ["", f"critical path ({_dur(v.critical_seconds)}, marked *, in order): {path}"]
    lines.append("durations are estimates: per-kind defaults unless given with --estimate/--estimates")
    return "\n".join(lines) + "\n"


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(v: GraphView, release: str) -> str:
    ids = {n: f"n{i}" for i, n in enumerate(v.order)}
    crit = set(zip(v.critical, v.critical[1:]))
    out = [f"digraph {_quote(release)} {{", "  rankdir=LR;", '  node [shape=box, style="rounded", fontname="Helvetica"];',
           f"  label={_quote(f'{release}: critical path {_dur(v.critical_seconds)}')}; labelloc=t;"]
    charts: dict[tuple[str, ...], list[Node]] = {}
    for n in v.order:
        path = n.path if isinstance(n, Barrier) else v.analysis.objects[n].obj.chart
        charts.setdefault(path, []).append(n)
    for i, (path, nodes) in enumerate(sorted(charts.items())):
        out.append(f"  subgraph cluster_{i} {{ label={_quote('chart ' + '/'.join(path))}; style=dashed;")
        for n in nodes:
            if isinstance(n, Barrier):
                out.append(f"    {ids[n]} [label={_quote(v.label(n))}, shape=diamond, style=filled, "
                           f"fillcolor=lightgrey, fontsize=9];")
            else:
                style = ', color=red, penwidth=2' if n in v.critical else ''
                out.append(f"    {ids[n]} [label={_quote(v.keys.key(n) + chr(10) + _dur(v.duration(n)))}{style}];")
        out.append("  }")
    for p, c in v.edges:
        style = " [color=red, penwidth=2]" if (p, c) in crit else ""
        out.append(f"  {ids[p]} -> {ids[c]}{style};")
    out.append("}")
    return "\n".join(out) + "\n"


def to_mermaid(v: GraphView, release: str) -> str:
    ids = {n: f"n{i}" for i, n in enumerate(v.order)}
    crit = set(zip(v.critical, v.critical[1:]))
    out = ["flowchart LR", f"  %% {release}: critical path {_dur(v.critical_seconds)}"]
    for n in v.order:
        text = v.label(n).replace('"', "'")
        if isinstance(n, Barrier):
            out.append(f'  {ids[n]}{{{{"{text}"}}}}')
        else:
            out.append(f'  {ids[n]}["{text}<br/>{_dur(v.duration(n))}"]')
    crit_links = []
    for i, (p, c) in enumerate(v.edges):
        out.append(f"  {ids[p]} --> {ids[c]}")
        if (p, c) in crit:
            crit_links.append(str(i))
    crit_nodes = [ids[n] for n in v.critical if isinstance(n, ObjectKey)]
    if crit_nodes:
        out.append("  classDef critical stroke:#d00,stroke-width:3px")
        out.append(f"  class {','.join(crit_nodes)} critical")
    if crit_links:
        out.append(f"  linkStyle {','.join(crit_links)} stroke:#d00,stroke-width:3px")
    return "\n".join(out) + "\n"


def to_json(v: GraphView, release: str) -> str:
    nodes: list[dict[str, Any]] = []
    for n in v.order:
        entry: dict[str, Any] = {"id": v.keys.key(n), "type": "barrier" if isinstance(n, Barrier) else "object",
                                 "seconds": v.duration(n), "level": v.level[n], "finish": v.finish[n]}
        if isinstance(n, Barrier):
            entry.update(role=n.role, chart=list(n.path))
        else:
            info = v.analysis.objects[n]
            entry.update(kind=n.kind, group=n.group, namespace=n.namespace, name=n.name,
                         chart=list(info.obj.chart), file=info.obj.chart_file)
        nodes.append(entry)
    edges = [{"parent": v.keys.key(p), "child": v.keys.key(c), "reasons": sorted({w.rule for w in d["why"]})}
             for p, c, d in sorted(v.graph.edges(data=True), key=lambda e: (v.keys.key(e[1]), v.keys.key(e[0])))]
    doc = {"version": JSON_VERSION, "release": release, "chart": v.analysis.root[0], "namespace": v.analysis.namespace,
           "nodes": nodes, "edges": edges,
           "criticalPath": {"seconds": v.critical_seconds, "nodes": [v.keys.key(n) for n in v.critical]}}
    return json.dumps(doc, indent=2) + "\n"


FORMATS = {"text": to_text, "dot": to_dot, "mermaid": to_mermaid, "json": to_json}
