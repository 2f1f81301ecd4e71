"""managedFields of equal shape share one ``fieldsV1`` dict (copy-on-write: never mutated), so a
cluster of similar objects does not keep one field set and one encoding per write."""
from __future__ import annotations

from helm_ac.clock import VirtualLoop
from helm_ac.kubesim import patch
from helm_ac.kubesim.resources import Registry
from helm_ac.kubesim.store import Store


def test_equal_field_sets_share_one_encoding_and_cache_entry():
    reg = Registry.builtin()
    store = Store(reg, VirtualLoop())
    cm = reg.lookup("", "v1", "configmaps")
    assert cm is not None

    def create(name: str, **data: str) -> dict:
        return store.create(cm, "default", {"metadata": {"name": name, "labels": {"app": "x"}}, "data": data},
                            field_manager="writer")

    first = create("a0", k="1", j="2")
    cached = len(patch._ENCODED)
    others = [create(f"a{i}", k=str(i), j="x") for i in range(1, 50)]
    fields = first["metadata"]["managedFields"][0]["fieldsV1"]
    assert fields == {"f:data": {".": {}, "f:j": {}, "f:k": {}},
                      "f:metadata": {"f:labels": {".": {}, "f:app": {}}}}
    assert all(o["metadata"]["managedFields"][0]["fieldsV1"] is fields for o in others)
    assert len(patch._ENCODED) == cached  # not one entry (a field set and its encoding kept alive) per write
    other = create("b", k="1")  # another shape: its own encoding
    assert other["metadata"]["managedFields"][0]["fieldsV1"] == {"f:data": {".": {}, "f:k": {}},
                                                               "f:metadata": {"f:labels": {".": {}, "f:app": {}}}}
    # a later update by the same manager starts from the shared encoding and leaves the others alone
    updated = store.patch(cm, "default", "a1", "merge", {"data": {"n": "1"}}, field_manager="writer")[0]
    assert updated["metadata"]["managedFields"][0]["fieldsV1"]["f:data"] == {".": {}, "f:j": {}, "f:k": {}, "f:n": {}}
    assert store.get(cm, "default", "a2")["metadata"]["managedFields"][0]["fieldsV1"] == fields
    assert "f:n" not in fields["f:data"]
