"""The clock, injected wherever "now" matters, so tests can drive time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: Something that tells the time: ``utc_now`` in production, a fake in tests.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The system clock, as an aware UTC datetime."""
    return datetime.now(UTC)
