"""Pacing: a target rate in wall time, and replay of a recorded file at a speed.

The schedule logic is checked against a driven clock (exact); one test
replays a small file against the real clock and checks each line leaves
no earlier than its due time and at most ``LATE`` after it: a correctness
check of the pacing on a shared, busy machine, not a benchmark.
"""

from __future__ import annotations

import io
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from riskwatch.cli import main
from simulator import ConfigError, SimulationConfig, simulate_wire
from simulator.pacing import Clock, ReplayStats, at_rate, replay
from simulator.progress import with_progress

#: How late a replayed line may leave, on a loaded machine.
LATE = 0.15
#: How early: never, bar clock granularity.
EARLY = 0.002


class DrivenClock:
    """A clock the test moves: sleeping advances it by the time asked, plus ``overshoot``."""

    def __init__(self, overshoot: float = 0.0) -> None:
        self.t = 100.0
        self.overshoot = overshoot
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds + self.overshoot

    def clock(self) -> Clock:
        return Clock(self.now, self.sleep)


def _lines(offsets_s: list[float]) -> list[bytes]:
    t0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    return [
        orjson.dumps(
            {
                "txn_id": f"T{i}",
                "ts": (t0 + timedelta(seconds=s)).isoformat().replace("+00:00", "Z"),
                "customer_id": f"C{i % 3}",
                "channel": "pos",
            }
        )
        for i, s in enumerate(offsets_s)
    ]


def test_at_rate_releases_event_i_at_i_over_rate() -> None:
    driven = DrivenClock()
    released = []
    for _ in at_rate(range(50), 25.0, driven.clock()):
        released.append(driven.t - 100.0)
    assert released == pytest.approx([i / 25.0 for i in range(50)])


def test_lateness_does_not_accumulate() -> None:
    driven = DrivenClock(overshoot=0.01)  # every sleep wakes 10 ms late
    released = [driven.t - 100.0 for _ in at_rate(range(100), 10.0, driven.clock())]
    assert released[-1] == pytest.approx(99 / 10.0 + 0.01, abs=1e-9)


def test_replay_keeps_event_time_gaps_divided_by_speed() -> None:
    driven = DrivenClock()
    offsets = [0.0, 60.0, 60.0, 150.0, 600.0]
    out = []
    for event in replay(_lines(offsets), 60.0, driven.clock()):
        out.append((driven.t - 100.0, event))
    assert [t for t, _ in out] == pytest.approx([s / 60.0 for s in offsets])
    assert [e.key for _, e in out] == [b"C0", b"C1", b"C2", b"C0", b"C1"]
    assert [e.txn for _, e in out] == _lines(offsets)


def test_replay_sends_unreadable_lines_on_and_counts_them() -> None:
    driven = DrivenClock()
    lines = [*_lines([0.0, 10.0]), b"not json", b'{"ts": "yesterday"}', b"[1]", *_lines([20.0])]
    stats = ReplayStats()
    out = list(replay(lines, 10.0, driven.clock(), stats))
    assert [e.txn for e in out] == lines
    assert (stats.lines, stats.unreadable) == (6, 3)
    assert set(stats.reasons) == {"not JSON", "ts is not ISO 8601", "not a JSON object"}


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_speeds_and_rates_must_be_positive(bad: float) -> None:
    with pytest.raises(ConfigError):
        list(replay(_lines([0.0]), bad))
    with pytest.raises(ConfigError):
        list(at_rate([1], bad))


def test_replay_timing_against_the_real_clock() -> None:
    offsets = [0.0, 0.5, 1.0, 1.0, 2.0, 3.5, 4.0, 6.0]  # event seconds
    speed = 8.0  # 6 s of traffic in 0.75 s
    start = time.monotonic()
    departures = [time.monotonic() - start for _ in replay(_lines(offsets), speed)]
    for departed, offset in zip(departures, offsets, strict=True):
        due = offset / speed
        assert due - EARLY <= departed <= due + LATE, (offset, due, departed)


def test_the_replay_command_writes_the_recorded_lines(tmp_path: Path) -> None:
    recorded = tmp_path / "recorded.jsonl"
    events = list(simulate_wire(SimulationConfig(seed=4, customers=20, days=1)))
    recorded.write_bytes(b"".join(e.txn + b"\n" for e in events))
    out = tmp_path / "out.jsonl"
    code = main(["replay", str(recorded), "--speed", "1000000", "--out", str(out), "--quiet"])
    assert code == 0
    assert out.read_bytes() == recorded.read_bytes()


def test_the_simulate_command_is_deterministic(tmp_path: Path) -> None:
    args = ["simulate", "--customers", "40", "--days", "3", "--seed", "9", "--quiet"]
    args += ["--scenario-rate", "fan_out=0.05"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    for name in ("transactions.jsonl", "labels.jsonl"):
        first, second = ((tmp_path / d / name).read_bytes() for d in "ab")
        assert first == second and first
    assert main([*args[:-1], "nonsense", "--out", str(tmp_path / "c")]) == 2


def test_the_handbook_mode_writes_labelled_pos_traffic(tmp_path: Path) -> None:
    pytest.importorskip("simulator.handbook", reason="the Handbook mode has not landed yet")
    args = ["simulate", "--mode", "handbook", "--customers", "50", "--days", "3", "--quiet"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    txns = [orjson.loads(line) for line in (tmp_path / "transactions.jsonl").read_bytes().split()]
    assert txns and {t["channel"] for t in txns} == {"pos"}
    labels = (tmp_path / "labels.jsonl").read_bytes().split()
    assert len(labels) < len(txns)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_shows_rate_and_eta_on_a_terminal_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = SimulationConfig(seed=4, customers=30, days=2)
    start, end = int(config.start.timestamp() * 1000), int(config.end.timestamp() * 1000)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    events = list(with_progress(simulate_wire(config), start, end, every=10))
    assert events == list(simulate_wire(config))  # passed through unchanged
    shown = terminal.getvalue()
    assert "days" in shown and "ev/s" in shown and "<" in shown  # progress, rate, ETA
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    list(with_progress(simulate_wire(config), start, end, every=10))
    assert piped.getvalue() == ""
    monkeypatch.setattr(sys, "stderr", terminal := _Terminal())
    list(with_progress(simulate_wire(config), start, end, every=10, quiet=True))
    assert terminal.getvalue() == ""
