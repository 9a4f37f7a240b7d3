"""The compiled plain-record shortcut builds what the field-by-field checks build.

:mod:`riskwatch.plain_record` stands in for
:func:`~riskwatch.parsing.validate_by_field` on plain records. These hold the
two equal field for field and type for type (``==`` alone would let
``Decimal('12.5')`` for ``Decimal('12.50')`` or ``90`` for ``90.0`` through),
with the same hash and the same pickle, on the simulator's records of both
worlds and on malformed ones; and check that the compiled module is the one
imported (there is no interpreted copy to fall back on).
"""

from __future__ import annotations

import importlib.machinery
import pickle
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskwatch import parsing, plain_record
from riskwatch.contracts import Transaction, ts_to_ms
from riskwatch.parsing import (
    InvalidRecord,
    ValidationLimits,
    decode_json,
    parse_transaction,
    validate,
    validate_by_field,
)
from simulator import SCENARIOS, SimulationConfig, simulate_wire
from simulator.handbook import HandbookConfig, handbook_wire
from tests.test_parsing import LIMITS, NOW, good

shortcut = parsing._plain_transaction


def exactly(txn: Transaction) -> tuple[tuple[str, type, str], ...]:
    """Every field with its type and repr, and the derived values: beyond ``==``.

    The derived values are checked against their formulas too: the parser
    keeps its own, from the digits it read.
    """
    derived = ("ts_ms", "amount_minor")
    assert txn.ts_ms == ts_to_ms(txn.ts)
    assert txn.amount_minor == int((txn.amount * 100).to_integral_value())
    return tuple(
        (name, type(v), repr(v)) for name in txn.__slots__ + derived for v in [getattr(txn, name)]
    )


def assert_same(new: Transaction, reference: Transaction) -> None:
    assert type(new) is Transaction
    assert exactly(new) == exactly(reference)
    assert new == reference
    assert hash(new) == hash(reference)
    assert pickle.dumps(new) == pickle.dumps(reference)
    assert new.to_json_dict() == reference.to_json_dict()


def test_the_compiled_shortcut_is_the_one_imported() -> None:
    assert plain_record.__file__ is not None
    assert plain_record.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert plain_record.COMPILED is True


def test_a_built_transaction_is_a_whole_frozen_transaction() -> None:
    raw = (
        b'{"txn_id":"T1","ts":"2026-01-20T10:00:00.250Z","customer_id":"C1","account_id":"A1",'
        b'"channel":"pos","direction":"debit","kind":"purchase","amount":"25.00",'
        b'"currency":"CNY"}'
    )
    txn = parse_transaction(raw, NOW, LIMITS)
    assert txn.card_id is None and txn.counterparty_bank is None  # every slot is filled
    assert txn.ts == datetime(2026, 1, 20, 10, 0, 0, 250_000, tzinfo=UTC)
    assert txn.ts.tzinfo is UTC
    with pytest.raises(AttributeError):
        txn.amount = Decimal("1.00")  # type: ignore[misc]
    assert (txn.ts_ms, txn.amount_minor) == (1768903200250, 2500)
    copy = pickle.loads(pickle.dumps(txn))  # the kept ts_ms and amount_minor are not pickled
    assert copy == txn and (copy.ts_ms, copy.amount_minor) == (txn.ts_ms, txn.amount_minor)
    assert repr(txn).startswith("Transaction(txn_id='T1', ts=datetime.datetime(2026, 1, 20, 10")


@pytest.mark.parametrize(
    "payloads",
    [
        pytest.param(
            lambda: simulate_wire(
                SimulationConfig(
                    seed=21, customers=80, days=4, rates=dict.fromkeys(SCENARIOS, 0.02)
                )
            ),
            id="simulator",
        ),
        pytest.param(
            lambda: handbook_wire(HandbookConfig(seed=5, customers=100, terminals=200, days=10)),
            id="handbook",
        ),
    ],
)
def test_simulated_records_parse_to_the_field_by_field_transaction(payloads: Any) -> None:
    now = datetime.now(UTC) + timedelta(days=3660)  # after every simulated time
    limits = ValidationLimits()
    count = 0
    for event in payloads():
        record = orjson.loads(event.txn)
        assert shortcut(record, now, limits) is not None  # what is compared is the shortcut's
        assert_same(
            parse_transaction(event.txn, now, limits), validate_by_field(record, now, limits)
        )
        count += 1
    assert count > 500


def _outcome(record: Any, now: datetime, limits: ValidationLimits, check: Any) -> Any:
    try:
        return "accepted", exactly(check(record, now, limits))
    except InvalidRecord as exc:
        return exc.reason, str(exc)


#: The simulator's timestamp and amount forms, and every optional field.
_PLAIN = {
    "ts": "2026-01-20T11:00:25.682Z",
    "amount": "23.11",
    "card_id": "card-3e4fa8bf6a5a",
    "terminal_id": "P-SHA-00004-2",
    "device_id": "dev-fa0796481c03",
    "counterparty_account": "acct-1234-5678",
    "counterparty_bank": "alipay",
    "ip": "10.1.2.3",
    "country": "CN",
    "city": "Shanghai",
}


def plain(**changes: Any) -> dict[str, Any]:
    """test_parsing's good record in the simulator's forms, every optional field present."""
    return good(**{**_PLAIN, **changes})


