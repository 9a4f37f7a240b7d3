"""Threshold-free and top-k metrics, as the Handbook computes them.

The Handbook (Le Borgne et al. 2022, chapter 4) scores with scikit-learn's
``roc_auc_score`` and ``average_precision_score`` and its own
``card_precision_top_k``. These are the same definitions in numpy, so the
evaluation needs no scikit-learn:

* AUC ROC is the Mann–Whitney statistic with tied scores counted half
  (average ranks), which is what the trapezoidal ROC area gives;
* Average Precision is ``Σ_n (R_n − R_{n−1}) · P_n`` over the distinct score
  thresholds, highest first (no interpolation), as scikit-learn defines it;
* Card Precision@k ranks one day's cards by their highest transaction score,
  a card being compromised if any of its transactions that day is fraud.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import numpy as np


def auc_roc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one class is present.

    >>> auc_roc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=float)
    positives = int(y.sum())
    negatives = y.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = _average_ranks(s)
    rank_sum = float(ranks[y].sum())
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing the mean of the ranks they span."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    # Start index of each run of equal values, and each run's mean rank.
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]
    mean_rank = (starts + 1 + ends) / 2.0
    ranks = np.empty(values.size, dtype=float)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def average_precision(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> float:
    """Average Precision (scikit-learn's definition); NaN without any positive.

    >>> round(average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 4)
    0.8333
    """
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=float)
    positives = int(y.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    # The last index of each group of tied scores is a threshold.
    last = np.r_[np.flatnonzero(s_sorted[1:] != s_sorted[:-1]), s_sorted.size - 1]
    true_pos = np.cumsum(y_sorted)[last]
    predicted = last + 1
    precision = true_pos / predicted
    recall = true_pos / positives
    gains = np.diff(np.r_[0.0, recall])
    return float(np.sum(gains * precision))


def card_precision_at_k(
    cards: Sequence[Hashable] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    k: int,
    excluded: Iterable[Hashable] = (),
) -> tuple[float, list[Hashable]]:
    """One day's Card Precision@k, and the compromised cards found in the top k.

    Each card counts once with its highest score and is compromised if any of
    its transactions is fraud (the Handbook's ``groupby(CUSTOMER_ID).max()``).
    Cards in ``excluded`` are left out first. The precision divides by ``k``
    even when fewer cards are left, as the Handbook does. Ties in score are
    broken by card id, so the result does not depend on input order. The
    cards found come back as the same kind of value as ``cards`` (``int`` for
    integer ids), so they can be passed back as ``excluded``: numpy compares
    an integer id with its string form as unequal, without any error.

    >>> card_precision_at_k(["a", "a", "b", "c"], [0, 1, 0, 1], [0.9, 0.1, 0.8, 0.2], 2)
    (0.5, ['a'])
    """
    if k <= 0:
        msg = f"k must be positive, got {k}"
        raise ValueError(msg)
    card = np.asarray(cards)
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=float)
    skip = set(excluded)
    if skip:
        keep = ~np.isin(card, list(skip))
        card, y, s = card[keep], y[keep], s[keep]
    if card.size == 0:
        return 0.0, []
    unique, inverse = np.unique(card, return_inverse=True)
    best = np.full(unique.size, -np.inf)
    np.maximum.at(best, inverse, s)
    fraud = np.zeros(unique.size, dtype=bool)
    np.logical_or.at(fraud, inverse, y)
    # unique is sorted by card id; a stable sort on -score keeps that order among ties.
    top = np.argsort(-best, kind="mergesort")[:k]
    found: list[Hashable] = unique[top][fraud[top]].tolist()
    return len(found) / k, found
