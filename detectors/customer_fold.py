"""One customer's state blob: record an event and read its aggregates, in Python.

A customer belongs to exactly one shard and a shard to one worker, so the
customer's blob has a single writer: the state store holds it decoded
(``detectors/held_states.py``), folds every event here (a customer with
several events in a batch in arrival order) and writes it back at the end of
the batch. The blob is one MessagePack array (the ``msgpack`` C extension
packs it; ``detectors/profile.py`` reads it with :func:`load`). Its layout
(version 2) keeps the number of objects small, because packing it is paid
on every batch that changes the customer::

    [2, nw, pd, ids, ev, b, seen, lt, lc, geo, sal, k]

    nw   newest event ms                 pd   day of the last prune
    ids  txn id :func:`digest` -> ms of folded events within the dedup
         horizon, counted from :func:`time_base` (the log holds its own
         events' ids)
    ev   the exact log (48 h + lateness), in arrival order:
         [ms, txn, code, amount, merchant, device, country, counterparty,
          mcc, lat, lon], nil where absent; txn (the txn id), merchant, device
         and counterparty as their :func:`digest`; code = channel index * 8
         (CHANNEL_CODES order) + 4 for a credit + kind (0 other, 1 salary
         credit, 2 cash deposit, 3 cash withdrawal)
    b    UTC day -> [largest credit, then (bucket code, count, sum) triples]
         for events folded out of the log; bucket code = channel index * 2
         + 1 for a credit, 12 cash in, 13 cash out
    seen [merchants, devices, countries, counterparties, mccs], each
         value (digests for the first, second and fourth) -> ms of its
         latest folded sighting, counted from :func:`time_base` (so that it
         packs in 5 bytes, not 9)
    lt   latest folded event ms          lc   per channel index: latest folded ms, -1
    geo  [ms, lat, lon] latest folded card-present position (ms -1: none)
    sal  the six latest folded salary credits (ms)
    k    kind -> [n, mean, M2] (Welford, in arrival order)

Stored, the array is compressed with zstd (level 1, no dictionary), which
takes about 17 % off a 30-day customer's blob (~1,510 -> ~1,250 bytes in
bench.state) for ~10-15 us of CPU per write (decoding is rarer: only for
customers a worker does not hold); a blob that would not shrink is stored
as is, which :func:`load` tells by zstd's magic number (a MessagePack
array never starts with 0x28). Blobs of the former layout (a map, written
by an earlier version or by the Lua script before it, with one-letter
codes) are converted when read.
``detectors/state.py`` states what is exact; this module implements it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any

import msgpack
import zstandard

DAY = 86_400_000
_HOUR = 3_600_000
_W30, _W7 = 30 * DAY, 7 * DAY
#: Channel codes (CHANNEL_CODES order); a channel's index is its place here.
CHANNELS = "apomct"
#: Kinds as the fold tells them apart.
KIND_OTHER, KIND_SALARY, KIND_CASH_IN, KIND_CASH_OUT = 0, 1, 2, 3
_CREDIT = 4
#: Totals (StateUpdate.totals): per window 4 (debit count, sum, credit count,
#: sum); per channel 16 (its four windows); then cash, 4 per cash window.
_CH_BASE = 24
_CASH_BASE = _CH_BASE + 16 * len(CHANNELS)
N_TOTALS = _CASH_BASE + 12
#: Blob fields.
VERSION, NW, PD, IDS, EV, B, SEEN, LT, LC, GEO, SAL, K = range(12)
_CASH_IN_BUCKET, _CASH_OUT_BUCKET = 12, 13

_packer = msgpack.Packer(use_bin_type=True)
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: zstd contexts are not safe to share between threads (they release the GIL).
_zstd = threading.local()
#: A value the fold tells apart: a text (country, mcc) or an id's digest.
Value = int | str


def _bucket_slots() -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...]]:
    """Per bucket code: the totals' (count, sum) positions of its 30 d and its 7 d windows."""
    w30: list[tuple[int, ...]] = []
    w7: list[tuple[int, ...]] = []
    for code in range(12):
        slot = 2 * (code & 1)
        ch = _CH_BASE + 16 * (code >> 1) + slot
        w30.append((20 + slot, ch + 12))
        w7.append((16 + slot, ch + 8))
    for slot in (0, 2):
        w30.append(())
        w7.append((_CASH_BASE + 8 + slot,))
    return tuple(w30), tuple(w7)


