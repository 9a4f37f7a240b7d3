# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The customer fold, compiled: record one event in a customer's state and read its aggregates.

``detectors/customer_fold.py`` gives the state's layout (version 2) and its
encoding, and re-exports this module's names; this module is the per-event
work on the decoded state, the hottest Python of the monitor when it was
interpreted (about a third of bench.state's features stage). It is the only
copy of the fold. Why compiled, and how:

- every event scans its customer's exact log (48 h + lateness) into 132
  totals and ten distinct counts; interpreted, each addition made and
  dropped a Python int and each distinct value went through a set. Here the
  totals are a C array of ``long long`` (the memo's days too,
  :class:`DayTotals`), the log's fields are read once into C integers, and
  distinct merchants, devices and counterparties are counted by sorting
  their 64-bit digests, countries (texts) by comparing the objects: the
  same values the sets held, so the same counts;
- the memo keeps, per day, how many folded values count over 30 d
  (:class:`DayDistinct`) rather than the four sets of them: a value counts
  exactly when its latest folded sighting is inside the day's window, which
  the state's ``seen`` maps already tell;
- the state stays the Python lists and dicts that MessagePack decodes and
  encodes, changed in the same order as before (dicts keep their insertion
  order), so the blobs are byte-identical to the interpreted fold's
  (``python -m bench.fold --fold-module OLD.py`` folds the simulator's
  traffic through both and counts the assessments and blobs that differ);
  except the day buckets (``s[B]``'s values): ``array('q')``, read and
  bumped here through their C buffer, not lists of Python ints (most of a
  decoded state's objects, built and freed per event for a customer the
  worker does not hold); ``detectors/blob_pack.pyx`` decodes them into
  arrays and packs them as the lists of ints they were, so the bytes are
  unchanged;
- sums are ``long long``: exact while a customer's amounts over 30 days stay
  below 9.2e18 minor units (max_amount is 1e11 minor units by default, so
  some 92 million maximal events in 30 days); baselines are the same IEEE
  doubles Python's floats are (amounts below 2^53).

Built by ``pip install -e .`` (``make install``: setup.py cythonizes this
file with the Cython pinned in pyproject's [build-system], gcc compiles it
beside this file); the Makefile's install stamp watches this file and
setup.py, so ``make install`` (or any make target) rebuilds after an edit,
and ``make clean`` removes the .c and .so. There is no interpreted
fallback: tests/test_fold_compiled.py fails unless the compiled module is
the one imported.

The state store's per-event glue around the fold lives here too (at the
end), so that it calls the fold in C: :func:`digest` (BLAKE2b of an id),
:class:`EventCodes` (a Transaction made an Event), :func:`fold_part` (a
part of a batch folded and noted at its entities) and :class:`UpdateMaker`
(its StateUpdates); tests/test_state_glue.py holds them to the Python they
replaced.
"""

from cpython.array cimport array, clone, resize_smart
from cpython.dict cimport PyDict_GetItem, PyDict_Next, PyDict_SetItem
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE, PyList_New, PyList_SET_ITEM
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport Py_EQ, PyObject, PyObject_RichCompareBool
from cpython.ref cimport Py_INCREF
from libc.stdlib cimport qsort
from libc.string cimport memcpy, memset

import array as _array

COMPILED = True

#: An empty ``array('q')``: what an assessment's totals and a new day bucket are cloned from.
cdef array _LONG_LONGS = _array.array("q")

cdef long long DAY = 86_400_000
cdef long long _HOUR = 3_600_000
cdef long long _W30 = 30 * 86_400_000
cdef long long _W7 = 7 * 86_400_000
cdef long long _2DAYS = 2 * 86_400_000

# Blob fields and codes: as customer_fold.py (VERSION, NW, ... K; KIND_*; bucket codes).
cdef enum:
    NW = 1
    PD = 2
    IDS = 3
    EV = 4
    B = 5
    SEEN = 6
    LT = 7
    LC = 8
    GEO = 9
    SAL = 10
    K = 11
    KIND_OTHER = 0
    KIND_SALARY = 1
    KIND_CASH_IN = 2
    KIND_CASH_OUT = 3
    _CREDIT = 4
    _CASH_IN_BUCKET = 12
    _CASH_OUT_BUCKET = 13
    # Totals: per window 4; per channel 16 (6 channels); then cash, 4 per cash window.
    _CH_BASE = 24
    _CASH_BASE = 24 + 16 * 6
    N_TOTALS = 24 + 16 * 6 + 12
    #: Memo days kept beyond the one being read (older ones are summed again if asked for).
    _MEMO_DAYS = 2

#: The constants above as Python sees them: tests/test_fold_compiled.py holds them to
#: customer_fold.py's, which documents the layout.
LAYOUT = {"VERSION": 0, "NW": NW, "PD": PD, "IDS": IDS, "EV": EV, "B": B, "SEEN": SEEN,
          "LT": LT, "LC": LC, "GEO": GEO, "SAL": SAL, "K": K, "DAY": DAY, "CHANNELS": 6,
          "N_TOTALS": N_TOTALS, "KIND_OTHER": KIND_OTHER, "KIND_SALARY": KIND_SALARY,
          "KIND_CASH_IN": KIND_CASH_IN, "KIND_CASH_OUT": KIND_CASH_OUT}


cdef class FoldParams:
    """Times in ms: the allowed lateness, the dedup horizon and the exact log's length."""

    cdef readonly long long lateness
    cdef readonly long long dedup

    def __init__(self, long long lateness, long long dedup):
        self.lateness = lateness
        self.dedup = dedup

    @property
    def horizon(self):
        return 2 * DAY + self.lateness

    @property
    def retain(self):
        return 30 * DAY + self.lateness

    def __eq__(self, other):
        if not isinstance(other, FoldParams):
            return NotImplemented
        o = <FoldParams>other
        return self.lateness == o.lateness and self.dedup == o.dedup

    def __hash__(self):
        return hash((self.lateness, self.dedup))

    def __repr__(self):
        return f"FoldParams(lateness={self.lateness}, dedup={self.dedup})"


cdef class Event:
    """One transaction as the fold sees it; fields None when absent.

    ``txn``, ``merchant``, ``device`` and ``counterparty`` are the ids'
    digests (customer_fold.digest); ``code`` is channel index * 8 + 4 for a
    credit + kind (KIND_*); ``lat``/``lon`` are set for a card-present
    transaction with coordinates only; ``base_kind`` is the transaction's
    kind, which its amount baseline is kept under.
    """

    cdef public object txn
    cdef public long long ts
    cdef public long long code
    cdef public long long amount
    cdef public object merchant
    cdef public object device
    cdef public object country
    cdef public object counterparty
    cdef public object mcc
    cdef public object lat
    cdef public object lon
    cdef public object base_kind

    def __init__(self, txn, long long ts, long long code, long long amount, merchant, device,
                 country, counterparty, mcc, lat, lon, base_kind):
        self.txn = txn
        self.ts = ts
        self.code = code
        self.amount = amount
        self.merchant = merchant
        self.device = device
        self.country = country
        self.counterparty = counterparty
        self.mcc = mcc
        self.lat = lat
        self.lon = lon
        self.base_kind = base_kind

    def __repr__(self):
        return (f"Event(txn={self.txn}, ts={self.ts}, code={self.code}, amount={self.amount}, "
                f"merchant={self.merchant}, device={self.device}, country={self.country!r}, "
                f"counterparty={self.counterparty}, mcc={self.mcc!r}, lat={self.lat}, "
                f"lon={self.lon}, base_kind={self.base_kind!r})")


cdef class Assessment:
    """What the fold returns for one event (StateUpdate without its entities).

    ``late``: 0 in time, 1 later than the allowed lateness, 2 stale (not recorded).
    """

    cdef readonly bint fresh
    cdef readonly long long newest
    cdef readonly int late
    cdef readonly long long ts
    cdef readonly array totals
    cdef readonly long long passthrough
    cdef readonly long long max_inflow
    cdef readonly tuple distinct
    cdef readonly long long prev_ts
    cdef readonly long long prev_ch_ts
    cdef readonly tuple new_flags
    cdef readonly object prev_geo
    cdef readonly tuple baseline
    cdef readonly tuple salaries

    _FIELDS = ("fresh", "newest", "late", "ts", "totals", "passthrough", "max_inflow",
               "distinct", "prev_ts", "prev_ch_ts", "new_flags", "prev_geo", "baseline",
               "salaries")

    def as_tuple(self):
        """Every field in order (comparisons, tests)."""
        return tuple(getattr(self, f) for f in Assessment._FIELDS)

    def __eq__(self, other):
        if not isinstance(other, Assessment):
            return NotImplemented
        return self.as_tuple() == (<Assessment>other).as_tuple()

    def __repr__(self):
        return "Assessment(" + ", ".join(
            f"{f}={getattr(self, f)!r}" for f in Assessment._FIELDS) + ")"


cdef class DayTotals:
    """The folded history's totals for one UTC day (N_TOTALS), then its largest folded credit."""

    cdef long long v[N_TOTALS + 1]

    def as_list(self):
        return [self.v[i] for i in range(N_TOTALS + 1)]


cdef class DayDistinct:
    """How many folded values of each kind count as distinct over 30 d for one UTC day.

    A folded value counts for day D when its latest folded sighting is at or
    after ``lo`` (the start of day D - 29, in epoch ms). Sightings only move
    later, and the daily prune drops only sightings older than every kept
    day's ``lo``, so a value counts exactly when ``seen`` says so: a value
    that a later fold makes count is added here once, when its sighting
    crosses ``lo`` (``_fold``).
    """

    cdef long long lo
    cdef long long n[4]


cdef class Memo:
    """The folded history's share of a customer's aggregates, per UTC day of an event.

    Which day buckets a window counts, and which folded sightings count as
    distinct over 30 d, depend only on the UTC day of the event assessed, so
    every event of one day shares them for as long as the state is held.
    Events folded later are added to what is kept here; the daily prune
    forgets the days whose windows reached what it dropped. A new day's
    totals are derived from the day before's (the days leaving and entering
    its windows) rather than summed again from all thirty.
    """

    cdef public dict days
    """day -> DayTotals of the buckets."""
    cdef public dict distinct
    """day -> DayDistinct: how many folded merchants, devices, countries, counterparties
    count over 30 d."""

    def __init__(self):
        self.days = {}
        self.distinct = {}

    cpdef forget_through(self, long long pruned_day):
        """Buckets and sightings up to ``pruned_day`` were dropped: forget the days they reached."""
        for kept in (self.days, self.distinct):
            if kept:
                for o in [o for o in <dict>kept if <long long>o - 29 <= pruned_day]:
                    del (<dict>kept)[o]


cdef inline long long _time_base(list s) except? -1:
    """The ms that sightings and folded ids are counted from (customer_fold.time_base)."""
    return <long long>s[PD] * DAY - 20 * DAY


cdef inline long long _day_of(long long ms) noexcept:
    """The UTC day of an epoch ms, floored as Python's ``//`` (C's division truncates)."""
    cdef long long d = ms // DAY
    if ms < 0 and d * DAY != ms:
        d -= 1
    return d


# Cython's own int conversions (inline, digit by digit) cost a fraction of
# PyLong_AsLongLong's call: there are dozens per event.
cdef inline long long _i(object v) except? -1:
    return v


include "cpython_ints.pxi"


cdef inline bint rw_u64(object o, unsigned long long* u) noexcept:
    """A non-negative int below 2^64 (digests) read from CPython's digits into *u
    (Cython's conversion calls PyLong_AsUnsignedLongLong beyond two digits);
    False: not read here (another layout, a negative or larger int)."""
    cdef long long v
    cdef int read = rw_read_int(o, &v, u)
    if read == 1 and v >= 0:
        u[0] = <unsigned long long>v
        return True
    return read == 2


cdef inline unsigned long long _u64(object v) except? 0:
    cdef unsigned long long u
    if type(v) is int and rw_u64(v, &u):
        return u
    return v


cdef inline long long _item(list row, Py_ssize_t i) except? -1:
    return <object>PyList_GET_ITEM(row, i)


cdef inline void _add_code(long long* tot, long long code, long long c, long long a,
                           bint w30, bint w7) noexcept:
    """Add ``c`` events summing ``a`` of one bucket code to the 30 d and 7 d totals."""
    cdef long long slot, ch
    if code < 12:
        slot = 2 * (code & 1)
        ch = _CH_BASE + 16 * (code >> 1) + slot
        if w30:
            tot[20 + slot] += c
            tot[21 + slot] += a
            tot[ch + 12] += c
            tot[ch + 13] += a
        if w7:
            tot[16 + slot] += c
            tot[17 + slot] += a
            tot[ch + 8] += c
            tot[ch + 9] += a
    elif w7:
        slot = _CASH_BASE + 8 + (0 if code == _CASH_IN_BUCKET else 2)
        tot[slot] += c
        tot[slot + 1] += a


cdef int _add_day(long long* tot, array bucket, long long sign, bint w30, bint w7) except -1:
    """Add (sign 1) or take away (-1) a day bucket's counts and sums in the 30 d / 7 d totals."""
    cdef Py_ssize_t p, n = len(bucket)
    cdef long long* v = bucket.data.as_longlongs
    for p in range(1, n - 2, 3):
        _add_code(tot, v[p], v[p + 1] * sign, v[p + 2] * sign, w30, w7)
    return 0


cdef DayTotals _bucket_totals(list s, long long day, Memo memo):
    """Day buckets that start inside a window of an event on ``day`` (edge rounded in)."""
    cdef dict days = memo.days
    cdef dict b = s[B]
    cdef DayTotals out = DayTotals.__new__(DayTotals)
    cdef long long* tot = out.v
    cdef long long d, on, prev = 0, mx
    cdef bint has_prev = False
    cdef object bucket
    for o in days:
        on = o
        if on < day and (not has_prev or on > prev):
            prev, has_prev = on, True
    if has_prev and day - prev <= 7:
        # The day before's totals, moved on: days leave the 30 d and 7 d windows, days enter.
        memcpy(tot, (<DayTotals>days[prev]).v, sizeof(long long) * (N_TOTALS + 1))
        for d in range(prev - 29, day - 29):
            bucket = b.get(d)
            if bucket is not None:
                _add_day(tot, <array?>bucket, -1, True, False)
        for d in range(prev - 6, day - 6):
            bucket = b.get(d)
            if bucket is not None:
                _add_day(tot, <array?>bucket, -1, False, True)
        for d in range(prev + 1, day + 1):
            bucket = b.get(d)
            if bucket is not None:
                _add_day(tot, <array?>bucket, 1, True, True)
        mx = 0
        for d in range(day - 29, day + 1):
            bucket = b.get(d)
            if bucket is not None and (<array?>bucket).data.as_longlongs[0] > mx:
                mx = (<array>bucket).data.as_longlongs[0]
        tot[N_TOTALS] = mx
    else:
        memset(tot, 0, sizeof(long long) * (N_TOTALS + 1))
        for o, bucket in b.items():
            d = o
            if day - 29 <= d <= day:
                _add_day(tot, <array?>bucket, 1, True, d >= day - 6)
                if (<array>bucket).data.as_longlongs[0] > tot[N_TOTALS]:
                    tot[N_TOTALS] = (<array>bucket).data.as_longlongs[0]
    days[day] = out
    if len(days) > _MEMO_DAYS:
        del days[min(days)]
    return out


cdef DayDistinct _folded_distinct(list s, long long day, Memo memo):
    """How many folded values have their latest sighting's day start inside the 30 d window."""
    cdef DayDistinct out = DayDistinct.__new__(DayDistinct)
    cdef long long lo_rel
    cdef list seen = s[SEEN]
    cdef Py_ssize_t pos
    cdef PyObject* key
    cdef PyObject* value
    cdef dict m
    cdef int k
    out.lo = (day - 29) * DAY
    lo_rel = out.lo - _time_base(s)
    for k in range(4):
        out.n[k] = 0
        pos = 0
        m = <dict>seen[k]
        while PyDict_Next(m, &pos, &key, &value):
            if _i(<object>value) >= lo_rel:
                out.n[k] += 1
    kept = memo.distinct
    kept[day] = out
    if len(kept) > _MEMO_DAYS:
        del kept[min(kept)]
    return out


cdef int _bump(array bucket, long long code, long long amount) except -1:
    """Count one event of ``amount`` under ``code`` in a day bucket (a new triple if none)."""
    cdef Py_ssize_t p, n = len(bucket)
    cdef long long* v = bucket.data.as_longlongs
    for p in range(1, n - 2, 3):
        if v[p] == code:
            v[p + 1] += 1
            v[p + 2] += amount
            return 0
    resize_smart(bucket, n + 3)
    v = bucket.data.as_longlongs
    v[n] = code
    v[n + 1] = 1
    v[n + 2] = amount
    return 0


cdef int _fold(list s, list e, Memo memo) except -1:
    """Move one event leaving the exact log into its day bucket and the summaries."""
    cdef long long t = _item(e, 0), code = _item(e, 2), amount = _item(e, 3)
    cdef long long base = _time_base(s)
    cdef long long d = _day_of(t), on, bc, rel
    cdef long long credit = code & _CREDIT, kind = code & 3, ch = code >> 3
    cdef long long codes[2]
    cdef int ncodes = 1, i, k
    cdef DayTotals dt
    s[IDS][e[1]] = t - base
    cdef dict b = s[B]
    cdef array bucket
    found = b.get(d)
    if found is None:
        bucket = clone(_LONG_LONGS, 1, False)
        bucket.data.as_longlongs[0] = 0
        b[d] = bucket
    else:
        bucket = <array?>found
    codes[0] = ch * 2 + (1 if credit else 0)
    if kind == KIND_CASH_IN:
        codes[1] = _CASH_IN_BUCKET
        ncodes = 2
    elif kind == KIND_CASH_OUT:
        codes[1] = _CASH_OUT_BUCKET
        ncodes = 2
    for i in range(ncodes):
        bc = codes[i]
        for o, dto in memo.days.items():
            on = o
            if on - 29 <= d <= on:
                _add_code((<DayTotals>dto).v, bc, 1, amount, True, d >= on - 6)
        _bump(bucket, bc, amount)
    if credit:
        for o, dto in memo.days.items():
            on = o
            dt = <DayTotals>dto
            if on - 29 <= d <= on and amount > dt.v[N_TOTALS]:
                dt.v[N_TOTALS] = amount
        if amount > bucket.data.as_longlongs[0]:
            bucket.data.as_longlongs[0] = amount
    seen = <list>s[SEEN]
    cdef DayDistinct dd
    for o, ddo in memo.distinct.items():
        on = o
        dd = <DayDistinct>ddo
        if d >= on - 29:
            # The value starts to count for that day if its sighting so far did not.
            for k in range(4):
                v = e[4 + k]
                if v is not None:
                    latest = (<dict>seen[k]).get(v)
                    if latest is None or _i(latest) + base < dd.lo:
                        dd.n[k] += 1
    if t > _i(s[LT]):
        s[LT] = t
    lc = <list>s[LC]
    if t > _i(lc[ch]):
        lc[ch] = t
    if e[9] is not None and t > _i(s[GEO][0]):
        s[GEO] = [t, e[9], e[10]]
    if kind == KIND_SALARY and credit:
        s[SAL] = sorted([*s[SAL], t])[-6:]
    rel = t - base
    for k in range(5):
        v = e[4 + k]
        if v is not None:
            m = <dict>seen[k]
            latest = m.get(v)
            if latest is None or rel > _i(latest):
                m[v] = rel
    return 0


cdef int _record(list s, Event ev, FoldParams p, Memo memo) except -1:
    """Append a fresh event, update its baseline, trim the log and prune old summaries."""
    cdef list log = s[EV]
    cdef long long newest, cutoff, floor_dedup, today, floor_ts, old_base, floor_rel, shift
    cdef long long n
    cdef double mean, m2, delta, mean1, amount = <double>ev.amount
    cdef Py_ssize_t i, nlog
    cdef bint any_old = False
    log.append([ev.ts, ev.txn, ev.code, ev.amount, ev.merchant, ev.device, ev.country,
                ev.counterparty, ev.mcc, ev.lat, ev.lon])
    baselines = <dict>s[K]
    known = baselines.get(ev.base_kind) or (0, 0, 0)
    # Python's int/float arithmetic on doubles, as the interpreted fold did (amounts < 2^53).
    n = known[0]
    mean = known[1]
    m2 = known[2]
    delta = amount - mean
    mean1 = mean + delta / <double>(n + 1)
    baselines[ev.base_kind] = [n + 1, mean1, m2 + delta * (amount - mean1)]
    if ev.ts > _i(s[NW]):
        s[NW] = ev.ts
    newest = _i(s[NW])
    cutoff = newest - (2 * DAY + p.lateness)
    nlog = PyList_GET_SIZE(log)
    for i in range(nlog):
        if _item(<list>PyList_GET_ITEM(log, i), 0) < cutoff:
            any_old = True
            break
    if any_old:
        kept = []
        for e in log:
            if _item(<list>e, 0) < cutoff:
                _fold(s, <list>e, memo)
            else:
                kept.append(e)
        s[EV] = kept
    ids = <dict>s[IDS]
    if ids:
        floor_dedup = newest - p.dedup - _time_base(s)
        stale_ids = None
        for txn_id, t in ids.items():
            if _i(t) < floor_dedup:
                if stale_ids is None:
                    stale_ids = []
                stale_ids.append(txn_id)
        if stale_ids is not None:
            for txn_id in stale_ids:
                del ids[txn_id]
    today = _day_of(newest)
    if today > _i(s[PD]):
        # Once per day of the newest event: drop buckets and sightings no window reaches.
        floor_ts = newest - (30 * DAY + p.lateness)
        # In place, each dict keeps its survivors in their order: the dicts that
        # comprehensions would build (and so the same blob), without building them.
        b = <dict>s[B]
        gone = [d for d in b if _i(d) * DAY <= floor_ts]
        for d in gone:
            del b[d]
        old_base = _time_base(s)
        s[PD] = today
        floor_rel = floor_ts - old_base
        shift = _time_base(s) - old_base
        for m in s[SEEN]:
            _shift_times(<dict>m, shift, True, floor_rel)
        _shift_times(<dict>s[IDS], shift, False, 0)
        memo.forget_through(_day_of(floor_ts))
    return 0


cdef int _shift_times(dict m, long long shift, bint drop, long long floor_rel) except -1:
    """Take ``shift`` from each value (ms) of ``m``; first, if ``drop``, drop the
    entries whose value is not above ``floor_rel``."""
    cdef Py_ssize_t pos = 0
    cdef PyObject* key
    cdef PyObject* value
    cdef long long t
    cdef list gone = None
    while PyDict_Next(m, &pos, &key, &value):
        t = _i(<object>value)
        if drop and t <= floor_rel:
            if gone is None:
                gone = []
            gone.append(<object>key)
        elif shift != 0:
            # A new value for a key already there: safe while iterating (no resize).
            PyDict_SetItem(m, <object>key, t - shift)
    if gone is not None:
        for k in gone:
            del m[k]
    return 0


# The distinct-value counter: a logged event's digest (merchant, device or
# counterparty) with the windows it counts in, sorted by value so that equal
# values are neighbours.
cdef struct Sighting:
    unsigned long long value
    PyObject* obj
    int flags

cdef enum:
    IN24 = 1
    SENT = 2      # a credit within 24 h: its counterparty sent to the customer
    RECEIVED = 4  # a debit within 24 h


cdef int _by_value(const void* a, const void* b) noexcept nogil:
    cdef unsigned long long x = (<Sighting*>a).value, y = (<Sighting*>b).value
    return (x > y) - (x < y)


cdef inline bint _counted(dict folded, object value, long long lo_rel) except -1:
    """Whether a folded sighting of ``value`` counts in the day's 30 d (DayDistinct)."""
    cdef PyObject* at = PyDict_GetItem(folded, value)
    return at != NULL and _i(<object>at) >= lo_rel


cdef void _sort(Sighting* seen, Py_ssize_t n) noexcept:
    """By value: insertion sort for the few of a usual log, qsort beyond."""
    cdef Py_ssize_t i, j
    cdef Sighting x
    if n > 24:
        qsort(seen, n, sizeof(Sighting), _by_value)
        return
    for i in range(1, n):
        x = seen[i]
        j = i - 1
        while j >= 0 and seen[j].value > x.value:
            seen[j + 1] = seen[j]
            j -= 1
        seen[j + 1] = x


cdef int _count_digests(Sighting* seen, Py_ssize_t n, dict folded, long long lo_rel,
                        long long n_folded, long long* in24, long long* in30, long long* sent,
                        long long* received) except -1:
    """Distinct values among ``n`` sightings: within 24 h, with the folded ones over 30 d,
    and (for counterparties) senders and recipients within 24 h."""
    cdef Py_ssize_t i = 0, j
    cdef int flags
    _sort(seen, n)
    in24[0] = in30[0] = sent[0] = received[0] = 0
    while i < n:
        flags = 0
        j = i
        while j < n and seen[j].value == seen[i].value:
            flags |= seen[j].flags
            j += 1
        if flags & IN24:
            in24[0] += 1
        if flags & SENT:
            sent[0] += 1
        if flags & RECEIVED:
            received[0] += 1
        if not _counted(folded, <object>seen[i].obj, lo_rel):
            in30[0] += 1
        i = j
    in30[0] += n_folded
    return 0


cdef int _count_texts(PyObject** seen, int* flags, Py_ssize_t n, dict folded, long long lo_rel,
                      long long n_folded, long long* in24, long long* in30) except -1:
    """Distinct texts (countries) among ``n`` sightings, as :func:`_count_digests` does."""
    cdef Py_ssize_t i, j
    cdef bint dup
    in24[0] = in30[0] = 0
    for i in range(n):
        # Counted at the first sighting of a value; its 24 h flag from any sighting.
        dup = False
        for j in range(i):
            if _same(<object>seen[j], <object>seen[i]):
                dup = True
                break
        if dup:
            continue
        if flags[i] & IN24:
            in24[0] += 1
        else:
            for j in range(i + 1, n):
                if flags[j] & IN24 and _same(<object>seen[j], <object>seen[i]):
                    in24[0] += 1
                    break
        if not _counted(folded, <object>seen[i], lo_rel):
            in30[0] += 1
    in30[0] += n_folded
    return 0


cdef inline bint _same(object a, object b) except -1:
    """``a == b``; texts and digests (most of what is compared) without a generic call."""
    cdef unsigned long long x, y
    if a is b:
        return True
    if type(a) is str and type(b) is str:
        return <str>a == <str>b
    if type(a) is int and type(b) is int and rw_u64(a, &x) and rw_u64(b, &y):
        return x == y
    return PyObject_RichCompareBool(a, b, Py_EQ)


def assess(list s, Event ev, FoldParams p, Memo memo=None):
    """Record ``ev`` in ``s`` (unless a duplicate or stale) and read its aggregates.

    Returns the assessment; ``s`` is changed only when the event is fresh.
    ``memo`` belongs to ``s``: pass the same one for every event of ``s``
    while it is held decoded (a new one after decoding again).
    """
    if memo is None:
        memo = Memo()
    return _assess(s, ev, p, memo)


cdef Assessment _assess(list s, Event ev, FoldParams p, Memo memo):
    """:func:`assess`, called from C by :func:`fold_part` without a Python call's cost."""
    cdef long long ts = ev.ts, t, age, code, amount, credit, slot, ch, cb, kind, cs, lo
    cdef long long seen_ts = 0, newest, day, max_in, passthrough, first_credit = -1
    cdef long long prev_ts = -1, prev_ch_ts = -1, geo_ts = -1, my_ch = ev.code >> 3
    cdef unsigned long long txn = _u64(ev.txn), etxn, geo_txn = 0
    cdef bint has_seen = False, fresh = False, stale = False, has_geo_txn = False
    cdef bint seen_dev = False, seen_cp = False, seen_country = False, seen_mcc = False
    cdef int late, flags
    cdef long long tot[N_TOTALS + 1]
    cdef Py_ssize_t i, nlog, nm = 0, nv = 0, np_ = 0, nc = 0, ndeb = 0
    cdef list log, e
    cdef DayTotals folded
    cdef DayDistinct fd
    cdef long long fd_rel
    known = (<dict>s[K]).get(ev.base_kind) or (0, 0, 0)
    baseline = (int(known[0]), float(known[1]), float(known[2]))
    at = (<dict>s[IDS]).get(ev.txn)
    if at is not None:
        seen_ts = _i(at) + _time_base(s)
        has_seen = True
    else:
        log = s[EV]
        for i in range(PyList_GET_SIZE(log)):
            e = <list>PyList_GET_ITEM(log, i)
            if _u64(<object>PyList_GET_ITEM(e, 1)) == txn:
                seen_ts = _item(e, 0)
                has_seen = True
    if has_seen:
        ts = seen_ts
    elif _i(s[NW]) >= 0 and ts < _i(s[NW]) - p.dedup:
        stale = True
    else:
        fresh = True
        _record(s, ev, p, memo)
    newest = _i(s[NW])
    late = 2 if stale else (1 if ts < newest - p.lateness else 0)

    day = _day_of(ts)
    found = memo.days.get(day)
    folded = _bucket_totals(s, day, memo) if found is None else <DayTotals>found
    memcpy(tot, folded.v, sizeof(long long) * (N_TOTALS + 1))
    max_in = tot[N_TOTALS]

    # Whether another logged event in the 30 days up to this one has the
    # event's device, counterparty, country, mcc (its first-seen flags).
    dev, cp, country, mcc = ev.device, ev.counterparty, ev.country, ev.mcc
    geo_lat = geo_lon = None
    salaries = []
    log = s[EV]
    nlog = PyList_GET_SIZE(log)
    # One allocation for the scan's arrays (each at most one entry per logged event).
    cdef Sighting* sightings = <Sighting*>PyMem_Malloc(
        sizeof(Sighting) * 3 * nlog + (sizeof(PyObject*) + 2 * sizeof(long long) + sizeof(int))
        * nlog + 1)
    if sightings == NULL:
        raise MemoryError()
    cdef Sighting* merchants = sightings
    cdef Sighting* devices = sightings + nlog
    cdef Sighting* parties = sightings + 2 * nlog
    cdef PyObject** countries = <PyObject**>(sightings + 3 * nlog)
    cdef long long* debit_ts = <long long*>(countries + nlog)
    cdef long long* debit_amount = debit_ts + nlog
    cdef int* country_flags = <int*>(debit_amount + nlog)
    cdef long long counts[10]
    cdef long long unused
    try:
        lo = ts - _W30
        for i in range(nlog):
            e = <list>PyList_GET_ITEM(log, i)
            t = _item(e, 0)
            if t > ts or t <= lo:
                continue
            age = ts - t
            code = _item(e, 2)
            amount = _item(e, 3)
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
                    if age < _2DAYS:
                        tot[cs + 4] += 1
                        tot[cs + 5] += amount
                        if age < DAY:
                            tot[cs] += 1
                            tot[cs + 1] += amount
            elif kind == KIND_SALARY and credit:
                salaries.append(t)
            if credit and amount > max_in:
                max_in = amount
            merchant = <object>PyList_GET_ITEM(e, 4)
            device = <object>PyList_GET_ITEM(e, 5)
            where = <object>PyList_GET_ITEM(e, 6)
            party = <object>PyList_GET_ITEM(e, 7)
            flags = 0
            if age < DAY:
                flags = IN24 | (SENT if credit else RECEIVED)
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
                if credit:
                    if first_credit < 0 or t < first_credit:
                        first_credit = t
                else:
                    debit_ts[ndeb] = t
                    debit_amount[ndeb] = amount
                    ndeb += 1
            # Absent values (None) count nowhere.
            if merchant is not None:
                merchants[nm].value = _u64(merchant)
                merchants[nm].obj = <PyObject*>merchant
                merchants[nm].flags = flags & IN24
                nm += 1
            if device is not None:
                devices[nv].value = _u64(device)
                devices[nv].obj = <PyObject*>device
                devices[nv].flags = flags & IN24
                nv += 1
            if party is not None:
                parties[np_].value = _u64(party)
                parties[np_].obj = <PyObject*>party
                parties[np_].flags = flags
                np_ += 1
            if where is not None:
                countries[nc] = <PyObject*>where
                country_flags[nc] = flags & IN24
                nc += 1
            etxn = _u64(<object>PyList_GET_ITEM(e, 1))
            if etxn != txn:
                if t > prev_ts:
                    prev_ts = t
                if ch == my_ch and t > prev_ch_ts:
                    prev_ch_ts = t
                # Of two card-present events at the same ms, the greater txn digest.
                lat = <object>PyList_GET_ITEM(e, 9)
                if lat is not None and (t > geo_ts or (t == geo_ts and (
                        not has_geo_txn or etxn > geo_txn))):
                    geo_ts, geo_lat, geo_lon = t, lat, <object>PyList_GET_ITEM(e, 10)
                    geo_txn, has_geo_txn = etxn, True
                if not seen_dev and _same(device, dev):
                    seen_dev = True
                if not seen_cp and _same(party, cp):
                    seen_cp = True
                if not seen_country and _same(where, country):
                    seen_country = True
                if not seen_mcc and _same(<object>PyList_GET_ITEM(e, 8), mcc):
                    seen_mcc = True

        passthrough = 0
        if first_credit >= 0:
            for i in range(ndeb):
                if debit_ts[i] >= first_credit:
                    passthrough += debit_amount[i]

        # Distinct values over 30 d: logged ones, plus folded ones whose latest
        # sighting's day starts inside the window. First seen: no other sighting in
        # the 30 days up to the event, logged or folded (exact).
        found = memo.distinct.get(day)
        fd = _folded_distinct(s, day, memo) if found is None else <DayDistinct>found
        seen = s[SEEN]
        fd_rel = fd.lo - _time_base(s)
        _count_digests(merchants, nm, <dict>seen[0], fd_rel, fd.n[0], &counts[0], &counts[1],
                       &unused, &unused)
        _count_digests(devices, nv, <dict>seen[1], fd_rel, fd.n[1], &counts[2], &counts[3],
                       &unused, &unused)
        _count_texts(countries, country_flags, nc, <dict>seen[2], fd_rel, fd.n[2], &counts[4],
                     &counts[5])
        _count_digests(parties, np_, <dict>seen[3], fd_rel, fd.n[3], &counts[6], &counts[7],
                       &counts[8], &counts[9])
    finally:
        PyMem_Free(sightings)

    # The folded history (day buckets, in ``folded`` above), then the
    # summaries, older than any logged event.
    if prev_ts < 0 and _i(s[LT]) >= 0:
        prev_ts = _i(s[LT])
    if prev_ch_ts < 0:
        prev_ch_ts = _i(s[LC][my_ch])
    geo = s[GEO]
    if geo_ts < 0 and _i(geo[0]) >= 0:
        geo_ts, geo_lat, geo_lon = _i(geo[0]), geo[1], geo[2]
    for st in s[SAL]:
        if _i(st) <= ts:
            salaries.append(st)
    seen = s[SEEN]
    lo_rel = lo - _time_base(s)

    salaries.sort()
    cdef Assessment a = Assessment.__new__(Assessment)
    a.fresh = fresh
    a.newest = newest
    a.late = late
    a.ts = ts
    # An array("q") of C long longs, not a tuple of ints: 132 ints made and dropped per
    # event cost ~8k instructions; the StateUpdate takes this very object and the
    # feature builder reads its C array.
    cdef array totals = clone(_LONG_LONGS, N_TOTALS, False)
    memcpy(totals.data.as_longlongs, tot, sizeof(long long) * N_TOTALS)
    a.totals = totals
    a.passthrough = passthrough
    a.max_inflow = max_in
    a.distinct = (counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], counts[6],
                  counts[7], counts[8], counts[9])
    a.prev_ts = prev_ts
    a.prev_ch_ts = prev_ch_ts
    a.new_flags = (
        _new_flag(seen[1], dev, seen_dev, lo_rel),
        _new_flag(seen[3], cp, seen_cp, lo_rel),
        _new_flag(seen[2], country, seen_country, lo_rel),
        _new_flag(seen[4], mcc, seen_mcc, lo_rel),
    )
    a.prev_geo = (geo_ts, float(geo_lat), float(geo_lon)) if geo_ts >= 0 else None
    a.baseline = baseline
    a.salaries = tuple(salaries[-6:])
    return a


