"""Unsupervised anomaly scoring with River's HalfSpaceTrees.

The detector follows River's protocol: ``score_one`` before ``learn_one`` on
the same event. It wraps the trees the way ``river.anomaly.QuantileFilter``
does — a running quantile of past scores is the threshold, and an event
scoring above it is not learned, so that a fraud burst does not teach the
model that fraud is normal — but it scores each event once, where
``QuantileFilter.learn_one`` scores it a second time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from river import anomaly, preprocessing, stats

#: The features the trees see; all are scaled to [0, 1] by a running MinMaxScaler.
MODEL_FEATURES: tuple[str, ...] = (
    "log_amount",
    "hour_sin",
    "hour_cos",
    "is_debit",
    "debit_count_1h",
    "log_debit_sum_1h",
    "debit_count_24h",
    "log_debit_sum_24h",
    "log_credit_sum_24h",
)


def model_inputs(features: dict[str, Any]) -> dict[str, float]:
    """Derive the trees' inputs from the shared feature dict.

    Missing window features count as zero, so the detector tolerates a
    deployment with other windows configured.
    """
    hour = float(features.get("hour", 0))
    return {
        "log_amount": float(features.get("log_amount", 0.0)),
        "hour_sin": math.sin(2 * math.pi * hour / 24),
        "hour_cos": math.cos(2 * math.pi * hour / 24),
        "is_debit": float(features.get("is_debit", 0.0)),
        "debit_count_1h": float(features.get("debit_count_1h", 0.0)),
        "log_debit_sum_1h": math.log1p(float(features.get("debit_sum_1h", 0.0))),
        "debit_count_24h": float(features.get("debit_count_24h", 0.0)),
        "log_debit_sum_24h": math.log1p(float(features.get("debit_sum_24h", 0.0))),
        "log_credit_sum_24h": math.log1p(float(features.get("credit_sum_24h", 0.0))),
    }


@dataclass(frozen=True, slots=True)
class AnomalyScore:
    """A raw tree score, the running threshold, and how far past it we are."""

    score: float
    threshold: float
    excess: float
    """0 at or below the threshold, rising to 1 at the maximum score."""
    scaled: dict[str, float]
    """The inputs as the trees saw them, scaled to [0, 1]."""
    flat: frozenset[str] = frozenset()
    """Inputs that have not varied yet: scaled to 0, they explain nothing."""

    def top_features(self) -> tuple[tuple[str, float], ...]:
        """The three inputs furthest from the middle of their seen range.

        HalfSpaceTrees has no exact attribution; this documented
        approximation names the inputs that sit at the edge of what the
        model has seen, which is what isolates a point in half-space trees.
        Inputs that never varied (always a debit, say) are left out.
        Computed on demand: only alerts are explained.
        """
        varying = ((k, v) for k, v in self.scaled.items() if k not in self.flat)
        ranked = sorted(varying, key=lambda kv: abs(kv[1] - 0.5), reverse=True)
        return tuple((k, round(abs(v - 0.5) * 2, 3)) for k, v in ranked[:3])


class HalfSpaceTreesDetector:
    """HalfSpaceTrees on scaled features, thresholded by a running quantile.

    >>> import random
    >>> rng = random.Random(0)
    >>> det = HalfSpaceTreesDetector(n_trees=10, height=6, window_size=50, seed=1, quantile=0.99)
    >>> for _ in range(500):
    ...     x = {"log_amount": rng.gauss(4, 0.5), "hour": rng.randint(8, 20), "is_debit": 1.0}
    ...     _ = det.score_one(x)
    ...     det.learn_one(x)
    >>> usual = det.score_one({"log_amount": 4.0, "hour": 14, "is_debit": 1.0})
    >>> odd = det.score_one({"log_amount": 9.0, "hour": 3, "is_debit": 1.0})
    >>> odd.score > usual.score and odd.excess > 0
    True
    """

    name = "half_space_trees"

    def __init__(
        self, n_trees: int, height: int, window_size: int, seed: int, quantile: float
    ) -> None:
        self.version = f"hst-t{n_trees}-h{height}-w{window_size}-s{seed}"
        self._scaler = preprocessing.MinMaxScaler()
        self._trees = anomaly.HalfSpaceTrees(
            n_trees=n_trees, height=height, window_size=window_size, seed=seed
        )
        self._quantile = stats.Quantile(q=quantile)
        # The trees score zero until their first reference window fills; a
        # threshold before then would protect them from learning anything.
        self._warmup = 2 * window_size
        # What score_one worked out, for learn_one on the same event: inputs,
        # scaled inputs and score are computed once per event, not three times.
        # The features dict itself is held (and compared with `is`), not its id,
        # which a new dict could reuse once the old one is freed.
        self._last: tuple[dict[str, Any], dict[str, float], dict[str, float], float] | None = None
        self.learned = 0
        self.skipped = 0

    def _prepare(
        self, features: dict[str, Any]
    ) -> tuple[dict[str, float], dict[str, float], float]:
        if self._last is not None and self._last[0] is features:
            return self._last[1], self._last[2], self._last[3]
        x = model_inputs(features)
        scaled = self._scaler.transform_one(x)
        return x, scaled, float(self._trees.score_one(scaled))

    def score_one(self, features: dict[str, Any]) -> AnomalyScore:
        x, scaled, score = self._prepare(features)
        self._last = (features, x, scaled, score)
        threshold = self.threshold
        if threshold is None or threshold >= 1.0:
            excess = 0.0
        else:
            excess = max(0.0, (score - threshold) / (1.0 - threshold))
        low, high = self._scaler.min, self._scaler.max
        flat = frozenset(k for k in x if k not in high or high[k].get() <= low[k].get())
        return AnomalyScore(score, threshold or 1.0, excess, scaled, flat)

    def learn_one(self, features: dict[str, Any]) -> None:
        """Learn from an event unless it scored as an anomaly (protected learning).

        The trees learn the inputs as scaled before this event moved the
        scaler, which is how they were scored.
        """
        x, scaled, score = self._prepare(features)
        self._last = None
        threshold = self.threshold
        if threshold is not None and score >= threshold:
            self.skipped += 1
        else:
            self._scaler.learn_one(x)
            self._trees.learn_one(scaled)
            self.learned += 1
        self._quantile.update(score)

    @property
    def threshold(self) -> float | None:
        """The running score threshold, once the model has warmed up."""
        if self.learned < self._warmup:
            return None
        value = self._quantile.get()
        return value if value else None
