"""The ``riskwatch`` command line: one console script, one subcommand per job."""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from alerts import cli as alerts_cli
from alerts.errors import CaseStoreError
from detectors import cli as detectors_cli
from evaluation import cli as evaluation_cli
from riskwatch.settings import Settings, SettingsError, load_settings
from rules import cli as rules_cli

if TYPE_CHECKING:
    from riskwatch.runner import RunSummary

logger = logging.getLogger("riskwatch")


def _add_simulation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, help="number of simulated customers")
    parser.add_argument("--days", type=int, help="days of simulated traffic")
    parser.add_argument("--seed", type=int, help="random seed: the same seed, the same traffic")
    parser.add_argument(
        "--start", type=datetime.fromisoformat, help="first simulated day, ISO 8601 with zone"
    )


def _simulation_overrides(args: argparse.Namespace) -> dict[str, Any]:
    names = ("customers", "days", "seed", "start")
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def _settings_for(args: argparse.Namespace) -> Settings:
    base = load_settings()
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    flow = {
        name: getattr(args, name)
        for name in ("workers", "processes", "shards")
        if getattr(args, name, None)
    }
    if flow:
        overrides["flow"] = flow
    inputs = getattr(args, "input", None)
    source = getattr(args, "source", None)
    if inputs:
        overrides["input"] = {"source": source or "file", "paths": inputs}
    elif source:
        overrides["input"] = {"source": source}
    if getattr(args, "no_tail", False):
        overrides["kafka"] = {"tail": False}
    overrides["simulator"] = _simulation_overrides(args)
    return base.replace(**overrides)


def _print_summary(summary: RunSummary, settings: Settings, out: Any = sys.stdout) -> None:
    lines = [
        "riskwatch run summary",
        f"  events read        {summary.read:>10,}",
        f"  processed          {summary.processed:>10,}   (duplicates among them: "
        f"{summary.duplicates:,})",
        f"  labels taken in    {summary.labels:>10,}",
        f"  dead-lettered      {summary.dead_lettered:>10,}",
        f"  alerts raised      {summary.alerts:>10,}",
        f"  alerts in store    {summary.alerts_in_store:>10,}   (repeats folded into them: "
        f"{summary.alerts_folded:,})",
        f"  cases in store     {summary.cases_in_store:>10,}",
        f"  wall time          {summary.seconds:>10.1f} s",
        f"  throughput         {summary.events_per_second:>10,.0f} events/s",
        f"  accounted for      {'yes' if summary.balanced else 'NO'}"
        " (read = processed + labels + dead-lettered)",
    ]
    if summary.interrupted:
        lines.append(
            f"  stopped by a signal with {summary.in_flight:,} records in flight; they are"
            " read again on the next run and recognised by txn_id"
        )
    if summary.dead_letters_by_reason:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(summary.dead_letters_by_reason.items()))
        lines.append(f"  dead letters by reason: {reasons}")
    lines.append(f"  cases and alerts:  {settings.database_url}")
    if settings.kafka.brokers:
        lines.append(f"  alerts topic:      {settings.kafka.alerts_topic}")
        lines.append(f"  dead letters:      topic {settings.kafka.dead_letter_topic}")
    elif settings.flow.workers * settings.flow.processes > 1:
        path = settings.dead_letter_path
        lines.append(f"  dead letters:      {path.with_name(f'{path.stem}.w*{path.suffix}')}")
    else:
        lines.append(f"  dead letters:      {settings.dead_letter_path}")
    print("\n".join(lines), file=out)


def cmd_run(args: argparse.Namespace) -> int:
    from riskwatch.runner import run_monitor

    settings = _settings_for(args)
    # A service manager stops the monitor with SIGTERM: treat it as Ctrl-C, so
    # the run winds down through the same path and still prints its summary.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    summary = run_monitor(
        settings, recovery_dir=args.recovery_dir, metrics_address=args.metrics_address
    )
    _print_summary(summary, settings)
    if summary.interrupted:
        return 130
    return 0 if summary.balanced else 1


def _detection_report(settings: Settings, labels: dict[str, tuple[str, str]]) -> list[str]:
    """Per-scenario recall, false positives on look-alikes, and alert precision."""
    from alerts.store import CaseStore

    store = CaseStore(settings.database_url)
    try:
        alerted = store.alerted_txn_ids()  # folded repeats were alerted too
    finally:
        store.close()
    by_scenario = Counter(labels.values())
    caught = Counter(truth for txn, truth in labels.items() if txn in alerted)
    true_alerts = sum(1 for txn in alerted if txn in labels and labels[txn][1] != "legit")
    precision = true_alerts / len(alerted) if alerted else 0.0
    lines = ["detection against the simulator's labels"]
    for (scenario, value), total in sorted(by_scenario.items(), key=lambda kv: kv[0][::-1]):
        what = "legit look-alikes flagged" if value == "legit" else f"{value} transactions alerted"
        lines.append(
            f"  {scenario:<24} {caught[scenario, value]:>6,} of {total:>6,} {what}"
            f" ({caught[scenario, value] / total:.0%})"
        )
    lines.append(
        f"  alert precision          {precision:.0%} of {len(alerted):,} alerts are on fraud"
        " or suspicious transactions"
    )
    return lines


