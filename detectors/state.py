"""Per-customer and per-entity state, kept in Redis, batched and pipelined round trips.

A customer belongs to one shard and a shard to one worker, so each
customer's blob has a single writer. That worker keeps the blobs it last
wrote decoded (``detectors/held_states.py``, a bounded LRU), so a batch
reads with one MGET only the customers it does not hold;
``detectors/customer_fold.py`` records every event in its customer's
decoded state (in arrival order) and reads the aggregates its features are
built from; then, for each part of the batch (``trip_events`` events), one
call of ``entities.lua`` writes the part's changed blobs back, records its
events at the entities they touch (shared by customers of every shard, so
updated in Redis, atomically) and returns their counts. Those calls are
pipelined: sent as each part is folded, their replies read as the updates
are wanted (``detectors/script_trips.py``). A call needs its customers'
states first: only a fresh event is counted at its entities
(``detectors/entity_batch.pyx`` builds the script's keys and arguments,
the events packed in one string).
Bytewax snapshots none of this: Redis is the state store, and a restarted
worker holds nothing, so it reads what the last batch wrote.

Key layout (namespace ``ns``; a customer's key carries the customer id as a
hash tag, an entity's keys their entity)::

    ns:{C}:st     string  the customer's whole state as one MessagePack blob,
                          written once per batch that changes it: newest event,
                          the txn_ids of the dedup horizon, the exact log (48 h
                          + lateness) of coded events, UTC-day buckets of the
                          events folded out of it, each value's latest folded
                          sighting, the latest folded event overall / per
                          channel / card-present position, the six latest
                          salary credits, per-kind Welford baselines
                          (``customer_fold.py`` gives the layout)
    ns:{b|N}      hash    bucket N of the entities (N = CRC-32 of the entity's
                          letter and id modulo ``state.entity_buckets``):
                          field letter+ID -> the entity's whole state as one
                          blob (struct-packed, read and written once per
                          batch): its newest event, its event counts in
                          5-minute, hour and day buckets (only those a window
                          can still reach) and, up to 32 of them, its
                          customers with their latest event there
                          (``entities.lua`` gives the layout), while the blob
                          is at most ``hash-max-listpack-value`` bytes (64 by
                          default), so that the hash stays a compact
                          listpack; field "" -> the newest event (ms) of any
                          of its entities; entity letters: t terminal,
                          m merchant, v device, p counterparty
    ns:{t|ID}     string  the same blob when it is longer (an entity with many
                          customers), or when its field name (letter + ID)
                          alone is longer than that limit
    ns:{t|ID}:c   zset    customer -> latest event ms at that entity, only
                          while it keeps more than 32 customers (the blob then
                          lists none): scanning more per event costs more than
                          a ZCOUNT

The label-driven entity counts (``terminal_fraud_*``, ``merchant_fraud_*``)
can add their own keys beside these: ``entity_key(ns, "t", terminal_id,
"fraud")`` keeps them in the entity's slot.

What is exact (an event that arrives no later than the allowed lateness
behind its customer's newest event; "arrived" = recorded before it):

- every window of 1 min to 48 h (counts, sums, channels, cash, distinct
  values, passthrough): exactly the arrived events with event time in
  ``(ts - W, ts]``, read from the exact log;
- 7 d and 30 d windows: the exact log's part is exact; older events live in
  UTC-day buckets, and a bucketed day counts only if it starts inside the
  window (``day_start > ts - W``), so the far edge is rounded in to a day
  boundary: the window spans between W − 1 day and W;
- distinct values over 30 d: logged values exactly; a value seen only in
  folded events counts when the day of its latest sighting starts inside the
  window (the buckets' rule); the first-seen flags are exact over the 30
  days up to the event (each value's latest sighting is kept to the ms);
- merchant, device and counterparty ids are told apart by a 64-bit digest
  (distinct counts, first-seen flags): two ids of one customer would be
  counted as one with odds of about k^2 / 2^65 for k ids of a kind; so are
  the txn ids of events folded out of the log: a fresh event would be taken
  for a duplicate (and not recorded) with odds of k / 2^64 for k ids kept;
- time since the previous event (overall, per channel), the previous
  card-present position (of two at the same ms, the one whose txn id has
  the greater digest) and the salary dates: exact in event time;
- baselines (running mean and variance per kind): in arrival order, each
  event updating them once;
- entities (shared by many customers, so updated by several workers in
  whatever order they run): counts in 5-minute (1 h), hour (24 h) and day
  (7 d) buckets from the bucket after ``ts - W`` to the one holding ``ts``,
  and the customers whose latest event there is after ``ts - W``; exact for
  an event no later than the allowed lateness behind the entity's newest
  event (an entity keeps what its windows can reach from its newest event
  minus the lateness, and a customer until 7 days + lateness after its latest
  event there) and no more than a day behind the newest event of its bucket
  (an entity whose newest event is 8 days + lateness before the start of its
  bucket's newest day is expired: swept from the bucket, or read as new).
  The entity state a set of such events leaves does not depend on the order
  they arrive in (buckets and customers are stored sorted; whether a blob is
  a field or a key depends on its length; what is expired on the bucket's
  newest event); what an event reads does (the events recorded before it).

A duplicate ``txn_id`` changes nothing and is assessed at its first event
time on the current state. An event later than the allowed lateness is still
recorded (a replay of it is a duplicate) and flagged ``late``; its own
features may miss history already folded into buckets. An event older than
the dedup horizon behind the newest is not recorded (``stale``): its id may
have been forgotten, so recording it could count a replay twice.

Inactive entities expire: an entity's own key and a bucket after 8 days +
lateness of wall time without a write (their TTL), a bucket's field (Redis
cannot expire one) when its bucket's newest event is 8 to 9 days + lateness
past the entity's newest (the script sweeps a bucket once per day of its
event time). ``state.entity_buckets`` should be about the number of live
entities / 64: a bucket past ``hash-max-listpack-entries`` (128 by default)
fields becomes a hash table, which costs memory but changes no count;
changing it starts entity counts afresh (an entity is looked for in its new
bucket only; the old fields are swept or expire with their buckets). Both
listpack limits are read from the server once (CONFIG GET; Redis's defaults
if refused).

Entity state of the one-key layout (every blob its own key) is read where it
is and moves to its bucket when next written; state written before that
layout (a ``:n`` ring blob beside the ``:c`` zset) is not read: after an
upgrade entity counts start afresh, the old ``:n`` keys expire by their TTL,
and a leftover ``:c`` is deleted before the script ever uses that name.

Redis Cluster: the MGET and the entity script span many slots (entities,
buckets); the store needs a single Redis (or a proxy that runs them across
slots). Redis 6.2 or later (``ZADD GT``).

A second writer of a customer's blob (two workers owning one shard during a
rebalance, or another process writing the namespace) is not guarded
against: the later write of the blob would win, and a worker would not see
the other's writes to a customer it holds until it drops it. Bytewax routes
a shard to exactly one worker, so this does not arise in a running cluster.

Errors::

    StateError
     └── StateUnavailable   Redis could not be reached or refused the batch
"""

