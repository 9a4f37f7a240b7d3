"""Reading the flow's per-transaction score records back (see flows/score_sink.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson


@dataclass(frozen=True, slots=True)
class ScoreTable:
    """Scores by txn_id: the fused ``risk`` and each model's, as float columns.

    ``duplicates`` counts txn_ids recorded more than once (the first is kept:
    it is the score the system acted on).
    """

    txn_ids: list[str]
    columns: dict[str, np.ndarray]
    duplicates: int

    def __len__(self) -> int:
        return len(self.txn_ids)

    def index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.txn_ids)}


def read_scores(paths: Iterable[Path]) -> ScoreTable:
    seen: set[str] = set()
    txn_ids: list[str] = []
    values: dict[str, list[float]] = {"risk": []}
    duplicates = 0
    for path in paths:
        with path.open("rb") as lines:
            for line in lines:
                record = orjson.loads(line)
                txn = record["txn_id"]
                if txn in seen:
                    duplicates += 1
                    continue
                seen.add(txn)
                n = len(txn_ids)
                txn_ids.append(txn)
                values["risk"].append(float(record["risk"]))
                for model, score in record.get("models", {}).items():
                    name = f"model:{model}"
                    if name not in values:  # a model first seen here: earlier rows lack it
                        values[name] = [float("nan")] * n
                    values[name].append(float(score))
                for column in values.values():
                    if len(column) == n:  # a model that did not score this transaction
                        column.append(float("nan"))
    return ScoreTable(txn_ids, {k: np.array(v) for k, v in values.items()}, duplicates)
