"""One customer's state blob: record an event and read its aggregates, in Python.

A customer belongs to exactly one shard and a shard to one worker, so the
customer's blob has a single writer: the state store reads the blobs of a
batch in one MGET, folds every event here (a customer with several events in
the batch in arrival order, on one decoded blob) and writes them back in the
next round trip. Decoding and encoding use the ``msgpack`` C extension; the
blob's layout is the one ``detectors/profile.py`` reads (in Redis, with
``cmsgpack``):

    nw   newest event ms              pd   day of the last prune
    ids  txn_id -> ms of folded events within the dedup horizon (the log
         holds its own events' ids)
    ev   the exact log (48 h + lateness):
         [ms, txn_id, dir, ch, kind, amount, merchant, device, country,
          counterparty, mcc, lat, lon], '' where absent
    b    UTC day (a string) -> {dir+ch | xi | xo -> [count, sum], mx -> largest
         credit} for events folded out of the log
    seen '<type><value>' -> ms of its latest folded sighting (m merchant,
         d device, c country, p counterparty, k mcc)
    lt   latest folded event ms       lc   channel -> latest folded ms
    geo  [ms, lat, lon] latest folded card-present position
    sal  the six latest folded salary credits (ms)
    k    kind -> [n, mean, M2] (Welford, in arrival order)

``detectors/state.py`` states what is exact; this module implements it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

DAY = 86_400_000
_W = (60_000, 600_000, 3_600_000, DAY, 7 * DAY, 30 * DAY)
_CW = (3_600_000, DAY, 7 * DAY, 30 * DAY)
_CASHW = (DAY, 2 * DAY, 7 * DAY)
_W30, _W7 = 30 * DAY, 7 * DAY
#: Channel code -> index of its block in the totals (CHANNEL_CODES order).
_CHIDX = {"a": 0, "p": 1, "o": 2, "m": 3, "c": 4, "t": 5}
_CH_BASE = 4 * len(_W)
_CASH_BASE = _CH_BASE + 16 * len(_CHIDX)
N_TOTALS = _CASH_BASE + 4 * len(_CASHW)
#: Distinct-value prefixes of ``seen`` -> index in the 30-day distinct sets.
_PREFIX = {"m": 0, "d": 1, "c": 2, "p": 3}
#: Per window index: the positions of (count, sum) in the totals, for a
#: debit (slot 0) and a credit (slot 2); precomputed so the scan adds only.
_W_SLOTS = tuple((w, 4 * i) for i, w in enumerate(_W))
_CW_SLOTS = tuple((w, 4 * j) for j, w in enumerate(_CW))
_CASH_SLOTS = tuple((w, _CASH_BASE + 4 * i) for i, w in enumerate(_CASHW))

_packer = msgpack.Packer(use_bin_type=True)


@dataclass(frozen=True, slots=True)
class FoldParams:
    """Times in ms: the allowed lateness, the dedup horizon and the exact log's length."""

    lateness: int
    dedup: int

    @property
    def horizon(self) -> int:
        return 2 * DAY + self.lateness

    @property
    def retain(self) -> int:
        return 30 * DAY + self.lateness


def new_state() -> dict[str, Any]:
    return {"nw": -1, "pd": -1, "ids": {}, "ev": [], "b": {}, "seen": {}, "lt": -1, "lc": {},
            "geo": [-1, "", ""], "sal": [], "k": {}}  # fmt: skip


def _as_map(value: Any) -> dict:
    """cmsgpack packs an empty Lua table as an array: read it as an empty map."""
    return value if isinstance(value, dict) else {}


def load(raw: bytes | None) -> dict[str, Any]:
    """A blob as stored (by this module or by the former Lua script), or a new state."""
    if raw is None:
        return new_state()
    s = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    for name in ("ids", "b", "seen", "lc", "k"):
        s[name] = _as_map(s.get(name))
    if not isinstance(s.get("ev"), list):
        s["ev"] = []
    if not isinstance(s.get("sal"), list):
        s["sal"] = []
    return s


def dump(state: dict[str, Any]) -> bytes:
    return _packer.pack(state)


@dataclass(slots=True)
class Event:
    """One transaction as the fold sees it; text fields '' when absent."""

    txn_id: str
    ts: int
    dir: str
    ch: str
    kind: str
    """x cash deposit, w cash withdrawal, s salary credit, o other."""
    amount: int
    merchant: str
    device: str
    country: str
    counterparty: str
    mcc: str
    lat: float | str
    lon: float | str
    base_kind: str
    """The transaction's kind, which its amount baseline is kept under."""


