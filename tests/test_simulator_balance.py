"""Income and expenditure move each customer's balance, as in a real account.

Walking each customer's transactions from the opening balance the world
gave them: everyday spending (purchases, cash) happens only when the
balance covers it; bills and fraud go through regardless. Over a whole
month, what a customer spends is a believable share of what they earn.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest

from simulator import SCENARIOS, SimulatedEvent, SimulationConfig, population_of, simulate
from simulator.geography import LOCAL_TZ, distance_km

RATES = {name: 0.003 for name in SCENARIOS}
#: Two months from Monday 5 January: February is covered whole.
CONFIG = SimulationConfig(seed=41, customers=200, days=62, rates=RATES)
EVERYDAY = {"purchase", "cash_withdrawal"}


@pytest.fixture(scope="module")
def run() -> list[SimulatedEvent]:
    return list(simulate(CONFIG))


def test_everyday_spending_never_overdraws_the_balance(run: list[SimulatedEvent]) -> None:
    population = population_of(CONFIG)
    balance = {c.customer_id: Decimal(c.opening_balance_cents) / 100 for c in population.customers}
    checked = 0
    for event in run:
        txn = event.txn
        if txn.direction == "credit":
            balance[txn.customer_id] += txn.amount
            continue
        if event.label is None and txn.kind in EVERYDAY:
            assert balance[txn.customer_id] >= txn.amount, txn
            checked += 1
        balance[txn.customer_id] -= txn.amount
    assert checked > len(run) // 2


def test_each_customer_spends_a_believable_share_of_income(run: list[SimulatedEvent]) -> None:
    population = population_of(CONFIG)
    flows: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for event in run:
        txn = event.txn
        if event.label is None and txn.ts.astimezone(LOCAL_TZ).month == 2:
            flows[txn.customer_id][txn.direction == "credit"] += txn.amount
    ratios = []
    for customer in population.customers:
        if customer.dormant:
            assert flows[customer.customer_id][0] < 1000  # idle accounts stay idle
            continue
        spent, earned = flows[customer.customer_id]
        income = Decimal(customer.income_cents) / 100
        assert earned >= Decimal("0.5") * income, customer.customer_id
        ratios.append(spent / earned)
    ratios.sort()
    median = ratios[len(ratios) // 2]
    assert Decimal("0.4") <= median <= Decimal("1.1"), median
    assert sum(r > 2 for r in ratios) <= len(ratios) // 20


def test_income_follows_the_segment(run: list[SimulatedEvent]) -> None:
    kinds: dict[str, set[str]] = defaultdict(set)
    for event in run:
        if event.label is None and event.txn.direction == "credit":
            kinds[event.txn.customer_id].add(event.txn.kind)
    for customer in population_of(CONFIG).customers:
        if customer.dormant:
            continue
        income = customer.segment.income_kind
        got = kinds[customer.customer_id]
        if income in ("salary", "pension"):
            assert income in got, customer.customer_id
        else:  # business receipts: platform settlements and cash takings
            assert got & {"transfer_in", "cash_deposit"}, customer.customer_id


def test_customers_live_in_their_home_city() -> None:
    customers = population_of(CONFIG).customers
    for customer in customers:
        km = distance_km(customer.lat, customer.lon, customer.home.lat, customer.home.lon)
        assert km < 40, (customer.customer_id, km)
    assert len({c.home.code for c in customers}) >= 6
    assert len({c.segment.name for c in customers}) == 4
