"""The shipped packs: each rule fires on its typology and just misses beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from detectors.features import TEXT_FIELDS
from rules.engine import RuleEngine
from rules.errors import PackError
from rules.pack import load_pack, load_packs, pack_path
from tests.rulekit import FEATURES, everyday

SHIPPED = ("card_fraud", "aml")


@pytest.fixture(scope="module")
def engine() -> RuleEngine:
    return RuleEngine(load_packs(SHIPPED, FEATURES, TEXT_FIELDS))


def fired(engine: RuleEngine, x: dict[str, Any]) -> set[str]:
    evaluation = engine.evaluate(x)
    assert evaluation.errors == (), evaluation.errors
    return {hit.rule_id for hit in evaluation.hits}


def test_an_everyday_purchase_fires_nothing(engine: RuleEngine) -> None:
    assert fired(engine, everyday()) == set()


def test_a_busy_shopping_hour_of_small_amounts_is_no_burst(engine: RuleEngine) -> None:
    x = everyday(debit_count_10m=4.0, debit_count_1h=8.0, debit_sum_1h=2999.0)
    assert fired(engine, x) == set()


def test_a_salary_and_a_rent_transfer_fire_nothing(engine: RuleEngine) -> None:
    salary = everyday(
        kind="salary", direction="credit", is_debit=0.0, channel="counter",
        is_card_present=0.0, amount=18000.0, credit_sum_24h=18000.0,
    )  # fmt: skip
    rent = everyday(
        kind="transfer_out", channel="mobile", is_card_present=0.0, amount=6000.0,
        debit_sum_24h=6000.0, credit_sum_24h=0.0,
    )  # fmt: skip
    assert fired(engine, salary) == set()
    assert fired(engine, rent) == set()


ONLINE = {"channel": "online", "is_card_present": 0.0}
ATM_CASH = {"channel": "atm", "kind": "cash_withdrawal"}
DEPOSIT = {
    "kind": "cash_deposit", "direction": "credit", "is_debit": 0.0, "channel": "counter",
    "is_card_present": 0.0,
}  # fmt: skip
TRANSFER_OUT = {"kind": "transfer_out", "channel": "mobile", "is_card_present": 0.0}
#: A device not seen in 30 days, by a customer who also has one they use.
NEW_DEVICE = {"new_device": 1.0, "distinct_devices_30d": 2.0}
TRANSFER_IN = {**TRANSFER_OUT, "kind": "transfer_in", "direction": "credit", "is_debit": 0.0}
#: 40,000 in from three senders within 24 h, 30,000 of it moving on.
PASS_THROUGH = {"amount": 3e4, "credit_sum_24h": 4e4, "distinct_senders_24h": 3.0}

# (rule, what the event changes from an everyday one to hit, and to just miss)
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "velocity_burst",
        {"amount": 750.0, "debit_count_10m": 4.0, "debit_count_1h": 4.0, "debit_sum_1h": 3000.0},
        {"amount": 750.0, "debit_count_10m": 3.0, "debit_count_1h": 4.0, "debit_sum_1h": 4000.0},
    ),
    (
        "card_testing",
        {**ONLINE, "amount": 900.0, "debit_count_1h": 4.0, "debit_sum_1h": 906.0},
        {**ONLINE, "amount": 900.0, "debit_count_1h": 4.0, "debit_sum_1h": 940.0},
    ),
    (
        "impossible_travel",
        {"geo_velocity_kmh": 2400.0, "distance_from_last_km": 1200.0},
        {"geo_velocity_kmh": 850.0, "distance_from_last_km": 1200.0},
    ),
    (
        "new_device_high_amount",
        {**ONLINE, **NEW_DEVICE, "amount": 10000.0, "amount_mean_kind": 300.0},
        {**ONLINE, **NEW_DEVICE, "amount": 9999.0, "amount_mean_kind": 300.0},
    ),
    (
        "night_cash_away_from_home",
        {**ATM_CASH, "is_night": 1.0, "hour": 3.0, "amount": 1500.0, "new_country": 1.0},
        {**ATM_CASH, "is_night": 1.0, "hour": 3.0, "amount": 1500.0, "distance_from_last_km": 99},
    ),
    (
        "spend_far_above_baseline",
        {"amount": 2500.0, "amount_zscore": 6.0, "amount_ratio": 8.0},
        {"amount": 2500.0, "amount_zscore": 6.0, "amount_ratio": 8.0, "baseline_n": 9.0},
    ),
    (
        "account_takeover_drain",
        {
            **TRANSFER_OUT,
            **NEW_DEVICE,
            "new_counterparty": 1.0,
            "amount": 12000.0,
            "debit_sum_24h": 12500.0,
        },
        {
            **TRANSFER_OUT,
            **NEW_DEVICE,
            "new_device": 0.0,
            "new_counterparty": 1.0,
            "amount": 12000.0,
            "debit_sum_24h": 12500.0,
        },
    ),
    (
        "high_risk_mcc",
        {"mcc": "5944", "amount": 2000.0},
        {"mcc": "5944", "amount": 1999.99},
    ),
    (
        "cash_structuring",
        {**DEPOSIT, "amount": 48000.0, "cash_in_count_48h": 3.0, "cash_in_sum_48h": 141000.0},
        {**DEPOSIT, "amount": 48000.0, "cash_in_count_48h": 2.0, "cash_in_sum_48h": 96000.0},
    ),
    (
        "rapid_pass_through",
        {**TRANSFER_OUT, **PASS_THROUGH, "passthrough_share_24h": 0.9},
        {**TRANSFER_OUT, **PASS_THROUGH, "passthrough_share_24h": 0.7},
    ),
    (
        "fan_in",
        {**TRANSFER_IN, "amount": 1500.0, "distinct_senders_24h": 8.0, "credit_sum_24h": 10000.0},
        {**TRANSFER_IN, "amount": 1500.0, "distinct_senders_24h": 7.0, "credit_sum_24h": 90000.0},
    ),
    (
        "fan_out",
        {**TRANSFER_OUT, "amount": 3000.0, "distinct_recipients_24h": 8.0, "debit_sum_24h": 2e4},
        {**TRANSFER_OUT, "amount": 3000.0, "distinct_recipients_24h": 8.0, "debit_sum_24h": 19999},
    ),
    (
        "dormant_reactivation",
        {**TRANSFER_IN, "amount": 30000.0, "dormant_days": 200.0},
        {**TRANSFER_IN, "amount": 30000.0, "dormant_days": 179.0},
    ),
    (
        "round_amount_transfer",
        {**TRANSFER_OUT, "amount": 60000.0, "new_counterparty": 1.0},
        {**TRANSFER_OUT, "amount": 60500.0, "new_counterparty": 1.0},
    ),
    (
        "high_risk_country_transfer",
        {**TRANSFER_OUT, "amount": 3000.0, "country": "IR"},
        {**TRANSFER_OUT, "amount": 3000.0, "country": "AE"},
    ),
]


@pytest.mark.parametrize(("rule_id", "hit", "miss"), CASES, ids=[c[0] for c in CASES])
def test_each_shipped_rule_hits_and_just_misses(
    engine: RuleEngine, rule_id: str, hit: dict[str, Any], miss: dict[str, Any]
) -> None:
    assert rule_id in fired(engine, everyday(**hit))
    assert rule_id not in fired(engine, everyday(**miss))


def test_an_online_burst_from_the_customer_own_phone_is_no_spree(engine: RuleEngine) -> None:
    """A shopping festival on a phone used all week looks like a spree but for the device."""
    burst = {**ONLINE, "amount": 750.0, "debit_count_10m": 4.0, "debit_count_1h": 6.0}
    own_phone = everyday(**burst, debit_sum_1h=4000.0, device_count_1h=6.0, device_count_7d=30.0)
    assert fired(engine, own_phone) == set()
    stranger = {**own_phone, "device_count_7d": 6.0}
    assert fired(engine, stranger) == {"velocity_burst"}


def test_pass_through_fires_on_the_money_moving_on_not_on_the_coffee_after(
    engine: RuleEngine,
) -> None:
    passed = {**PASS_THROUGH, "passthrough_share_24h": 0.9}
    coffee = everyday(**{**passed, "amount": 30.0})
    assert "rapid_pass_through" not in fired(engine, coffee)
    assert "rapid_pass_through" in fired(engine, everyday(**TRANSFER_OUT, **passed))


def test_a_bonus_moved_to_the_customer_own_account_is_no_pass_through(engine: RuleEngine) -> None:
    """One inflow from one sender, moved on to one account (a year-end bonus)."""
    bonus = {**TRANSFER_OUT, **PASS_THROUGH, "passthrough_share_24h": 0.9}
    one_to_one = everyday(**{**bonus, "distinct_senders_24h": 1.0, "distinct_recipients_24h": 1.0})
    assert "rapid_pass_through" not in fired(engine, one_to_one)
    spread = {**one_to_one, "distinct_recipients_24h": 2.0}
    assert "rapid_pass_through" in fired(engine, spread)


def test_a_customer_first_device_is_no_takeover(engine: RuleEngine) -> None:
    """In a customer's first days every device is new: that alone must not alert."""
    first = {**TRANSFER_OUT, "new_device": 1.0, "new_counterparty": 1.0, "amount": 12000.0}
    x = everyday(**first, debit_sum_24h=12500.0, amount_mean_kind=0.0)
    assert fired(engine, x) == set()
    assert fired(engine, {**x, "distinct_devices_30d": 2.0}) == {
        "account_takeover_drain",
        "new_device_high_amount",
    }