@dataclass(slots=True)
class Assessment:
    """What the fold returns for one event (StateUpdate without its entities)."""

    fresh: bool
    newest: int
    late: int
    """0 in time, 1 later than the allowed lateness, 2 stale (not recorded)."""
    ts: int
    totals: list[int]
    passthrough: int
    max_inflow: int
    distinct: tuple[int, ...]
    prev_ts: int
    prev_ch_ts: int
    new_flags: tuple[int, int, int, int]
    prev_geo: tuple[int, float, float] | None
    baseline: tuple[int, float, float]
    salaries: tuple[int, ...]


class Memo:
    """The folded history's share of a customer's aggregates, per UTC day of an event.

    Which day buckets a window counts, and which folded sightings count as
    distinct over 30 d, depend only on the UTC day of the event assessed, so
    one customer's events of a batch share them. Events folded later in the
    batch are added to what is kept here; the daily prune forgets the days
    whose windows reached what it dropped.
    """

    __slots__ = ("days", "distinct")

    def __init__(self) -> None:
        self.days: dict[int, list[int]] = {}
        """day -> totals of the buckets (N_TOTALS), then the largest folded credit."""
        self.distinct: dict[int, tuple[set[str], ...]] = {}
        """day -> folded merchants, devices, countries, counterparties counted over 30 d."""

    def forget_through(self, pruned_day: int) -> None:
        """Buckets and sightings up to ``pruned_day`` were dropped: forget the days they reached."""
        for kept in (self.days, self.distinct):
            for on in [on for on in kept if on - 29 <= pruned_day]:
                del kept[on]


def _add_bucket(tot: list[int], k: str, v: Any, in7: bool) -> None:
    """Add one day bucket's entry to the 7 d and 30 d totals (and the largest credit)."""
    if k == "mx":
        if v > tot[N_TOTALS]:
            tot[N_TOTALS] = v
    elif k == "xi" or k == "xo":
        if in7:
            i = _CASH_BASE + 8 + (0 if k == "xi" else 2)
            tot[i] += v[0]
            tot[i + 1] += v[1]
    else:
        slot = 0 if k[0] == "d" else 2
        cbase = _CH_BASE + 16 * _CHIDX[k[1]] + slot
        c, a = v[0], v[1]
        tot[20 + slot] += c  # 30 d
        tot[21 + slot] += a
        tot[cbase + 12] += c
        tot[cbase + 13] += a
        if in7:
            tot[16 + slot] += c
            tot[17 + slot] += a
            tot[cbase + 8] += c
            tot[cbase + 9] += a


def _bucket_totals(s: dict[str, Any], day: int) -> list[int]:
    """Day buckets that start inside a window of an event on ``day`` (edge rounded in)."""
    tot = [0] * (N_TOTALS + 1)
    for d, b in s["b"].items():
        d = int(d)
        if day - 29 <= d <= day:
            in7 = d >= day - 6
            for k, v in b.items():
                _add_bucket(tot, k, v, in7)
    return tot


def _folded_distinct(s: dict[str, Any], day: int) -> tuple[set[str], ...]:
    """Folded values whose latest sighting's day starts inside the 30 d window."""
    out: tuple[set[str], ...] = (set(), set(), set(), set())
    month_day = day - 29
    for name, t in s["seen"].items():
        k = _PREFIX.get(name[0])
        if k is not None and t // DAY >= month_day:
            out[k].add(name[1:])
    return out


def _bump(b: dict, k: str, amount: int) -> None:
    v = b.get(k)
    if v is None:
        b[k] = [1, amount]
    else:
        v[0] += 1
        v[1] += amount


