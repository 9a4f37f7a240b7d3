"""The fraud-count script's cost: redis-server instructions under callgrind, beside a null script.

Run it with::

    .venv/bin/python -m bench.fraud_counts [--terminals N] [--events E] [--script PATH] [--out PATH]

``fraud_counts.lua`` (detectors/label_store.py) counts each transaction's
terminal and merchant frauds and labelled transactions over 1, 7 and 30
days. Its state is built here as the Handbook evaluation leaves it after
weeks of labels: per terminal one labelled transaction a day over the last
37 days (the ``:n`` set), and on one terminal in 25 a few frauds in the last
30 days; Handbook transactions have no merchant. Then ``--events``
transactions at random terminals, in shard batches of 125, are counted by
the script, on a fresh redis-server run under ``valgrind --tool=callgrind``:
once with the script (``--script``, default the shipped one), once with a
null script returning the same number of zeros (the baseline: building the
state and the calls themselves). The difference per transaction is the
script's own cost; load-independent, unlike wall time on these shared
machines. Needs valgrind; takes a minute or two.
"""

from __future__ import annotations

import argparse
import importlib.resources
import random
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

from bench import callgrind
from bench.report import publish

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "fraud_counts.json"
PREFIX = "bench:{ml}:fraud:"
DAY_MS = 86_400_000
NOW_MS = 1_535_760_000_000  # 2018-09-01
BATCH = 125
NULL_SCRIPT = """
local out = {}
for _ = 1, 4 * (#ARGV - 1) do out[#out + 1] = 0 end
return out
"""


def populate(client: redis.Redis, terminals: int, rng: random.Random) -> None:
    """Labelled transactions and frauds per terminal, as weeks of Handbook labels leave them."""
    pipe = client.pipeline(transaction=False)
    for t in range(terminals):
        key = f"{PREFIX}t:TERM{t:05d}"
        known = {f"C|T{t}-{d}": NOW_MS - d * DAY_MS + rng.randrange(DAY_MS) for d in range(37)}
        pipe.zadd(key + ":n", known)
        if rng.random() < 0.04:
            frauds = {f"C|F{t}-{i}": NOW_MS - rng.randrange(30 * DAY_MS) for i in range(5)}
            pipe.zadd(key, frauds)
        if t % 500 == 499:
            pipe.execute()
    pipe.execute()


def work(terminals: int, events: int, rng: random.Random) -> list[list[Any]]:
    """The script's ARGV per batch: transactions in the last day at random terminals."""
    batches = []
    for start in range(0, events, BATCH):
        args: list[Any] = [PREFIX]
        for _ in range(min(BATCH, events - start)):
            terminal = f"TERM{rng.randrange(terminals):05d}"
            args += (NOW_MS - rng.randrange(DAY_MS), terminal, "")
        batches.append(args)
    return batches


def instructions(script: str, terminals: int, events: int, workdir: Path) -> tuple[int, list]:
    """Instructions redis-server executes (callgrind's total), and the script's replies."""
    replies: list = []

    def count_all(client: redis.Redis) -> None:
        rng = random.Random(7)
        populate(client, terminals, rng)
        counts = client.register_script(script)
        for args in work(terminals, events, rng):
            replies.append(counts(keys=[f"{PREFIX}held"], args=args))

    return callgrind.instructions(workdir, count_all), replies


def run(script: str, terminals: int, events: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="riskwatch-bench-fraud-"))
    try:
        null, _ = instructions(NULL_SCRIPT, terminals, events, workdir)
        full, replies = instructions(script, terminals, events, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    flat = [c for reply in replies for c in reply]
    return {
        "benchmark": "fraud_counts",
        "input": {"terminals": terminals, "events": events, "batch": BATCH},
        "statistic": "redis-server instructions per transaction (callgrind)",
        "null_script": round(null / events),
        "script": round(full / events),
        "script_alone": round((full - null) / events),
        "counts_nonzero": sum(1 for c in flat if c),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.fraud_counts", description=__doc__)
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--script", type=Path, help="another fraud_counts.lua to measure")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.script is None:
        script = (importlib.resources.files("detectors") / "fraud_counts.lua").read_text()
    else:
        script = args.script.read_text()
    report = run(script, args.terminals, args.events)
    table = (
        f"fraud counts, {args.events:,} transactions: {report['script']:,} redis-server "
        f"instructions per transaction, {report['null_script']:,} with a null script: "
        f"the script alone {report['script_alone']:,}"
    )
    publish(report, args.out, table)
    return report


if __name__ == "__main__":
    main()
