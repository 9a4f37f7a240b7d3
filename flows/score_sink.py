"""An optional record of every transaction's scores, for offline evaluation.

Alerts keep only what crossed the threshold; measuring a detector (AUC ROC,
Average Precision, Card Precision@k) needs the score of every transaction,
as the flow computed it at the time. With ``flow.scores_path`` set the
monitor appends one JSON line per newly seen transaction::

    {"txn_id": ..., "customer_id": ..., "ts": "2018-04-01T00:00:31.000Z",
     "risk": 12.512345, "alerted": false, "models": {"half_space_trees": 0.41, ...}}

``risk`` is the fused 0–100 score, unrounded; ``alerted`` says whether the
flow raised an alert on it; ``models`` holds each model's own score
for this transaction. Duplicates (a replayed txn_id) are not written again:
the first score is the one the system acted on. Like the dead-letter file the
record is at-least-once across a crash between a write and a snapshot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from flows.assess import Assessment
from riskwatch.contracts import ts_to_iso


def _round6(value: float) -> float:
    """``round(value, 6)``, which costs most of a microsecond even on the 0 it returns as is.

    The risk of about half the transactions is 0.
    """
    return round(value, 6) if value else value


def model_scores(assessment: Assessment) -> dict[str, float]:
    """Each model's score of the transaction, by model name."""
    return {
        "half_space_trees": _round6(assessment.anomaly.score),
        "online_logistic_regression": _round6(assessment.fraud_probability),
    }


def score_record(assessment: Assessment) -> dict[str, Any]:
    txn = assessment.txn
    return {
        "txn_id": txn.txn_id,
        "customer_id": txn.customer_id,
        "ts": ts_to_iso(txn.ts),
        # Unrounded: ties from rounding to a tenth would blur the ranking measured.
        "risk": _round6(assessment.risk_exact),
        # Whether the flow raised an alert: it compares the risk rounded to a tenth.
        "alerted": assessment.alert is not None,
        "models": model_scores(assessment),
    }


class _ScoreFilePartition(StatelessSinkPartition[Assessment]):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("ab")

    def write_batch(self, items: list[Assessment]) -> None:
        self._file.write(b"".join(orjson.dumps(score_record(a)) + b"\n" for a in items if a.fresh))
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class ScoreFileSink(DynamicSink[Assessment]):
    """Append every fresh assessment's scores as JSON lines; one file per worker."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ScoreFilePartition:
        path = self._path
        if worker_count > 1:
            path = path.with_name(f"{path.stem}.w{worker_index}{path.suffix}")
        return _ScoreFilePartition(path)


def score_files(path: Path) -> list[Path]:
    """The file(s) a run with ``scores_path = path`` wrote: one, or one per worker."""
    per_worker = sorted(path.parent.glob(f"{path.stem}.w*{path.suffix}"))
    return ([path] if path.exists() else []) + per_worker
