"""The traffic simulator: determinism, order, channel shapes, income, fraud shapes.

Runs are small (a few hundred customers over a few weeks) and shared per
module, so the whole file stays within a few seconds. Fraud rates are raised
far above the defaults so that every scenario shows up often enough for its
rate and shape to be checked.
"""

from __future__ import annotations

import gc
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from riskwatch.contracts import CHANNELS, REQUIRED_FIELDS
from simulator import (
    SCENARIOS,
    ConfigError,
    JsonlSink,
    KafkaDeliveryError,
    KafkaSink,
    SimulatedEvent,
    SimulationConfig,
    WireEvent,
    population_of,
    simulate,
    simulate_wire,
    to_wire,
    write_events,
)
from simulator.counterparties import PLATFORMS
from simulator.generator import _days
from simulator.geography import LOCAL_TZ
from simulator.ids import txn_id
from simulator.wire import WireFormatter

RATES = {"stolen_card_spree": 0.01, "account_takeover": 0.01, "card_testing": 0.01}
FRAUD = SimulationConfig(seed=11, customers=300, days=21, rates=RATES)
NO_FRAUD = {name: 0.0 for name in SCENARIOS}
#: Two months and a bit from Monday 5 January: February is covered whole.
MONTHS = SimulationConfig(seed=5, customers=150, days=62, rates=NO_FRAUD)
ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
CREDITS = {"salary", "pension", "transfer_in", "cash_deposit", "refund"}


@pytest.fixture(scope="module")
def fraud_run() -> list[SimulatedEvent]:
    return list(simulate(FRAUD))


@pytest.fixture(scope="module")
def months_run() -> list[SimulatedEvent]:
    return list(simulate(MONTHS))


def _write(events: Iterable[SimulatedEvent | WireEvent], directory: Path) -> tuple[bytes, bytes]:
    directory.mkdir(parents=True, exist_ok=True)
    stream, labels = directory / "txns.jsonl", directory / "labels.jsonl"
    write_events(events, JsonlSink.to_files(stream, labels))
    return stream.read_bytes(), labels.read_bytes()


# -- determinism and order -------------------------------------------------


def test_same_config_writes_identical_bytes(tmp_path: Path) -> None:
    config = SimulationConfig(seed=3, customers=120, days=10, rates=RATES)
    first = _write(simulate_wire(config), tmp_path / "a")
    second = _write(simulate_wire(config), tmp_path / "b")
    assert first == second
    assert first[0].count(b"\n") > 2000
    assert first[1].count(b"\n") > 10


def test_fast_wire_form_matches_the_contract_serialisation(tmp_path: Path) -> None:
    config = SimulationConfig(seed=4, customers=120, days=10, rates=RATES)
    assert _write(simulate(config), tmp_path / "objects") == _write(
        simulate_wire(config), tmp_path / "wire"
    )


def test_wire_numbers_match_the_contract_across_their_leading_digits() -> None:
    """Numbers are spliced from cached leading digits and a table of the last four."""
    config = SimulationConfig(seed=4, customers=60, days=3, rates=RATES)
    drafts = sorted((d for day, _ in _days(config) for d in day), key=lambda d: d.ts_ms)[:30]
    formatter = WireFormatter(config.tag(), config.currency)
    for first in (1, 9_990, 99_999_995, 9_999_999_990):
        wired = formatter.format_day(first, drafts, list(range(len(drafts))))
        ids = [orjson.loads(w.txn)["txn_id"] for w in wired]
        assert ids == [txn_id(config.tag(), n) for n in range(first, first + len(drafts))]
        assert [w.txn for w in wired[3:5]] == [
            formatter.format(n, d).txn
            for n, d in zip((first + 3, first + 4), drafts[3:5], strict=True)
        ]