from __future__ import annotations

import logging
import os
import time
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import redis

from detectors.customer_fold import (
    KIND_CASH_IN,
    KIND_CASH_OUT,
    KIND_SALARY,
    Assessment,
    EventCodes,
    FoldParams,
    UpdateMaker,
    digest,
    dump,
    fold_part,
)
from detectors.entity_state import ENTITIES as ENTITIES  # re-exported: features, tests
from detectors.entity_state import EntityBatch, EntityScript
from detectors.held_states import Held, HeldStates
from detectors.keys import key
from detectors.script_trips import ScriptTrips
from riskwatch.contracts import Transaction

logger = logging.getLogger(__name__)

#: The customer windows, in seconds, and the channel, cash and entity windows.
WINDOWS = (60, 600, 3600, 86400, 7 * 86400, 30 * 86400)
CHANNEL_WINDOWS = (3600, 86400, 7 * 86400, 30 * 86400)
CASH_WINDOWS = (86400, 2 * 86400, 7 * 86400)
ENTITY_WINDOWS = (3600, 86400, 7 * 86400)
#: Channels in the order the script returns them, with their one-letter codes.
CHANNEL_CODES = {"atm": "a", "pos": "p", "online": "o", "mobile": "m", "counter": "c",
                 "thirdparty": "t"}  # fmt: skip
CARD_PRESENT = frozenset({"pos", "atm"})
_CHANNEL_INDEX = {name: i for i, name in enumerate(CHANNEL_CODES)}

_N_WINDOWS = 4 * len(WINDOWS)
_N_CHANNELS = 4 * len(CHANNEL_CODES) * len(CHANNEL_WINDOWS)
_N_CASH = 4 * len(CASH_WINDOWS)
_HEAD = 4 + _N_WINDOWS + _N_CHANNELS + _N_CASH


