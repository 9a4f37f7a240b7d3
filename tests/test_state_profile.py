"""``riskwatch profile``: a known customer's profile, on a real Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import redis

from detectors.features import build_features
from detectors.profile import read_profile
from detectors.state import CustomerStateStore
from riskwatch.cli import main
from riskwatch.contracts import Transaction

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def history() -> list[Transaction]:
    """Forty days: salary on the 10th, a purchase daily, rent monthly, cash now and then."""
    out = []
    for d in range(40):
        day = T0 + timedelta(days=d)
        out.append(
            Transaction(
                f"p{d}",
                day + timedelta(hours=4),
                "C42",
                "A42",
                "pos",
                "debit",
                "purchase",
                Decimal("35.00") + d,
                "CNY",
                merchant_id="M1",
            )
        )
        if day.day == 10:
            out.append(
                Transaction(
                    f"s{d}",
                    day,
                    "C42",
                    "A42",
                    "online",
                    "credit",
                    "salary",
                    Decimal("9000.00"),
                    "CNY",
                )
            )
        if d % 9 == 0:
            out.append(
                Transaction(
                    f"w{d}",
                    day + timedelta(hours=6),
                    "C42",
                    "A42",
                    "atm",
                    "debit",
                    "cash_withdrawal",
                    Decimal("500.00"),
                    "CNY",
                )
            )
    return out


@pytest.fixture
def filled(redis_url: str, key_prefix: str) -> list:
    store = CustomerStateStore(redis.Redis.from_url(redis_url), key_prefix, 8 * 86400, 3600)
    txns = history()
    updates = store.apply(txns)
    return [(t, u) for t, u in zip(txns, updates, strict=True)]


def test_the_profile_matches_the_newest_event_s_features(
    filled: list, redis_url: str, key_prefix: str
) -> None:
    txn, update = max(filled, key=lambda tu: tu[0].ts)
    features = build_features(txn, update, ZoneInfo("Asia/Shanghai"))
    profile = read_profile(redis.Redis.from_url(redis_url), key_prefix, "C42")
    for seconds, label in ((3600, "1h"), (86400, "24h"), (7 * 86400, "7d"), (30 * 86400, "30d")):
        totals = profile.windows[seconds]
        assert totals.debit_count == features[f"debit_count_{label}"]
        assert totals.debit_minor / 100 == pytest.approx(features[f"debit_sum_{label}"])
        assert totals.credit_minor / 100 == pytest.approx(features[f"credit_sum_{label}"])
    assert profile.largest_inflow_minor == 900000
    assert profile.bucketed_days > 25, "most of the month comes from day buckets"
    kinds = {b.kind: b for b in profile.baselines}
    assert kinds["purchase"].n == 40
    assert kinds["purchase"].mean_minor == pytest.approx(5450.0)


def test_riskwatch_profile_prints_a_readable_page(
    filled: list, redis_url: str, key_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["profile", "C42", "--redis-url", redis_url, "--namespace", key_prefix])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("Customer C42: profile as of 2026-02-13 13:00 CST")
    assert "inflow 9,000.00, outflow" in out, "one salary in the last 30 days"
    assert "largest inflow 9,000.00" in out
    assert "salary credits: 2026-01-10, 2026-02-10" in out
    assert "purchase         n=40" in out
    assert "  atm        debits" in out and "  pos        debits" in out


def test_an_unknown_customer_is_a_clear_error(
    redis_url: str, key_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["profile", "C404", "--redis-url", redis_url, "--namespace", key_prefix])
    assert code == 1
    assert "no state for customer 'C404'" in capsys.readouterr().err
