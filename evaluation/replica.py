"""An offline replica of the Handbook evaluation, for tuning the classifier in minutes.

``riskwatch evaluate`` runs the whole monitor over 1.78 M transactions (a
quarter of an hour here). To compare classifier designs this module skips
the flow: it computes, with numpy, the features the live system gives the
classifier on Handbook traffic, then replays :mod:`detectors.supervised`
itself over them in event-time order, learning each transaction once its
label (or the implicit-legitimate horizon) is due, and scores the result
with the same protocol (:mod:`evaluation.protocol`).

What it reproduces, and how (the live definitions are in
:mod:`detectors.features` and :mod:`detectors.label_store`):

* customer debit counts and sums over (t − W, t], W = 24 h, 7 d, 30 d, this
  transaction included; the per-kind baseline (mean, sample deviation,
  z-score, count) of the customer's amounts before it;
* terminal fraud counts and risks: frauds, and transactions whose outcome
  was known, among the terminal's transactions in (t − 7 d − W, t − 7 d − 1 h]
  (labels come 7 days after the fraud and are released one hour behind the
  watermark); the Handbook has no merchants;
* local hour and weekday in the shipped time zone (Asia/Shanghai, UTC+8);
* examples learned in batches of 1,000 transactions, each batch after the
  examples whose label or horizon the previous batch's newest event passed.

Not reproduced: the rules, HalfSpaceTrees and the fusion (the replica
measures the classifier's own column), the far edge of the 7- and 30-day
windows rounded to a UTC day beyond 48 h, and the flow's sharding. On seed 0
the River-era classifier scored 0.869 / 0.628 / 0.299 here against
0.863 / 0.614 / 0.295 in the official run: read the replica's figures as
comparisons between designs, and confirm a winner with ``riskwatch
evaluate``.

Run it with::

    .venv/bin/python -m evaluation.replica [--seed 0] [--learning-rate 0.001]
        [--legit-sample-rate 0.1] [--fraud-weight 1]
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np

from detectors.supervised import OnlineFraudClassifier, model_inputs
from evaluation.protocol import ProtocolResult, ScoredTransactions, assess_prequential
from riskwatch.settings import load_settings
from simulator.handbook import DAY_SECONDS, HandbookConfig, HandbookData, generate_handbook

#: Labels are released this far behind the watermark (detection.labels.release_lateness_seconds).
RELEASE_LATENESS = 3600
LOCAL_OFFSET = 8 * 3600
#: Spacing of the customer / terminal sort keys: more seconds than any run has.
_KEY_SPAN = 10**10
BATCH = 1000


def _sorted_keys(group: np.ndarray, seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ordered by group then time, and their keys ``group * span + seconds``."""
    order = np.lexsort((np.arange(group.size), group))
    return order, group[order] * _KEY_SPAN + seconds[order]


