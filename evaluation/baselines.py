"""The Handbook's published figures, shipped beside the code that compares with them.

``handbook_baselines.json`` transcribes the Handbook's tables (source and
protocol notes inside it); chapter 5.3's prequential mean ± std over the four
test weeks 2018-08-08 … 2018-09-04 is what the stream is compared with.
"""

from __future__ import annotations

import importlib.resources
import json
from dataclasses import dataclass
from functools import cache
from typing import Any

METRICS: tuple[str, str, str] = ("auc_roc", "average_precision", "card_precision_at_100")
METRIC_TITLES: tuple[str, str, str] = ("AUC ROC", "Average Precision", "Card Precision@100")


@dataclass(frozen=True, slots=True)
class Baseline:
    """One published model: (AUC ROC, AP, CP@100) means and standard deviations."""

    name: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


@cache
def _published() -> dict[str, Any]:
    text = importlib.resources.files("evaluation").joinpath("handbook_baselines.json").read_text()
    return json.loads(text)


def prequential_baselines() -> list[Baseline]:
    """Chapter 5.3's models, in the file's order."""
    table = _published()["chapter_5_3_prequential_mean_std"]
    return [
        Baseline(name, tuple(entry["mean"]), tuple(entry["std"]))
        for name, entry in table.items()
        if isinstance(entry, dict)
    ]


def headline_baselines() -> list[Baseline]:
    """The three the issue sets as the bar: logistic regression, random forest, XGBoost."""
    wanted = ("logistic_regression", "random_forest", "xgboost")
    return [b for b in prequential_baselines() if b.name.startswith(wanted)]


def dataset_source() -> str:
    return str(_published()["source"])
