"""The models: one contract for every detector, exact explanations, snapshots on a real Redis."""

from __future__ import annotations

import math
import pickle
import random
from collections.abc import Callable
from typing import Any

import pytest
import redis

from detectors.anomaly import HalfSpaceTreesDetector
from detectors.drift import DriftWatch
from detectors.explain import customer_normal
from detectors.fusion import fuse
from detectors.supervised import INPUT_NAMES, OnlineFraudClassifier, model_inputs
from detectors.worker_models import ModelKeeper, WorkerModels
from riskwatch.settings import load_settings


def _event(rng: random.Random, fraud: bool = False) -> dict[str, Any]:
    amount = rng.uniform(230, 500) if fraud else rng.uniform(5, 150)
    count = float(rng.randint(1, 40))
    return {
        "amount": amount,
        "log_amount": math.log1p(amount),
        "hour": rng.randint(0, 23),
        "is_debit": 1.0,
        "debit_count_24h": float(rng.randint(1, 4)),
        "debit_sum_24h": amount * 2,
        "debit_count_30d": count,
        "debit_sum_30d": count * 60.0,
        "terminal_fraud_7d": 2.0 if fraud and rng.random() < 0.5 else 0.0,
    }


def _classifier() -> OnlineFraudClassifier:
    return OnlineFraudClassifier(learning_rate=0.05, fraud_weight=2.0)


def _train(clf: OnlineFraudClassifier, seed: int, n: int = 2000) -> None:
    rng = random.Random(seed)
    for _ in range(n):
        fraud = rng.random() < 0.05
        clf.learn_one(_event(rng, fraud), fraud)


def _score_classifier(clf: OnlineFraudClassifier, x: dict[str, Any]) -> float:
    return clf.score_one(x).probability


def _score_anomaly(det: HalfSpaceTreesDetector, x: dict[str, Any]) -> float:
    return det.score_one(x).score


def _learn_classifier(clf: OnlineFraudClassifier, x: dict[str, Any]) -> None:
    clf.learn_one(x, False)


def _hst() -> HalfSpaceTreesDetector:
    return HalfSpaceTreesDetector(n_trees=5, height=6, window_size=50, seed=3, quantile=0.99)


DETECTORS: list[tuple[str, Callable[[], Any], Callable[..., float], Callable[..., None]]] = [
    ("classifier", _classifier, _score_classifier, _learn_classifier),
    ("anomaly", _hst, _score_anomaly, lambda det, x: det.learn_one(x)),
]


@pytest.mark.parametrize(
    ("name", "new", "score", "learn"), DETECTORS, ids=[d[0] for d in DETECTORS]
)
def test_every_detector_keeps_the_river_contract(
    name: str, new: Callable[[], Any], score: Callable[..., float], learn: Callable[..., None]
) -> None:
    rng = random.Random(11)
    events = [_event(rng, fraud=rng.random() < 0.1) for _ in range(400)]
    a, b = new(), new()
    for x in events:
        # Scored before it learns; scoring alone changes nothing.
        before = score(a, x)
        assert score(a, x) == before
        learn(a, x)
        learn(b, x)
    probe = _event(random.Random(5))
    assert score(a, probe) == score(b, probe), "seeded runs repeat"
    assert score(pickle.loads(pickle.dumps(a)), probe) == score(a, probe), "it pickles"
    # Missing and unknown features are tolerated.
    assert 0.0 <= score(a, {"amount": 10.0, "something_new": 3.0}) <= 1.0
    assert 0.0 <= score(a, {}) <= 1.0


def test_contributions_are_exact_log_odds_terms() -> None:
    clf = _classifier()
    _train(clf, seed=1)
    fraud = clf.score_one(_event(random.Random(2), fraud=True))
    logit = fraud.intercept + sum(fraud.contributions.values())
    assert fraud.probability == pytest.approx(1 / (1 + math.exp(-logit)))
    top = fraud.top_features()
    assert top, "a likely fraud has inputs pushing it up"
    assert all(fraud.contributions[name] == pytest.approx(v, abs=1e-3) for name, v in top)
    assert [v for _, v in top] == sorted((v for _, v in top), reverse=True)