cdef inline int _new_flag(dict seen, object value, bint logged, long long lo_rel) except -1:
    if value is None or logged:
        return 0
    at = seen.get(value)
    return 0 if at is not None and _i(at) > lo_rel else 1


# The state store's per-event glue (detectors/state.py ``_send`` and ``updates``): a
# Transaction made into an Event, folded, noted at its entities; a part's assessments
# made into StateUpdates. Interpreted, this glue cost some 8k instructions an event of
# the state store's ~184k (updates() alone, under callgrind).

from cpython.unicode cimport PyUnicode_AsUTF8AndSize


def digest(value):
    """A 64-bit digest of an id, kept instead of the id where ids are long.

    Merchant, device and counterparty ids are only ever compared for
    equality (distinct counts, first-seen flags), as are the txn ids of folded
    events (duplicates), so a digest serves; two different ids of one
    customer collide with odds of about k^2 / 2^65 for k ids of a kind (1e-15
    for a hundred), and a new txn id with a remembered one's with odds of
    k / 2^64. It is the id's 8-byte BLAKE2b (UTF-8) read as a big-endian
    int, None for None; compiled, as every event digests its txn id.

    >>> digest("M-HGH-00006") == digest("M-HGH-00006") != digest("M-HGH-00007")
    True
    """
    return _digest(value)