_B30, _B7 = _bucket_slots()


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


def new_state() -> list[Any]:
    return [2, -1, -1, {}, [], {}, [{}, {}, {}, {}, {}], -1, [-1] * len(CHANNELS), [-1, None, None],
            [], {}]  # fmt: skip


def load(raw: bytes | None) -> list[Any]:
    """A blob as stored, or a new state."""
    if raw is None:
        return new_state()
    if raw.startswith(_ZSTD_MAGIC):
        raw = _contexts()[1].decompress(raw)
    s = msgpack.unpackb(raw, raw=False, strict_map_key=False, use_list=True)
    if isinstance(s, dict):
        return _from_map(s)
    return s


def dump(state: list[Any]) -> bytes:
    raw = _packer.pack(state)
    packed = _contexts()[0].compress(raw)
    return packed if len(packed) < len(raw) else raw


def _contexts() -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    """This thread's zstd compressor and decompressor."""
    pair = getattr(_zstd, "pair", None)
    if pair is None:
        pair = _zstd.pair = (zstandard.ZstdCompressor(level=1), zstandard.ZstdDecompressor())
    return pair


def digest(value: str | None) -> int | None:
    """A 64-bit digest of an id, kept instead of the id where ids are long.

    Merchant, device and counterparty ids are only ever compared for
    equality (distinct counts, first-seen flags), as are the txn ids of folded
    events (duplicates), so a digest serves; two different ids of one
    customer collide with odds of about k^2 / 2^65 for k ids of a kind (1e-15
    for a hundred), and a new txn id with a remembered one's with odds of
    k / 2^64.

    >>> digest("M-HGH-00006") == digest("M-HGH-00006") != digest("M-HGH-00007")
    True
    """
    if value is None:
        return None
    return int.from_bytes(blake2b(value.encode(), digest_size=8).digest(), "big")


def time_base(s: list[Any]) -> int:
    """The ms that sightings and folded ids are counted from: 20 days before the last prune's day.

    Every kept sighting lies within 30 days + lateness (at most a day) before
    the newest event, whose day is the last prune's, so its offset lies
    within about -11 and +21 days: a 32-bit int (as do the ids' with a dedup
    horizon up to 44 days).
    """
    return s[PD] * DAY - 20 * DAY


def _as_map(value: Any) -> dict:
    """cmsgpack packs an empty Lua table as an array: read it as an empty map."""
    return value if isinstance(value, dict) else {}


_OLD_KIND = {"o": KIND_OTHER, "s": KIND_SALARY, "x": KIND_CASH_IN, "w": KIND_CASH_OUT}


def _from_map(old: dict[str, Any]) -> list[Any]:
    """The former map layout (one-letter codes, '' for absent) in this layout."""
    s = new_state()

    def absent(v: Any) -> Any:
        return None if v == "" else v

    s[NW], s[PD], s[LT] = old.get("nw", -1), old.get("pd", -1), old.get("lt", -1)
    base = time_base(s)
    s[IDS] = {digest(i): t - base for i, t in _as_map(old.get("ids")).items()}
    events = old.get("ev") if isinstance(old.get("ev"), list) else []
    s[EV] = [
        [e[0], digest(e[1]),
         CHANNELS.index(e[3]) * 8 + (_CREDIT if e[2] == "c" else 0) + _OLD_KIND[e[4]],
         e[5], digest(absent(e[6])), digest(absent(e[7])), absent(e[8]), digest(absent(e[9])),
         *(absent(v) for v in e[10:13])]
        for e in events
    ]  # fmt: skip
    for day, old_bucket in _as_map(old.get("b")).items():
        bucket = [old_bucket.get("mx", 0)]
        for name, v in old_bucket.items():
            if name == "xi" or name == "xo":
                bucket += [_CASH_IN_BUCKET if name == "xi" else _CASH_OUT_BUCKET, v[0], v[1]]
            elif name != "mx":
                bucket += [CHANNELS.index(name[1]) * 2 + (name[0] == "c"), v[0], v[1]]
        s[B][int(day)] = bucket
    for name, t in _as_map(old.get("seen")).items():
        value = digest(name[1:]) if name[0] in "mdp" else name[1:]
        s[SEEN]["mdcpk".index(name[0])][value] = t - base
    for ch, t in _as_map(old.get("lc")).items():
        s[LC][CHANNELS.index(ch)] = t
    geo = old.get("geo") or [-1, "", ""]
    s[GEO] = [geo[0], absent(geo[1]), absent(geo[2])]
    s[SAL] = list(old.get("sal") or [])
    s[K] = _as_map(old.get("k"))
    return s