def test_a_day_is_rendered_in_time_order_whatever_order_its_drafts_come_in() -> None:
    config = SimulationConfig(seed=4, customers=60, days=3, rates=RATES)
    drafts, ranks = next(_days(config))
    assert sorted(ranks) == list(range(len(drafts))) and ranks != sorted(ranks)
    formatter = WireFormatter(config.tag(), config.currency)
    by_time = sorted(drafts, key=lambda d: d.ts_ms)
    assert [d.ts_ms for d in by_time] == [
        d.ts_ms for _, d in sorted(zip(ranks, drafts, strict=True))
    ]
    expected = formatter.format_day(7, by_time, list(range(len(drafts))))
    assert formatter.format_day(7, drafts, ranks) == expected
    reversed_ranks = list(reversed(ranks))
    assert formatter.format_day(7, drafts[::-1], reversed_ranks) == expected


def test_a_different_seed_gives_different_traffic(tmp_path: Path) -> None:
    base = SimulationConfig(seed=3, customers=60, days=3)
    other = SimulationConfig(seed=4, customers=60, days=3)
    assert _write(simulate_wire(base), tmp_path / "a") != _write(
        simulate_wire(other), tmp_path / "b"
    )


def test_events_come_in_event_time_order_inside_the_window(
    fraud_run: list[SimulatedEvent],
) -> None:
    stamps = [e.txn.ts for e in fraud_run]
    assert stamps == sorted(stamps)
    assert FRAUD.start <= stamps[0]
    assert stamps[-1] < FRAUD.end


def test_ids_are_unique_short_and_plain(fraud_run: list[SimulatedEvent]) -> None:
    ids = [e.txn.txn_id for e in fraud_run]
    assert len(set(ids)) == len(ids)
    for event in fraud_run:
        assert ID.fullmatch(event.txn.txn_id)
        assert ID.fullmatch(event.txn.customer_id)
        assert ID.fullmatch(event.txn.account_id)


# -- the contract's fields ---------------------------------------------------


def test_amounts_are_positive_with_two_decimals(fraud_run: list[SimulatedEvent]) -> None:
    for event in fraud_run:
        amount = event.txn.amount
        assert isinstance(amount, Decimal)
        assert amount > 0
        assert amount.as_tuple().exponent == -2
        assert event.txn.currency == "CNY"


def test_direction_follows_the_kind(fraud_run: list[SimulatedEvent]) -> None:
    for event in fraud_run:
        expected = "credit" if event.txn.kind in CREDITS else "debit"
        assert event.txn.direction == expected, event.txn


def test_every_channel_appears_with_its_fields(fraud_run: list[SimulatedEvent]) -> None:
    seen: Counter[str] = Counter()
    for event in fraud_run:
        txn = event.txn
        seen[txn.channel] += 1
        place = (txn.city, txn.lat, txn.lon, txn.country)
        if txn.channel == "atm":
            assert txn.kind in {"cash_withdrawal", "cash_deposit"}
            assert txn.card_id and txn.terminal_id and None not in place
        elif txn.channel == "pos":
            assert txn.kind in {"purchase", "refund"}
            assert txn.card_id and txn.merchant_id and txn.mcc and txn.terminal_id
            assert None not in place
        elif txn.channel == "counter":
            assert txn.kind in {"cash_deposit", "cash_withdrawal", "transfer_out", "bill_payment"}
            assert txn.terminal_id and txn.terminal_id.startswith("BR-")
            assert None not in place
        elif txn.channel == "online":
            assert txn.kind in {
                "transfer_out", "bill_payment", "purchase", "salary", "pension", "transfer_in",
            }  # fmt: skip
            if txn.direction == "debit":
                assert txn.device_id and txn.ip
            else:
                assert txn.counterparty_bank
        elif txn.channel == "mobile":
            assert txn.kind in {"transfer_out", "transfer_in", "purchase", "bill_payment"}
            assert txn.device_id and txn.ip
        elif txn.channel == "thirdparty":
            assert txn.counterparty_bank in PLATFORMS
            assert txn.merchant_id or txn.counterparty_account
            if txn.direction == "debit":
                assert txn.device_id
        if txn.kind == "purchase":
            assert txn.merchant_id and txn.mcc and re.fullmatch(r"\d{4}", txn.mcc)
        if txn.kind.startswith("transfer"):
            assert txn.counterparty_account and txn.counterparty_bank
        if txn.card_id is not None:
            assert re.fullmatch(r"card-[0-9a-f]{12}", txn.card_id)
    assert set(seen) == set(CHANNELS)
    assert min(seen.values()) > 100, seen


