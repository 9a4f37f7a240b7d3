"""Features of one transaction, as plain dicts that rules and models read.

Names are stable and documented here, because rule packs refer to them:

- transaction: ``amount`` (major units), ``log_amount``, ``hour`` (0-23 in the
  bank's local time zone), ``is_debit``, plus the contract's text fields
  ``channel``, ``direction``, ``kind``, ``mcc``, ``country``, ``city``.
- per window ``W`` of the customer's state (``1h``, ``24h``, ...):
  ``debit_count_W``, ``debit_sum_W``, ``credit_count_W``, ``credit_sum_W``
  (sums in major units) and ``net_flow_W`` (credits minus debits). Windows
  include the transaction itself.
- ``is_late``: 1 when the event came later than the allowed lateness, so its
  windows may be missing events already trimmed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from detectors.state import StateUpdate, window_label
from riskwatch.contracts import Transaction

#: Text fields of the transaction that rules may test.
TEXT_FIELDS = ("channel", "direction", "kind", "mcc", "country", "city", "currency")
#: Numeric features of the transaction itself.
TRANSACTION_NUMBERS = ("amount", "log_amount", "hour", "is_debit", "is_late")
#: Per-window features, each suffixed with the window's label (``debit_sum_24h``).
WINDOW_STEMS = ("debit_count", "debit_sum", "credit_count", "credit_sum", "net_flow")


def feature_names(windows_seconds: Iterable[int]) -> set[str]:
    """Every feature name that :func:`build_features` makes with these windows."""
    names = {*TRANSACTION_NUMBERS, *TEXT_FIELDS}
    for seconds in windows_seconds:
        label = window_label(seconds)
        names.update(f"{stem}_{label}" for stem in WINDOW_STEMS)
    return names


def transaction_features(txn: Transaction, tz: ZoneInfo) -> dict[str, Any]:
    amount = float(txn.amount)
    out: dict[str, Any] = {
        "amount": amount,
        "log_amount": math.log1p(amount),
        "hour": txn.ts.astimezone(tz).hour,
        "is_debit": 1.0 if txn.direction == "debit" else 0.0,
    }
    for name in TEXT_FIELDS:
        out[name] = getattr(txn, name)
    return out


def window_features(update: StateUpdate) -> dict[str, float]:
    out: dict[str, float] = {}
    for w in update.windows:
        label = window_label(w.seconds)
        out[f"debit_count_{label}"] = float(w.debit_count)
        out[f"debit_sum_{label}"] = w.debit_sum_minor / 100
        out[f"credit_count_{label}"] = float(w.credit_count)
        out[f"credit_sum_{label}"] = w.credit_sum_minor / 100
        out[f"net_flow_{label}"] = (w.credit_sum_minor - w.debit_sum_minor) / 100
    return out


def build_features(txn: Transaction, update: StateUpdate, tz: ZoneInfo) -> dict[str, Any]:
    """Everything the detectors see about one transaction."""
    return {
        **transaction_features(txn, tz),
        **window_features(update),
        "is_late": 1.0 if update.late else 0.0,
    }


def numeric_only(features: dict[str, Any]) -> dict[str, float]:
    """The numeric part of a feature dict, which models take."""
    return {
        k: float(v)
        for k, v in features.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
