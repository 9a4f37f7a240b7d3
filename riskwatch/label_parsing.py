"""Validation of label records (the Label contract), with the same reasons as transactions.

A label that breaks the contract becomes a dead letter like a bad
transaction: nothing is dropped silently.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from riskwatch.contracts import Label
from riskwatch.parsing import (
    InvalidRecord,
    ValidationLimits,
    _check_id,
    _require_fields,
    _require_text,
    decode_json,
    parse_timestamp,
)

LABEL_VALUES = ("fraud", "legit", "suspicious")
LABEL_SOURCES = ("analyst", "chargeback", "simulator")


def validate_label(record: Any, now: datetime, limits: ValidationLimits) -> Label:
    """Check a decoded JSON value against the Label contract.

    >>> from datetime import UTC
    >>> now = datetime(2026, 1, 6, tzinfo=UTC)
    >>> rec = {"txn_id": "T1", "customer_id": "C1", "label": "fraud",
    ...        "source": "chargeback", "ts": "2026-01-05T10:00:00Z"}
    >>> validate_label(rec, now, ValidationLimits()).label
    'fraud'
    >>> validate_label({**rec, "label": "maybe"}, now, ValidationLimits())
    Traceback (most recent call last):
    ...
    riskwatch.parsing.InvalidRecord: unknown label 'maybe'; expected one of fraud, legit, suspicious
    """
    if not isinstance(record, dict):
        msg = f"a label must be a JSON object, got a JSON {type(record).__name__}"
        raise InvalidRecord("not_an_object", msg)
    _require_fields(record, ("txn_id", "customer_id", "label", "source", "ts"))
    txn_id = _check_id("txn_id", _require_text(record, "txn_id"), limits)
    customer_id = _check_id("customer_id", _require_text(record, "customer_id"), limits)
    label = _require_text(record, "label")
    if label not in LABEL_VALUES:
        msg = f"unknown label {label!r}; expected one of {', '.join(LABEL_VALUES)}"
        raise InvalidRecord("invalid_label", msg)
    source = _require_text(record, "source")
    if source not in LABEL_SOURCES:
        msg = f"unknown label source {source!r}; expected one of {', '.join(LABEL_SOURCES)}"
        raise InvalidRecord("invalid_field", msg)
    scenario = record.get("scenario")
    if scenario is not None and not isinstance(scenario, str):
        raise InvalidRecord("invalid_field", "field 'scenario' must be a string")
    return Label(
        txn_id=txn_id,
        customer_id=customer_id,
        label=label,
        source=source,
        ts=parse_timestamp(record["ts"], now, limits),
        scenario=scenario,
    )


def parse_label(payload: bytes, now: datetime, limits: ValidationLimits) -> Label:
    """Decode one label record's bytes and validate it."""
    return validate_label(decode_json(payload), now, limits)
