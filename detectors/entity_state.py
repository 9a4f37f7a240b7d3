"""The entity side of a state batch: which entity keys a batch touches, and their counts.

Terminals, merchants, devices and counterparty accounts are shared by
customers of every shard, so their state cannot be folded in Python like a
customer's (one writer): ``entities.lua`` records a batch's events at them
and reads their counts in one script call per part of the batch, which
also writes the part's customer blobs. This
module builds the script's keys and arguments (each entity once, however
many of the batch's events touch it) and maps its flat reply back to the
events. ``detectors/state.py`` documents the windows and what is exact.

Most entities have a short blob that lives as a field of a bucket hash
(``entities.lua`` says why and when it does not): an entity's bucket is a
CRC-32 of its letter and id modulo the store's bucket count, so every
process puts it in the same one. Redis keeps a hash as a compact listpack
only while it has at most ``hash-max-listpack-entries`` fields of at most
``hash-max-listpack-value`` bytes; the script keeps longer blobs out, and
:func:`listpack_limits` reads both limits from the server once at start-up.
"""

from __future__ import annotations

import importlib.resources
import logging
import zlib
from collections.abc import Sequence
from operator import attrgetter
from string import Template
from typing import Any

import redis

from detectors.keys import entity_key
from detectors.script_trips import without_comments
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

#: Entities whose keys and bucket a store remembers between batches (~200 B each).
_PLACES_KEPT = 200_000

#: Redis's defaults for hash-max-listpack-entries and -value (6.2: -ziplist-).
DEFAULT_LISTPACK_LIMITS = (128, 64)

logger = logging.getLogger(__name__)

_SCRIPT = Template((importlib.resources.files("detectors") / "entities.lua").read_text())


def bucket_key(namespace: str, letter: str, entity_id: str, buckets: int) -> str:
    """The hash whose field holds an entity's blob while it is short.

    >>> bucket_key("rw", "t", "T-7", 64)
    'rw:{b|27}'
    """
    number = zlib.crc32(f"{letter}{entity_id}".encode()) % buckets
    return entity_key(namespace, "b", str(number))


def listpack_limits(client: redis.Redis) -> tuple[int, int]:
    """The server's hash-max-listpack-entries and -value, or Redis's defaults if hidden.

    A managed Redis may refuse CONFIG (and a store may be made before Redis
    is up): the defaults then decide which blobs go into buckets, which is
    right unless the server was set lower (then buckets become hash tables:
    more memory, the same counts).
    """
    limits = []
    for name, default in zip(("entries", "value"), DEFAULT_LISTPACK_LIMITS, strict=True):
        try:
            reply = client.config_get(f"hash-max-ziplist-{name}")
            limits.append(int(next(iter(reply.values()))))
        except (redis.ResponseError, redis.ConnectionError, StopIteration, ValueError) as exc:
            logger.warning("CONFIG GET hash-max-ziplist-%s: %s; assuming %d", name, exc, default)
            limits.append(default)
    return limits[0], limits[1]


#: A transaction's entity ids, in ENTITIES order, by one call.
_ENTITY_IDS = attrgetter(*(field for _, _, field in ENTITIES))
_LETTERS = tuple(letter for _, letter, _ in ENTITIES)
#: The feature prefixes of the entities present, by bit mask (bit i: ENTITIES[i]).
_PRESENT = tuple(
    tuple(prefix for i, (prefix, _, _) in enumerate(ENTITIES) if mask >> i & 1)
    for mask in range(1 << len(ENTITIES))
)