cdef extern from *:
    """
    /* BLAKE2b (RFC 7693) of a message, unkeyed, with an 8-byte digest: what
       hashlib.blake2b(data, digest_size=8) computes, without its object, its
       keyword parsing and the bytes objects around it (three quarters of a
       digest's cost there). Returns the digest read as a big-endian integer. */
    #include <stdint.h>
    #include <string.h>
    static const uint64_t rw_b2_iv[8] = {
        0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
        0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
        0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};
    static const uint8_t rw_b2_sigma[12][16] = {
        {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
        {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
        {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
        {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
        {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
        {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
        {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
        {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
        {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
        {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
        {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
        {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3}};
    #define RW_ROTR(x, n) (((x) >> (n)) | ((x) << (64 - (n))))
    #define RW_G(a, b, c, d, x, y) do { \
        a = a + b + (x); d = RW_ROTR(d ^ a, 32); c = c + d; b = RW_ROTR(b ^ c, 24); \
        a = a + b + (y); d = RW_ROTR(d ^ a, 16); c = c + d; b = RW_ROTR(b ^ c, 63); \
    } while (0)
    static void rw_b2_compress(uint64_t h[8], const uint8_t block[128], uint64_t t,
                               int last) {
        uint64_t m[16], v[16];
        int i;
        memcpy(m, block, 128);
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        for (i = 0; i < 16; i++) m[i] = __builtin_bswap64(m[i]);
    #endif
        for (i = 0; i < 8; i++) { v[i] = h[i]; v[i + 8] = rw_b2_iv[i]; }
        v[12] ^= t;
        if (last) v[14] = ~v[14];
        /* Rounds unrolled, so that the sigma indices are constants. */
    #define RW_ROUND(r) do { \
            RW_G(v[0], v[4], v[8], v[12], m[rw_b2_sigma[r][0]], m[rw_b2_sigma[r][1]]); \
            RW_G(v[1], v[5], v[9], v[13], m[rw_b2_sigma[r][2]], m[rw_b2_sigma[r][3]]); \
            RW_G(v[2], v[6], v[10], v[14], m[rw_b2_sigma[r][4]], m[rw_b2_sigma[r][5]]); \
            RW_G(v[3], v[7], v[11], v[15], m[rw_b2_sigma[r][6]], m[rw_b2_sigma[r][7]]); \
            RW_G(v[0], v[5], v[10], v[15], m[rw_b2_sigma[r][8]], m[rw_b2_sigma[r][9]]); \
            RW_G(v[1], v[6], v[11], v[12], m[rw_b2_sigma[r][10]], m[rw_b2_sigma[r][11]]); \
            RW_G(v[2], v[7], v[8], v[13], m[rw_b2_sigma[r][12]], m[rw_b2_sigma[r][13]]); \
            RW_G(v[3], v[4], v[9], v[14], m[rw_b2_sigma[r][14]], m[rw_b2_sigma[r][15]]); \
        } while (0)
        RW_ROUND(0); RW_ROUND(1); RW_ROUND(2); RW_ROUND(3); RW_ROUND(4); RW_ROUND(5);
        RW_ROUND(6); RW_ROUND(7); RW_ROUND(8); RW_ROUND(9); RW_ROUND(10); RW_ROUND(11);
        for (i = 0; i < 8; i++) h[i] ^= v[i] ^ v[i + 8];
    }
    static uint64_t rw_blake2b_8(const char* data, Py_ssize_t n) {
        uint64_t h[8], t = 0, out = 0;
        uint8_t block[128];
        int i;
        memcpy(h, rw_b2_iv, sizeof(h));
        h[0] ^= 0x01010000ULL ^ 8;  /* fanout 1, depth 1, no key, 8-byte digest */
        while (n > 128) {
            t += 128;
            rw_b2_compress(h, (const uint8_t*)data, t, 0);
            data += 128;
            n -= 128;
        }
        memset(block, 0, sizeof(block));
        memcpy(block, data, (size_t)n);
        t += (uint64_t)n;
        rw_b2_compress(h, block, t, 1);
        /* The digest is h[0]'s bytes, least significant first: read big-endian. */
        for (i = 0; i < 8; i++) out = (out << 8) | ((h[0] >> (8 * i)) & 0xFF);
        return out;
    }
    """
    unsigned long long rw_blake2b_8(const char* data, Py_ssize_t n) noexcept