#: Per channel: the optional fields it always carries, and those it may carry.
FIELD_SETS: dict[str, tuple[set[str], set[str]]] = {
    "atm": ({"card_id", "terminal_id", "country", "city", "lat", "lon"}, set()),
    "pos": (
        {"card_id", "merchant_id", "mcc", "terminal_id", "country", "city", "lat", "lon"},
        set(),
    ),
    "counter": (
        {"terminal_id", "country", "city", "lat", "lon"},
        {"merchant_id", "mcc", "counterparty_account", "counterparty_bank"},
    ),
    "online": (
        set(),
        {
            "card_id",
            "merchant_id",
            "mcc",
            "device_id",
            "ip",
            "country",
            "counterparty_account",
            "counterparty_bank",
        },
    ),
    "mobile": (
        {"device_id", "ip"},
        {"merchant_id", "mcc", "country", "counterparty_account", "counterparty_bank"},
    ),
    "thirdparty": (
        {"counterparty_bank"},
        {"merchant_id", "mcc", "device_id", "counterparty_account"},
    ),
}


def test_each_channel_carries_exactly_its_fields(fraud_run: list[SimulatedEvent]) -> None:
    """The field set of every transaction is its channel's, with or without fraud."""
    shapes: dict[str, set[frozenset[str]]] = defaultdict(set)
    for event in fraud_run:
        record = event.txn.to_json_dict()
        present = set(record) - set(REQUIRED_FIELDS)
        always, maybe = FIELD_SETS[event.txn.channel]
        assert always <= present <= always | maybe, (event.txn.channel, sorted(present))
        shapes[event.txn.channel].add(frozenset(present))
    assert set(shapes) == set(CHANNELS)
    # remote channels really vary: payments, transfers, card purchases
    assert len(shapes["online"]) >= 3 and len(shapes["thirdparty"]) >= 2


def test_nothing_looks_like_a_card_number(tmp_path: Path) -> None:
    stream, labels = _write(simulate_wire(FRAUD), tmp_path)
    assert re.search(rb"\d{13,}", stream) is None
    assert re.search(rb"\d{13,}", labels) is None


def test_labels_match_their_transaction_and_come_later(
    fraud_run: list[SimulatedEvent],
) -> None:
    labelled = [e for e in fraud_run if e.label is not None]
    assert 0 < len(labelled) < len(fraud_run) // 10
    for event in labelled:
        label = event.label
        assert label is not None
        assert label.txn_id == event.txn.txn_id
        assert label.customer_id == event.txn.customer_id
        assert label.ts >= event.txn.ts
        assert label.source == "simulator"
        assert label.label == SCENARIOS[label.scenario or ""].label


def test_jsonl_files_keep_transactions_and_labels_apart(tmp_path: Path) -> None:
    config = SimulationConfig(seed=8, customers=80, days=7, rates=RATES)
    events = list(simulate(config))
    stream, labels = _write(events, tmp_path)
    lines = stream.splitlines()
    assert [orjson.loads(line) for line in lines] == [e.txn.to_json_dict() for e in events]
    written = [orjson.loads(line) for line in labels.splitlines()]
    expected = [e.label.to_json_dict() for e in events if e.label is not None]
    assert sorted(written, key=lambda r: r["txn_id"]) == sorted(expected, key=lambda r: r["txn_id"])
    assert to_wire(events[0]).key == events[0].txn.customer_id.encode()


# -- legitimate behaviour ------------------------------------------------------


def test_typical_customer_makes_a_few_transactions_a_day(
    months_run: list[SimulatedEvent],
) -> None:
    per_customer = Counter(e.txn.customer_id for e in months_run)
    mean = sum(per_customer.values()) / MONTHS.customers / MONTHS.days
    assert 2.0 <= mean <= 6.0
    dormant = {c.customer_id for c in population_of(MONTHS).customers if c.dormant}
    assert len(set(per_customer) - dormant) == MONTHS.customers - len(dormant)
    assert all(per_customer[c] <= 3 for c in dormant)  # a rare top-up from family