class EntityBatch:
    """One batch's events at their entities: the script's KEYS and ARGV, built as events come."""

    def __init__(
        self,
        namespace: str,
        buckets: int = 1,
        field_max: int = 64,
        places: dict[str, tuple[str, str | None, str]] | None = None,
    ) -> None:
        self._namespace = namespace
        self._buckets = buckets
        self._field_max = field_max
        self._places = {} if places is None else places
        self._numbers: dict[str, int] = {}
        self._bucket_numbers: dict[str, int] = {}
        self._entity_keys: list[str] = []
        self._heads: list[Any] = []
        self._events: list[Any] = []
        self._present: list[int] = []

    def call(
        self,
        customer_keys: Sequence[str],
        blobs: Sequence[bytes],
        ttl_ms: int,
        guard: str,
        seq: int,
    ) -> tuple[list[Any], list[Any]]:
        """``entities.lua``'s KEYS and ARGV: this batch's entities and events, and the
        customer blobs (under ``customer_keys``, with a TTL) to write in the same call.

        ``guard`` and ``seq`` chain the calls of one state batch: ``seq`` is this
        call's number among them (1, 2, ...), negative for the last; a call
        refuses to run unless the one before it completed.
        """
        keys = [*self._entity_keys, *self._bucket_numbers, *customer_keys, guard]
        args = [len(self._numbers), len(blobs), ttl_ms, *self._heads, *self._events, *blobs, seq]
        return keys, args

    def add(self, txn: Transaction, ts_ms: int, fresh: bool) -> None:
        """Record one event (``fresh``) or only read its counts, at its assessed time."""
        numbers: list[int] = []
        present = 0
        known = self._numbers
        for bit, letter, value in zip(range(4), _LETTERS, _ENTITY_IDS(txn), strict=True):
            if value is None:
                continue
            field = letter + value
            number = known.get(field)
            if number is None:
                number = self._first(letter, value, field)
            numbers.append(number)
            present |= 1 << bit
        self._present.append(present)
        if numbers:
            self._events += (ts_ms, 1 if fresh else 0, txn.customer_id, len(numbers), *numbers)

    def _first(self, letter: str, value: str, field: str) -> int:
        """Number an entity on its batch's first event there, with its keys and bucket."""
        number = self._numbers[field] = len(self._numbers) + 1
        place = self._places.get(field)
        if place is None:
            place = self._places[field] = self._place(letter, value, field)
        own, bucket, _ = place
        self._entity_keys += (own, own + ":c")
        if bucket is None:
            self._heads += (0, field)
        else:
            self._heads += (
                self._bucket_numbers.setdefault(bucket, len(self._bucket_numbers) + 1),
                field,
            )
        return number

    def _place(self, letter: str, value: str, field: str) -> tuple[str, str | None, str]:
        """An entity's own key, and its bucket (None: a field name this long would turn
        its bucket into a hash table, so its blob always keeps its own key)."""
        own = entity_key(self._namespace, letter, value)
        if len(field.encode()) > self._field_max:
            return own, None, field
        return own, bucket_key(self._namespace, letter, value, self._buckets), field

    def __bool__(self) -> bool:
        return bool(self._events)

    def counts(self, reply: Sequence[int]) -> list[dict[str, tuple[int, ...]]]:
        """Per event added, in order: entity prefix -> its six counts."""
        out: list[dict[str, tuple[int, ...]]] = []
        i = 0
        for present in self._present:
            entities = {}
            for name in _PRESENT[present]:
                entities[name] = tuple(reply[i : i + _PER_ENTITY])
                i += _PER_ENTITY
            out.append(entities)
        return out


class EntityScript:
    """``entities.lua`` with a store's lateness and the server's listpack limits filled in."""

    def __init__(self, client: redis.Redis, lateness_ms: int, buckets: int) -> None:
        if lateness_ms + _KEEP_MS >= 2**32:
            # A customer's age at an entity is packed in four bytes (ms).
            msg = f"an allowed lateness of {lateness_ms} ms is too long for the entity state"
            raise ValueError(msg)
        if buckets < 1:
            msg = f"entity buckets must be at least 1, not {buckets}"
            raise ValueError(msg)
        self.buckets = buckets
        entries, self.value_max = listpack_limits(client)
        if entries < 2:
            self.value_max = 0  # no hash stays a listpack: every blob is its own key
        self.source = without_comments(
            _SCRIPT.substitute(
                lateness=int(lateness_ms), inline=INLINE_CUSTOMERS, value_max=self.value_max
            )
        )
        """The script's text for EVAL (:mod:`detectors.script_trips` says why not EVALSHA)."""
        self._places: dict[str, dict[str, tuple[str, str | None, str]]] = {}

    def batch(self, namespace: str) -> EntityBatch:
        """An empty batch for this script's buckets and field length limit.

        Entities recur from batch to batch: their keys and buckets (a CRC-32
        and two strings each) are remembered per namespace, up to
        ``_PLACES_KEPT`` entities, then forgotten all at once.
        """
        places = self._places.setdefault(namespace, {})
        if len(places) > _PLACES_KEPT:
            places.clear()
        return EntityBatch(namespace, self.buckets, self.value_max, places)
