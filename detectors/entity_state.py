"""The entity side of a state batch: which entity keys a batch touches, and their counts.

Terminals, merchants, devices and counterparty accounts are shared by
customers of every shard, so their state cannot be folded in Python like a
customer's (one writer): ``entities.lua`` records a batch's events at them
and reads their counts atomically, inside the batch's MULTI/EXEC. This
module builds the script's keys and arguments (each entity once, however
many of the batch's events touch it) and maps its flat reply back to the
events. ``detectors/state.py`` documents the windows and what is exact.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence
from string import Template
from typing import Any

import redis

from detectors.keys import entity_key
from riskwatch.contracts import Transaction

#: Entities a transaction touches: feature prefix, key letter, transaction field.
ENTITIES = (
    ("terminal", "t", "terminal_id"),
    ("merchant", "m", "merchant_id"),
    ("device", "v", "device_id"),
    ("counterparty", "p", "counterparty_account"),
)
#: Past this many customers kept at an entity, they move from its blob to a
#: sorted set: scanning them in Lua per event would then cost more than the
#: ZCOUNTs, and rewriting them per batch more than ZADD.
INLINE_CUSTOMERS = 32
#: Counts per event and entity: events 1h/24h/7d, then customers 1h/24h/7d.
_PER_ENTITY = 6
#: How long a customer is kept at an entity after its latest event there,
#: besides the allowed lateness: the longest entity window.
_KEEP_MS = 7 * 86_400_000

_SCRIPT = Template((importlib.resources.files("detectors") / "entities.lua").read_text())


class EntityBatch:
    """One batch's events at their entities: the script's KEYS and ARGV, built as events come."""

    def __init__(self, namespace: str) -> None:
        self._namespace = namespace
        self._numbers: dict[tuple[str, str], int] = {}
        self.keys: list[str] = []
        self.args: list[Any] = []
        self._names: list[tuple[str, ...]] = []

    def add(self, txn: Transaction, ts_ms: int, fresh: bool) -> None:
        """Record one event (``fresh``) or only read its counts, at its assessed time."""
        numbers: list[int] = []
        names: list[str] = []
        for prefix, letter, field in ENTITIES:
            value = getattr(txn, field)
            if value is None:
                continue
            number = self._numbers.get((letter, value))
            if number is None:
                number = self._numbers[(letter, value)] = len(self._numbers) + 1
                blob = entity_key(self._namespace, letter, value)
                self.keys += (blob, blob + ":c")
            numbers.append(number)
            names.append(prefix)
        self._names.append(tuple(names))
        if numbers:
            self.args += (ts_ms, 1 if fresh else 0, txn.customer_id, len(numbers), *numbers)

    def __bool__(self) -> bool:
        return bool(self.args)

    def counts(self, reply: Sequence[int]) -> list[dict[str, tuple[int, ...]]]:
        """Per event added, in order: entity prefix -> its six counts."""
        out: list[dict[str, tuple[int, ...]]] = []
        i = 0
        for names in self._names:
            entities = {}
            for name in names:
                entities[name] = tuple(reply[i : i + _PER_ENTITY])
                i += _PER_ENTITY
            out.append(entities)
        return out


class EntityScript:
    """``entities.lua``, registered once per store with its lateness."""

    def __init__(self, client: redis.Redis, lateness_ms: int) -> None:
        if lateness_ms + _KEEP_MS >= 2**32:
            # A customer's age at an entity is packed in four bytes (ms).
            msg = f"an allowed lateness of {lateness_ms} ms is too long for the entity state"
            raise ValueError(msg)
        source = _SCRIPT.substitute(lateness=int(lateness_ms), inline=INLINE_CUSTOMERS)
        self._script = client.register_script(source)

    def queue(self, batch: EntityBatch, pipe: redis.client.Pipeline) -> None:
        """Add the batch's script call to a pipeline (its reply: :meth:`EntityBatch.counts`)."""
        self._script(keys=batch.keys, args=batch.args, client=pipe)
