"""A customer's live income and expenditure profile, read from the state store.

Read-only: it decodes the customer's blob as the state store does (see
:mod:`detectors.customer_fold` for the layout) and applies the same window rules as
of the customer's newest event, so the figures are those the next event's
features would start from. The case UI and ``riskwatch profile`` show it.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis

from detectors.customer_fold import CHANNELS, EV, KIND_SALARY, LC, NW, SAL, B, K, load
from detectors.keys import key
from detectors.state import CHANNEL_CODES, WINDOWS, StateUnavailable, window_label

DAY_MS = 86_400_000
_CHANNEL_OF = {code: name for name, code in CHANNEL_CODES.items()}


class ProfileNotFound(LookupError):
    """No state is kept for this customer (never seen, or expired)."""


@dataclass(frozen=True, slots=True)
class Totals:
    debit_count: int = 0
    debit_minor: int = 0
    credit_count: int = 0
    credit_minor: int = 0

    def plus(self, direction: str, count: int, minor: int) -> Totals:
        if direction == "d":
            return Totals(self.debit_count + count, self.debit_minor + minor,
                          self.credit_count, self.credit_minor)  # fmt: skip
        return Totals(self.debit_count, self.debit_minor,
                      self.credit_count + count, self.credit_minor + minor)  # fmt: skip

    @property
    def net_minor(self) -> int:
        return self.credit_minor - self.debit_minor


@dataclass(frozen=True, slots=True)
class Baseline:
    kind: str
    n: int
    mean_minor: float
    std_minor: float


@dataclass(frozen=True)
class CustomerProfile:
    customer_id: str
    newest_ms: int
    windows: dict[int, Totals]
    """Window seconds -> totals ending at the newest event (the features' rules)."""
    channels_30d: dict[str, Totals]
    largest_inflow_minor: int
    salary_ms: tuple[int, ...]
    baselines: tuple[Baseline, ...]
    exact_events: int
    bucketed_days: int
    last_by_channel: dict[str, int] = field(default_factory=dict)


def _plus_bucket(totals: Totals, bucket: array, channel: int | None = None) -> Totals:
    """Add a day bucket's debit and credit entries (of one channel index, or all)."""
    for p in range(1, len(bucket), 3):
        code, count, minor = bucket[p], bucket[p + 1], bucket[p + 2]
        if code < 2 * len(CHANNELS) and (channel is None or code >> 1 == channel):
            totals = totals.plus("c" if code & 1 else "d", count, minor)
    return totals


def read_profile(client: redis.Redis, namespace: str, customer_id: str) -> CustomerProfile:
    """The profile as of the customer's newest event; raises ProfileNotFound."""
    try:
        raw = client.get(key(namespace, customer_id, "st"))
    except redis.RedisError as exc:
        msg = f"reading the profile of {customer_id} failed: {exc}"
        raise StateUnavailable(msg) from exc
    if not raw:
        msg = f"no state for customer {customer_id!r} in namespace {namespace!r}"
        raise ProfileNotFound(msg)
    state = load(raw)
    newest = int(state[NW])
    events = state[EV]
    buckets: dict[int, array] = state[B]
    windows: dict[int, Totals] = {}
    for seconds in WINDOWS:
        w = seconds * 1000
        totals = Totals()
        for e in events:
            if newest - w < e[0] <= newest:
                totals = totals.plus("c" if e[2] & 4 else "d", 1, int(e[3]))
        for day, b in buckets.items():
            if day * DAY_MS > newest - w:
                totals = _plus_bucket(totals, b)
        windows[seconds] = totals
    channels = {name: Totals() for name in CHANNEL_CODES}
    largest = 0
    for e in events:
        if e[0] > newest - 30 * DAY_MS:
            ch = _CHANNEL_OF[CHANNELS[e[2] >> 3]]
            credit = bool(e[2] & 4)
            channels[ch] = channels[ch].plus("c" if credit else "d", 1, int(e[3]))
            if credit:
                largest = max(largest, int(e[3]))
    for day, b in buckets.items():
        if day * DAY_MS > newest - 30 * DAY_MS:
            largest = max(largest, int(b[0]))
            for i, code in enumerate(CHANNELS):
                ch = _CHANNEL_OF[code]
                channels[ch] = _plus_bucket(channels[ch], b, i)
    salaries = [int(t) for t in state[SAL]] + [e[0] for e in events if e[2] & 7 == 4 + KIND_SALARY]
    baselines = []
    for kind, (n, mean, m2) in sorted(state[K].items()):
        std = math.sqrt(m2 / (n - 1)) if n >= 2 else 0.0
        baselines.append(Baseline(kind, int(n), float(mean), std))
    last = {
        _CHANNEL_OF[code]: int(t) for code, t in zip(CHANNELS, state[LC], strict=True) if t >= 0
    }
    for e in events:
        ch = _CHANNEL_OF[CHANNELS[e[2] >> 3]]
        last[ch] = max(last.get(ch, e[0]), e[0])
    return CustomerProfile(
        customer_id=customer_id,
        newest_ms=newest,
        windows=windows,
        channels_30d={k: v for k, v in channels.items() if v != Totals()},
        largest_inflow_minor=largest,
        salary_ms=tuple(sorted(salaries)[-6:]),
        baselines=tuple(baselines),
        exact_events=len(events),
        bucketed_days=len(buckets),
        last_by_channel=last,
    )


def _money(minor: float) -> str:
    return f"{minor / 100:,.2f}"


def _when(ms: int, tz: object) -> str:
    at = datetime.fromtimestamp(ms / 1000, UTC)
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")  # type: ignore[arg-type]


def render_profile(profile: CustomerProfile, tz: object) -> str:
    """The profile as a readable text page."""
    lines = [
        f"Customer {profile.customer_id}: profile as of {_when(profile.newest_ms, tz)}",
        f"  history: {profile.exact_events} events kept exactly (48 h + lateness), "
        f"{profile.bucketed_days} older days in buckets",
        "",
        "Windows (ending at the newest event)",
        f"  {'window':>6}  {'debits':>6} {'outflow':>14}  {'credits':>7} {'inflow':>14}  "
        f"{'net flow':>14}",
    ]
    for seconds, t in profile.windows.items():
        lines.append(
            f"  {window_label(seconds):>6}  {t.debit_count:>6} {_money(t.debit_minor):>14}  "
            f"{t.credit_count:>7} {_money(t.credit_minor):>14}  {_money(t.net_minor):>14}"
        )
    month = profile.windows[30 * 86400]
    lines += [
        "",
        "Income and expenditure, 30 days",
        f"  inflow {_money(month.credit_minor)}, outflow {_money(month.debit_minor)}, "
        f"net {_money(month.net_minor)}, largest inflow {_money(profile.largest_inflow_minor)}",
    ]
    if profile.salary_ms:
        days = ", ".join(_when(ms, tz)[:10] for ms in profile.salary_ms)
        lines.append(f"  salary credits: {days}")
    lines += ["", "By channel, 30 days"]
    for ch, t in sorted(profile.channels_30d.items()):
        last = profile.last_by_channel.get(ch)
        seen = f", last {_when(last, tz)}" if last is not None else ""
        lines.append(
            f"  {ch:<10} debits {t.debit_count} ({_money(t.debit_minor)}), "
            f"credits {t.credit_count} ({_money(t.credit_minor)}){seen}"
        )
    lines += ["", "Baselines per kind (all history kept)"]
    for b in profile.baselines:
        lines.append(
            f"  {b.kind:<16} n={b.n:<5} mean {_money(b.mean_minor):>12}  "
            f"std {_money(b.std_minor):>12}"
        )
    return "\n".join(lines) + "\n"
