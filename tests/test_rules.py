"""The rule engine: safe expressions, whole-or-nothing packs, and each shipped rule."""

from __future__ import annotations

from typing import Any

import pytest

from detectors.features import TEXT_FIELDS, feature_names
from rules.engine import RuleEngine
from rules.errors import PackError
from rules.expressions import compile_expression
from rules.pack import load_pack, parse_pack

VOCABULARY = feature_names()


@pytest.fixture(scope="module")
def engine() -> RuleEngine:
    return RuleEngine([load_pack("foundation", VOCABULARY)])


def features(**changes: Any) -> dict[str, Any]:
    """An everyday purchase; each test changes what its rule looks at."""
    base: dict[str, Any] = {
        "amount": 85.0,
        "log_amount": 4.45,
        "hour": 14,
        "is_debit": 1.0,
        "is_late": 0.0,
        "channel": "pos",
        "direction": "debit",
        "kind": "purchase",
        "mcc": "5411",
        "country": "CN",
        "city": "Shanghai",
        "currency": "CNY",
    }
    for window in ("1h", "24h"):
        for stem in ("debit_count", "debit_sum", "credit_count", "credit_sum", "net_flow"):
            base[f"{stem}_{window}"] = 0.0
    base.update(debit_count_1h=1.0, debit_sum_1h=85.0, debit_count_24h=3.0, debit_sum_24h=240.0)
    base.update(changes)
    return base


def fired(engine: RuleEngine, x: dict[str, Any]) -> set[str]:
    evaluation = engine.evaluate(x)
    assert all(o.status != "error" for o in evaluation.outcomes), evaluation.outcomes
    return {hit.rule_id for hit in evaluation.hits}


def test_an_everyday_purchase_fires_nothing(engine: RuleEngine) -> None:
    assert fired(engine, features()) == set()


# (rule, features that hit, features that just miss)
CASES = [
    (
        "card_spend_burst",
        {"amount": 900.0, "debit_count_1h": 5.0, "debit_sum_1h": 3000.0},
        {"amount": 900.0, "debit_count_1h": 4.0, "debit_sum_1h": 3600.0},
    ),
    (
        "high_risk_merchant_large",
        {"mcc": "5944", "amount": 2000.0},
        {"mcc": "5944", "amount": 1999.99},
    ),
    (
        "large_digital_transfer_out",
        {"kind": "transfer_out", "channel": "mobile", "amount": 10000.0},
        {"kind": "transfer_out", "channel": "counter", "amount": 50000.0},
    ),
    (
        "outflow_far_above_inflow_24h",
        {"kind": "bill_payment", "debit_sum_24h": 20000.0, "credit_sum_24h": 6000.0},
        {"kind": "bill_payment", "debit_sum_24h": 20000.0, "credit_sum_24h": 7000.0},
    ),
    (
        "card_testing_tiny_burst",
        {"channel": "online", "amount": 1.5, "debit_count_1h": 4.0, "debit_sum_1h": 6.0},
        {"channel": "online", "amount": 1.5, "debit_count_1h": 3.0, "debit_sum_1h": 4.5},
    ),
    (
        "large_purchase_after_tiny_ones",
        {"channel": "online", "amount": 1500.0, "debit_count_1h": 4.0, "debit_sum_1h": 1509.0},
        {"channel": "online", "amount": 1500.0, "debit_count_1h": 4.0, "debit_sum_1h": 1540.0},
    ),
    (
        "night_cash_withdrawal",
        {"channel": "atm", "kind": "cash_withdrawal", "hour": 4, "amount": 2500.0},
        {"channel": "atm", "kind": "cash_withdrawal", "hour": 5, "amount": 2500.0},
    ),
    (
        "cash_structuring_24h",
        {
            "kind": "cash_deposit",
            "direction": "credit",
            "channel": "counter",
            "amount": 48000.0,
            "credit_count_24h": 2.0,
            "credit_sum_24h": 93000.0,
        },
        {
            "kind": "cash_deposit",
            "direction": "credit",
            "channel": "counter",
            "amount": 50000.0,
            "credit_count_24h": 2.0,
            "credit_sum_24h": 95000.0,
        },
    ),
]


@pytest.mark.parametrize(("rule_id", "hit", "miss"), CASES, ids=[c[0] for c in CASES])
def test_each_shipped_rule_hits_and_just_misses(
    engine: RuleEngine, rule_id: str, hit: dict[str, Any], miss: dict[str, Any]
) -> None:
    assert rule_id in fired(engine, features(**hit))
    assert rule_id not in fired(engine, features(**miss))


def test_every_shipped_rule_has_a_case() -> None:
    shipped = {rule.id for rule in load_pack("foundation", VOCABULARY).rules}
    assert shipped == {case[0] for case in CASES}


def test_a_hit_records_the_values_the_rule_saw(engine: RuleEngine) -> None:
    x = features(kind="transfer_out", channel="online", amount=12000.0)
    (hit,) = engine.evaluate(x).hits
    assert hit.rule_id == "large_digital_transfer_out"
    assert hit.version == 2
    assert hit.values == {
        "kind": "transfer_out",
        "channel": "online",
        "amount": 12000.0,
        "large_transfer": 10000,
    }


def test_a_failing_rule_is_an_outcome_not_an_exception(engine: RuleEngine) -> None:
    x = features()
    del x["debit_sum_24h"]
    x["mcc"] = None
    evaluation = engine.evaluate(x)
    errors = {o.rule.id: o.error_code for o in evaluation.outcomes if o.status == "error"}
    assert errors == {"outflow_far_above_inflow_24h": "missing_feature"}
    assert len(evaluation.outcomes) == len(engine.rules), "the other rules still ran"


