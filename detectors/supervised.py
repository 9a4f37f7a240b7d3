"""Supervised online fraud classifier, learning from delayed labels.

A River logistic regression over standardised inputs, most of them
*engineered to be non-linear*: thermometer bins of the amount, of the
amount's ratio to the customer's own past mean and of the label-driven
terminal and merchant fraud counts (``amount>220`` is 1.0 for every amount
above 220). Under a linear model a set of thermometer bins is a learned
piecewise-constant function of the raw value, which is what lets a fast
linear learner draw the sharp thresholds that trees draw (why not a tree or a
forest: README, "Models"). Per event it costs tens of microseconds, where
River's adaptive random forest costs milliseconds.

Because the model is linear, an alert's explanation is exact: each input's
contribution to the log-odds is its weight times its standardised value
(:meth:`FraudScore.top_features`), and the contributions plus the intercept
sum to the logit of the probability.

Class imbalance: frauds are rare (under 1 % of card transactions), so each
fraud example is learned with weight ``fraud_weight`` (a sample weight on the
gradient, the online counterpart of class weights).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

from river import linear_model, optim, preprocessing

#: Thermometer bin edges: input ``f">{edge}"`` is 1.0 when the value exceeds the edge.
AMOUNT_EDGES = (25.0, 50.0, 75.0, 100.0, 125.0, 150.0, 175.0, 200.0, 220.0, 250.0, 300.0)
RATIO_EDGES = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0)
FRAUD_COUNT_EDGES = (0.0, 1.0, 2.0, 4.0)
RISK_EDGES = (0.0, 0.1, 0.2, 0.4, 0.6)
ZSCORE_EDGES = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
#: Below this many past transactions the ratio to the customer's mean is noise.
MIN_HISTORY = 3
#: Customer windows of the Handbook's features: 1, 7 and 30 days.
CUSTOMER_WINDOWS = ("24h", "7d", "30d")
FRAUD_WINDOWS = ("1d", "7d", "30d")


def past_mean(features: dict[str, Any]) -> tuple[float, float]:
    """The customer's mean debit amount before this one, and how many it averages.

    Taken from the per-kind baseline (``amount_mean_kind``, ``baseline_n``)
    when the state layer provides it, else from the longest debit window
    minus this transaction.
    """
    n = float(features.get("baseline_n", 0.0) or 0.0)
    if n > 0:
        return float(features.get("amount_mean_kind", 0.0) or 0.0), n
    amount = float(features.get("amount", 0.0))
    for window in ("30d", "7d", "24h"):
        count = features.get(f"debit_count_{window}")
        if count is not None:
            past_n = float(count) - (1.0 if features.get("is_debit", 1.0) else 0.0)
            past_sum = float(features.get(f"debit_sum_{window}", 0.0)) - (
                amount if features.get("is_debit", 1.0) else 0.0
            )
            return (past_sum / past_n if past_n > 0 else 0.0), max(past_n, 0.0)
    return 0.0, 0.0


@functools.cache
def _bin_names(edges: tuple[float, ...], name: str) -> tuple[tuple[float, str], ...]:
    return tuple((edge, f"{name}>{edge:g}") for edge in edges)


def _bins(value: float, edges: tuple[float, ...], name: str, out: dict[str, float]) -> None:
    """Thermometer bins; ``edges`` ascend, so the first edge not passed ends the loop."""
    for edge, bin_name in _bin_names(edges, name):
        if value <= edge:
            return
        out[bin_name] = 1.0


def model_inputs(features: dict[str, Any]) -> dict[str, float]:
    """The classifier's inputs, derived from the shared feature dict.

    Missing features count as zero, so a deployment with fewer windows or
    no label-driven counts still scores (with less to go on).

    >>> x = model_inputs({"amount": 230.0, "debit_count_30d": 11.0, "debit_sum_30d": 730.0})
    >>> x["amount>220"], x["ratio"], x["ratio>3"], "amount>250" in x
    (1.0, 4.6, 1.0, False)
    """
    amount = float(features.get("amount", 0.0))
    x: dict[str, float] = {
        "amount": amount,
        "log_amount": math.log1p(amount),
        "is_weekend": float(features.get("is_weekend", 0.0)),
        "is_night": float(features.get("is_night", float(features.get("hour", 12)) < 6)),
    }
    for window in CUSTOMER_WINDOWS:
        count = float(features.get(f"debit_count_{window}", 0.0))
        x[f"debit_count_{window}"] = count
        total = float(features.get(f"debit_sum_{window}", 0.0))
        x[f"debit_mean_{window}"] = total / count if count else 0.0
    mean, n = past_mean(features)
    ratio = amount / mean if mean > 0 and n >= MIN_HISTORY else 1.0
    x["ratio"] = round(ratio, 6)
    x["log_ratio"] = math.log(max(ratio, 1e-3))
    _bins(amount, AMOUNT_EDGES, "amount", x)
    _bins(ratio, RATIO_EDGES, "ratio", x)
    if n >= MIN_HISTORY and "amount_zscore" in features:
        _bins(float(features["amount_zscore"]), ZSCORE_EDGES, "amount_zscore", x)
    for entity in ("terminal", "merchant"):
        for window in FRAUD_WINDOWS:
            # Counts enter as log and bins: raw counts of a compromised
            # terminal reach the tens and made the standardised SGD unstable
            # in the probes (README, "Models").
            name = f"{entity}_fraud_{window}"
            frauds = float(features.get(name, 0.0))
            x[f"log_{name}"] = math.log1p(frauds)
            _bins(frauds, FRAUD_COUNT_EDGES, name, x)
            risk_name = f"{entity}_risk_{window}"
            risk = float(features.get(risk_name, 0.0))
            x[risk_name] = risk
            _bins(risk, RISK_EDGES, risk_name, x)
    return x


@dataclass(frozen=True, slots=True)
class FraudScore:
    """The classifier's fraud probability, with what it was computed from."""

    probability: float
    contributions: dict[str, float]
    """Weight times standardised input, per input: the exact log-odds terms."""
    intercept: float
    trained: bool = True
    """Whether the model has learned enough of both classes for its probability to
    count in the fused score (:attr:`OnlineFraudClassifier.trained`)."""

    @property
    def evidence(self) -> float:
        """The probability the fused score may count: an untrained model's 0.5 is none."""
        return self.probability if self.trained else 0.0

    def top_features(self, n: int = 5) -> tuple[tuple[str, float], ...]:
        """The inputs that pushed the log-odds up the most (exact, not approximated)."""
        ranked = sorted(self.contributions.items(), key=lambda kv: kv[1], reverse=True)
        return tuple((k, round(v, 3)) for k, v in ranked[:n] if v > 0)


