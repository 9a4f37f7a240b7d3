"""Per-customer windowed income and expenditure state, kept in Redis.

The state is exact: each customer's recent events sit in a sorted set by
event time, and a Lua script adds an event and sums the windows ending at it
in one atomic step, so out-of-order events land in the right windows and a
duplicate ``txn_id`` changes nothing. Scripts for a whole batch go in one
pipeline: one network round trip per batch, never one per event.

Errors::

    StateError
     └── StateUnavailable   Redis could not be reached or refused the batch
"""

from __future__ import annotations

import importlib.resources
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from string import Template

import redis

from detectors.keys import key
from riskwatch.contracts import Transaction

logger = logging.getLogger(__name__)

_SCRIPT = Template((importlib.resources.files("detectors") / "state.lua").read_text())


class StateError(Exception):
    """The state store failed."""


class StateUnavailable(StateError):
    """Redis could not be reached or refused a batch."""


@dataclass(frozen=True, slots=True)
class WindowTotals:
    """Debits and credits within one window, amounts in minor units."""

    seconds: int
    debit_count: int
    debit_sum_minor: int
    credit_count: int
    credit_sum_minor: int


@dataclass(frozen=True, slots=True)
class StateUpdate:
    """What the state store knows about a customer as of one transaction."""

    fresh: bool
    """False when the txn_id had been seen: nothing was changed."""
    newest_ts_ms: int
    late: bool
    """True when the event is later than the allowed lateness: its windows may be short."""
    windows: tuple[WindowTotals, ...]


def window_label(seconds: int) -> str:
    """A short name for a window length, used in feature names.

    >>> [window_label(s) for s in (60, 600, 3600, 86400, 604800)]
    ['1m', '10m', '1h', '24h', '7d']
    >>> window_label(30 * 86400)
    '30d'
    """
    if seconds % 86400 == 0 and seconds // 86400 >= 2:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


class CustomerStateStore:
    """Batched, idempotent updates of customers' windowed state."""

    def __init__(
        self,
        client: redis.Redis,
        namespace: str,
        windows_seconds: Sequence[int],
        dedup_horizon_seconds: int,
        ttl_seconds: int,
        allowed_lateness_seconds: int = 3600,
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._windows = tuple(sorted(windows_seconds))
        longest_ms = self._windows[-1] * 1000
        lateness_ms = allowed_lateness_seconds * 1000
        script = _SCRIPT.substitute(
            windows=", ".join(str(w * 1000) for w in self._windows),
            lateness=int(lateness_ms),
            dedup_horizon=int(max(dedup_horizon_seconds * 1000, longest_ms + lateness_ms)),
            ttl=int(ttl_seconds * 1000),
        )
        self._script = client.register_script(script)

    @property
    def windows_seconds(self) -> tuple[int, ...]:
        return self._windows

    def apply(self, txns: Sequence[Transaction]) -> list[StateUpdate]:
        """Record a batch of transactions in order; one round trip for all."""
        if not txns:
            return []
        pipe = self._client.pipeline(transaction=False)
        for txn in txns:
            keys = (
                key(self._namespace, txn.customer_id, "ev"),
                key(self._namespace, txn.customer_id, "ids"),
            )
            args = (
                txn.txn_id,
                txn.ts_ms,
                "d" if txn.direction == "debit" else "c",
                txn.amount_minor,
            )
            self._script(keys=keys, args=args, client=pipe)
        try:
            replies = pipe.execute()
        except redis.RedisError as exc:
            msg = f"state update of a batch of {len(txns)} transactions failed: {exc}"
            raise StateUnavailable(msg) from exc
        return [self._decode(reply) for reply in replies]

    def _decode(self, reply: list[int]) -> StateUpdate:
        windows = []
        for i, seconds in enumerate(self._windows):
            dc, ds, cc, cs = reply[3 + 4 * i : 7 + 4 * i]
            windows.append(WindowTotals(seconds, int(dc), int(ds), int(cc), int(cs)))
        return StateUpdate(
            fresh=bool(reply[0]),
            newest_ts_ms=int(reply[1]),
            late=bool(reply[2]),
            windows=tuple(windows),
        )
