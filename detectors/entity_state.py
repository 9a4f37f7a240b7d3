"""The entity side of a state batch: which entity keys a batch touches, and their counts.

Terminals, merchants, devices and counterparty accounts are shared by
customers of every shard, so their state cannot be folded in Python like a
customer's (one writer): ``entities.lua`` records a batch's events at them
and reads their counts in one script call per part of the batch, which
also writes the part's customer blobs. This
module makes the script and works out where each entity's state lives;
the compiled :class:`~detectors.entity_batch.EntityBatch` builds a call's
keys and arguments (each entity once, however many of the batch's events
touch it; the events packed in one string) and reads its packed reply back
into the events' counts. ``detectors/state.py`` documents the windows and
what is exact.

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
from functools import partial
from string import Template

import redis

from detectors.entity_batch import ENTITIES as ENTITIES  # re-exported: state, features
from detectors.entity_batch import EntityBatch
from detectors.keys import entity_key
from detectors.lua_script import LuaScript
from detectors.script_trips import without_comments

#: Past this many customers kept at an entity, they move from its blob to a
#: sorted set: scanning them in Lua per event would then cost more than the
#: ZCOUNTs, and rewriting them per batch more than ZADD.
INLINE_CUSTOMERS = 32

#: The longest allowed lateness the entity blobs hold: an entity keeps its 5-minute
#: buckets back to 1 h + the lateness before its newest event, each one's
#: distance back in one byte (entities.lua), so at most 255 buckets.
MAX_LATENESS_MS = 255 * 300_000 - 3_600_000

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


def place(
    namespace: str, buckets: int, field_max: int, letter: str, entity_id: str, field: str
) -> tuple[str, str, str | None, str]:
    """An entity's own key, its customers' zset, its bucket (None: a field name this
    long would turn its bucket into a hash table, so its blob always keeps its own
    key) and its field name there.

    >>> place("rw", 64, 64, "t", "T-7", "tT-7")
    ('rw:{t|T-7}', 'rw:{t|T-7}:c', 'rw:{b|27}', 'tT-7')
    """
    own = entity_key(namespace, letter, entity_id)
    if len(field.encode()) > field_max:
        return own, own + ":c", None, field
    return own, own + ":c", bucket_key(namespace, letter, entity_id, buckets), field


class EntityScript:
    """``entities.lua`` with a store's lateness and the server's listpack limits filled in."""

    def __init__(self, client: redis.Redis, lateness_ms: int, buckets: int) -> None:
        if lateness_ms > MAX_LATENESS_MS:
            # A 5-minute bucket's distance back from the newest is packed in one byte
            # (and a customer's age in four bytes of ms, which this bound keeps too).
            msg = (
                f"an allowed lateness of {lateness_ms} ms is too long for the entity state "
                f"(at most {MAX_LATENESS_MS} ms)"
            )
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
        """The script's text, as loaded."""
        self.script = LuaScript(self.source)
        """Its SHA1, hashed once per store, and whether it was loaded (:mod:`detectors.script_trips`
        calls it by EVALSHA)."""
        self._places: dict[str, list[dict[str, tuple[str, str, str | None, str]]]] = {}

    def batch(self, namespace: str) -> EntityBatch:
        """An empty batch for this script's buckets and field length limit.

        Entities recur from batch to batch: their keys, buckets and field
        names (a CRC-32 and four strings each) are remembered per namespace
        and entity type, by id, up to ``_PLACES_KEPT`` entities, then
        forgotten all at once.
        """
        places = self._places.get(namespace)
        if places is None or sum(map(len, places)) > _PLACES_KEPT:
            places = self._places[namespace] = [{} for _ in ENTITIES]
        return EntityBatch(places, partial(place, namespace, self.buckets, self.value_max))
