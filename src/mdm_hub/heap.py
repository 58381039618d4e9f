"""The cyclic garbage collector of a long-running hub process (the frame).

A bulk import allocates millions of short-lived objects (rows, records, their JSON), so the
collector runs often, and each full collection used to walk everything the process holds for
good: the modules, classes and functions loaded, Japan Post's index (``normalize.postal``).
Measured (docs/benchmarks.md, "Bulk import: the collector, …"): about 1 ms of an import's
~3.6 ms of CPU per row went to the collector. :func:`settle` is called once the process has
loaded what it keeps (after the postal index is built): what is alive then is moved out of the
collector's generations (``gc.freeze``), and the first generation is collected every
``YOUNG_THRESHOLD`` allocations instead of 700, so most of a batch's objects are freed by
reference counting before a collection looks at them. Nothing is freed later than it would be
without cycles; garbage in cycles waits a little longer (at most ``YOUNG_THRESHOLD`` net
allocations for the young generation).
"""

from __future__ import annotations

import gc
import threading

YOUNG_THRESHOLD = 50_000

_lock = threading.Lock()
_settled = False


def settle() -> None:
    """Freeze what the process holds now and raise the young generation's threshold; once per
    process (later calls do nothing, so that objects of later work are never frozen)."""
    global _settled
    with _lock:
        if _settled:
            return
        _settled = True
        gc.collect()  # what is garbage now is freed, not frozen
        gc.freeze()
        _, middle, old = gc.get_threshold()
        gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def settled() -> bool:
    return _settled
