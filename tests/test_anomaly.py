"""The anomaly detector: protected, sampled learning, its inputs, old snapshots; drift sampling."""

from __future__ import annotations

import math
import pickle
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench import models as bench_models
from detectors.anomaly import (
    CUSTOMER_FEATURES,
    MODEL_FEATURES,
    ZSCORE_CLIP,
    HalfSpaceTreesDetector,
    customer_inputs,
    model_inputs,
)
from detectors.drift import DriftWatch
from detectors.supervised import OnlineFraudClassifier
from detectors.worker_models import WorkerModels
from evaluation import anomaly_compare


def _usual(rng: random.Random) -> dict[str, Any]:
    amount = rng.gauss(40, 5)
    return {
        "amount": amount,
        "log_amount": math.log1p(amount),
        "hour": rng.randint(9, 18),
        "is_debit": 1.0,
        "debit_count_24h": float(rng.randint(1, 3)),
        "debit_sum_24h": amount * 2,
    }


def _odd() -> dict[str, Any]:
    return {"amount": 9000.0, "log_amount": math.log1p(9000.0), "hour": 3, "is_debit": 1.0,
            "debit_count_24h": 30.0, "debit_sum_24h": 90000.0}  # fmt: skip


def _hst(learn_every: int = 1, inputs: str = "population") -> HalfSpaceTreesDetector:
    return HalfSpaceTreesDetector(5, 6, 50, 3, 0.99, learn_every=learn_every, inputs=inputs)


