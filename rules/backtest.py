"""Backtest rule packs on recorded traffic, through the monitor's own feature layer.

Recorded transactions (JSONL, as ``riskwatch simulate --out DIR`` writes
them) are parsed and validated as the monitor does, recorded batch by batch
in the Redis window state (:class:`detectors.state.CustomerStateStore`,
always on an embedded Redis started for the backtest, so no live state is
touched), turned into features by :func:`detectors.features.build_features`,
and evaluated by each pack, with its suppression windows. Labels (JSONL of
:class:`~riskwatch.contracts.Label`; ``fraud`` and ``suspicious`` count as
positive) give each rule its precision and recall.

Per rule the report gives:

* ``hits``: events the rule's expression was true for;
* ``alerts`` and ``alerts/day``: hits left once the suppression windows held
  back repeats for the same entity (what analysts would see; shadow rules
  are counted as if active, since that is what a shadow trial asks);
* ``precision``: share of hits on positive transactions;
* ``recall``: share of all positive transactions the rule hit;
* ``overlap``: share of its hits that another rule of the pack also hit,
  and the rule it shares most with.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import redis

from detectors.features import build_features
from detectors.state import CustomerStateStore
from riskwatch.clock import utc_now
from riskwatch.contracts import Transaction
from riskwatch.embedded import with_redis
from riskwatch.parsing import InvalidRecord, ValidationLimits, parse_transaction
from riskwatch.settings import Settings
from rules.engine import Evaluation, RuleEngine
from rules.errors import BacktestError
from rules.suppression import RuleSuppressor

POSITIVE_LABELS = frozenset({"fraud", "suspicious"})
TxnKey = tuple[str, str]
"""(customer_id, txn_id): a txn_id is unique per customer."""


@dataclass
class RuleStats:
    """One rule's record over the backtest."""

    rule_id: str
    version: int
    mode: str
    hits: int = 0
    alerts: int = 0
    true_hits: int = 0
    shared: int = 0
    """Hits another rule of the pack also hit."""
    shared_with: Counter[str] = field(default_factory=Counter)


@dataclass
class PackReport:
    """One pack's backtest."""

    pack: str
    events: int
    positives: int
    days: float
    rules: list[RuleStats]
    any_hits: int = 0
    any_true_hits: int = 0
    hit_positives: set[TxnKey] = field(default_factory=set)

    def per_rule(self) -> list[dict[str, Any]]:
        """The figures per rule, as the table and the JSON report show them."""
        return [
            {
                "rule": s.rule_id,
                "version": s.version,
                "mode": s.mode,
                "hits": s.hits,
                "alerts": s.alerts,
                "alerts_per_day": s.alerts / self.days,
                "precision": s.true_hits / s.hits if s.hits else None,
                "recall": s.true_hits / self.positives if self.positives else None,
                "overlap": s.shared / s.hits if s.hits else None,
                "overlaps_most_with": s.shared_with.most_common(1)[0][0] if s.shared_with else None,
            }
            for s in self.rules
        ]

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "events": self.events,
            "positives": self.positives,
            "days": self.days,
            "any_rule": {
                "hits": self.any_hits,
                "precision": self.any_true_hits / self.any_hits if self.any_hits else None,
                "recall": len(self.hit_positives) / self.positives if self.positives else None,
            },
            "rules": self.per_rule(),
        }


@dataclass
class Backtest:
    """The reports of every pack over one traffic file, and what could not be read."""

    reports: list[PackReport]
    invalid: Counter[str]

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "packs": [r.to_json_dict() for r in self.reports],
            "invalid_records": dict(self.invalid),
        }


