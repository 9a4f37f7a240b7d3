"""Events paced to the wall clock: a target rate, or a recorded file's own rhythm.

Generating is faster than any monitor needs, so a QA run usually wants
traffic at a chosen pace instead: :func:`at_rate` lets ``N`` events through
per wall-clock second; :func:`replay` releases the lines of a recorded JSONL
file at their event-time gaps divided by ``speed`` (60 plays an hour of
traffic in a minute).

Both keep to a schedule fixed at the start (event ``i`` is due at
``t0 + i / rate``), so sleeping a little late never accumulates into drift:
the next event is simply due sooner. Time comes in as a :class:`Clock`, so
tests can drive it.

A replayed line that is not a JSON object with a readable ``ts`` is not
dropped: it goes out unchanged, at once, and is counted in
:attr:`ReplayStats.unreadable`, so the monitor dead-letters it with its
reason, as it would any bad record from a channel.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import orjson

from riskwatch.contracts import ts_to_ms
from simulator.errors import ConfigError, SimulatorError
from simulator.wire import WireEvent

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Clock:
    """Where pacing reads the time and how it waits."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def wait_until(self, deadline: float) -> None:
        delay = deadline - self.now()
        if delay > 0.0:
            self.sleep(delay)


def at_rate(events: Iterable[T], rate: float, clock: Clock | None = None) -> Iterator[T]:
    """``events`` at ``rate`` per second of wall time (no faster; slower if they come slower)."""
    if not rate > 0.0:
        msg = f"rate must be a positive number of events per second, got {rate}"
        raise ConfigError(msg)
    clock = clock or Clock()
    start = clock.now()
    step = 1.0 / rate
    for i, event in enumerate(events):
        clock.wait_until(start + i * step)
        yield event


@dataclass(slots=True)
class ReplayStats:
    """What a replay sent: lines, the unreadable among them, the event time covered."""

    lines: int = 0
    unreadable: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    reasons: dict[str, int] = field(default_factory=dict)


def replay(
    lines: Iterable[bytes],
    speed: float,
    clock: Clock | None = None,
    stats: ReplayStats | None = None,
) -> Iterator[WireEvent]:
    """The lines of a recorded transaction file, each released at its event-time gap / speed.

    A line's due time is measured from the first readable line's ``ts``;
    lines whose time has already passed (out of order, or the sink was
    slow) go at once. Each comes out as a :class:`WireEvent` keyed by its
    ``customer_id``, with the line's bytes unchanged.
    """
    if not speed > 0.0:
        msg = f"speed must be a positive factor, got {speed}"
        raise ConfigError(msg)
    clock = clock or Clock()
    stats = stats if stats is not None else ReplayStats()
    wall0 = 0.0
    first: int | None = None
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        stats.lines += 1
        try:
            ts_ms, key, channel = line_time(line)
        except UnreadableLine as exc:
            stats.unreadable += 1
            stats.reasons[exc.reason] = stats.reasons.get(exc.reason, 0) + 1
            logger.warning("replay line %d: %s; sent on unchanged", number, exc.reason)
            yield WireEvent(b"", line)
            continue
        if first is None:
            first, wall0 = ts_ms, clock.now()
            stats.first_ms = ts_ms
        else:
            clock.wait_until(wall0 + (ts_ms - first) / 1000.0 / speed)
        stats.last_ms = ts_ms if stats.last_ms is None else max(stats.last_ms, ts_ms)
        yield WireEvent(key, line, None, ts_ms, 0, channel)


class UnreadableLine(SimulatorError):
    """A recorded line without a readable event time; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def line_time(line: bytes) -> tuple[int, bytes, str]:
    """The event time in epoch ms, the Kafka key and the channel of one line."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise UnreadableLine("not JSON") from exc
    if not isinstance(record, dict):
        raise UnreadableLine("not a JSON object")
    ts = record.get("ts")
    if isinstance(ts, int) and not isinstance(ts, bool):
        ts_ms = ts
    elif isinstance(ts, str):
        try:
            parsed = datetime.fromisoformat(ts)
        except ValueError as exc:
            raise UnreadableLine("ts is not ISO 8601") from exc
        if parsed.tzinfo is None:
            raise UnreadableLine("ts has no time zone")
        ts_ms = ts_to_ms(parsed)
    else:
        raise UnreadableLine("no ts")
    customer = record.get("customer_id")
    key = customer.encode("utf-8") if isinstance(customer, str) else b""
    channel = record.get("channel")
    return ts_ms, key, channel if isinstance(channel, str) else ""
