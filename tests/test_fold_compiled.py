"""The compiled customer fold: it is the one imported, and its memo changes no result.

tests/test_features_reference.py checks every feature the fold feeds against
a brute-force reference; these check what that cannot see: that the test
environment runs the compiled module (so a broken build cannot pass
silently on an interpreted copy: there is none), that its C constants
match the layout customer_fold.py documents, and that the memo's
incremental paths (a day's totals moved on from the day before's, events
folded into kept days) give exactly what summing from scratch gives.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import random
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import fold as fold_bench
from detectors import customer_fold, fold
from detectors.blob_pack import pack

DAY = customer_fold.DAY
PARAMS = customer_fold.FoldParams(lateness=3_600_000, dedup=4 * DAY)


def test_the_compiled_fold_is_the_one_imported() -> None:
    assert fold.__file__ is not None
    assert fold.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), fold.__file__
    assert fold.COMPILED is True
    assert customer_fold.assess is fold.assess
    assert customer_fold.Memo is fold.Memo


def test_the_compiled_constants_are_the_layouts() -> None:
    cf = customer_fold
    expected = {
        "VERSION": cf.VERSION, "NW": cf.NW, "PD": cf.PD, "IDS": cf.IDS, "EV": cf.EV,
        "B": cf.B, "SEEN": cf.SEEN, "LT": cf.LT, "LC": cf.LC, "GEO": cf.GEO, "SAL": cf.SAL,
        "K": cf.K, "DAY": cf.DAY, "CHANNELS": len(cf.CHANNELS), "N_TOTALS": cf.N_TOTALS,
        "KIND_OTHER": cf.KIND_OTHER, "KIND_SALARY": cf.KIND_SALARY, "KIND_CASH_IN": cf.KIND_CASH_IN,
        "KIND_CASH_OUT": cf.KIND_CASH_OUT,
    }  # fmt: skip
    compiled = dict(fold.LAYOUT)
    assert compiled == expected
    assert customer_fold.new_state()[cf.VERSION] == 2


def _digest(prefix: str) -> st.SearchStrategy[int | None]:
    return st.one_of(st.none(), st.sampled_from([customer_fold.digest(f"{prefix}{i}")
                                                 for i in range(3)]))  # fmt: skip


events = st.lists(
    st.fixed_dictionaries(
        {
            # Up to 45 days, often several events a day, sometimes out of order.
            "minute": st.integers(0, 45 * 1440),
            "txn": st.integers(0, 60),
            "code": st.integers(0, 6 * 8 - 1),
            "amount": st.integers(1, 10**9),
            "merchant": _digest("M"),
            "device": _digest("D"),
            "country": st.one_of(st.none(), st.sampled_from(("CN", "HK"))),
            "counterparty": _digest("P"),
            "mcc": st.one_of(st.none(), st.sampled_from(("5411", "5944"))),
            "place": st.one_of(st.none(), st.sampled_from(((31.2, 121.4), (39.9, 116.4)))),
        }
    ),
    min_size=1,
    max_size=120,
).map(lambda es: sorted(es, key=lambda e: e["minute"] + (e["txn"] % 7) * 30))


def _event(e: dict) -> customer_fold.Event:
    place = e["place"]
    return customer_fold.Event(
        txn=customer_fold.digest(f"t{e['txn']}"), ts=1_767_571_200_000 + e["minute"] * 60_000,
        code=e["code"], amount=e["amount"], merchant=e["merchant"], device=e["device"],
        country=e["country"], counterparty=e["counterparty"], mcc=e["mcc"],
        lat=place[0] if place else None, lon=place[1] if place else None,
        base_kind=str(e["code"] & 3),
    )  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_a_held_state_and_its_memo_assess_as_a_state_read_afresh(es: list[dict]) -> None:
    held, memo = customer_fold.new_state(), customer_fold.Memo()
    blob = customer_fold.dump(customer_fold.new_state())
    for e in es:
        ev = _event(e)
        kept = customer_fold.assess(held, ev, PARAMS, memo)
        state = customer_fold.load(blob)
        afresh = customer_fold.assess(state, ev, PARAMS, customer_fold.Memo())
        assert kept == afresh
        blob = customer_fold.dump(state)
        assert customer_fold.dump(held) == blob


def test_the_fold_benchmark_checks_two_folds_agree(tmp_path: Path) -> None:
    same = tmp_path / "same_fold.py"
    same.write_text("from detectors.customer_fold import *  # noqa: F403\n")
    out = tmp_path / "fold.json"
    report = fold_bench.main(["--customers", "6", "--days", "3", "--repeat", "1",
                              "--fold-module", str(same), "--out", str(out)])  # fmt: skip
    assert report["compiled"] is True
    assert report["agreement_with_other"] == {
        "events": report["input"]["events"], "assessments_differing": 0, "blobs_differing": 0,
    }  # fmt: skip
    assert set(report["cpu_microseconds_per_event"]) == {"assess", "assess_other", "apply_glue"}


def update_as_dataclass(a: customer_fold.Assessment, entities: dict) -> Any:
    """The StateUpdate that ``a`` and its entities' counts make, built by the dataclass."""
    from detectors.state import StateUpdate

    return StateUpdate(
        fresh=a.fresh, newest_ts_ms=a.newest, late=a.late > 0, stale=a.late == 2, ts_ms=a.ts,
        totals=a.totals, passthrough_minor=a.passthrough, max_inflow_minor=a.max_inflow,
        distinct=a.distinct, prev_ts_ms=a.prev_ts, prev_channel_ts_ms=a.prev_ch_ts,
        new_flags=a.new_flags, prev_geo=a.prev_geo, baseline=a.baseline, entities=entities,
        salary_ts_ms=a.salaries,
    )  # fmt: skip


