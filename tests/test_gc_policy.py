"""The flow's garbage-collection thresholds hold while it runs, and only then."""

from __future__ import annotations

import gc

import pytest

from riskwatch.gc_policy import FLOW_THRESHOLDS, collecting_for_batches


def test_thresholds_hold_inside_and_are_restored_after_an_error() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), collecting_for_batches():
        assert gc.get_threshold() == FLOW_THRESHOLDS
        assert gc.get_freeze_count() > 0, "what was built before the run is frozen"
        raise RuntimeError("a failing run")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_the_collector_still_runs_by_itself() -> None:
    """It stays on: past the young generation's threshold it collects unprompted."""
    runs: list[int] = []

    def seen(phase: str, info: dict) -> None:
        if phase == "start":
            runs.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        with collecting_for_batches():
            runs.clear()  # (entering collects once, on purpose)
            kept = [[] for _ in range(FLOW_THRESHOLDS[0] + 1_000)]
            assert runs, "no collection after more allocations than the threshold"
            del kept
    finally:
        gc.callbacks.remove(seen)
