"""Features of one transaction, as plain dicts that rules and models read.

Names are stable, because rule packs and models refer to them. Every numeric
feature is a float; one that cannot be computed (no previous event, field
absent) is 0.0 unless stated. Sums are in major units. Windows include the
transaction itself; :mod:`detectors.state` states exactly what each window
holds (1 min to 48 h exact; the far edge of 7 d and 30 d rounded in to a UTC
day for events older than the 48 h exact log). ``W`` ranges over 1m, 10m,
1h, 24h, 7d, 30d.

- transaction: ``amount``, ``log_amount`` (ln(1 + amount)), ``hour`` (0-23,
  bank local time), ``weekday`` (0 = Monday, local), ``is_weekend``,
  ``is_night`` (local hour < 6), ``is_debit``, ``is_card_present`` (pos or
  atm), ``is_late`` (1 when the event came later than the allowed lateness,
  so its history may be short), and the text fields ``channel``,
  ``direction``, ``kind``, ``mcc``, ``country``, ``city``, ``currency``
  (None when absent).
- customer windows: ``debit_count_W``, ``debit_sum_W``, ``credit_count_W``,
  ``credit_sum_W``, ``net_flow_W`` (credits minus debits); per channel ``C``
  (atm, pos, online, mobile, counter, thirdparty) and W in 1h, 24h, 7d, 30d:
  ``C_debit_count_W``, ``C_debit_sum_W``, ``C_credit_count_W``,
  ``C_credit_sum_W``.
- cash, W in 24h, 48h, 7d: ``cash_in_count_W``, ``cash_in_sum_W`` (kind
  cash_deposit), ``cash_out_count_W``, ``cash_out_sum_W`` (cash_withdrawal).
- income and expenditure profile: ``passthrough_share_24h`` (the debits of
  the last 24 h made at or after its first credit, as a share of its credits,
  capped at 1); ``max_inflow_30d`` (largest credit); ``salary_regularity``
  (over the latest six salary credits up to this event: 1 − spread of their
  local day of month / 10, floored at 0; 0.0 with fewer than two);
  ``distinct_merchants_24h``/``_30d``, ``distinct_devices_24h``/``_30d``,
  ``distinct_countries_24h``/``_30d``, ``distinct_counterparties_24h``/``_30d``,
  ``distinct_senders_24h`` (counterparties of credits),
  ``distinct_recipients_24h`` (counterparties of debits).
- timing: ``seconds_since_last`` (since the customer's previous event in event
  time), ``seconds_since_last_channel`` (previous on the same channel),
  ``dormant_days`` (whole days between the previous event and this one).
- first seen (1.0 new; 0.0 seen in the 30 days up to this event, or absent):
  ``new_device``, ``new_counterparty``, ``new_country``, ``new_mcc``.
- geo: ``distance_from_last_km`` (great circle, from the previous
  card-present transaction with coordinates to this one, when this one is
  card present with coordinates) and ``geo_velocity_kmh`` (that distance over
  the time between them, the time floored at one minute).
- baseline, per kind, of the customer's own amounts before this transaction
  (Welford, in arrival order): ``amount_mean_kind``, ``amount_std_kind``
  (sample deviation, 0.0 below two), ``amount_zscore`` (0.0 when the
  deviation is 0), ``amount_ratio`` (amount / mean, 1.0 with no history),
  ``baseline_n``.
- entities ``E`` in terminal, merchant, device, counterparty (0.0 when the
  transaction has none): ``E_count_1h``/``_24h``/``_7d`` (transactions there,
  this one included, in 5-minute / hour / day buckets) and
  ``E_customers_1h``/``_24h``/``_7d`` (distinct customers).

The label-driven ``terminal_fraud_*`` and ``merchant_fraud_*`` counts are
added by the labels stream's own module, not here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from detectors.feature_values import FeatureBuilder
from detectors.state import (
    CARD_PRESENT,
    CASH_WINDOWS,
    CHANNEL_CODES,
    CHANNEL_WINDOWS,
    ENTITIES,
    ENTITY_WINDOWS,
    WINDOWS,
    StateUpdate,
    window_label,
)
from riskwatch.contracts import Transaction

#: Text fields of the transaction that rules may test.
TEXT_FIELDS = ("channel", "direction", "kind", "mcc", "country", "city", "currency")
#: Numeric features of the transaction itself.
TRANSACTION_NUMBERS = ("amount", "log_amount", "hour", "weekday", "is_weekend", "is_night",
                       "is_debit", "is_card_present", "is_late")  # fmt: skip
#: Per-window features, each suffixed with the window's label (``debit_sum_24h``).
WINDOW_STEMS = ("debit_count", "debit_sum", "credit_count", "credit_sum", "net_flow")
PROFILE = (
    "passthrough_share_24h", "max_inflow_30d", "salary_regularity",
    "distinct_merchants_24h", "distinct_merchants_30d", "distinct_devices_24h",
    "distinct_devices_30d", "distinct_countries_24h", "distinct_countries_30d",
    "distinct_counterparties_24h", "distinct_counterparties_30d",
    "distinct_senders_24h", "distinct_recipients_24h",
)  # fmt: skip
TIMING = ("seconds_since_last", "seconds_since_last_channel", "dormant_days")
FIRST_SEEN = ("new_device", "new_counterparty", "new_country", "new_mcc")
GEO = ("distance_from_last_km", "geo_velocity_kmh")
BASELINE = ("amount_mean_kind", "amount_std_kind", "amount_zscore", "amount_ratio", "baseline_n")

_FOUR = ("debit_count", "debit_sum", "credit_count", "credit_sum")
_CASH = ("cash_in_count", "cash_in_sum", "cash_out_count", "cash_out_sum")


def _totals_layout() -> tuple[tuple[str, ...], bytes]:
    """Names of StateUpdate.totals, in its order, and per total 1 for a sum (of minor units)."""
    names: list[str] = []
    for seconds in WINDOWS:
        names.extend(f"{stem}_{window_label(seconds)}" for stem in _FOUR)
    for channel in CHANNEL_CODES:
        for seconds in CHANNEL_WINDOWS:
            names.extend(f"{channel}_{stem}_{window_label(seconds)}" for stem in _FOUR)
    for seconds in CASH_WINDOWS:
        names.extend(f"{stem}_{window_label(seconds)}" for stem in _CASH)
    is_sum = bytes(1 if name.split("_")[-2] == "sum" else 0 for name in names)
    return tuple(names), is_sum


_TOTAL_NAMES, _TOTAL_IS_SUM = _totals_layout()
_NET_FLOWS = tuple(
    (f"net_flow_{window_label(s)}", 4 * i + 3, 4 * i + 1) for i, s in enumerate(WINDOWS)
)
_NET_FLOW_INDICES = tuple((credit, debit) for _, credit, debit in _NET_FLOWS)
_ENTITY_PREFIXES = tuple(prefix for prefix, _, _ in ENTITIES)
_ENTITY_NAMES = tuple(
    f"{prefix}_{stem}_{window_label(s)}"
    for prefix in _ENTITY_PREFIXES
    for stem in ("count", "customers")
    for s in ENTITY_WINDOWS
)
_NO_ENTITY = (0,) * (2 * len(ENTITY_WINDOWS))
_EARTH_RADIUS_KM = 6371.0088

#: The names of the transaction's own values, of the state's and is_late, in their order.
_TRANSACTION_NAMES = (*TRANSACTION_NUMBERS[:-1], *TEXT_FIELDS)
_STATE_NAMES = (
    *_TOTAL_NAMES, *(name for name, _, _ in _NET_FLOWS), *PROFILE, *TIMING, *FIRST_SEEN,
    *GEO, *BASELINE, *_ENTITY_NAMES,
)  # fmt: skip
_NAMES = (*_TRANSACTION_NAMES, *_STATE_NAMES, "is_late")
#: Every feature dict has these keys in this order: copying a dict that already
#: holds them and setting the values costs less than growing a new one key by key.
_TEMPLATE = dict.fromkeys(_NAMES)


def feature_names() -> set[str]:
    """Every feature name that :func:`build_features` makes."""
    return set(_NAMES)


def _transaction_values(txn: Transaction, tz: ZoneInfo) -> list[Any]:
    """The values of _TRANSACTION_NAMES."""
    amount = float(txn.amount)
    local = txn.ts.astimezone(tz)
    hour, weekday = local.hour, local.weekday()
    return [
        amount,
        math.log1p(amount),
        float(hour),
        float(weekday),
        1.0 if weekday >= 5 else 0.0,
        1.0 if hour < 6 else 0.0,
        1.0 if txn.direction == "debit" else 0.0,
        1.0 if txn.channel in CARD_PRESENT else 0.0,
        txn.channel, txn.direction, txn.kind, txn.mcc, txn.country, txn.city, txn.currency,
    ]  # fmt: skip


def transaction_features(txn: Transaction, tz: ZoneInfo) -> dict[str, Any]:
    """The features of the transaction alone (is_late aside), without its customer's state."""
    return dict(zip(_TRANSACTION_NAMES, _transaction_values(txn, tz), strict=True))


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km.

    >>> round(haversine_km(31.2304, 121.4737, 39.9042, 116.4074))  # Shanghai to Beijing
    1067
    """
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def salary_regularity(salary_ts_ms: tuple[int, ...], tz: ZoneInfo) -> float:
    """1.0 when salaries come on the same local day each month, falling with the spread.

    >>> from zoneinfo import ZoneInfo
    >>> jan, feb = 1768435200000, 1771113600000  # 15 Jan, 15 Feb 2026, 00:00 UTC
    >>> salary_regularity((jan, feb), ZoneInfo("UTC"))
    1.0
    >>> salary_regularity((jan, feb + 5 * 86400000), ZoneInfo("UTC"))
    0.5
    >>> salary_regularity((jan,), ZoneInfo("UTC"))
    0.0
    """
    if len(salary_ts_ms) < 2:
        return 0.0
    days = [datetime.fromtimestamp(t / 1000, UTC).astimezone(tz).day for t in salary_ts_ms]
    return max(0.0, 1.0 - (max(days) - min(days)) / 10)


_BUILDER = FeatureBuilder(
    _TEMPLATE, _TOTAL_IS_SUM, _NET_FLOW_INDICES, _ENTITY_PREFIXES, _NO_ENTITY, CARD_PRESENT,
    haversine_km, salary_regularity, Transaction, StateUpdate,
)  # fmt: skip
#: Everything the detectors see about one transaction: ``build_features(txn,
#: update, tz)``, made in C by detectors/feature_values.pyx (the builder's
#: bound method itself, so that the stream's hot path pays no Python frame).
build_features: Callable[[Transaction, StateUpdate, ZoneInfo], dict[str, Any]] = _BUILDER.build


def numeric_only(features: dict[str, Any]) -> dict[str, float]:
    """The numeric part of a feature dict, which models take."""
    return {
        k: float(v)
        for k, v in features.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