def _warm(det: HalfSpaceTreesDetector, n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    for _ in range(n):
        x = _usual(rng)
        det.score_one(x)
        det.learn_one(x)


@pytest.mark.parametrize("learn_every", [1, 4])
def test_what_it_flags_is_never_learned(learn_every: int) -> None:
    det = _hst(learn_every)
    _warm(det, 600)
    rng = random.Random(7)
    flagged = 0
    for i in range(3000):
        x = _odd() if i % 50 == 0 else _usual(rng)
        verdict = det.score_one(x)
        learned = det.learned
        det.learn_one(x)
        if verdict.score >= verdict.threshold:
            flagged += 1
            assert det.learned == learned, "an event it flagged taught it nothing"
    assert flagged >= 30, "the running quantile flags the top of the scores"
    assert det.skipped >= flagged


def test_it_learns_one_in_learn_every_of_the_events_it_does_not_flag() -> None:
    every, sampled = _hst(1), _hst(4)
    _warm(every, 2000)
    _warm(sampled, 2000)
    assert every.learned + every.skipped == 2000
    assert sampled.learned == pytest.approx((2000 - sampled.skipped) / 4, abs=1)
    assert sampled.version.endswith("-e4") and "-e" not in every.version


def test_a_sampled_detector_still_ranks_the_odd_above_the_usual() -> None:
    det = _hst(4)
    _warm(det, 2000)
    usual = det.score_one(_usual(random.Random(99))).score
    assert det.score_one(_odd()).score > usual


def test_the_customer_inputs_add_the_customers_own_normal_clipped() -> None:
    base = {"amount": 500.0, "log_amount": math.log1p(500.0), "hour": 2, "is_debit": 1.0}
    x = customer_inputs(
        {**base, "baseline_n": 10.0, "amount_ratio": 12.5, "amount_zscore": 250.0,
         "seconds_since_last": 3600.0, "new_device": 1.0, "geo_velocity_kmh": 900.0}
    )  # fmt: skip
    assert set(x) == set(MODEL_FEATURES) | set(CUSTOMER_FEATURES)
    assert x["log_amount_ratio"] == pytest.approx(math.log(12.5))
    assert x["amount_zscore"] == ZSCORE_CLIP, "one flat customer must not stretch the scaler"
    assert x["new_device"] == 1.0 and x["new_country"] == 0.0
    assert x["log_seconds_since_last"] == pytest.approx(math.log1p(3600.0))
    thin = customer_inputs({**base, "baseline_n": 2.0, "amount_ratio": 12.5, "amount_zscore": 9.0})
    assert thin["log_amount_ratio"] == 0.0 and thin["amount_zscore"] == 0.0, "too little history"
    assert {k: x[k] for k in MODEL_FEATURES} == model_inputs(base)


def test_the_customer_inputs_detector_pickles_and_repeats() -> None:
    a, b = _hst(2, "customer"), _hst(2, "customer")
    _warm(a, 600)
    _warm(b, 600)
    probe = _usual(random.Random(5))
    assert a.score_one(probe) == b.score_one(probe)
    assert pickle.loads(pickle.dumps(a)).score_one(probe) == a.score_one(probe)
    assert a.version.endswith("-customer")


class _RiverScaled(HalfSpaceTreesDetector):
    """The detector as it scaled before: River's MinMaxScaler.transform_one at every event."""

    def _scale(self, x: dict[str, float]) -> dict[str, float]:
        return dict(self._scaler.transform_one(x))


def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    """Equal floats, NaN equal to NaN (River scales to NaN before it has learned)."""
    return a.keys() == b.keys() and all(
        a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a
    )


@pytest.mark.parametrize("inputs", ["population", "customer"])
def test_its_scaling_gives_river_minmaxscalers_numbers(inputs: str) -> None:
    fast = _hst(3, inputs)
    river = _RiverScaled(5, 6, 50, 3, 0.99, learn_every=3, inputs=inputs)
    rng = random.Random(11)
    for i in range(1500):
        x = _odd() if i % 40 == 0 else _usual(rng)
        a, b = fast.score_one(x), river.score_one(x)
        assert _same(a.scaled, b.scaled) and a.score == b.score and a.flat == b.flat
        fast.learn_one(x)
        river.learn_one(x)
    assert fast.learned == river.learned > 0
    # An input the detector has not scaled before (its bounds are read anew).
    wider = {**fast._inputs(_odd()), "extra": 2.0}
    assert _same(fast._scale(wider), river._scale(wider))
    assert fast._scaler.min.keys() == river._scaler.min.keys()


def test_a_snapshot_from_before_the_generic_detector_reloads_as_the_same_model() -> None:
    det = _hst()
    _warm(det, 600)
    probe = _usual(random.Random(6))
    expected = det.score_one(probe).score
    # What a HalfSpaceTreesDetector pickled before this change held.
    state = dict(det.__dict__)
    state["_trees"] = state.pop("_model")
    for gone in ("name", "_inputs", "_learn_every", "_due", "_flat", "_bounds"):
        del state[gone]
    old = HalfSpaceTreesDetector.__new__(HalfSpaceTreesDetector)
    old.__setstate__(state)
    assert old.score_one(probe).score == expected
    old.learn_one(probe)
    assert old.name == "half_space_trees"


def test_drift_is_watched_on_one_event_in_sample_every() -> None:
    watch = DriftWatch(delta=0.002, sample_every=3)
    assert [watch.due() for _ in range(7)] == [True, False, False, True, False, False, True]
    models = WorkerModels(_hst(), OnlineFraudClassifier(0.05, 1.0), DriftWatch(0.002, 4))
    rng = random.Random(3)
    for _ in range(4000):
        models.watch({"log_amount": rng.gauss(3, 0.1)}, rng.gauss(0.05, 0.01), 0.3)
    drifted = [
        s for _ in range(4000) for s in models.watch({"log_amount": 3.0}, rng.gauss(0.6, 0.01), 0.3)
    ]
    assert "fraud_probability" in drifted, "a sample still sees the level move"
    assert models.drift.means()["fraud_probability"] > 0.4
    state = dict(models.drift.__dict__)
    del state["sample_every"], state["_due"]
    old = DriftWatch.__new__(DriftWatch)
    old.__setstate__(state)
    assert old.due() and old.due(), "a snapshot from before sampling watches every event"


@pytest.mark.slow
def test_the_comparison_reports_every_candidate_on_both_datasets(tmp_path: Path) -> None:
    out = tmp_path / "compare.json"
    argv = ["--hb-customers", "60", "--hb-days", "8", "--ch-customers", "300", "--ch-days", "7"]
    assert anomaly_compare.main([*argv, "--only", "HST t5", "--out", str(out)]) == 0
    report = orjson.loads(out.read_bytes())
    assert set(report["datasets"]) == {"handbook", "channels"}
    for data in report["datasets"].values():
        assert data["events"] > 0 and data["positives"] > 0
        assert data["detectors"] and all("HST t5" in name for name in data["detectors"])
        for row in data["detectors"].values():
            assert 0.0 <= row["auc_roc"] <= 1.0 and row["us_per_event"] > 0


@pytest.mark.slow
def test_the_model_bench_reports_before_and_now(tmp_path: Path) -> None:
    status = bench_models.main(
        ["--events", "3000", "--repeat", "1", "--no-arf", "--out", str(tmp_path / "m.json")]
    )
    assert status == 0
    stages = orjson.loads((tmp_path / "m.json").read_bytes())["us_per_event"]
    assert {"anomaly_before", "anomaly", "drift_before", "drift", "record"} <= set(stages)