cdef object _digest(object value):
    cdef Py_ssize_t n
    cdef const char* utf8
    if value is None:
        return None
    if type(value) is str:
        utf8 = PyUnicode_AsUTF8AndSize(value, &n)
        return rw_blake2b_8(utf8, n)
    # Anything else as the interpreted digest treated it (a str subclass, or an error).
    cdef bytes raw = value.encode()
    return rw_blake2b_8(raw, len(raw))

include "../riskwatch/object_slots.pxi"

#: The Transaction slots an Event is made of (EventCodes reads them in this order),
#: and the attributes read while a slot is unset: ts_ms and amount_minor fill theirs.
cdef enum:
    _T_TXN_ID = 0
    _T_CHANNEL
    _T_DIRECTION
    _T_KIND
    _T_MERCHANT
    _T_DEVICE
    _T_COUNTRY
    _T_COUNTERPARTY
    _T_MCC
    _T_LAT
    _T_LON
    _T_TS_MS
    _T_AMOUNT_MINOR
_TXN_SLOTS = ("txn_id", "channel", "direction", "kind", "merchant_id", "device_id", "country",
              "counterparty_account", "mcc", "lat", "lon", "_ts_ms", "_amount_minor")
_TXN_ATTRS = _TXN_SLOTS[:_T_TS_MS] + ("ts_ms", "amount_minor")
#: Remembered id digests before the memo starts afresh (as the lru_cache it fronts).
cdef Py_ssize_t _MAX_DIGESTS = 65_536


