"""How often Python's cyclic garbage collector runs while a flow runs.

By default CPython collects its youngest generation after every 700 net
allocations of containers: every ~50 events here, since each event brings a
Transaction, its state update and a feature dict of ~200 entries. Each of
those collections walks every young container still alive, and a batch keeps
its thousand events alive until it is done, so the walks are mostly wasted:
nearly everything a batch allocates is freed by reference counting, not by
the collector. Collecting every 100,000 allocations instead (and the older
generations correspondingly less often) lets most of it die unvisited.
``bench.state`` measured the features stage 8-18 % faster with these
thresholds, and 12 % with the collector off. It stays on, so reference
cycles (an exception and its traceback, for one) are still collected, but
later: a cycle that outlives a young collection can wait for the oldest
generation's, which now comes about every 5 x 10^8 allocations (minutes to
an hour at these rates) rather than every 7 x 10^4. Whatever was built
before the run (the flow, its models, the rules) is frozen out of the walks
(``gc.freeze``, after a full collection so that no garbage is frozen with
it) until the run ends. Freezing is process-wide: the simulator's collector
(simulator/collector.py) thaws everything when a simulation it wraps ends,
which costs only speed.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Allocations between collections of the young generation, and collections of
#: each generation between collections of the next.
FLOW_THRESHOLDS = (100_000, 50, 100)


@contextmanager
def collecting_for_batches() -> Iterator[None]:
    """Run the block with :data:`FLOW_THRESHOLDS`; the process's own are restored after."""
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*FLOW_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
