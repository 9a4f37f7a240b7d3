"""The Handbook's prequential assessment, applied to scores a stream produced.

Chapter 5.3 of the Handbook reports each model as mean ± std over four test
weeks, 2018-08-08 … 2018-09-04. For a test week starting on day ``T`` its
code (``get_train_test_set`` with 7-day training, delay and test periods,
then ``card_precision_top_k``) takes:

* the transactions of the seven test days ``T`` … ``T + 6``;
* minus, on each test day ``t``, those of *known compromised cards*: cards
  with a fraud on any day from the start of that fold's training week
  (``T − 14``) up to ``t − 8`` — the frauds whose labels had arrived, given a
  7-day delay counted in whole days. Compromised cards from before the
  training week are not excluded; that is the Handbook's rule and it is kept.
* AUC ROC and Average Precision over the whole week's remaining transactions;
* Card Precision@100 per test day, where cards already found compromised in
  the top 100 of an earlier day *of the same week* are left out, averaged
  over the test days that have transactions;
* the four weeks' values summarised as mean and population standard deviation
  (``ddof=0``, what scikit-learn's ``GridSearchCV`` reports as ``std``).

The streaming system is not retrained per fold: it learns online from the
delayed labels, and every score it emitted was computed before the label of
that transaction existed. Only the test-set selection and the metrics follow
the Handbook, so its batch baselines and the stream are judged on the same
transactions.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from evaluation.metrics import auc_roc, average_precision, card_precision_at_k

#: The first days of the Handbook's four prequential test weeks (chapter 5.3).
HANDBOOK_TEST_WEEKS: tuple[date, ...] = (
    date(2018, 8, 8),
    date(2018, 8, 15),
    date(2018, 8, 22),
    date(2018, 8, 29),
)
TRAIN_DAYS = 7
DELAY_DAYS = 7
TEST_DAYS = 7
TOP_K = 100


@dataclass(frozen=True, slots=True)
class ScoredTransactions:
    """Columns of scored transactions: day number (from day 0), card, fraud, score."""

    day: np.ndarray
    card: np.ndarray
    fraud: np.ndarray
    score: np.ndarray

    def __post_init__(self) -> None:
        sizes = {len(self.day), len(self.card), len(self.fraud), len(self.score)}
        if len(sizes) != 1:
            msg = f"columns differ in length: {sorted(sizes)}"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class WeekResult:
    """One test week's figures and what they were computed on."""

    start: date
    auc_roc: float
    average_precision: float
    card_precision_at_100: float
    card_precision_per_day: tuple[float, ...]
    transactions: int
    frauds: int
    excluded_transactions: int


@dataclass(frozen=True, slots=True)
class ProtocolResult:
    weeks: tuple[WeekResult, ...]
    mean: tuple[float, float, float] = field(init=False)
    std: tuple[float, float, float] = field(init=False)

    def __post_init__(self) -> None:
        table = np.array(
            [(w.auc_roc, w.average_precision, w.card_precision_at_100) for w in self.weeks]
        )
        object.__setattr__(self, "mean", tuple(float(v) for v in table.mean(axis=0)))
        object.__setattr__(self, "std", tuple(float(v) for v in table.std(axis=0, ddof=0)))


def assess_week(
    data: ScoredTransactions, first_test_day: int, top_k: int = TOP_K, start: date | None = None
) -> WeekResult:
    """The Handbook's figures for the test week whose first day is ``first_test_day``."""
    train_start = first_test_day - TRAIN_DAYS - DELAY_DAYS
    fraud_rows = data.fraud.astype(bool)
    selected: list[np.ndarray] = []
    cp_per_day: list[float] = []
    detected: list[Hashable] = []
    excluded = 0
    for offset in range(TEST_DAYS):
        day = first_test_day + offset
        known_window = fraud_rows & (data.day >= train_start) & (data.day <= day - DELAY_DAYS - 1)
        known = np.unique(data.card[known_window])
        rows = np.flatnonzero(data.day == day)
        keep = rows[~np.isin(data.card[rows], known)]
        excluded += rows.size - keep.size
        selected.append(keep)
        if keep.size == 0:
            continue  # the Handbook averages over the days its test set has
        precision, found = card_precision_at_k(
            data.card[keep], data.fraud[keep], data.score[keep], top_k, excluded=detected
        )
        cp_per_day.append(precision)
        detected.extend(found)
    week = np.concatenate(selected)
    labels, scores = data.fraud[week], data.score[week]
    return WeekResult(
        start=start or date.min,
        auc_roc=auc_roc(labels, scores),
        average_precision=average_precision(labels, scores),
        card_precision_at_100=float(np.mean(cp_per_day)) if cp_per_day else float("nan"),
        card_precision_per_day=tuple(cp_per_day),
        transactions=int(week.size),
        frauds=int(np.count_nonzero(labels)),
        excluded_transactions=excluded,
    )


def assess_prequential(
    data: ScoredTransactions,
    day_zero: date,
    weeks: Sequence[date] = HANDBOOK_TEST_WEEKS,
    top_k: int = TOP_K,
) -> ProtocolResult:
    """Every test week's figures, and their mean and std, with day 0 = ``day_zero``."""
    results = []
    for start in weeks:
        first = (start - day_zero) // timedelta(days=1)
        results.append(assess_week(data, first, top_k, start))
    return ProtocolResult(tuple(results))
