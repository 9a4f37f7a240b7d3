"""Parsing and validation: every kind of bad input gets a named reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskwatch.parsing import (
    InvalidRecord,
    ValidationLimits,
    parse_transaction,
    redact_card_numbers,
)

NOW = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)
LIMITS = ValidationLimits(max_id_length=64, max_future=timedelta(hours=1))


def good(**changes: Any) -> dict[str, Any]:
    record = {
        "txn_id": "T000001",
        "ts": "2026-01-20T08:15:00+08:00",
        "customer_id": "C000001",
        "account_id": "A000001",
        "channel": "pos",
        "direction": "debit",
        "kind": "purchase",
        "amount": "128.50",
        "currency": "CNY",
        "card_id": "card-9f3a",
        "merchant_id": "M0001",
        "mcc": "5411",
        "lat": 31.23,
        "lon": 121.47,
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not None}


def encode(record: Any) -> bytes:
    return orjson.dumps(record)


def reason_of(payload: bytes) -> str:
    with pytest.raises(InvalidRecord) as caught:
        parse_transaction(payload, NOW, LIMITS)
    assert str(caught.value), "every rejection carries a readable message"
    return caught.value.reason


def test_a_valid_record_becomes_a_transaction() -> None:
    txn = parse_transaction(encode(good()), NOW, LIMITS)
    assert txn.amount == Decimal("128.50")
    assert txn.amount_minor == 12850
    assert txn.ts == datetime(2026, 1, 20, 0, 15, tzinfo=UTC)
    assert txn.card_id == "card-9f3a"
    assert txn.lat == pytest.approx(31.23)


def test_epoch_millisecond_timestamps_are_accepted() -> None:
    txn = parse_transaction(encode(good(ts=1768867200000)), NOW, LIMITS)
    assert txn.ts == datetime(2026, 1, 20, tzinfo=UTC)


def test_numeric_amounts_are_read_without_float_error() -> None:
    txn = parse_transaction(encode(good(amount=0.1)), NOW, LIMITS)
    assert txn.amount == Decimal("0.1")


def test_fields_outside_the_contract_are_tolerated() -> None:
    txn = parse_transaction(encode(good(loyalty_tier="gold")), NOW, LIMITS)
    assert txn.txn_id == "T000001"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(b'{"txn_id": "T1", ', "invalid_json", id="invalid JSON"),
        pytest.param(b"\xff\xfe{}", "not_utf8", id="non-UTF-8 bytes"),
        pytest.param(b"", "empty_record", id="empty line"),
        pytest.param(b"   \t", "empty_record", id="blank line"),
        pytest.param(b"[1, 2, 3]", "not_an_object", id="a JSON array"),
        pytest.param(b'"just text"', "not_an_object", id="a JSON string"),
        pytest.param(encode(good(customer_id=None)), "missing_field", id="missing field"),
        pytest.param(encode(good(channel="fax")), "invalid_field", id="unknown channel"),
        pytest.param(encode(good(direction="sideways")), "invalid_field", id="unknown direction"),
        pytest.param(encode(good(amount=-5)), "invalid_amount", id="negative amount"),
        pytest.param(encode(good(amount=0)), "invalid_amount", id="zero amount"),
        pytest.param(encode(good(amount="0.00")), "invalid_amount", id="zero amount text"),
        pytest.param(encode(good(amount="NaN")), "invalid_amount", id="NaN amount"),
        pytest.param(b'{"amount": NaN}', "invalid_json", id="NaN literal"),
        pytest.param(encode(good(amount="Infinity")), "invalid_amount", id="infinite amount"),
        pytest.param(encode(good(amount="12,5")), "invalid_amount", id="amount not a number"),
        pytest.param(encode(good(amount=True)), "invalid_amount", id="amount a boolean"),
        pytest.param(encode(good(amount=[1])), "invalid_amount", id="amount a list"),
        pytest.param(encode(good(amount="1.005")), "invalid_amount", id="sub-cent amount"),
        pytest.param(encode(good(ts="yesterday")), "invalid_timestamp", id="unparseable ts"),
        pytest.param(encode(good(ts="2026-01-20T08:15:00")), "invalid_timestamp", id="ts no zone"),
        pytest.param(encode(good(ts="2027-06-01T00:00:00Z")), "future_timestamp", id="far future"),
        pytest.param(encode(good(ts=10**18)), "invalid_timestamp", id="epoch out of range"),
        pytest.param(encode(good(txn_id="T" * 65)), "id_too_long", id="over-long txn_id"),
        pytest.param(encode(good(customer_id="C" * 500)), "id_too_long", id="over-long customer"),
        pytest.param(encode(good(txn_id="T 1")), "invalid_field", id="id with a space"),
        pytest.param(encode(good(txn_id="T|1")), "invalid_field", id="id with a pipe"),
        pytest.param(encode(good(currency="yuan")), "invalid_field", id="bad currency"),
        pytest.param(encode(good(lat=123.0)), "invalid_field", id="latitude out of range"),
        pytest.param(encode(good(card_id="4111111111111111")), "clear_card_number", id="clear PAN"),
        pytest.param(
            encode(good(card_id="4111-1111-1111-1111")), "clear_card_number", id="grouped PAN"
        ),
        pytest.param(
            encode(good(counterparty_account="6222 0202 0011 2233 446")),
            "clear_card_number",
            id="PAN as an account",
        ),
        pytest.param(encode(good(card_id="4222222222222")), "clear_card_number", id="13-digit PAN"),
        pytest.param(encode(good(txn_id="T1\n")), "invalid_field", id="id with a newline"),
        pytest.param(encode(good(amount="1_000")), "invalid_amount", id="amount 1_000"),
        pytest.param(encode(good(amount="+5")), "invalid_amount", id="amount +5"),
        pytest.param(encode(good(amount="1e3")), "invalid_amount", id="amount 1e3"),
        pytest.param(
            encode(good(amount="\uff11\uff10\uff10")), "invalid_amount", id="full-width digits"
        ),
        pytest.param(encode(good(lon=None)), "invalid_field", id="lat without lon"),
    ],
)
def test_bad_input_is_rejected_with_its_reason(payload: bytes, reason: str) -> None:
    assert reason_of(payload) == reason


def test_a_timestamp_just_inside_the_future_tolerance_is_accepted() -> None:
    soon = (NOW + timedelta(minutes=59)).isoformat()
    assert parse_transaction(encode(good(ts=soon)), NOW, LIMITS).ts > NOW


def test_card_numbers_are_masked_in_raw_payloads_but_timestamps_kept() -> None:
    raw = b'{"card_id":"6222020200112233446","ts":1768867200000,"note":"4111111111111112"}'
    masked = redact_card_numbers(raw)
    assert b"6222020200112233446" not in masked
    assert b"622202*********3446" in masked
    assert b"1768867200000" in masked, "13-digit epoch ms are not card numbers"
    assert b"4111111111111112" in masked, "digit runs failing the Luhn check are kept"


def test_amounts_are_judged_by_value_and_kept_to_the_cent() -> None:
    txn = parse_transaction(encode(good(amount="0.10000")), NOW, LIMITS)
    assert str(txn.amount) == "0.10"


def test_a_rejection_message_never_repeats_a_card_number() -> None:
    from riskwatch.parsing import redact_card_numbers_text

    with pytest.raises(InvalidRecord) as caught:
        parse_transaction(encode(good(channel="4111111111111111")), NOW, LIMITS)
    assert "4111111111111111" not in redact_card_numbers_text(str(caught.value))


def test_grouped_and_13_digit_card_numbers_are_masked_but_the_ts_is_kept() -> None:
    raw = b'{"card_id":"4111 1111 1111 1111","x":"4222222222222","ts":4222222222222}'
    masked = redact_card_numbers(raw)
    assert b"4111 1111 1111 1111" not in masked
    assert b'"x":"422222***2222"' in masked
    assert masked.endswith(b'"ts":4222222222222}'), "the number after ts is a time"


@pytest.mark.parametrize(
    "txn_id",
    ["T98421196-0000000003", "4111111111111111", "20260105-0000-0042-1111", "6222020200112233446"],
)
def test_long_numeric_ids_outside_card_fields_are_not_taken_for_cards(txn_id: str) -> None:
    assert parse_transaction(encode(good(txn_id=txn_id)), NOW, LIMITS).txn_id == txn_id


def test_a_numeric_simulated_txn_id_shape_passes() -> None:
    from riskwatch.parsing import contains_card_number

    luhn_valid_ids = [f"T98421196-{n:010d}" for n in range(200)]
    assert not any(contains_card_number(i) for i in luhn_valid_ids)


# Values a field may take in the comparison below: good ones, and every way
# of being wrong that one check or another looks for.
_ODD_VALUES = (
    None, "", " ", "T 1", "T|1", "T1\n", "T" * 64, "T" * 65, "t\u00e9", 5, 1.5, True, [1], {},
    "4111111111111111", "4111-1111-1111-1111", "6222 0202 0011 2233 446", "4111111111111112",
    "card-4111111111111111x", "pos", "debit", "CNY", "cny", "12.50", "0.00", "1.005", "1e3",
    "2026-01-20T08:15:00Z", "2026-01-20T08:15:00.123456+08:00", "2026-01-20T08:15:00",
    "2027-01-01T00:00:00Z", 1768867200000, 1768867200123, 31.23, 90.5, -91.0, 180.5, 90, "S" * 257,
)  # fmt: skip
_FIELDS = (
    "txn_id", "ts", "customer_id", "account_id", "channel", "direction", "kind", "amount",
    "currency", "card_id", "merchant_id", "mcc", "terminal_id", "device_id", "ip", "country",
    "city", "lat", "lon", "counterparty_account", "counterparty_bank",
)  # fmt: skip


def _outcome(check: Any, record: Any) -> tuple[str, Any]:
    try:
        return "accepted", check(record, NOW, LIMITS)
    except InvalidRecord as exc:
        return exc.reason, str(exc)


@settings(max_examples=2000, deadline=None)
@given(st.dictionaries(st.sampled_from(_FIELDS), st.sampled_from(_ODD_VALUES), max_size=3))
def test_the_plain_record_shortcut_agrees_with_the_field_by_field_checks(
    changes: dict[str, Any],
) -> None:
    """validate's combined checks accept, refuse and report exactly as validate_by_field."""
    from riskwatch.parsing import validate, validate_by_field

    record = {**good(), **changes}
    assert _outcome(validate, record) == _outcome(validate_by_field, record)
