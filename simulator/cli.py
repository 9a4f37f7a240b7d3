"""``riskwatch simulate`` and ``riskwatch replay``: the simulator's commands.

``simulate`` generates labelled traffic (the bank simulator, or the
Handbook's card-fraud process with ``--mode handbook``) to JSONL files,
standard output or Kafka, as fast as it can or at ``--rate`` events per
second. ``replay`` plays a recorded transaction file back at its own event
-time rhythm, ``--speed`` times faster. Both show a progress bar on a
terminal (not with ``--quiet``).

Registered on the main parser by :func:`add_commands`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from riskwatch.contracts import ts_to_ms
from riskwatch.settings import Settings, SettingsError
from simulator.config import SimulationConfig
from simulator.days import DAY_MS
from simulator.errors import SimulatorError
from simulator.events import SimulatedEvent
from simulator.pacing import ReplayStats, UnreadableLine, at_rate, line_time, replay
from simulator.progress import with_progress
from simulator.sinks import FILE_BATCH, JsonlSink, KafkaSink, Sink, write_events
from simulator.wire import WireEvent, to_wire


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``simulate`` and ``replay`` to the ``riskwatch`` command line."""
    from riskwatch.cli import _add_simulation_options

    simulate = sub.add_parser("simulate", help="generate labelled traffic to files, stdout, Kafka")
    simulate.add_argument(
        "--mode",
        choices=["bank", "handbook"],
        default="bank",
        help="bank: the multi-channel bank simulator; handbook: the card-fraud process of "
        "Le Borgne et al. (2022), so their published baselines apply",
    )
    _add_targets(simulate, "directory for transactions.jsonl and labels.jsonl")
    simulate.add_argument(
        "--labels", type=Path, help="with stdout output: write the labels to this file"
    )
    simulate.add_argument(
        "--scenario-rate",
        action="append",
        default=[],
        metavar="NAME=P",
        help="chance per customer-day of a scenario (repeat; 0 turns it off)",
    )
    simulate.add_argument(
        "--rate", type=float, help="events per second of wall time (default: as fast as possible)"
    )
    _add_simulation_options(simulate)
    simulate.set_defaults(handler=cmd_simulate)

    play = sub.add_parser("replay", help="replay a recorded JSONL file at a speed")
    play.add_argument("file", type=Path, help="a JSONL file of transactions, in event-time order")
    play.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="event time per wall time: 60 plays an hour in a minute (default 1)",
    )
    _add_targets(play, "file to write the replayed lines to")
    play.set_defaults(handler=cmd_replay)