def test_the_classifier_separates_the_binned_amount_threshold() -> None:
    clf = _classifier()
    _train(clf, seed=4, n=4000)
    rng = random.Random(9)
    frauds = [clf.score_one(_event(rng, True)).probability for _ in range(200)]
    legit = [clf.score_one(_event(rng, False)).probability for _ in range(200)]
    assert min(frauds) > max(legit)


def test_fraud_weight_raises_the_probability_of_a_rare_class() -> None:
    plain = OnlineFraudClassifier(learning_rate=0.05, fraud_weight=1.0)
    weighted = OnlineFraudClassifier(learning_rate=0.05, fraud_weight=5.0)
    _train(plain, seed=6)
    _train(weighted, seed=6)
    x = _event(random.Random(8), fraud=True)
    assert weighted.score_one(x).probability > plain.score_one(x).probability


def test_a_bin_absent_from_the_inputs_counts_as_zero_and_learns_a_weight() -> None:
    """A bin is in the dict only when it is 1; the model must still learn its weight.

    River's StandardScaler on such sparse dicts saw each bin as the constant 1
    and scaled it to 0, so a threshold like amount>220 never moved the score.
    Here the amount itself says nothing (same range on both sides of the
    label); only the bin ``ratio>3`` does.
    """
    clf = OnlineFraudClassifier(learning_rate=0.05, fraud_weight=1.0)
    rng = random.Random(3)
    for _ in range(3000):
        fraud = rng.random() < 0.2
        x = {"amount": rng.uniform(10, 100)}
        if fraud:
            x["ratio>3"] = 1.0
        clf.learn_inputs(x, fraud)
    above = clf.score_inputs({"amount": 50.0, "ratio>3": 1.0})
    below = clf.score_inputs({"amount": 50.0})
    assert above.probability > 0.9 and below.probability < 0.1
    assert above.top_features()[0][0] == "ratio>3"
    assert below.contributions["ratio>3"] < 0, "being under the edge is evidence too"


def test_legit_examples_are_subsampled_and_the_probability_corrected() -> None:
    """One legit example in 1/rate is learned; the odds it adds are taken back."""
    full = OnlineFraudClassifier(learning_rate=0.02, fraud_weight=1.0)
    sampled = OnlineFraudClassifier(learning_rate=0.02, fraud_weight=1.0, legit_sample_rate=0.1)
    rng = random.Random(5)
    for _ in range(20000):
        fraud = rng.random() < 0.02
        x = {"amount": rng.uniform(10, 100), "is_night": float(rng.random() < 0.5)}
        full.learn_inputs(x, fraud)
        sampled.learn_inputs(x, fraud)
    assert sampled.learned == full.learned == 20000
    assert sampled.frauds_learned == full.frauds_learned
    # Only the frauds and every tenth legitimate example reached the scaler.
    legit = full.learned - full.frauds_learned
    assert sampled._n == sampled.frauds_learned + legit // 10
    # No input tells the classes apart: both answer the base rate, about 2 %.
    probe = {"amount": 50.0, "is_night": 0.0}
    assert full.score_inputs(probe).probability == pytest.approx(0.02, abs=0.01)
    assert sampled.score_inputs(probe).probability == pytest.approx(0.02, abs=0.01)
    fraud = sampled.score_inputs(probe)
    logit = fraud.intercept + sum(fraud.contributions.values())
    assert fraud.probability == pytest.approx(1 / (1 + math.exp(-logit))), "still exact"


def test_a_legit_example_subsampled_away_is_never_decoded() -> None:
    """learn_example decodes only the examples it keeps, and learns what learn_inputs does."""
    eager = OnlineFraudClassifier(learning_rate=0.02, fraud_weight=1.0, legit_sample_rate=0.1)
    lazy = OnlineFraudClassifier(learning_rate=0.02, fraud_weight=1.0, legit_sample_rate=0.1)
    rng = random.Random(7)
    decoded: list[int] = []
    for i in range(200):
        fraud = i % 25 == 0
        x = {"amount": rng.uniform(10, 100)}
        eager.learn_inputs(x, fraud)
        lazy.learn_example(fraud, lambda i=i, x=x: decoded.append(i) or x)
    frauds = [i for i in range(200) if i % 25 == 0]
    assert lazy._n == len(decoded) == len(frauds) + (200 - len(frauds)) // 10
    assert set(frauds) <= set(decoded)
    assert lazy.learned == eager.learned and lazy.frauds_learned == eager.frauds_learned
    probe = {"amount": 50.0}
    assert lazy.score_inputs(probe).probability == eager.score_inputs(probe).probability


