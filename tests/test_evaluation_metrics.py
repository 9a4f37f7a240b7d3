"""The evaluation's metrics and the Handbook protocol, on inputs small enough to check by hand."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from evaluation.metrics import auc_roc, average_precision, card_precision_at_k
from evaluation.protocol import ScoredTransactions, assess_prequential, assess_week


def test_auc_counts_pairs_and_half_counts_ties() -> None:
    # Positives 0.8, 0.4; negatives 0.5, 0.4, 0.1: pairs won 3 + tie 0.5 + 1 = 4.5 of 6.
    assert auc_roc([1, 1, 0, 0, 0], [0.8, 0.4, 0.5, 0.4, 0.1]) == pytest.approx(4.5 / 6)
    assert auc_roc([0, 1], [0.2, 0.9]) == 1.0
    assert auc_roc([1, 0], [0.2, 0.9]) == 0.0
    assert auc_roc([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert math.isnan(auc_roc([0, 0], [0.1, 0.2]))


def test_average_precision_steps_over_distinct_thresholds() -> None:
    # Ranked 0.9 (1), 0.8 (0), 0.7 (1), 0.1 (0): 1/2 × 1 + 1/2 × 2/3.
    assert average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(5 / 6)
    # A tie is one threshold: at 0.5 both come in, precision 1/2, recall 1.
    assert average_precision([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    # Perfect ranking gives 1; the prevalence is what a constant score gets.
    assert average_precision([0, 1, 1], [0.1, 0.8, 0.9]) == 1.0
    assert average_precision([0, 1, 0, 0], [1, 1, 1, 1]) == pytest.approx(0.25)
    assert math.isnan(average_precision([0, 0], [0.3, 0.4]))


def test_card_precision_groups_by_card_and_divides_by_k() -> None:
    cards = ["a", "a", "b", "c", "d"]
    labels = [0, 1, 0, 1, 0]
    scores = [0.2, 0.95, 0.9, 0.1, 0.5]
    # Cards by max score: a 0.95 (fraud), b 0.9, d 0.5, c 0.1 (fraud).
    assert card_precision_at_k(cards, labels, scores, 2) == (0.5, ["a"])
    assert card_precision_at_k(cards, labels, scores, 4) == (0.5, ["a", "c"])
    # Excluding a card lets the next one in; k stays the divisor when cards run out.
    assert card_precision_at_k(cards, labels, scores, 2, excluded=["a"]) == (0.0, [])
    assert card_precision_at_k(cards, labels, scores, 10) == (0.2, ["a", "c"])
    # Ties are broken by card id, whatever the input order.
    assert card_precision_at_k(["y", "x"], [1, 0], [0.5, 0.5], 1) == (0.0, [])
    with pytest.raises(ValueError, match="k must be positive"):
        card_precision_at_k(cards, labels, scores, 0)


def _scored(rows: list[tuple[int, str, int, float]]) -> ScoredTransactions:
    day, card, fraud, score = zip(*rows, strict=True)
    return ScoredTransactions(
        np.array(day), np.array(card), np.array(fraud, dtype=bool), np.array(score)
    )


def test_week_leaves_out_known_compromised_and_already_detected_cards() -> None:
    # Test week = days 14..20; its training week starts on day 0; labels arrive 7 days late.
    data = _scored(
        [
            (-1, "old", 1, 0.0),  # before the training week: never excluded
            (3, "k", 1, 0.0),  # training week fraud: excluded on every test day
            (7, "p", 1, 0.0),  # known from day 15 (7 <= 15 - 8), not on day 14
            (13, "j", 1, 0.0),  # known only from day 21: not in this week
            (14, "k", 1, 0.99),
            (14, "p", 1, 0.8),
            (14, "old", 1, 0.7),
            (14, "a", 0, 0.1),
            (15, "p", 1, 0.95),
            (15, "old", 1, 0.9),
            (15, "a", 0, 0.2),
            (15, "j", 1, 0.6),
            (15, "b", 0, 0.3),
        ]
    )
    week = assess_week(data, first_test_day=14, top_k=2)
    # Day 14: k left out; top 2 = p, old, both fraud -> 1.0, and both are now "detected".
    # Day 15: p known, old detected -> left out; top 2 of j, b, a = j (fraud), b -> 0.5.
    assert week.card_precision_per_day == (1.0, 0.5)
    assert week.card_precision_at_100 == pytest.approx(0.75)
    # Week set (AUC/AP): day 14 p, old, a; day 15 old, a, j, b (only known cards left out).
    assert week.transactions == 7
    assert week.excluded_transactions == 2
    assert week.frauds == 4
    labels = [1, 1, 0, 1, 0, 1, 0]
    scores = [0.8, 0.7, 0.1, 0.9, 0.2, 0.6, 0.3]
    assert week.auc_roc == pytest.approx(auc_roc(labels, scores))
    assert week.auc_roc == 1.0
    assert week.average_precision == 1.0


def test_prequential_summary_is_mean_and_population_std_over_weeks() -> None:
    rows = []
    # Two one-day weeks: week A perfect ranking, week B inverted.
    for day, flip in ((14, False), (21, True)):
        for i in range(4):
            fraud = int(i < 2)
            score = (1 - fraud if flip else fraud) + i / 10
            rows.append((day, f"c{day}-{i}", fraud, score))
    result = assess_prequential(
        _scored(rows), day_zero=date(2018, 1, 1), weeks=[date(2018, 1, 15), date(2018, 1, 22)]
    )
    assert [w.auc_roc for w in result.weeks] == [1.0, 0.0]
    assert result.mean[0] == pytest.approx(0.5)
    assert result.std[0] == pytest.approx(0.5)  # ddof=0: |1 - 0.5| and |0 - 0.5|
    assert [w.start for w in result.weeks] == [date(2018, 1, 15), date(2018, 1, 22)]


def test_columns_must_line_up() -> None:
    with pytest.raises(ValueError, match="length"):
        ScoredTransactions(np.zeros(2), np.array(["a"]), np.zeros(2), np.zeros(2))


def _reference_week(
    rows: list[tuple[int, int, int, float]],
    first_test_day: int,
    top_k: int,
    leave_out_detected: bool = True,
) -> tuple[list[int], list[float], tuple[float, ...]]:
    """The protocol row by row in plain Python, as the Handbook's pandas code reads.

    Returns the week's (labels, scores) kept for AUC/AP and the CP@k per day.
    """
    train_start = first_test_day - 14
    labels: list[int] = []
    scores: list[float] = []
    per_day: list[float] = []
    detected: set[int] = set()
    for day in range(first_test_day, first_test_day + 7):
        known = {c for d, c, f, _ in rows if f and train_start <= d <= day - 8}
        kept = [(c, f, s) for d, c, f, s in rows if d == day and c not in known]
        labels += [f for _, f, _ in kept]
        scores += [s for _, _, s in kept]
        if not kept:
            continue
        best: dict[int, tuple[float, bool]] = {}
        for c, f, s in kept:
            if leave_out_detected and c in detected:
                continue
            old_s, old_f = best.get(c, (-math.inf, False))
            best[c] = (max(old_s, s), old_f or bool(f))
        ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))[:top_k]
        found = {c for c, (_, f) in ranked if f}
        per_day.append(len(found) / top_k)
        detected |= found
    return labels, scores, tuple(per_day)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_week_matches_a_row_by_row_reference_with_integer_cards(seed: int) -> None:
    # Integer card ids, as the Handbook run has them: cards found on one day
    # must be left out on the later days of the week (a string/int mismatch
    # once let them back in silently).
    rng = np.random.default_rng(seed)
    n = 600
    day = rng.integers(0, 24, n)
    card = rng.integers(0, 40, n)
    fraud = rng.random(n) < 0.15
    score = np.round(rng.random(n), 2)  # rounded: ties in score and in card max
    rows = list(zip(day.tolist(), card.tolist(), fraud.tolist(), score.tolist(), strict=True))
    week = assess_week(ScoredTransactions(day, card, fraud, score), first_test_day=16, top_k=5)
    labels, scores, per_day = _reference_week(rows, first_test_day=16, top_k=5)
    assert week.card_precision_per_day == pytest.approx(per_day)
    assert week.transactions == len(labels)
    assert week.frauds == sum(labels)
    assert week.auc_roc == pytest.approx(auc_roc(labels, scores))
    assert week.average_precision == pytest.approx(average_precision(labels, scores))
    # The input exercises that rule: without it the reference's CP@k differs.
    assert _reference_week(rows, 16, 5, leave_out_detected=False)[2] != per_day
