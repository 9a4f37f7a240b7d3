"""A batch recorded in pipelined script calls: the same as one call, and nothing lost on failure."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import redis

from detectors.entity_state import bucket_key
from detectors.lua_script import LuaScript
from detectors.script_trips import ScriptTrips
from detectors.state import CustomerStateStore, StateUnavailable
from riskwatch.contracts import Transaction
from tests.flowkit import redis_state

DEDUP_S, TTL_S, LATENESS_S = 8 * 86400, 40 * 86400, 3600


@pytest.fixture(scope="module")
def batches() -> list[list[Transaction]]:
    """Simulated traffic cut as the monitor cuts it: many events per customer and entity."""
    from simulator import SimulationConfig, simulate

    config = SimulationConfig(seed=5, customers=40, days=6, start=datetime(2026, 3, 2, tzinfo=UTC))
    txns = [event.txn for event in simulate(config)]
    # Every event twice: the second sighting is a duplicate, read only.
    txns += txns[: len(txns) // 3]
    return [txns[i : i + 150] for i in range(0, len(txns), 150)]


def _store(redis_url: str, trip_events: int) -> CustomerStateStore:
    client = redis.Redis.from_url(redis_url)
    namespace = f"p{uuid.uuid4().hex[:8]}"
    return CustomerStateStore(
        client, namespace, DEDUP_S, TTL_S, LATENESS_S, entity_buckets=7, trip_events=trip_events
    )


def test_calls_of_any_size_give_the_updates_and_state_of_one_call(
    redis_url: str, batches: list[list[Transaction]]
) -> None:
    whole = _store(redis_url, 10_000)
    expected = [whole.apply(batch) for batch in batches]
    assert sum(u.fresh for updates in expected for u in updates) > 500
    assert any(u.entities for updates in expected for u in updates)
    for trip_events in (1, 7, 48):
        parts = _store(redis_url, trip_events)
        assert [parts.apply(batch) for batch in batches] == expected, trip_events
        assert redis_state(redis_url, parts.namespace) == redis_state(redis_url, whole.namespace), (
            trip_events
        )


def test_a_batch_left_unread_is_recorded_and_its_customers_read_again(
    redis_url: str, batches: list[list[Transaction]]
) -> None:
    whole = _store(redis_url, 10_000)
    parts = _store(redis_url, 7)
    for n, batch in enumerate(batches):
        expected = whole.apply(batch)
        updates = parts.updates(batch)
        if n % 2:
            # Two of the batch's updates read, then the rest of the batch abandoned.
            assert [next(updates), next(updates)] == expected[:2]
            updates.close()
        else:
            assert list(updates) == expected
    assert redis_state(redis_url, parts.namespace) == redis_state(redis_url, whole.namespace)


def test_a_failed_call_stops_the_calls_after_it_and_the_batch_can_be_replayed(
    redis_url: str, batches: list[list[Transaction]]
) -> None:
    """A call that fails writes nothing, and the calls already sent after it refuse to run."""
    client = redis.Redis.from_url(redis_url)
    store = _store(redis_url, 1)
    clean = _store(redis_url, 10_000)
    batch = batches[0]
    first = next(t for t in batch if t.merchant_id is not None)
    # A string where the script expects the first event's bucket hash: its call
    # fails (WRONGTYPE); the later calls touch other buckets too.
    bad = bucket_key(store.namespace, "m", first.merchant_id, 7)
    client.set(bad, "not a hash")
    with pytest.raises(StateUnavailable, match=f"batch of {len(batch)}"):
        store.apply(batch)
    assert list(client.scan_iter(f"{store.namespace}:{{C*")) == [], "no customer written"
    assert not any(t.customer_id in store._held._held for t in batch), "dropped: read again"
    client.delete(bad)
    # Replayed (as after a restart): the state of a run that never failed.
    assert store.apply(batch) == clean.apply(batch)
    assert redis_state(redis_url, store.namespace) == redis_state(redis_url, clean.namespace)


def test_the_connection_of_unread_replies_is_closed_not_reused(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    with ScriptTrips(client, LuaScript("return ARGV[1]")) as trips:
        trips.send([], ["first"])
        trips.send([], ["second"])
        assert trips.receive() == b"first"
        connection = trips._connection
    assert connection._sock is None, "closed: the reply 'second' went with it"
    assert client.ping() is True
    with ScriptTrips(client, LuaScript("return ARGV[1]")) as trips:
        trips.send([], ["third"])
        assert trips.receive() == b"third"
    with (
        pytest.raises(RuntimeError, match="awaiting"),
        ScriptTrips(client, LuaScript("return 1")) as trips,
    ):
        trips.receive()


def _noscripts(client: redis.Redis) -> int:
    """How many NOSCRIPT errors the server has answered (INFO errorstats)."""
    return int(client.info("errorstats").get("errorstat_NOSCRIPT", {"count": 0})["count"])


def _until(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not done():
        assert time.monotonic() < deadline, "Redis never got there"
        time.sleep(0.001)


@pytest.mark.parametrize("reload", [False, True], ids=["flush", "flush-and-reload"])
def test_a_script_cache_emptied_mid_batch_loses_no_call_and_runs_none_twice(
    redis_url: str, batches: list[list[Transaction]], monkeypatch: pytest.MonkeyPatch, reload: bool
) -> None:
    """SCRIPT FLUSH between two calls of a batch: every call still runs once, in order.

    The flush lands once Redis has run the call before (its guard says so),
    so the calls still in flight meet NOSCRIPT. With ``reload``, another
    client loads the script again once the first of them has met NOSCRIPT,
    before the next runs: that one and the rest find the script, and the
    guard must stop them (SKIPPED) until the first runs again. Flushed
    before the first call of a batch (whose guard is not checked), a middle
    one and the last.
    """
    other = redis.Redis.from_url(redis_url)
    store = _store(redis_url, 7)
    clean = _store(redis_url, 10_000)
    send = ScriptTrips.send
    flush_at: list[int] = []

    def flushing_send(trips: ScriptTrips, keys: list[object], args: list[object]) -> None:
        call, guard = abs(int(args[-1])), str(keys[-1])  # type: ignore[call-overload]
        if not flush_at or call != flush_at[0]:
            send(trips, keys, args)
            return
        if call > 1:
            _until(lambda: other.get(guard) == str(call - 1).encode())
        other.script_flush()
        before = _noscripts(other)
        send(trips, keys, args)
        if reload:
            _until(lambda: _noscripts(other) > before)
            other.script_load(store._entities.script.source)

    monkeypatch.setattr(ScriptTrips, "send", flushing_send)
    flushed = 0
    for n, batch in enumerate(batches):
        calls = -(-len(batch) // 7)
        flush_at[:] = [(1, 1 + calls // 2, calls)[n % 3]]
        expected = clean.apply(batch)
        noscripts = _noscripts(other)
        assert store.apply(batch) == expected, n
        flushed += _noscripts(other) > noscripts
    assert flushed == len(batches), "each batch met NOSCRIPT"
    assert redis_state(redis_url, store.namespace) == redis_state(redis_url, clean.namespace)


def test_a_call_that_ran_after_one_that_met_noscript_fails_the_trips(redis_url: str) -> None:
    """Calls not chained by a guard are not sent again: one could run twice or out of order."""
    client, other = redis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
    script = LuaScript("return ARGV[1]")
    with ScriptTrips(client, script) as trips:
        other.script_flush()
        before = _noscripts(other)
        trips.send([], ["first"])
        _until(lambda: _noscripts(other) > before)
        other.script_load(script.source)
        trips.send([], ["second"])
        connection = trips._connection
        with pytest.raises(redis.ResponseError, match="ran after one that met NOSCRIPT"):
            trips.receive()
    assert connection._sock is None, "closed"


def test_packing_a_call_survives_signals_that_raise() -> None:
    """A signal handler raising mid-pack (SIGTERM, Ctrl-C) must not crash the process.

    hiredis 3.5 crashes when that happens while it turns an int into text
    (the calls are packed by detectors.resp now, which must not either, nor
    when ``str()`` of an int too big for 64 bits raises). Run in a child,
    which a crash would kill.
    """
    import subprocess
    import sys

    child = """
import signal
from detectors.script_trips import pack_call
class Stop(Exception):
    pass
# The handler raises only while a call is being packed, and disarms itself when
# it does: a Stop raised in the loop's own bookkeeping would escape the try.
armed = False
def stop(*_):
    global armed
    if armed:
        armed = False
        raise Stop()
signal.signal(signal.SIGALRM, stop)
args = [1_700_000_000_000 + i for i in range(1200)] + ["é", b"x"] + [7**1500] * 20
signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
stops = 0
while stops < 2000:
    try:
        armed = True
        pack_call(b"return 1", ["k"], args)
        armed = False
    except Stop:
        stops += 1
signal.setitimer(signal.ITIMER_REAL, 0)
print("survived")
"""
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout.strip() == b"survived"
