"""A Definition's status, from the engine's events (:func:`status`, pure), and the writer that
patches the ``status`` subresource (:class:`StatusWriter`).

The status serves three readers (``docs/controller.md``, *Status*):

* kstatus (Helm 4's ``--wait``): ``observedGeneration`` is the Definition's ``metadata.generation``
  the controller acts on, and ``Reconciling`` is True until the object reaches a final phase;
  ``Stalled`` is True when it failed, timed out or is blocked by a failed parent;
* ``kubectl wait --for=condition=Ready``: ``Ready`` is True once the object is ready;
* people and scripts: ``phase``, ``reason``, ``message``, ``attempts``, ``blockedBy``,
  ``startedAt``, ``finishedAt``.
"""
from __future__ import annotations

import datetime
import functools
import logging
import threading
import time
from collections import Counter
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from helm_ac.engine.cluster import ApiError
from helm_ac.engine.events import State
from helm_ac.kube.cluster import KubeCluster, api_error
from helm_ac.output.crds import API_VERSION

log = logging.getLogger("helm_ac.controller")

#: engine state -> (phase, reason)
PHASE: dict[State, tuple[str, str]] = {
    State.PENDING: ("Pending", "WaitingForParents"),
    State.BLOCKED: ("Blocked", "ParentFailed"),
    State.APPLYING: ("Applying", "Applying"),
    State.WAITING: ("WaitingReady", "WaitingForReadiness"),
    State.READY: ("Ready", "Ready"),
    State.FAILED: ("Failed", "Failed"),
    State.TIMED_OUT: ("TimedOut", "TimedOut"),
    State.SKIPPED: ("Skipped", "Skipped"),
}
_STALLED = {State.BLOCKED, State.FAILED, State.TIMED_OUT}
#: fields a status may lack: a merge patch must remove them explicitly (null)
_OPTIONAL = ("blockedBy", "startedAt", "attemptStartedAt", "finishedAt")
#: ... on the ReleaseGraph: only the summary's own keys (``appliedKinds`` is the teardown's)
_GRAPH_OPTIONAL = ("failed", "startedAt", "finishedAt")
_OPTIONAL_OF = {"Definition": _OPTIONAL, "ReleaseGraph": _GRAPH_OPTIONAL}
_FINAL_PHASES = {PHASE[s][0] for s in State if s.final}


def rfc3339(t: float) -> str:
    """Epoch seconds as metav1.Time (seconds, UTC, ``Z``)."""
    return _rfc3339(int(t))


@functools.lru_cache(maxsize=256)
def _rfc3339(seconds: int) -> str:
    # one string per second: the statuses of a large rollout (several timestamps each) share them
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


#: a Definition status as :func:`status` makes it, packed (:func:`pack`): the top-level fields,
#: each condition's status and lastTransitionTime (its reason, message, observedGeneration are the
#: status's own), then the optional fields (None: absent)
_TOP = ("observedGeneration", "phase", "reason", "message", "attempts")
_CONDITIONS = ("Ready", "Reconciling", "Stalled")