@dataclass(slots=True)
class Event:
    """One transaction as the fold sees it; fields None when absent."""

    txn: int
    """The txn id's :func:`digest`."""
    ts: int
    code: int
    """Channel index * 8 + 4 for a credit + kind (KIND_*)."""
    amount: int
    merchant: int | None
    """The merchant id's :func:`digest`, as are ``device`` and ``counterparty``."""
    device: int | None
    country: str | None
    counterparty: int | None
    mcc: str | None
    lat: float | None
    """Set for a card-present transaction with coordinates only (with ``lon``)."""
    lon: float | None
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
    every event of one day shares them for as long as the state is held.
    Events folded later are added to what is kept here; the daily prune
    forgets the days whose windows reached what it dropped. A new day's
    totals are derived from the day before's (the days leaving and entering
    its windows) rather than summed again from all thirty.
    """

    __slots__ = ("days", "distinct")

    def __init__(self) -> None:
        self.days: dict[int, list[int]] = {}
        """day -> totals of the buckets (N_TOTALS), then the largest folded credit."""
        self.distinct: dict[int, tuple[set[Value], ...]] = {}
        """day -> folded merchants, devices, countries, counterparties counted over 30 d."""

    def forget_through(self, pruned_day: int) -> None:
        """Buckets and sightings up to ``pruned_day`` were dropped: forget the days they reached."""
        for kept in (self.days, self.distinct):
            if kept:
                for on in [on for on in kept if on - 29 <= pruned_day]:
                    del kept[on]


#: Memo days kept beyond the one being read (older ones are summed again if asked for).
_MEMO_DAYS = 2


def _add_day(tot: list[int], bucket: list[int], sign: int, w30: bool, w7: bool) -> None:
    """Add (sign 1) or take away (-1) a day bucket's counts and sums in the 30 d / 7 d totals."""
    for p in range(1, len(bucket), 3):
        code = bucket[p]
        c = bucket[p + 1] * sign
        a = bucket[p + 2] * sign
        if w30:
            for i in _B30[code]:
                tot[i] += c
                tot[i + 1] += a
        if w7:
            for i in _B7[code]:
                tot[i] += c
                tot[i + 1] += a


def _bucket_totals(s: list[Any], day: int, memo: Memo) -> list[int]:
    """Day buckets that start inside a window of an event on ``day`` (edge rounded in)."""
    days = memo.days
    b = s[B]
    prev = max((on for on in days if on < day), default=None)
    if prev is not None and day - prev <= 7:
        # The day before's totals, moved on: days leave the 30 d and 7 d windows, days enter.
        tot = days[prev][:]
        for d in range(prev - 29, day - 29):
            if d in b:
                _add_day(tot, b[d], -1, True, False)
        for d in range(prev - 6, day - 6):
            if d in b:
                _add_day(tot, b[d], -1, False, True)
        for d in range(prev + 1, day + 1):
            if d in b:
                _add_day(tot, b[d], 1, True, True)
        tot[N_TOTALS] = max((b[d][0] for d in range(day - 29, day + 1) if d in b), default=0)
    else:
        tot = [0] * (N_TOTALS + 1)
        for d, bucket in b.items():
            if day - 29 <= d <= day:
                _add_day(tot, bucket, 1, True, d >= day - 6)
                if bucket[0] > tot[N_TOTALS]:
                    tot[N_TOTALS] = bucket[0]
    days[day] = tot
    if len(days) > _MEMO_DAYS:
        del days[min(days)]
    return tot


