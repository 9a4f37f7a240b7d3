"""The compiled feature builder against the interpreted one it replaced, bit for bit.

detectors/feature_values.pyx computes every value in C and finds local time
from a per-hour offset memo; tests/features_before.py is the interpreted
builder. Here both build the same (transaction, StateUpdate) pairs and must
agree on keys, their order, each value's type and each float's bits: on
simulated traffic through a real CustomerStateStore (with late and
duplicate deliveries, events without some entities or without positions) in zones with
and without daylight saving time, on instants around every 2026 transition,
and on the inputs the compiled code hands back to Python.
"""

from __future__ import annotations

import gc
import math
import struct
import sys
from array import array
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from detectors import features
from detectors.feature_values import FeatureBuilder
from detectors.features import build_features
from detectors.state import ENTITIES, CustomerStateStore, StateUpdate, empty_update
from riskwatch.contracts import Transaction
from simulator import SimulationConfig, simulate
from tests.features_before import build_features as build_before

ZONES = (
    ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"),
    ZoneInfo("Australia/Lord_Howe"), ZoneInfo("Asia/Kathmandu"), ZoneInfo("UTC"),
    timezone(timedelta(hours=-3, minutes=-30)), UTC,
)  # fmt: skip
LATENESS_S = 3600


def _bits(value: Any) -> tuple[type, Any]:
    return type(value), struct.pack("<d", value) if isinstance(value, float) else value


def assert_same(txn: Transaction, update: StateUpdate, tz: Any) -> dict[str, Any]:
    new, old = build_features(txn, update, tz), build_before(txn, update, tz)
    assert list(new) == list(old), "the same names in the same order"
    for name, value in old.items():
        assert _bits(new[name]) == _bits(value), f"{name} of {txn.txn_id} in {tz}"
    return new


def test_simulated_traffic_matches_the_interpreted_builder(redis_url: str, key_prefix: str) -> None:
    """Six weeks over both 2026 spring changes (US 8 March, EU 29 March), delivered unevenly."""
    config = SimulationConfig(
        seed=5, customers=40, days=42, start=datetime(2026, 2, 20, tzinfo=UTC)
    )
    txns = [e.txn for e in simulate(config)]
    # Every 23rd event arrives three hours late (past the allowed lateness) and
    # every 41st twice: late and duplicate updates.
    delivered: list[Transaction] = []
    held: list[tuple[datetime, Transaction]] = []
    for i, txn in enumerate(txns):
        while held and held[0][0] <= txn.ts:
            delivered.append(held.pop(0)[1])
        if i % 23 == 0:
            held.append((txn.ts + timedelta(hours=3), txn))
        else:
            delivered.append(txn)
        if i % 41 == 0:
            delivered.append(txn)
    delivered += [txn for _, txn in held]
    client = redis.Redis.from_url(redis_url)
    store = CustomerStateStore(client, key_prefix, 8 * 86400, 60 * 86400, LATENESS_S)
    seen = {"late": 0, "duplicate": 0, "missing_entity": 0, "no_geo": 0, "geo": 0, "salaries": 0}
    for start in range(0, len(delivered), 200):
        chunk = delivered[start : start + 200]
        for txn, update in zip(chunk, store.apply(chunk), strict=True):
            for tz in ZONES:
                features = assert_same(txn, update, tz)
            seen["late"] += update.late
            seen["duplicate"] += not update.fresh
            seen["missing_entity"] += len(update.entities) < len(ENTITIES)
            seen["no_geo"] += txn.lat is None
            seen["geo"] += features["distance_from_last_km"] > 0
            seen["salaries"] += len(update.salary_ts_ms) >= 2
    client.close()
    assert all(seen.values()), seen


def _transitions(tz: ZoneInfo, year: int) -> list[datetime]:
    """The UTC instants in ``year`` at which ``tz`` changes its offset (found hour by hour)."""
    out = []
    hour = datetime(year, 1, 1, tzinfo=UTC)
    while hour.year == year:
        later = hour + timedelta(hours=1)
        if hour.astimezone(tz).utcoffset() != later.astimezone(tz).utcoffset():
            out.append(hour)
        hour = later
    return out


