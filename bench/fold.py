"""The customer fold alone, without Redis: CPU µs and instructions per event.

Run it with::

    .venv/bin/python -m bench.fold [--customers N] [--days D] [--repeat R] [--out PATH]
    .venv/bin/python -m bench.fold --fold-module OLD.py   # another fold, same events
    .venv/bin/python -m bench.fold --callgrind            # instructions per event

One simulated input (bench.state's seed and start; 35 days so that every
customer carries full 30-day windows) is parsed once; then every event goes,
in order, through what ``CustomerStateStore._apply`` does per event, each
customer's state and memo held for the whole run as the worker holds them:

* ``assess``: ``customer_fold.assess`` on events already converted (the fold
  proper: dedup, record, fold out of the log, prune, read every aggregate);
* ``apply_glue``: ``fold.fold_part`` (``state._event`` + ``assess`` per
  event, in C) and ``fold.UpdateMaker.updates``, in parts of the store's
  ``trip_events`` as ``CustomerStateStore.updates`` runs them, without
  Redis, entities or encoding.

Times are the process's CPU time (``time.process_time``), best of
``--repeat`` rounds, each round on fresh states. ``--fold-module PATH``
times ``assess`` of another copy of the fold (e.g. ``git show
main:detectors/customer_fold.py > /tmp/old_fold.py``) on the same events,
beside this tree's, in the same run: a back-to-back pair; it also folds every
event through both and counts the assessments and final blobs that differ.

``--callgrind`` counts instructions, which do not depend on the machine's
load: it writes the input once, then runs this module twice under ``valgrind
--tool=callgrind`` (``--rounds 0`` parses only; ``--rounds 1`` also folds
once) and reports the difference per event, for this tree's fold and, with
``--fold-module``, for the other one. By hand, the same is::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python -m bench.fold --input FILE --rounds 1 --stage assess
    # minus the same with --rounds 0, divided by the events

Nothing is asserted about speed: tests/test_fold_bench.py checks the report.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.report import publish
from detectors import customer_fold
from detectors.held_states import Held
from detectors.state import _EVENT_CODES, _UPDATES, _event
from riskwatch.contracts import Transaction
from riskwatch.parsing import ValidationLimits, parse_transaction

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "fold.json"
STAGES = ("assess", "apply_glue")
FIELDS = ("fresh", "newest", "late", "ts", "totals", "passthrough", "max_inflow", "distinct",
          "prev_ts", "prev_ch_ts", "new_flags", "prev_geo", "baseline", "salaries")  # fmt: skip
#: As the shipped defaults (config/default.toml [state]).
LATENESS_MS, DEDUP_MS = 3_600_000, 259_200_000


def write_input(path: Path, customers: int, days: int) -> int:
    """bench.state's input (its seed and start), written to ``path``; the number of events."""
    # Imported here: the --callgrind children, which only read the file, count fewer imports.
    from bench.state import write_input as write_state_input

    return write_state_input(path, customers, days).events


def read_input(path: Path) -> list[Transaction]:
    now = datetime.now(UTC)
    limits = ValidationLimits()
    with path.open("rb") as f:
        return [parse_transaction(line, now, limits) for line in f]


