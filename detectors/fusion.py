"""Fuse rule hits and model scores into one 0–100 risk score.

Noisy-OR: each piece of evidence is read as an independent chance that the
transaction is bad, so two medium rules outrank one, no single weak signal
reaches the top band, and the result never exceeds 100. A rule's ``score``
(0–100) is its chance in percent; the anomaly model adds at most ``weight``
and only for the part of its score above its running threshold.
"""

from __future__ import annotations

from collections.abc import Iterable


def fuse(rule_scores: Iterable[float], anomaly_excess: float, anomaly_weight: float) -> float:
    """The fused risk score.

    >>> fuse([70.0], 0.0, 0.6)
    70.0
    >>> fuse([70.0, 50.0], 0.0, 0.6)
    85.0
    >>> fuse([], 1.0, 0.6)
    60.0
    """
    clean = 1.0
    for score in rule_scores:
        clean *= 1.0 - min(max(score, 0.0), 100.0) / 100.0
    clean *= 1.0 - anomaly_weight * min(max(anomaly_excess, 0.0), 1.0)
    return round(100.0 * (1.0 - clean), 1)