def test_every_shipped_rule_has_a_case_and_the_packs_are_big_enough() -> None:
    packs = load_packs(SHIPPED, FEATURES, TEXT_FIELDS)
    shipped = {rule.id for pack in packs for rule in pack.rules}
    assert shipped == {case[0] for case in CASES}
    sizes = {pack.name: len(pack.rules) for pack in packs}
    assert sizes["card_fraud"] >= 8
    assert sizes["aml"] >= 6
    assert all(rule.suppress_seconds for pack in packs for rule in pack.rules)


def test_the_structuring_threshold_and_window_are_configurable() -> None:
    x = everyday(**DEPOSIT, amount=28000.0, cash_in_count_24h=3.0, cash_in_sum_24h=84000.0)
    default = RuleEngine(load_packs(["aml"], FEATURES, TEXT_FIELDS))
    assert fired(default, x) == set(), "28,000 is far under the default 50,000"
    overrides = {"large_cash_threshold": 30000, "structuring_window_hours": 24}
    lowered = RuleEngine(load_packs(["aml"], FEATURES, TEXT_FIELDS, overrides))
    assert fired(lowered, x) == {"cash_structuring"}
    only_48h = {"large_cash_threshold": 30000, "structuring_window_hours": 48}
    on_48h = RuleEngine(load_packs(["aml"], FEATURES, TEXT_FIELDS, only_48h))
    assert fired(on_48h, x) == set(), "the 48 h counts are zero in this event"