def test_a_snapshot_of_the_river_based_classifier_is_refused(
    redis_url: str, key_prefix: str
) -> None:
    """An old pickle would load with none of the new state: the keeper starts afresh."""
    old = OnlineFraudClassifier.__new__(OnlineFraudClassifier)
    old.__dict__.update({"_scaler": None, "_model": None, "learned": 5, "frauds_learned": 1})
    with pytest.raises(pickle.UnpicklingError):
        pickle.loads(pickle.dumps(old))
    models = _models()
    models.classifier = old
    client = redis.Redis.from_url(redis_url)
    client.set(f"{key_prefix}:{{ml}}:models", pickle.dumps(models))
    keeper = ModelKeeper(client, key_prefix, _models, 60.0)
    with keeper.lock:
        assert keeper.models().classifier.learned == 0


def test_model_inputs_bin_amount_and_ratio_and_pass_fraud_counts() -> None:
    x = model_inputs(
        {
            "amount": 300.0,
            "is_debit": 1.0,
            "debit_count_30d": 5.0,
            "debit_sum_30d": 500.0,
            "terminal_fraud_7d": 3.0,
            "terminal_risk_7d": 0.3,
        }
    )
    assert x["ratio"] == 6.0, "300 against the 50 of the four before it"
    assert {"amount>220", "amount>250", "ratio>5"} <= set(x)
    assert "amount>300" not in x
    assert x["log_terminal_fraud_7d"] == math.log1p(3.0) and x["terminal_fraud_7d>2"] == 1.0
    assert "terminal_fraud_7d>4" not in x
    assert x["terminal_risk_7d"] == 0.3 and x["terminal_risk_7d>0.2"] == 1.0
    thin = model_inputs({"amount": 300.0, "debit_count_30d": 2.0, "debit_sum_30d": 310.0})
    assert thin["ratio"] == 1.0, "too little history for a ratio"
    assert set(x) <= set(INPUT_NAMES) and set(thin) <= set(INPUT_NAMES), "every input has a weight"


def test_recent_mean_against_the_past_mean_marks_a_card_spending_inflated_amounts() -> None:
    base = {"amount": 40.0, "is_debit": 1.0, "baseline_n": 50.0, "amount_mean_kind": 20.0}
    # Four other debits today averaging 60, three times the customer's past mean.
    x = model_inputs({**base, "debit_count_24h": 5.0, "debit_sum_24h": 280.0})
    assert x["mean_ratio_24h"] == 3.0
    assert {"mean_ratio_24h>2.5", "mean_ratio_24h>1.2"} <= set(x) and "mean_ratio_24h>3" not in x
    alone = model_inputs({**base, "debit_count_24h": 1.0, "debit_sum_24h": 40.0})
    assert alone["mean_ratio_24h"] == 1.0, "no other debit today: nothing to compare"
    new = model_inputs({**base, "baseline_n": 1.0, "debit_count_24h": 5.0, "debit_sum_24h": 280.0})
    assert new["mean_ratio_24h"] == 1.0, "too little history for a past mean"


def test_the_classifier_raises_the_fused_score() -> None:
    assert fuse([], 0.0, 0.6, 0.0, 0.9) == 0.0
    assert fuse([], 0.0, 0.6, 0.8, 0.9) == pytest.approx(72.0)
    assert fuse([50.0], 0.0, 0.6, 0.8, 0.9) == pytest.approx(86.0)
    assert fuse([], 0.0, 0.6, 0.123456, 0.9) == pytest.approx(11.11104), "not rounded"


