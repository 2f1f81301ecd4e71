"""A tiny stand-in for helm_ac.kubesim.store.Store (the contract's calls only) for tests of the HTTP
face alone: routing, status codes, bodies, watch framing. Kubernetes semantics are the real
store's and are tested there and through the server with the real store."""
from __future__ import annotations

from typing import Any, Callable

from helm_ac.kubesim.errors import StatusError, already_exists, conflict, not_found


class FakeWatch:
    def __init__(self, store: "FakeStore", sink: Callable[[dict[str, Any]], None], key: tuple[str, str | None]) -> None:
        self.store, self.sink, self.key = store, sink, key
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True
        if self in self.store.watches:
            self.store.watches.remove(self)

    def bookmark(self) -> None:
        self.sink({"type": "BOOKMARK", "object": {"kind": "ConfigMap", "apiVersion": "v1",
                                                  "metadata": {"resourceVersion": str(self.store.rv)}}})


class FakeStore:
    def __init__(self, registry: Any, clock: Any) -> None:
        self.registry, self.clock = registry, clock
        self.objects: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self.rv = 10
        self.oldest = 10  # history starts here; older resume versions are 410
        self.history: list[tuple[int, tuple[str, str | None], dict[str, Any]]] = []
        self.watches: list[FakeWatch] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def subscribe(self, fn: Callable[[Any], None]) -> Callable[[], None]:
        return lambda: None  # the stand-in has no subscribers (no controllers run on it)

    def add_admission(self, fn: Callable[[Any], None]) -> None:
        pass

    def objects(self, res: Any, namespace: str | None = None) -> list[dict[str, Any]]:
        return self.list(res, namespace)["items"]  # type: ignore[no-any-return]

    @property
    def resource_version(self) -> str:
        return str(self.rv)

    def _commit(self, kind: str, res: Any, ns: str | None, obj: dict[str, Any]) -> None:
        event = {"type": kind, "object": obj}
        self.history.append((self.rv, (res.plural, ns), event))
        for w in list(self.watches):
            if w.key[0] == res.plural and w.key[1] in (None, ns):
                w.sink(event)

    def get(self, res: Any, ns: str | None, name: str) -> dict[str, Any]:
        if name == "boom":
            raise RuntimeError("unexpected")
        try:
            return self.objects[(res.plural, ns, name)]
        except KeyError:
            raise not_found(res.plural, name, res.group) from None

    def list(self, res: Any, ns: str | None, **kw: Any) -> dict[str, Any]:
        self.calls.append(("list", kw))
        items = [o for (p, n, _), o in sorted(self.objects.items()) if p == res.plural and ns in (None, n)]
        return {"kind": res.list_kind, "apiVersion": res.group_version,
                "metadata": {"resourceVersion": str(self.rv)}, "items": items}

    def create(self, res: Any, ns: str | None, obj: dict[str, Any], **kw: Any) -> dict[str, Any]:
        self.calls.append(("create", kw))
        name = obj["metadata"]["name"]
        if name == "slow":
            raise StatusError(429, "TooManyRequests", "slow down", retry_after=2)
        if (res.plural, ns, name) in self.objects:
            raise already_exists(res.plural, name, res.group)
        self.rv += 1
        new = {**obj, "metadata": {**obj["metadata"], "namespace": ns, "resourceVersion": str(self.rv)}}
        if not kw.get("dry_run"):
            self.objects[(res.plural, ns, name)] = new
            self._commit("ADDED", res, ns, new)
        return new

    def update(self, res: Any, ns: str | None, name: str, obj: dict[str, Any], **kw: Any) -> dict[str, Any]:
        self.calls.append(("update", kw))
        old = self.get(res, ns, name)
        rv = obj["metadata"].get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise conflict(res.plural, name, "the object has been modified; please apply your changes to the "
                                             "latest version and try again", res.group)
        self.rv += 1
        new = {**obj, "metadata": {**obj["metadata"], "namespace": ns, "resourceVersion": str(self.rv)}}
        self.objects[(res.plural, ns, name)] = new
        self._commit("MODIFIED", res, ns, new)
        return new

    def patch(self, res: Any, ns: str | None, name: str, patch_type: str, body: Any, **kw: Any) -> tuple[dict[str, Any], bool]:
        self.calls.append(("patch", {"patch_type": patch_type, "body": body, **kw}))
        created = (res.plural, ns, name) not in self.objects
        if created and patch_type == "apply":
            return self.create(res, ns, body), True
        old = self.get(res, ns, name)
        merged = {**old, "data": {**old.get("data", {}), **body.get("data", {})}}
        return self.update(res, ns, name, merged), False

    def delete(self, res: Any, ns: str | None, name: str, **kw: Any) -> dict[str, Any]:
        self.calls.append(("delete", kw))
        old = self.get(res, ns, name)
        del self.objects[(res.plural, ns, name)]
        self.rv += 1
        self._commit("DELETED", res, ns, old)
        return old

    def delete_collection(self, res: Any, ns: str | None, **kw: Any) -> dict[str, Any]:
        self.calls.append(("deletecollection", kw))
        out = self.list(res, ns)
        for o in out["items"]:
            self.delete(res, ns, o["metadata"]["name"])
        return out

    def watch(self, res: Any, ns: str | None, sink: Callable[[dict[str, Any]], None], *, resource_version: str = "",
              **kw: Any) -> FakeWatch:
        self.calls.append(("watch", {"resource_version": resource_version, **kw}))
        w = FakeWatch(self, sink, (res.plural, ns))
        if resource_version in ("", "0"):
            for (p, n, _), o in sorted(self.objects.items()):
                if p == res.plural and ns in (None, n):
                    sink({"type": "ADDED", "object": o})
        else:
            since = int(resource_version)
            if since < self.oldest:
                raise StatusError(410, "Expired", f"too old resource version: {since} ({self.oldest})")
            for rv, key, event in self.history:
                if rv > since and key[0] == res.plural and ns in (None, key[1]):
                    sink(event)
        self.watches.append(w)
        return w
