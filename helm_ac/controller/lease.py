"""The release's Lease: one controller acts on a release at a time (``docs/controller.md``, *Lease
per release*).

A ``coordination.k8s.io/v1`` Lease ``helm-ac-<release>`` in the release namespace. As client-go's
leader election: every write carries the ``resourceVersion`` read (a conflict means someone else
wrote first), and a Lease held by another is taken over only once its record has not changed for
its ``leaseDurationSeconds`` *by our own clock* since we first saw that record (no comparison of
clocks across machines). The holder renews every ``renew`` seconds and counts the Lease as lost
when no renewal succeeded for ``duration - margin`` seconds.

The calls are blocking (the official client): :class:`Lease` runs in a thread; the async helpers
of :mod:`.run` call it through an executor.
"""
from __future__ import annotations

import datetime
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from urllib3.exceptions import HTTPError

from helm_ac.errors import UserError

log = logging.getLogger("helm_ac.controller")


def micro_time(t: float) -> str:
    """Epoch seconds as metav1.MicroTime."""
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_name(release: str) -> str:
    return f"helm-ac-{release}"


class LeaseLost(Exception):
    """The Lease could not be renewed in time: another controller may act now."""


class LeaseError(UserError):
    """The Lease cannot be used at all (no permission)."""


@dataclass
class Lease:
    """The Lease of ``release`` in ``namespace``, for ``identity``."""

    dynamic: DynamicClient
    namespace: str
    release: str
    identity: str
    duration: int = 15  # leaseDurationSeconds
    renew: float = 5.0  # seconds between renewals
    retry: float = 2.0  # seconds between attempts to acquire
    margin: float = 2.0  # lost this long before the duration ends, for the calls in flight
    wall: Callable[[], float] = time.time  # timestamps written
    mono: Callable[[], float] = time.monotonic  # expiry, by our own clock only
    _observed: tuple[str, float] | None = field(default=None, init=False)  # (resourceVersion, when seen)
    _renewed: float = field(default=0.0, init=False)
    # a renewal on its way (its task cancelled, its thread not) and give_up take turns; once given
    # up, no renewal takes the Lease again (an empty holder reads as free)
    _turn: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _given_up: bool = field(default=False, init=False)

    @property
    def name(self) -> str:
        return lease_name(self.release)

    def _res(self) -> Any:
        return self.dynamic.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")

    def _body(self, spec: dict[str, Any], rv: str | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace,
                                "labels": {"app.kubernetes.io/managed-by": "helm-ac",
                                           "app.kubernetes.io/instance": self.release}}
        if rv is not None:
            meta["resourceVersion"] = rv
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}

    def try_acquire(self) -> str | None:
        """One attempt: ``None`` when we hold the Lease now, else the current holder's identity."""
        res = self._res()
        now = self.wall()
        mine = {"holderIdentity": self.identity, "leaseDurationSeconds": self.duration,
                "acquireTime": micro_time(now), "renewTime": micro_time(now)}
        try:
            current = self.dynamic.get(res, name=self.name, namespace=self.namespace).to_dict()
        except ApiException as exc:
            if exc.status != 404:
                raise
            try:
                self.dynamic.create(res, body=self._body({**mine, "leaseTransitions": 0}), namespace=self.namespace)
            except ApiException as exc2:
                if exc2.status == 409:  # created by another meanwhile
                    return "another controller"
                raise
            self._renewed = self.mono()
            return None
        spec, rv = current.get("spec") or {}, current["metadata"]["resourceVersion"]
        holder = spec.get("holderIdentity") or ""
        if holder and holder != self.identity:
            if self._observed is None or self._observed[0] != rv:
                self._observed = (rv, self.mono())  # a new record: its duration runs from now, our clock
            if self.mono() - self._observed[1] < int(spec.get("leaseDurationSeconds") or self.duration):
                return str(holder)
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if holder == self.identity else 1)
        if holder == self.identity and spec.get("acquireTime"):
            mine["acquireTime"] = spec["acquireTime"]
        try:
            self.dynamic.replace(res, body=self._body({**mine, "leaseTransitions": transitions}, rv),
                                 name=self.name, namespace=self.namespace)
        except ApiException as exc:
            if exc.status == 409:  # someone wrote first
                return str(holder or "another controller")
            raise
        self._renewed = self.mono()
        return None

    def acquire(self, stop: threading.Event | None = None, on_wait: Callable[[str], None] = lambda h: None) -> None:
        """Block until we hold the Lease, trying every ``retry`` seconds (a failed call is tried
        again too); ``on_wait(holder)`` is told who holds it. ``stop`` set: :class:`LeaseLost`."""
        stop = stop or threading.Event()
        while True:
            try:
                holder = self.try_acquire()
            except (ApiException, HTTPError, OSError) as exc:
                if isinstance(exc, ApiException) and exc.status in (401, 403):
                    raise LeaseError(f"cannot take Lease {self.namespace}/{self.name}: {exc.status} {exc.reason}",
                                     hint="the controller needs get, create and update on leases "
                                          "(coordination.k8s.io) in the release namespace") from None
                holder = f"unknown ({type(exc).__name__})"
            if holder is None:
                return
            on_wait(holder)
            if stop.wait(self.retry):
                raise LeaseLost(f"stopped while waiting for Lease {self.namespace}/{self.name}")

    def renew_once(self) -> None:
        """Renew; :class:`LeaseLost` when someone else holds it, or when no renewal succeeded for
        ``duration - margin`` seconds (a failed call alone is not a loss). Nothing once given up."""
        try:
            with self._turn:
                if self._given_up:
                    return
                holder = self.try_acquire()
        except (ApiException, HTTPError, OSError) as exc:
            log.warning("Lease %s/%s not renewed: %s", self.namespace, self.name, exc)
            if self.mono() - self._renewed >= self.duration - self.margin:
                raise LeaseLost(f"Lease {self.namespace}/{self.name} not renewed for {self.duration - self.margin:g} s: "
                                f"{exc}") from None
            return
        if holder is not None:
            raise LeaseLost(f"Lease {self.namespace}/{self.name} is held by {holder} now")

    def give_up(self) -> None:
        """Give the Lease up (holder emptied, so the next controller takes it at once), once a
        renewal on its way is done; no renewal after it takes it again."""
        with self._turn:
            self._given_up = True
            self._give_up()

    def _give_up(self) -> None:
        res = self._res()
        try:
            current = self.dynamic.get(res, name=self.name, namespace=self.namespace).to_dict()
            if (current.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            spec = {**current["spec"], "holderIdentity": None, "leaseDurationSeconds": 1}
            self.dynamic.replace(res, body=self._body(spec, current["metadata"]["resourceVersion"]),
                                 name=self.name, namespace=self.namespace)
        except (ApiException, HTTPError, OSError) as exc:  # it expires anyway
            log.warning("Lease %s/%s not released: %s", self.namespace, self.name, exc)
