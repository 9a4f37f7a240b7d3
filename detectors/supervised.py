"""Supervised online fraud classifier, learning from delayed labels.

A logistic regression over standardised inputs, most of them *engineered to
be non-linear*: thermometer bins of the amount, of the amount's ratio to the
customer's own past mean, of the mean of the customer's last day and week
against that past mean (a card being used for inflated amounts lifts both),
and of the label-driven terminal and merchant fraud counts and risks
(``amount>220`` is 1.0 for every amount above 220). Under a linear model a
set of thermometer bins is a learned piecewise-constant function of the raw
value, which is what lets a fast linear learner draw the sharp thresholds
that trees draw (why not a tree or a forest: README, "Models").

Every input of :data:`INPUT_NAMES` is standardised over the examples learned,
*an input absent from the dict counting as 0*. This matters for the bins,
which :func:`model_inputs` leaves out when they are 0 (the stored records
stay small): a scaler that learned only the inputs present would see each
bin as the constant 1 and scale it to 0, so no bin could ever move the score.
That was River's ``StandardScaler`` on these sparse dicts until this module
standardised them itself; the Handbook replay measured the fix at +0.08 AP
(README, "Models").

Class imbalance: legitimate examples are *subsampled*, one in
``1 / legit_sample_rate`` kept (systematically, by a counter the snapshot
keeps, so a run and its replay learn the same examples), and each fraud is
learned with weight ``fraud_weight``. Subsampling cuts the learning cost by
the same factor; its shift of the odds is undone in the reported
probability (``log(legit_sample_rate)`` is added to the logit), so the fused
score sees a calibrated probability.

Because the model is linear, an alert's explanation is exact: each input's
contribution to the log-odds is its weight times its standardised value
(relative to the mean learned example, so an absent bin can contribute too),
and the contributions plus :attr:`FraudScore.intercept` sum to the logit of
the probability (:meth:`FraudScore.top_features`).
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

#: Thermometer bin edges: input ``f">{edge}"`` is 1.0 when the value exceeds the edge.
AMOUNT_EDGES = (25.0, 50.0, 75.0, 100.0, 125.0, 150.0, 175.0, 200.0, 220.0, 250.0, 300.0)
RATIO_EDGES = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0)
#: Edges of the recent mean against the past mean (``mean_ratio_W``).
MEAN_RATIO_EDGES = (1.2, 1.5, 2.0, 2.5, 3.0)
FRAUD_COUNT_EDGES = (0.0, 1.0, 2.0, 4.0)
#: The top edges tell a terminal whose compromise is known to have lasted weeks
#: (and may be over) from one just found.
RISK_EDGES = (0.0, 0.1, 0.2, 0.4, 0.6, 0.7, 0.8, 0.9)
ZSCORE_EDGES = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
#: Below this many past transactions the ratio to the customer's mean is noise.
MIN_HISTORY = 3
#: Customer windows of the Handbook's features: 1, 7 and 30 days.
CUSTOMER_WINDOWS = ("24h", "7d", "30d")
#: Windows whose mean (this transaction left out) is compared with the past mean.
RECENT_WINDOWS = ("24h", "7d")
FRAUD_WINDOWS = ("1d", "7d", "30d")
ENTITIES = ("terminal", "merchant")


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


#: Each binned quantity's edges.
BINNED: dict[str, tuple[float, ...]] = {
    "amount": AMOUNT_EDGES,
    "ratio": RATIO_EDGES,
    "amount_zscore": ZSCORE_EDGES,
    **{f"mean_ratio_{w}": MEAN_RATIO_EDGES for w in RECENT_WINDOWS},
    **{
        f"{entity}_{stem}_{w}": edges
        for entity in ENTITIES
        for w in FRAUD_WINDOWS
        for stem, edges in (("fraud", FRAUD_COUNT_EDGES), ("risk", RISK_EDGES))
    },
}
#: Per binned quantity, (edge, bin name) in ascending order, named once at import.
_BIN_TABLE = {
    name: tuple((edge, f"{name}>{edge:g}") for edge in edges) for name, edges in BINNED.items()
}
#: Feature names read per window, built once (model_inputs runs per event).
_CUSTOMER = tuple(
    (f"debit_count_{w}", f"debit_sum_{w}", f"debit_mean_{w}") for w in CUSTOMER_WINDOWS
)
_RECENT = tuple(
    (f"debit_count_{w}", f"debit_sum_{w}", f"mean_ratio_{w}", _BIN_TABLE[f"mean_ratio_{w}"])
    for w in RECENT_WINDOWS
)
#: Per entity window: the count, its log, the risk, and the bins of each.
_ENTITY = tuple(
    (
        f"{e}_fraud_{w}",
        f"log_{e}_fraud_{w}",
        f"{e}_risk_{w}",
        _BIN_TABLE[f"{e}_fraud_{w}"],
        _BIN_TABLE[f"{e}_risk_{w}"],
    )
    for e in ENTITIES
    for w in FRAUD_WINDOWS
)
_AMOUNT_BINS = _BIN_TABLE["amount"]
_RATIO_BINS = _BIN_TABLE["ratio"]
_ZSCORE_BINS = _BIN_TABLE["amount_zscore"]
#: The lowest edge of the fraud count and risk bins: most transactions' terminal
#: and merchant have no fraud, and their bins are skipped without a call.
_ENTITY_FLOOR = min(min(FRAUD_COUNT_EDGES), min(RISK_EDGES))


def _bins(value: float, table: tuple[tuple[float, str], ...], out: dict[str, float]) -> None:
    """Thermometer bins; the edges ascend, so the first edge not passed ends the loop."""
    for edge, bin_name in table:
        if value <= edge:
            return
        out[bin_name] = 1.0


def _input_names() -> tuple[str, ...]:
    names = ["amount", "log_amount", "is_weekend", "is_night"]
    for count, _, mean in _CUSTOMER:
        names += [count, mean]
    names += ["ratio", "log_ratio"]
    names += [recent for _, _, recent, _ in _RECENT]
    for _, log_frauds, risk, _, _ in _ENTITY:
        names += [log_frauds, risk]
    for table in _BIN_TABLE.values():
        names += [bin_name for _, bin_name in table]
    return tuple(names)


def model_inputs(features: dict[str, Any]) -> dict[str, float]:
    """The classifier's inputs, derived from the shared feature dict.

    Missing features count as zero, so a deployment with fewer windows or
    no label-driven counts still scores (with less to go on). Bins that are
    0 are left out (the classifier reads an absent input as 0).

    >>> x = model_inputs({"amount": 230.0, "debit_count_30d": 11.0, "debit_sum_30d": 730.0})
    >>> x["amount>220"], x["ratio"], x["ratio>3"], "amount>250" in x
    (1.0, 4.6, 1.0, False)
    """
    get = features.get
    amount = float(get("amount", 0.0))
    x: dict[str, float] = {
        "amount": amount,
        "log_amount": math.log1p(amount),
        "is_weekend": float(get("is_weekend", 0.0)),
        "is_night": float(get("is_night", float(get("hour", 12)) < 6)),
    }
    for count_name, sum_name, mean_name in _CUSTOMER:
        count = float(get(count_name, 0.0))
        x[count_name] = count
        x[mean_name] = float(get(sum_name, 0.0)) / count if count else 0.0
    mean, n = past_mean(features)
    known = mean > 0 and n >= MIN_HISTORY
    # (round() costs a microsecond even on 1.0, which it leaves as it is)
    ratio = amount / mean if known else 1.0
    x["ratio"] = round(ratio, 6) if known else 1.0
    x["log_ratio"] = math.log(max(ratio, 1e-3))
    _bins(amount, _AMOUNT_BINS, x)
    _bins(ratio, _RATIO_BINS, x)
    if n >= MIN_HISTORY and "amount_zscore" in features:
        _bins(float(features["amount_zscore"]), _ZSCORE_BINS, x)
    this = amount if get("is_debit", 1.0) else 0.0
    for count_name, sum_name, name, table in _RECENT:
        # The window's other debits against the past mean: a compromised card
        # used for inflated amounts lifts it for every transaction of the day
        # and the week, not only for the inflated ones.
        others = float(get(count_name, 0.0)) - (1.0 if this else 0.0)
        recent = 1.0
        if known and others > 0:
            recent = (float(get(sum_name, 0.0)) - this) / others / mean
            x[name] = round(recent, 6)
        else:
            x[name] = 1.0
        _bins(recent, table, x)
    log1p, floor = math.log1p, _ENTITY_FLOOR
    for name, log_name, risk_name, fraud_bins, risk_bins in _ENTITY:
        # Counts enter as log and bins: raw counts of a compromised
        # terminal reach the tens and made the standardised SGD unstable
        # in the probes (README, "Models").
        frauds = float(get(name, 0.0))
        x[log_name] = log1p(frauds)
        if not frauds <= floor:  # (not <=: a NaN passes every edge, as in _bins)
            _bins(frauds, fraud_bins, x)
        risk = float(get(risk_name, 0.0))
        x[risk_name] = risk
        if not risk <= floor:
            _bins(risk, risk_bins, x)
    return x


#: Every input the classifier has a weight for, in a fixed order.
INPUT_NAMES = _input_names()


@dataclass(frozen=True, slots=True)
class _Linear:
    """The model as it scores, fixed between learning steps.

    ``slope[i]`` is weight / scale of input ``i`` and ``offset`` the
    intercept less every input's mean times its slope, plus the subsampling
    correction: so a logit is ``offset`` plus the slopes of the inputs
    present, however many are absent.
    """

    weights: tuple[float, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    intercept: float
    slope: tuple[float, ...]
    offset: float


class FraudScore(NamedTuple):
    """The classifier's fraud probability, with what it was computed from.

    A named tuple, not a frozen dataclass: one is built per transaction, at
    under half the cost.
    """

    probability: float
    inputs: dict[str, float]
    model: _Linear | None
    trained: bool = True
    """Whether the model has learned enough of both classes for its probability to
    count in the fused score (:attr:`OnlineFraudClassifier.trained`)."""

    @property
    def evidence(self) -> float:
        """The probability the fused score may count: an untrained model's 0.5 is none."""
        return self.probability if self.trained else 0.0

    @property
    def intercept(self) -> float:
        """The log-odds of the mean learned example (subsampling corrected)."""
        return self.model.intercept if self.model else 0.0

    @property
    def contributions(self) -> dict[str, float]:
        """Weight times standardised input, per input: the exact log-odds terms.

        Computed when asked (for an alert), not for every score.
        """
        m = self.model
        if m is None:
            return {}
        x = self.inputs
        out: dict[str, float] = {}
        for name, w, mean, scale in zip(INPUT_NAMES, m.weights, m.means, m.scales, strict=True):
            if scale > 0.0 and w != 0.0:
                out[name] = w * (x.get(name, 0.0) - mean) / scale
        return out

    def top_features(self, n: int = 5) -> tuple[tuple[str, float], ...]:
        """The inputs that pushed the log-odds up the most (exact, not approximated)."""
        ranked = sorted(self.contributions.items(), key=lambda kv: kv[1], reverse=True)
        return tuple((k, round(v, 3)) for k, v in ranked[:n] if v > 0)