def test_shadow_rules_are_evaluated_but_never_alert() -> None:
    pack = parse_pack(
        """
pack: trial
version: 2
rules:
  - id: any_purchase
    version: 1
    description: every purchase
    typology: test
    severity: low
    score: 90
    entity: customer
    mode: shadow
    when: kind == "purchase"
""",
        "trial.yaml",
        VOCABULARY,
    )
    evaluation = RuleEngine([pack]).evaluate(features())
    assert evaluation.hits == ()
    assert [h.rule_id for h in evaluation.shadow_hits] == ["any_purchase"]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("amount.__class__", "attribute access"),
        ("__import__('os')", "leading underscore"),
        ("open('x')", "only these functions"),
        ("[x for x in channel]", "comprehensions"),
        ("(lambda: 1)()", "lambdas"),
        ("channel[0]", "subscripts"),
        ("amount ** 2", "power"),
        ("amount >= threshold_typo", "unknown name 'threshold_typo'"),
        ("max(amount, key=abs)", "keyword arguments"),
        ("amount >=", "syntax error"),
        ("'a' * 100000 * 100000 != city", "repeating or formatting"),
        ("'%0*d' % (200000000, 1) == city", "repeating or formatting"),
        ("[0] * 50000000 == channel", "repeating or formatting"),
        ("city * 50000 * 50000 == channel", "repeating or formatting"),
        ("(city + 'x') % amount == kind", "repeating or formatting"),
        ("amount > 1 and " * 300 + "True", "characters long"),
        ("(" * 900 + "amount" + ")" * 900, "nested too deeply|too many nested"),
    ],
)
def test_unsafe_or_broken_expressions_are_rejected(expression: str, message: str) -> None:
    from rules.errors import ExpressionError

    with pytest.raises(ExpressionError, match=message):
        compile_expression(expression, VOCABULARY, TEXT_FIELDS)


BROKEN_PACK = """pack: broken
version: 1
rules:
  - id: fine_rule
    version: 1
    description: fine
    typology: test
    severity: low
    score: 10
    entity: customer
    mode: active
    when: amount > 1
  - id: bad_rule
    version: 1
    description: reaches for an attribute
    typology: test
    severity: low
    score: 10
    entity: customer
    mode: active
    when: amount > 1 and channel.upper() == "POS"
"""


def test_a_pack_error_names_file_rule_line_and_column() -> None:
    with pytest.raises(PackError) as caught:
        parse_pack(BROKEN_PACK, "packs/broken.yaml", VOCABULARY)
    message = str(caught.value)
    assert "packs/broken.yaml:21" in message
    assert "rule 'bad_rule'" in message
    assert "column 16" in message, "where `channel.upper` starts in the expression"
    assert "attribute access" in message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("mode: active", "mode: loud"), "mode 'loud' is not one of"),
        (("score: 10", "score: 150"), "score must lie in 0..100"),
        (("severity: low", "severity: dire"), "severity 'dire'"),
        (("id: bad_rule", "id: fine_rule"), "duplicate rule id"),
        (("version: 1\n    description: fine", "version: one\n    description: fine"), "int"),
    ],
)
def test_invalid_rule_fields_are_named(change: tuple[str, str], message: str) -> None:
    text = BROKEN_PACK.replace(' and channel.upper() == "POS"', "").replace(*change, 1)
    with pytest.raises(PackError, match=message):
        parse_pack(text, "packs/broken.yaml", VOCABULARY)


def test_a_valid_pack_records_its_version_label() -> None:
    pack = load_pack("foundation", VOCABULARY)
    assert pack.label == "foundation@2"
    assert RuleEngine([pack]).version == "foundation@2"


def test_the_vocabulary_is_exactly_what_the_feature_builder_makes() -> None:
    """Rules are checked against feature_names at load; it must not drift from the builder."""
    from datetime import UTC, datetime
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    from detectors.features import build_features
    from detectors.state import empty_update
    from riskwatch.contracts import Transaction

    txn = Transaction(
        "T1", datetime(2026, 1, 5, tzinfo=UTC), "C1", "A1", "pos", "debit", "purchase",
        Decimal("10.00"), "CNY",
    )  # fmt: skip
    update = empty_update(txn.ts_ms)
    built = build_features(txn, update, ZoneInfo("Asia/Shanghai"))
    assert set(built) == VOCABULARY


def test_a_bare_off_mode_means_off_not_false() -> None:
    """YAML reads `mode: off` as a boolean; the rule must load, switched off."""
    text = BROKEN_PACK.replace(' and channel.upper() == "POS"', "").replace(
        "mode: active", "mode: off", 1
    )
    pack = parse_pack(text, "packs/broken.yaml", VOCABULARY)
    assert [r.mode for r in pack.rules] == ["off", "active"]
    assert [r.id for r in RuleEngine([pack]).rules] == ["bad_rule"]


def test_outcomes_are_counted_per_batch_no_hits_included(engine: RuleEngine) -> None:
    from rules.engine import count_outcomes

    quiet = engine.evaluate(features())
    burst = engine.evaluate(features(amount=900.0, debit_count_1h=5.0, debit_sum_1h=3000.0))
    broken = features()
    del broken["debit_sum_24h"]
    failed = engine.evaluate(broken)
    counts = count_outcomes([quiet, burst, failed, quiet])
    assert counts[("card_spend_burst", "active", "hit")] == 1
    assert counts[("card_spend_burst", "active", "no_hit")] == 3
    assert counts[("outflow_far_above_inflow_24h", "active", "error")] == 1
    assert counts[("outflow_far_above_inflow_24h", "active", "no_hit")] == 3
    assert sum(counts.values()) == 4 * len(engine.rules)
    assert [o.status for o in burst.outcomes if o.rule.id == "card_spend_burst"] == ["hit"]