def test_an_untrained_classifier_is_not_fused_until_it_has_seen_both_classes() -> None:
    clf = OnlineFraudClassifier(learning_rate=0.05, fraud_weight=2.0, min_frauds=5, min_legit=50)
    x = {"amount": 300.0}
    assert clf.score_one(x).probability == 0.5 and not clf.score_one(x).trained
    assert clf.score_one(x).evidence == 0.0, "an untrained model's 0.5 is not fused"
    rng = random.Random(4)
    for _ in range(60):
        clf.learn_one(_event(rng, False), False)
    for _ in range(4):
        clf.learn_one(_event(rng, True), True)
    assert not clf.score_one(x).trained, "4 frauds are fewer than min_frauds"
    clf.learn_one(_event(rng, True), True)
    assert clf.score_one(x).trained
    assert clf.score_one(x).evidence == clf.score_one(x).probability


def test_the_shipped_model_weights_cannot_alert_without_a_rule() -> None:
    """Both models at their maximum stay under the alert threshold: a rule must fire."""
    detection = load_settings().detection
    models_only = fuse([], 1.0, detection.anomaly.weight, 1.0, detection.supervised.weight)
    assert models_only < detection.alert_threshold
    with_a_rule = fuse([40.0], 1.0, detection.anomaly.weight, 1.0, detection.supervised.weight)
    assert with_a_rule >= detection.alert_threshold, "they still corroborate a rule"


def test_customer_normal_compares_with_the_customers_own_history() -> None:
    normal = customer_normal(
        {
            "amount": 900.0,
            "is_debit": 1.0,
            "debit_count_24h": 4.0,
            "debit_count_30d": 31.0,
            "debit_sum_30d": 1500.0 + 900.0,
            "new_device": 1.0,
            "new_country": 0.0,
        }
    )
    assert normal["amount"] == {"value": 900.0, "normal": 50.0, "ratio": 18.0}
    assert normal["debit_count_24h"]["ratio"] == pytest.approx(4.0 / (31.0 / 30.0), abs=1e-3)
    assert normal["new_device"] == {"value": 1.0, "normal": 0.0}
    assert "new_country" not in normal
    assert customer_normal({"amount": 5.0}) == {}, "no history, nothing claimed"


def test_drift_on_a_score_is_detected_and_exported() -> None:
    watch = DriftWatch(delta=0.002)
    rng = random.Random(3)
    assert not any(watch.update({"fraud_probability": rng.gauss(0.05, 0.01)}) for _ in range(1500))
    drifted = [
        s for _ in range(1500) for s in watch.update({"fraud_probability": rng.gauss(0.5, 0.01)})
    ]
    assert "fraud_probability" in drifted
    assert watch.means()["fraud_probability"] > 0.4


def _models() -> WorkerModels:
    return WorkerModels(_hst(), _classifier(), DriftWatch(0.002))


def test_models_snapshot_to_redis_and_reload_on_start(redis_url: str, key_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    now = [0.0]
    keeper = ModelKeeper(client, key_prefix, _models, 60.0, monotonic=lambda: now[0])
    with keeper.lock:
        models = keeper.models()
        _train(models.classifier, seed=2)
        assert not keeper.maybe_save(), "not before the interval"
        now[0] = 61.0
        assert keeper.maybe_save()
        assert not keeper.save_if_changed(), "nothing learned since"
        keeper.mark_changed()
        assert keeper.save_if_changed()
    restarted = ModelKeeper(client, key_prefix, _models, 60.0)
    with restarted.lock:
        loaded = restarted.models()
    probe = _event(random.Random(4), fraud=True)
    assert loaded.classifier.score_one(probe) == models.classifier.score_one(probe)
    assert loaded.classifier.learned == 2000
    assert loaded.generation == 2 and loaded.version.endswith("@g2")


def test_an_unreadable_snapshot_starts_new_models(redis_url: str, key_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set(f"{key_prefix}:{{ml}}:models", b"not a pickle")
    keeper = ModelKeeper(client, key_prefix, _models, 60.0)
    with keeper.lock:
        assert keeper.models().classifier.learned == 0


def test_anomaly_explanations_leave_out_inputs_that_never_varied() -> None:
    det = _hst()
    rng = random.Random(2)
    for _ in range(300):
        x = _event(rng)
        det.score_one(x)
        det.learn_one(x)
    odd = det.score_one({**_event(rng), "amount": 5000.0, "log_amount": math.log1p(5000.0)})
    named = [name for name, _ in odd.top_features()]
    assert "is_debit" in odd.flat and "is_debit" not in named
    assert "log_amount" in named