def load_fold(path: Path) -> ModuleType:
    """A fold module from a file (another version of customer_fold.py), imported on its own."""
    spec = importlib.util.spec_from_file_location("bench_other_fold", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _events(fold: ModuleType, txns: list[Transaction]) -> list[tuple[str, Any]]:
    """(customer, ``fold.Event``) of every transaction, converted as ``state._event`` does."""
    events = []
    for txn in txns:
        e = _event(txn)
        events.append(
            (
                txn.customer_id,
                fold.Event(
                    txn=e.txn, ts=e.ts, code=e.code, amount=e.amount, merchant=e.merchant,
                    device=e.device, country=e.country, counterparty=e.counterparty, mcc=e.mcc,
                    lat=e.lat, lon=e.lon, base_kind=e.base_kind,
                ),
            )
        )  # fmt: skip
    return events


def fold_round(fold: ModuleType, txns: list[Transaction]) -> Callable[[], float]:
    """A timed pass of ``fold.assess`` over converted events; returns CPU seconds."""
    params = fold.FoldParams(lateness=LATENESS_MS, dedup=DEDUP_MS)
    events = _events(fold, txns)

    def run() -> float:
        states = {cid: fold.new_state() for cid, _ in events}
        memos = {cid: fold.Memo() for cid in states}
        assess = fold.assess
        c0 = time.process_time()
        for cid, ev in events:
            assess(states[cid], ev, params, memos[cid])
        return time.process_time() - c0

    return run


class _NoEntities:
    """Takes the events ``fold_part`` adds at their entities, and keeps none."""

    def add(self, txn: Transaction, ts_ms: int, fresh: bool) -> None:
        pass


def glue_round(txns: list[Transaction], part: int = 48) -> Callable[[], float]:
    """A timed pass of the store's glue (``fold_part`` + ``UpdateMaker.updates`` per part
    of ``part`` events, ``state.trip_events``' default); returns CPU seconds."""
    params = customer_fold.FoldParams(lateness=LATENESS_MS, dedup=DEDUP_MS)

    def run() -> float:
        held = {t.customer_id: Held(customer_fold.new_state(), 0.0) for t in txns}
        entities = _NoEntities()
        c0 = time.process_time()
        for start in range(0, len(txns), part):
            assessed: list[Any] = []
            customer_fold.fold_part(txns[start : start + part], held, params, _EVENT_CODES,
                                    entities, set(), assessed)  # fmt: skip
            _UPDATES.updates(assessed, [{}] * len(assessed))
        return time.process_time() - c0

    return run


def _fields(a: Any) -> tuple[Any, ...]:
    """Totals as a tuple: this fold's are an array('q'), an older one's a tuple or list."""
    return tuple(tuple(getattr(a, f)) if f == "totals" else getattr(a, f) for f in FIELDS)


def agree(other: ModuleType, txns: list[Transaction]) -> dict[str, int]:
    """Both folds over the same events: assessments that differ, final blobs that differ."""
    params = customer_fold.FoldParams(lateness=LATENESS_MS, dedup=DEDUP_MS)
    other_params = other.FoldParams(lateness=LATENESS_MS, dedup=DEDUP_MS)
    mine: dict[str, Any] = {}
    theirs: dict[str, Any] = {}
    memos: dict[str, Any] = {}
    other_memos: dict[str, Any] = {}
    differ = 0
    for txn, (_, ev) in zip(txns, _events(other, txns), strict=True):
        cid = txn.customer_id
        if cid not in mine:
            mine[cid], memos[cid] = customer_fold.new_state(), customer_fold.Memo()
            theirs[cid], other_memos[cid] = other.new_state(), other.Memo()
        a = customer_fold.assess(mine[cid], _event(txn), params, memos[cid])
        b = other.assess(theirs[cid], ev, other_params, other_memos[cid])
        differ += _fields(a) != _fields(b)
    blobs = sum(customer_fold.dump(mine[c]) != other.dump(theirs[c]) for c in mine)
    return {"events": len(txns), "assessments_differing": differ, "blobs_differing": blobs}


def measure(
    txns: list[Transaction], rounds: int, stages: Sequence[str], other: ModuleType | None
) -> dict[str, float]:
    """Best CPU µs per event of each stage over ``rounds`` rounds (interleaved)."""
    runs: dict[str, Callable[[], float]] = {}
    if "assess" in stages:
        runs["assess"] = fold_round(customer_fold, txns)
        if other is not None:
            runs["assess_other"] = fold_round(other, txns)
    if "apply_glue" in stages:
        runs["apply_glue"] = glue_round(txns)
    best = {name: float("inf") for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            best[name] = min(best[name], run())
    return {name: round(1e6 * s / len(txns), 2) for name, s in best.items() if rounds}


def callgrind(
    input_path: Path, events: int, stages: Sequence[str], other: Path | None
) -> dict[str, float]:
    """Instructions per event of each stage: one round minus parsing alone, under callgrind."""

    def instructions(rounds: int, stage: str, with_other: bool) -> int:
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
               "-m", "bench.fold", "--input", str(input_path), "--rounds", str(rounds),
               "--stage", stage, "--out", "/dev/null"]  # fmt: skip
        if with_other and other is not None:
            cmd += ["--fold-module", str(other), "--only-other"]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
        if found is None:
            raise SystemExit(f"no instruction count from callgrind:\n{done.stderr[-2000:]}")
        return int(found.group(1))

    def per_event(stage: str, with_other: bool = False) -> float:
        once = instructions(1, stage, with_other) - instructions(0, stage, with_other)
        return round(once / events)

    out = {stage: per_event(stage) for stage in stages}
    if other is not None and "assess" in stages:
        out["assess_other"] = per_event("assess", with_other=True)
    return out


def render_table(report: dict[str, Any]) -> str:
    lines = [
        f"customer fold: {report['input']['events']:,} events, "
        f"{report['input']['customers']} customers x {report['input']['days']} days; "
        f"compiled: {report['compiled']}",
        "",
        f"{'stage':<14}{'CPU us/event':>14}{'instr/event':>14}",
    ]
    cpu, instr = report["cpu_microseconds_per_event"], report["instructions_per_event"]
    for name in sorted(set(cpu) | set(instr)):
        c = f"{cpu[name]:.2f}" if name in cpu else "-"
        i = f"{instr[name]:,.0f}" if name in instr else "-"
        lines.append(f"{name:<14}{c:>14}{i:>14}")
    if report["agreement_with_other"]:
        ag = report["agreement_with_other"]
        lines.append(
            f"against {report['other_fold_module']}: {ag['assessments_differing']} of "
            f"{ag['events']:,} assessments and {ag['blobs_differing']} final blobs differ"
        )
    lines.append(f"machine load 1m: {report['machine']['loadavg_1m_before']} -> "
                 f"{report['machine']['loadavg_1m_after']}")  # fmt: skip
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fold",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (best is kept)")
    parser.add_argument("--stage", choices=(*STAGES, "all"), default="all")
    parser.add_argument("--fold-module", type=Path, help="another customer_fold.py to time")
    parser.add_argument("--callgrind", action="store_true", help="count instructions instead")
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--only-other", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    stages = STAGES if args.stage == "all" else (args.stage,)
    other = load_fold(args.fold_module) if args.fold_module else None
    if args.input is not None:
        # A child of --callgrind: parse, then fold ``--rounds`` times, no report.
        txns = read_input(args.input)
        if args.only_other and other is not None:
            run = fold_round(other, txns)
            for _ in range(args.rounds or 0):
                run()
        else:
            measure(txns, args.rounds or 0, stages, None)
        return {}
    from bench.throughput import _loadavg  # here: the children above need no Bytewax

    load_before = _loadavg()
    with tempfile.TemporaryDirectory(prefix="riskwatch-bench-fold-") as tmp:
        path = Path(tmp) / "transactions.jsonl"
        events = write_input(path, args.customers, args.days)
        txns = read_input(path)
        customers = len({t.customer_id for t in txns})
        cpu = {} if args.callgrind else measure(txns, args.repeat, stages, other)
        instr = callgrind(path, events, stages, args.fold_module) if args.callgrind else {}
        agreement = agree(other, txns) if other is not None else None
    report = {
        "benchmark": "fold",
        "input": {"events": events, "customers": customers, "days": args.days},
        "compiled": getattr(customer_fold, "COMPILED", False),
        "other_fold_module": str(args.fold_module) if args.fold_module else None,
        "agreement_with_other": agreement,
        "statistic": f"best of {args.repeat} rounds (CPU time)" if cpu else "callgrind Ir",
        "cpu_microseconds_per_event": cpu,
        "instructions_per_event": instr,
        "machine": {"loadavg_1m_before": load_before, "loadavg_1m_after": _loadavg()},
    }
    publish(report, args.out, render_table(report))
    return report


if __name__ == "__main__":
    main()
