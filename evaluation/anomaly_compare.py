"""Which unsupervised detector to run: River's anomaly detectors side by side.

Run it with::

    .venv/bin/python -m evaluation.anomaly_compare [--hb-customers N --hb-days D]
        [--ch-customers N --ch-days D] [--out PATH]

Each candidate sees the same events, in event-time order, through the same
protected, thresholded wrapper the monitor uses
(:class:`detectors.anomaly.ProtectedAnomalyDetector`: score before learn,
flagged events not learned), on two datasets:

* Handbook mode (card fraud: large amounts, compromised terminals,
  compromised cards with inflated amounts), labels = its frauds;
* the bank simulator's channels (the 13 fraud and AML scenarios as
  positives; the look-alikes and everyday traffic as negatives).

The features are the monitor's own: each event goes through the real state
layer (:class:`detectors.state.CustomerStateStore` on an embedded Redis)
and :func:`detectors.features.build_features`, without Bytewax. For each
candidate it prints AUC ROC and Average Precision of the detector's score
alone, and its microseconds of CPU per event (inputs, score and learn)
beside a baseline step that copies the features, measured in the same run
(the machines are shared; CPU time moves less than wall time under load).
The JSON goes to ``--out``; a table to stdout. Nothing asserts a figure.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import redis
from river import anomaly

from detectors.anomaly import (
    CUSTOMER_FEATURES,
    HalfSpaceTreesDetector,
    ProtectedAnomalyDetector,
)
from detectors.features import build_features
from detectors.state import CustomerStateStore
from evaluation.metrics import auc_roc, average_precision
from riskwatch.contracts import Transaction
from riskwatch.services import start_redis
from simulator import SimulationConfig, simulate
from simulator.handbook import HandbookConfig, simulate_handbook

DEFAULT_OUT = Path("var/eval/anomaly-compare.json")
POSITIVE = frozenset({"fraud", "suspicious"})
BATCH = 1000
#: The feature-dict keys any candidate's inputs read; the rest is dropped to save memory.
KEPT = (
    "amount", "log_amount", "hour", "is_debit", "debit_count_1h", "debit_sum_1h",
    "debit_count_24h", "debit_sum_24h", "credit_sum_24h", "baseline_n", "amount_ratio",
    "amount_zscore", "seconds_since_last", "new_device", "new_counterparty", "new_country",
    "geo_velocity_kmh",
)  # fmt: skip


@dataclass(frozen=True)
class Dataset:
    name: str
    features: list[dict[str, Any]]
    positive: np.ndarray


def _features(events: Iterator[tuple[Transaction, bool]], tz: ZoneInfo, workdir: Path) -> Dataset:
    """Run the events through the real state layer; keep the inputs' features and labels."""
    service = start_redis(workdir)
    try:
        client = redis.Redis.from_url(f"redis://{service.address}/0")
        store = CustomerStateStore(client, "cmp", 259_200, 3_024_000, 3600)
        feats: list[dict[str, Any]] = []
        positive: list[bool] = []
        batch: list[Transaction] = []

        def flush() -> None:
            for txn, update in zip(batch, store.apply(batch), strict=True):
                f = build_features(txn, update, tz)
                feats.append({k: f[k] for k in KEPT if k in f})
            batch.clear()

        for txn, is_positive in events:
            batch.append(txn)
            positive.append(is_positive)
            if len(batch) >= BATCH:
                flush()
        flush()
        client.close()
    finally:
        service.stop()
    return Dataset("", feats, np.asarray(positive, dtype=bool))


def handbook_events(customers: int, days: int, seed: int) -> Iterator[tuple[Transaction, bool]]:
    config = HandbookConfig(seed=seed, customers=customers, terminals=2 * customers, days=days)
    for event in simulate_handbook(config):
        yield event.txn, event.label is not None


def channel_events(customers: int, days: int, seed: int) -> Iterator[tuple[Transaction, bool]]:
    config = SimulationConfig(seed=seed, customers=customers, days=days)
    for event in simulate(config):
        yield event.txn, event.label is not None and event.label.label in POSITIVE


@dataclass(frozen=True)
class Candidate:
    name: str
    make: Callable[[], ProtectedAnomalyDetector]


def _river(model: Any, name: str, warmup: int, inputs: str, every: int = 1) -> Callable[[], Any]:
    def make() -> ProtectedAnomalyDetector:
        return ProtectedAnomalyDetector(
            model.clone(), name, name, 0.995, warmup, learn_every=every, inputs=inputs
        )

    return make


