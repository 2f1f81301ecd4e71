"""The objects of the simulated cluster, with kube-apiserver's semantics.

One global resourceVersion; objects are plain dicts, **copy-on-write** (a stored or handed-out dict
is never mutated: every write stores a new one, so reads need no copies and watch history shares
them). Indexed per resource and namespace; watchers kept per resource, so an event costs
O(watchers of that resource).

What a real API server does and this store does too: ``generateName``, uid, timestamps,
``generation`` (on the kinds that keep one; spec changes only), resourceVersion preconditions, the
``status`` subresource, finalizers and ``deletionTimestamp``, owner-reference garbage collection (background, foreground,
orphan; chains), namespaces (Active, Terminating, their content deleted, then the namespace),
CustomResourceDefinitions taking their custom resources with them, label and field selectors,
``limit``/``continue`` paging over a consistent snapshot, watches with resume from a history
window (410 Expired when too old), initial events and bookmarks, selector transitions.

The garbage collector, the namespace controller and the CRD finalizer run inside the store,
synchronously: when a write call returns, the cascade it started has been carried out (as far as
finalizers allow). Subscribers may write from their callbacks: changes are queued and delivered
in order after the current write, iteratively (no recursion for long chains).
"""
from __future__ import annotations

import base64
import bisect
import builtins
import heapq
import json
import random
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterator


from ..clock import Loop
from . import crds, defaulting, fields
from . import patch as kpatch
from .patch import deep_copy
from .errors import StatusError, bad_request, conflict, invalid, not_found
from .resources import Registry, Resource
from .schemas import Schema, schema_for, schema_from_crd
from .times import rfc3339
from .selectors import (FieldSelector, LabelSelector, check_fields, label_selector_string, object_fields,
                        parse_field_selector, parse_label_selector)

Obj = dict[str, Any]
_Key = tuple[str, str]  # (group, plural): one storage for all versions of a resource
PatchBody = bytes | dict[str, Any] | list[Any]  # raw bytes, or a parsed patch

NAMESPACE_FINALIZER = "kubernetes"
ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
CRD_CLEANUP = "customresourcecleanup.apiextensions.k8s.io"
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")  # the namespace lifecycle admission's
_NS_KEY: _Key = ("", "namespaces")
_CRD_KEY: _Key = ("apiextensions.k8s.io", "customresourcedefinitions")
#: The built-in resources whose registry strategy sets ``metadata.generation`` (``PrepareForCreate``
#: sets it to 1, ``PrepareForUpdate`` moves it with the spec), as in kubernetes/kubernetes'
#: ``pkg/registry``; custom resources have it too. Other kinds (ConfigMap, Secret, Service, Namespace,
#: PVC, ...) have no generation.
GENERATION_TRACKED: frozenset[_Key] = frozenset({
    ("", "pods"), ("", "replicationcontrollers"),
    ("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"), ("apps", "daemonsets"),
    ("batch", "jobs"), ("batch", "cronjobs"),
    ("policy", "poddisruptionbudgets"),
    ("networking.k8s.io", "ingresses"), ("networking.k8s.io", "ingressclasses"),
    ("networking.k8s.io", "networkpolicies"),
    ("discovery.k8s.io", "endpointslices"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"),
    ("admissionregistration.k8s.io", "mutatingadmissionpolicies"),
    ("admissionregistration.k8s.io", "mutatingadmissionpolicybindings"),
    ("flowcontrol.apiserver.k8s.io", "flowschemas"), ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations"),
    ("scheduling.k8s.io", "priorityclasses"),
    ("resource.k8s.io", "deviceclasses"), ("resource.k8s.io", "resourceslices"),
    ("resource.k8s.io", "devicetaintrules"),
})


def tracks_generation(res: Resource) -> bool:
    """Whether Kubernetes keeps ``metadata.generation`` on objects of ``res``."""
    return bool(res.crd) or (res.group, res.plural) in GENERATION_TRACKED

_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's utilrand alphabet (no vowels)
_MSG_MODIFIED = "the object has been modified; please apply your changes to the latest version and try again"
_MSG_CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new "
    "list without the continue parameter, or use the continue token in this response to retrieve the "
    "remainder of the results. Continuing with the provided token results in an inconsistent list - objects "
    "that were created, modified, or deleted between the time the first chunk was returned and now may show "
    "up in the list.")


@dataclass
class Operation:
    """What admission sees of a write (``obj`` may be mutated; raise StatusError to refuse)."""

    verb: str  # "create" | "update" | "delete"
    resource: Resource
    namespace: str | None
    name: str
    obj: Obj | None
    old: Obj | None
    subresource: str | None = None
    dry_run: bool = False
    user: str = ""


@dataclass
class Change:
    """One committed write, as subscribers get it."""

    type: str  # "ADDED" | "MODIFIED" | "DELETED"
    resource: Resource
    obj: Obj
    old: Obj | None


@dataclass(slots=True)
class _Event:
    rv: int
    key: _Key
    type: str
    obj: Obj
    old: Obj | None
    res: Resource


def _key(res: Resource) -> _Key:
    return (res.group, res.plural)


def _owner_uids(obj: Obj | None) -> list[str]:
    if not obj:
        return []
    refs = obj.get("metadata", {}).get("ownerReferences") or ()
    return [r["uid"] for r in refs if isinstance(r, dict) and r.get("uid")]


def _deleting(obj: Obj) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def _finalizers(obj: Obj) -> list[str]:
    return list(obj["metadata"].get("finalizers") or ())


def _unique(keys: Iterator[str]) -> Iterator[str]:
    """``keys`` (sorted) without repeats."""
    last = None
    for k in keys:
        if k != last:
            yield k
            last = k


def _etcd_key(obj: Obj) -> str:
    """The object's place in etcd's order (``<namespace>/<name>``, or the name): lists and continue
    tokens follow it, so "a-x/b" comes before "a/z" as on a real cluster."""
    m = obj["metadata"]
    ns = m.get("namespace")
    return f"{ns}/{m['name']}" if ns else m["name"]


class Watch:
    """An open watch; events go to ``sink`` synchronously. :meth:`stop` ends it."""

    def __init__(self, store: "Store", res: Resource | None, namespace: str | None, sink: Callable[[Obj], None],
                 labels: LabelSelector, fields: FieldSelector, allow_bookmarks: bool) -> None:
        self.store, self.res, self.namespace, self.sink = store, res, namespace, sink
        self.labels, self.fields, self.allow_bookmarks = labels, fields, allow_bookmarks
        self.stopped = False
        self.error: BaseException | None = None  # what the sink raised, if it did (the watch then stops)
        self._filtered = not (labels.empty and fields.empty)

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.store._unwatch(self)

    def bookmark(self, annotations: dict[str, str] | None = None) -> None:
        """A BOOKMARK event with the current resourceVersion."""
        res = self.res
        obj: Obj = {"kind": res.kind if res else "Status", "apiVersion": res.group_version if res else "v1",
                    "metadata": {"resourceVersion": self.store.resource_version}}
        if annotations:
            obj["metadata"]["annotations"] = annotations
        self._send({"type": "BOOKMARK", "object": obj})

    def _send(self, event: Obj) -> None:
        if self.stopped:
            return
        try:
            self.sink(event)
        except Exception as e:  # a broken sink must not break the write that fed it
            self.error = e
            self.stop()

    def _matches(self, ev_res: Resource, obj: Obj) -> bool:
        if self.namespace and obj["metadata"].get("namespace") != self.namespace:
            return False
        if not self._filtered:
            return True
        if not self.labels.matches(obj["metadata"].get("labels")):
            return False
        return self.fields.empty or self.fields.matches(
            object_fields(obj, ev_res.group, ev_res.plural, ev_res.namespaced))

    def _deliver(self, ev: _Event, shared: Obj | None) -> None:
        """``shared``: the plain event dict (reused by every watcher without a selector)."""
        if self.stopped:
            return
        obj = self.store._as_version(ev.obj, self.res or ev.res) if self.res or ev.res.crd else ev.obj
        if ev.type == "MODIFIED" and self._filtered and ev.old is not None:
            was, now = self._matches(ev.res, ev.old), self._matches(ev.res, ev.obj)
            if not was and not now:
                return
            if was and now:
                self._send({"type": "MODIFIED", "object": obj})
            elif now:
                self._send({"type": "ADDED", "object": obj})
            else:  # as the watch cache: the previous content, at the event's resourceVersion
                gone = {**ev.old, "metadata": {**ev.old["metadata"], "resourceVersion": str(ev.rv)}}
                self._send({"type": "DELETED", "object": self.store._as_version(gone, self.res)})
            return
        if not self._matches(ev.res, ev.obj):
            return
        self._send(shared if shared is not None and obj is ev.obj else {"type": ev.type, "object": obj})