cdef class EventCodes:
    """The tables that make a Transaction an Event (detectors/state.py owns them).

    ``channels``: channel -> its index; ``kinds``: (credit?, kind) -> kind code,
    others KIND_OTHER; ``card_present``: channels whose coordinates are kept;
    ``id_digest``: :func:`customer_fold.digest` of merchant, device and
    counterparty ids (remembered here: they recur, and a look-up is a tenth of
    a digest's cost; txn ids do not recur and are digested here);
    ``txn_type``: the class whose instances' slots are read at their offsets
    (Transaction; see SlotReader), anything else being read by name.
    """

    cdef dict channels
    cdef dict kinds
    cdef frozenset card_present
    cdef object id_digest
    cdef dict digests
    cdef SlotReader txn

    def __init__(self, dict channels, dict kinds, frozenset card_present, id_digest,
                 type txn_type=None):
        self.channels = channels
        self.kinds = kinds
        self.card_present = card_present
        self.id_digest = id_digest
        self.digests = {}
        self.txn = SlotReader(txn_type, _TXN_SLOTS, _TXN_ATTRS)

    cdef object _id(self, object value):
        """``id_digest(value)``, remembered here (a dict look-up, not a Python call)."""
        cdef PyObject* hit = PyDict_GetItem(self.digests, value)
        if hit != NULL:
            return <object>hit
        d = self.id_digest(value)
        if len(self.digests) >= _MAX_DIGESTS:
            self.digests.clear()
        self.digests[value] = d
        return d

    def event(self, txn):
        """``txn`` as the fold sees it."""
        return self._event(txn)

    cdef Event _event(self, object txn):
        cdef SlotReader r = self.txn
        txn_id, channel = r.get(txn, _T_TXN_ID), r.get(txn, _T_CHANNEL)
        direction, kind = r.get(txn, _T_DIRECTION), r.get(txn, _T_KIND)
        merchant, device = r.get(txn, _T_MERCHANT), r.get(txn, _T_DEVICE)
        country, counterparty = r.get(txn, _T_COUNTRY), r.get(txn, _T_COUNTERPARTY)
        mcc, lat, lon = r.get(txn, _T_MCC), r.get(txn, _T_LAT), r.get(txn, _T_LON)
        if channel in self.card_present and lat is not None and lon is not None:
            lat, lon = float(lat), float(lon)
        else:
            lat = lon = None
        cdef bint credit = direction == "credit"
        cdef long long code = <long long>self.channels[channel] * 8 + (_CREDIT if credit else 0)
        cdef Event ev = Event.__new__(Event)
        ev.txn = _digest(txn_id)
        ev.ts = r.get(txn, _T_TS_MS)
        ev.code = code + <long long>self.kinds.get((credit, kind), KIND_OTHER)
        ev.amount = r.get(txn, _T_AMOUNT_MINOR)
        ev.merchant = self._id(merchant)
        ev.device = self._id(device)
        ev.country = country
        ev.counterparty = self._id(counterparty)
        ev.mcc = mcc
        ev.lat = lat
        ev.lon = lon
        ev.base_kind = kind or ""
        return ev