def candidates() -> list[Candidate]:
    """The detectors compared: HalfSpaceTrees sizes and samples, and River's other cheap ones."""

    def hst(trees: int, height: int, every: int, inputs: str) -> Callable[[], Any]:
        return lambda: HalfSpaceTreesDetector(trees, height, 250, 42, 0.995, every, inputs)

    out = [
        Candidate("HST t10 h8, every event (before)", hst(10, 8, 1, "population")),
        Candidate("HST t10 h8, 1 in 4 learned", hst(10, 8, 4, "population")),
        Candidate("HST t5 h6, every event", hst(5, 6, 1, "population")),
        Candidate("HST t5 h6, 1 in 4 learned", hst(5, 6, 4, "population")),
        Candidate("HST t5 h6, 1 in 8 learned (now)", hst(5, 6, 8, "population")),
        Candidate("HST t10 h8 + customer inputs", hst(10, 8, 1, "customer")),
        Candidate("HST t5 h6 + customer, 1 in 4", hst(5, 6, 4, "customer")),
        Candidate(
            "OneClassSVM nu=0.02",
            _river(anomaly.OneClassSVM(nu=0.02), "one_class_svm", 500, "population"),
        ),
        Candidate(
            "LODA 20 cuts",
            _river(anomaly.LODA(n_bins=10, n_random_cuts=20, seed=42), "loda", 500, "population"),
        ),
    ]
    return out


def _measure(candidate: Candidate, data: Dataset) -> dict[str, float]:
    det = candidate.make()
    scores = np.empty(len(data.features))
    started = time.process_time()
    for i, f in enumerate(data.features):
        scores[i] = det.score_one(f).score
        det.learn_one(f)
    seconds = time.process_time() - started
    return {
        "auc_roc": auc_roc(data.positive, scores),
        "average_precision": average_precision(data.positive, scores),
        "us_per_event": seconds / len(data.features) * 1e6,
    }


def _baseline(data: Dataset) -> float:
    """The least a detector step does: copy the event's inputs."""
    started = time.process_time()
    for f in data.features:
        dict(f)
    return (time.process_time() - started) / len(data.features) * 1e6


def compare(datasets: list[Dataset], only: str = "") -> dict[str, Any]:
    report: dict[str, Any] = {"datasets": {}, "customer_inputs": list(CUSTOMER_FEATURES)}
    chosen = [c for c in candidates() if only in c.name]
    for data in datasets:
        base = _baseline(data)
        rows = {}
        for candidate in chosen:
            m = _measure(candidate, data)
            m["ratio_to_baseline"] = m["us_per_event"] / base
            rows[candidate.name] = {k: round(v, 4) for k, v in m.items()}
            print(f"  {data.name}: {candidate.name}: {rows[candidate.name]}", file=sys.stderr)
        report["datasets"][data.name] = {
            "events": len(data.features),
            "positives": int(data.positive.sum()),
            "baseline_us_per_event": round(base, 3),
            "detectors": rows,
        }
    return report


def render(report: dict[str, Any]) -> str:
    names = list(report["datasets"])
    head = f"{'detector':<36}" + "".join(f"{n + ' AUC / AP':>26}{'µs (x base)':>16}" for n in names)
    lines = [head]
    first = report["datasets"][names[0]]["detectors"]
    for det in first:
        cells = ""
        for n in names:
            r = report["datasets"][n]["detectors"][det]
            cells += f"{r['auc_roc']:>17.3f} / {r['average_precision']:.3f}"
            cells += f"{r['us_per_event']:>9.1f} ({r['ratio_to_baseline']:>4.0f})"
        lines.append(f"{det:<36}{cells}")
    for n in names:
        d = report["datasets"][n]
        lines.append(
            f"{n}: {d['events']:,} events, {d['positives']:,} positives, "
            f"baseline {d['baseline_us_per_event']} µs/event"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hb-customers", type=int, default=2000)
    parser.add_argument("--hb-days", type=int, default=60)
    parser.add_argument("--ch-customers", type=int, default=2000)
    parser.add_argument("--ch-days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timezone", default="Asia/Shanghai")
    parser.add_argument("--only", default="", help="run the candidates whose name has this")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    tz = ZoneInfo(args.timezone)
    work = args.out.parent / "anomaly-compare-redis"
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    hb = _features(handbook_events(args.hb_customers, args.hb_days, args.seed), tz, work)
    ch = _features(channel_events(args.ch_customers, args.ch_days, args.seed), tz, work)
    datasets = [
        Dataset("handbook", hb.features, hb.positive),
        Dataset("channels", ch.features, ch.positive),
    ]
    print(f"features: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    report = compare(datasets, args.only)
    report["args"] = {k: str(v) for k, v in vars(args).items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    print(render(report))
    print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