def _txn(ts: datetime, **fields: Any) -> Transaction:
    base: dict[str, Any] = {
        "txn_id": f"x{ts.timestamp()}", "ts": ts, "customer_id": "C1", "account_id": "A1",
        "channel": "pos", "direction": "debit", "kind": "purchase", "amount": Decimal("12.34"),
        "currency": "EUR", "lat": 52.52, "lon": 13.40,
    }  # fmt: skip
    return Transaction(**(base | fields))


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
def test_instants_around_every_change_of_offset(zone: str) -> None:
    """Every 7 min 13.5 s for three hours around each 2026 transition, salaries on both sides."""
    tz = ZoneInfo(zone)
    changes = _transitions(tz, 2026)
    assert len(changes) == 2
    for change in changes:
        for step in range(-12, 13):
            ts = change + step * timedelta(minutes=7, seconds=13, microseconds=500_000)
            ms = int(ts.timestamp() * 1000)
            salaries = (ms - 30 * 86_400_000, ms - 86_400_000 + 3_600_000, ms)
            update = replace(empty_update(ms), salary_ts_ms=salaries, prev_geo=(ms - 1, 48.1, 11.6))
            assert_same(_txn(ts), update, tz)


def test_dates_and_inputs_left_to_python() -> None:
    """Non-UTC timestamps, far dates, odd amounts and positions take the interpreted path."""
    tz = ZoneInfo("Europe/Berlin")
    ms = 1_775_000_000_000
    geo = replace(empty_update(ms), prev_geo=(ms - 90_000, 52.0, 13.0))
    cases = [
        _txn(datetime(2026, 3, 29, 3, 30, tzinfo=ZoneInfo("Europe/Berlin"))),
        _txn(datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=5)))),
        _txn(datetime(1, 1, 1, 5, tzinfo=UTC)),
        _txn(datetime(9999, 12, 31, 20, tzinfo=UTC)),
        _txn(datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)),
        _txn(datetime(2026, 1, 1, tzinfo=UTC), amount=Decimal("1.005")),
        _txn(datetime(2026, 1, 1, tzinfo=UTC), amount=Decimal("0")),
        _txn(datetime(2026, 1, 1, tzinfo=UTC), amount=Decimal("123456789012.34")),
        _txn(datetime(2026, 1, 1, tzinfo=UTC), lat=-90.0, lon=-180.0),
        _txn(datetime(2026, 1, 1, tzinfo=UTC), lat=91, lon=200),
        _txn(datetime(2026, 1, 1, tzinfo=UTC), lat=math.nan, lon=13.0),
        _txn(datetime(2026, 1, 1, tzinfo=UTC), channel="online"),
    ]
    for txn in cases:
        for update in (empty_update(ms), geo):
            assert_same(txn, update, tz)
    salaries = (0, 86_400_000 * 40, 4_102_444_800_000, 250_000_000_000_000)
    assert_same(cases[0], replace(geo, salary_ts_ms=salaries), tz)
    for bad in (Decimal("-1"), Decimal("-2")):
        txn = _txn(datetime(2026, 1, 1, tzinfo=UTC), amount=bad)
        with pytest.raises(ValueError, match="math domain error"):
            build_before(txn, geo, tz)
        with pytest.raises(ValueError, match="math domain error"):
            build_features(txn, geo, tz)
    far = _txn(datetime(2026, 1, 1, tzinfo=UTC), lat=math.inf, lon=13.0)
    with pytest.raises(ValueError, match="math domain error"):
        build_before(far, geo, tz)
    with pytest.raises(ValueError, match="math domain error"):
        build_features(far, geo, tz)


def test_values_go_straight_into_their_entries_on_cpython_3_11() -> None:
    """The builder takes its fast path here (else the tests above would not cover it)."""
    assert features._BUILDER.by_position is (sys.version_info[:2] == (3, 11))


class _Name(str):
    """A str subclass: a dict of such keys has the general layout, not the str-only one."""

    __slots__ = ()


