"""The simulated calendar: local days cut to the simulation window.

People live by the local clock (CST), so habits, paydays and bills are
placed on local days, while the window the run covers is given in UTC. The
first and last local days are therefore usually partial: ``lo_ms`` and
``hi_ms`` clip them, and ``covered`` says how much of the day is inside, so
that per-customer-day rates stay true on partial days.

Times are integer milliseconds since the epoch throughout the simulator:
they sort and add exactly, and become datetimes only when an event leaves.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from riskwatch.contracts import ts_to_ms
from simulator.geography import LOCAL_TZ

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Day:
    """One local calendar day and the part of it inside the window."""

    index: int
    date: date
    start_ms: int
    lo_ms: int
    hi_ms: int
    #: Nominal paydays (1–28) whose money arrives today, after moving
    #: weekend paydays to the Friday before (or the Monday after, rather than
    #: slip into the previous month).
    paydays: frozenset[int]
    weekend: bool

    @property
    def end_ms(self) -> int:
        return self.start_ms + DAY_MS

    @property
    def covered(self) -> float:
        return (self.hi_ms - self.lo_ms) / DAY_MS


def local_days(start: datetime, days: int) -> list[Day]:
    """The local days that overlap ``[start, start + days)``."""
    lo = ts_to_ms(start)
    hi = lo + days * DAY_MS
    first = start.astimezone(LOCAL_TZ).date()
    out: list[Day] = []
    current = first
    while True:
        midnight = datetime(current.year, current.month, current.day, tzinfo=LOCAL_TZ)
        start_ms = ts_to_ms(midnight)
        if start_ms >= hi:
            break
        out.append(
            Day(
                index=len(out),
                date=current,
                start_ms=start_ms,
                lo_ms=max(lo, start_ms),
                hi_ms=min(hi, start_ms + DAY_MS),
                paydays=_paid_on(current),
                weekend=current.weekday() >= 5,
            )
        )
        current += timedelta(days=1)
    return out


def effective_payday(year: int, month: int, payday: int) -> int:
    """The day of month a nominal payday's money actually arrives."""
    last = calendar.monthrange(year, month)[1]
    day = min(payday, last)
    weekday = date(year, month, day).weekday()
    if weekday < 5:
        return day
    back = day - (weekday - 4)
    return back if back >= 1 else day + (7 - weekday)


def _paid_on(today: date) -> frozenset[int]:
    return frozenset(
        p for p in range(1, 29) if effective_payday(today.year, today.month, p) == today.day
    )