def _fold(s: dict[str, Any], e: list, memo: Memo) -> None:
    """Move one event leaving the exact log into its day bucket and the summaries."""
    t, dir_, ch, kind, amount = e[0], e[2], e[3], e[4], e[5]
    s["ids"][e[1]] = t
    d = t // DAY
    day = str(d)
    b = s["b"].get(day)
    if b is None:
        b = s["b"][day] = {}
    for on, tot in memo.days.items():
        if on - 29 <= d <= on:
            in7 = d >= on - 6
            _add_bucket(tot, dir_ + ch, (1, amount), in7)
            if kind == "x":
                _add_bucket(tot, "xi", (1, amount), in7)
            elif kind == "w":
                _add_bucket(tot, "xo", (1, amount), in7)
            if dir_ == "c":
                _add_bucket(tot, "mx", amount, in7)
    for on, sets in memo.distinct.items():
        if d >= on - 29:
            for k, v in enumerate(e[6:10]):
                if v != "":
                    sets[k].add(v)
    _bump(b, dir_ + ch, amount)
    if kind == "x":
        _bump(b, "xi", amount)
    elif kind == "w":
        _bump(b, "xo", amount)
    if dir_ == "c" and amount > b.get("mx", 0):
        b["mx"] = amount
    if t > s["lt"]:
        s["lt"] = t
    lc = s["lc"]
    if t > lc.get(ch, -1):
        lc[ch] = t
    if e[11] != "" and t > s["geo"][0]:
        s["geo"] = [t, e[11], e[12]]
    if kind == "s":
        sal = sorted([*s["sal"], t])
        s["sal"] = sal[-6:]
    seen = s["seen"]
    for name in ("m" + e[6], "d" + e[7], "c" + e[8], "p" + e[9], "k" + e[10]):
        if len(name) > 1 and t > seen.get(name, -1):
            seen[name] = t