class StateError(Exception):
    """The state store failed."""


class StateUnavailable(StateError):
    """Redis could not be reached or refused a batch."""


def window_label(seconds: int) -> str:
    """A short name for a window length, used in feature names.

    >>> [window_label(s) for s in (60, 600, 3600, 86400, 172800, 604800)]
    ['1m', '10m', '1h', '24h', '48h', '7d']
    >>> window_label(30 * 86400)
    '30d'
    """
    if seconds % 86400 == 0 and seconds // 86400 >= 3:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


@dataclass(frozen=True, slots=True)
class StateUpdate:
    """What the state store knows about a customer as of one transaction.

    Amounts are in minor units; times in epoch milliseconds, -1 for none.
    """

    fresh: bool
    """False when the txn_id had been seen: nothing was changed."""
    newest_ts_ms: int
    late: bool
    """True when the event is later than the allowed lateness: its history may be short."""
    stale: bool
    """True when the event is older than the dedup horizon behind the newest: its id
    could have been forgotten, so it was not recorded (nor is it a duplicate)."""
    ts_ms: int
    """The event time assessed: a duplicate's first sighting's."""
    totals: array[int]
    """An ``array('q')`` (the fold's C long longs, read as such by the feature builder;
    any other sequence of ints is accepted, and read as an ``array('q')`` of it). The
    Assessment shares it: not to be changed. Two updates compare equal only if both
    hold arrays (an array never equals a tuple). Per window (WINDOWS) debit count, debit sum,
    credit count, credit sum; then per channel (CHANNEL_CODES order) and
    CHANNEL_WINDOWS the same four; then per CASH_WINDOWS cash-in count, sum,
    cash-out count, sum."""
    passthrough_minor: int
    """Debits of the last 24 h at or after its first credit."""
    max_inflow_minor: int
    distinct: tuple[int, ...]
    """merchants 24h/30d, devices 24h/30d, countries 24h/30d, counterparties
    24h/30d, senders 24h, recipients 24h."""
    prev_ts_ms: int
    prev_channel_ts_ms: int
    new_flags: tuple[int, int, int, int]
    """device, counterparty, country, mcc."""
    prev_geo: tuple[int, float, float] | None
    baseline: tuple[int, float, float]
    """n, mean (minor units) and sum of squared deviations before this event."""
    entities: dict[str, tuple[int, ...]]
    """Per entity prefix present: counts 1h/24h/7d, customers 1h/24h/7d."""
    salary_ts_ms: tuple[int, ...]
    """The latest (up to six) salary credits at or before the event."""


def empty_update(ts_ms: int) -> StateUpdate:
    """The state of a customer with no history, for a first transaction without any entity."""
    return StateUpdate(
        fresh=True, newest_ts_ms=ts_ms, late=False, stale=False, ts_ms=ts_ms,
        totals=array("q", [0]) * (_HEAD - 4), passthrough_minor=0, max_inflow_minor=0,
        distinct=(0,) * 10, prev_ts_ms=-1,
        prev_channel_ts_ms=-1, new_flags=(0, 0, 0, 0), prev_geo=None, baseline=(0, 0.0, 0.0),
        entities={}, salary_ts_ms=(),
    )  # fmt: skip


#: Kinds with a code of their own in the fold, by direction (credit?) and kind.
_KIND_CODES = {
    (False, "cash_deposit"): KIND_CASH_IN, (True, "cash_deposit"): KIND_CASH_IN,
    (False, "cash_withdrawal"): KIND_CASH_OUT, (True, "cash_withdrawal"): KIND_CASH_OUT,
    (True, "salary"): KIND_SALARY,
}  # fmt: skip


