"""An alert's features set against the customer's own normal.

Analysts ask "unusual for whom?": each line pairs what this transaction
shows with what is normal for this customer, from the customer's own
history in the feature layer (baseline per kind, longer windows as the
norm for shorter ones, first-seen flags). Lines whose inputs the
deployment does not compute are left out rather than shown as zero.
"""

from __future__ import annotations

from typing import Any

from detectors.supervised import past_mean

#: First-seen flags: 1.0 means the value was never seen for this customer.
_FIRST_SEEN = ("new_device", "new_counterparty", "new_country", "new_mcc")


def customer_normal(features: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Feature versus the customer's normal, for an alert's explanation.

    >>> f = {"amount": 500.0, "is_debit": 1.0, "debit_count_24h": 6.0,
    ...      "debit_count_30d": 31.0, "debit_sum_30d": 1700.0}
    >>> n = customer_normal(f)
    >>> n["amount"]
    {'value': 500.0, 'normal': 40.0, 'ratio': 12.5}
    >>> n["debit_count_24h"]
    {'value': 6.0, 'normal': 1.033, 'ratio': 5.806}
    """
    out: dict[str, dict[str, float]] = {}
    amount = float(features.get("amount", 0.0))
    mean, n = past_mean(features)
    if n > 0 and mean > 0:
        out["amount"] = {
            "value": amount,
            "normal": round(mean, 2),
            "ratio": round(amount / mean, 3),
        }
    for short, long_, days in (("24h", "30d", 30.0), ("24h", "7d", 7.0)):
        day_count = features.get(f"debit_count_{short}")
        long_count = features.get(f"debit_count_{long_}")
        if day_count is None or long_count is None or "debit_count_24h" in out:
            continue
        normal = float(long_count) / days
        if normal > 0:
            out["debit_count_24h"] = {
                "value": float(day_count),
                "normal": round(normal, 3),
                "ratio": round(float(day_count) / normal, 3),
            }
    for flag in _FIRST_SEEN:
        if features.get(flag) == 1.0:
            out[flag] = {"value": 1.0, "normal": 0.0}
    for stem in ("distinct_countries", "distinct_devices"):
        day, month = features.get(f"{stem}_24h"), features.get(f"{stem}_30d")
        if day is not None and month is not None and float(day) > 1.0:
            out[f"{stem}_24h"] = {"value": float(day), "normal": float(month)}
    return out