def _record(s: dict[str, Any], ev: Event, p: FoldParams, memo: Memo) -> None:
    """Append a fresh event, update its baseline, trim the log and prune old summaries."""
    s["ev"].append([ev.ts, ev.txn_id, ev.dir, ev.ch, ev.kind, ev.amount, ev.merchant, ev.device,
                    ev.country, ev.counterparty, ev.mcc, ev.lat, ev.lon])  # fmt: skip
    n, mean, m2 = s["k"].get(ev.base_kind) or (0, 0, 0)
    n1 = n + 1
    delta = ev.amount - mean
    mean1 = mean + delta / n1
    s["k"][ev.base_kind] = [n1, mean1, m2 + delta * (ev.amount - mean1)]
    if ev.ts > s["nw"]:
        s["nw"] = ev.ts
    newest = s["nw"]
    cutoff = newest - p.horizon
    if any(e[0] < cutoff for e in s["ev"]):
        kept = []
        for e in s["ev"]:
            if e[0] < cutoff:
                _fold(s, e, memo)
            else:
                kept.append(e)
        s["ev"] = kept
    floor_dedup = newest - p.dedup
    ids = s["ids"]
    if ids:
        for txn_id in [i for i, t in ids.items() if t < floor_dedup]:
            del ids[txn_id]
    today = newest // DAY
    if today > s["pd"]:
        # Once per day of the newest event: drop buckets and sightings no window reaches.
        floor_ts = newest - p.retain
        s["b"] = {d: b for d, b in s["b"].items() if int(d) * DAY > floor_ts}
        s["seen"] = {n: t for n, t in s["seen"].items() if t > floor_ts}
        s["pd"] = today
        memo.forget_through(floor_ts // DAY)


def assess(s: dict[str, Any], ev: Event, p: FoldParams, memo: Memo | None = None) -> Assessment:
    """Record ``ev`` in ``s`` (unless a duplicate or stale) and read its aggregates.

    Returns the assessment; ``s`` is changed only when the event is fresh.
    ``memo`` belongs to ``s``: pass the same one for every event of ``s``
    while it is held decoded (a new one after decoding again).
    """
    if memo is None:
        memo = Memo()
    ts = ev.ts
    txn_id = ev.txn_id
    n, mean, m2 = s["k"].get(ev.base_kind) or (0, 0, 0)
    baseline = (int(n), float(mean), float(m2))
    seen_ts = s["ids"].get(txn_id)
    if seen_ts is None:
        for e in s["ev"]:
            if e[1] == txn_id:
                seen_ts = e[0]
    fresh = stale = False
    if seen_ts is not None:
        ts = seen_ts
    elif s["nw"] >= 0 and ts < s["nw"] - p.dedup:
        stale = True
    else:
        fresh = True
        _record(s, ev, p, memo)
    newest = s["nw"]
    late = 2 if stale else (1 if ts < newest - p.lateness else 0)

    # The exact log, up to the event's time.
    day = ts // DAY
    folded = memo.days.get(day)
    if folded is None:
        folded = memo.days[day] = _bucket_totals(s, day)
    tot = folded[:N_TOTALS]
    max_in = folded[N_TOTALS]
    d24: tuple[set, ...] = (set(), set(), set(), set(), set(), set())
    d30: tuple[set, ...] = (set(), set(), set(), set())
    # Whether another logged event in the 30 days up to this one has the
    # event's device, counterparty, country, mcc (its first-seen flags).
    dev, cp, country, mcc = ev.device, ev.counterparty, ev.country, ev.mcc
    seen_dev = seen_cp = seen_country = seen_mcc = False
    prev_ts = prev_ch_ts = geo_ts = -1
    geo_lat: float | str = ""
    geo_lon: float | str = ""
    geo_id = ""
    first_credit = None
    debits24: list[tuple[int, int]] = []
    salaries: list[int] = []
    my_ch = ev.ch
    lo = ts - _W30
    for e in s["ev"]:
        t = e[0]
        if t > ts or t <= lo:
            continue
        age = ts - t
        dir_, ch, kind, amount = e[2], e[3], e[4], e[5]
        credit = dir_ == "c"
        slot = 2 if credit else 0
        for w, i in _W_SLOTS:
            if age < w:
                tot[i + slot] += 1
                tot[i + slot + 1] += amount
        cbase = _CH_BASE + 16 * _CHIDX[ch] + slot
        for w, i in _CW_SLOTS:
            if age < w:
                tot[cbase + i] += 1
                tot[cbase + i + 1] += amount
        if kind == "x" or kind == "w":
            cslot = 0 if kind == "x" else 2
            for w, i in _CASH_SLOTS:
                if age < w:
                    tot[i + cslot] += 1
                    tot[i + cslot + 1] += amount
        if credit and amount > max_in:
            max_in = amount
        in_day = age < DAY
        for k in range(4):
            v = e[6 + k]
            if v != "":
                d30[k].add(v)
                if in_day:
                    d24[k].add(v)
        if in_day:
            if e[9] != "":
                d24[4 if credit else 5].add(e[9])
            if credit:
                if first_credit is None or t < first_credit:
                    first_credit = t
            else:
                debits24.append((t, amount))
        if kind == "s":
            salaries.append(t)
        if e[1] != txn_id:
            if t > prev_ts:
                prev_ts = t
            if ch == my_ch and t > prev_ch_ts:
                prev_ch_ts = t
            if e[11] != "" and (t > geo_ts or (t == geo_ts and e[1] + "|" > geo_id)):
                geo_ts, geo_lat, geo_lon, geo_id = t, e[11], e[12], e[1] + "|"
            if e[7] == dev:
                seen_dev = True
            if e[9] == cp:
                seen_cp = True
            if e[8] == country:
                seen_country = True
            if e[10] == mcc:
                seen_mcc = True

    passthrough = 0
    if first_credit is not None:
        passthrough = sum(a for t, a in debits24 if t >= first_credit)

    # The folded history (day buckets, in ``folded`` above), then the
    # summaries, older than any logged event.
    if prev_ts < 0 and s["lt"] >= 0:
        prev_ts = s["lt"]
    if prev_ch_ts < 0 and my_ch in s["lc"]:
        prev_ch_ts = s["lc"][my_ch]
    geo = s["geo"]
    if geo_ts < 0 and geo[0] >= 0:
        geo_ts, geo_lat, geo_lon = geo[0], geo[1], geo[2]
    salaries.extend(t for t in s["sal"] if t <= ts)

    # Distinct values over 30 d: logged ones, plus folded ones whose latest
    # sighting's day starts inside the window. First seen: no other sighting in
    # the 30 days up to the event, logged or folded (exact).
    fd = memo.distinct.get(day)
    if fd is None:
        fd = memo.distinct[day] = _folded_distinct(s, day)
    n30 = tuple(len(fd[k]) + len(d30[k] - fd[k]) for k in range(4))
    seen = s["seen"]

    def new_flag(prefix: str, value: str, logged: bool) -> int:
        if value == "" or logged:
            return 0
        return 0 if seen.get(prefix + value, lo) > lo else 1

    salaries.sort()
    return Assessment(
        fresh=fresh,
        newest=newest,
        late=late,
        ts=ts,
        totals=tot,
        passthrough=passthrough,
        max_inflow=max_in,
        distinct=(
            len(d24[0]),
            n30[0],
            len(d24[1]),
            n30[1],
            len(d24[2]),
            n30[2],
            len(d24[3]),
            n30[3],
            len(d24[4]),
            len(d24[5]),
        ),
        prev_ts=prev_ts,
        prev_ch_ts=prev_ch_ts,
        new_flags=(
            new_flag("d", dev, seen_dev),
            new_flag("p", cp, seen_cp),
            new_flag("c", country, seen_country),
            new_flag("k", mcc, seen_mcc),
        ),
        prev_geo=(geo_ts, float(geo_lat), float(geo_lon)) if geo_ts >= 0 else None,
        baseline=baseline,
        salaries=tuple(salaries[-6:]),
    )