def _add_targets(parser: argparse.ArgumentParser, out_help: str) -> None:
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--out", type=Path, help=out_help)
    target.add_argument(
        "--kafka", action="store_true", help="produce to the configured Kafka (KAFKA_BROKERS)"
    )
    parser.add_argument(
        "--topic-per-channel",
        action="store_true",
        help="with --kafka: transactions to <topic>.<channel>, one topic per channel",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_simulate(args: argparse.Namespace) -> int:
    from riskwatch.cli import _settings_for

    settings = _settings_for(args)
    try:
        events, start_ms, end_ms = _generate(args, settings)
        if args.rate is not None:
            events = at_rate(events, args.rate)
        events = with_progress(events, start_ms, end_ms, quiet=args.quiet)
        sink, where = _sink(args, settings, labels=True)
        report = write_events(events, sink, batch=FILE_BATCH if args.rate is None else 1)
    except SimulatorError as exc:
        print(f"riskwatch simulate: {exc}", file=sys.stderr)
        return 2
    print(
        f"simulated {report.transactions:,} transactions and {report.labels:,} labels to {where}",
        file=sys.stderr,
    )
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from riskwatch.cli import _settings_for

    settings = _settings_for(args)
    stats = ReplayStats()
    try:
        handle = args.file.open("rb")
    except OSError as exc:
        print(f"riskwatch replay: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    try:
        with handle:
            span = _span(args.file)
            events = replay(handle, args.speed, stats=stats)
            events = with_progress(
                events, span[0], span[1], quiet=args.quiet, every=200, description="replaying"
            )
            sink, where = _sink(args, settings, labels=False)
            report = write_events(events, sink)
    except SimulatorError as exc:
        print(f"riskwatch replay: {exc}", file=sys.stderr)
        return 2
    note = f", {stats.unreadable:,} of them unreadable and sent as they were" * bool(
        stats.unreadable
    )
    print(f"replayed {report.transactions:,} lines to {where}{note}", file=sys.stderr)
    return 0


def _generate(args: argparse.Namespace, settings: Settings) -> tuple[Iterator[WireEvent], int, int]:
    """The events of the chosen mode, as wire events, and the event time they span."""
    sim = settings.simulator
    if args.mode == "handbook":
        # Imported here: the Handbook mode lives in its own module, and the
        # bank mode must not depend on it.
        try:
            from simulator.handbook import HandbookConfig, simulate_handbook
        except ModuleNotFoundError as exc:
            if exc.name != "simulator.handbook":
                raise
            msg = "--mode handbook needs simulator/handbook.py, which this install lacks"
            raise SimulatorError(msg) from exc

        names = ("seed", "customers", "days")
        given: dict[str, object] = {
            k: getattr(args, k) for k in names if getattr(args, k) is not None
        }
        if args.start is not None:
            given["start"] = args.start.date()
        handbook = HandbookConfig(**given)
        first = handbook.start
        start_ms = ts_to_ms(datetime(first.year, first.month, first.day, tzinfo=UTC))
        return _wired(simulate_handbook(handbook)), start_ms, start_ms + handbook.days * DAY_MS
    from simulator.generator import simulate_wire

    config = SimulationConfig(
        seed=sim.seed,
        customers=sim.customers,
        days=sim.days,
        start=sim.start,
        rates=_rates(args.scenario_rate),
    )
    return simulate_wire(config), ts_to_ms(config.start), ts_to_ms(config.end)


def _wired(events: Iterable[SimulatedEvent]) -> Iterator[WireEvent]:
    for event in events:
        yield to_wire(event)


def _rates(pairs: list[str]) -> dict[str, float]:
    rates: dict[str, float] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            if not sep:
                raise ValueError(pair)
            rates[name.strip()] = float(value)
        except ValueError:
            msg = f"--scenario-rate takes NAME=P, e.g. structuring=0.001; got {pair!r}"
            raise SettingsError(msg) from None
    return rates


def _span(path: Path) -> tuple[int, int]:
    """The event time a recorded file covers, from its first and last readable lines."""
    first = last = 0
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                try:
                    first = line_time(line.rstrip(b"\r\n"))[0]
                except UnreadableLine:
                    continue  # an unreadable head only costs the ETA
                break
        size = path.stat().st_size
        handle.seek(max(0, size - 65_536))
        for line in handle.read().splitlines():
            try:
                last = line_time(line)[0]
            except UnreadableLine:
                continue  # the tail's partial first line
    return first, max(last, first + 1)


def _sink(args: argparse.Namespace, settings: Settings, *, labels: bool) -> tuple[Sink, str]:
    if args.kafka:
        kafka = settings.kafka
        if not kafka.brokers:
            raise SettingsError("--kafka needs KAFKA_BROKERS (or kafka.brokers) to be set")
        sink = KafkaSink(
            kafka.brokers,
            kafka.transactions_topic,
            kafka.labels_topic,
            producer_config=kafka.client_config(),
            per_channel=args.topic_per_channel,
        )
        topic = kafka.transactions_topic + (".<channel>" if args.topic_per_channel else "")
        return sink, f"topics {topic} and {kafka.labels_topic}"
    if args.topic_per_channel:
        raise SettingsError("--topic-per-channel goes with --kafka")
    if args.out and labels:
        args.out.mkdir(parents=True, exist_ok=True)
        sink = JsonlSink.to_files(args.out / "transactions.jsonl", args.out / "labels.jsonl")
        return sink, f"{args.out}/transactions.jsonl and labels.jsonl"
    if args.out:
        return JsonlSink.to_file(args.out), str(args.out)
    labels_path = getattr(args, "labels", None)
    where = "stdout" + (f" (labels to {labels_path})" if labels_path else " (labels dropped)")
    return JsonlSink.to_stdout(labels_path), where
