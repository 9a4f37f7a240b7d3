"""Rule evaluation cost: 30 rules per event, in µs, against a plain Python baseline.

Run it with::

    .venv/bin/python -m bench.rules [--events N] [--repeat R] [--out PATH]

The events are feature dicts built by the monitor's own feature builder
(:func:`detectors.features.build_features`) from simulated transactions, with
the 1 h and 24 h window totals the rules read made up at random (so that
rules fire), so the names, values and types are what rules see in the flow.
Four ways of deciding the same 30 rules run over the same events, in
interleaved rounds:

* ``baseline``: a hand-written Python function with the 30 conditions as
  ``if`` statements over the feature dict: the least a rule check can cost;
* ``engine``: :meth:`rules.engine.RuleEngine.evaluate` on a 30-rule pack,
  which also builds the hits (with the values each rule saw) and catches
  each rule's errors;
* ``folded_only``: the pack's folded function alone (which rules fire), without
  building hits: the part of ``engine`` that is pure decision;
* ``eval_per_rule``: each rule's own code object through :func:`eval` with
  the params merged into the namespace, the engine's previous design, kept
  to show what folding a pack into one function saves.

All three must agree on every event's hits, or the benchmark stops. The
median over rounds is reported as µs per event and as a ratio to the
baseline; nothing here asserts a speed (see bench/throughput.py on why).
The goal is at most 10 µs per event for the engine.
"""

from __future__ import annotations

import argparse
import logging
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from detectors.features import TEXT_FIELDS, build_features, feature_names
from detectors.state import empty_update
from riskwatch.contracts import Transaction
from rules.engine import RuleEngine
from rules.expressions import FUNCTIONS
from rules.pack import parse_pack
from simulator import SimulationConfig, simulate

logger = logging.getLogger(__name__)

DEFAULT_EVENTS = 20_000
DEFAULT_REPEAT = 5
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "rules.json"
GOAL_US = 10.0

PARAMS = {
    "large_transfer": 10000,
    "large_cash": 50000,
    "high_risk_mccs": ["5944", "5732", "4829", "7995", "6051"],
    "digital": ["mobile", "online"],
}

#: 30 rules of the shapes real packs use: thresholds, sets, window sums, functions.
RULES: list[tuple[str, str]] = [
    ("r01", 'kind == "purchase" and debit_count_1h >= 5 and debit_sum_1h >= 3000'),
    ("r02", 'kind == "purchase" and mcc in high_risk_mccs and amount >= 2000'),
    ("r03", 'kind == "transfer_out" and channel in digital and amount >= large_transfer'),
    ("r04", 'direction == "debit" and debit_sum_24h >= 20000'
            " and debit_sum_24h > 3 * credit_sum_24h"),
    ("r05", 'kind == "purchase" and amount < 10 and debit_count_1h >= 4'),
    ("r06", 'kind == "purchase" and amount >= 500 and debit_count_1h >= 4'
            " and debit_sum_1h - amount < 40"),
    ("r07", 'channel == "atm" and kind == "cash_withdrawal" and hour < 5 and amount >= 2000'),
    ("r08", 'kind == "cash_deposit" and between(amount, 0.8 * large_cash, large_cash - 0.01)'
            " and credit_count_24h >= 2"),
    ("r09", "amount >= 100000"),
    ("r10", 'is_debit == 1 and amount >= 5000 and hour >= 22'),
    ("r11", 'channel == "thirdparty" and amount >= 3000 and debit_count_24h >= 10'),
    ("r12", 'kind == "transfer_out" and is_round_amount(amount, 10000) and amount >= 50000'),
    ("r13", 'country not in ["CN", None] and amount >= 1000'),
    ("r14", 'net_flow_24h < -30000 and kind == "transfer_out"'),
    ("r15", 'credit_sum_24h >= 50000 and debit_sum_24h >= 0.9 * credit_sum_24h'),
    ("r16", 'kind == "purchase" and channel == "online" and amount >= 8000'),
    ("r17", 'kind == "bill_payment" and amount >= 20000'),
    ("r18", 'debit_count_1h >= 12'),
    ("r19", 'credit_count_24h >= 15'),
    ("r20", 'kind == "cash_withdrawal" and debit_sum_24h >= 20000'),
    ("r21", 'abs(net_flow_1h) >= 40000'),
    ("r22", 'channel in digital and hour < 6 and amount >= 3000'),
    ("r23", 'mcc == "7995" and debit_count_24h >= 3'),
    ("r24", 'kind == "refund" and amount >= 5000'),
    ("r25", 'max(debit_sum_1h, debit_sum_24h / 24) >= 15000'),
    ("r26", 'log_amount >= 11.5 and is_debit == 1'),
    ("r27", 'kind == "salary" and amount >= 200000'),
    ("r28", 'channel == "counter" and kind == "cash_deposit" and amount >= large_cash'),
    ("r29", 'is_late == 1 and amount >= 10000'),
    ("r30", 'kind == "transfer_in" and credit_sum_1h >= 30000 and credit_count_1h >= 3'),
]  # fmt: skip