@pytest.mark.parametrize("kind", ["salary", "pension"])
def test_income_arrives_once_a_month(months_run: list[SimulatedEvent], kind: str) -> None:
    paid: dict[str, Counter[int]] = defaultdict(Counter)
    for event in months_run:
        if event.txn.kind == kind:
            assert event.txn.direction == "credit" and event.txn.counterparty_bank
            paid[event.txn.customer_id][event.txn.ts.astimezone(LOCAL_TZ).month] += 1
    assert len(paid) > MONTHS.customers // 10
    for months in paid.values():
        assert months[2] == 1  # February lies wholly inside the window
        assert max(months.values()) == 1


def test_spending_tracks_income(months_run: list[SimulatedEvent]) -> None:
    debits = sum(e.txn.amount for e in months_run if e.txn.direction == "debit")
    credits = sum(e.txn.amount for e in months_run if e.txn.direction == "credit")
    assert Decimal("0.4") <= debits / credits <= Decimal("1.05")


def test_everyday_amounts_do_not_pile_up_on_one_value(months_run: list[SimulatedEvent]) -> None:
    small = Counter(
        e.txn.amount for e in months_run if e.txn.kind == "purchase" and e.txn.amount < 400
    )
    assert small.most_common(1)[0][1] < sum(small.values()) / 100


# -- fraud ---------------------------------------------------------------------
# Each scenario's rate and shape: tests/test_simulator_scenarios.py.


def test_no_fraud_when_every_rate_is_zero(months_run: list[SimulatedEvent]) -> None:
    assert all(e.label is None for e in months_run)


def test_a_compromised_card_is_replaced(fraud_run: list[SimulatedEvent]) -> None:
    replaced = 0
    sprees = {
        (e.txn.customer_id, e.txn.card_id): e.txn.ts
        for e in fraud_run
        if e.label is not None and e.label.scenario == "stolen_card_spree"
    }
    assert sprees
    for (customer, card), last in sprees.items():
        later = [
            e.txn
            for e in fraud_run
            if e.txn.customer_id == customer
            and e.txn.ts > last + timedelta(days=4)
            and e.txn.card_id is not None
        ]
        if later:
            replaced += 1
            assert card not in {t.card_id for t in later}
    assert replaced > 0


# -- configuration and sinks ------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"customers": 0},
        {"days": 0},
        {"start": datetime(2026, 1, 5)},  # naive on purpose
        {"rates": {"no_such_scenario": 0.1}},
        {"rates": {"card_testing": 1.5}},
        {"currency": "yuan"},
    ],
)
def test_bad_settings_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        SimulationConfig(**changes)  # type: ignore[arg-type]


def test_rates_left_out_keep_their_defaults() -> None:
    config = SimulationConfig(rates={"card_testing": 0.0})
    assert config.rates["card_testing"] == 0.0
    assert config.rates["stolen_card_spree"] > 0.0
    assert config.start == datetime(2026, 1, 5, tzinfo=UTC)
    assert SimulationConfig().tag() != SimulationConfig(seed=1).tag()


def test_kafka_sink_raises_when_nothing_is_acknowledged() -> None:
    """No broker listens on port 1: delivery times out and the sink says so."""
    sink = KafkaSink(
        "127.0.0.1:1",
        "transactions",
        "labels",
        producer_config={"message.timeout.ms": 500},
        flush_timeout=10.0,
    )
    events = simulate_wire(SimulationConfig(seed=1, customers=3, days=1))
    with pytest.raises(KafkaDeliveryError):
        write_events(events, sink)


def test_a_run_leaves_the_garbage_collector_as_it_found_it() -> None:
    # gc.freeze is process-wide: a run still open elsewhere would be thawed by
    # this one's end, so start from nothing frozen.
    gc.unfreeze()
    config = SimulationConfig(seed=2, customers=30, days=2)
    assert gc.isenabled()
    for run in (simulate_wire(config), simulate(config)):
        assert next(run) is not None
        assert gc.isenabled()  # the consumer never runs with the collector paused
        assert gc.get_freeze_count() > 0  # the world is kept out of its walks
        run.close()  # abandoned early: the world is handed back
        assert gc.isenabled() and gc.get_freeze_count() == 0
    assert sum(1 for _ in simulate_wire(config)) > 0
    assert gc.isenabled() and gc.get_freeze_count() == 0
