"""The entity script's cost in instructions: redis-server under callgrind, beside a null script.

Run it with::

    .venv/bin/python -m bench.entity_script [--customers N] [--days D] [--events E] [--out PATH]

Wall-clock times of a Lua script swing with the load of these shared 2-core
machines far more than the script changes; instruction counts do not.
The same simulated input as bench/state.py (its first ``--events`` events,
cut into bench.state's batches: 1,000 records, 8 shards) goes through
:meth:`CustomerStateStore.apply` twice, each time on a fresh redis-server run
under ``valgrind --tool=callgrind``: once with ``entities.lua``, once with a
script that writes the customers' blobs as entities.lua does and returns
the same number of zeros (the baseline: MGET, the customers' SETs, the
script calls themselves). The report gives instructions per
event of both and their difference, the entity script's own cost. The entity
buckets are sized as bench/state.py sizes them. Needs
valgrind (on every machine here); takes a minute or two.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any
from unittest import mock

import redis

from bench import callgrind
from bench.report import publish
from bench.state import entity_buckets
from detectors import entity_state
from detectors.state import CustomerStateStore
from flows.assess import shard_of
from riskwatch.contracts import Transaction

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "entity_script.json"
SIM_SEED = 11
SIM_START = datetime(2026, 1, 5, tzinfo=UTC)
#: Writes the customers' blobs and returns 24 zero bytes per event and entity,
#: as entities.lua returns its counts (it reads the events as entities.lua does).
NULL_SCRIPT = """
local ne, nc = tonumber(ARGV[1]), tonumber(ARGV[2])
for j = 1, nc do
  redis.call('SET', KEYS[#KEYS - 1 - nc + j], ARGV[#ARGV - 1 - nc + j], 'PX', ARGV[3])
end
local events, at, m = ARGV[4 + 2 * ne], 1, 0
while at <= #events do
  local _, _, n, _, _, _, _, _, after = struct.unpack('<i8BBHc0I4I4I4I4', events, at)
  m, at = m + n, after
end
return string.rep('\\0', 24 * m)
"""


def batches(customers: int, days: int, events: int) -> list[list[Transaction]]:
    """The bench's input cut as bench.state's flow cuts it: 1,000 records, 8 shards."""
    from simulator import SimulationConfig, simulate

    config = SimulationConfig(seed=SIM_SEED, customers=customers, days=days, start=SIM_START)
    txns = [e.txn for _, e in zip(range(events), simulate(config), strict=False)]
    out: list[list[Transaction]] = []
    for start in range(0, len(txns), 1000):
        by_shard: dict[int, list[Transaction]] = defaultdict(list)
        for txn in txns[start : start + 1000]:
            by_shard[shard_of(txn.customer_id, 8)].append(txn)
        out.extend(by_shard.values())
    return out


def instructions(
    work: list[list[Transaction]], script: str | None, workdir: Path, buckets: int
) -> int:
    """Instructions redis-server executes for the batches (callgrind's total)."""

    def apply_all(client: redis.Redis) -> None:
        source = entity_state._SCRIPT if script is None else Template(script)
        with mock.patch.object(entity_state, "_SCRIPT", source):
            store = CustomerStateStore(
                client, "bench", 8 * 86400, 40 * 86400, 3600, entity_buckets=buckets
            )
        for batch in work:
            store.apply(batch)

    return callgrind.instructions(workdir, apply_all)


def run(customers: int, days: int, events: int) -> dict[str, Any]:
    work = batches(customers, days, events)
    n = sum(len(b) for b in work)
    workdir = Path(tempfile.mkdtemp(prefix="riskwatch-bench-entity-"))
    try:
        buckets = entity_buckets(customers)
        null = instructions(work, NULL_SCRIPT, workdir, buckets) / n
        full = instructions(work, None, workdir, buckets) / n
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "benchmark": "entity_script",
        "input": {
            "customers": customers,
            "days": days,
            "events": n,
            "batches": len(work),
            "entity_buckets": entity_buckets(customers),
        },
        "statistic": "redis-server instructions per event (callgrind)",
        "null_script": round(null),
        "entities_lua": round(full),
        "entity_script_alone": round(full) - round(null),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.entity_script", description=__doc__)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    report = run(args.customers, args.days, args.events)
    table = (
        f"entity script, {report['input']['events']:,} events: "
        f"{report['entities_lua']:,} redis-server instructions per event, "
        f"{report['null_script']:,} with a null script: the script alone "
        f"{report['entity_script_alone']:,}"
    )
    publish(report, args.out, table)
    return report


if __name__ == "__main__":
    main()