_HIGH_RISK = frozenset(PARAMS["high_risk_mccs"])
_DIGITAL = frozenset(PARAMS["digital"])
_between = FUNCTIONS["between"]
_round = FUNCTIONS["is_round_amount"]


def baseline(x: Mapping[str, Any]) -> list[str]:
    """The same 30 conditions written by hand: the floor a rule check can cost."""
    hits = []
    kind, amount, channel = x["kind"], x["amount"], x["channel"]
    if kind == "purchase" and x["debit_count_1h"] >= 5 and x["debit_sum_1h"] >= 3000:
        hits.append("r01")
    if kind == "purchase" and x["mcc"] in _HIGH_RISK and amount >= 2000:
        hits.append("r02")
    if kind == "transfer_out" and channel in _DIGITAL and amount >= 10000:
        hits.append("r03")
    if (
        x["direction"] == "debit"
        and x["debit_sum_24h"] >= 20000
        and x["debit_sum_24h"] > 3 * x["credit_sum_24h"]
    ):
        hits.append("r04")
    if kind == "purchase" and amount < 10 and x["debit_count_1h"] >= 4:
        hits.append("r05")
    if (
        kind == "purchase"
        and amount >= 500
        and x["debit_count_1h"] >= 4
        and x["debit_sum_1h"] - amount < 40
    ):
        hits.append("r06")
    if channel == "atm" and kind == "cash_withdrawal" and x["hour"] < 5 and amount >= 2000:
        hits.append("r07")
    if (
        kind == "cash_deposit"
        and _between(amount, 0.8 * 50000, 50000 - 0.01)
        and x["credit_count_24h"] >= 2
    ):
        hits.append("r08")
    if amount >= 100000:
        hits.append("r09")
    if x["is_debit"] == 1 and amount >= 5000 and x["hour"] >= 22:
        hits.append("r10")
    if channel == "thirdparty" and amount >= 3000 and x["debit_count_24h"] >= 10:
        hits.append("r11")
    if kind == "transfer_out" and _round(amount, 10000) and amount >= 50000:
        hits.append("r12")
    if x["country"] not in ("CN", None) and amount >= 1000:
        hits.append("r13")
    if x["net_flow_24h"] < -30000 and kind == "transfer_out":
        hits.append("r14")
    if x["credit_sum_24h"] >= 50000 and x["debit_sum_24h"] >= 0.9 * x["credit_sum_24h"]:
        hits.append("r15")
    if kind == "purchase" and channel == "online" and amount >= 8000:
        hits.append("r16")
    if kind == "bill_payment" and amount >= 20000:
        hits.append("r17")
    if x["debit_count_1h"] >= 12:
        hits.append("r18")
    if x["credit_count_24h"] >= 15:
        hits.append("r19")
    if kind == "cash_withdrawal" and x["debit_sum_24h"] >= 20000:
        hits.append("r20")
    if abs(x["net_flow_1h"]) >= 40000:
        hits.append("r21")
    if channel in _DIGITAL and x["hour"] < 6 and amount >= 3000:
        hits.append("r22")
    if x["mcc"] == "7995" and x["debit_count_24h"] >= 3:
        hits.append("r23")
    if kind == "refund" and amount >= 5000:
        hits.append("r24")
    if max(x["debit_sum_1h"], x["debit_sum_24h"] / 24) >= 15000:
        hits.append("r25")
    if x["log_amount"] >= 11.5 and x["is_debit"] == 1:
        hits.append("r26")
    if kind == "salary" and amount >= 200000:
        hits.append("r27")
    if channel == "counter" and kind == "cash_deposit" and amount >= 50000:
        hits.append("r28")
    if x["is_late"] == 1 and amount >= 10000:
        hits.append("r29")
    if kind == "transfer_in" and x["credit_sum_1h"] >= 30000 and x["credit_count_1h"] >= 3:
        hits.append("r30")
    return hits


def bench_pack_text() -> str:
    """The 30 rules as a YAML pack."""
    lines = ["pack: bench", "version: 1", "params:"]
    lines += [f"  {k}: {orjson.dumps(v).decode()}" for k, v in PARAMS.items()]
    lines.append("rules:")
    for rule_id, when in RULES:
        lines += [
            f"  - id: {rule_id}",
            "    version: 1",
            f"    description: bench rule {rule_id}",
            "    typology: bench",
            "    severity: medium",
            "    score: 50",
            "    entity: customer",
            "    mode: active",
            f"    when: {orjson.dumps(when).decode()}",
        ]
    return "\n".join(lines) + "\n"


