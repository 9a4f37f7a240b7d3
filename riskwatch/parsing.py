"""Turn raw bytes into a validated :class:`~riskwatch.contracts.Transaction`.

Validation happens once, here, so that everything downstream may trust its
input. A record that fails raises :class:`InvalidRecord` with a short,
stable ``reason`` code (for metrics and routing) and a readable message that
names the field (for the analyst reading the dead-letter queue).

Errors::

    InvalidRecord(ValueError)   reason codes: not_utf8, empty_record,
                                invalid_json, not_an_object, missing_field,
                                invalid_field, invalid_amount,
                                invalid_timestamp, future_timestamp,
                                id_too_long, clear_card_number
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from riskwatch.contracts import (
    CHANNELS,
    DIRECTIONS,
    REQUIRED_FIELDS,
    Transaction,
)
from riskwatch.plain_record import PlainRecords

#: Epoch-millisecond timestamps outside this range are surely mistakes.
_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
#: Identifiers are printable ASCII without spaces; '|' is reserved by the state store.
_ID_CHARS = "[!-{}~]"
_ID_PATTERN = re.compile(f"{_ID_CHARS}+")
# A card number as people write it: 13 to 19 digits in one run, or in groups of
# four (the last one or two groups shorter) or as Amex's 4-6-5, split by the same
# space or dash throughout. Other digit runs split by dashes (reference
# numbers, dated ids) are left alone.
_PAN_SHAPE = (
    r"(?<![\d])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{1,3})?"
    r"|\d{4}([ -])\d{6}\2\d{5})(?![\d])"
)
_PAN_TEXT = re.compile(_PAN_SHAPE)
_PAN_BYTES = re.compile(_PAN_SHAPE.encode())
#: Where a channel might put a card number: it is refused there.
_CARD_FIELDS = ("card_id", "counterparty_account")
_TS_KEY_BEFORE = re.compile(rb'"ts"\s*:\s*$')
_PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_CENT = Decimal("0.01")
_ID_FIELDS = ("txn_id", "customer_id", "account_id")
_OPTIONAL_IDS = (
    "card_id",
    "merchant_id",
    "terminal_id",
    "device_id",
    "counterparty_account",
    "counterparty_bank",
)
_OPTIONAL_TEXT = ("mcc", "ip", "country", "city")
_MAX_TEXT = 256


class InvalidRecord(ValueError):
    """A record breaks the Transaction contract; ``reason`` says how."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ValidationLimits:
    """The bounds a record is checked against, from the settings."""

    max_id_length: int = 64
    max_future: timedelta = timedelta(hours=1)
    max_amount: Decimal = Decimal("1000000000")


