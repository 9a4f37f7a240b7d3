"""Case store write and queue speed, as ratios to a bare insert and a bare select.

Run it with ``make bench-cases`` or::

    .venv/bin/python -m bench.case_store [--alerts N] [--repeat R] [--url URL] [--out PATH]

Stages, each on a fresh database per run, interleaved over ``--repeat`` rounds
so that load on the shared machine hits them alike (the median run is
reported, and the best):

* ``baseline``: the same alert rows inserted with one executemany per batch
  into a bare table (no case, no constraint, no index): the least a store can do
* ``store``: :meth:`alerts.store.CaseStore.write_alerts`, folding off
* ``store_folding``: the same with a 900 s fold window; each customer has
  three alerts of one rule 5 minutes apart, so two in three are folded
* ``queue``: one triage-queue page (:class:`alerts.queue.QueueQuery`, 50 open
  cases riskiest first, and with a typology filter) over the folded store, as
  milliseconds per query next to ``SELECT * FROM cases ... LIMIT 50``

The default database is a SQLite file; ``--url`` runs against PostgreSQL (a
fresh schema is not created per run there: point it at an empty database).
The JSON report goes to stdout and ``--out``; a table goes to stderr.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from alerts.casefile import CaseFile
from alerts.engine import create_store_engine
from alerts.policy import CasePolicy
from alerts.queue import QueueQuery
from alerts.schema import alerts as alerts_table
from alerts.store import CaseStore, _alert_row
from bench.throughput import _loadavg, _usable_cpus, peak_rss_mib
from riskwatch.contracts import Alert, ModelScore, RuleHit, Transaction, severity_for

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
BATCH = 100
QUERIES = 20


def make_alerts(n: int) -> list[Alert]:
    """``n`` alerts over ``n // 3`` customers: three each, 5 minutes apart, of one rule."""
    customers = max(n // 3, 1)
    out = []
    for i in range(n):
        customer = f"C{i % customers:06d}"
        ts = T0 + timedelta(minutes=5 * (i // customers), seconds=i % customers)
        score = 50.0 + (i * 37) % 50
        txn = Transaction(
            txn_id=f"T{i:08d}",
            ts=ts,
            customer_id=customer,
            account_id=f"A{customer}",
            channel=("atm", "pos", "online")[i % 3],
            direction="debit",
            kind="purchase",
            amount=Decimal("120.00"),
            currency="CNY",
            merchant_id="M1",
        )
        hit = RuleHit(
            rule_id=f"rule_{i % customers % 7}",
            version=2,
            score=score,
            severity=severity_for(score),
            typology=("card_testing", "mule", "ato")[i % 3],
            description="bench",
            values={"amount": 120.0},
        )
        out.append(
            Alert(
                alert_id=f"AL{i:08d}",
                txn=txn,
                score=score,
                severity=severity_for(score),
                rules=(hit,),
                models=(ModelScore("hst", "1", 0.9, (("amount", 1.2),)),),
                features={"amount": 120.0, "debit_count_1h": 3.0},
                rule_pack_version="bench@1",
                model_version="hst-1",
                detected_at=ts,
            )
        )
    return out


def _batches(items: list[Alert]) -> list[list[Alert]]:
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


def time_baseline(url: str, batch_list: list[list[Alert]]) -> float:
    engine = create_store_engine(url)
    bare = sa.Table(
        "bench_alerts", sa.MetaData(), *(sa.Column(c.name, c.type) for c in alerts_table.columns)
    )
    bare.create(engine)
    rows = [[_alert_row(a, 1) for a in batch] for batch in batch_list]
    started = time.perf_counter()
    for chunk in rows:
        with engine.begin() as conn:
            conn.execute(sa.insert(bare), chunk)
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds


def time_store(url: str, batch_list: list[list[Alert]], policy: CasePolicy) -> tuple[float, int]:
    with CaseStore(url, policy=policy) as store:
        started = time.perf_counter()
        folded = sum(store.write_alerts(batch).alerts_folded for batch in batch_list)
        return time.perf_counter() - started, folded


def time_queries(url: str) -> dict[str, float]:
    """Median milliseconds per query over a store already written."""
    with CaseStore(url) as store:
        casefile = CaseFile(store)
        engine = create_store_engine(url)
        bare = sa.text(
            "SELECT * FROM cases WHERE status != 'closed' ORDER BY max_score DESC LIMIT 50"
        )

        def bare_select() -> None:
            with engine.connect() as conn:
                conn.execute(bare).all()

        queries: dict[str, Callable[[], Any]] = {
            "baseline_select": bare_select,
            "queue": lambda: casefile.queue(QueueQuery(open_only=True)),
            "queue_typology": lambda: casefile.queue(QueueQuery(open_only=True, typology="mule")),
        }
        out = {}
        for name, run in queries.items():
            times = []
            for _ in range(QUERIES):
                started = time.perf_counter()
                run()
                times.append((time.perf_counter() - started) * 1000)
            out[name] = round(statistics.median(times), 3)
        engine.dispose()
    return out


def run_benchmark(n_alerts: int, repeat: int, workdir: Path, url: str | None) -> dict[str, Any]:
    alerts = make_alerts(n_alerts)
    batch_list = _batches(alerts)
    seconds: dict[str, list[float]] = {"baseline": [], "store": [], "store_folding": []}
    folded = 0
    queries: dict[str, float] = {}
    for round_no in range(repeat):
        for stage in seconds:
            db = url or f"sqlite:///{workdir / f'{stage}-{round_no}.db'}"
            if stage == "baseline":
                seconds[stage].append(time_baseline(db, batch_list))
            else:
                window = 900 if stage == "store_folding" else 0
                took, n_folded = time_store(db, batch_list, CasePolicy(fold_window_seconds=window))
                seconds[stage].append(took)
                if stage == "store_folding":
                    folded = n_folded
                    queries = time_queries(db)
    base = statistics.median(seconds["baseline"])
    stages = {
        name: {
            "alerts_per_second": round(n_alerts / statistics.median(runs), 1),
            "best_alerts_per_second": round(n_alerts / min(runs), 1),
            "ratio_to_baseline": round(base / statistics.median(runs), 4),
        }
        for name, runs in seconds.items()
    }
    return {
        "input": {"alerts": n_alerts, "batch": BATCH, "repeat": repeat, "folded": folded},
        "database": (url or "sqlite").split(":", 1)[0],
        "stages": stages,
        "queue_ms": queries,
        "queue_ratio_to_select": round(queries["queue"] / max(queries["baseline_select"], 1e-9), 2),
        "process": {"peak_rss_mib": round(peak_rss_mib(), 1)},
        "machine": {"cpu_count": _usable_cpus(), "loadavg_1m": _loadavg()},
    }


def render_table(report: dict[str, Any]) -> str:
    lines = [
        f"case store, {report['input']['alerts']:,} alerts in batches of {report['input']['batch']}"
        f" on {report['database']} ({report['input']['folded']:,} folded when folding)",
        f"  {'stage':<15} {'alerts/s':>10} {'best':>10} {'x baseline':>11}",
    ]
    for name, stage in report["stages"].items():
        lines.append(
            f"  {name:<15} {stage['alerts_per_second']:>10,.0f} "
            f"{stage['best_alerts_per_second']:>10,.0f} {stage['ratio_to_baseline']:>11.3f}"
        )
    lines.append(
        "  queue page (median ms): "
        + ", ".join(f"{k} {v:.2f}" for k, v in report["queue_ms"].items())
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=6000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", help="a database URL (default: SQLite files in a temp dir)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rw-bench-cases-") as tmp:
        report = run_benchmark(args.alerts, args.repeat, Path(tmp), args.url)
    text = orjson.dumps(report, option=orjson.OPT_INDENT_2).decode()
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(render_table(report), file=sys.stderr)
    return report


if __name__ == "__main__":
    main()