def read_positives(path: Path) -> set[TxnKey]:
    """The (customer, txn) of every positive label in a labels JSONL file."""
    positives: set[TxnKey] = set()
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise BacktestError(f"{path}: cannot read labels: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            label = orjson.loads(line)
            key = (str(label["customer_id"]), str(label["txn_id"]))
            verdict = label["label"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise BacktestError(f"{path}:{number}: not a label: {exc}") from None
        if verdict in POSITIVE_LABELS:
            positives.add(key)
    return positives


def _transactions(
    path: Path, limits: ValidationLimits, now: datetime, invalid: Counter[str]
) -> Iterator[Transaction]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise BacktestError(f"{path}: cannot read transactions: {exc}") from None
    with handle:
        for line in handle:
            try:
                yield parse_transaction(line.rstrip(b"\r\n"), now, limits)
            except InvalidRecord as exc:
                invalid[exc.reason] += 1


def _batches(items: Iterator[Transaction], size: int) -> Iterator[list[Transaction]]:
    batch: list[Transaction] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Tally:
    """Accumulates one pack's outcomes, event by event."""

    def __init__(self, engine: RuleEngine, positives: set[TxnKey]) -> None:
        self.engine = engine
        self.positives = positives
        self.stats = {r.id: RuleStats(r.id, r.version, r.mode) for r in engine.rules}
        self.any_hits = 0
        self.any_true = 0
        self.hit_positives: set[TxnKey] = set()

    def add(self, txn: Transaction, evaluation: Evaluation) -> None:
        fired = [rule.id for rule in evaluation.fired]
        if not fired:
            return
        key = (txn.customer_id, txn.txn_id)
        positive = key in self.positives
        held = {h.rule_id for h in evaluation.suppressed}
        self.any_hits += 1
        if positive:
            self.any_true += 1
            self.hit_positives.add(key)
        for rule_id in fired:
            stats = self.stats[rule_id]
            stats.hits += 1
            stats.alerts += rule_id not in held
            stats.true_hits += positive
            others = [other for other in fired if other != rule_id]
            if others:
                stats.shared += 1
                stats.shared_with.update(others)

    def report(self, events: int, days: float) -> PackReport:
        return PackReport(
            pack=self.engine.version,
            events=events,
            positives=len(self.positives),
            days=days,
            rules=list(self.stats.values()),
            any_hits=self.any_hits,
            any_true_hits=self.any_true,
            hit_positives=self.hit_positives,
        )


def _as_active(evaluation: Evaluation) -> Evaluation:
    """Shadow hits counted as active ones, so that their suppression is backtested too."""
    if not evaluation.shadow_hits:
        return evaluation
    hits = evaluation.hits + evaluation.shadow_hits
    return dataclasses.replace(evaluation, hits=hits, shadow_hits=())


def run_backtest(
    settings: Settings,
    engines: Sequence[RuleEngine],
    transactions: Path,
    labels: Path | None = None,
) -> Backtest:
    """Replay a traffic file through state, features and each engine, on a private Redis."""
    positives = read_positives(labels) if labels is not None else set()
    limits = ValidationLimits(
        max_id_length=settings.validation.max_id_length,
        max_future=timedelta(seconds=settings.validation.max_future_seconds),
        max_amount=Decimal(settings.validation.max_amount),
    )
    tz = ZoneInfo(settings.timezone)
    invalid: Counter[str] = Counter()
    tallies = [_Tally(engine, positives) for engine in engines]
    events = 0
    times: list[int] = []
    # Never the configured Redis: a backtest must not touch live state.
    private = settings.replace(redis={"url": None})
    with with_redis(private) as running:
        assert running.redis.url is not None
        client = redis.Redis.from_url(running.redis.url)
        namespace = f"backtest-{uuid.uuid4().hex[:8]}"
        state = CustomerStateStore(
            client,
            namespace,
            settings.state.dedup_horizon_seconds,
            settings.state.ttl_seconds,
            settings.state.allowed_lateness_seconds,
        )
        horizon = settings.state.dedup_horizon_seconds
        suppressors = [
            RuleSuppressor(client, f"{namespace}-p{i}", horizon) for i in range(len(engines))
        ]
        txns = _transactions(transactions, limits, utc_now(), invalid)
        for batch in _batches(txns, settings.flow.batch_size):
            updates = state.apply(batch)
            features = [build_features(t, u, tz) for t, u in zip(batch, updates, strict=True)]
            fresh = [(t, x) for t, u, x in zip(batch, updates, features, strict=True) if u.fresh]
            if not fresh:
                continue
            fresh_txns = [t for t, _ in fresh]
            events += len(fresh)
            ts_ms = [t.ts_ms for t in fresh_txns]
            times = [min(times[:1] + ts_ms), max(times[1:] + ts_ms)]
            for engine, suppressor, tally in zip(engines, suppressors, tallies, strict=True):
                evaluations = [_as_active(engine.evaluate(x)) for _, x in fresh]
                for txn, evaluation in zip(
                    fresh_txns, suppressor.apply(fresh_txns, evaluations), strict=True
                ):
                    tally.add(txn, evaluation)
    days = max((times[1] - times[0]) / 86_400_000, 1.0) if times else 1.0
    return Backtest([tally.report(events, days) for tally in tallies], invalid)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _cell(row: dict[str, Any] | None, name: str) -> str:
    if row is None:
        return "absent"
    value = row[name]
    if name == "hits":
        return f"{value:,}"
    if name == "alerts_per_day":
        return f"{value:.2f}"
    return _pct(value)


_COLUMNS = ("hits", "alerts_per_day", "precision", "recall", "overlap")
_TITLES = {"alerts_per_day": "alerts/day"}


def _single_table(report: PackReport) -> list[str]:
    header = f"  {'rule':<30} {'mode':<7}" + "".join(f" {_TITLES.get(c, c):>10}" for c in _COLUMNS)
    lines = [f"pack {report.pack}", header, "  " + "-" * (len(header) - 2)]
    for row in report.per_rule():
        line = f"  {row['rule']:<30} {row['mode']:<7}"
        line += "".join(f" {_cell(row, c):>10}" for c in _COLUMNS)
        if row["overlaps_most_with"]:
            line += f"  (most with {row['overlaps_most_with']})"
        lines.append(line)
    lines.append(_any_line(report))
    return lines


def _compare_table(new: PackReport, old: PackReport) -> list[str]:
    columns = _COLUMNS[:4]
    header = f"  {'rule':<30}" + "".join(f" {_TITLES.get(c, c):>17}" for c in columns)
    lines = [
        f"pack {new.pack} (new) against {old.pack} (old); each cell is new|old",
        header,
        "  " + "-" * (len(header) - 2),
    ]
    old_rows = {row["rule"]: row for row in old.per_rule()}
    new_rows = {row["rule"]: row for row in new.per_rule()}
    for rule in list(new_rows) + [r for r in old_rows if r not in new_rows]:
        a, b = new_rows.get(rule), old_rows.get(rule)
        line = f"  {rule:<30}"
        line += "".join(f" {_cell(a, c):>8}|{_cell(b, c):<8}" for c in columns)
        lines.append(line)
    lines.append(_any_line(new) + " (new)")
    lines.append(_any_line(old) + " (old)")
    return lines


def format_backtest(backtest: Backtest) -> str:
    """A readable table: one pack, or two side by side (``--compare``)."""
    first = backtest.reports[0]
    lines = [
        f"backtest over {first.events:,} transactions, {first.days:.1f} days, "
        f"{first.positives:,} positive labels"
    ]
    if backtest.invalid:
        skipped = ", ".join(f"{k}: {v}" for k, v in sorted(backtest.invalid.items()))
        lines.append(f"records that failed validation (skipped): {skipped}")
    if len(backtest.reports) == 1:
        lines += _single_table(first)
    else:
        lines += _compare_table(first, backtest.reports[1])
    return "\n".join(lines)


def _any_line(report: PackReport) -> str:
    as_json = report.to_json_dict()["any_rule"]
    return (
        f"  any rule of {report.pack}: {report.any_hits:,} transactions hit, precision "
        f"{_pct(as_json['precision'])}, recall {_pct(as_json['recall'])}"
    )