def test_the_high_risk_countries_are_configurable() -> None:
    x = everyday(**TRANSFER_OUT, amount=3000.0, country="AE")
    packs = load_packs(["aml"], FEATURES, TEXT_FIELDS, {"high_risk_countries": ["AE", "KP"]})
    assert fired(RuleEngine(packs), x) == {"high_risk_country_transfer"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"large_cash_treshold": 30000}, "name no param"),
        ({"large_cash_threshold": "lots"}, "is not alike"),
        ({"high_risk_countries": "IR"}, "is not alike"),
    ],
)
def test_a_bad_override_stops_the_load(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(PackError, match=message):
        load_packs(SHIPPED, FEATURES, TEXT_FIELDS, overrides)


def test_a_rule_id_in_two_packs_stops_the_load() -> None:
    with pytest.raises(PackError, match="rule 'velocity_burst' is also in"):
        load_packs(["card_fraud", "card_fraud"], FEATURES, TEXT_FIELDS)


def test_a_feature_name_typo_fails_at_load(tmp_path: Path) -> None:
    text = pack_path("aml").read_text(encoding="utf-8")
    broken = tmp_path / "aml.yaml"
    typo = text.replace("distinct_senders_24h >= fan_in", "distinct_sender_24h >= fan_in")
    assert typo != text
    broken.write_text(typo)
    with pytest.raises(PackError, match=r"aml.yaml:\d+: rule 'fan_in'.*unknown name"):
        load_pack(str(broken), FEATURES, TEXT_FIELDS)
