"""Fuse rule hits and model scores into one 0–100 risk score.

Noisy-OR: each piece of evidence is read as an independent chance that the
transaction is bad, so two medium rules outrank one, no single weak signal
reaches the top band, and the result never exceeds 100. A rule's ``score``
(0–100) is its chance in percent; the anomaly model adds at most
``anomaly_weight`` and only for the part of its score above its running
threshold; the supervised classifier adds its fraud probability times
``fraud_weight``.

The score keeps full precision, for ranking (evaluation, queues); alerts
show it rounded to a tenth.
"""

from __future__ import annotations

from collections.abc import Iterable


def _clip(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def fuse(
    rule_scores: Iterable[float],
    anomaly_excess: float,
    anomaly_weight: float,
    fraud_probability: float = 0.0,
    fraud_weight: float = 0.0,
) -> float:
    """The fused risk score, unrounded.

    >>> fuse([70.0], 0.0, 0.6)
    70.0
    >>> round(fuse([70.0, 50.0], 0.0, 0.6), 6)
    85.0
    >>> round(fuse([], 1.0, 0.6), 6)
    60.0
    >>> round(fuse([70.0], 0.0, 0.6, 0.5, 0.9), 6)
    83.5
    """
    clean = 1.0
    for score in rule_scores:
        clean *= 1.0 - min(max(score, 0.0), 100.0) / 100.0
    clean *= 1.0 - anomaly_weight * _clip(anomaly_excess)
    clean *= 1.0 - fraud_weight * _clip(fraud_probability)
    return 100.0 * (1.0 - clean)