def test_made_updates_set_every_field_as_the_dataclass_would() -> None:
    from dataclasses import fields

    from detectors.state import StateUpdate

    s = customer_fold.new_state()
    ev = customer_fold.Event(7, 1_770_000_000_000, 8 + 4 + 1, 250_000, None, 3, "CN", 5, None,
                             None, None, "salary")  # fmt: skip
    a = customer_fold.assess(s, ev, PARAMS)
    entities = {"device": (1, 1, 1, 1, 1, 1)}
    (made,) = fold.UpdateMaker(StateUpdate).updates([a], [entities])
    assert made.totals is a.totals, "the update takes the assessment's array, not a copy"
    assert list(made.totals)[:4] == [0, 0, 1, 250_000] and len(made.totals) == 132
    expected = update_as_dataclass(a, entities)
    for f in fields(StateUpdate):
        assert getattr(made, f.name) == getattr(expected, f.name), f.name
        assert type(getattr(made, f.name)) is type(getattr(expected, f.name)), f.name
    assert made == expected


def _long_traffic() -> list[tuple[int, tuple[Any, ...]]]:
    """(customer, Event fields) of 45 days of six customers, made without the simulator
    (so that its changes leave this alone): recurring ids, and merchants that drift
    (each seen over some 9 days), so that the daily prune drops some sightings and keeps
    others; replays; events later than the lateness, some beyond the dedup horizon."""
    rng = random.Random(45)
    out: list[tuple[int, tuple[Any, ...]]] = []
    for i in range(45 * 6 * 8):
        ts = 1_767_225_600_000 + i * (DAY // 48) + rng.randrange(-3_600_000, 60_000)
        if out and rng.random() < 0.04:
            out.append(out[rng.randrange(len(out))])
            continue
        if rng.random() < 0.03:
            ts -= rng.choice([2, 30, 200]) * 3_600_000
        kind = rng.choice(["purchase", "salary", "cash_withdrawal", "transfer"])
        code = rng.randrange(6) * 8 + rng.choice([0, 4]) + rng.randrange(4)
        fields = (customer_fold.digest(f"T{i}"), ts, code, rng.randrange(1, 10**6),
                  rng.choice([None, customer_fold.digest(f"M{i // 100 + rng.randrange(9)}")]),
                  customer_fold.digest(f"D{rng.randrange(6)}"), rng.choice(["CN", "DE", None]),
                  rng.choice([None, customer_fold.digest(f"P{rng.randrange(25)}")]),
                  rng.choice(["5411", "6011", None]),
                  *rng.choice([(None, None), (31.2, 121.4)]), kind)  # fmt: skip
        out.append((rng.randrange(6), fields))
    return out


#: SHA-256 of every assessment and final blob of _long_traffic(), as the fold before
#: its daily prune worked in place (comprehensions) computed them: the prune must
#: leave the same dicts in the same order, so the same blobs.
LONG_TRAFFIC_DIGEST = "3a49cb4a3484269d297625acca439f46b327e5521f360f6fd3467180b9810eb3"


def _fold_digest(module: Any) -> tuple[str, int]:
    """The SHA-256 of _long_traffic()'s assessments and final blobs by ``module``'s fold
    (this tree's, or an older build's), and how many daily prunes it ran."""
    params = module.FoldParams(lateness=3_600_000, dedup=8 * DAY)
    states: dict[int, list[Any]] = {}
    memos: dict[int, Any] = {}
    h = hashlib.sha256()
    prunes = 0
    for customer, fields in _long_traffic():
        s = states.setdefault(customer, customer_fold.new_state())
        day = s[customer_fold.PD]
        memo = memos.setdefault(customer, module.Memo())
        a = module.assess(s, module.Event(*fields), params, memo)
        prunes += s[customer_fold.PD] != day
        t = a.as_tuple()
        # (The totals are an array('q') now; they were a list when the digest was taken.)
        h.update(repr((*t[:4], list(t[4]), *t[5:])).encode())
    for customer in sorted(states):
        h.update(pack(states[customer]))
    kept = set().union(*(s[customer_fold.SEEN][0] for s in states.values()))
    merchants = {f[4] for _, f in _long_traffic()} - {None}
    assert 0 < len(kept) < len(merchants) - 3, "the prune dropped some sightings, not all"
    return h.hexdigest(), prunes


def test_long_traffic_folds_to_the_same_assessments_and_blobs() -> None:
    digest, prunes = _fold_digest(customer_fold)
    assert prunes > 6 * 40
    assert digest == LONG_TRAFFIC_DIGEST
