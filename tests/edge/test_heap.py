"""The start-up heap is frozen once, after start-up garbage is gone."""

from __future__ import annotations

import gc
import weakref

from runtime import heap


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_startup_heap_is_frozen_once_and_its_garbage_is_not() -> None:
    garbage = weakref.ref(Cycle())  # a cycle nobody refers to: only the collector frees it
    heap._frozen = False
    try:
        heap.freeze_startup_heap()
        frozen = gc.get_freeze_count()
        assert frozen > 0
        assert garbage() is None, "start-up garbage is collected, not frozen"
        heap.freeze_startup_heap()
        assert gc.get_freeze_count() == frozen, "only once per process"
    finally:
        gc.unfreeze()
        heap._frozen = False