def luhn_valid(digits: str) -> bool:
    """The card-number checksum: what makes a digit run look like a PAN.

    >>> luhn_valid("4111111111111111")
    True
    >>> luhn_valid("4111111111111112")
    False
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _pan_digits(candidate: str) -> str | None:
    digits = candidate.replace(" ", "").replace("-", "")
    return digits if 13 <= len(digits) <= 19 and luhn_valid(digits) else None


def _masked(digits: str) -> str:
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def contains_card_number(text: str) -> bool:
    """Whether a text holds a card number (13-19 digits passing Luhn, maybe grouped).

    >>> contains_card_number("card 4111 1111 1111 1111")
    True
    >>> contains_card_number("T98421196-0000000003")
    False
    """
    return any(_pan_digits(m.group(0)) for m in _PAN_TEXT.finditer(text))


def redact_card_numbers_text(text: str) -> str:
    """Mask card numbers in a text, keeping the first six and last four digits.

    >>> redact_card_numbers_text("got '4111-1111-1111-1111'")
    "got '411111******1111'"
    """

    def mask(m: re.Match[str]) -> str:
        digits = _pan_digits(m.group(0))
        return m.group(0) if digits is None else _masked(digits)

    return _PAN_TEXT.sub(mask, text)


def redact_card_numbers(payload: bytes) -> bytes:
    """Mask card numbers in raw bytes, keeping the first six and last four digits.

    Dead letters keep the raw record, and a raw record may carry a clear PAN
    that a channel should never have sent; it must not be stored in clear.
    An epoch-millisecond ``ts`` is 13 digits and sometimes passes the Luhn
    check, so the number right after a ``"ts":`` key is left alone.

    >>> redact_card_numbers(b'{"card_id": "4111111111111111", "ts": 1767571200000}')
    b'{"card_id": "411111******1111", "ts": 1767571200000}'
    """

    def mask(m: re.Match[bytes]) -> bytes:
        if _TS_KEY_BEFORE.search(payload, max(0, m.start() - 16), m.start()):
            return m.group(0)
        digits = _pan_digits(m.group(0).decode("ascii"))
        return m.group(0) if digits is None else _masked(digits).encode("ascii")

    return _PAN_BYTES.sub(mask, payload)


def _require_fields(record: dict[str, Any], names: Iterable[str]) -> None:
    """Name every missing field at once, so a sender fixes them in one go."""
    missing = [name for name in names if record.get(name) is None]
    if missing:
        msg = f"missing required field{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        raise InvalidRecord("missing_field", msg)


def _require_text(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if value is None:
        msg = f"missing required field {name!r}"
        raise InvalidRecord("missing_field", msg)
    if not isinstance(value, str):
        msg = f"field {name!r} must be a string, got {type(value).__name__}"
        raise InvalidRecord("invalid_field", msg)
    return value


def _check_id(name: str, value: str, limits: ValidationLimits) -> str:
    if len(value) > limits.max_id_length:
        msg = f"field {name!r} is {len(value)} characters long; the limit is {limits.max_id_length}"
        raise InvalidRecord("id_too_long", msg)
    if not _ID_PATTERN.fullmatch(value):
        msg = f"field {name!r} must be printable ASCII without spaces or '|', got {value!r}"
        raise InvalidRecord("invalid_field", msg)
    return value


def parse_amount(value: Any, limits: ValidationLimits) -> Decimal:
    """A positive, finite amount with at most two decimal places.

    >>> parse_amount("12.50", ValidationLimits())
    Decimal('12.50')
    >>> parse_amount(-1, ValidationLimits())
    Traceback (most recent call last):
    ...
    riskwatch.parsing.InvalidRecord: amount must be greater than zero, got -1
    """
    if isinstance(value, str):
        # ASCII digits only: Decimal() alone would also take "1_000", "+5",
        # "NaN", "1e3" and digits of other scripts.
        if not _PLAIN_DECIMAL.fullmatch(value):
            msg = f"amount must be a plain decimal such as 1234.50, got {value!r}"
            raise InvalidRecord("invalid_amount", msg)
        amount = Decimal(value)
    elif isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"amount must be a number or a decimal string, got {type(value).__name__}"
        raise InvalidRecord("invalid_amount", msg)
    elif isinstance(value, float):
        if not math.isfinite(value):
            msg = f"amount must be finite, got {value!r}"
            raise InvalidRecord("invalid_amount", msg)
        amount = Decimal(repr(value))
    else:
        amount = Decimal(value)
    if amount <= 0:
        msg = f"amount must be greater than zero, got {value!r}"
        raise InvalidRecord("invalid_amount", msg)
    if amount > limits.max_amount:
        msg = f"amount {value!r} is above the limit of {limits.max_amount}"
        raise InvalidRecord("invalid_amount", msg)
    cents = amount.quantize(_CENT)
    if cents != amount:
        msg = f"amount {value!r} has more than two decimal places"
        raise InvalidRecord("invalid_amount", msg)
    return cents


def parse_timestamp(value: Any, now: datetime, limits: ValidationLimits) -> datetime:
    """ISO 8601 with a zone, or epoch milliseconds; never far in the future.

    >>> now = datetime(2026, 1, 5, tzinfo=UTC)
    >>> parse_timestamp("2026-01-04T08:30:00+08:00", now, ValidationLimits()).isoformat()
    '2026-01-04T00:30:00+00:00'
    >>> parse_timestamp(1767571200000, now, ValidationLimits()).isoformat()
    '2026-01-05T00:00:00+00:00'
    """
    if isinstance(value, bool):
        msg = f"ts must be ISO 8601 text or epoch milliseconds, got {value!r}"
        raise InvalidRecord("invalid_timestamp", msg)
    if isinstance(value, int):
        try:
            ts = datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            msg = f"ts {value!r} is not a usable epoch-millisecond time"
            raise InvalidRecord("invalid_timestamp", msg) from None
    elif isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value)
        except ValueError:
            msg = f"ts {value!r} is not ISO 8601"
            raise InvalidRecord("invalid_timestamp", msg) from None
        if ts.tzinfo is None:
            msg = f"ts {value!r} has no time zone; add 'Z' or an offset"
            raise InvalidRecord("invalid_timestamp", msg)
        ts = ts.astimezone(UTC)
    else:
        msg = f"ts must be ISO 8601 text or epoch milliseconds, got {type(value).__name__}"
        raise InvalidRecord("invalid_timestamp", msg)
    if ts < _EARLIEST:
        msg = f"ts {value!r} is before {_EARLIEST.date()}"
        raise InvalidRecord("invalid_timestamp", msg)
    if ts > now + limits.max_future:
        msg = (
            f"ts {value!r} lies in the future "
            f"(more than {limits.max_future} after {now:%Y-%m-%dT%H:%M:%SZ})"
        )
        raise InvalidRecord("future_timestamp", msg)
    # Keep millisecond precision: the state store orders by epoch ms.
    sub_ms = ts.microsecond % 1000
    return ts.replace(microsecond=ts.microsecond - sub_ms) if sub_ms else ts


#: The compiled shortcut, with the checks it hands the unusual forms to.
_plain_transaction = PlainRecords(parse_timestamp, parse_amount, _PAN_TEXT.search).transaction


def _optional_float(record: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"field {name!r} must be a number, got {type(value).__name__}"
        raise InvalidRecord("invalid_field", msg)
    if not (math.isfinite(value) and low <= value <= high):
        msg = f"field {name!r} must lie in [{low}, {high}], got {value!r}"
        raise InvalidRecord("invalid_field", msg)
    return float(value)


def _optional_text(record: dict[str, Any], name: str, limit: int) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        msg = f"field {name!r} must be a string, got {type(value).__name__}"
        raise InvalidRecord("invalid_field", msg)
    if len(value) > limit:
        msg = f"field {name!r} is {len(value)} characters long; the limit is {limit}"
        raise InvalidRecord("id_too_long", msg)
    return value


def validate(record: Any, now: datetime, limits: ValidationLimits) -> Transaction:
    """Check a decoded JSON value against the Transaction contract.

    Most records are plain (text ids, a known channel, no card number): for
    them a compiled shortcut (:mod:`riskwatch.plain_record`) stands in for
    the field-by-field checks, which cost more in calls than in checking. Any
    other record, or any doubt, goes through :func:`validate_by_field`, which
    finds the first failure and its reason; both accept the same records with
    the same result (tests/test_parsing.py compares them on simulated and
    generated records).
    """
    txn = _plain_transaction(record, now, limits)
    return txn if txn is not None else validate_by_field(record, now, limits)


def validate_by_field(record: Any, now: datetime, limits: ValidationLimits) -> Transaction:
    """Check a decoded JSON value field by field; the first failure is reported."""
    if not isinstance(record, dict):
        msg = f"a transaction must be a JSON object, got a JSON {type(record).__name__}"
        raise InvalidRecord("not_an_object", msg)
    # First, so that no other rejection quotes a card number back. Only the
    # fields meant for cards and accounts are checked: elsewhere a long
    # numeric id passes the Luhn check one time in ten and is no card.
    for name in _CARD_FIELDS:
        value = record.get(name)
        if isinstance(value, str) and contains_card_number(value):
            msg = f"field {name!r} holds a clear card number (PAN); channels must send a token"
            raise InvalidRecord("clear_card_number", msg)
    _require_fields(record, REQUIRED_FIELDS)
    ids = {name: _check_id(name, _require_text(record, name), limits) for name in _ID_FIELDS}
    channel = _require_text(record, "channel")
    if channel not in CHANNELS:
        msg = f"unknown channel {channel!r}; expected one of {', '.join(CHANNELS)}"
        raise InvalidRecord("invalid_field", msg)
    direction = _require_text(record, "direction")
    if direction not in DIRECTIONS:
        msg = f"unknown direction {direction!r}; expected debit or credit"
        raise InvalidRecord("invalid_field", msg)
    kind = _check_id("kind", _require_text(record, "kind"), limits)
    currency = _require_text(record, "currency")
    if not _CURRENCY.fullmatch(currency):
        msg = f"currency must be an ISO 4217 code such as CNY, got {currency!r}"
        raise InvalidRecord("invalid_field", msg)
    # Most optional fields are absent from most records: only present ones are
    # checked, in the order the checks always ran (the first failure is reported).
    optional: dict[str, Any] = {}
    for name in _OPTIONAL_IDS:
        if record.get(name) is not None:
            value = _optional_text(record, name, limits.max_id_length)
            optional[name] = _check_id(name, value, limits)  # type: ignore[arg-type]
    lat, lon = record.get("lat"), record.get("lon")
    if (lat is None) != (lon is None):
        msg = "lat and lon must come together"
        raise InvalidRecord("invalid_field", msg)
    ts = parse_timestamp(record["ts"], now, limits)
    amount = parse_amount(record["amount"], limits)
    if lat is not None:
        optional["lat"] = _optional_float(record, "lat", -90.0, 90.0)
        optional["lon"] = _optional_float(record, "lon", -180.0, 180.0)
    for name in _OPTIONAL_TEXT:
        if record.get(name) is not None:
            optional[name] = _optional_text(record, name, _MAX_TEXT)
    # Fields outside the contract are tolerated (channels add their own) and dropped.
    return Transaction(
        txn_id=ids["txn_id"],
        ts=ts,
        customer_id=ids["customer_id"],
        account_id=ids["account_id"],
        channel=channel,
        direction=direction,
        kind=kind,
        amount=amount,
        currency=currency,
        **optional,
    )


def parse_transaction(payload: bytes, now: datetime, limits: ValidationLimits) -> Transaction:
    """Decode one record's bytes and validate it.

    >>> now = datetime(2026, 1, 6, tzinfo=UTC)
    >>> raw = (b'{"txn_id":"T1","ts":"2026-01-05T10:00:00Z","customer_id":"C1",'
    ...        b'"account_id":"A1","channel":"pos","direction":"debit",'
    ...        b'"kind":"purchase","amount":"25.00","currency":"CNY"}')
    >>> parse_transaction(raw, now, ValidationLimits()).amount
    Decimal('25.00')
    >>> parse_transaction(b"   ", now, ValidationLimits())
    Traceback (most recent call last):
    ...
    riskwatch.parsing.InvalidRecord: empty record
    """
    # validate(decode_json(payload), now, limits), one Python call per record
    # instead of three: a tenth of what the shortcut costs.
    try:
        record = orjson.loads(payload)
    except orjson.JSONDecodeError:
        record = decode_json(payload)  # refused, with the reason why
    txn = _plain_transaction(record, now, limits)
    return txn if txn is not None else validate_by_field(record, now, limits)


def decode_json(payload: bytes) -> Any:
    """A record's bytes as JSON, or the reason they are not (shared by every record type)."""
    try:
        # orjson checks the UTF-8 itself and accepts no byte string that the
        # steps below would refuse: only a refused record pays for them.
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        pass
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"record is not valid UTF-8 (bad byte at position {exc.start})"
        raise InvalidRecord("not_utf8", msg) from None
    if not text.strip():
        raise InvalidRecord("empty_record", "empty record")
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        msg = f"record is not valid JSON: {exc}"
        raise InvalidRecord("invalid_json", msg) from None
    return record
