"""A paged LIST costs O(page) per page, as on etcd (issue 10): a continued page starts from its key in
the store's sorted index and undoes only the changes made since the list's version; it does not
rebuild, default and sort the whole list. Measured by the objects the store looked at
(``Store.list_visited``), never by time."""
from __future__ import annotations

from helm_ac.clock import VirtualLoop
from helm_ac.kubesim.resources import Registry
from helm_ac.kubesim.store import Store

T0 = 1_800_000_000.0


def _store() -> tuple[Store, object]:
    reg = Registry.builtin()
    store = Store(reg, VirtualLoop(T0))
    ns = reg.lookup("", "v1", "namespaces")
    store.create(ns, None, {"metadata": {"name": "other"}})
    cms = reg.lookup("", "v1", "configmaps")
    assert cms is not None
    return store, cms


def _cm(name: str, ns: str = "default", **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "data": {"k": "v"}}


def _pages(store: Store, cms, namespace: str | None, limit: int, between=lambda i: None, **kw) -> tuple[list, list]:
    """Every page of a paged list: (the names in order, the objects each page looked at)."""
    names: list[str] = []
    visited: list[int] = []
    token = ""
    i = 0
    while True:
        before = store.list_visited
        page = store.list(cms, namespace, limit=limit, continue_=token, **kw)
        visited.append(store.list_visited - before)
        names += [o["metadata"]["name"] for o in page["items"]]
        token = page["metadata"].get("continue", "")
        if not token:
            return names, visited
        between(i)
        i += 1


def test_each_page_looks_at_its_own_objects_only():
    store, cms = _store()
    n, limit = 400, 25
    for i in range(n):
        store.create(cms, "default", _cm(f"c{i:04d}"))
        store.create(cms, "other", _cm(f"x{i:04d}", "other"))  # another namespace's objects are never looked at
    names, visited = _pages(store, cms, "default", limit)
    assert names == [f"c{i:04d}" for i in range(n)]
    assert len(visited) == n // limit
    # each page: its objects, plus the next one (which says there is more); the last has none after it
    assert visited == [limit + 1] * (n // limit - 1) + [limit]


def test_a_continued_page_undoes_only_what_changed_since():
    store, cms = _store()
    n, limit = 300, 20
    for i in range(n):
        store.create(cms, "default", _cm(f"c{i:04d}"))

    def change(i: int) -> None:  # two writes between pages: a new object (not in the snapshot) and an update
        store.create(cms, "default", _cm(f"c{i:04d}-new"))
        old = store.get(cms, "default", f"c{n - 1 - i:04d}")
        store.update(cms, "default", old["metadata"]["name"], {**old, "data": {"k": "changed"}})

    names, visited = _pages(store, cms, "default", limit, between=change)
    assert names == [f"c{i:04d}" for i in range(n)]  # the first page's snapshot: none new, none changed
    assert len(visited) == n // limit
    for page, seen in enumerate(visited):
        # at most the page and one more, plus the objects updated since the snapshot (their version then)
        assert seen <= limit + 1 + page, (page, seen)


def test_a_selective_list_looks_at_what_it_skips_as_kube_apiserver_does():
    store, cms = _store()
    for i in range(200):
        store.create(cms, "default", _cm(f"c{i:04d}", tier="a" if i % 4 == 0 else "b"))
    names, visited = _pages(store, cms, "default", 10, label_selector="tier=a")
    assert names == [f"c{i:04d}" for i in range(0, 200, 4)]
    # a page of 10 matches looks at about 40 objects: the ones filtered out on its way, never all 200
    # (and the next match, which says there is more)
    assert max(visited) <= 4 * 11
    assert sum(visited) <= 200 + 4 * len(visited)