_INDEX = {name: i for i, name in enumerate(INPUT_NAMES)}


class OnlineFraudClassifier:
    """Standardised logistic regression on engineered inputs, learned online by SGD.

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
        legit_sample_rate: float = 1.0,
    ) -> None:
        if not 0.0 < legit_sample_rate <= 1.0:
            msg = f"legit_sample_rate must be in (0, 1], got {legit_sample_rate}"
            raise ValueError(msg)
        self.version = f"lr-sgd{learning_rate:g}-w{fraud_weight:g}-l2{l2:g}-q{legit_sample_rate:g}"
        # An untrained logistic regression answers 0.5 for everything, and one
        # that has seen a handful of frauds answers whatever its first few
        # gradient steps left it at; neither is a probability worth fusing.
        self.min_frauds = min_frauds
        self.min_legit = min_legit
        self._rate = learning_rate
        self._l2 = l2
        self._fraud_weight = fraud_weight
        self._legit_every = 1.0 / legit_sample_rate
        self._log_rate = math.log(legit_sample_rate)
        size = len(INPUT_NAMES)
        self._weights = np.zeros(size)
        self._intercept = 0.0
        self._n = 0  # examples the scaler has seen (the ones learned)
        self._means = np.zeros(size)
        self._m2 = np.zeros(size)
        self._legit_credit = 0.0
        self._frozen: _Linear | None = None
        self.learned = 0
        """Labelled examples offered, kept or subsampled away."""
        self.frauds_learned = 0

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "_weights" not in state:
            # A snapshot of the River-based classifier: its inputs and scaling differ.
            msg = "classifier snapshot from an incompatible version"
            raise pickle.UnpicklingError(msg)
        self.__dict__.update(state)

    def score_one(self, features: dict[str, Any]) -> FraudScore:
        return self.score_inputs(model_inputs(features))

    def _linear(self) -> _Linear:
        frozen = self._frozen
        if frozen is None:
            n = self._n
            scales = np.sqrt(self._m2 / n) if n else np.zeros(len(INPUT_NAMES))
            slope = np.divide(self._weights, scales, out=np.zeros_like(scales), where=scales > 0.0)
            intercept = self._intercept + (self._log_rate if n else 0.0)
            offset = intercept - float(slope @ self._means)
            frozen = _Linear(
                tuple(self._weights.tolist()),
                tuple(self._means.tolist()),
                tuple(scales.tolist()),
                intercept,
                tuple(slope.tolist()),
                offset,
            )
            self._frozen = frozen
        return frozen

    def score_inputs(self, x: dict[str, float]) -> FraudScore:
        """Score inputs already derived by :func:`model_inputs` (as stored for the label join)."""
        m = self._linear()
        slope, index = m.slope, _INDEX
        logit = m.offset
        for name, value in x.items():
            i = index.get(name)
            if i is not None:
                logit += slope[i] * value
        probability = 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))
        return FraudScore(probability, x, m, self.trained)

    @property
    def trained(self) -> bool:
        """Offered at least ``min_frauds`` fraud and ``min_legit`` legitimate examples.

        Until then the fused score leaves the classifier out (flows/assess.py).
        """
        frauds = self.frauds_learned
        return frauds >= self.min_frauds and self.learned - frauds >= self.min_legit

    def learn_one(self, features: dict[str, Any], is_fraud: bool) -> None:
        self.learn_inputs(model_inputs(features), is_fraud)

    def learn_inputs(self, x: dict[str, float], is_fraud: bool) -> None:
        """Learn one labelled example from the inputs it was scored with."""
        self.learn_example(is_fraud, lambda: x)

    def learn_example(self, is_fraud: bool, inputs: Callable[[], dict[str, float]]) -> None:
        """Learn one labelled example; ``inputs()`` gives the inputs it was scored with.

        A legitimate example is kept once per ``1 / legit_sample_rate``
        offered; the rest only count towards :attr:`learned`, and their
        ``inputs`` is never called (the label join's stored records are
        decoded only for the examples kept).
        """
        self.learned += 1
        if is_fraud:
            self.frauds_learned += 1
            weight = self._fraud_weight
        else:
            self._legit_credit += 1.0
            if self._legit_credit < self._legit_every:
                return
            self._legit_credit -= self._legit_every
            weight = 1.0
        self._step(inputs(), is_fraud, weight)
        self._frozen = None

    def _step(self, x: dict[str, float], is_fraud: bool, weight: float) -> None:
        """Scaler first (Welford), then one SGD step on the log loss, as River orders them."""
        values = np.zeros(len(INPUT_NAMES))
        index = _INDEX
        for name, value in x.items():
            i = index.get(name)
            if i is not None:
                values[i] = value
        self._n += 1
        means, m2 = self._means, self._m2
        delta = values - means
        means += delta / self._n
        centred = values - means
        m2 += delta * centred
        scale = np.sqrt(m2 / self._n)
        z = np.divide(centred, scale, out=np.zeros_like(centred), where=scale > 0.0)
        w = self._weights
        logit = self._intercept + float(w @ z)
        p = 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))
        g = (p - (1.0 if is_fraud else 0.0)) * weight
        w -= self._rate * (g * z + self._l2 * w) if self._l2 else self._rate * g * z
        self._intercept -= self._rate * g
