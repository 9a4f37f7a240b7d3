"""``riskwatch evaluate --mode handbook``: the whole monitor over Handbook traffic, measured.

The run is the product, not a model in a notebook: Handbook-mode
transactions are written to a JSONL file and read by the real Bytewax
monitor flow (parse, Redis state, features, rules, models, fusion, alerts),
with ``flow.scores_path`` recording every transaction's score as the flow
computed it. The flow reads the transactions in event-time order and scores
each one when it arrives, so no score can have seen that transaction's own
label. The scores are then joined to the ground truth and put through the
Handbook's protocol (:mod:`evaluation.protocol`).

Like ``riskwatch demo`` the run never touches configured services: it uses
an embedded Redis and a SQLite case store under the output directory.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.baselines import METRIC_TITLES, Baseline, dataset_source, headline_baselines
from evaluation.baselines import prequential_baselines as all_baselines
from evaluation.protocol import (
    HANDBOOK_TEST_WEEKS,
    ProtocolResult,
    ScoredTransactions,
    assess_prequential,
)
from evaluation.runs import (
    TimedRun,
    fresh_dir,
    isolated_settings,
    run_json,
    timed_monitor,
    timing_line,
)
from evaluation.scores import read_scores
from flows.score_sink import score_files
from riskwatch.settings import Settings
from simulator.handbook import HandbookConfig, HandbookData, generate_handbook, write_handbook_files

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HandbookEvaluation:
    """What one evaluation run measured."""

    config: HandbookConfig
    transactions: int
    frauds: int
    labels: int
    scored: int
    unscored: int
    duplicate_scores: int
    run: TimedRun
    generate_seconds: float
    results: dict[str, ProtocolResult]
    labels_fed_to_flow: bool
    workers: int
    processes: int
    paths: dict[str, str]


def evaluate_handbook(config: HandbookConfig, base: Settings, out_dir: Path) -> HandbookEvaluation:
    fresh_dir(out_dir)
    started = time.perf_counter()
    data = generate_handbook(config)
    txns_path, labels_path = out_dir / "transactions.jsonl", out_dir / "labels.jsonl"
    _, labels = write_handbook_files(data, txns_path, labels_path)
    generate_seconds = time.perf_counter() - started
    settings = isolated_settings(base, out_dir, txns_path, labels_path)
    logger.info("handbook: %s transactions written; running the monitor", f"{len(data):,}")
    run = timed_monitor(settings)
    scores_path = settings.flow.scores_path
    assert scores_path is not None
    table = read_scores(score_files(scores_path))
    index = table.index()
    rows = np.array([index.get(t, -1) for t in data.txn_ids()])
    scored = rows >= 0
    results = {
        name: assess_prequential(
            _scored(data, np.where(scored, column[rows], np.nan)), config.start
        )
        for name, column in table.columns.items()
    }
    return HandbookEvaluation(
        config=config,
        transactions=len(data),
        frauds=int(np.count_nonzero(data.scenario)),
        labels=labels,
        scored=int(scored.sum()),
        unscored=int((~scored).sum()),
        duplicate_scores=table.duplicates,
        run=run,
        generate_seconds=generate_seconds,
        results=results,
        labels_fed_to_flow=bool(settings.input.label_paths),
        workers=settings.flow.workers,
        processes=settings.flow.processes,
        paths={
            "transactions": str(txns_path),
            "labels": str(labels_path),
            "scores": str(scores_path),
        },
    )


def _scored(data: HandbookData, score: np.ndarray) -> ScoredTransactions:
    """Ground truth beside the flow's scores; an unscored transaction ranks lowest."""
    return ScoredTransactions(
        day=data.day,
        card=data.customer,
        fraud=data.fraud,
        score=np.nan_to_num(score, nan=-np.inf),
    )


def _cell(mean: float, std: float) -> str:
    return f"{mean:.3f} ± {std:.3f}"


def _beats(result: ProtocolResult, bars: list[Baseline]) -> list[bool]:
    return [all(result.mean[i] > b.mean[i] for b in bars) for i in range(3)]


