"""The compiled entity batch against the layout entities.lua reads, written plainly here.

:class:`Layout` packs the events and reads the counts with ``struct`` as
``detectors/entity_batch.pyx`` and the header of ``entities.lua`` describe
them: the compiled batch must make exactly its keys and arguments and read
exactly its counts, and the script, given events packed by it, must count
what a hand-worked example says (a customer id, a time, a fresh flag or an
entity number read from the wrong place changes the counts).
"""

from __future__ import annotations

import struct
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.entity_batch import EntityBatch
from detectors.entity_state import ENTITIES, EntityScript, place
from detectors.lua_script import ints_as_text

HOUR = 3_600_000
#: A customer id longer than a length byte could give.
LONG_ID = "C-" + "x" * 300


class Layout:
    """One call's events, keys and counts, as documented, with ``struct``."""

    def __init__(self, places: dict, place: Any) -> None:
        self.places, self.place = places, place
        self.numbers: dict[str, int] = {}
        self.buckets: dict[str, int] = {}
        self.entity_keys: list[str] = []
        self.heads: list[Any] = []
        self.events = b""
        self.present: list[int] = []

    def add(self, txn: Any, ts_ms: int, fresh: bool) -> None:
        numbers, present = [], 0
        for bit, (_, letter, attr) in enumerate(ENTITIES):
            value = getattr(txn, attr)
            if value is None:
                continue
            field = letter + value
            if field not in self.numbers:
                self.numbers[field] = len(self.numbers) + 1
                if field not in self.places:
                    self.places[field] = self.place(letter, value, field)
                own, zset, bucket, _ = self.places[field]
                self.entity_keys += (own, zset)
                number = (
                    0 if bucket is None else self.buckets.setdefault(bucket, len(self.buckets) + 1)
                )
                self.heads += (number, field)
            numbers.append(self.numbers[field])
            present |= 1 << bit
        self.present.append(present)
        if numbers:
            cid = txn.customer_id.encode()
            self.events += struct.pack("<qBBH", ts_ms, fresh, len(numbers), len(cid)) + cid
            self.events += struct.pack("<4I", *numbers, *[0] * (4 - len(numbers)))

    def call(self, customer_keys: list, blobs: list, ttl_ms: int, guard: str, seq: int) -> tuple:
        keys = [*self.entity_keys, *self.buckets, *customer_keys, guard]
        args = [len(self.numbers), len(blobs), ttl_ms, *self.heads, self.events, *blobs, seq]
        return keys, args

    def counts(self, reply: bytes) -> list[dict[str, tuple[int, ...]]]:
        out, at = [], 0
        for present in self.present:
            entities = {}
            for bit, (prefix, _, _) in enumerate(ENTITIES):
                if present >> bit & 1:
                    entities[prefix] = struct.unpack_from("<6I", reply, at)
                    at += 24
            out.append(entities)
        assert at == len(reply)
        return out


def both(field_max: int = 64) -> tuple[EntityBatch, Layout]:
    where = partial(place, "ns", 7, field_max)
    return EntityBatch([{} for _ in ENTITIES], where), Layout({}, where)


def event(customer: str, **ids: str | None) -> SimpleNamespace:
    return SimpleNamespace(customer_id=customer, **{attr: ids.get(attr) for _, _, attr in ENTITIES})


