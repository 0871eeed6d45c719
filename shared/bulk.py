"""Bulk work in a service process: fewer passes of Python's cyclic garbage collector while it runs.

A batch import allocates hundreds of thousands of short-lived objects (rows, payloads, records). With the
default threshold the collector runs a generation-0 pass every 700 allocations, and the older generations'
passes those trigger re-scan every live object of the chunk again and again: measured on a 20,000-person
import, about a fifth of the Python CPU (docs/decisions/0010). Reference counting still frees nearly all of it
at once; only cycles wait for the next, rarer pass.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

BULK_GEN0_THRESHOLD = 50_000

_active = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Raise the generation-0 threshold for the block (nested and overlapping blocks alike: the threshold
    is restored when the last one ends). The threshold is process-wide; use it from the event loop's thread."""
    global _active, _saved
    if _active == 0:
        _saved = gc.get_threshold()
        gc.set_threshold(max(BULK_GEN0_THRESHOLD, _saved[0]), _saved[1], _saved[2])
    _active += 1
    try:
        yield
    finally:
        _active -= 1
        if _active == 0 and _saved is not None:
            gc.set_threshold(*_saved)
            _saved = None