def make_events(n: int, seed: int = 5) -> list[dict[str, Any]]:
    """Feature dicts of simulated transactions, their window totals made up at random."""
    rng = random.Random(seed)
    tz = ZoneInfo("Asia/Shanghai")
    config = SimulationConfig(seed=seed, customers=max(50, n // 40), days=14)
    events: list[dict[str, Any]] = []
    for event in simulate(config):
        txn: Transaction = event.txn
        x = build_features(txn, empty_update(txn.ts_ms), tz)
        for label, scale in (("1h", 1), ("24h", 8)):
            x[f"debit_count_{label}"] = float(rng.randint(1, 6 * scale))
            x[f"debit_sum_{label}"] = rng.randint(1, 600_000 * scale) / 100
            x[f"credit_count_{label}"] = float(rng.randint(0, 3 * scale))
            x[f"credit_sum_{label}"] = rng.randint(0, 800_000 * scale) / 100
            x[f"net_flow_{label}"] = x[f"credit_sum_{label}"] - x[f"debit_sum_{label}"]
        x["is_late"] = 1.0 if rng.random() < 0.01 else 0.0
        events.append(x)
        if len(events) >= n:
            break
    return events


def engine_for_bench() -> RuleEngine:
    vocabulary = feature_names()
    return RuleEngine([parse_pack(bench_pack_text(), "bench.yaml", vocabulary, TEXT_FIELDS)])


def eval_per_rule(engine: RuleEngine) -> Callable[[Mapping[str, Any]], list[str]]:
    """The engine's previous design: one eval per rule over a merged namespace."""
    (pack,) = engine.packs
    rules = pack.live_rules
    params = {k: frozenset(v) if isinstance(v, tuple) else v for k, v in pack.params.items()}

    def evaluate(x: Mapping[str, Any]) -> list[str]:
        namespace = {**params, **x}
        return [rule.id for rule in rules if rule.when.evaluate(namespace)]

    return evaluate


def _time(fn: Callable[[Mapping[str, Any]], Any], events: Sequence[Mapping[str, Any]]) -> float:
    started = time.perf_counter()
    for x in events:
        fn(x)
    return (time.perf_counter() - started) / len(events) * 1e6


def check_agreement(
    methods: Mapping[str, Callable[[Mapping[str, Any]], list[str]]],
    events: Sequence[Mapping[str, Any]],
) -> int:
    """Every method's hits on every event are the same; returns the number of hits."""
    hits = 0
    for x in events:
        answers = {name: sorted(fn(x)) for name, fn in methods.items()}
        first = next(iter(answers.values()))
        if any(a != first for a in answers.values()):
            raise SystemExit(f"the methods disagree on {x}: {answers}")
        hits += len(first)
    return hits


def run_benchmark(n_events: int, repeat: int) -> dict[str, Any]:
    events = make_events(n_events)
    engine = engine_for_bench()
    methods: dict[str, Callable[[Mapping[str, Any]], Any]] = {
        "baseline": baseline,
        "engine": engine.evaluate,
        "folded_only": engine.packs[0].evaluate,
        "eval_per_rule": eval_per_rule(engine),
    }
    rule_ids = [rule.id for rule in engine.rules]
    hits = check_agreement(
        {
            **methods,
            "engine": lambda x: [h.rule_id for h in engine.evaluate(x).hits],
            "folded_only": lambda x: [rule_ids[i] for i in engine.packs[0].evaluate(x)[0]],
        },
        events,
    )
    runs: dict[str, list[float]] = {name: [] for name in methods}
    for round_no in range(repeat):
        for name, fn in methods.items():
            runs[name].append(_time(fn, events))
        logger.info(
            "round %d/%d: %s",
            round_no + 1,
            repeat,
            ", ".join(f"{n} {r[-1]:.2f} µs" for n, r in runs.items()),
        )
    base = statistics.median(runs["baseline"])
    return {
        "events": len(events),
        "rules": len(engine.rules),
        "hits_per_event": round(hits / len(events), 4),
        "goal_us_per_event": GOAL_US,
        "methods": {
            name: {
                "us_per_event": round(statistics.median(r), 3),
                "best_us_per_event": round(min(r), 3),
                "ratio_to_baseline": round(statistics.median(r) / base, 2),
                "runs_us": [round(v, 3) for v in r],
            }
            for name, r in runs.items()
        },
        "engine_within_goal": statistics.median(runs["engine"]) <= GOAL_US,
        # What building one hit (RuleHit with the values seen) costs on top of deciding.
        "us_per_hit": round(
            (statistics.median(runs["engine"]) - statistics.median(runs["folded_only"]))
            / (hits / len(events)),
            3,
        ),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }


def format_table(report: dict[str, Any]) -> str:
    lines = [
        f"rule evaluation: {report['rules']} rules per event over {report['events']:,} events "
        f"({report['hits_per_event']} hits per event); goal {report['goal_us_per_event']:g} µs",
        f"  {'method':<14} {'µs/event':>9} {'best':>9} {'× baseline':>11}",
    ]
    for name, m in report["methods"].items():
        lines.append(
            f"  {name:<14} {m['us_per_event']:>9.2f} {m['best_us_per_event']:>9.2f} "
            f"{m['ratio_to_baseline']:>11.2f}"
        )
    verdict = "within" if report["engine_within_goal"] else "NOT within"
    lines.append(f"  the engine is {verdict} the goal on this machine")
    lines.append(
        f"  building a hit costs about {report['us_per_hit']:.2f} µs on top of deciding; "
        "these events hit far more often than real traffic does"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    report = run_benchmark(args.events, args.repeat)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    print(format_table(report), file=sys.stderr)
    return report


if __name__ == "__main__":
    main()
