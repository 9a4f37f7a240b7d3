"""Hand-built feature dicts for rule tests, over the documented feature names.

The names are those the feature layer makes (the contract in
detectors/features.py); :data:`DOCUMENTED_FEATURES` lists them so that rule
unit tests do not need Redis. A test in test_rules_packs.py compares the
shipped packs' names with what the feature builder actually makes.
"""

from __future__ import annotations

from typing import Any

WINDOWS = ("1m", "10m", "1h", "24h", "7d", "30d")
CHANNELS = ("atm", "pos", "online", "mobile", "counter", "thirdparty")
TEXT = ("channel", "direction", "kind", "mcc", "country", "city", "currency")


def _documented() -> frozenset[str]:
    names = {
        "amount", "log_amount", "hour", "weekday", "is_weekend", "is_night", "is_debit",
        "is_card_present", "is_late", *TEXT,
        "passthrough_share_24h", "max_inflow_30d", "salary_regularity",
        "distinct_merchants_24h", "distinct_merchants_30d", "distinct_devices_24h",
        "distinct_devices_30d", "distinct_countries_24h", "distinct_countries_30d",
        "distinct_counterparties_24h", "distinct_counterparties_30d",
        "distinct_senders_24h", "distinct_recipients_24h",
        "seconds_since_last", "seconds_since_last_channel", "dormant_days",
        "new_device", "new_counterparty", "new_country", "new_mcc",
        "geo_velocity_kmh", "distance_from_last_km",
        "amount_mean_kind", "amount_std_kind", "amount_zscore", "amount_ratio", "baseline_n",
    }  # fmt: skip
    for w in WINDOWS:
        names.update(f"{s}_{w}" for s in ("debit_count", "debit_sum", "credit_count"))
        names.update(f"{s}_{w}" for s in ("credit_sum", "net_flow"))
    for c in CHANNELS:
        for w in ("1h", "24h", "7d", "30d"):
            names.update(f"{c}_{s}_{w}" for s in ("debit_count", "debit_sum"))
            names.update(f"{c}_{s}_{w}" for s in ("credit_count", "credit_sum"))
    for w in ("24h", "48h", "7d"):
        names.update(f"cash_{d}_{s}_{w}" for d in ("in", "out") for s in ("count", "sum"))
    for e in ("terminal", "merchant", "device", "counterparty"):
        for w in ("1h", "24h", "7d"):
            names.update((f"{e}_count_{w}", f"{e}_customers_{w}"))
    return frozenset(names)


#: Every feature name of the shared contract (common to the rules and the models).
DOCUMENTED_FEATURES = _documented()


def everyday(**changes: Any) -> dict[str, Any]:
    """An everyday card purchase at home by a customer with a settled history."""
    x: dict[str, Any] = dict.fromkeys(DOCUMENTED_FEATURES, 0.0)
    x.update(
        amount=85.0, log_amount=4.45, hour=14.0, weekday=2.0, is_debit=1.0,
        is_card_present=1.0, channel="pos", direction="debit", kind="purchase", mcc="5411",
        country="CN", city="Shanghai", currency="CNY",
        debit_count_10m=1.0, debit_count_1h=1.0, debit_sum_1h=85.0, debit_count_24h=3.0,
        debit_sum_24h=240.0, credit_sum_30d=15000.0, credit_count_30d=2.0,
        amount_mean_kind=90.0, amount_std_kind=40.0, amount_zscore=-0.1, amount_ratio=0.94,
        baseline_n=120.0, seconds_since_last=7200.0, distance_from_last_km=3.0,
        geo_velocity_kmh=4.0,
    )  # fmt: skip
    x.update(changes)
    return x
