"""The state store's compiled per-event glue (detectors/fold.pyx) against the Python it replaced.

``CustomerStateStore._send`` once made each Transaction an Event in Python,
folded it with ``assess``, added it at its entities and noted its customer
if fresh; ``updates`` made each StateUpdate one by one. The
compiled ``EventCodes``, ``fold_part`` and ``UpdateMaker`` must give the
same events, assessments, entity calls and blobs, on traffic with
duplicates, late and stale events, and card-present events without
coordinates.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, replace
from datetime import timedelta
from hashlib import blake2b
from typing import Any

import orjson
import pytest

from detectors import customer_fold
from detectors.customer_fold import (
    KIND_OTHER,
    EventCodes,
    Memo,
    UpdateMaker,
    assess,
    dump,
    fold_part,
    new_state,
)
from detectors.held_states import Held
from detectors.state import (
    _CHANNEL_INDEX,
    _EVENT_CODES,
    _KIND_CODES,
    CARD_PRESENT,
    StateUpdate,
    _event,
)
from riskwatch.contracts import Transaction
from riskwatch.parsing import InvalidRecord, ValidationLimits, parse_transaction
from simulator import SimulationConfig, simulate
from tests.test_fold_compiled import update_as_dataclass

PARAMS = customer_fold.FoldParams(lateness=3_600_000, dedup=4 * 86_400_000)


def reference_digest(value: str | None) -> int | None:
    """customer_fold.digest as it was written in Python."""
    if value is None:
        return None
    return int.from_bytes(blake2b(value.encode(), digest_size=8).digest(), "big")


def reference_event(txn: Transaction) -> customer_fold.Event:
    """detectors.state._event as it was written in Python."""
    lat, lon = txn.lat, txn.lon
    if txn.channel in CARD_PRESENT and lat is not None and lon is not None:
        lat, lon = float(lat), float(lon)
    else:
        lat = lon = None
    credit = txn.direction == "credit"
    code = _CHANNEL_INDEX[txn.channel] * 8 + (4 if credit else 0)
    return customer_fold.Event(
        reference_digest(txn.txn_id), txn.ts_ms,
        code + _KIND_CODES.get((credit, txn.kind), KIND_OTHER), txn.amount_minor,
        reference_digest(txn.merchant_id), reference_digest(txn.device_id), txn.country,
        reference_digest(txn.counterparty_account), txn.mcc, lat, lon, txn.kind or "",
    )  # fmt: skip


def _event_fields(ev: customer_fold.Event) -> tuple[Any, ...]:
    names = ("txn", "ts", "code", "amount", "merchant", "device", "country", "counterparty",
             "mcc", "lat", "lon", "base_kind")  # fmt: skip
    return tuple((getattr(ev, n), type(getattr(ev, n))) for n in names)


@pytest.fixture(scope="module")
def traffic() -> list[Transaction]:
    """Simulated traffic, with replays, late and stale events and odd coordinates mixed in."""
    txns = [e.txn for e in simulate(SimulationConfig(seed=9, customers=10, days=8))]
    rng = random.Random(4)
    out: list[Transaction] = []
    for i, txn in enumerate(txns):
        out.append(txn)
        r = rng.random()
        if r < 0.05 and i > 0:
            out.append(txns[rng.randrange(i)])  # a replay of an earlier event
        elif r < 0.08:
            back = timedelta(hours=rng.choice([2, 30, 24 * 6]))  # late; the last one stale
            out.append(replace(txn, txn_id=txn.txn_id + "-late", ts=txn.ts - back))
        elif r < 0.10:
            out.append(
                replace(txn, txn_id=txn.txn_id + "-nolon", channel="pos", lat=48.5, lon=None)
            )
        elif r < 0.12:
            out.append(replace(txn, txn_id=txn.txn_id + "-ünï", channel="online", lat=1, lon=2))
    return out


def test_digest_is_blake2b_of_the_id() -> None:
    """The compiled BLAKE2b against hashlib's: lengths around its 128-byte blocks, UTF-8."""
    rng = random.Random(3)
    alphabet = "aZ09-_.é€𝄞"
    ids: list[str | None] = [None, "", "T-1", "M-HGH-00006", "ünïcödé-€"]
    for n in [*range(140), 255, 256, 257, 1000]:
        ids.append("".join(rng.choice(alphabet) for _ in range(n)))

    class Id(str):
        pass

    ids.append(Id("T-1"))
    assert [customer_fold.digest(v) for v in ids] == [reference_digest(v) for v in ids]
    for bad, error in ((7, AttributeError), (b"T-1", AttributeError),
                       ("\ud800", UnicodeEncodeError)):  # fmt: skip
        with pytest.raises(error):
            customer_fold.digest(bad)  # type: ignore[arg-type]


def test_events_are_made_as_the_python_did(traffic: list[Transaction]) -> None:
    assert any(t.channel in CARD_PRESENT and t.lon is None for t in traffic)
    for txn in traffic:
        assert _event_fields(_event(txn)) == _event_fields(reference_event(txn))
    with pytest.raises(KeyError):
        _event(replace(traffic[0], channel="carrier pigeon"))


class _Entities:
    """Records what the loop adds, as EntityBatch.add is called."""

    def __init__(self) -> None:
        self.added: list[tuple[Any, ...]] = []

    def add(self, txn: Transaction, ts_ms: int, fresh: bool) -> None:
        self.added.append((txn.txn_id, ts_ms, type(ts_ms), fresh, type(fresh)))


