"""The offline replica computes the features the way the live system defines them."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.supervised import OnlineFraudClassifier
from evaluation.replica import RELEASE_LATENESS, replay, replica_features
from simulator.handbook import DAY_SECONDS, HandbookConfig, generate_handbook

WINDOWS = (("24h", 1), ("7d", 7), ("30d", 30))


@pytest.fixture(scope="module")
def small():
    config = HandbookConfig(
        seed=3,
        customers=40,
        terminals=60,
        days=45,
        compromised_terminals_per_day=1,
        compromised_customers_per_day=1,
    )
    data = generate_handbook(config)
    return data, replica_features(data)


def test_customer_windows_and_baseline_match_a_row_by_row_reference(small) -> None:
    data, features = small
    s, customer, amount = data.seconds, data.customer, data.cents / 100
    for row in np.random.default_rng(1).choice(len(data), 300, replace=False):
        mine = customer == customer[row]
        for name, days in WINDOWS:
            window = (
                mine
                & (s > s[row] - days * DAY_SECONDS)
                & (s <= s[row])
                & (np.arange(len(data)) <= row)
            )
            assert features[f"debit_count_{name}"][row] == window.sum()
            assert features[f"debit_sum_{name}"][row] == pytest.approx(amount[window].sum())
        past = amount[mine & (np.arange(len(data)) < row)]
        assert features["baseline_n"][row] == past.size
        if past.size:
            assert features["amount_mean_kind"][row] == pytest.approx(past.mean())
        if past.size > 1:
            assert features["amount_std_kind"][row] == pytest.approx(past.std(ddof=1))


def test_terminal_counts_see_only_the_labels_already_released(small) -> None:
    data, features = small
    s, terminal, fraud = data.seconds, data.terminal, data.fraud
    delay = data.config.label_delay_days * DAY_SECONDS
    checked = 0
    for row in np.flatnonzero(features["terminal_fraud_30d"] > 0)[:200]:
        for name, days in (("1d", 1), ("7d", 7), ("30d", 30)):
            known = (terminal == terminal[row]) & (s > s[row] - delay - days * DAY_SECONDS)
            known &= s <= s[row] - delay - RELEASE_LATENESS
            assert features[f"terminal_fraud_{name}"][row] == (fraud & known).sum()
            expected = (fraud & known).sum() / known.sum() if known.any() else 0.0
            assert features[f"terminal_risk_{name}"][row] == pytest.approx(expected)
        checked += 1
    assert checked > 20, "the small world has known frauds on terminals"


def test_the_replay_learns_only_what_is_due_before_scoring(small) -> None:
    data, features = small
    clf = OnlineFraudClassifier(0.01, 1.0, legit_sample_rate=0.5)
    scores, cost = replay(data, features, clf)
    assert np.isfinite(scores).all() and set(cost) == {"inputs", "score", "learn"}
    due = data.seconds + data.config.label_delay_days * DAY_SECONDS + RELEASE_LATENESS
    # What the last batch's predecessor had passed is all that was learned.
    last_batch = (len(data) - 1) // 1000 * 1000
    assert clf.learned == int((due <= data.seconds[last_batch - 1]).sum())
    assert clf.frauds_learned == int(data.fraud[due <= data.seconds[last_batch - 1]].sum())