def _builder_of(
    template: dict[str, Any], net_flows: tuple[tuple[int, int], ...] = features._NET_FLOW_INDICES
) -> FeatureBuilder:
    return FeatureBuilder(
        template, features._TOTAL_IS_SUM, net_flows,
        features._ENTITY_PREFIXES, features._NO_ENTITY, features.CARD_PRESENT,
        features.haversine_km, features.salary_regularity,
    )  # fmt: skip


def test_a_template_of_another_layout_has_its_values_set_by_key() -> None:
    """Keys that are not exact str: no entry writing, and the same dict all the same."""
    by_key = _builder_of({_Name(name): None for name in features._TEMPLATE})
    assert not by_key.by_position
    tz = ZoneInfo("Europe/Berlin")
    ms = 1_775_000_000_000
    update = replace(empty_update(ms), prev_geo=(ms - 90_000, 52.0, 13.0), salary_ts_ms=(ms,))
    txn = _txn(datetime(2026, 4, 2, 9, tzinfo=UTC))
    got, want = by_key.build(txn, update, tz), build_features(txn, update, tz)
    assert list(got) == list(want)
    assert all(_bits(got[name]) == _bits(value) for name, value in want.items())


def test_a_container_among_the_values_makes_the_dict_tracked() -> None:
    """The collector must see a dict that holds a container, as dict's own setting ensures."""
    ms = 1_775_000_000_000
    plain = build_features(_txn(datetime(2026, 4, 2, 9, tzinfo=UTC)), empty_update(ms), UTC)
    assert not gc.is_tracked(plain)
    odd = _txn(datetime(2026, 4, 2, 9, tzinfo=UTC), city=["a", "list"])
    holding = build_features(odd, empty_update(ms), UTC)
    assert holding["city"] == ["a", "list"]
    assert gc.is_tracked(holding)


def test_totals_of_any_sequence_of_ints_build_what_the_folds_array_builds(
    redis_url: str, key_prefix: str
) -> None:
    """The fold hands over an array('q') read as C long longs; a tuple (a StateUpdate made
    elsewhere) is read as the same numbers."""
    client = redis.Redis.from_url(redis_url)
    store = CustomerStateStore(client, key_prefix, 8 * 86400, 60 * 86400, LATENESS_S)
    config = SimulationConfig(seed=3, customers=5, days=10, start=datetime(2026, 2, 20, tzinfo=UTC))
    txns = [e.txn for e in simulate(config)]
    updates = store.apply(txns)
    client.close()
    assert all(type(u.totals) is array for u in updates)
    assert any(u.totals[4 * 3 + 3] > 0 for u in updates), "some 24 h inflow"
    tz = ZoneInfo("Asia/Shanghai")
    for txn, update in zip(txns, updates, strict=True):
        want = [_bits(v) for v in build_features(txn, update, tz).values()]
        # Other arrays too: read as their values, never as the bytes of long longs.
        for totals in (tuple(update.totals), array("i", update.totals), list(update.totals)):
            other = build_features(txn, replace(update, totals=totals), tz)
            assert [_bits(v) for v in other.values()] == want, type(totals)
        assert_same(txn, update, tz)
    with pytest.raises(TypeError):
        build_features(txns[0], replace(updates[0], totals=array("d", updates[0].totals)), tz)


def test_net_flows_outside_the_totals_are_refused() -> None:
    """The builder reads totals from a C array, so every index must be checked up front."""
    with pytest.raises(ValueError, match="outside"):
        _builder_of(dict(features._TEMPLATE), net_flows=((len(features._TOTAL_IS_SUM), 0),))
    with pytest.raises(ValueError, match="outside"):
        _builder_of(dict(features._TEMPLATE), net_flows=((-1, 0),))
    with pytest.raises(ValueError, match="outside"):
        _builder_of(dict(features._TEMPLATE), net_flows=((3,),))
    with pytest.raises(ValueError, match="outside"):
        _builder_of(dict(features._TEMPLATE), net_flows=((3, 4, 5),))
