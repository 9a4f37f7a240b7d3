"""A progress bar for long runs: events, their rate, and the time left.

Progress is measured in event time (simulated days, or the span of a
replayed file), which is known up front, so tqdm can show an ETA although
the number of events is not. The bar goes to standard error and only when
that is a terminal: pipes and log files get nothing, and ``quiet`` turns it
off altogether. It is updated every ``every`` events, not per event, so it
costs nothing measurable.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

from simulator.wire import WireEvent

T = TypeVar("T", bound=WireEvent)
DAY_MS = 86_400_000


def with_progress(
    events: Iterable[T],
    start_ms: int,
    end_ms: int,
    *,
    quiet: bool = False,
    every: int = 2000,
    description: str = "simulating",
) -> Iterator[T]:
    """``events`` unchanged, with a bar over ``[start_ms, end_ms)`` of event time."""
    if quiet or not sys.stderr.isatty():
        yield from events
        return
    total = max(end_ms - start_ms, 1) / DAY_MS
    bar = tqdm(
        total=round(total, 3),
        unit="day",
        desc=description,
        file=sys.stderr,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.2f}/{total:.2f} days "
        "[{elapsed}<{remaining}] {postfix}",
    )
    count = 0
    done = 0.0
    try:
        for event in events:
            yield event
            count += 1
            if count % every == 0 and event.ts_ms:
                now = min(max((event.ts_ms - start_ms) / DAY_MS, 0.0), total)
                bar.update(now - done)
                done = now
                rate = count / max(bar.format_dict["elapsed"], 1e-9)
                bar.set_postfix_str(f"{count:,} events, {rate:,.0f} ev/s", refresh=False)
        bar.update(total - done)
        rate = count / max(bar.format_dict["elapsed"], 1e-9)
        bar.set_postfix_str(f"{count:,} events, {rate:,.0f} ev/s")
    finally:
        bar.close()
