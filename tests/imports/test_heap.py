"""The collector settled once per importing process (mdm_hub.heap): what is alive then is
frozen, the young generation's threshold raised, and a later call freezes nothing new (the
objects of later work stay collectable)."""

from __future__ import annotations

import gc

from mdm_hub import heap


def test_settle_freezes_once_and_raises_the_young_threshold() -> None:
    heap.settle()  # the first call in this process, or a no-op after an app's start-up
    frozen = gc.get_freeze_count()
    assert heap.settled() and frozen > 0
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
    kept = [[n] for n in range(1000)]  # tracked containers alive at the second call
    heap.settle()
    assert gc.get_freeze_count() == frozen, "a second call froze later objects"
    assert len(kept) == 1000
