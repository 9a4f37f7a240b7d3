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


def test_cycles_are_still_collected() -> None:
    """The collector stays on: a cycle made during the run is freed by it."""
    import weakref

    class Node:
        pass

    with collecting_for_batches():
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        assert gone() is not None, "a cycle outlives reference counting"
        gc.collect()
        assert gone() is None
