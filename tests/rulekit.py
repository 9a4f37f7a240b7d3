"""Hand-built feature dicts for rule tests, so that rule unit tests need no Redis.

The names are exactly those the feature builder makes
(:func:`detectors.features.feature_names`), so a pack that loads here loads
in the monitor.
"""

from __future__ import annotations

from typing import Any

from detectors.features import feature_names

#: Every feature name the feature builder makes: what rules may use.
FEATURES = frozenset(feature_names())


def everyday(**changes: Any) -> dict[str, Any]:
    """An everyday card purchase at home by a customer with a settled history."""
    x: dict[str, Any] = dict.fromkeys(FEATURES, 0.0)
    x.update(
        amount=85.0, log_amount=4.45, hour=14.0, weekday=2.0, is_debit=1.0,
        is_card_present=1.0, channel="pos", direction="debit", kind="purchase", mcc="5411",
        country="CN", city="Shanghai", currency="CNY",
        debit_count_10m=1.0, debit_count_1h=1.0, debit_sum_1h=85.0, debit_count_24h=3.0,
        debit_sum_24h=240.0, credit_sum_30d=15000.0, credit_count_30d=2.0,
        amount_mean_kind=90.0, amount_std_kind=40.0, amount_zscore=-0.1, amount_ratio=0.94,
        baseline_n=120.0, seconds_since_last=7200.0, distance_from_last_km=3.0,
        geo_velocity_kmh=4.0, distinct_devices_30d=1.0,
    )  # fmt: skip
    x.update(changes)
    return x