def _write_labels(events: Iterable[Any], path: Path) -> dict[str, tuple[str, str]]:
    """Keep the ground truth beside the run, in the order it becomes known, and
    return it as txn_id -> (scenario, label)."""
    labels: dict[str, tuple[str, str]] = {}
    known = []
    for event in events:
        label = event.label
        if label is not None:
            known.append((label.ts, len(known), label))
            labels[event.txn.txn_id] = (label.scenario or label.label, label.label)
    with path.open("wb") as out:
        for _, _, label in sorted(known):
            out.write(orjson.dumps(label.to_json_dict()) + b"\n")
    return labels


def cmd_demo(args: argparse.Namespace) -> int:
    from simulator import SimulationConfig, simulate

    base = _settings_for(args)
    demo_dir = base.data_dir / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    demo_dir.mkdir(parents=True)
    # The demo never touches configured services: simulated customers must not
    # reach a real Redis, case queue or alerts topic named in the environment.
    settings = base.replace(
        data_dir=demo_dir,
        input={"source": "simulator", "paths": []},
        redis={"url": None},
        kafka={"brokers": None},
        database={"url": None},
    )
    if settings.redis.url or settings.database.url or settings.kafka.brokers:
        raise SettingsError("the demo's settings still name a service; refusing to run")
    if base.redis.url or base.database.url or base.kafka.brokers:
        print("riskwatch demo: ignoring the configured Redis, database and Kafka", flush=True)
    sim = settings.simulator
    print(
        f"riskwatch demo: {sim.customers:,} simulated customers over {sim.days} days "
        f"(seed {sim.seed}), embedded Redis, SQLite case store, in-process simulator",
        flush=True,
    )
    config = SimulationConfig(
        seed=sim.seed, customers=sim.customers, days=sim.days, start=sim.start
    )
    labels_path = demo_dir / "labels.jsonl"
    labels = _write_labels(simulate(config), labels_path)
    # The simulator's delayed labels reach the flow as a bank's chargebacks and
    # reports would: the models learn each one only once the flow's event time
    # has passed its ts (detectors/learning.py), never from the future.
    settings = settings.replace(input={"label_paths": [labels_path]})
    from riskwatch.runner import run_monitor

    summary = run_monitor(settings)
    _print_summary(summary, settings)
    print("\n".join(_detection_report(settings, labels)))
    print(f"  ground-truth labels: {labels_path}")
    if not summary.balanced:
        return 1
    if not args.no_serve:
        from alerts.cli import serve_demo

        serve_demo(settings, args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="riskwatch",
        description="Real-time fraud and risk monitoring of bank transaction streams.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the monitor from Kafka, JSONL files or the simulator")
    run.add_argument(
        "--input",
        type=Path,
        action="append",
        help="a JSONL file of transactions to read (repeat for several)",
    )
    run.add_argument(
        "--source",
        choices=["auto", "kafka", "file", "simulator"],
        help="where to read: auto is Kafka if set, else --input, else the simulator",
    )
    run.add_argument("--workers", type=int, help="Bytewax worker threads in each process")
    run.add_argument("--processes", type=int, help="Bytewax processes on this host (one core each)")
    run.add_argument("--data-dir", type=Path, help="where local output goes (default var/)")
    run.add_argument(
        "--recovery-dir",
        type=Path,
        help="Bytewax recovery directory: resume where a stopped run ended",
    )
    run.add_argument(
        "--metrics-address",
        metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics while running",
    )
    run.add_argument(
        "--no-tail",
        action="store_true",
        help="with Kafka: stop at the end of each partition, do not wait",
    )
    _add_simulation_options(run)
    run.set_defaults(handler=cmd_run)

    from simulator.cli import add_commands as add_simulator_commands  # no cycle at import

    add_simulator_commands(sub)

    demo = sub.add_parser("demo", help="the whole system on embedded defaults, with a summary")
    demo.add_argument("--data-dir", type=Path, help="demo output goes to DATA_DIR/demo")
    demo.add_argument(
        "--no-serve", action="store_true", help="exit after the summary; do not serve the UI"
    )
    demo.add_argument("--port", type=int, help="port for the demo's UI (default api.port)")
    _add_simulation_options(demo)
    demo.set_defaults(handler=cmd_demo)
    rules_cli.add_commands(sub)
    detectors_cli.add_commands(sub)
    evaluation_cli.add_commands(sub)
    alerts_cli.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Schema migrations report every step at INFO; a run needs only their problems.
    logging.getLogger("alembic").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return int(args.handler(args))
    except SettingsError as exc:
        print(f"riskwatch: {exc}", file=sys.stderr)
        return 2
    except CaseStoreError as exc:
        print(f"riskwatch: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