class OnlineFraudClassifier:
    """Standardised logistic regression on engineered inputs, learned online.

    >>> import random
    >>> rng = random.Random(0)
    >>> clf = OnlineFraudClassifier(learning_rate=0.05, fraud_weight=3.0)
    >>> for _ in range(3000):
    ...     fraud = rng.random() < 0.05
    ...     amount = rng.uniform(230, 400) if fraud else rng.uniform(5, 200)
    ...     clf.learn_one({"amount": amount}, fraud)
    >>> high = clf.score_one({"amount": 300.0})
    >>> clf.score_one({"amount": 40.0}).probability < 0.1 < high.probability
    True
    >>> high.top_features()[0][0].startswith("amount")
    True
    """

    name = "online_logistic_regression"

    def __init__(
        self,
        learning_rate: float,
        fraud_weight: float,
        l2: float = 0.0,
        min_frauds: int = 0,
        min_legit: int = 0,
    ) -> None:
        self.version = f"lr-sgd{learning_rate:g}-w{fraud_weight:g}-l2{l2:g}"
        # An untrained logistic regression answers 0.5 for everything, and one
        # that has seen a handful of frauds answers whatever its first few
        # gradient steps left it at; neither is a probability worth fusing.
        self.min_frauds = min_frauds
        self.min_legit = min_legit
        self._scaler = preprocessing.StandardScaler()
        self._model = linear_model.LogisticRegression(optimizer=optim.SGD(learning_rate), l2=l2)
        self._fraud_weight = fraud_weight
        self.learned = 0
        self.frauds_learned = 0

    def score_one(self, features: dict[str, Any]) -> FraudScore:
        return self.score_inputs(model_inputs(features))

    def score_inputs(self, x: dict[str, float]) -> FraudScore:
        """Score inputs already derived by :func:`model_inputs` (as stored for the label join)."""
        scaled = self._scaler.transform_one(x)
        weights = self._model.weights
        contributions = {k: weights.get(k, 0.0) * v for k, v in scaled.items()}
        intercept = float(self._model.intercept)
        logit = intercept + sum(contributions.values())
        probability = 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))
        return FraudScore(probability, contributions, intercept, self.trained)

    @property
    def trained(self) -> bool:
        """Learned at least ``min_frauds`` fraud and ``min_legit`` legitimate examples.

        Until then the fused score leaves the classifier out (flows/assess.py).
        """
        frauds = self.frauds_learned
        # Snapshots pickled before the thresholds existed lack them: no gate.
        return frauds >= getattr(self, "min_frauds", 0) and (
            self.learned - frauds >= getattr(self, "min_legit", 0)
        )

    def learn_one(self, features: dict[str, Any], is_fraud: bool) -> None:
        self.learn_inputs(model_inputs(features), is_fraud)

    def learn_inputs(self, x: dict[str, float], is_fraud: bool) -> None:
        """Learn one labelled example from the inputs it was scored with."""
        self._scaler.learn_one(x)
        weight = self._fraud_weight if is_fraud else 1.0
        self._model.learn_one(self._scaler.transform_one(x), is_fraud, w=weight)
        self.learned += 1
        self.frauds_learned += int(is_fraud)
