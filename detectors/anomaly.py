"""Unsupervised anomaly scoring: a River detector, protected, thresholded and sampled.

The detector follows River's protocol: ``score_one`` before ``learn_one`` on
the same event. It wraps a River anomaly detector (HalfSpaceTrees by
default) the way ``river.anomaly.QuantileFilter`` does — a running quantile
of past scores is the threshold, and an event scoring above it is not
learned, so that a fraud burst does not teach the model that fraud is
normal — but it scores each event once, where ``QuantileFilter.learn_one``
scores it a second time.

Why it learns on a sample (``learn_every``): an unsupervised model learns
the *density* of ordinary traffic, and one event in a few estimates it as
well as all of them (HalfSpaceTrees' window simply spans more events),
while learning is about half of its per-event cost. Every event is still
scored, and every event still moves the threshold. Which River detector,
on which inputs, and how sparse a sample, were chosen by
``python -m evaluation.anomaly_compare`` (README, "Models").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

from river import anomaly, preprocessing, stats

#: The inputs of :func:`model_inputs`; all are scaled to [0, 1] by a running MinMaxScaler.
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
#: What :func:`customer_inputs` adds: the event against the customer's own normal.
CUSTOMER_FEATURES: tuple[str, ...] = (
    "log_amount_ratio",
    "amount_zscore",
    "log_seconds_since_last",
    "new_device",
    "new_counterparty",
    "new_country",
    "log_geo_velocity",
)
#: Below this many past amounts the customer's mean and deviation are noise.
MIN_BASELINE = 3
#: z-scores are clipped here: one customer with a near-constant amount would
#: otherwise stretch the running MinMaxScaler and squash everyone else to 0.
ZSCORE_CLIP = 10.0
RATIO_CLIP = 5.0

_TAU = 2 * math.pi


def model_inputs(features: dict[str, Any]) -> dict[str, float]:
    """Derive the detector's population inputs from the shared feature dict.

    Missing window features count as zero, so the detector tolerates a
    deployment with other windows configured.
    """
    get = features.get
    angle = _TAU * float(get("hour", 0)) / 24
    return {
        "log_amount": float(get("log_amount", 0.0)),
        "hour_sin": math.sin(angle),
        "hour_cos": math.cos(angle),
        "is_debit": float(get("is_debit", 0.0)),
        "debit_count_1h": float(get("debit_count_1h", 0.0)),
        "log_debit_sum_1h": math.log1p(float(get("debit_sum_1h", 0.0))),
        "debit_count_24h": float(get("debit_count_24h", 0.0)),
        "log_debit_sum_24h": math.log1p(float(get("debit_sum_24h", 0.0))),
        "log_credit_sum_24h": math.log1p(float(get("credit_sum_24h", 0.0))),
    }


def customer_inputs(features: dict[str, Any]) -> dict[str, float]:
    """:func:`model_inputs` plus the event against the customer's own normal.

    The amount's log ratio to, and z-score against, the customer's own past
    amounts of this kind (0 until :data:`MIN_BASELINE` of them), the time
    since the customer's previous event, the first-seen flags and the
    geo-velocity: the per-customer baselines of the feature layer, which
    population inputs alone cannot see (a large amount is normal for some).
    """
    get = features.get
    x = model_inputs(features)
    known = float(get("baseline_n", 0.0) or 0.0) >= MIN_BASELINE
    ratio = float(get("amount_ratio", 1.0) or 1.0) if known else 1.0
    zscore = float(get("amount_zscore", 0.0) or 0.0) if known else 0.0
    x["log_amount_ratio"] = max(-RATIO_CLIP, min(RATIO_CLIP, math.log(max(ratio, 1e-6))))
    x["amount_zscore"] = max(-ZSCORE_CLIP, min(ZSCORE_CLIP, zscore))
    x["log_seconds_since_last"] = math.log1p(max(float(get("seconds_since_last", 0.0)), 0.0))
    x["new_device"] = float(get("new_device", 0.0))
    x["new_counterparty"] = float(get("new_counterparty", 0.0))
    x["new_country"] = float(get("new_country", 0.0))
    x["log_geo_velocity"] = math.log1p(max(float(get("geo_velocity_kmh", 0.0)), 0.0))
    return x


#: Input sets by name, for the settings and the comparison tool.
INPUTS: dict[str, Callable[[dict[str, Any]], dict[str, float]]] = {
    "population": model_inputs,
    "customer": customer_inputs,
}


class AnomalyScore(NamedTuple):
    """A raw anomaly score, the running threshold, and how far past it we are.

    A named tuple, not a frozen dataclass: one is built per transaction, at
    under half the cost.
    """

    score: float
    threshold: float
    excess: float
    """0 at or below the threshold, rising to 1 at the maximum score."""
    scaled: dict[str, float]
    """The inputs as the detector saw them, scaled to [0, 1]."""
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


class ProtectedAnomalyDetector:
    """A River anomaly detector on scaled inputs, thresholded by a running quantile.

    ``model`` is any River ``AnomalyDetector`` whose score rises with
    anomaly and lies in [0, 1] (HalfSpaceTrees) or is squashed there.
    ``learn_every`` > 1 learns one event in that many of those not flagged
    (the module's docstring says why); the choice is deterministic (a
    counter), so seeded runs repeat.
    """

    def __init__(
        self,
        model: anomaly.base.AnomalyDetector,
        name: str,
        version: str,
        quantile: float,
        warmup: int,
        learn_every: int = 1,
        inputs: str = "population",
    ) -> None:
        self.name = name
        self.version = version
        self._inputs = INPUTS[inputs]
        self._scaler = preprocessing.MinMaxScaler()
        self._model = model
        self._quantile = stats.Quantile(q=quantile)
        # The detector may score zero until it has learned a first window; a
        # threshold before then would protect it from learning anything.
        self._warmup = warmup
        self._learn_every = max(1, learn_every)
        self._due = 0
        # What score_one worked out, for learn_one on the same event: inputs,
        # scaled inputs and score are computed once per event, not twice.
        # The features dict itself is held (and compared with `is`), not its id,
        # which a new dict could reuse once the old one is freed.
        self._last: tuple[dict[str, Any], dict[str, float], dict[str, float], float] | None = None
        # The inputs that have not varied yet change only when the scaler
        # learns: worked out again then, not at every score.
        self._flat: frozenset[str] | None = None
        # Each input's running min and range, read from the scaler when it
        # has learned (:meth:`_scale`).
        self._bounds: dict[str, tuple[float, float]] | None = None
        self.learned = 0
        self.skipped = 0

    def _prepare(
        self, features: dict[str, Any]
    ) -> tuple[dict[str, float], dict[str, float], float]:
        last = self._last
        if last is not None and last[0] is features:
            return last[1], last[2], last[3]
        x = self._inputs(features)
        scaled = self._scale(x)
        return x, scaled, float(self._model.score_one(scaled))

    def _scale(self, x: dict[str, float]) -> dict[str, float]:
        """``self._scaler.transform_one(x)``, the same numbers at half the cost.

        River's transform reads every input's running min and max through
        two method calls per input per event, though they change only when
        the scaler learns (one event in ``learn_every`` at most): here each
        input's min and range are read once after that, and the division is
        River's own, ``(xi - lo) / d if d else 0.0``.
        """
        bounds = self._bounds
        if bounds is None:
            bounds = self._bounds = self._scale_bounds(x)
        out: dict[str, float] = {}
        try:
            for name, value in x.items():
                lo, d = bounds[name]
                out[name] = (value - lo) / d if d else 0.0
        except KeyError:  # an input the bounds were not read for: read them again
            self._bounds = None
            return self._scale(x)
        return out

    def _scale_bounds(self, x: dict[str, float]) -> dict[str, tuple[float, float]]:
        # Reading through the scaler's defaultdicts, as transform_one does, also
        # leaves them holding an entry for every input scored.
        low, high = self._scaler.min, self._scaler.max
        bounds: dict[str, tuple[float, float]] = {}
        for name in x:
            lo = low[name].get()
            bounds[name] = (lo, high[name].get() - lo)
        return bounds

    def _flat_inputs(self, x: dict[str, float]) -> frozenset[str]:
        flat = self._flat
        if flat is None:
            low, high = self._scaler.min, self._scaler.max
            flat = frozenset(k for k in x if k not in high or high[k].get() <= low[k].get())
            self._flat = flat
        return flat

    def score_one(self, features: dict[str, Any]) -> AnomalyScore:
        x, scaled, score = self._prepare(features)
        self._last = (features, x, scaled, score)
        threshold = self.threshold
        if threshold is None or threshold >= 1.0:
            excess = 0.0
        else:
            excess = max(0.0, (score - threshold) / (1.0 - threshold))
        return AnomalyScore(score, threshold or 1.0, excess, scaled, self._flat_inputs(x))

    def learn_one(self, features: dict[str, Any]) -> None:
        """Learn from an event unless it scored as an anomaly (protected learning).

        The detector learns the inputs as scaled before this event moved the
        scaler, which is how they were scored. Of the events not flagged,
        one in ``learn_every`` is learned.
        """
        x, scaled, score = self._prepare(features)
        self._last = None
        threshold = self.threshold
        if threshold is not None and score >= threshold:
            self.skipped += 1
        else:
            self._due -= 1
            if self._due <= 0:
                self._due = self._learn_every
                self._scaler.learn_one(x)
                self._model.learn_one(scaled)
                self._flat = None
                self._bounds = None
                self.learned += 1
        self._quantile.update(score)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A snapshot pickled before the detector was generic names its trees
        # `_trees` and has no sampling: it reloads as the same model.
        if "_trees" in state:
            state["_model"] = state.pop("_trees")
            state.setdefault("name", "half_space_trees")
            state.setdefault("_inputs", model_inputs)
        state.setdefault("_learn_every", 1)
        state.setdefault("_due", 0)
        state.setdefault("_flat", None)
        state.setdefault("_bounds", None)
        self.__dict__.update(state)

    @property
    def threshold(self) -> float | None:
        """The running score threshold, once the model has warmed up."""
        if self.learned < self._warmup:
            return None
        value = self._quantile.get()
        return value if value else None


class HalfSpaceTreesDetector(ProtectedAnomalyDetector):
    """River's HalfSpaceTrees, protected and thresholded.

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

    def __init__(
        self,
        n_trees: int,
        height: int,
        window_size: int,
        seed: int,
        quantile: float,
        learn_every: int = 1,
        inputs: str = "population",
    ) -> None:
        version = f"hst-t{n_trees}-h{height}-w{window_size}-s{seed}"
        if learn_every > 1:
            version += f"-e{learn_every}"
        if inputs != "population":
            version += f"-{inputs}"
        super().__init__(
            anomaly.HalfSpaceTrees(
                n_trees=n_trees, height=height, window_size=window_size, seed=seed
            ),
            "half_space_trees",
            version,
            quantile,
            # The trees score zero until their first reference window fills.
            warmup=2 * window_size,
            learn_every=learn_every,
            inputs=inputs,
        )
