"""Pausing Python's cyclic garbage collector while a batch of events is built.

Building a simulated day allocates hundreds of thousands of small
containers (drafts, their fields, wire events) that live until the day is
emitted. To the cyclic collector they look like survivors: they are
promoted to the older generations, and each full collection then walks the
whole world (every customer, merchant and terminal) to free nothing, as the
simulator makes no reference cycles. That cost a quarter of the
simulator's time. Reference counting frees everything the simulator drops,
so the collector is paused while a day is built and formatted, and runs
again (if it was on) before control returns to the consumer, which never
runs with it paused.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block; restore its state after, also on error."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def world_frozen() -> Iterator[None]:
    """Keep what exists now out of the collector's walks until the block ends.

    A run's world (customers, their accounts and devices, merchants: a few
    hundred thousand containers for 5,000 customers) lives as long as the
    run. Each collection that reached it walked all of it to free nothing:
    another tenth of the run. ``gc.freeze`` moves every object tracked now to
    a generation the collector skips, ``gc.unfreeze`` (on leaving, also on
    error or when a generator holding the block is closed) gives them back
    to the oldest generation. Objects that exist when the block starts and
    become cyclic garbage inside it are freed after it instead of during it;
    reference counting frees everything else as usual. Freezing is
    process-wide: with two runs open at once, the first to end thaws the
    other's world too (slower collections for the rest of it, nothing worse).
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
