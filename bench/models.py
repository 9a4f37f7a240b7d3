"""Per-event cost of each model, as ratios to a trivial step on the same events.

Run it with::

    .venv/bin/python -m bench.models [--events N] [--repeat R] [--out PATH]

The throughput goal (1.75 M transactions through the whole pipeline in
under 10 minutes, i.e. 3,000 events/s for everything) leaves each model a
budget of tens of microseconds. This measures, on the same synthetic feature
dicts in the same process and run, the microseconds per event of:

* ``baseline``: copying the numeric part of the feature dict (the least a model step does)
* ``inputs``: :func:`detectors.supervised.model_inputs` (engineered, binned inputs)
* ``classifier_score`` / ``classifier_learn``: the online logistic regression,
  as shipped (``[detection.supervised]``: learn is per labelled example offered,
  most legitimate ones subsampled away)
* ``anomaly_before``: HalfSpaceTrees as configured before issue 6's speed
  work (10 trees of height 8, learning every event not flagged, the
  population inputs), score then learn
* ``anomaly``: the anomaly detector as configured now (``config/default.toml``,
  ``[detection.anomaly]``: size, learning sample, inputs), score then learn
* ``drift_before`` / ``drift``: the ADWIN watch over the watched inputs and
  both scores, on every event / on the configured sample
  (``detection.models.drift_sample_every``), through ``WorkerModels.watch``
* ``record``: a scored record for the label join, encoded and decoded
* ``arf_score_learn``: River's adaptive random forest (10 trees) on the same
  inputs, the alternative the classifier was chosen over (README, "Models")

and reports each stage's ratio to the baseline, which moves when the code
changes and much less when the shared machine is busy. Times are CPU time
of this (single-threaded) process, which a loaded machine inflates far less
than wall time. Nothing asserts a speed. The JSON goes to stdout and
``--out``; a table to stderr.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from river import forest

from detectors.anomaly import HalfSpaceTreesDetector
from detectors.drift import DriftWatch
from detectors.features import numeric_only
from detectors.label_store import ScoredRecord, decode_record
from detectors.supervised import OnlineFraudClassifier, model_inputs
from detectors.worker_models import WorkerModels
from riskwatch.settings import load_settings

DEFAULT_EVENTS = 20_000
DEFAULT_REPEAT = 3
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "models.json"


def _events(n: int, seed: int) -> list[tuple[dict[str, Any], bool]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        fraud = rng.random() < 0.01
        amount = rng.uniform(230, 500) if fraud else rng.lognormvariate(3.5, 0.8)
        count30 = float(rng.randint(1, 90))
        features = {
            "amount": amount,
            "log_amount": math.log1p(amount),
            "hour": rng.randint(0, 23),
            "is_debit": 1.0,
            "is_weekend": float(rng.random() < 0.28),
            "is_night": float(rng.random() < 0.1),
            "debit_count_1h": float(rng.randint(1, 3)),
            "debit_sum_1h": amount,
            "debit_count_24h": float(rng.randint(1, 6)),
            "debit_sum_24h": amount * 2,
            "credit_sum_24h": 0.0,
            "debit_count_7d": float(rng.randint(1, 25)),
            "debit_sum_7d": 700.0,
            "debit_count_30d": count30,
            "debit_sum_30d": count30 * 55.0,
            "terminal_fraud_1d": float(fraud and rng.random() < 0.3),
            "terminal_fraud_7d": float(fraud and rng.random() < 0.5) * 2,
            "terminal_fraud_30d": float(fraud) * 3,
            "merchant_fraud_7d": 0.0,
            "baseline_n": count30,
            "amount_ratio": amount / 55.0,
            "amount_zscore": (amount - 55.0) / 40.0,
            "seconds_since_last": rng.expovariate(1 / 40_000),
            "new_device": 0.0,
            "new_counterparty": 0.0,
            "new_country": 0.0,
            "geo_velocity_kmh": 0.0,
        }
        out.append((features, fraud))
    return out


def _time(
    step: Callable[[dict[str, Any], bool], object], events: list[tuple[dict[str, Any], bool]]
) -> float:
    started = time.process_time()
    for features, fraud in events:
        step(features, fraud)
    return (time.process_time() - started) / len(events) * 1e6


def _anomaly_step(det: HalfSpaceTreesDetector) -> Callable[[dict[str, Any], bool], None]:
    def step(f: dict[str, Any], _: bool) -> None:
        det.score_one(f)
        det.learn_one(f)

    return step


def _drift_step(sample_every: int) -> Callable[[dict[str, float], bool], None]:
    clf = OnlineFraudClassifier(learning_rate=0.01, fraud_weight=1.0)
    hst = HalfSpaceTreesDetector(n_trees=1, height=2, window_size=10, seed=1, quantile=0.9)
    models = WorkerModels(hst, clf, DriftWatch(delta=0.002, sample_every=sample_every))

    def step(x: dict[str, float], _: bool) -> None:
        models.watch(x, 0.1, 0.5)

    return step


def _record_step(x: dict[str, float], _: bool) -> None:
    raw = ScoredRecord("C0001", "T000001", 1_700_000_000_000, "TERM1", None, x).encode()
    decode_record(raw)


def _stages(events: list[tuple[dict[str, Any], bool]], with_arf: bool) -> dict[str, float]:
    settings = load_settings().detection
    shipped, a = settings.supervised, settings.anomaly
    clf = OnlineFraudClassifier(
        shipped.learning_rate,
        shipped.fraud_weight,
        shipped.l2,
        legit_sample_rate=shipped.legit_sample_rate,
    )
    before = HalfSpaceTreesDetector(n_trees=10, height=8, window_size=250, seed=42, quantile=0.995)
    now = HalfSpaceTreesDetector(
        a.n_trees, a.height, a.window_size, a.seed, a.quantile, a.learn_every, a.inputs
    )
    inputs = [model_inputs(f) for f, _ in events]
    labelled = [(x, fraud) for x, (_, fraud) in zip(inputs, events, strict=True)]
    out = {
        "baseline": _time(lambda f, _: numeric_only(f), events),
        "inputs": _time(lambda f, _: model_inputs(f), events),
        "classifier_learn": _time(clf.learn_inputs, labelled),
        "classifier_score": _time(lambda x, _: clf.score_inputs(x), labelled),
        "anomaly_before": _time(_anomaly_step(before), events),
        "anomaly": _time(_anomaly_step(now), events),
        "drift_before": _time(_drift_step(1), labelled),
        "drift": _time(_drift_step(settings.models.drift_sample_every), labelled),
        "record": _time(_record_step, labelled),
    }
    if with_arf:
        arf = forest.ARFClassifier(n_models=10, seed=1)

        def arf_step(x: dict[str, Any], fraud: bool) -> None:
            arf.predict_proba_one(x)
            arf.learn_one(x, fraud)

        out["arf_score_learn"] = _time(arf_step, labelled[: max(len(labelled) // 10, 100)])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT)
    parser.add_argument("--no-arf", action="store_true", help="skip the slow forest stage")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    events = _events(args.events, seed=1)
    rounds = [_stages(events, not args.no_arf) for _ in range(args.repeat)]
    stages = {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
    base = stages["baseline"]
    report = {
        "events": args.events,
        "repeat": args.repeat,
        "us_per_event": {k: round(v, 2) for k, v in stages.items()},
        "ratio_to_baseline": {k: round(v / base, 2) for k, v in stages.items()},
        "models_events_per_second": round(
            1e6
            / (
                stages["inputs"]
                + stages["classifier_score"]
                + stages["classifier_learn"]
                + stages["anomaly"]
                + stages["drift"]
            )
        ),
        # The model side this project's speed work owns (everything but the
        # classifier and its inputs): anomaly detector and drift watch.
        "unsupervised_and_drift_before_us": round(
            stages["anomaly_before"] + stages["drift_before"], 2
        ),
        "unsupervised_and_drift_us": round(stages["anomaly"] + stages["drift"], 2),
        "unsupervised_and_drift_ratio_now_to_before": round(
            (stages["anomaly"] + stages["drift"])
            / (stages["anomaly_before"] + stages["drift_before"]),
            3,
        ),
    }
    payload = orjson.dumps(report, option=orjson.OPT_INDENT_2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(payload)
    sys.stdout.write(payload.decode() + "\n")
    sys.stderr.write(f"{'stage':<18}{'us/event':>10}{'x baseline':>12}\n")
    for name, value in stages.items():
        sys.stderr.write(f"{name:<18}{value:>10.1f}{value / base:>12.1f}\n")
    sys.stderr.write(f"all models: {report['models_events_per_second']:,} events/s\n")
    sys.stderr.write(
        "anomaly + drift: "
        f"{report['unsupervised_and_drift_before_us']} µs/event before, "
        f"{report['unsupervised_and_drift_us']} now "
        f"({report['unsupervised_and_drift_ratio_now_to_before']:.2f} of before)\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
