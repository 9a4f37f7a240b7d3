"""fraud_counts.lua against a brute-force count of the same sets, on a real Redis.

The script skips the narrower windows of a set whose wider window counts
nothing; the counts must still be exactly those of every window, at the
window edges too ((ts - w, ts]: the far edge out, the transaction's ts in).
"""

from __future__ import annotations

import importlib.resources

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

DAY_MS = 86_400_000
WINDOWS = (DAY_MS, 7 * DAY_MS, 30 * DAY_MS)
TS = 1_535_760_000_000
SCRIPT = (importlib.resources.files("detectors") / "fraud_counts.lua").read_text()

#: Entry times: around the window edges of TS and anywhere in 40 days before it.
times = st.one_of(
    st.sampled_from([TS - w + d for w in (0, *WINDOWS) for d in (-1, 0, 1)]),
    st.integers(TS - 40 * DAY_MS, TS + DAY_MS),
)
entity_sets = st.lists(times, max_size=12)


def brute(entries: list[int], ts: int) -> list[int]:
    return [sum(1 for e in entries if ts - w < e <= ts) for w in WINDOWS]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sets=st.fixed_dictionaries(
        {name: entity_sets for name in ("t:A", "t:A:n", "m:M", "m:M:n", "t:B:n")}
    ),
    txns=st.lists(
        st.tuples(
            st.sampled_from([TS, TS - DAY_MS, TS - 6 * DAY_MS, TS + 1]),
            st.sampled_from(["A", "B", "C", ""]),
            st.sampled_from(["M", "N", ""]),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_counts_are_those_of_every_window(
    redis_url: str, key_prefix: str, sets: dict[str, list[int]], txns: list[tuple]
) -> None:
    client = redis.Redis.from_url(redis_url)
    prefix = f"{key_prefix}:{{ml}}:fraud:"
    client.delete(*(prefix + name for name in sets))
    for name, entries in sets.items():
        if entries:
            client.zadd(prefix + name, {f"m{i}": e for i, e in enumerate(entries)})
    args: list[str | int] = [prefix]
    expected: list[int] = []
    for ts, terminal, merchant in txns:
        args += (ts, terminal, merchant)
        for letter, entity in (("t", terminal), ("m", merchant)):
            if not entity:
                expected += [0] * 6
                continue
            expected += brute(sets.get(f"{letter}:{entity}", []), ts)
            expected += brute(sets.get(f"{letter}:{entity}:n", []), ts)
    script = client.register_script(SCRIPT)
    assert script(keys=[f"{key_prefix}:{{ml}}:held"], args=args) == expected
