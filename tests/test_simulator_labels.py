"""Delayed labels: known days after the fact, released in the order they become known."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import datetime, timedelta

import orjson
import pytest

from simulator import (
    SCENARIOS,
    ConfigError,
    JsonlSink,
    SimulatedEvent,
    SimulationConfig,
    simulate,
    simulate_wire,
    write_events,
)

RATES = {name: 0.01 for name in SCENARIOS}
DELAYS = {"fraud": (48.0, 96.0), "suspicious": (200.0, 300.0), "legit": (1.0, 2.0)}
CONFIG = SimulationConfig(seed=31, customers=150, days=14, rates=RATES, label_delays=DELAYS)
#: Reported when the compromise ends, not after the last inflated purchase.
REPORTED_AT_END = {"compromised_credentials"}


def _incidents(events: list[SimulatedEvent]) -> dict[tuple[str, str, datetime], list[datetime]]:
    out: dict[tuple[str, str, datetime], list[datetime]] = defaultdict(list)
    for event in events:
        if event.label is not None:
            key = (event.txn.customer_id, event.label.scenario or "", event.label.ts)
            out[key].append(event.txn.ts)
    return out


def test_labels_arrive_within_the_configured_delay_of_their_incident() -> None:
    incidents = _incidents(list(simulate(CONFIG)))
    assert len(incidents) > 100
    for (_, scenario, known), times in incidents.items():
        lo, hi = DELAYS[SCENARIOS[scenario].label]
        delay = (known - max(times)) / timedelta(hours=1)
        assert delay >= lo, (scenario, delay)
        if scenario not in REPORTED_AT_END:
            assert delay <= hi, (scenario, delay)


def test_zero_delay_makes_labels_immediate() -> None:
    config = SimulationConfig(
        seed=31,
        customers=60,
        days=7,
        rates=RATES,
        label_delays={value: (0.0, 0.0) for value in DELAYS},
    )
    incidents = _incidents(list(simulate(config)))
    assert incidents
    for (_, scenario, known), times in incidents.items():
        if scenario not in REPORTED_AT_END:
            assert known == max(times)


def test_the_labels_stream_is_ordered_and_never_ahead_of_the_transactions() -> None:
    """Written to one stream, each label follows the first transaction at or after its time."""
    both = io.BytesIO()
    report = write_events(simulate_wire(CONFIG), JsonlSink(both, both))
    records = [orjson.loads(line) for line in both.getvalue().splitlines()]
    assert len(records) == report.transactions + report.labels
    latest = ""
    label_times = []
    for record in records:
        if "label" in record:
            label_times.append(record["ts"])
            if record["ts"] <= latest:
                continue
            # only the labels still held when the stream ended come after it
            assert all("label" in r for r in records[records.index(record) :])
        else:
            latest = max(latest, record["ts"])
    assert label_times == sorted(label_times)
    assert len(label_times) == report.labels > 0


@pytest.mark.parametrize("batch", [7, 4096])
def test_batched_writing_gives_the_bytes_of_event_by_event_writing(batch: int) -> None:
    """Shared and separate streams alike: batches release labels where single writes do."""
    one_by_one, batched = io.BytesIO(), io.BytesIO()
    expected = write_events(simulate_wire(CONFIG), JsonlSink(one_by_one, one_by_one))
    report = write_events(simulate_wire(CONFIG), JsonlSink(batched, batched), batch=batch)
    assert report == expected
    assert batched.getvalue() == one_by_one.getvalue()
    txns, labels = io.BytesIO(), io.BytesIO()
    write_events(simulate(CONFIG), JsonlSink(txns, labels), batch=batch)
    lines = one_by_one.getvalue().splitlines(keepends=True)
    assert labels.getvalue() == b"".join(line for line in lines if b'"label":' in line)
    assert txns.getvalue() == b"".join(line for line in lines if b'"label":' not in line)


def test_batches_out_of_time_order_release_labels_where_single_writes_do() -> None:
    """A replayed file need not be in time order; separate streams still get the same bytes."""
    events = list(simulate_wire(CONFIG))
    for i in range(0, len(events) - 50, 97):  # move some events well ahead of their time
        events[i], events[i + 50] = events[i + 50], events[i]
    written = []
    for batch in (1, 7, 4096):
        txns, labels = io.BytesIO(), io.BytesIO()
        write_events(iter(events), JsonlSink(txns, labels), batch=batch)
        written.append((txns.getvalue(), labels.getvalue()))
    assert written[0] == written[1] == written[2]
    assert written[0][1].count(b"\n") > 10


@pytest.mark.parametrize(
    "delays",
    [{"fraud": (5.0, 1.0)}, {"fraud": (-1.0, 2.0)}, {"chargeback": (1.0, 2.0)}, {"legit": (1.0,)}],
)
def test_bad_label_delays_are_refused(delays: dict[str, tuple[float, ...]]) -> None:
    with pytest.raises(ConfigError):
        SimulationConfig(label_delays=delays)  # type: ignore[arg-type]