def test_fold_part_folds_as_the_python_loop_did(traffic: list[Transaction]) -> None:
    customers = {t.customer_id for t in traffic}
    mine = {c: Held(new_state(), 0.0) for c in customers}
    theirs = {c: (new_state(), Memo()) for c in customers}
    late = fresh = 0
    for start in range(0, len(traffic), 37):
        part = traffic[start : start + 37]
        entities, changed, assessed = _Entities(), set(), []
        fold_part(part, mine, PARAMS, _EVENT_CODES, entities, changed, assessed)

        ref_entities, ref_changed, ref_assessed = _Entities(), set(), []
        for txn in part:
            state, memo = theirs[txn.customer_id]
            a = assess(state, reference_event(txn), PARAMS, memo)
            if a.fresh:
                ref_changed.add(txn.customer_id)
            ref_entities.add(txn, a.ts, a.fresh)
            ref_assessed.append(a)
        assert [a.as_tuple() for a in assessed] == [a.as_tuple() for a in ref_assessed]
        assert entities.added == ref_entities.added
        assert changed == ref_changed
        late += sum(a.late > 0 for a in assessed)
        fresh += sum(a.fresh for a in assessed)

        counts = [{"t": (i, 1, 2, 3, 4, 5)} if i % 3 else {} for i in range(len(part))]
        updates = UpdateMaker(StateUpdate).updates(assessed, counts)
        pairs = zip(assessed, counts, strict=True)
        one_by_one = [update_as_dataclass(a, e) for a, e in pairs]
        assert updates == one_by_one

        def types(u: StateUpdate) -> list[type]:
            return [type(getattr(u, f)) for f in StateUpdate.__slots__]

        assert [types(u) for u in updates] == [types(u) for u in one_by_one]
        assert UpdateMaker(StateUpdate).updates(assessed, tuple(counts)) == updates
        with pytest.raises(ValueError, match="assessments"):
            UpdateMaker(StateUpdate).updates(assessed, counts[1:])
    assert late > 0 and fresh < len(traffic), "the traffic has late events and replays"
    for c in customers:
        assert dump(mine[c].state) == dump(theirs[c][0])


@dataclass(frozen=True, slots=True)
class _Tagged(Transaction):
    """A Transaction of another class: its fields are read by name."""

    tag: str = ""


def test_events_are_the_same_whether_slots_are_read_or_looked_up(
    traffic: list[Transaction],
) -> None:
    """Parsed (derived slots set), built (unset until asked) or of a subclass: one Event."""
    by_name = EventCodes(_CHANNEL_INDEX, _KIND_CODES, CARD_PRESENT, reference_digest)
    now = max(t.ts for t in traffic) + timedelta(days=1)
    parsed = 0
    for txn in traffic[:400]:
        kinds = [replace(txn), _Tagged(**{f: getattr(txn, f) for f in txn.__dataclass_fields__})]
        payload = orjson.dumps(txn.to_json_dict())
        with contextlib.suppress(InvalidRecord):  # the traffic's odd ids, which parsing refuses
            kinds.append(parse_transaction(payload, now, ValidationLimits()))
        parsed += len(kinds) == 3
        want = _event_fields(by_name.event(txn))
        for made in kinds:
            assert _event_fields(_event(made)) == want
    assert parsed > 150
    with pytest.raises(TypeError, match="not a plain slot"):
        EventCodes(_CHANNEL_INDEX, _KIND_CODES, CARD_PRESENT, reference_digest, dict)


def test_event_codes_take_their_tables() -> None:
    codes = EventCodes({"pos": 5}, {(True, "refund"): 3}, frozenset({"pos"}), reference_digest)
    txn = next(e.txn for e in simulate(SimulationConfig(seed=1, customers=2, days=1)))
    txn = replace(txn, channel="pos", direction="credit", kind="refund", lat=1.5, lon=2)
    ev = codes.event(txn)
    assert (ev.code, ev.lat, ev.lon, type(ev.lon)) == (5 * 8 + 4 + 3, 1.5, 2.0, float)


def test_update_maker_takes_only_a_class_of_the_update_slots() -> None:
    @dataclass(frozen=True, slots=True)
    class Short:
        fresh: bool

    class Other:
        __slots__ = StateUpdate.__slots__

        def __new__(cls) -> Other:
            return super().__new__(cls)

    for cls in (Short, Other, dict):
        with pytest.raises(TypeError):
            UpdateMaker(cls)


def test_the_compiled_glue_refuses_what_it_cannot_use(traffic: list[Transaction]) -> None:
    """Wrong arguments raise instead of being read as what they are not (it used to crash)."""
    txn = traffic[0]
    with pytest.raises(TypeError):
        fold_part([txn], {txn.customer_id: Held(new_state(), 0.0)}, PARAMS, None,
                  _Entities(), set(), [])  # fmt: skip
    with pytest.raises(TypeError):
        UpdateMaker(StateUpdate).updates([object()], [{}])
    # A held state without its memo folds as assess() does without one.
    held = Held(new_state(), 0.0)
    held.memo = None
    assessed: list[Any] = []
    fold_part([txn], {txn.customer_id: held}, PARAMS, _EVENT_CODES, _Entities(), set(), assessed)
    expected = assess(new_state(), reference_event(txn), PARAMS, None)
    assert [a.as_tuple() for a in assessed] == [expected.as_tuple()]