class CustomerStateStore:
    """Batched, idempotent updates of customers' and entities' state.

    A batch reads with one MGET the customer blobs the worker does not hold,
    then is recorded in parts of at most ``trip_events`` events, one
    ``entities.lua`` call each: it writes the part's changed customer blobs
    and records the part's events at their entities in one script run that
    no other command interleaves with (a crash lands before or after it), and
    returns their entity counts. A call that fails writes no customer (they
    come last in the script, after every read) and the calls sent after it
    refuse to run (a guard key chains them), so a failed batch leaves a
    leading run of its parts recorded, which a replay completes. The calls
    are pipelined (:mod:`detectors.script_trips`): each part is sent as soon
    as it is folded, and its reply read when its updates are wanted, so
    Redis runs one part while the worker folds the next. A call needs its
    customers' states first: whether an event is fresh (and so counted at
    its entities) is known only once its customer's state is read.
    """

    def __init__(
        self,
        client: redis.Redis,
        namespace: str,
        dedup_horizon_seconds: int,
        ttl_seconds: int,
        allowed_lateness_seconds: int = 3600,
        held_customers: int = 20_000,
        entity_buckets: int = 65_536,
        trip_events: int = 48,
    ) -> None:
        if trip_events < 1:
            raise ValueError(f"trip_events must be at least 1, not {trip_events}")
        self._client = client
        self._namespace = namespace
        lateness_ms = allowed_lateness_seconds * 1000
        horizon_ms = 2 * 86400 * 1000 + lateness_ms
        self._params = FoldParams(
            lateness=int(lateness_ms),
            dedup=int(max(dedup_horizon_seconds * 1000, horizon_ms)),
        )
        self._ttl_ms = int(ttl_seconds * 1000)
        self._entities = EntityScript(client, lateness_ms, entity_buckets)
        self._held = HeldStates(client, self._ttl_ms, held_customers)
        self._trip_events = trip_events
        self._in_flight: set[str] = set()
        """Customers of the batches sent and not yet read to their end (see begin)."""
        self.blobs_written = 0
        """Customer blobs packed and compressed for writing so far (one per customer per
        batch; one that would not shrink is sent as is): with ``blobs_read``, how much of
        the per-customer work a workload's batches share. A statistic: worker threads
        sharing the store add to it without a lock."""

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def blobs_read(self) -> int:
        """Customers read from Redis so far because they were not held (HeldStates.read)."""
        return self._held.read

    def apply(self, txns: Sequence[Transaction]) -> list[StateUpdate]:
        """Record a batch of transactions in order; its state updates, in the same order."""
        return list(self.updates(txns))

    def updates(self, txns: Sequence[Transaction]) -> Iterator[StateUpdate]:
        """Record a batch of transactions in order, yielding their state updates in order.

        The whole batch is folded and sent when the first update is asked
        for; each later part's reply is read only when its first update is:
        work done between updates (building features) overlaps Redis running
        the later parts. Raises :class:`StateUnavailable` (while iterating)
        if Redis fails. Leaving the iteration early (closing the generator) is
        allowed: the replies still due are read, so the batch is recorded all
        the same (and a failure then raises from ``close()``). Consumers
        should close it (``contextlib.closing``) so that an error of their
        own does not leave the connection waiting for the garbage collector.
        """
        yield from self.begin(txns)

    def begin(self, txns: Sequence[Transaction]) -> Iterator[StateUpdate]:
        """Fold and send the batch now; its updates come as the returned iterator is read.

        :meth:`updates` does the same at its first update. Here the caller
        can do other work before reading the first one (another shard's
        batch, the next input): Redis records the batch meanwhile, so
        neither side waits for the other at a batch's end. The iterator holds
        a connection of the pool until it is read to its end or closed, and
        is read and closed as :meth:`updates`'s. Raises
        :class:`StateUnavailable` at once if the batch cannot be sent, and
        ValueError if it shares a customer with a batch whose updates are
        still being read: it would be folded on held states that Redis has
        not confirmed, and if that batch then failed its events would be in
        the customers' blobs (written by this one) but not at their entities.
        """
        coming = self._record(txns)
        next(coming, None)  # folds and sends (a batch without events sends nothing)
        return coming  # type: ignore[return-value]  # only the priming yield is None

    def _record(self, txns: Sequence[Transaction]) -> Iterator[StateUpdate | None]:
        """:meth:`updates`, first yielding None once every call of the batch is sent."""
        if not txns:
            return
        # Each customer's last position in the batch, and its key (once per customer).
        last = {txn.customer_id: i for i, txn in enumerate(txns)}
        in_flight = self._in_flight
        if not in_flight.isdisjoint(last):
            msg = "a batch shares customers with one whose updates are still being read"
            raise ValueError(msg)
        keys = {cid: key(self._namespace, cid, "st") for cid in last}
        try:
            held = self._held.take(keys)
        except redis.RedisError as exc:
            raise _unavailable(len(txns), exc) from exc
        done = False
        in_flight.update(last)
        try:
            with ScriptTrips(self._client, self._entities.script) as trips:
                plain: set[str] = set()
                step = self._trip_events
                starts = range(0, len(txns), step)
                guard = f"{self._namespace}:trip:{os.urandom(8).hex()}"
                parts = [
                    self._send(txns, i, i + step, keys, held, last, plain, trips, guard, seq)
                    for seq, i in zip(_call_numbers(len(starts)), starts, strict=True)
                ]
                read = 0
                try:
                    yield None
                    for part in parts:
                        counts = self._receive(part, trips)
                        read += 1
                        # Built in one compiled call: a generated __init__ per update costs
                        # several times as much (fold.UpdateMaker says why).
                        entities = part.entities.counts(counts)
                        yield from _UPDATES.updates(part.assessed, entities)
                except GeneratorExit:
                    # Left early (before the first update too): the calls not read yet
                    # still are, so that what was sent is surely recorded and the held
                    # states true.
                    for later in parts[read:]:
                        self._receive(later, trips)
                    done = True
                    raise
            done = True
        except redis.RedisError as exc:
            raise _unavailable(len(txns), exc) from exc
        finally:
            in_flight.difference_update(last)
            if not done:
                # The held states may be ahead of Redis: read them again.
                self._held.drop(keys)

    def _receive(self, part: _Part, trips: ScriptTrips) -> bytes:
        """A sent part's entity counts (packed: EntityBatch.counts reads them), once
        Redis has recorded it."""
        if not part.sent:
            return b""
        counts: bytes = trips.receive()
        self._held.written(part.changed, part.sent_at)
        return counts

    def _send(
        self,
        txns: Sequence[Transaction],
        start: int,
        stop: int,
        keys: dict[str, str],
        held: dict[str, Held],
        last: dict[str, int],
        plain: set[str],
        trips: ScriptTrips,
        guard: str,
        seq: int,
    ) -> _Part:
        """Fold ``txns[start:stop]`` into the held states and send its script call.

        ``last`` is each customer's last position in the batch: a blob that a
        later call of the batch may write again is sent uncompressed (it is
        replaced within milliseconds, and compressing it costs as much as
        packing it), and noted in ``plain``; the call holding a customer's
        last event writes it compressed, changed or not.
        """
        part = _Part(self._entities.batch(self._namespace))
        entities, changed = part.entities, part.changed
        # Each event: made an Event (_event), folded (assess), added at its entities, its
        # customer noted in ``changed`` if fresh; compiled: as Python, this loop's glue
        # cost some 8k of the ~184k instructions per event of updates().
        fold_part(txns[start:stop], held, self._params, _EVENT_CODES, entities, changed,
                  part.assessed)  # fmt: skip
        if plain:
            # Interim blobs whose customer has no later event in the batch.
            finished = [cid for cid in plain if last[cid] < stop]
            plain.difference_update(finished)
            changed.update(finished)
        if changed or entities or seq != -1:
            # (A batch of several calls sends each of them: they are chained.)
            written = list(changed)
            blobs = []
            compressed = 0
            for cid in written:
                final = last[cid] < stop
                blobs.append(dump(held[cid].state, final))
                if final:
                    compressed += 1
                else:
                    plain.add(cid)
            self.blobs_written += compressed
            call_keys, args = entities.call(
                [keys[cid] for cid in written], blobs, self._ttl_ms, guard, seq
            )
            part.sent_at = time.monotonic()
            trips.send(call_keys, args)
            part.sent = True
        return part


def _unavailable(events: int, exc: redis.RedisError) -> StateUnavailable:
    return StateUnavailable(f"state update of a batch of {events} transactions failed: {exc}")


def _call_numbers(calls: int) -> list[int]:
    """The ``seq`` of each of a batch's calls (``EntityBatch.call``): the last one negative.

    >>> _call_numbers(1), _call_numbers(3)
    ([-1], [1, 2, -3])
    """
    return [*range(1, calls), -calls]


@dataclass(slots=True)
class _Part:
    """One script call's share of a batch: its assessments, entities and written customers."""

    entities: EntityBatch
    assessed: list[Assessment] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)
    sent: bool = False
    sent_at: float = 0.0


#: Makes a Transaction the fold's Event (compiled): its txn id, merchant, device and
#: counterparty as digests; its channel, direction and kind as one code; coordinates
#: only of a card-present event with both.
_EVENT_CODES = EventCodes(_CHANNEL_INDEX, _KIND_CODES, CARD_PRESENT, digest, Transaction)
_event = _EVENT_CODES.event
_UPDATES = UpdateMaker(StateUpdate)