def fold_part(txns, dict held, FoldParams p not None, EventCodes codes not None, entities,
              set changed, list assessed):
    """Fold each of ``txns`` into its customer's held state (``held``: customer -> Held).

    Each event's assessment is appended to ``assessed``, the event added to
    ``entities`` (an EntityBatch) at its assessed time, and its customer put
    in ``changed`` when the event was fresh: ``CustomerStateStore._send``'s
    loop, in C.
    """
    cdef Assessment a
    cdef Memo memo
    add = entities.add
    for txn in txns:
        cid = txn.customer_id
        h = held[cid]
        memo = h.memo
        if memo is None:
            memo = Memo()  # as assess() does without one: _assess needs one
        a = _assess(h.state, codes._event(txn), p, memo)
        if a.fresh:
            changed.add(cid)
        add(txn, a.ts, a.fresh)
        assessed.append(a)


cdef extern from *:
    """
    /* A new, empty instance of ``type`` (its slots unset), as object.__new__ makes it. */
    static PyObject* rw_alloc(PyObject* type) {
        return ((PyTypeObject*)type)->tp_alloc((PyTypeObject*)type, 0);
    }
    """
    object rw_alloc(object type)


#: StateUpdate's fields in the order :class:`UpdateMaker` sets them.
_UPDATE_FIELDS = ("fresh", "newest_ts_ms", "late", "stale", "ts_ms", "totals",
                  "passthrough_minor", "max_inflow_minor", "distinct", "prev_ts_ms",
                  "prev_channel_ts_ms", "new_flags", "prev_geo", "baseline", "entities",
                  "salary_ts_ms")