def pack(st: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
    """``st`` in a compact form :func:`unpack` turns back into an equal dict: a tuple of ~0.2 KB
    instead of ~1.3 KB of dicts for a status of :func:`status`'s shape (what the writer keeps per
    Definition for ``previous``); any other status is kept as it is."""
    try:
        conds = st["conditions"]
        if not isinstance(conds, list) or len(conds) != len(_CONDITIONS):
            return st
        packed = (*(st[k] for k in _TOP),
                  *(x for c in conds for x in (c["status"], c["lastTransitionTime"])),
                  tuple(st["blockedBy"]) if "blockedBy" in st else None,
                  *(st.get(k) for k in _OPTIONAL[1:]))
    except (KeyError, TypeError):
        return st
    return packed if unpack(packed) == st else st


def unpack(packed: tuple[Any, ...] | dict[str, Any]) -> dict[str, Any]:
    """The status :func:`pack` packed (a dict: as it is)."""
    if isinstance(packed, dict):
        return packed
    generation, phase, reason, message, attempts = packed[:5]
    out: dict[str, Any] = dict(zip(_TOP, packed[:5]))
    out["conditions"] = [{"type": kind, "status": packed[5 + 2 * i], "reason": reason, "message": message,
                          "lastTransitionTime": packed[6 + 2 * i], "observedGeneration": generation}
                         for i, kind in enumerate(_CONDITIONS)]
    blocked = packed[11]
    if blocked is not None:
        out["blockedBy"] = list(blocked)
    for k, v in zip(_OPTIONAL[1:], packed[12:]):
        if v is not None:
            out[k] = v
    return out


def conditions(previous: dict[str, Any] | None, *, ready: bool, reconciling: bool, stalled: bool, reason: str,
               message: str, now: str, generation: int) -> list[dict[str, Any]]:
    """The three conditions kstatus and ``kubectl wait`` read (``Ready``, ``Reconciling``,
    ``Stalled``), each keeping its ``lastTransitionTime`` from ``previous`` (the last status written)
    while its value stays the same; ``now`` (metav1.Time) otherwise."""
    before = {c.get("type"): c for c in (previous or {}).get("conditions") or [] if isinstance(c, dict)}

    def condition(kind: str, true: bool) -> dict[str, Any]:
        value = "True" if true else "False"
        old = before.get(kind)
        since = old["lastTransitionTime"] if old and old.get("status") == value and old.get("lastTransitionTime") \
            else now
        return {"type": kind, "status": value, "reason": reason, "message": message,
                "lastTransitionTime": since, "observedGeneration": generation}

    return [condition("Ready", ready), condition("Reconciling", reconciling), condition("Stalled", stalled)]


def status(state: State, *, generation: int, time: float, message: str = "", attempts: int = 0,
           blocked_by: tuple[str, ...] = (), previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole status of a Definition whose object is in ``state`` at ``time`` (epoch seconds).

    ``previous`` (the last status written) keeps each condition's ``lastTransitionTime`` while its
    status stays the same, and ``startedAt``."""
    phase, reason = PHASE[state]
    message = message or {State.PENDING: "waiting for its parents to be ready",
                          State.APPLYING: "being applied", State.WAITING: "applied, waiting until it is ready",
                          State.READY: "ready"}.get(state, phase)
    if blocked_by and not message.startswith("blocked"):
        message = f"{message} (blocked by {', '.join(blocked_by)})"
    now = rfc3339(time)
    out: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": phase,
        "reason": reason,
        "message": message,
        "attempts": attempts,
        "conditions": conditions(previous, ready=state is State.READY, reconciling=not state.final,
                                 stalled=state in _STALLED, reason=reason, message=message, now=now,
                                 generation=generation),
    }
    if blocked_by:
        out["blockedBy"] = list(blocked_by)
    started = (previous or {}).get("startedAt")
    if started is None and state is not State.PENDING and state is not State.BLOCKED:
        started = now
    if started is not None:
        out["startedAt"] = started
    # the current attempt's start: a restarted controller times the attempt from it
    attempt_started = now if state is State.APPLYING else (previous or {}).get("attemptStartedAt")
    if attempt_started is not None and state is not State.PENDING and state is not State.BLOCKED:
        out["attemptStartedAt"] = attempt_started
    if state.final:  # the same outcome found again (a restart): it finished when it first did
        same = previous is not None and previous.get("phase") == phase and previous.get("attempts") == attempts
        out["finishedAt"] = previous["finishedAt"] if same and previous and previous.get("finishedAt") else now
    return out


#: ReleaseGraph phase -> (reason, Ready, Reconciling, Stalled)
GRAPH_PHASES: dict[str, tuple[str, bool, bool, bool]] = {
    "Progressing": ("Progressing", False, True, False),
    "Ready": ("Ready", True, False, False),
    "Failed": ("RolloutFailed", False, False, True),
    "Stalled": ("InvalidGraph", False, False, True),
}


def graph_status(phase: str, *, generation: int, digest: str, time: float, message: str, reason: str = "",
                 counts: dict[str, int] | None = None, failed: list[str] | None = None,
                 started: float | None = None, finished: float | None = None,
                 previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ReleaseGraph's status (the release's rollout as a whole; only the summary's keys):
    ``phase`` ``Progressing`` (a run is on: kstatus InProgress through ``Reconciling``), ``Ready``
    (Current), ``Failed`` or ``Stalled`` (a graph that cannot run; both Failed for kstatus, through
    ``Stalled``). ``previous`` keeps each condition's ``lastTransitionTime`` while its status stays."""
    default_reason, ready, reconciling, stalled = GRAPH_PHASES[phase]
    reason = reason or default_reason
    out: dict[str, Any] = {
        "observedGeneration": generation, "digest": digest, "phase": phase, "reason": reason, "message": message,
        "counts": dict(sorted((counts or {}).items())),
        "conditions": conditions(previous, ready=ready, reconciling=reconciling, stalled=stalled, reason=reason,
                                 message=message, now=rfc3339(time), generation=generation),
    }
    if failed:
        out["failed"] = sorted(failed)
    if started is not None:
        out["startedAt"] = rfc3339(started)
    if finished is not None:
        out["finishedAt"] = rfc3339(finished)
    return out


class RunSummary:
    """One run of a release as a whole, from the engine's events (pure): the ReleaseGraph's
    status (:meth:`status`) with the counts per Definition phase and the failed keys."""

    def __init__(self, graph_object: dict[str, Any], keys: list[str], started: float) -> None:
        meta = graph_object.get("metadata") or {}
        self.name = str(meta.get("name") or "")
        self.generation = int(meta.get("generation") or 0)
        self.digest = str((graph_object.get("spec") or {}).get("digest") or "")
        self.states: dict[str, State] = dict.fromkeys(keys, State.PENDING)
        self.started = started
        self.finished: float | None = None
        self.ok: bool | None = None
        #: the run ended ok and its prune (what the release no longer has goes) is on: not Ready yet
        self.pruning = False
        #: what the prune could not remove: key -> why
        self.prune_failed: dict[str, str] = {}

    def on_state(self, key: str, state: State) -> None:
        if key in self.states:
            self.states[key] = state

    def on_end(self, ok: bool, time: float) -> None:
        self.ok, self.finished = ok, time

    def on_pruned(self, failed: dict[str, str]) -> None:
        self.pruning, self.prune_failed = False, dict(failed)

    def status(self, time: float, previous: dict[str, Any] | None = None) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for st in self.states.values():
            counts[PHASE[st][0]] = counts.get(PHASE[st][0], 0) + 1
        failed = [k for k, st in self.states.items() if st in (State.FAILED, State.TIMED_OUT)]
        total, ready = len(self.states), counts.get("Ready", 0)
        reason = ""
        if self.ok is None:
            phase, message = "Progressing", f"{ready} of {total} objects ready"
        elif self.ok and self.pruning:
            phase, reason = "Progressing", "Pruning"
            message = f"{ready} of {total} objects ready; removing the objects the release no longer has"
        elif self.ok and self.prune_failed:
            phase, reason = "Failed", "PruneFailed"
            message = (f"{ready} of {total} objects ready, but {len(self.prune_failed)} the release no longer has "
                       "could not be removed: " + "; ".join(f"{k}: {why}" for k, why in sorted(self.prune_failed.items())))
        elif self.ok:
            phase, message = "Ready", f"all {total} objects ready" if ready == total else \
                f"{ready} of {total} objects ready, the rest skipped or ignored"
        else:
            blocked = counts.get("Blocked", 0)
            phase = "Failed"
            message = f"{len(failed)} failed: {', '.join(sorted(failed))}" if failed else "the rollout failed"
            if blocked:
                message += f"; {blocked} blocked behind them"
        out = graph_status(phase, generation=self.generation, digest=self.digest, time=time, message=message,
                           reason=reason, counts=counts, failed=failed, started=self.started, finished=self.finished,
                           previous=previous)
        if self.prune_failed and not self.pruning:
            out["pruneFailed"] = dict(sorted(self.prune_failed.items()))
        return out


class StatusWriter:
    """Patches Definitions' (and the ReleaseGraph's) ``status`` subresource from one thread. Writes
    are **coalesced**: an object's statuses asked while an earlier write is on its way are sent as
    one, the newest (each status is whole, so the newest is all that matters); objects are written
    in the order they were first asked. A write refused for a transient reason (429, 5xx, no
    answer) is tried again after ``backoff`` seconds, doubled each time, up to ``tries`` times (with
    the newest status by then); any other failure (the Definition deleted: 404; a refusal) is
    logged and dropped. The rollout never waits for its bookkeeping; :meth:`close` does.

    An **in-progress** status (not a final phase) waits ``settle`` seconds before it is sent, and
    is replaced by any newer status meanwhile: an object that is applied and ready within that
    time costs one write (its final status) instead of four (``Pending``, ``Applying``,
    ``WaitingReady``, ``Ready``); a final status is sent at once. :meth:`close` sends what is
    settling at once."""

    def __init__(self, cluster: KubeCluster, namespace: str, *, tries: int = 6, backoff: float = 0.2,
                 settle: float = 0.2) -> None:
        self._cluster = cluster
        self._namespace = namespace
        self._tries = tries
        self._backoff = backoff
        self._settle = settle
        #: (kind, name) -> the last status asked, packed (:func:`pack`: 10,000 Definitions' whole
        #: statuses were ~13 MiB of the controller's peak)
        self._last: dict[tuple[str, str], tuple[Any, ...] | dict[str, Any]] = {}
        # (kind, name) -> newest status not sent yet (packed), in order asked
        self._pending: dict[tuple[str, str], tuple[Any, ...] | dict[str, Any]] = {}
        #: (kind, name) -> (when it may be sent, its newest in-progress status, packed), in that order; never in _pending too
        self._settling: dict[tuple[str, str], tuple[float, tuple[Any, ...] | dict[str, Any]]] = {}
        self._failed: dict[tuple[str, str], int] = {}  # (kind, name) -> transient failures of its current status
        self._cv = threading.Condition()
        self._closed = False
        self._discard = False
        self.failures = 0
        self.writes = 0
        self.written: Counter[str] = Counter()  # writes by kind
        self._thread = threading.Thread(target=self._work, name="helm-ac-status", daemon=True)
        self._thread.start()

    def last(self, name: str, kind: str = "Definition") -> dict[str, Any] | None:
        """The last status asked for ``name`` (for :func:`status`'s ``previous``)."""
        got = self._last.get((kind, name))
        return None if got is None else unpack(got)

    def forget(self, keep: set[str], kind: str = "Definition") -> None:
        """Forget the last statuses of the ``kind`` objects not named in ``keep`` (a new run's
        Definitions): a long-running controller keeps no status of a Definition gone, nor takes
        one for the ``previous`` of a new Definition of the same name. What is queued still goes."""
        for key in [k for k in self._last if k[0] == kind and k[1] not in keep]:
            del self._last[key]

    def write(self, name: str, st: dict[str, Any], kind: str = "Definition") -> None:
        """Queue ``st`` as the status of the ``kind`` (``Definition`` or ``ReleaseGraph``) ``name``."""
        key = (kind, name)
        # packed while it waits too: a rollout faster than the writer leaves thousands pending
        self._last[key] = packed = pack(st)
        with self._cv:
            if key in self._pending or st.get("phase") in _FINAL_PHASES or self._settle <= 0:
                self._settling.pop(key, None)
                self._pending[key] = packed  # a name already pending keeps its place, with the newest status
            else:  # keeps its time (and so its place) when already settling: it waits settle at most
                since = self._settling.get(key)
                self._settling[key] = (since[0] if since else time.monotonic() + self._settle, packed)
            self._cv.notify()

    def _next(self) -> tuple[tuple[str, str], tuple[Any, ...] | dict[str, Any]] | None:
        """The next status to send (None: closed and nothing left); called holding the lock."""
        while True:
            now = time.monotonic()
            while self._settling:
                key, (due, st) = next(iter(self._settling.items()))
                if due > now and not self._closed:
                    break
                del self._settling[key]
                self._pending[key] = st
            if self._pending:
                key = next(iter(self._pending))
                return key, self._pending.pop(key)
            if self._closed:
                return None
            self._cv.wait(next(iter(self._settling.values()))[0] - now if self._settling else None)

    def _work(self) -> None:
        while True:
            with self._cv:
                got = self._next()
                if got is None:
                    return
                key, packed = got
            st = unpack(packed)
            retry = self._patch(*key, st)
            if retry is None:
                self._failed.pop(key, None)
                continue
            n = self._failed.get(key, 0) + 1
            if n >= self._tries:
                self._failed.pop(key, None)
                self.failures += 1
                log.warning("status of %s %s/%s not written after %d tries: %s",
                            key[0], self._namespace, key[1], n, retry)
                continue
            self._failed[key] = n
            with self._cv:
                if self._discard:
                    continue
                newer = self._settling.pop(key, None)  # a newer status asked meanwhile is the one to send
                self._pending.setdefault(key, newer[1] if newer else packed)
                deadline = time.monotonic() + min(self._backoff * 2 ** (n - 1), 5.0)
                while not self._discard and (left := deadline - time.monotonic()) > 0:
                    self._cv.wait(left)  # close(discard) ends the wait

    @staticmethod
    def _body(kind: str, st: dict[str, Any]) -> dict[str, Any]:
        """The merge patch: fields the status lacks removed (null), and in the ReleaseGraph's
        ``counts`` the phases no Definition is in any more (a merge patch merges maps)."""
        body = {**dict.fromkeys(_OPTIONAL_OF[kind]), **st}
        if kind == "ReleaseGraph" and "counts" in st:
            body["counts"] = {**dict.fromkeys(p for p, _ in PHASE.values()), **st["counts"]}
        return body

    def _patch(self, kind: str, name: str, st: dict[str, Any]) -> str | None:
        """Send one status; ``None`` when written or not worth retrying, else the transient error."""
        try:
            res = self._cluster.resource(API_VERSION, kind)
            self._cluster.dynamic.request("patch", res.path(name=name, namespace=self._namespace) + "/status",
                                          body={"status": self._body(kind, st)},
                                          content_type="application/merge-patch+json")
            self.writes += 1
            self.written[kind] += 1
            return None
        except (ApiException, ApiError, HTTPError, OSError) as exc:
            err = exc if isinstance(exc, ApiError) else api_error(exc)
            if err.transient:
                return f"{err.code}: {err.message}"
            self.failures += 1
            log.warning("status of %s %s/%s not written: %s: %s", kind, self._namespace, name, err.code, err.message)
            return None

    def close(self, discard: bool = False) -> None:
        """Send what is pending, retries included (``discard``: drop it; a write on its way still
        lands), then stop the thread."""
        with self._cv:
            self._closed = True
            if discard:
                self._discard = True
                self._pending.clear()
                self._settling.clear()
            self._cv.notify_all()
        self._thread.join()
