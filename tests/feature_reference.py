"""A brute-force reference for every state feature, computed from the raw event list.

It restates, as plainly as possible and with no Redis, the definitions in
``detectors/state.py`` and ``detectors/features.py``: each event is assessed
over the events that arrived before it (and itself), by scanning them all.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from detectors.features import haversine_km, salary_regularity, transaction_features
from detectors.state import (
    CARD_PRESENT,
    CASH_WINDOWS,
    CHANNEL_CODES,
    CHANNEL_WINDOWS,
    ENTITIES,
    ENTITY_WINDOWS,
    WINDOWS,
    window_label,
)
from riskwatch.contracts import Transaction

DAY = 86_400_000


def _digest(txn_id: str) -> int:
    """The state's tie-break between card-present events at the same ms: blake2b, 8 bytes."""
    return int.from_bytes(hashlib.blake2b(txn_id.encode(), digest_size=8).digest(), "big")


@dataclass
class Reference:
    """Feed events in arrival order; get their expected features and late flag."""

    lateness_ms: int
    dedup_ms: int
    tz: ZoneInfo
    arrived: list[Transaction] = field(default_factory=list)
    first_seen: dict[str, Transaction] = field(default_factory=dict)

    def assess(self, txn: Transaction) -> tuple[bool, bool, dict[str, Any]]:
        """(recorded, late, features); a stale event is neither recorded nor assessed."""
        fresh = txn.txn_id not in self.first_seen
        newest = max((e.ts_ms for e in self.arrived), default=None)
        if newest is not None and txn.ts_ms < newest - self.dedup_ms:
            return False, True, {}
        if fresh:
            before = list(self.arrived)
            self.first_seen[txn.txn_id] = txn
            self.arrived.append(txn)
        else:
            txn = self.first_seen[txn.txn_id]
            before = None
        newest = max(e.ts_ms for e in self.arrived)
        late = txn.ts_ms < newest - self.lateness_ms
        return fresh, late, self._features(txn, newest, before)

    def _features(self, x: Transaction, newest: int, before: list[Transaction] | None):
        ts = x.ts_ms
        horizon = 2 * DAY + self.lateness_ms
        mine = [e for e in self.arrived if e.customer_id == x.customer_id and e.ts_ms <= ts]
        others = [e for e in mine if e.txn_id != x.txn_id]

        def in_window(e: Transaction, w_ms: int) -> bool:
            if e.ts_ms >= newest - horizon:  # still in the exact log
                return e.ts_ms > ts - w_ms
            return (e.ts_ms // DAY) * DAY > ts - w_ms  # a day bucket, edge rounded in

        out = transaction_features(x, self.tz)
        out["is_late"] = 0.0

        def four(events: list[Transaction]) -> tuple[float, float, float, float]:
            d = [e for e in events if e.direction == "debit"]
            c = [e for e in events if e.direction == "credit"]
            return (
                float(len(d)),
                sum(e.amount_minor for e in d) / 100,
                float(len(c)),
                sum(e.amount_minor for e in c) / 100,
            )

        for seconds in WINDOWS:
            label = window_label(seconds)
            dc, ds, cc, cs = four([e for e in mine if in_window(e, seconds * 1000)])
            out[f"debit_count_{label}"], out[f"debit_sum_{label}"] = dc, ds
            out[f"credit_count_{label}"], out[f"credit_sum_{label}"] = cc, cs
            out[f"net_flow_{label}"] = cs - ds
        for channel in CHANNEL_CODES:
            for seconds in CHANNEL_WINDOWS:
                label = window_label(seconds)
                chosen = [e for e in mine if e.channel == channel and in_window(e, seconds * 1000)]
                values = four(chosen)
                for stem, v in zip(("debit_count", "debit_sum", "credit_count", "credit_sum"),
                                   values, strict=True):  # fmt: skip
                    out[f"{channel}_{stem}_{label}"] = v
        for seconds in CASH_WINDOWS:
            label = window_label(seconds)
            inside = [e for e in mine if in_window(e, seconds * 1000)]
            for stem, kind in (("cash_in", "cash_deposit"), ("cash_out", "cash_withdrawal")):
                chosen = [e for e in inside if e.kind == kind]
                out[f"{stem}_count_{label}"] = float(len(chosen))
                out[f"{stem}_sum_{label}"] = sum(e.amount_minor for e in chosen) / 100

        day = [e for e in mine if e.ts_ms > ts - DAY]
        credits = [e for e in day if e.direction == "credit"]
        inflow = sum(e.amount_minor for e in credits)
        share = 0.0
        if inflow:
            first = min(e.ts_ms for e in credits)
            left = sum(e.amount_minor for e in day if e.direction == "debit" and e.ts_ms >= first)
            share = min(1.0, left / inflow)
        out["passthrough_share_24h"] = share
        inflows = [
            e.amount_minor for e in mine if e.direction == "credit" and in_window(e, 30 * DAY)
        ]
        out["max_inflow_30d"] = max(inflows, default=0) / 100
        salaries = sorted(e.ts_ms for e in mine if e.kind == "salary" and e.direction == "credit")[
            -6:
        ]
        out["salary_regularity"] = salary_regularity(tuple(salaries), self.tz)

        def distinct(events: list[Transaction], name: str) -> float:
            return float(len({getattr(e, name) for e in events} - {None}))

        distinct_fields = (
            ("merchants", "merchant_id"),
            ("devices", "device_id"),
            ("countries", "country"),
            ("counterparties", "counterparty_account"),
        )
        for stem, name in distinct_fields:
            out[f"distinct_{stem}_24h"] = distinct(day, name)
            out[f"distinct_{stem}_30d"] = distinct(
                [e for e in mine if in_window(e, 30 * DAY)], name
            )
        out["distinct_senders_24h"] = distinct(
            [e for e in day if e.direction == "credit"], "counterparty_account"
        )
        out["distinct_recipients_24h"] = distinct(
            [e for e in day if e.direction == "debit"], "counterparty_account"
        )

        prev = max((e.ts_ms for e in others), default=None)
        prev_ch = max((e.ts_ms for e in others if e.channel == x.channel), default=None)
        out["seconds_since_last"] = (ts - prev) / 1000 if prev is not None else 0.0
        out["seconds_since_last_channel"] = (ts - prev_ch) / 1000 if prev_ch is not None else 0.0
        out["dormant_days"] = float(out["seconds_since_last"] // 86400)

        recent_others = [e for e in others if e.ts_ms > ts - 30 * DAY]
        flags = (
            ("new_device", "device_id"),
            ("new_counterparty", "counterparty_account"),
            ("new_country", "country"),
            ("new_mcc", "mcc"),
        )
        for flag, name in flags:
            value = getattr(x, name)
            seen = any(getattr(e, name) == value for e in recent_others)
            out[flag] = 1.0 if value is not None and not seen else 0.0

        distance = velocity = 0.0
        placed = [
            e
            for e in others
            if e.channel in CARD_PRESENT and e.lat is not None and e.lon is not None
        ]
        if placed and x.channel in CARD_PRESENT and x.lat is not None and x.lon is not None:
            p = max(placed, key=lambda e: (e.ts_ms, _digest(e.txn_id)))
            distance = haversine_km(p.lat, p.lon, x.lat, x.lon)
            velocity = distance / (max(ts - p.ts_ms, 60_000) / 3_600_000)
        out["distance_from_last_km"] = distance
        out["geo_velocity_kmh"] = velocity

        pool = before if before is not None else self.arrived
        amounts = [e.amount_minor for e in pool if e.customer_id == x.customer_id
                   and e.kind == x.kind]  # fmt: skip
        n = len(amounts)
        mean = sum(amounts) / n if n else 0.0
        std = math.sqrt(sum((a - mean) ** 2 for a in amounts) / (n - 1)) if n >= 2 else 0.0
        out["amount_mean_kind"] = mean / 100
        out["amount_std_kind"] = std / 100
        out["amount_zscore"] = (x.amount_minor - mean) / std if std > 0 else 0.0
        out["amount_ratio"] = x.amount_minor / mean if n and mean > 0 else 1.0
        out["baseline_n"] = float(n)

        out.update(entity_features(self.arrived, x))
        return out


def entity_features(arrived: list[Transaction], x: Transaction) -> dict[str, float]:
    """The entity counts of ``x`` over the events that arrived before it (and itself).

    Counts: events whose 5-minute (1 h), hour (24 h) or day (7 d) bucket lies
    after the one holding ts - W, up to the one holding ts; customers: those
    whose latest event at the entity is after ts - W.
    """
    ts = x.ts_ms
    out: dict[str, float] = {}
    for prefix, _, name in ENTITIES:
        value = getattr(x, name)
        at = [e for e in arrived if value is not None and getattr(e, name) == value]
        latest: dict[str, int] = {}
        for e in at:
            latest[e.customer_id] = max(latest.get(e.customer_id, 0), e.ts_ms)
        for seconds, size in zip(ENTITY_WINDOWS, (300_000, 3_600_000, DAY), strict=True):
            w = seconds * 1000
            label = window_label(seconds)
            lo, hi = (ts - w) // size, ts // size
            out[f"{prefix}_count_{label}"] = float(sum(1 for e in at if lo < e.ts_ms // size <= hi))
            out[f"{prefix}_customers_{label}"] = float(
                sum(1 for t in latest.values() if t > ts - w)
            )
    return out