cdef class UpdateMaker:
    """Makes a part's StateUpdates (``cls``: detectors.state.StateUpdate), in one call.

    StateUpdate is a frozen dataclass with slots: its generated ``__init__``
    sets each of its sixteen fields through ``object.__setattr__`` by name,
    looking each up in the class. Here the slots' offsets are looked up once,
    and a new instance's slots are written directly, as ``object.__setattr__``
    would write them. ``cls`` must be a class of exactly those sixteen slots,
    made by ``object.__new__``.
    """

    cdef object cls
    cdef Py_ssize_t offsets[16]

    def __init__(self, type cls):
        if cls.__new__ is not object.__new__ or set(cls.__slots__) != set(_UPDATE_FIELDS):
            raise TypeError(f"{cls.__name__} is not a class of the slots {_UPDATE_FIELDS}")
        for i, name in enumerate(_UPDATE_FIELDS):
            self.offsets[i] = slot_offset(cls, name)
        self.cls = cls

    cdef object _make(self, Assessment a, dict entities):
        cdef Py_ssize_t* at = self.offsets
        u = rw_alloc(self.cls)
        rw_set_slot(u, at[0], a.fresh)
        rw_set_slot(u, at[1], a.newest)
        rw_set_slot(u, at[2], a.late > 0)
        rw_set_slot(u, at[3], a.late == 2)
        rw_set_slot(u, at[4], a.ts)
        rw_set_slot(u, at[5], a.totals)
        rw_set_slot(u, at[6], a.passthrough)
        rw_set_slot(u, at[7], a.max_inflow)
        rw_set_slot(u, at[8], a.distinct)
        rw_set_slot(u, at[9], a.prev_ts)
        rw_set_slot(u, at[10], a.prev_ch_ts)
        rw_set_slot(u, at[11], a.new_flags)
        rw_set_slot(u, at[12], a.prev_geo)
        rw_set_slot(u, at[13], a.baseline)
        rw_set_slot(u, at[14], entities)
        rw_set_slot(u, at[15], a.salaries)
        return u

    def updates(self, list assessed, counts):
        """Each assessment with its entities' counts (a sequence of dicts, one per
        assessment) as a StateUpdate, in order: what the dataclass would make."""
        cdef list entities = counts if type(counts) is list else list(counts)
        cdef Py_ssize_t i, n = PyList_GET_SIZE(assessed)
        if PyList_GET_SIZE(entities) != n:
            msg = f"{n} assessments but entity counts of {PyList_GET_SIZE(entities)} events"
            raise ValueError(msg)
        cdef list out = PyList_New(n)
        cdef object u
        cdef dict e
        for i in range(n):
            e = <object>PyList_GET_ITEM(entities, i)
            u = self._make(<Assessment?><object>PyList_GET_ITEM(assessed, i), e)
            Py_INCREF(u)
            PyList_SET_ITEM(out, i, u)
        return out