# What the compiled checks read byte by byte, at and beyond each edge.
_TIMESTAMPS = (
    "2026-01-20T13:00:00.000Z", "2026-01-20T13:00:00.001Z", "2026-01-20T13:00:00Z",
    "2026-01-20T13:00:01Z", "1990-01-01T00:00:00.000Z", "1989-12-31T23:59:59.999Z",
    "1990-01-01T00:00:00Z", "2024-02-29T10:00:00.000Z", "2025-02-29T10:00:00.000Z",
    "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z",
    "2026-01-00T00:00:00Z", "2026-01-20T24:00:00.000Z", "2026-01-20T23:60:00Z",
    "2026-01-20T23:59:60Z", "2026-01-20T08:15:00.5Z", "2026-01-20T08:15:00.123456Z",
    "2026-01-20 08:15:00.000Z", "2026-01-20t08:15:00.000Z", "2026-01-20T08:15:00.000z",
    "2026-01-20T08:15:00,000Z", "2026-01-20T08:15:00.000+00:00", "2026-01-20T08:15:00.00xZ",
    "0000-01-20T08:15:00.000Z", "2026-01-2aT08:15:00.000Z", "２026-01-20T08:15:00.000Z",
    "20260120T081500Z", "2026-01-20T08:15Z", "", 1768867200000, 1768910400000, 1768910400001,
)  # fmt: skip
_AMOUNTS = (
    "0.00", "0.01", "00.10", "12.5", "12.345", "12.", ".50", "1000000000.00", "1000000000.01",
    "999999999.99", "12345678901234567.89", "1234567890123456789.00", "1e3", "+1.00", "-1.00",
    "1_000.00", "١٢.٥٠", "12.50 ", " 12.50", "NaN", 12, 12.5, 0, True, None, "",
)  # fmt: skip
_IDS = (
    "", " ", "T 1", "T|1", "T{1}~", "T" * 64, "T" * 65, "t\u00e9", "\x7f", "4111111111111111",
    "4111-1111-1111-1111", "4111 1111 1111 1111", "card-4111111111111111x", "x1234-5678y",
    "acct-4111-1111-1111-1111", "371449635398431", "3714-496353-98431", "1234567890123",
    "1234567890128", 5, None,
)  # fmt: skip
_OTHERS = (
    None, "pos", "POS", "pos ", "atm", "thirdparty", "credit", "debit", "CNY", "EUR", "cny",
    "CN", "ＣＮＹ", "S" * 256, "S" * 257, "", 31.23, 90.0, 90.5, -90.0, 180.0, -180.5, 90, 1,
    float("nan"), float("inf"), [1], {}, True,
)  # fmt: skip
_ID_FIELDS = (
    "txn_id", "customer_id", "account_id", "kind", "card_id", "merchant_id", "terminal_id",
    "device_id", "counterparty_account", "counterparty_bank",
)  # fmt: skip
_OTHER_FIELDS = ("channel", "direction", "currency", "mcc", "ip", "country", "city", "lat", "lon")
_LIMITS = (
    LIMITS,
    ValidationLimits(max_id_length=8, max_future=timedelta(0), max_amount=Decimal("100")),
    ValidationLimits(max_future=timedelta(days=-1), max_amount=Decimal("999999999.99")),
)
_NOWS = (NOW, datetime(2026, 1, 20, 20, 0, tzinfo=timezone(timedelta(hours=8))))

_changes = st.one_of(
    st.tuples(st.just("ts"), st.sampled_from(_TIMESTAMPS)),
    st.tuples(st.just("amount"), st.sampled_from(_AMOUNTS)),
    st.tuples(st.sampled_from(_ID_FIELDS), st.sampled_from(_IDS)),
    st.tuples(st.sampled_from(_OTHER_FIELDS), st.sampled_from(_OTHERS)),
    st.tuples(st.sampled_from(_ID_FIELDS + _OTHER_FIELDS + ("ts", "amount")), st.just(None)),
)


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(_changes, max_size=3),
    st.sampled_from(_LIMITS),
    st.sampled_from(_NOWS),
    st.booleans(),
)
def test_malformed_records_get_the_field_by_field_verdict(
    changes: list[tuple[str, Any]], limits: ValidationLimits, now: datetime, extra_key: bool
) -> None:
    """Accepted alike and built alike, or refused with the same reason and message."""
    record = plain(**dict(changes))
    if extra_key:
        record["channel_ref"] = "x"  # a key outside the contract, tolerated
    new = _outcome(record, now, limits, validate)
    assert new == _outcome(record, now, limits, validate_by_field)
    if not changes and limits is LIMITS:  # the others refuse ids or times of plain()
        assert shortcut(record, now, limits) is not None
    if new[0] == "accepted":
        payload = orjson.dumps(record)
        assert _outcome(decode_json(payload), now, limits, validate) == new


def test_records_that_are_not_plain_dicts_are_judged_field_by_field() -> None:
    class Record(dict[str, Any]):
        pass

    class Key(str):
        __slots__ = ()

    odd_key = {Key("channel") if k == "channel" else k: v for k, v in plain().items()}
    for record in (Record(plain()), {**plain(), 5: "x"}, odd_key):
        assert _outcome(record, NOW, LIMITS, validate) == _outcome(
            record, NOW, LIMITS, validate_by_field
        )