def _scatter(order: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.empty(values.size, dtype=float)
    out[order] = values
    return out


def replica_features(data: HandbookData) -> dict[str, np.ndarray]:
    """The live feature columns the classifier reads, one row per transaction."""
    s = data.seconds.astype(np.int64)
    amount = data.cents.astype(float) / 100
    fraud = data.fraud.astype(np.int64)
    rows = np.arange(s.size)
    local = s + LOCAL_OFFSET
    weekday = (local // DAY_SECONDS + data.config.start.weekday()) % 7
    out: dict[str, np.ndarray] = {
        "amount": amount,
        "is_debit": np.ones(s.size),
        "is_weekend": (weekday >= 5).astype(float),
        "is_night": ((local % DAY_SECONDS) // 3600 < 6).astype(float),
    }
    order, key = _sorted_keys(data.customer.astype(np.int64), s)
    sums = np.concatenate([[0.0], np.cumsum(amount[order])])
    squares = np.concatenate([[0.0], np.cumsum(amount[order] ** 2)])
    for name, width in (("24h", DAY_SECONDS), ("7d", 7 * DAY_SECONDS), ("30d", 30 * DAY_SECONDS)):
        low = np.searchsorted(key, key - width, side="right")
        out[f"debit_count_{name}"] = _scatter(order, rows - low + 1)
        out[f"debit_sum_{name}"] = _scatter(order, sums[rows + 1] - sums[low])
    first = np.searchsorted(key, key - key % _KEY_SPAN, side="left")
    n = rows - first
    mean = np.divide(sums[rows] - sums[first], n, out=np.zeros(s.size), where=n > 0)
    var = np.divide(
        squares[rows] - squares[first] - n * mean**2, n - 1, out=np.zeros(s.size), where=n > 1
    )
    std = np.sqrt(np.maximum(var, 0.0))
    out["baseline_n"] = _scatter(order, n)
    out["amount_mean_kind"] = _scatter(order, mean)
    out["amount_std_kind"] = _scatter(order, std)
    z = np.divide(amount[order] - mean, std, out=np.zeros(s.size), where=std > 0)
    out["amount_zscore"] = _scatter(order, z)
    order, key = _sorted_keys(data.terminal.astype(np.int64), s)
    frauds = np.concatenate([[0], np.cumsum(fraud[order])])
    delay = data.config.label_delay_days * DAY_SECONDS
    high = np.searchsorted(key, key - delay - RELEASE_LATENESS, side="right")
    for name, width in (("1d", DAY_SECONDS), ("7d", 7 * DAY_SECONDS), ("30d", 30 * DAY_SECONDS)):
        low = np.minimum(np.searchsorted(key, key - delay - width, side="right"), high)
        found, known = frauds[high] - frauds[low], high - low
        out[f"terminal_fraud_{name}"] = _scatter(order, found)
        risk = np.divide(found, known, out=np.zeros(s.size), where=known > 0)
        out[f"terminal_risk_{name}"] = _scatter(order, np.minimum(risk, 1.0))
    return out


def replay(
    data: HandbookData, features: dict[str, np.ndarray], classifier: OnlineFraudClassifier
) -> tuple[np.ndarray, dict[str, float]]:
    """Each transaction's logit, scored before learning, and µs per event of each step."""
    s = data.seconds.astype(np.int64)
    due = s + data.config.label_delay_days * DAY_SECONDS + RELEASE_LATENESS
    fraud = data.fraud.tolist()
    columns = {name: column.tolist() for name, column in features.items()}
    names = list(columns)
    logits = np.empty(s.size)
    stored: list[dict[str, float] | None] = [None] * s.size
    learned = 0
    spent = {"inputs": 0.0, "score": 0.0, "learn": 0.0}
    clock = time.perf_counter
    for start in range(0, s.size, BATCH):
        if start:
            upto = int(np.searchsorted(due, s[start - 1], side="right"))
            began = clock()
            for row in range(learned, upto):
                inputs = stored[row]
                assert inputs is not None
                classifier.learn_inputs(inputs, bool(fraud[row]))
                stored[row] = None
            spent["learn"] += clock() - began
            learned = max(learned, upto)
        for row in range(start, min(start + BATCH, s.size)):
            feature: dict[str, Any] = {name: columns[name][row] for name in names}
            began = clock()
            inputs = model_inputs(feature)
            middle = clock()
            p = classifier.score_inputs(inputs).probability
            spent["inputs"] += middle - began
            spent["score"] += clock() - middle
            p = min(max(p, 1e-300), 1.0 - 1e-16)
            logits[row] = math.log(p / (1.0 - p))
            stored[row] = inputs
    return logits, {k: v / s.size * 1e6 for k, v in spent.items()}


def assess(data: HandbookData, scores: np.ndarray) -> ProtocolResult:
    scored = ScoredTransactions(data.day, data.customer, data.fraud, scores)
    return assess_prequential(scored, data.config.start)


def main(argv: list[str] | None = None) -> int:
    shipped = load_settings().detection.supervised
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learning-rate", type=float, default=shipped.learning_rate)
    parser.add_argument("--fraud-weight", type=float, default=shipped.fraud_weight)
    parser.add_argument("--l2", type=float, default=shipped.l2)
    parser.add_argument("--legit-sample-rate", type=float, default=shipped.legit_sample_rate)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data = generate_handbook(HandbookConfig(seed=args.seed))
    features = replica_features(data)
    classifier = OnlineFraudClassifier(
        args.learning_rate,
        args.fraud_weight,
        args.l2,
        legit_sample_rate=args.legit_sample_rate,
    )
    scores, cost = replay(data, features, classifier)
    result = assess(data, scores)
    cells = " / ".join(f"{m:.3f} ± {sd:.3f}" for m, sd in zip(result.mean, result.std, strict=True))
    print(
        f"classifier {classifier.version}, Handbook seed {args.seed}: AUC ROC / AP / CP@100 {cells}"
    )
    weeks = (
        f"{w.start}: {w.auc_roc:.3f}/{w.average_precision:.3f}/{w.card_precision_at_100:.3f}"
        for w in result.weeks
    )
    print("per week: " + "; ".join(weeks))
    print(
        "µs per event: "
        + ", ".join(f"{k} {v:.1f}" for k, v in cost.items())
        + f"; {time.perf_counter() - started:.0f} s in all"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
