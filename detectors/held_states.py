"""The worker's decoded customer states, kept between batches (a bounded LRU).

A customer's blob has a single writer, the worker that owns its shard, so
the copy that worker last wrote is the copy in Redis: reading it back every
batch (an MGET and a MessagePack decode per customer) only repeats what the
worker already holds. The state store writes every changed blob at the end
of its batch as before (write-through), so Redis stays the state store and
a restart, which starts with nothing held, reads exactly what a run without
this cache would. What is held:

- a state and its :class:`~detectors.customer_fold.Memo` (the folded days'
  aggregates, which then last as long as the state, not one batch);
- only while Redis surely still has the key: a state is trusted until its
  last write's TTL would have run out (read-only states, whose remaining TTL
  is unknown, are read again next batch);
- at most ``capacity`` customers, the least recently used dropped first.

A batch that fails (Redis refuses the write, or anything raises) drops its
customers, whose held states may then be ahead of Redis. Worker threads of
one process share a store, hence the lock; each customer is still touched by
one thread only (its shard's).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

import redis

from detectors.customer_fold import Memo, load

#: Seconds before a key's expiry from which its held state is no longer trusted.
_EXPIRY_MARGIN_S = 1.0


class Held:
    """One customer's decoded state, its memo, and until when Redis surely keeps it."""

    __slots__ = ("memo", "state", "trusted_until")

    def __init__(self, state: dict, trusted_until: float) -> None:
        self.state = state
        self.memo = Memo()
        self.trusted_until = trusted_until


class HeldStates:
    """Decoded states of recently seen customers; misses read with one MGET."""

    def __init__(self, client: redis.Redis, ttl_ms: int, capacity: int) -> None:
        self._client = client
        self._ttl_s = ttl_ms / 1000 - _EXPIRY_MARGIN_S
        self._capacity = capacity
        self._held: OrderedDict[str, Held] = OrderedDict()
        self._lock = threading.Lock()
        self.read = 0
        """Customers read from Redis so far because they were not held when wanted (a new
        customer's read finds no blob: nothing to decode)."""

    def __len__(self) -> int:
        return len(self._held)

    def take(self, keys: dict[str, str]) -> dict[str, Held]:
        """The states of ``keys`` (customer -> Redis key); raises redis.RedisError."""
        now = time.monotonic()
        out: dict[str, Held] = {}
        missing: list[str] = []
        with self._lock:
            held = self._held
            for cid in keys:
                h = held.get(cid)
                if h is not None and h.trusted_until > now:
                    held.move_to_end(cid)
                    out[cid] = h
                else:
                    missing.append(cid)
        if missing:
            raws = self._client.mget([keys[cid] for cid in missing])
            read = {cid: Held(load(raw), 0.0) for cid, raw in zip(missing, raws, strict=True)}
            out.update(read)
            with self._lock:
                self.read += len(missing)
                self._held.update(read)
                self._trim()
        return out

    def written(self, cids: Iterable[str], at: float) -> None:
        """``cids`` were written (with the TTL) at monotonic time ``at``."""
        until = at + self._ttl_s
        with self._lock:
            held = self._held
            for cid in cids:
                h = held.get(cid)
                if h is not None:
                    h.trusted_until = until
            self._trim()

    def _trim(self) -> None:
        held = self._held
        while len(held) > self._capacity:
            held.popitem(last=False)

    def drop(self, cids: Iterable[str]) -> None:
        with self._lock:
            for cid in cids:
                self._held.pop(cid, None)