class Store:
    """The in-memory cluster (see the module docstring and apiserver-contract.md)."""

    def __init__(self, registry: Registry, clock: Loop, *, history: int = 100_000, seed: int | None = 0) -> None:
        self.registry = registry
        self.clock = clock
        self._rng = random.Random(seed)
        self._rv = 0
        self._objs: dict[_Key, dict[str, dict[str, Obj]]] = {}  # key -> namespace ("" if none) -> name -> obj
        #: key -> the etcd keys of its objects, sorted (etcd's order: a page is read from its start key on)
        self._order: dict[_Key, builtins.list[str]] = {}
        #: objects lists have looked at (each page: those from its start key to its last one, and those
        #: changed since its snapshot): what a page costs, O(page) as on etcd, not O(objects)
        self.list_visited = 0
        self._uids: dict[str, tuple[Resource, str, str]] = {}  # uid -> (resource, namespace, name)
        self._dependents: dict[str, dict[str, None]] = {}  # owner uid -> dependent uids (ordered set)
        self._history: deque[_Event] = deque(maxlen=max(history, 1))
        self._floor = 0  # events with rv <= floor are no longer in the history
        self._watchers: dict[_Key, list[Watch]] = {}
        self._all_watchers: list[Watch] = []
        self._subscribers: list[Callable[[Change], None]] = []
        self._admission: list[Callable[[Operation], None]] = []
        self._queue: deque[Change] = deque()
        self._draining = False
        self._crd_schemas: dict[tuple[str, str], tuple[Obj, Schema | None]] = {}  # (crd, version) -> (that CRD, schema)
        #: (crd, version) -> its structural defaults (None: it has none), dropped when the CRD changes
        self._defaulters: dict[tuple[str, str], defaulting.Defaulter | None] = {}
        ns = registry.lookup("", "v1", "namespaces")
        if ns is not None:
            for name in SYSTEM_NAMESPACES:
                self.create(ns, None, {"metadata": {"name": name}})

    # ------------------------------------------------------------------ hooks
    def add_admission(self, fn: Callable[[Operation], None]) -> None:
        self._admission.append(fn)

    def subscribe(self, fn: Callable[[Change], None]) -> Callable[[], None]:
        self._subscribers.append(fn)

        def unsubscribe() -> None:
            if fn in self._subscribers:
                self._subscribers.remove(fn)
        return unsubscribe

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    # ------------------------------------------------------------------ reads
    def _bucket(self, res: Resource, namespace: str | None) -> dict[str, Obj]:
        return self._objs.get(_key(res), {}).get((namespace or "") if res.namespaced else "", {})

    def find(self, res: Resource, namespace: str | None, name: str) -> Obj | None:
        """The object or None (no copy: do not mutate it)."""
        obj = self._bucket(res, namespace).get(name)
        return None if obj is None else self._as_version(obj, res)

    def get(self, res: Resource, namespace: str | None, name: str) -> Obj:
        obj = self.find(res, namespace, name)
        if obj is None:
            raise not_found(res.plural, name, res.group)
        return obj

    def objects(self, res: Resource, namespace: str | None = None) -> Iterator[Obj]:
        """Every object of ``res`` (in ``namespace`` if given), unsorted, without copies."""
        spaces = self._objs.get(_key(res), {})
        if namespace and res.namespaced:
            buckets = [spaces.get(namespace, {})]
        else:
            buckets = list(spaces.values())
        for b in buckets:
            for obj in list(b.values()):
                yield self._as_version(obj, res)

    def count(self, res: Resource) -> int:
        return sum(len(b) for b in self._objs.get(_key(res), {}).values())

    def _as_version(self, obj: Obj, res: Resource | None) -> Obj:
        """``obj`` as the version ``res`` serves (same storage for all versions; only apiVersion differs),
        with the structural defaults of that version's schema (see :meth:`_defaulted`)."""
        if res is None:
            return obj
        if res.crd:
            obj = self._defaulted(obj, res)
        if obj.get("apiVersion") == res.group_version:
            return obj
        return {**obj, "apiVersion": res.group_version}

    def _defaulter(self, res: Resource) -> defaulting.Defaulter | None:
        """The defaults of ``res`` 's CRD schema for its version (None: none, or not a custom resource);
        computed once per CRD version (the cache is dropped when the CRD changes)."""
        if not res.crd:
            return None
        key = (res.crd, res.version)
        try:
            return self._defaulters[key]
        except KeyError:
            pass
        crd = self._objs.get(_CRD_KEY, {}).get("", {}).get(res.crd)
        found = defaulting.defaulter_of(crds.version_schema(crd, res.version)) if crd is not None else None
        self._defaulters[key] = found
        return found

    def _defaulted(self, obj: Obj, res: Resource) -> Obj:
        """``obj`` as kube-apiserver decodes it from storage: with its CRD schema's defaults (never
        written back by a read). ``obj`` itself (no cost beyond one lookup) when its CRD has none."""
        d = self._defaulter(res)
        if d is None:
            return obj
        out: Obj = defaulting.default(d, obj)
        return out

    def _default_body(self, res: Resource, obj: Obj) -> Obj:
        """A create, update or patch body of a custom resource as the server decodes it, before
        validation: nulls its schema neither allows nor defaults dropped, then its defaults."""
        if not res.crd:
            return obj
        crd = self._objs.get(_CRD_KEY, {}).get("", {}).get(res.crd)
        schema = crds.version_schema(crd, res.version) if crd is not None else None
        if schema is None:
            return obj
        out: Obj = defaulting.default(self._defaulter(res), defaulting.prune_nulls(obj, schema))
        return out

    def _selectors(self, res: Resource, label_selector: str, field_selector: str
                   ) -> tuple[LabelSelector, FieldSelector]:
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector)
        check_fields(fields, res.group, res.plural, res.namespaced)
        return labels, fields

    def list(self, res: Resource, namespace: str | None, *, label_selector: str = "", field_selector: str = "",
             limit: int = 0, continue_: str = "") -> Obj:
        """A list, or one page of it (``limit``), in etcd's key order. Every page of a paged list is
        at the first page's resourceVersion (the ``continue`` token carries it, and the key to go on
        after); a page costs O(its objects + the changes since that version), as etcd's range read
        at a revision: it starts from its key in the sorted index and undoes, for the objects
        changed since, what changed (from the history; 410 when the history no longer reaches
        back). Objects filtered out by selectors are looked at too, as kube-apiserver does."""
        labels, fields = self._selectors(res, label_selector, field_selector)
        rv, start = self._rv, ""
        if continue_:
            rv, start = self._decode_continue(continue_)
            if rv < self._floor:
                raise StatusError(410, "Expired", _MSG_CONTINUE_EXPIRED)
        ns = namespace if namespace and res.namespaced else ""
        then = self._changed_since(res, ns, rv)
        order = self._order.get(_key(res), [])
        low = bisect.bisect_left(order, f"{ns}/") if ns else 0
        end = bisect.bisect_left(order, f"{ns}0") if ns else len(order)  # '0' follows '/'
        first = max(low, bisect.bisect_right(order, start)) if start else low
        items: builtins.list[Obj] = []
        more, last = False, ""
        for k in _unique(heapq.merge((order[i] for i in range(first, end)),
                                     sorted(k for k in then if k > start))):
            obj = then[k] if k in then else self._stored(res, k)
            if obj is None:  # created since the list's version
                continue
            self.list_visited += 1
            obj = self._as_version(obj, res)
            if not labels.empty and not labels.matches(obj["metadata"].get("labels")):
                continue
            if not fields.empty and not fields.matches(object_fields(obj, res.group, res.plural, res.namespaced)):
                continue
            if limit > 0 and len(items) == limit:
                more = True
                break
            items.append(obj)
            last = k
        meta: Obj = {"resourceVersion": str(rv)}
        if more:
            meta["continue"] = self._encode_continue(rv, last)
            if labels.empty and fields.empty:
                after = bisect.bisect_right(order, last)
                meta["remainingItemCount"] = (end - after + sum(
                    (then[k] is not None) - (self._stored(res, k) is not None) for k in then if k > last))
        return {"kind": res.list_kind, "apiVersion": res.group_version, "metadata": meta, "items": items}

    def _stored(self, res: Resource, etcd_key: str) -> Obj | None:
        """The object stored under ``etcd_key`` (as :func:`_etcd_key` spells it) now, or None."""
        ns, _, name = etcd_key.partition("/") if res.namespaced else ("", "", etcd_key)
        return self._objs.get(_key(res), {}).get(ns, {}).get(name)

    def _changed_since(self, res: Resource, namespace: str, rv: int) -> dict[str, Obj | None]:
        """The objects of ``res`` (in ``namespace`` if not empty) changed after ``rv``: etcd key ->
        the object as it was at ``rv`` (None: it did not exist then). O(events since ``rv``)."""
        key = _key(res)
        then: dict[str, Obj | None] = {}
        for ev in reversed(self._history):  # the earliest event after rv is the last written: it wins
            if ev.rv <= rv:
                break
            if ev.key != key:
                continue
            meta = ev.obj["metadata"]
            ns = (meta.get("namespace") or "") if res.namespaced else ""
            if namespace and ns != namespace:
                continue
            then[f"{ns}/{meta['name']}" if ns else meta["name"]] = None if ev.type == "ADDED" else (ev.old or ev.obj)
        return then

    @staticmethod
    def _encode_continue(rv: int, start: str) -> str:
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start + "\x00"}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def _decode_continue(token: str) -> tuple[int, str]:
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            if data.get("v") != "meta.k8s.io/v1":
                raise ValueError("continue key is not valid: incorrect encoded start resourceVersion "
                                 "(version meta.k8s.io/v1)")
            rv, start = int(data["rv"]), str(data["start"]).rstrip("\x00")
        except ValueError as e:
            raise bad_request(str(e) if str(e).startswith("continue key") else
                              f"continue key is not valid: {e}") from None
        except (TypeError, KeyError, AttributeError):
            raise bad_request("continue key is not valid: the continue token is malformed") from None
        if rv <= 0:
            raise bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                              "(version meta.k8s.io/v1)")
        return rv, start

    # ------------------------------------------------------------------ helpers for writes
    def _now(self, later: float = 0.0) -> str:
        return rfc3339(self.clock.now() + later)

    def _uid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _resource_of(self, key: _Key) -> Resource | None:
        for r in self.registry.by_plural.values():
            if (r.group, r.plural) == key:
                return r
        return None

    def _admit(self, op: Operation) -> None:
        for fn in self._admission:
            fn(op)

    def _check_namespace(self, res: Resource, namespace: str, name: str, creating: bool) -> None:
        ns = self._objs.get(_NS_KEY, {}).get("", {}).get(namespace)
        if ns is None:
            raise not_found("namespaces", namespace)
        if creating and (ns.get("status") or {}).get("phase") == "Terminating":
            qualified = f"{res.plural}.{res.group}" if res.group else res.plural
            what = f'{qualified} "{name}"' if name else qualified
            raise StatusError(403, "Forbidden", f"{what} is forbidden: unable to create new content in namespace "
                              f"{namespace} because it is being terminated",
                              details={"name": name, "group": res.group, "kind": res.plural,
                                       "causes": [{"reason": "NamespaceTerminating", "message": "namespace "
                                                   f"{namespace} is being terminated", "field":
                                                   "metadata.namespace"}]})

    def _validate_name(self, res: Resource, obj: Obj) -> None:
        name = obj["metadata"].get("name") or ""
        causes = []
        if not name:
            causes.append({"reason": "FieldValueRequired", "message": "Required value: name or generateName is "
                           "required", "field": "metadata.name"})
        else:
            errs = fields.NAME_RULES.get((res.group, res.kind), fields.is_dns1123_subdomain)(name)
            if errs:
                causes.append({"reason": "FieldValueInvalid", "message": f"Invalid value: {json.dumps(name)}: "
                               + "; ".join(errs), "field": "metadata.name"})
        if causes:
            raise invalid(res.kind, name, causes, res.group)

    def _generate_name(self, base: str) -> str:
        base = base[:58] if len(base) > 58 else base
        return base + "".join(self._rng.choice(_GENERATE_ALPHABET) for _ in range(5))

    def _schema(self, res: Resource) -> Schema | None:
        """The schema of ``res`` (None for custom resources whose CRD has none)."""
        if res.crd:
            crd = self._objs.get(_CRD_KEY, {}).get("", {}).get(res.crd)
            if crd is None:
                return None
            cache_key = (res.crd, res.version)
            cached = self._crd_schemas.get(cache_key)
            if cached is not None and cached[0] is crd:
                return cached[1]
            raw = crds.version_schema(crd, res.version)
            schema = schema_from_crd(raw) if raw is not None else None
            self._crd_schemas[cache_key] = (crd, schema)
            return schema
        return schema_for(res.group_version, res.kind)

    def _managed(self, res: Resource, old: Obj | None, new: Obj, manager: str | None,
                 subresource: str | None) -> None:
        """``managedFields`` of ``new`` after a non-apply write (patch.record_update)."""
        before, after = old, new
        if subresource == "status" and old is not None:
            # only status (and metadata) can differ: the comparison need not walk the unchanged rest
            keep = ("apiVersion", "kind", "metadata", "status")
            before = {k: old[k] for k in keep if k in old}
            after = {k: new[k] for k in keep if k in new}
        fields = kpatch.record_update(before, after, manager=manager or "unknown", schema=self._schema(res),
                                      now=self._now(), subresource=subresource)
        if fields:
            new["metadata"]["managedFields"] = fields
        else:
            new["metadata"].pop("managedFields", None)

    def _status_subresource(self, res: Resource) -> bool:
        return "status" in res.subresources

    def _spec_changed(self, res: Resource, old: Obj, new: Obj) -> bool:
        """Whether ``generation`` moves: anything but metadata (and status where it is a subresource)."""
        skip = {"metadata", "kind", "apiVersion"}
        if self._status_subresource(res):
            skip.add("status")
        keys = (set(old) | set(new)) - skip
        if any(old.get(k) != new.get(k) for k in keys):
            return True
        if (res.group, res.plural) == ("apps", "deployments"):  # annotations are copied to ReplicaSets
            return old["metadata"].get("annotations") != new["metadata"].get("annotations")
        return False

    # ------------------------------------------------------------------ commit and delivery
    def _commit(self, res: Resource, type_: str, new: Obj, old: Obj | None) -> Obj:
        """Store (or remove) ``new`` under a new resourceVersion, index it, feed watchers, queue the change.
        ``new`` must be a dict nobody else holds (its metadata is written here)."""
        self._rv += 1
        meta = new["metadata"]
        meta["resourceVersion"] = str(self._rv)
        key = _key(res)
        ns = (meta.get("namespace") or "") if res.namespaced else ""
        name, uid = meta["name"], meta["uid"]
        spaces = self._objs.setdefault(key, {})
        if key == _CRD_KEY and self._defaulters:
            self._defaulters = {k: v for k, v in self._defaulters.items() if k[0] != name}
        etcd_key = f"{ns}/{name}" if ns else name
        if type_ == "DELETED":
            bucket = spaces.get(ns)
            if bucket is not None and bucket.pop(name, None) is not None:
                order = self._order[key]
                del order[bisect.bisect_left(order, etcd_key)]
                if not bucket:
                    del spaces[ns]
            self._uids.pop(uid, None)
        else:
            bucket = spaces.setdefault(ns, {})
            if name not in bucket:
                bisect.insort(self._order.setdefault(key, []), etcd_key)
            bucket[name] = new
            self._uids[uid] = (res, ns, name)
        before, after = _owner_uids(old), ([] if type_ == "DELETED" else _owner_uids(new))
        if before != after:
            for o in before:
                if o not in after and o in self._dependents:
                    self._dependents[o].pop(uid, None)
                    if not self._dependents[o]:
                        del self._dependents[o]
            for o in after:
                self._dependents.setdefault(o, {})[uid] = None
        ev = _Event(self._rv, key, type_, new, old, res)
        if len(self._history) == self._history.maxlen:
            self._floor = self._history[0].rv
        self._history.append(ev)
        watchers = self._watchers.get(key)
        if watchers or self._all_watchers:
            shared: Obj = {"type": type_, "object": new}
            for w in list(watchers or ()):
                w._deliver(ev, shared)
            for w in list(self._all_watchers):
                w._deliver(ev, shared)
        self._queue.append(Change(type_, res, new, old))
        return new

    def _drain(self) -> None:
        """Deliver queued changes (the store's own controllers first, then subscribers), in order; writes
        made meanwhile queue more. Only the outermost write drains, so chains do not recurse."""
        if self._draining:
            return
        self._draining = True
        first_error: BaseException | None = None
        try:
            while self._queue:
                change = self._queue.popleft()
                for fn in (self._react, *self._subscribers):
                    try:
                        fn(change)
                    except Exception as e:  # the write is committed: tell the caller after the rest ran
                        if first_error is None:
                            first_error = e
        finally:
            self._draining = False
        if first_error is not None:
            raise first_error

    # ------------------------------------------------------------------ create
    def create(self, res: Resource, namespace: str | None, obj: Obj, *, dry_run: bool = False,
               field_manager: str | None = None, user: str = "") -> Obj:
        new = deep_copy(obj)
        if not isinstance(new, dict):
            raise bad_request(f"the body of a {res.kind} must be an object")
        out = self._create(res, namespace, new, dry_run=dry_run, field_manager=field_manager, user=user,
                           managed=False)
        self._drain()
        return self._as_version(out, res)

    def _create(self, res: Resource, namespace: str | None, new: Obj, *, dry_run: bool, field_manager: str | None,
                user: str, managed: bool) -> Obj:
        """``new`` is the store's own copy; ``managed``: managedFields already computed (apply)."""
        meta = new.get("metadata")
        if meta is None:
            meta = new["metadata"] = {}
        elif not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        self._check_kind(res, new)
        rest = {k: v for k, v in new.items() if k not in ("apiVersion", "kind")}
        new.clear()
        new.update(apiVersion=res.group_version, kind=res.kind, **rest)
        if res.namespaced:
            body_ns = meta.get("namespace")
            if namespace and body_ns and body_ns != namespace:
                raise bad_request("the namespace of the provided object does not match the namespace sent on "
                                  "the request")
            namespace = namespace or body_ns
            if not namespace:
                raise bad_request("a namespace is required to create a namespaced resource "
                                  f"({res.plural}); none was given")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
            namespace = None
        if meta.get("resourceVersion"):
            # the storage layer's plain error, which the API answers as a 500
            raise StatusError(500, "InternalError", "resourceVersion should not be set on objects to be created")
        generated = not meta.get("name") and bool(meta.get("generateName"))
        if generated:
            meta["name"] = self._generate_name(str(meta["generateName"]))
        self._validate_name(res, new)
        if namespace:
            self._check_namespace(res, namespace, meta["name"], creating=True)
        meta["uid"] = self._uid()
        meta["creationTimestamp"] = self._now()
        if tracks_generation(res):
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(k, None)
        if res.crd:  # decoding defaults the body (then the status subresource drops status)
            new = self._default_body(res, new)
            meta = new["metadata"]
        if self._status_subresource(res):
            new.pop("status", None)
        if _key(res) == _NS_KEY:
            spec = new.setdefault("spec", {})
            if not isinstance(spec, dict):
                raise invalid(res.kind, meta["name"], [{"reason": "FieldValueInvalid", "field": "spec",
                                                         "message": "Invalid value: must be an object"}])
            spec["finalizers"] = [NAMESPACE_FINALIZER]
            new["status"] = {"phase": "Active"}
            labels = meta.get("labels")
            meta["labels"] = {**(labels if isinstance(labels, dict) else {}),
                              "kubernetes.io/metadata.name": meta["name"]}
        elif _key(res) == ("", "pods"):
            new["status"] = {"phase": "Pending"}
        op = Operation("create", res, namespace, meta["name"], new, None, None, dry_run, user)
        self._admit(op)
        new = op.obj or new
        meta = new["metadata"]
        bucket = self._bucket(res, namespace)
        tries = 0
        while meta["name"] in bucket:
            if not generated or tries >= 8:  # the real store retries a generated name a few times too
                raise StatusError(409, "AlreadyExists",
                                  f'{self._qualified(res)} "{meta["name"]}" already exists',
                                  details={"name": meta["name"], "group": res.group, "kind": res.plural})
            meta["name"] = self._generate_name(str(meta["generateName"]))
            tries += 1
        if not managed:
            self._managed(res, None, new, field_manager, None)
        if dry_run:
            return new
        return self._commit(res, "ADDED", new, None)

    @staticmethod
    def _qualified(res: Resource) -> str:
        return f"{res.plural}.{res.group}" if res.group else res.plural

    def _check_kind(self, res: Resource, obj: Obj) -> None:
        av, kind = obj.get("apiVersion"), obj.get("kind")
        if av and av != res.group_version and av.rpartition("/")[0] != res.group:
            raise bad_request(f"the API version in the data ({av}) does not match the expected API version "
                              f"({res.group_version})")
        if kind and kind != res.kind:
            raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({res.kind})")

    # ------------------------------------------------------------------ update
    def update(self, res: Resource, namespace: str | None, name: str, obj: Obj, *, subresource: str | None = None,
               dry_run: bool = False, field_manager: str | None = None, user: str = "") -> Obj:
        new = deep_copy(obj)
        if not isinstance(new, dict) or not isinstance(new.get("metadata", {}), dict):
            raise bad_request(f"the body of a {res.kind} must be an object with object metadata")
        if subresource == "scale" and "scale" in res.subresources:
            new = self._from_scale(res, namespace, name, new)
        out = self._update(res, namespace, name, new, subresource=subresource, dry_run=dry_run,
                           field_manager=field_manager, user=user, managed=False)
        self._drain()
        return self._scale_view(res, out) if subresource == "scale" else self._as_version(out, res)

    # ------------------------------------------------------------------ the scale subresource
    def get_scale(self, res: Resource, namespace: str | None, name: str) -> Obj:
        """``GET .../<name>/scale``: the object as an ``autoscaling/v1`` Scale."""
        if "scale" not in res.subresources:
            raise StatusError(404, "NotFound", "the server could not find the requested resource")
        return self._scale_view(res, self.get(res, namespace, name))

    @staticmethod
    def _scale_view(res: Resource, obj: Obj) -> Obj:
        m = obj["metadata"]
        meta = {k: m[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in m}
        status: Obj = {"replicas": int((obj.get("status") or {}).get("replicas") or 0)}
        selector = (obj.get("spec") or {}).get("selector")
        if isinstance(selector, dict) and ("matchLabels" in selector or "matchExpressions" in selector):
            status["selector"] = label_selector_string(selector)
        elif isinstance(selector, dict) and selector:  # a ReplicationController's plain map
            status["selector"] = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": meta,
                "spec": {"replicas": int((obj.get("spec") or {}).get("replicas", 1))}, "status": status}

    def _from_scale(self, res: Resource, namespace: str | None, name: str, scale: Obj) -> Obj:
        """The object with the replicas a Scale asks for (its resourceVersion a precondition)."""
        old = self._bucket(res, namespace if res.namespaced else None).get(name)
        if old is None:
            raise not_found(res.plural, name, res.group)
        meta = scale.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise invalid("Scale", name, [{"reason": "FieldValueInvalid", "field": "spec.replicas",
                                           "message": f"Invalid value: {json.dumps(replicas)}: must be greater "
                                                      "than or equal to 0"}], "autoscaling")
        new = deep_copy(old)
        new.setdefault("spec", {})["replicas"] = replicas
        new["metadata"].pop("managedFields", None)
        new["metadata"]["resourceVersion"] = meta.get("resourceVersion") or ""
        return new

    def _update(self, res: Resource, namespace: str | None, name: str, new: Obj, *, subresource: str | None,
                dry_run: bool, field_manager: str | None, user: str, managed: bool,
                expect_rv: str | None = None) -> Obj:
        ns = namespace if res.namespaced else None
        if subresource and subresource not in res.subresources:
            raise StatusError(404, "NotFound", "the server could not find the requested resource")
        old = self._bucket(res, ns).get(name)
        if old is None:
            raise not_found(res.plural, name, res.group)
        meta = new.setdefault("metadata", {})
        if res.crd:  # the old object as read from storage, the body as decoded: both defaulted
            old = self._defaulted(old, res)
            new = self._default_body(res, new)
            meta = new["metadata"]
        self._check_kind(res, new)
        if meta.get("name") != name:
            raise bad_request(f"the name of the object ({meta.get('name') or ''}) does not match the name on "
                              f"the URL ({name})")
        if res.namespaced and meta.get("namespace") and meta["namespace"] != ns:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                              "request")
        om = old["metadata"]
        rv = meta.get("resourceVersion")
        if (rv and rv != om["resourceVersion"]) or (expect_rv and expect_rv != om["resourceVersion"]):
            raise conflict(res.plural, name, _MSG_MODIFIED, res.group)
        if meta.get("uid") and meta["uid"] != om["uid"]:
            raise invalid(res.kind, name, [{"reason": "FieldValueInvalid", "field": "metadata.uid",
                                            "message": f"Invalid value: {json.dumps(meta['uid'])}: field is "
                                                       "immutable"}], res.group)
        if subresource == "status":
            status = new.get("status")
            managed_fields = meta.get("managedFields")
            annotations = meta.get("annotations")
            new = deep_copy(old)  # admission may mutate what it is given: never the stored object
            if status is not None:
                new["status"] = status
            else:
                new.pop("status", None)
            if not res.crd:  # built-ins' status strategies reset spec (and labels), not annotations
                if annotations:
                    new["metadata"]["annotations"] = annotations
                else:
                    new["metadata"].pop("annotations", None)
            if managed and managed_fields is not None:
                new["metadata"]["managedFields"] = managed_fields
            meta = new["metadata"]
        elif subresource == "finalize" and _key(res) == _NS_KEY:
            fins = (new.get("spec") or {}).get("finalizers")
            new = deep_copy(old)
            new.setdefault("spec", {})["finalizers"] = fins or []
            if not fins:
                new["spec"].pop("finalizers")
            meta = new["metadata"]
        elif subresource and subresource != "scale":  # ephemeralcontainers, resize, ...: not modelled
            raise StatusError(405, "MethodNotAllowed", f"the server does not allow this method on the requested "
                              f"resource ({res.plural}/{subresource} is not writable in this emulator)")
        else:
            if self._status_subresource(res):
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
            if _key(res) == _NS_KEY:  # spec.finalizers change only through namespaces/<name>/finalize
                spec = new["spec"] = dict(new.get("spec") or {})
                if "finalizers" in (old.get("spec") or {}):
                    spec["finalizers"] = old["spec"]["finalizers"]
                else:
                    spec.pop("finalizers", None)
        new["apiVersion"], new["kind"] = res.group_version, res.kind
        if res.namespaced:
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        meta["uid"] = om["uid"]
        meta["creationTimestamp"] = om["creationTimestamp"]
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            if k in om:
                meta[k] = om[k]
            else:
                meta.pop(k, None)
        if "generation" in om:
            meta["generation"] = om["generation"]
        else:
            meta.pop("generation", None)
        if om.get("deletionTimestamp"):
            added = [f for f in _finalizers(new) if f not in _finalizers(old)]
            if added:
                raise invalid(res.kind, name, [{"reason": "FieldValueForbidden", "field": "metadata.finalizers",
                                                "message": "Forbidden: no new finalizers can be added if the "
                                                           "object is being deleted, found new finalizers "
                                                           + json.dumps(added)}], res.group)
        if subresource not in ("status", "finalize") and tracks_generation(res) \
                and self._spec_changed(res, old, new):
            meta["generation"] = om.get("generation", 0) + 1
        op = Operation("update", res, ns, name, new, old, subresource, dry_run, user)
        self._admit(op)
        new = op.obj or new
        meta = new["metadata"]
        meta["resourceVersion"] = om["resourceVersion"]
        if self._unchanged(old, new):  # before managedFields: a no-op costs no field bookkeeping
            return old
        if not managed:
            self._managed(res, old, new, field_manager, subresource)
        if dry_run:
            return new
        if self._gone(res, new):
            return self._commit(res, "DELETED", new, old)
        return self._commit(res, "MODIFIED", new, old)

    @staticmethod
    def _unchanged(old: Obj, new: Obj) -> bool:
        """A no-op write (managedFields timestamps aside): the real server neither bumps rv nor emits."""
        if old == new:
            return True
        om, nm = old["metadata"], new["metadata"]
        if {k: v for k, v in old.items() if k != "metadata"} != {k: v for k, v in new.items() if k != "metadata"}:
            return False
        strip = ("managedFields", "resourceVersion")
        if {k: v for k, v in om.items() if k not in strip} != {k: v for k, v in nm.items() if k not in strip}:
            return False
        return [(m.get("manager"), m.get("operation"), m.get("fieldsV1")) for m in om.get("managedFields") or ()] \
            == [(m.get("manager"), m.get("operation"), m.get("fieldsV1")) for m in nm.get("managedFields") or ()]

    def _gone(self, res: Resource, obj: Obj) -> bool:
        """Marked for deletion and nothing holds it any more (a graceful deletion waits for its end)."""
        if not _deleting(obj) or _finalizers(obj) or obj["metadata"].get("deletionGracePeriodSeconds"):
            return False
        if _key(res) == _NS_KEY and (obj.get("spec") or {}).get("finalizers"):
            return False
        return True

    # ------------------------------------------------------------------ patch
    def patch(self, res: Resource, namespace: str | None, name: str, patch_type: str, body: PatchBody, *,
              subresource: str | None = None, force: bool | None = None, dry_run: bool = False,
              field_manager: str | None = None, user: str = "") -> tuple[Obj, bool]:
        """``force``: None when not given (given with a patch other than apply, even false, is a 422)."""
        obj, created = self._patch(res, namespace, name, patch_type, body, subresource=subresource, force=force,
                                   dry_run=dry_run, field_manager=field_manager, user=user)
        self._drain()
        return (obj if subresource == "scale" else self._as_version(obj, res)), created

    def _patch(self, res: Resource, namespace: str | None, name: str, patch_type: str, body: PatchBody, *,
               subresource: str | None, force: bool | None, dry_run: bool, field_manager: str | None,
               user: str) -> tuple[Obj, bool]:
        mod = kpatch
        kpatch.check_options(patch_type, force=force, field_manager=field_manager)
        doc = self._patch_body(patch_type, body)
        ns = namespace if res.namespaced else None
        live = self._bucket(res, ns).get(name)
        if live is not None and res.crd:  # patched as read from storage: with its defaults
            live = self._defaulted(live, res)
        if patch_type == "apply":
            if subresource == "scale":
                raise StatusError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                                  "resource (apply to a scale subresource is not modelled in this emulator)")
            if not isinstance(doc, dict):
                raise bad_request("apply patch must be an object")
            applied_meta: Obj = doc["metadata"] if isinstance(doc.get("metadata"), dict) else {}
            if applied_meta.get("name") and applied_meta["name"] != name:
                raise bad_request(f"the name of the object ({applied_meta['name']}) does not match the name on "
                                  f"the URL ({name})")
            assert field_manager  # check_options
            new = mod.server_side_apply(None if live is None else deep_copy(live), doc, manager=field_manager,
                                        force=bool(force), schema=self._schema(res), now=self._now(),
                                        subresource=subresource)
            new = deep_copy(new)
            new.setdefault("metadata", {})["name"] = name
            if live is None:
                if subresource:
                    raise not_found(res.plural, name, res.group)
                new["metadata"].pop("resourceVersion", None)
                return self._create(res, namespace, new, dry_run=dry_run, field_manager=field_manager, user=user,
                                    managed=True), True
            return self._update(res, ns, name, new, subresource=subresource, dry_run=dry_run,
                                field_manager=field_manager, user=user, managed=True,
                                expect_rv=live["metadata"]["resourceVersion"]), False
        if live is None:
            raise not_found(res.plural, name, res.group)
        scale = subresource == "scale" and "scale" in res.subresources
        base = self._scale_view(res, live) if scale else deep_copy(live)
        if patch_type == "json":
            if not isinstance(doc, list):
                raise bad_request("json patch must be a list of operations")
            new = mod.json_patch(base, doc)
        elif patch_type == "merge":
            if not isinstance(doc, dict):
                raise bad_request("merge patch must be an object")
            new = mod.merge_patch(base, doc)
        elif patch_type == "strategic":
            if not isinstance(doc, dict):
                raise bad_request("strategic merge patch must be an object")
            new = mod.strategic_merge_patch(base, doc, schema_for("autoscaling/v1", "Scale") if scale
                                            else self._schema(res))
        else:
            raise StatusError(415, "UnsupportedMediaType", f"the server does not support patch type {patch_type}")
        if new is live:
            new = deep_copy(new)
        if not isinstance(new, dict):
            raise bad_request("the patched object is not an object")
        if scale:
            out = self._update(res, ns, name, self._from_scale(res, ns, name, new), subresource=subresource,
                               dry_run=dry_run, field_manager=field_manager, user=user, managed=False)
            return self._scale_view(res, out), False
        meta = new.setdefault("metadata", {})
        user_rv = meta.get("resourceVersion")
        if user_rv != live["metadata"]["resourceVersion"] and user_rv:
            raise conflict(res.plural, name, _MSG_MODIFIED, res.group)
        meta.setdefault("name", name)
        return self._update(res, ns, name, new, subresource=subresource, dry_run=dry_run,
                            field_manager=field_manager, user=user, managed=False), False

    @staticmethod
    def _patch_body(patch_type: str, body: PatchBody) -> Any:
        if not isinstance(body, (bytes, bytearray, str)):
            return deep_copy(body)  # the result may share parts of the patch: they must be the store's own
        text = body.decode() if isinstance(body, (bytes, bytearray)) else body
        try:
            if patch_type == "apply":
                import yaml  # YAML is a superset of JSON: apply bodies come as either

                return yaml.safe_load(text)
            return json.loads(text)
        except ValueError as e:
            raise bad_request(f"error decoding patch: {e}") from None
        except Exception as e:  # yaml.YAMLError and friends
            raise bad_request(f"error decoding YAML: {e}") from None

    # ------------------------------------------------------------------ delete
    def delete(self, res: Resource, namespace: str | None, name: str, *, propagation: str | None = None,
               preconditions: dict | None = None, grace_period: int | None = None, dry_run: bool = False,
               user: str = "") -> Obj:
        out = self._delete(res, namespace, name, propagation=propagation, preconditions=preconditions,
                           grace_period=grace_period, dry_run=dry_run, user=user)
        self._drain()
        return self._as_version(out, res)

    @staticmethod
    def _grace(res: Resource, obj: Obj, asked: int | None) -> int:
        """The pod strategy's CheckGracefulDelete: the grace period a deletion gets (0: at once)."""
        if _key(res) != ("", "pods"):
            return 0
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        period = asked if asked is not None else spec.get("terminationGracePeriodSeconds")
        period = 30 if not isinstance(period, int) else period  # the API's default
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0  # never scheduled, or already terminated
        return 1 if period < 0 else int(period)

    def _delete(self, res: Resource, namespace: str | None, name: str, *, propagation: str | None = None,
                preconditions: dict | None = None, grace_period: int | None = None, dry_run: bool = False,
                user: str = "") -> Obj:
        ns = namespace if res.namespaced else None
        old = self._bucket(res, ns).get(name)
        if old is None:
            raise not_found(res.plural, name, res.group)
        om = old["metadata"]
        pre = preconditions or {}
        if pre.get("uid") and pre["uid"] != om["uid"]:
            raise conflict(res.plural, name, f"Precondition failed: UID in precondition: {pre['uid']}, UID in "
                           f"object meta: {om['uid']}", res.group)
        if pre.get("resourceVersion") and pre["resourceVersion"] != om["resourceVersion"]:
            raise conflict(res.plural, name, "Precondition failed: ResourceVersion in precondition: "
                           f"{pre['resourceVersion']}, ResourceVersion in object meta: {om['resourceVersion']}",
                           res.group)
        if propagation not in (None, "", "Background", "Foreground", "Orphan"):
            raise invalid("DeleteOptions", "", [{"reason": "FieldValueNotSupported", "field": "propagationPolicy",
                                                 "message": f'Unsupported value: "{propagation}": supported '
                                                 'values: "Foreground", "Background", "Orphan", "nil"'}])
        if _key(res) == _NS_KEY and name in IMMORTAL_NAMESPACES:
            raise StatusError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                              details={"name": name, "group": "", "kind": "namespaces"})
        self._admit(Operation("delete", res, ns, name, None, old, None, dry_run, user))
        fins = _finalizers(old)
        if propagation == "Orphan":
            fins = [f for f in fins if f != FOREGROUND] + ([ORPHAN] if ORPHAN not in fins else [])
        elif propagation == "Foreground":
            fins = [f for f in fins if f != ORPHAN] + ([FOREGROUND] if FOREGROUND not in fins else [])
        elif propagation == "Background":
            fins = [f for f in fins if f not in (ORPHAN, FOREGROUND)]
        if propagation == "Foreground" and not self._dependents.get(om["uid"]):
            fins = [f for f in fins if f != FOREGROUND]  # nothing to wait for
        grace = self._grace(res, old, grace_period)
        pending = om.get("deletionGracePeriodSeconds") or 0
        if _deleting(old) and pending:  # a graceful deletion under way may only be shortened
            if grace >= pending:
                return old
            meta = {**om, "deletionTimestamp": self._now(grace), "deletionGracePeriodSeconds": grace}
            new = {**old, "metadata": meta}
            if dry_run:
                return new
            return self._commit(res, "DELETED" if self._gone(res, new) else "MODIFIED", new, old)
        if grace and not _deleting(old):  # graceful: the kubelet (the controllers) ends it
            meta = {**om, "deletionTimestamp": self._now(grace), "deletionGracePeriodSeconds": grace,
                    "finalizers": fins}
            if not fins:
                del meta["finalizers"]
            if om.get("generation"):
                meta["generation"] = om["generation"] + 1
            new = {**old, "metadata": meta}
            return new if dry_run else self._commit(res, "MODIFIED", new, old)
        is_ns, is_crd = _key(res) == _NS_KEY, _key(res) == _CRD_KEY
        if is_crd and CRD_CLEANUP not in fins:
            fins.append(CRD_CLEANUP)
        holds = bool(fins) or (is_ns and bool((old.get("spec") or {}).get("finalizers")))
        if not holds:
            new = {**old, "metadata": dict(om)}
            if dry_run:
                return new
            return self._commit(res, "DELETED", new, old)
        if _deleting(old) and fins == _finalizers(old):
            return old  # already being deleted; a second delete changes nothing
        meta = {**om, "finalizers": fins}
        if not _deleting(old):
            meta["deletionTimestamp"] = self._now()
            meta["deletionGracePeriodSeconds"] = 0
            if om.get("generation"):
                meta["generation"] = om["generation"] + 1
        new = {**old, "metadata": meta}
        if not fins:
            del meta["finalizers"]
        if is_ns:
            new["status"] = {**(old.get("status") or {}), "phase": "Terminating"}
        if is_crd:
            conds = [c for c in (old.get("status") or {}).get("conditions") or () if c.get("type") != "Terminating"]
            conds.append({"type": "Terminating", "status": "True", "reason": "InstanceDeletionPending",
                          "message": "CustomResourceDefinition marked for deletion; CustomResource deletion "
                                     "will begin soon", "lastTransitionTime": self._now()})
            new["status"] = {**(old.get("status") or {}), "conditions": conds}
        if dry_run:
            return new
        return self._commit(res, "MODIFIED", new, old)

    def delete_collection(self, res: Resource, namespace: str | None, *, label_selector: str = "",
                          field_selector: str = "", **kw: Any) -> Obj:
        """Deletes every matching object; answers the list of what was deleted (as the real server)."""
        listed = self.list(res, namespace, label_selector=label_selector, field_selector=field_selector)
        opts = {k: kw[k] for k in ("propagation", "grace_period", "dry_run", "user") if k in kw}
        out = []
        for obj in listed["items"]:
            m = obj["metadata"]
            try:
                out.append(self._as_version(self._delete(res, m.get("namespace"), m["name"], **opts), res))
            except StatusError as e:
                if e.code != 404:
                    raise
        self._drain()
        listed["items"] = out
        listed["metadata"] = {"resourceVersion": self.resource_version}
        return listed

    # ------------------------------------------------------------------ the store's own controllers
    def _react(self, ch: Change) -> None:
        """Garbage collector, namespace controller and CRD finalizer, driven by committed changes."""
        obj, key = ch.obj, _key(ch.resource)
        meta = obj["metadata"]
        uid = meta["uid"]
        if ch.type == "DELETED":
            for dep in list(self._dependents.pop(uid, {})):
                self._attempt_gc(dep)
            for owner in _owner_uids(obj):  # an owner waiting for its dependents may go now
                self._maybe_finish_foreground(owner)
            ns = meta.get("namespace")
            if ns:
                self._maybe_finalize_namespace(ns)
            if key[0]:  # a custom resource's CRD may be waiting for its last object to go
                self._maybe_finalize_crd(ch.resource.crd or f"{key[1]}.{key[0]}")
            return
        if ch.old is not None:
            for owner in _owner_uids(ch.old):  # a dependent that let go of a waiting owner
                if owner not in _owner_uids(obj):
                    self._maybe_finish_foreground(owner)
        if _owner_uids(obj) and any(o not in self._uids for o in _owner_uids(obj)):
            self._attempt_gc(uid)  # created or updated with an owner that does not exist
        if not _deleting(obj) or (ch.old is not None and _deleting(ch.old) and
                                  _finalizers(ch.old) == _finalizers(obj) and key != _NS_KEY):
            return
        fins = _finalizers(obj)
        if ORPHAN in fins:
            self._orphan(uid)
            self._drop_finalizer(ch.resource, obj, ORPHAN)
        elif FOREGROUND in fins:
            for dep in list(self._dependents.get(uid, {})):
                self._attempt_gc(dep)
            self._maybe_finish_foreground(uid)
        if key == _NS_KEY and (ch.old is None or not _deleting(ch.old)):
            self._empty_namespace(meta["name"])
        if key == _CRD_KEY and CRD_CLEANUP in fins and (ch.old is None or not _deleting(ch.old)):
            self._delete_custom_resources(obj)

    def _live(self, uid: str) -> tuple[Resource, Obj] | None:
        where = self._uids.get(uid)
        if where is None:
            return None
        res, ns, name = where
        obj = self._objs.get(_key(res), {}).get(ns, {}).get(name)
        return None if obj is None else (res, obj)

    def _attempt_gc(self, uid: str) -> None:
        """The garbage collector's attemptToDeleteItem for one dependent."""
        found = self._live(uid)
        if found is None:
            return
        res, obj = found
        refs = obj["metadata"].get("ownerReferences") or []
        solid, dangling, waiting = [], [], []
        for r in refs:
            owner = self._live(r.get("uid", ""))
            if owner is None:
                dangling.append(r)
            elif _deleting(owner[1]) and FOREGROUND in _finalizers(owner[1]):
                waiting.append(r)
            else:
                solid.append(r)
        if solid:
            if dangling or waiting:
                keep = [r for r in refs if r in solid]
                self._set_meta(res, obj, ownerReferences=keep)
            return
        if _deleting(obj):
            return
        ns = obj["metadata"].get("namespace")
        if waiting and self._dependents.get(uid):
            policy = "Foreground"
        elif ORPHAN in _finalizers(obj):
            policy = "Orphan"
        elif FOREGROUND in _finalizers(obj):
            policy = "Foreground"
        else:
            policy = "Background"
        try:
            self._delete(res, ns, obj["metadata"]["name"], propagation=policy, user="system:serviceaccount:"
                         "kube-system:generic-garbage-collector")
        except StatusError as e:
            if e.code != 404:
                raise

    def _maybe_finish_foreground(self, owner_uid: str) -> None:
        found = self._live(owner_uid)
        if found is None:
            return
        res, owner = found
        if not _deleting(owner) or FOREGROUND not in _finalizers(owner):
            return
        for dep_uid in self._dependents.get(owner_uid, {}):
            dep = self._live(dep_uid)
            if dep is None:
                continue
            for r in dep[1]["metadata"].get("ownerReferences") or ():
                if r.get("uid") == owner_uid and r.get("blockOwnerDeletion"):
                    return
        self._drop_finalizer(res, owner, FOREGROUND)

    def _orphan(self, owner_uid: str) -> None:
        for dep_uid in list(self._dependents.get(owner_uid, {})):
            dep = self._live(dep_uid)
            if dep is None:
                continue
            res, obj = dep
            refs = [r for r in obj["metadata"].get("ownerReferences") or () if r.get("uid") != owner_uid]
            self._set_meta(res, obj, ownerReferences=refs)

    def _set_meta(self, res: Resource, obj: Obj, **changes: Any) -> None:
        """A system write of metadata fields (None or empty removes the field)."""
        meta = dict(obj["metadata"])
        for k, v in changes.items():
            if v:
                meta[k] = v
            else:
                meta.pop(k, None)
        new = {**obj, "metadata": meta}
        self._commit(res, "DELETED" if self._gone(res, new) else "MODIFIED", new, obj)

    def _drop_finalizer(self, res: Resource, obj: Obj, finalizer: str) -> None:
        current = self._live(obj["metadata"]["uid"])
        if current is None or finalizer not in _finalizers(current[1]):
            return
        self._set_meta(res, current[1], finalizers=[f for f in _finalizers(current[1]) if f != finalizer])

    def _empty_namespace(self, namespace: str) -> None:
        """The namespace controller: delete everything in a Terminating namespace."""
        for key, spaces in list(self._objs.items()):
            bucket = spaces.get(namespace)
            if not bucket or key == _NS_KEY:
                continue
            for obj in list(bucket.values()):
                if _deleting(obj):
                    continue
                found = self._live(obj["metadata"]["uid"])
                if found is None:
                    continue
                try:
                    self._delete(found[0], namespace, obj["metadata"]["name"], propagation="Background",
                                 user="system:serviceaccount:kube-system:namespace-controller")
                except StatusError as e:
                    if e.code != 404:
                        raise
        self._maybe_finalize_namespace(namespace)

    def _maybe_finalize_namespace(self, namespace: str) -> None:
        """Content gone: the ``kubernetes`` finalizer goes (and the namespace with it); else the
        namespace controller's conditions say what remains."""
        ns_obj = self._objs.get(_NS_KEY, {}).get("", {}).get(namespace)
        if ns_obj is None or not _deleting(ns_obj) or "finalizers" not in (ns_obj.get("spec") or {}):
            return
        res = self._uids[ns_obj["metadata"]["uid"]][0]
        remaining: dict[str, int] = {}
        finalizers: dict[str, int] = {}
        for (group, plural), spaces in self._objs.items():
            bucket = spaces.get(namespace) if (group, plural) != _NS_KEY else None
            if bucket:
                remaining[f"{plural}.{group}"] = len(bucket)
                for obj in bucket.values():
                    for f in _finalizers(obj):
                        finalizers[f] = finalizers.get(f, 0) + 1
        if not remaining:
            spec = {k: v for k, v in (ns_obj.get("spec") or {}).items() if k != "finalizers"}
            new = {**ns_obj, "metadata": dict(ns_obj["metadata"]), "spec": spec}
            self._commit(res, "DELETED" if self._gone(res, new) else "MODIFIED", new, ns_obj)
            return
        status = dict(ns_obj.get("status") or {})
        conditions = self._namespace_conditions(status.get("conditions") or [], remaining, finalizers)
        if conditions != status.get("conditions"):
            status["conditions"] = conditions
            self._commit(res, "MODIFIED", {**ns_obj, "metadata": dict(ns_obj["metadata"]), "status": status},
                         ns_obj)

    def _namespace_conditions(self, before: builtins.list[Obj], remaining: dict[str, int],
                              finalizers: dict[str, int]) -> builtins.list[Obj]:
        """The namespace controller's deletion conditions (namespaced_resources_deleter.go's texts)."""
        content = ", ".join(sorted(f"{gr} has {n} resource instances" for gr, n in remaining.items()))
        fins = ", ".join(sorted(f"{f} in {n} resource instances" for f, n in finalizers.items()))
        wanted = [
            ("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered",
             "All resources successfully discovered"),
            ("NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions",
             "All legacy kube types successfully parsed"),
            ("NamespaceDeletionContentFailure", "False", "ContentDeleted",
             "All content successfully deleted, may be waiting on finalization"),
            ("NamespaceContentRemaining", "True", "SomeResourcesRemain", f"Some resources are remaining: {content}"),
            ("NamespaceFinalizersRemaining", "True", "SomeFinalizersRemain",
             f"Some content in the namespace has finalizers remaining: {fins}") if fins else
            ("NamespaceFinalizersRemaining", "False", "ContentHasNoFinalizers",
             "All content-preserving finalizers finished"),
        ]
        old = {c.get("type"): c for c in before}
        out = []
        for type_, status, reason, message in wanted:
            prev = old.get(type_)
            since = prev["lastTransitionTime"] if prev and prev.get("status") == status and \
                prev.get("lastTransitionTime") else self._now()
            out.append({"type": type_, "status": status, "lastTransitionTime": since, "reason": reason,
                        "message": message})
        return out

    def _crd_key(self, crd: Obj) -> _Key:
        spec = crd.get("spec") or {}
        return (str(spec.get("group") or ""), str((spec.get("names") or {}).get("plural") or ""))

    def _delete_custom_resources(self, crd: Obj) -> None:
        key = self._crd_key(crd)
        for bucket in list(self._objs.get(key, {}).values()):
            for obj in list(bucket.values()):
                if _deleting(obj):
                    continue
                found = self._live(obj["metadata"]["uid"])
                if found is not None:
                    self._delete(found[0], obj["metadata"].get("namespace"), obj["metadata"]["name"],
                                 user="system:serviceaccount:kube-system:crd-finalizer")
        self._maybe_finalize_crd(crd["metadata"]["name"])

    def _maybe_finalize_crd(self, crd_name: str) -> None:
        crd = self._objs.get(_CRD_KEY, {}).get("", {}).get(crd_name)
        if crd is None or not _deleting(crd) or CRD_CLEANUP not in _finalizers(crd):
            return
        if any(self._objs.get(self._crd_key(crd), {}).values()):
            return
        res = self._uids[crd["metadata"]["uid"]][0]
        self._drop_finalizer(res, crd, CRD_CLEANUP)

    # ------------------------------------------------------------------ watch
    def watch(self, res: Resource | None, namespace: str | None, sink: Callable[[Obj], None], *,
              resource_version: str = "", label_selector: str = "", field_selector: str = "",
              send_initial_events: bool = False, allow_bookmarks: bool = False) -> Watch:
        if res is not None:
            labels, fields = self._selectors(res, label_selector, field_selector)
        else:
            labels, fields = parse_label_selector(label_selector), parse_field_selector(field_selector)
        ns = namespace if (res is None or res.namespaced) else None
        w = Watch(self, res, ns, sink, labels, fields, allow_bookmarks)
        initial = resource_version in ("", "0") or send_initial_events
        replay: list[_Event] = []
        if not initial:
            try:
                since = int(resource_version)
            except ValueError:
                raise bad_request(f"invalid resource version: {resource_version!r}") from None
            if since < self._floor:
                oldest = self._history[0].rv if self._history else self._rv
                raise StatusError(410, "Expired", f"too old resource version: {since} ({oldest - 1})")
            if since > self._rv:  # from another server's life: the watch cache waits, then gives up
                raise StatusError(504, "Timeout",
                                  f"Timeout: Too large resource version: {since}, current: {self._rv}",
                                  details={"causes": [{"reason": "ResourceVersionTooLarge",
                                                       "message": "Too large resource version"}],
                                           "retryAfterSeconds": 1}, retry_after=1)
            replay = self._events_after(since)
        if initial:
            resources = [res] if res is not None else self._stored_resources()
            for r in resources:
                items = sorted(self.objects(r, ns), key=_etcd_key)
                for obj in items:
                    if w._matches(r, obj):
                        w._send({"type": "ADDED", "object": obj})
            if send_initial_events and allow_bookmarks:
                w.bookmark({INITIAL_EVENTS_END: "true"})
        for ev in replay:
            if res is None or ev.key == _key(res):
                w._deliver(ev, None)
        if not w.stopped:
            if res is None:
                self._all_watchers.append(w)
            else:
                self._watchers.setdefault(_key(res), []).append(w)
        return w

    def _stored_resources(self) -> builtins.list[Resource]:
        out = []
        for key in sorted(self._objs):
            r = self._resource_of(key)
            if r is not None:
                out.append(r)
        return out

    def _events_after(self, rv: int) -> builtins.list[_Event]:
        h = self._history
        if not h or rv >= h[-1].rv:
            return []
        start = rv + 1 - h[0].rv  # history rvs are consecutive: one event per resourceVersion
        if 0 <= start < len(h) and h[start].rv == rv + 1:
            return [h[i] for i in range(start, len(h))]
        return [e for e in h if e.rv > rv]

    def _unwatch(self, w: Watch) -> None:
        pool = self._all_watchers if w.res is None else self._watchers.get(_key(w.res), [])
        if w in pool:
            pool.remove(w)


__all__ = ["Change", "Operation", "Store", "Watch"]