def report_table(evaluation: HandbookEvaluation) -> str:
    """The figures beside the published baselines, for people."""
    first, last = HANDBOOK_TEST_WEEKS[0], HANDBOOK_TEST_WEEKS[-1] + timedelta(days=6)
    lines = [
        f"Handbook prequential evaluation: test weeks {first} … {last}, "
        f"mean ± std over the {len(HANDBOOK_TEST_WEEKS)} weeks",
        f"{'':<44}" + "".join(f"{t:>22}" for t in METRIC_TITLES),
    ]
    for name, result in evaluation.results.items():
        label = f"riskwatch {name.removeprefix('model:')}"
        cells = "".join(f"{_cell(m, s):>22}" for m, s in zip(result.mean, result.std, strict=True))
        lines.append(f"{label:<44}{cells}")
    for b in all_baselines():
        cells = "".join(f"{_cell(m, s):>22}" for m, s in zip(b.mean, b.std, strict=True))
        lines.append(f"{'Handbook ' + b.name:<44}{cells}")
    bars = headline_baselines()
    risk = evaluation.results.get("risk")
    if risk is not None:
        verdict = ", ".join(
            f"{t}: {'yes' if ok else 'no'}"
            for t, ok in zip(METRIC_TITLES, _beats(risk, bars), strict=True)
        )
        lines.append(f"fused risk beats LR, RF and XGBoost on {verdict}")
    lines.append("per test week (fused risk): " + "; ".join(_week_line(evaluation)))
    lines += [
        f"transactions {evaluation.transactions:,}, frauds {evaluation.frauds:,}, "
        f"scored {evaluation.scored:,}, unscored {evaluation.unscored:,}",
        f"labels fed to the flow: {'yes' if evaluation.labels_fed_to_flow else 'no'}",
        timing_line(evaluation.run, evaluation.generate_seconds, evaluation.processes),
    ]
    return "\n".join(lines)


def _week_line(evaluation: HandbookEvaluation) -> list[str]:
    risk = evaluation.results.get("risk")
    if risk is None:
        return []
    return [
        f"{w.start}: {w.auc_roc:.3f}/{w.average_precision:.3f}/{w.card_precision_at_100:.3f}"
        for w in risk.weeks
    ]


def report_json(evaluation: HandbookEvaluation) -> dict[str, Any]:
    cfg = evaluation.config
    return {
        "mode": "handbook",
        "dataset": {
            "generator": "simulator.handbook",
            "seed": cfg.seed,
            "customers": cfg.customers,
            "terminals": cfg.terminals,
            "days": cfg.days,
            "start": cfg.start.isoformat(),
            "label_delay_days": cfg.label_delay_days,
            "transactions": evaluation.transactions,
            "frauds": evaluation.frauds,
            "fraud_rate": evaluation.frauds / max(evaluation.transactions, 1),
            "published": dataset_source(),
        },
        "protocol": "Handbook ch. 5.3 prequential: 4 test weeks from "
        + ", ".join(str(d) for d in HANDBOOK_TEST_WEEKS),
        "labels_fed_to_flow": evaluation.labels_fed_to_flow,
        "results": {
            name: {
                "mean": dict(zip(("auc_roc", "ap", "cp100"), r.mean, strict=True)),
                "std": dict(zip(("auc_roc", "ap", "cp100"), r.std, strict=True)),
                "weeks": [
                    {
                        "start": str(w.start),
                        "auc_roc": w.auc_roc,
                        "average_precision": w.average_precision,
                        "card_precision_at_100": w.card_precision_at_100,
                        "card_precision_per_day": list(w.card_precision_per_day),
                        "transactions": w.transactions,
                        "frauds": w.frauds,
                        "excluded_known_compromised": w.excluded_transactions,
                    }
                    for w in r.weeks
                ],
            }
            for name, r in evaluation.results.items()
        },
        "baselines": {b.name: {"mean": list(b.mean), "std": list(b.std)} for b in all_baselines()},
        "beats_lr_rf_xgb": (
            dict(zip(("auc_roc", "ap", "cp100"), _beats(r, headline_baselines()), strict=True))
            if (r := evaluation.results.get("risk"))
            else None
        ),
        "run": {
            **run_json(
                evaluation.run,
                evaluation.generate_seconds,
                evaluation.workers,
                evaluation.processes,
            ),
            "scored": evaluation.scored,
            "unscored": evaluation.unscored,
            "duplicate_scores": evaluation.duplicate_scores,
        },
        "paths": evaluation.paths,
    }
