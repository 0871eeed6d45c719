"""Each pause of the cyclic garbage collector is timed into `yibao_gc_pause_seconds`, by generation."""

from __future__ import annotations

import gc

from prometheus_client import REGISTRY

from shared.metrics import _GcPauseTimer, time_gc_pauses


def test_a_full_collection_is_timed_once_and_the_timer_is_installed_once() -> None:
    time_gc_pauses()
    time_gc_pauses()
    assert sum(isinstance(callback, _GcPauseTimer) for callback in gc.callbacks) == 1
    labels = {"generation": "2"}
    before = REGISTRY.get_sample_value("yibao_gc_pause_seconds_count", labels) or 0.0
    paused_before = REGISTRY.get_sample_value("yibao_gc_pause_seconds_sum", labels) or 0.0
    gc.collect()
    assert REGISTRY.get_sample_value("yibao_gc_pause_seconds_count", labels) == before + 1
    assert (REGISTRY.get_sample_value("yibao_gc_pause_seconds_sum", labels) or 0.0) > paused_before