def _folded_distinct(s: list[Any], day: int, memo: Memo) -> tuple[set[Value], ...]:
    """Folded values whose latest sighting's day starts inside the 30 d window."""
    lo = (day - 29) * DAY - time_base(s)
    seen = s[SEEN]
    out = tuple({v for v, t in seen[k].items() if t >= lo} for k in range(4))
    kept = memo.distinct
    kept[day] = out
    if len(kept) > _MEMO_DAYS:
        del kept[min(kept)]
    return out


def _bump(bucket: list[int], code: int, amount: int) -> None:
    for p in range(1, len(bucket), 3):
        if bucket[p] == code:
            bucket[p + 1] += 1
            bucket[p + 2] += amount
            return
    bucket += (code, 1, amount)


def _fold(s: list[Any], e: list, memo: Memo) -> None:
    """Move one event leaving the exact log into its day bucket and the summaries."""
    t, code, amount = e[0], e[2], e[3]
    s[IDS][e[1]] = t - time_base(s)
    d = t // DAY
    b = s[B]
    bucket = b.get(d)
    if bucket is None:
        bucket = b[d] = [0]
    credit = code & _CREDIT
    kind = code & 3
    ch = code >> 3
    codes = [ch * 2 + (1 if credit else 0)]
    if kind == KIND_CASH_IN:
        codes.append(_CASH_IN_BUCKET)
    elif kind == KIND_CASH_OUT:
        codes.append(_CASH_OUT_BUCKET)
    one = [0, 0, 1, amount]
    for bc in codes:
        one[1] = bc
        for on, tot in memo.days.items():
            if on - 29 <= d <= on:
                _add_day(tot, one, 1, True, d >= on - 6)
        _bump(bucket, bc, amount)
    if credit:
        for on, tot in memo.days.items():
            if on - 29 <= d <= on and amount > tot[N_TOTALS]:
                tot[N_TOTALS] = amount
        if amount > bucket[0]:
            bucket[0] = amount
    for on, sets in memo.distinct.items():
        if d >= on - 29:
            for k in range(4):
                v = e[4 + k]
                if v is not None:
                    sets[k].add(v)
    if t > s[LT]:
        s[LT] = t
    lc = s[LC]
    if t > lc[ch]:
        lc[ch] = t
    if e[9] is not None and t > s[GEO][0]:
        s[GEO] = [t, e[9], e[10]]
    if kind == KIND_SALARY and credit:
        s[SAL] = sorted([*s[SAL], t])[-6:]
    seen = s[SEEN]
    rel = t - time_base(s)
    for k in range(5):
        v = e[4 + k]
        if v is not None:
            latest = seen[k].get(v)
            if latest is None or rel > latest:
                seen[k][v] = rel