ids = st.one_of(st.none(), st.sampled_from(("1", "2", "a-long-entity-id")))
events = st.lists(
    st.tuples(
        st.sampled_from(("C1", "C2", "customer-3", LONG_ID)),
        st.tuples(ids, ids, ids, ids),
        st.integers(-(2**40), 2**50),
        st.booleans(),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(events=events, field_max=st.sampled_from((3, 64)), data=st.data())
def test_the_compiled_batch_makes_and_reads_the_documented_layout(
    events: list, field_max: int, data: st.DataObject
) -> None:
    compiled, layout = both(field_max)
    for customer, entity_ids, ts_ms, fresh in events:
        txn = event(
            customer, **{attr: v for (_, _, attr), v in zip(ENTITIES, entity_ids, strict=True)}
        )
        compiled.add(txn, ts_ms, fresh)
        layout.add(txn, ts_ms, fresh)
    assert bool(compiled) == bool(layout.events)
    call = (["ns:{C1}:st"], [b"blob"], 5000, "ns:trip:1", -1)
    (keys, args), (want_keys, want_args) = compiled.call(*call), layout.call(*call)
    assert keys == want_keys
    assert ints_as_text(args) == ints_as_text(want_args)
    pairs = sum(bin(p).count("1") for p in layout.present)
    reply = data.draw(st.binary(min_size=24 * pairs, max_size=24 * pairs))
    assert compiled.counts(reply) == layout.counts(reply)
    for wrong in (reply + b"\0", reply[:-1]) if pairs else (b"\0" * 24,):
        with pytest.raises(ValueError):
            compiled.counts(wrong)


def test_events_without_entities_read_an_empty_reply() -> None:
    compiled, _ = both()
    compiled.add(event("C1"), 0, True)
    assert not compiled
    assert compiled.counts([]) == compiled.counts(b"") == [{}]


def test_a_customer_id_beyond_its_length_field_is_refused_before_anything_is_added() -> None:
    compiled, _ = both()
    with pytest.raises(ValueError, match="too long"):
        compiled.add(event("C" * 70_000, merchant_id="M1"), 0, True)
    assert not compiled
    assert compiled.counts(b"") == []
    assert compiled.call([], [], 1000, "guard", -1) == (["guard"], [0, 0, 1000, b"", -1])


def test_the_script_reads_each_event_where_the_batch_wrote_it(
    redis_url: str, key_prefix: str
) -> None:
    """Counts worked out by hand; a field read from the wrong bytes changes one of them."""
    client = redis.Redis.from_url(redis_url)
    script = EntityScript(client, HOUR, 7)
    t = 1_767_571_200_000  # 2026-01-05
    batch = script.batch(key_prefix)
    layout = Layout({}, partial(place, key_prefix, script.buckets, script.value_max))
    sent = [
        (event("C-1", terminal_id="T1", merchant_id="M1"), t, True),
        (event(LONG_ID, merchant_id="M1", device_id="D1"), t + 1, True),
        # Read only: counted at T1 but not recorded there (nor at P1).
        (event("C-2", terminal_id="T1", counterparty_account="P1"), t + 2 * HOUR, False),
        (event("C-2", merchant_id="M1"), t + HOUR // 2, True),
        # The terminal's only customer is still C-1, whose event is 3 h old.
        (event("C-1", terminal_id="T1"), t + 3 * HOUR, True),
    ]
    for txn, ts_ms, fresh in sent:
        batch.add(txn, ts_ms, fresh)
        layout.add(txn, ts_ms, fresh)
    guard = f"{key_prefix}:trip"
    keys, args = batch.call([], [], 1000, guard, -1)
    reply = client.eval(script.source, len(keys), *keys, *ints_as_text(args))
    want_keys, want_args = layout.call([], [], 1000, guard, -1)
    assert (keys, ints_as_text(args)) == (want_keys, ints_as_text(want_args))
    assert (
        batch.counts(reply)
        == layout.counts(reply)
        == [
            {"terminal": (1, 1, 1, 1, 1, 1), "merchant": (1, 1, 1, 1, 1, 1)},
            {"merchant": (2, 2, 2, 2, 2, 2), "device": (1, 1, 1, 1, 1, 1)},
            {"terminal": (0, 1, 1, 0, 1, 1), "counterparty": (0, 0, 0, 0, 0, 0)},
            {"merchant": (3, 3, 3, 3, 3, 3)},
            {"terminal": (1, 2, 2, 1, 1, 1)},
        ]
    )


def test_a_customer_id_made_on_each_read_is_packed_as_it_was_read() -> None:
    """The batch keeps the customer id's text alive while it numbers the event's entities.

    An id computed on access is a fresh string, freed right after it is read
    unless the batch holds it; placing a new entity allocates strings of the
    same size meanwhile, which would then take its memory.
    """

    class Computed:
        terminal_id = device_id = counterparty_account = None

        def __init__(self, n: int) -> None:
            self.n, self.merchant_id = n, f"M{n}"

        @property
        def customer_id(self) -> str:
            return f"customer-{self.n:06d}-{'x' * 40}"

    junk: list[str] = []

    def allocating_place(letter: str, value: str, field: str) -> tuple[str, str, None, str]:
        junk.extend(f"zzzzzzzz-{i:06d}-{'y' * 40}" for i in range(4))
        return "own" + value, "own" + value + ":c", None, field

    batch = EntityBatch([{}, {}, {}, {}], allocating_place)
    txns = [Computed(i) for i in range(200)]
    for i, txn in enumerate(txns):
        batch.add(txn, 1000 + i, True)
    _, args = batch.call([], [], 1, "g", -1)
    packed, at, ids = args[3 + 2 * len(txns)], 0, []
    while at < len(packed):
        size = struct.unpack_from("<H", packed, at + 10)[0]
        ids.append(packed[at + 12 : at + 12 + size].decode())
        at += 12 + size + 16
    assert ids == [t.customer_id for t in txns]


def test_an_entity_whose_place_failed_gets_no_number() -> None:
    """A failed place() leaves the batch as it was: later entities keep their numbers."""

    def place_or_fail(letter: str, value: str, field: str) -> tuple[str, str, None, str]:
        if value == "BAD":
            raise ValueError("no place")
        return "own" + value, "own" + value + ":c", None, field

    batch = EntityBatch([{}, {}, {}, {}], place_or_fail)
    bad = SimpleNamespace(customer_id="C1", terminal_id=None, merchant_id="BAD",
                          device_id=None, counterparty_account=None)  # fmt: skip
    with pytest.raises(ValueError, match="no place"):
        batch.add(bad, 1, True)
    batch.add(SimpleNamespace(**{**vars(bad), "merchant_id": "OK"}), 2, True)
    keys, args = batch.call([], [], 1, "g", -1)
    assert keys == ["ownOK", "ownOK:c", "g"]
    assert args[0] == 1, "one entity, numbered 1"
