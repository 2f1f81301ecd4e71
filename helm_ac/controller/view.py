"""A release's rollout as its readers see it, from what the cluster holds (pure): each Definition's
object with its phase, what it waits for, attempts, times and message, and the release as a whole.

:func:`snapshot` reads the Definitions' statuses (written by the controller: ``status.py``), the
Dependencies and the ReleaseGraph; ``helm ac status`` prints it and ``helm ac install`` follows it
(:func:`changes` turns two snapshots into the engine's :class:`StateEvent` so the same progress
printers serve a simulation and a real rollout).
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from helm_ac.analysis.graph import object_parents
from helm_ac.controller import release as release_mod
from helm_ac.controller.status import PHASE
from helm_ac.engine.events import State, StateEvent

#: a Definition's ``status.phase`` -> the engine state it reports
STATE_OF_PHASE: dict[str, State] = {phase: state for state, (phase, _) in PHASE.items()}
#: the states in which an object lets its children go
DONE = frozenset({State.READY, State.SKIPPED})


def _time(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class Row:
    """One object of the release."""

    key: str
    definition: str
    state: State
    #: the controller has written a status for the Definition's current generation
    observed: bool
    waiting_for: tuple[str, ...] = ()
    attempts: int = 0
    started: float | None = None
    finished: float | None = None
    message: str = ""
    blocked_by: tuple[str, ...] = ()

    def elapsed(self, now: float) -> float | None:
        if self.started is None:
            return None
        return max(0.0, (self.finished if self.finished is not None else now) - self.started)

    def as_dict(self, now: float) -> dict[str, Any]:
        out: dict[str, Any] = {"object": self.key, "definition": self.definition, "state": self.state.value,
                               "observed": self.observed, "attempts": self.attempts, "message": self.message}
        if self.waiting_for:
            out["waitingFor"] = list(self.waiting_for)
        if self.blocked_by:
            out["blockedBy"] = list(self.blocked_by)
        elapsed = self.elapsed(now)
        if elapsed is not None:
            out["elapsedSeconds"] = round(elapsed, 1)
        return out


@dataclass
class ReleaseView:
    """The release's objects and its state as a whole."""

    release: str
    namespace: str
    rows: list[Row] = field(default_factory=list)
    #: the cluster holds the whole graph the ReleaseGraph describes (or there is no ReleaseGraph)
    complete: bool = True
    #: why the graph cannot be shown (incomplete, invalid): empty when it can
    problem: str = ""
    digest: str | None = None
    #: the ReleaseGraph's ``status.phase`` when the controller wrote it for this graph (``digest``),
    #: Progressing while its status is of an earlier graph; None without a ReleaseGraph or a status
    graph_phase: str | None = None
    graph_reason: str = ""
    #: what the prune after the rollout could not remove: key -> why (``status.pruneFailed``)
    prune_failed: dict[str, str] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return bool(self.rows) or self.digest is not None

    @property
    def failed(self) -> list[Row]:
        return [r for r in self.rows if r.state in (State.FAILED, State.TIMED_OUT)]

    @property
    def done(self) -> bool:
        """Every object reached a final state (for the current generations), and the release as a
        whole did too: not while the ReleaseGraph reads Progressing (the prune after the rollout)."""
        return self.complete and not self.problem and all(r.observed and r.state.final for r in self.rows) \
            and self.graph_phase != "Progressing"

    @property
    def ok(self) -> bool:
        return self.done and all(r.state in DONE for r in self.rows) and self.graph_phase in (None, "Ready")

    @property
    def phase(self) -> str:
        if self.problem:
            return "Incomplete" if not self.complete else "Invalid"
        if self.failed or self.prune_failed:
            return "Failed"
        if self.ok:
            return "Ready"
        if self.done:
            return "Failed"  # blocked objects only: a parent failed in an earlier generation
        return "Progressing"

    def failure_report(self) -> list[str]:
        """One line per failed object: its state, reason, and the objects it keeps from being created."""
        lines = []
        for r in self.failed:
            blocked = sorted(b.key for b in self.rows if r.key in b.blocked_by)
            lines.append(f"{r.key} {r.state.value}: {r.message or 'no message'}"
                         + (f"; blocked because of it: {', '.join(blocked)}" if blocked else ""))
        for key, why in sorted(self.prune_failed.items()):
            lines.append(f"{key} not removed (the release no longer has it): {why}")
        return lines

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.state.value] = out.get(r.state.value, 0) + 1
        return out

    def table(self, now: float) -> str:
        """Plain text: a header line, then one line per object (as ``kubectl get`` aligns columns)."""
        counts = self.counts()
        head = (f"RELEASE: {self.release}   NAMESPACE: {self.namespace}   PHASE: {self.phase}   "
                f"READY: {counts.get(State.READY.value, 0)}/{len(self.rows)}")
        lines = [head] + ([f"PROBLEM: {self.problem}"] if self.problem else []) + \
            [f"NOT REMOVED: {key}: {why}" for key, why in sorted(self.prune_failed.items())]
        if not self.rows:
            return "\n".join(lines) + "\n"
        table = [("OBJECT", "STATE", "WAITING FOR", "ATTEMPTS", "ELAPSED", "MESSAGE")]
        for r in self.rows:
            elapsed = r.elapsed(now)
            table.append((r.key, r.state.value, ",".join(r.waiting_for or r.blocked_by) or "-", str(r.attempts),
                          "-" if elapsed is None else f"{elapsed:.1f}s", r.message))
        widths = [max(len(row[i]) for row in table) for i in range(5)]
        lines.append("")
        lines += ["   ".join(c.ljust(w) for c, w in zip(row[:5], widths)) + "   " + row[5] for row in table]
        return "\n".join(line.rstrip() for line in lines) + "\n"

    def as_dict(self, now: float) -> dict[str, Any]:
        return {"release": self.release, "namespace": self.namespace, "phase": self.phase,
                "complete": self.complete, **({"problem": self.problem} if self.problem else {}),
                **({"digest": self.digest} if self.digest else {}),
                **({"pruneFailed": dict(sorted(self.prune_failed.items()))} if self.prune_failed else {}),
                "counts": self.counts(), "objects": [r.as_dict(now) for r in self.rows]}