def _record(s: list[Any], ev: Event, p: FoldParams, memo: Memo) -> None:
    """Append a fresh event, update its baseline, trim the log and prune old summaries."""
    log = s[EV]
    log.append([ev.ts, ev.txn, ev.code, ev.amount, ev.merchant, ev.device, ev.country,
                ev.counterparty, ev.mcc, ev.lat, ev.lon])  # fmt: skip
    baselines = s[K]
    n, mean, m2 = baselines.get(ev.base_kind) or (0, 0, 0)
    n1 = n + 1
    delta = ev.amount - mean
    mean1 = mean + delta / n1
    baselines[ev.base_kind] = [n1, mean1, m2 + delta * (ev.amount - mean1)]
    if ev.ts > s[NW]:
        s[NW] = ev.ts
    newest = s[NW]
    cutoff = newest - p.horizon
    if log[0][0] < cutoff or any(e[0] < cutoff for e in log):
        kept = []
        for e in log:
            if e[0] < cutoff:
                _fold(s, e, memo)
            else:
                kept.append(e)
        s[EV] = kept
    ids = s[IDS]
    if ids:
        floor_dedup = newest - p.dedup - time_base(s)
        for txn_id in [i for i, t in ids.items() if t < floor_dedup]:
            del ids[txn_id]
    today = newest // DAY
    if today > s[PD]:
        # Once per day of the newest event: drop buckets and sightings no window reaches.
        floor_ts = newest - p.retain
        s[B] = {d: b for d, b in s[B].items() if d * DAY > floor_ts}
        old_base = time_base(s)
        s[PD] = today
        floor_rel = floor_ts - old_base
        shift = time_base(s) - old_base
        s[SEEN] = [{v: t - shift for v, t in m.items() if t > floor_rel} for m in s[SEEN]]
        s[IDS] = {i: t - shift for i, t in s[IDS].items()}
        memo.forget_through(floor_ts // DAY)


def assess(s: list[Any], ev: Event, p: FoldParams, memo: Memo | None = None) -> Assessment:
    """Record ``ev`` in ``s`` (unless a duplicate or stale) and read its aggregates.

    Returns the assessment; ``s`` is changed only when the event is fresh.
    ``memo`` belongs to ``s``: pass the same one for every event of ``s``
    while it is held decoded (a new one after decoding again).
    """
    if memo is None:
        memo = Memo()
    ts = ev.ts
    txn = ev.txn
    n, mean, m2 = s[K].get(ev.base_kind) or (0, 0, 0)
    baseline = (int(n), float(mean), float(m2))
    seen_ts = s[IDS].get(txn)
    if seen_ts is not None:
        seen_ts += time_base(s)
    else:
        for e in s[EV]:
            if e[1] == txn:
                seen_ts = e[0]
    fresh = stale = False
    if seen_ts is not None:
        ts = seen_ts
    elif s[NW] >= 0 and ts < s[NW] - p.dedup:
        stale = True
    else:
        fresh = True
        _record(s, ev, p, memo)
    newest = s[NW]
    late = 2 if stale else (1 if ts < newest - p.lateness else 0)

    day = ts // DAY
    folded = memo.days.get(day)
    if folded is None:
        folded = _bucket_totals(s, day, memo)
    tot = folded[:N_TOTALS]
    max_in = folded[N_TOTALS]
    m24: set[Value | None] = set()
    v24: set[Value | None] = set()
    c24: set[Value | None] = set()
    p24: set[Value | None] = set()
    senders: set[Value | None] = set()
    recipients: set[Value | None] = set()
    m30: set[Value | None] = set()
    v30: set[Value | None] = set()
    c30: set[Value | None] = set()
    p30: set[Value | None] = set()
    # Whether another logged event in the 30 days up to this one has the
    # event's device, counterparty, country, mcc (its first-seen flags).
    dev, cp, country, mcc = ev.device, ev.counterparty, ev.country, ev.mcc
    seen_dev = seen_cp = seen_country = seen_mcc = False
    prev_ts = prev_ch_ts = geo_ts = -1
    geo_lat: float | None = None
    geo_lon: float | None = None
    geo_txn = -1
    first_credit = -1
    debits24: list[tuple[int, int]] = []
    salaries: list[int] = []
    my_ch = ev.code >> 3
    lo = ts - _W30
    for e in s[EV]:
        t = e[0]
        if t > ts or t <= lo:
            continue
        age = ts - t
        code = e[2]
        amount = e[3]
        credit = code & _CREDIT
        slot = 2 if credit else 0
        ch = code >> 3
        cb = _CH_BASE + 16 * ch + slot
        tot[20 + slot] += 1
        tot[21 + slot] += amount
        tot[cb + 12] += 1
        tot[cb + 13] += amount
        if age < _W7:
            tot[16 + slot] += 1
            tot[17 + slot] += amount
            tot[cb + 8] += 1
            tot[cb + 9] += amount
        kind = code & 3
        if kind >= KIND_CASH_IN:
            cs = _CASH_BASE + (0 if kind == KIND_CASH_IN else 2)
            if age < _W7:
                tot[cs + 8] += 1
                tot[cs + 9] += amount
                if age < 2 * DAY:
                    tot[cs + 4] += 1
                    tot[cs + 5] += amount
                    if age < DAY:
                        tot[cs] += 1
                        tot[cs + 1] += amount
        elif kind == KIND_SALARY and credit:
            salaries.append(t)
        if credit and amount > max_in:
            max_in = amount
        # Absent values (None) are added too, and taken out once after the scan.
        merchant, device, where, party = e[4], e[5], e[6], e[7]
        m30.add(merchant)
        v30.add(device)
        c30.add(where)
        p30.add(party)
        if age < DAY:
            tot[12 + slot] += 1
            tot[13 + slot] += amount
            tot[cb + 4] += 1
            tot[cb + 5] += amount
            if age < _HOUR:
                tot[8 + slot] += 1
                tot[9 + slot] += amount
                tot[cb] += 1
                tot[cb + 1] += amount
                if age < 600_000:
                    tot[4 + slot] += 1
                    tot[5 + slot] += amount
                    if age < 60_000:
                        tot[slot] += 1
                        tot[slot + 1] += amount
            m24.add(merchant)
            v24.add(device)
            c24.add(where)
            p24.add(party)
            if credit:
                senders.add(party)
                if first_credit < 0 or t < first_credit:
                    first_credit = t
            else:
                recipients.add(party)
                debits24.append((t, amount))
        if e[1] != txn:
            if t > prev_ts:
                prev_ts = t
            if ch == my_ch and t > prev_ch_ts:
                prev_ch_ts = t
            # Of two card-present events at the same ms, the greater txn digest.
            if e[9] is not None and (t > geo_ts or (t == geo_ts and e[1] > geo_txn)):
                geo_ts, geo_lat, geo_lon, geo_txn = t, e[9], e[10], e[1]
            if device == dev:
                seen_dev = True
            if party == cp:
                seen_cp = True
            if where == country:
                seen_country = True
            if e[8] == mcc:
                seen_mcc = True

    for values in (m24, v24, c24, p24, senders, recipients, m30, v30, c30, p30):
        values.discard(None)  # type: ignore[arg-type]
    passthrough = 0
    if first_credit >= 0:
        passthrough = sum(a for t, a in debits24 if t >= first_credit)

    # The folded history (day buckets, in ``folded`` above), then the
    # summaries, older than any logged event.
    if prev_ts < 0 and s[LT] >= 0:
        prev_ts = s[LT]
    if prev_ch_ts < 0:
        prev_ch_ts = s[LC][my_ch]
    geo = s[GEO]
    if geo_ts < 0 and geo[0] >= 0:
        geo_ts, geo_lat, geo_lon = geo[0], geo[1], geo[2]
    for t in s[SAL]:
        if t <= ts:
            salaries.append(t)

    # Distinct values over 30 d: logged ones, plus folded ones whose latest
    # sighting's day starts inside the window. First seen: no other sighting in
    # the 30 days up to the event, logged or folded (exact).
    fd = memo.distinct.get(day)
    if fd is None:
        fd = _folded_distinct(s, day, memo)
    seen = s[SEEN]
    lo_rel = lo - time_base(s)

    def new_flag(k: int, value: Value | None, logged: bool) -> int:
        if value is None or logged:
            return 0
        return 0 if seen[k].get(value, lo_rel) > lo_rel else 1

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
            len(m24),
            len(fd[0]) + len(m30 - fd[0]),
            len(v24),
            len(fd[1]) + len(v30 - fd[1]),
            len(c24),
            len(fd[2]) + len(c30 - fd[2]),
            len(p24),
            len(fd[3]) + len(p30 - fd[3]),
            len(senders),
            len(recipients),
        ),
        prev_ts=prev_ts,
        prev_ch_ts=prev_ch_ts,
        new_flags=(
            new_flag(1, dev, seen_dev),
            new_flag(3, cp, seen_cp),
            new_flag(2, country, seen_country),
            new_flag(4, mcc, seen_mcc),
        ),
        prev_geo=(geo_ts, float(geo_lat), float(geo_lon))  # type: ignore[arg-type]
        if geo_ts >= 0
        else None,
        baseline=baseline,
        salaries=tuple(salaries[-6:]),
    )
