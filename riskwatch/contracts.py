"""The event contracts every stage agrees on (shared/DESIGN.md, "Contracts").

These are plain frozen dataclasses rather than pydantic models: they are
created once per event on the hot path, must pickle for Bytewax, and are
validated exactly once, at the edge, by :mod:`riskwatch.parsing`.

Amounts are :class:`~decimal.Decimal` so that money is never rounded by
binary floating point; the state store works in integer minor units
(:attr:`Transaction.amount_minor`).
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

CHANNELS: tuple[str, ...] = ("atm", "pos", "online", "mobile", "counter", "thirdparty")
DIRECTIONS: tuple[str, ...] = ("debit", "credit")
LABEL_VALUES: tuple[str, ...] = ("fraud", "legit", "suspicious")
LABEL_SOURCES: tuple[str, ...] = ("analyst", "chargeback", "simulator")

#: Fields every transaction must carry.
REQUIRED_FIELDS: tuple[str, ...] = (
    "txn_id",
    "ts",
    "customer_id",
    "account_id",
    "channel",
    "direction",
    "kind",
    "amount",
    "currency",
)
#: Fields a channel carries where it has them.
OPTIONAL_FIELDS: tuple[str, ...] = (
    "card_id",
    "merchant_id",
    "mcc",
    "terminal_id",
    "device_id",
    "ip",
    "country",
    "city",
    "lat",
    "lon",
    "counterparty_account",
    "counterparty_bank",
)


def ts_to_iso(ts: datetime) -> str:
    """Render an aware datetime as ISO 8601 in UTC with millisecond precision."""
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def ts_to_ms(ts: datetime) -> int:
    """Exact epoch milliseconds of an aware datetime, in integer arithmetic (no float)."""
    return (ts - _EPOCH) // _MILLISECOND


class _Derived:
    """What a Transaction's properties work out from its fields, kept once known.

    Slots, not fields: they are not compared, hashed, shown or pickled (a
    copy works them out again). The parser (riskwatch.plain_record) fills
    them from the digits it reads; a Transaction made otherwise fills each on
    first use. Every event's state update and features read both, and
    working them out again on each read cost more than parsing the ids.
    """

    __slots__ = ("_amount_minor", "_ts_ms")
    _ts_ms: int
    _amount_minor: int


@dataclass(frozen=True, slots=True)
class Transaction(_Derived):
    """One validated money movement on one channel."""

    txn_id: str
    ts: datetime
    customer_id: str
    account_id: str
    channel: str
    direction: str
    kind: str
    amount: Decimal
    currency: str
    card_id: str | None = None
    merchant_id: str | None = None
    mcc: str | None = None
    terminal_id: str | None = None
    device_id: str | None = None
    ip: str | None = None
    country: str | None = None
    city: str | None = None
    lat: float | None = None
    lon: float | None = None
    counterparty_account: str | None = None
    counterparty_bank: str | None = None

    @property
    def ts_ms(self) -> int:
        """Epoch milliseconds of ``ts``, the order the state store keeps."""
        try:
            return self._ts_ms
        except AttributeError:
            ts_ms = ts_to_ms(self.ts)
            object.__setattr__(self, "_ts_ms", ts_ms)  # a cache, not a field: frozen holds
            return ts_ms

    @property
    def amount_minor(self) -> int:
        """The amount in hundredths, the unit the state store sums exactly."""
        try:
            return self._amount_minor
        except AttributeError:
            minor = int((self.amount * 100).to_integral_value())
            object.__setattr__(self, "_amount_minor", minor)
            return minor

    def to_json_dict(self) -> dict[str, Any]:
        """The wire form: optional fields that are absent are left out."""
        out: dict[str, Any] = {}
        for name in REQUIRED_FIELDS + OPTIONAL_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if name == "ts":
                value = ts_to_iso(value)
            elif name == "amount":
                value = str(value)
            out[name] = value
        return out


@dataclass(frozen=True, slots=True)
class Label:
    """Ground truth or an analyst's decision about one transaction."""

    txn_id: str
    customer_id: str
    label: str
    source: str
    ts: datetime
    scenario: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "txn_id": self.txn_id,
            "customer_id": self.customer_id,
            "label": self.label,
            "source": self.source,
            "ts": ts_to_iso(self.ts),
        }
        if self.scenario is not None:
            out["scenario"] = self.scenario
        return out


class RawRecord(NamedTuple):
    """One record as a source delivered it, before any parsing.

    ``source`` names where it came from (a file path's name, a Kafka topic,
    ``simulator``), ``partition`` and ``offset`` locate it there so that a dead
    letter can be traced back and replayed.

    A named tuple, not a frozen dataclass: every record of every source is
    one, and a frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__`` (~0.85 us a record here, ~9k instructions; a
    named tuple ~0.27 us). It is as immutable, and its fields read the same.
    """

    source: str
    partition: str
    offset: int
    payload: bytes
    key: bytes | None = None
    too_long: bool = False
    """The record exceeded the source's size limit; ``payload`` holds only its head."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that could not be processed, kept with the reason why."""

    source: str
    partition: str
    offset: int
    payload: bytes
    reason: str
    error: str
    at: datetime

    def to_json_dict(self) -> dict[str, Any]:
        """Text payloads stay readable; bytes that are not UTF-8 go as base64."""
        try:
            raw: dict[str, str] = {"raw": self.payload.decode("utf-8")}
        except UnicodeDecodeError:
            raw = {"raw_base64": base64.b64encode(self.payload).decode("ascii")}
        return {
            **raw,
            "source": self.source,
            "partition": self.partition,
            "offset": self.offset,
            "reason": self.reason,
            "error": self.error,
            "at": ts_to_iso(self.at),
        }


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A rule that fired, with the values its expression saw."""

    rule_id: str
    version: int
    score: float
    severity: str
    typology: str
    description: str
    values: dict[str, Any] = field(default_factory=dict)
    suppress_seconds: int | None = None
    """The rule's suppression window: it stays quiet for the same entity this long."""


@dataclass(frozen=True, slots=True)
class ModelScore:
    """One model's opinion of a transaction and what drove it."""

    model: str
    version: str
    score: float
    top_features: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Alert:
    """A scored, explained alert for one transaction."""

    alert_id: str
    txn: Transaction
    score: float
    severity: str
    rules: tuple[RuleHit, ...]
    models: tuple[ModelScore, ...]
    features: dict[str, Any]
    rule_pack_version: str
    model_version: str
    detected_at: datetime

    @property
    def customer_id(self) -> str:
        return self.txn.customer_id

    @property
    def event_time(self) -> datetime:
        return self.txn.ts

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "txn_id": self.txn.txn_id,
            "customer_id": self.customer_id,
            "score": self.score,
            "severity": self.severity,
            "rules": [asdict(r) for r in self.rules],
            "models": [
                {**asdict(m), "top_features": [list(f) for f in m.top_features]}
                for m in self.models
            ],
            "features": self.features,
            "rule_pack_version": self.rule_pack_version,
            "model_version": self.model_version,
            "event_time": ts_to_iso(self.event_time),
            "detected_at": ts_to_iso(self.detected_at),
            "txn": self.txn.to_json_dict(),
        }


def severity_for(score: float) -> str:
    """Map a 0–100 risk score to the severity band analysts sort by."""
    if score >= 85:
        return "critical"
    if score >= 70:
        return "high"
    if score >= 50:
        return "medium"
    return "low"
