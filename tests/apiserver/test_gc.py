"""The server process's garbage-collector setting (helm ac cluster): full collections freeze their
survivors, so the next one walks only newer objects."""
from __future__ import annotations

import gc

from helm_ac.apiserver.server import freeze_survivors


def test_full_collections_freeze_their_survivors():
    gc.unfreeze()
    undo = freeze_survivors()
    try:
        started = gc.get_freeze_count()
        assert started > 0  # what survived startup
        kept = [[i] for i in range(1000)]  # new long-lived containers
        gc.unfreeze()
        gc.collect()  # a full collection: its survivors frozen, the next one walks only what is newer
        assert gc.get_freeze_count() >= len(kept)
    finally:
        undo()
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gc.get_freeze_count() == 0  # undone: no more freezing
