"""The interpreted feature builder that detectors/feature_values.pyx replaced, as its yardstick.

This is ``detectors.features.build_features`` as it was written in Python
(commit afc1f15, whose values the first compiled version matched on every
bench event): a list of values in name order, set into a copy of the
template dict. tests/test_features_compiled.py holds the compiled builder to
it, bit for bit. From the module under test it takes the layout (names,
totals' scales) and the interpreted functions that are still there for
other callers (the transaction's own values, the great-circle distance, the
salary regularity), which the compiled builder calls only for the inputs it
leaves to Python.
"""

from __future__ import annotations

import math
from itertools import chain
from operator import mul
from typing import Any
from zoneinfo import ZoneInfo

from detectors.features import (
    _ENTITY_PREFIXES,
    _NAMES,
    _NET_FLOWS,
    _NO_ENTITY,
    _TOTAL_IS_SUM,
    _transaction_values,
    haversine_km,
    salary_regularity,
)
from detectors.state import CARD_PRESENT, StateUpdate
from riskwatch.contracts import Transaction

_TOTAL_SCALES = tuple(0.01 if flag else 1.0 for flag in _TOTAL_IS_SUM)
_TEMPLATE = dict.fromkeys(_NAMES)


def _state_values(txn: Transaction, update: StateUpdate, tz: ZoneInfo) -> list[float]:
    totals = update.totals
    inflow = totals[4 * 3 + 3]  # credit sum of 24 h
    ts = update.ts_ms
    since = (ts - update.prev_ts_ms) / 1000 if update.prev_ts_ms >= 0 else 0.0
    distance = velocity = 0.0
    if update.prev_geo is not None and txn.channel in CARD_PRESENT and txn.lat is not None \
            and txn.lon is not None:  # fmt: skip
        prev_ts, lat, lon = update.prev_geo
        distance = haversine_km(lat, lon, txn.lat, txn.lon)
        hours = max(ts - prev_ts, 60_000) / 3_600_000
        velocity = distance / hours
    n, mean, m2 = update.baseline
    amount = txn.amount_minor
    std = math.sqrt(m2 / (n - 1)) if n >= 2 else 0.0
    entities = update.entities
    return [
        *map(mul, totals, _TOTAL_SCALES),
        *[(totals[credit] - totals[debit]) / 100 for _, credit, debit in _NET_FLOWS],
        min(1.0, update.passthrough_minor / inflow) if inflow > 0 else 0.0,
        update.max_inflow_minor / 100,
        salary_regularity(update.salary_ts_ms, tz),
        *map(float, update.distinct),
        since,
        (ts - update.prev_channel_ts_ms) / 1000 if update.prev_channel_ts_ms >= 0 else 0.0,
        float(since // 86400),
        *map(float, update.new_flags),
        distance,
        velocity,
        mean / 100,
        std / 100,
        (amount - mean) / std if std > 0 else 0.0,
        amount / mean if n >= 1 and mean > 0 else 1.0,
        float(n),
        *map(float, chain.from_iterable(entities.get(p, _NO_ENTITY) for p in _ENTITY_PREFIXES)),
    ]


def build_features(txn: Transaction, update: StateUpdate, tz: ZoneInfo) -> dict[str, Any]:
    values = _transaction_values(txn, tz)
    values += _state_values(txn, update, tz)
    values.append(1.0 if update.late else 0.0)
    out = _TEMPLATE.copy()
    out.update(zip(_NAMES, values, strict=True))
    return out