def snapshot(release: str, namespace: str, definitions: list[dict[str, Any]], dependencies: list[dict[str, Any]],
             graph_object: dict[str, Any] | None) -> ReleaseView:
    """The release's view from its objects as the API returns them."""
    view = ReleaseView(release, namespace, digest=((graph_object or {}).get("spec") or {}).get("digest"))
    graph_st = (graph_object or {}).get("status") or {}
    if view.digest and graph_st.get("digest") == view.digest and isinstance(graph_st.get("phase"), str):
        view.graph_phase, view.graph_reason = graph_st["phase"], str(graph_st.get("reason") or "")
        failed = graph_st.get("pruneFailed")
        if isinstance(failed, dict):
            view.prune_failed = {str(k): str(v) for k, v in failed.items()}
    elif view.digest and graph_st.get("digest"):
        # the controller's last word is on an earlier graph (an upgrade it has not reported on yet):
        # the objects may read final before it says how the whole went (its prune, above all)
        view.graph_phase, view.graph_reason = "Progressing", "NotObserved"
    if graph_object is not None and not release_mod.complete(definitions, dependencies, graph_object):
        spec = graph_object.get("spec") or {}
        defs, deps = release_mod.current(definitions, dependencies, graph_object)
        view.complete = False
        view.problem = (f"the cluster holds {len(defs)} of {spec.get('definitions')} Definitions and "
                        f"{len(deps)} of {spec.get('dependencies')} Dependencies of the release's graph")
    if not definitions and graph_object is None:
        return view
    defs, deps = release_mod.current(definitions, dependencies, graph_object)
    try:
        rel = release_mod.build(release, namespace, defs, deps)
    except release_mod.ReleaseError as exc:
        view.problem = view.problem or exc.message
        return view
    by_name = {d["metadata"]["name"]: d for d in defs}
    state_of: dict[str, State] = {}
    rows: dict[str, Row] = {}
    for key, (name, generation) in rel.definitions.items():
        st = by_name[name].get("status") or {}
        observed = st.get("observedGeneration") == generation and generation > 0 and st.get("phase") in STATE_OF_PHASE
        state = STATE_OF_PHASE[st["phase"]] if observed else State.PENDING
        state_of[key] = state
        rows[key] = Row(key, name, state, observed, attempts=int(st.get("attempts") or 0) if observed else 0,
                        started=_time(st.get("startedAt")) if observed else None,
                        finished=_time(st.get("finishedAt")) if observed else None,
                        message=str(st.get("message") or "") if observed else "not yet observed by a controller",
                        blocked_by=tuple(st.get("blockedBy") or ()) if observed else ())
    g, keys = rel.graph, rel.keys

    for key, obj in ((keys.key(n), n) for n in rel.analysis.order):
        row = rows[key]
        if row.state is State.PENDING:
            waiting = tuple(sorted(k for k in map(keys.key, object_parents(g, obj)) if state_of.get(k) not in DONE))
            message = f"waiting for {', '.join(waiting)}" if waiting else row.message
            rows[key] = Row(row.key, row.definition, row.state, row.observed, waiting, row.attempts, row.started,
                            row.finished, message, row.blocked_by)
    view.rows = [rows[keys.key(n)] for n in rel.analysis.order]
    return view


def changes(before: ReleaseView | None, after: ReleaseView, now: float) -> list[StateEvent]:
    """The state changes from ``before`` to ``after``, as the engine would have reported them."""
    old = {r.key: r for r in (before.rows if before else [])}
    out = []
    for r in after.rows:
        o = old.get(r.key)
        if o is None or (o.state, o.attempts, o.message) != (r.state, r.attempts, r.message):
            out.append(StateEvent(now, r.key, r.state, r.message, r.attempts, r.blocked_by))
    return out
