# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The feature dict of one transaction, filled in C (``detectors/features.py`` names it).

``build_features`` runs once per event on the stream's hot path. Interpreted,
its values went through a list and ``dict.update(zip(...))`` (a tuple and two
look-ups per feature), the event's local time through ``datetime.astimezone``
(about a microsecond) and each salary date through two more datetimes. Here
one call reads the transaction and the StateUpdate, computes every value as
a C double and sets it into a copy of the template dict (the keys, in
order, are already there). ``PyDict_SetItem`` of a key whose hash is cached
still cost ~180 instructions per feature (the hash table look-up, with
collisions, of some 220 keys): on CPython 3.11 each value is written straight
into its entry of the copy's own keys table, the entries being in the
template's order (checked once on a real copy; otherwise, and on other
Pythons, values are set by key). Small whole numbers (counts) are shared
float objects instead of a new float each.

The values are the very floats the interpreted builder computed: the same
IEEE operations in the same order (an int turned into a double and then
multiplied, divided or subtracted, as Python's mixed arithmetic does), ``//``
as CPython's float floor division, ints divided by ints as Python's true
division (exact rounding, even beyond 2^53, by handing such rare operands to
Python), the same libm functions ``math`` calls (``pow`` included, not
folded into a product). Whatever C would not reproduce exactly (an input
that makes ``math`` raise, a date near the ends of ``datetime``'s range, a
timestamp that is not a plain UTC ``datetime``, a zone that is not a
``ZoneInfo`` or fixed offset) goes through the interpreted expression
instead. tests/test_features_compiled.py holds this module to the
interpreted builder it replaced, bit for bit.

Local time: a zone's UTC offset is looked up once per UTC hour (two
``astimezone`` calls, remembered in the builder) and used for every event
and salary date in that hour; an hour in which the offset changes is not
remembered, and its instants are converted one by one by ``astimezone``.
"""

from cpython.datetime cimport (
    PyDateTime_CheckExact,
    PyDateTime_DATE_GET_HOUR,
    PyDateTime_DATE_GET_MINUTE,
    PyDateTime_DATE_GET_SECOND,
    PyDateTime_GET_DAY,
    PyDateTime_GET_MONTH,
    PyDateTime_GET_YEAR,
    datetime_tzinfo,
    import_datetime,
)
from cpython.array cimport array
from cpython.dict cimport PyDict_Copy, PyDict_GetItem, PyDict_SetItem
from cpython.object cimport PyObject
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.math cimport asin, copysign, cos, floor, fmod, isfinite, log1p, pow, signbit, sin, sqrt

import array as _array
import math
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import_datetime()

cdef extern from *:
    """
    /* The value slots of a fresh copy of the template dict (CPython 3.11's layout). A
       dict that PyDict_Copy makes of a compact dict with str keys owns its copy of the
       keys table, whose entries are (key, value) pairs in insertion order: the template's
       order. Replacing entry i's value is then what PyDict_SetItem of names[i] does after
       its hash look-up, without the look-up. Any other layout (another CPython, a table
       shared or not of str keys) gives NULL, and the values are set by key. */
    #if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
    typedef struct {
        Py_ssize_t dk_refcnt;
        uint8_t dk_log2_size;
        uint8_t dk_log2_index_bytes;
        uint8_t dk_kind;
        uint32_t dk_version;
        Py_ssize_t dk_usable;
        Py_ssize_t dk_nentries;
        char dk_indices[];
    } rw_dict_keys;
    static PyObject** rw_dict_values(PyObject* d, Py_ssize_t n) {
        PyDictObject* mp = (PyDictObject*)d;
        rw_dict_keys* keys = (rw_dict_keys*)mp->ma_keys;
        if (!PyDict_CheckExact(d) || mp->ma_values != NULL || mp->ma_used != n
                || keys->dk_refcnt != 1 || keys->dk_kind != 1 || keys->dk_nentries != n) {
            return NULL;
        }
        return (PyObject**)(keys->dk_indices + ((size_t)1 << keys->dk_log2_index_bytes));
    }
    #else
    static PyObject** rw_dict_values(PyObject* d, Py_ssize_t n) { return NULL; }
    #endif
    /* Entry i's key and value, in the layout rw_dict_values found. */
    static PyObject* rw_entry_key(PyObject** entries, Py_ssize_t i) { return entries[2 * i]; }
    static PyObject* rw_entry_value(PyObject** entries, Py_ssize_t i) { return entries[2 * i + 1]; }
    /* Entry i's value replaced by ``value``, whose reference the entry takes. */
    static void rw_replace_value_stolen(PyObject** entries, Py_ssize_t i, PyObject* value) {
        PyObject* old = entries[2 * i + 1];
        entries[2 * i + 1] = value;
        Py_XDECREF(old);
    }
    static void rw_replace_value(PyObject** entries, Py_ssize_t i, PyObject* value) {
        Py_INCREF(value);
        rw_replace_value_stolen(entries, i, value);
    }
    /* rw_replace_value with a new float of ``v``, whose only reference the entry takes. */
    static int rw_replace_with_float(PyObject** entries, Py_ssize_t i, double v) {
        PyObject* value = PyFloat_FromDouble(v);
        if (value == NULL) {
            return -1;
        }
        rw_replace_value_stolen(entries, i, value);
        return 0;
    }
    """
    PyObject** rw_dict_values(PyObject* d, Py_ssize_t n) noexcept
    PyObject* rw_entry_key(PyObject** entries, Py_ssize_t i) noexcept
    PyObject* rw_entry_value(PyObject** entries, Py_ssize_t i) noexcept
    void rw_replace_value(PyObject** entries, Py_ssize_t i, object value) noexcept
    int rw_replace_with_float(PyObject** entries, Py_ssize_t i, double v) except -1
    bint PyObject_IS_GC(object o) noexcept
    bint PyObject_GC_IsTracked(object o) noexcept
    void PyObject_GC_Track(object o) noexcept


include "../riskwatch/object_slots.pxi"

#: The Transaction and StateUpdate fields the builder reads (SlotReader indexes), and
#: the attributes read while a slot is unset (amount_minor fills ``_amount_minor``).
cdef enum:
    _T_AMOUNT = 0
    _T_TS
    _T_CHANNEL
    _T_DIRECTION
    _T_KIND
    _T_MCC
    _T_COUNTRY
    _T_CITY
    _T_CURRENCY
    _T_LAT
    _T_LON
    _T_AMOUNT_MINOR
cdef enum:
    _U_TOTALS = 0
    _U_PASSTHROUGH
    _U_MAX_INFLOW
    _U_SALARIES
    _U_DISTINCT
    _U_TS
    _U_PREV_TS
    _U_PREV_CH
    _U_NEW_FLAGS
    _U_PREV_GEO
    _U_BASELINE
    _U_ENTITIES
    _U_LATE
_TXN_ATTRS = ("amount", "ts", "channel", "direction", "kind", "mcc", "country", "city",
              "currency", "lat", "lon", "amount_minor")
_TXN_SLOTS = _TXN_ATTRS[:-1] + ("_amount_minor",)
_UPDATE_ATTRS = ("totals", "passthrough_minor", "max_inflow_minor", "salary_ts_ms", "distinct",
                 "ts_ms", "prev_ts_ms", "prev_channel_ts_ms", "new_flags", "prev_geo",
                 "baseline", "entities", "late")


cdef struct _Filling:
    # The dict being filled, its names (a tuple) and how many, the next index, and its
    # value slots (NULL: set by key).
    PyObject* out
    PyObject* names
    Py_ssize_t n
    Py_ssize_t i
    PyObject** values

#: The totals that are sums of minor units (reported in major units): as features.py's names.
cdef double _SUM_SCALE = 0.01
#: StateUpdate.totals' index of the 24 h credit sum (window 3, fourth of its four).
cdef Py_ssize_t _INFLOW_24H = 4 * 3 + 3
#: Beyond this an int -> double conversion may round, so division is left to Python.
cdef long long _EXACT = 1LL << 53
#: ``math.radians``'s factor (CPython: Py_MATH_PI / 180.0).
cdef double _DEG_TO_RAD = 3.14159265358979323846 / 180.0
cdef double _EARTH_RADIUS_KM = 6371.0088
#: ``x ** 2`` is libm's pow(x, 2.0) in CPython; a variable exponent keeps the C
#: compiler from folding the call into x * x (which may round differently).
cdef double _TWO = 2.0
#: Whole numbers below this are shared float objects (counts are mostly small).
cdef enum:
    _N_SMALL = 256
cdef tuple _SMALL = tuple([float(i) for i in range(_N_SMALL)])
#: date.toordinal() of 1970-01-01.
cdef long long _EPOCH_ORDINAL = 719163
#: Salary timestamps (ms) in [0, this) are converted in C: up to year 9000, well
#: inside datetime's range after any offset.
cdef long long _SALARY_MS_LIMIT = 221845392000000
#: Remembered UTC hours per zone before the memo starts afresh (about eleven years).
cdef Py_ssize_t _MAX_HOURS = 100_000

cdef object _EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
cdef object _UTC = UTC
#: Days before each month (1-12) in a common year.
cdef int[13] _DAYS_BEFORE_MONTH = [0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334]


cdef inline double _true_div(long long a, long long b) except? -1.0:
    """``a / b`` as Python divides two ints (correctly rounded)."""
    if -_EXACT <= a <= _EXACT and -_EXACT <= b <= _EXACT:
        return <double>a / <double>b
    return <double>((<object>a) / (<object>b))


cdef inline double _floor_div(double vx, double wx) noexcept:
    """``vx // wx`` for floats, as CPython's float_floor_div computes it."""
    cdef double mod = fmod(vx, wx), div, floordiv
    div = (vx - mod) / wx
    if mod:
        if (wx < 0) != (mod < 0):
            div -= 1.0
    if div:
        floordiv = floor(div)
        if div - floordiv > 0.5:
            floordiv += 1.0
    else:
        floordiv = copysign(0.0, vx / wx)
    return floordiv


cdef inline long long _floor_div_ll(long long a, long long b) noexcept:
    """Python's ``a // b`` for b > 0."""
    cdef long long q = a / b
    if (a % b) < 0:
        q -= 1
    return q


cdef inline long long _ordinal(int year, int month, int day) noexcept:
    """date(year, month, day).toordinal(), as CPython's ymd_to_ord."""
    cdef long long y = year - 1
    cdef long long days = y * 365 + y / 4 - y / 100 + y / 400 + _DAYS_BEFORE_MONTH[month] + day
    if month > 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        days += 1
    return days


cdef inline int _day_of_month(long long ordinal) noexcept:
    """The day of the month of a proleptic Gregorian ordinal (H. Hinnant's civil_from_days)."""
    cdef long long z = ordinal - _EPOCH_ORDINAL + 719468
    cdef long long era = (z if z >= 0 else z - 146096) / 146097
    cdef long long doe = z - era * 146097
    cdef long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
    cdef long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    cdef long long mp = (5 * doy + 2) / 153
    return <int>(doy - (153 * mp + 2) / 5 + 1)


cdef class _ZoneHours:
    """A zone's UTC offset (seconds) per UTC hour, for the hours without a change of offset."""

    cdef object tz
    cdef dict offsets
    cdef bint has_last
    cdef long long last_hour
    cdef long long last_offset

    def __cinit__(self, tz):
        self.tz = tz
        self.offsets = {}
        self.has_last = False
        self.last_hour = 0
        self.last_offset = 0

    cdef object _shift(self, long long seconds):
        """What ``astimezone`` adds to the UTC instant ``seconds``, or None if not whole seconds."""
        utc = _EPOCH + timedelta(seconds=seconds)
        shift = utc.astimezone(self.tz).replace(tzinfo=None) - utc.replace(tzinfo=None)
        if shift.microseconds:
            return None
        return shift.days * 86400 + shift.seconds

    cdef int offset(self, long long hour, long long* out) except -1:
        """1 and the offset in ``out`` if the whole UTC hour has one offset, else 0.

        Offsets change at whole seconds (TZif transitions and POSIX rules
        are in seconds), so equal offsets at the hour's first and last second
        mean no change within it, as long as no zone changes its offset twice
        within an hour: none of the 599 zones of the tzdata here has two
        transitions less than an hour apart (POSIX rules, after the last
        one, change twice a year).
        """
        cdef PyObject* hit
        if self.has_last and hour == self.last_hour:
            out[0] = self.last_offset
            return 1
        hit = PyDict_GetItem(self.offsets, hour)
        if hit == NULL:
            first = self._shift(hour * 3600)
            last = self._shift(hour * 3600 + 3599)
            value = first if first is not None and first == last else False
            if len(self.offsets) >= _MAX_HOURS:
                self.offsets.clear()
            self.offsets[hour] = value
        else:
            value = <object>hit
        if value is False:
            return 0
        self.has_last = True
        self.last_hour = hour
        self.last_offset = value
        out[0] = self.last_offset
        return 1


cdef class FeatureBuilder:
    """Builds feature dicts of one fixed layout; remembers zones' offsets per UTC hour.

    ``template``: a dict of every feature name, in order (values ignored);
    ``sum_flags``: per total of StateUpdate.totals, 1 if it is a sum of minor
    units (scaled by 0.01), else 0; ``net_flows``: (credit index, debit
    index) per window; ``entity_prefixes``: the entities in their feature
    order, ``no_entity`` the counts of one that is absent; ``card_present``:
    the channels that carry a position; ``haversine_km``,
    ``salary_regularity``: the interpreted functions, for the inputs C
    leaves to them; ``txn_type``, ``update_type``: the classes whose
    instances' slots are read at their offsets (Transaction, StateUpdate; see
    SlotReader), anything else being read by name.
    """

    cdef dict template
    cdef tuple names
    cdef readonly bint by_position
    """Whether values are written into their entries (see rw_dict_values), not set by key."""
    cdef bytes sum_flags
    cdef tuple net_flows
    cdef tuple entity_prefixes
    cdef tuple no_entity
    cdef object card_present
    cdef object haversine_km
    cdef object salary_regularity
    cdef dict zones
    cdef object last_tz
    cdef _ZoneHours last_zone
    cdef SlotReader txn_slots
    cdef SlotReader update_slots

    def __init__(
        self, dict template, bytes sum_flags, tuple net_flows, tuple entity_prefixes,
        tuple no_entity, card_present, haversine_km, salary_regularity,
        type txn_type=None, type update_type=None,
    ):
        # The totals are read from a C array (and the pairs without bounds checks): every
        # pair must be two indices of them, checked before anything is set.
        if len(sum_flags) <= _INFLOW_24H or not all(
            type(pair) is tuple and len(pair) == 2
            and all(type(i) is int and 0 <= i < len(sum_flags) for i in pair)
            for pair in net_flows
        ):
            raise ValueError(f"net flows {net_flows} outside the {len(sum_flags)} totals")
        self.template = dict(template)
        self.names = tuple(template)
        self.by_position = _fills_by_position(self.template, self.names)
        self.sum_flags = sum_flags
        self.net_flows = net_flows
        self.entity_prefixes = entity_prefixes
        self.no_entity = no_entity
        self.card_present = card_present
        self.haversine_km = haversine_km
        self.salary_regularity = salary_regularity
        self.zones = {}
        self.last_tz = None
        self.last_zone = None
        self.txn_slots = SlotReader(txn_type, _TXN_SLOTS, _TXN_ATTRS)
        self.update_slots = SlotReader(update_type, _UPDATE_ATTRS, _UPDATE_ATTRS)

    cdef _ZoneHours _zone(self, tz):
        """The offset memo of ``tz``, or None for a tzinfo whose conversion is left to Python."""
        if tz is self.last_tz:
            return self.last_zone
        if type(tz) is not ZoneInfo and type(tz) is not timezone:
            return None
        zone = self.zones.get(tz)
        if zone is None:
            zone = _ZoneHours(tz)
            self.zones[tz] = zone
        self.last_tz = tz
        self.last_zone = zone
        return zone

    cdef int _local_hour_weekday(self, ts, tz, int* hour, int* weekday) except -1:
        """``ts.astimezone(tz)``'s hour and weekday."""
        cdef _ZoneHours zone
        cdef int year
        cdef long long seconds, offset, local, days
        if PyDateTime_CheckExact(ts) and datetime_tzinfo(ts) is _UTC:
            year = PyDateTime_GET_YEAR(ts)
            zone = self._zone(tz)
            if zone is not None and 2 <= year <= 9998:
                days = _ordinal(year, PyDateTime_GET_MONTH(ts), PyDateTime_GET_DAY(ts))
                seconds = ((days - _EPOCH_ORDINAL) * 86400 + PyDateTime_DATE_GET_HOUR(ts) * 3600
                           + PyDateTime_DATE_GET_MINUTE(ts) * 60 + PyDateTime_DATE_GET_SECOND(ts))
                if zone.offset(_floor_div_ll(seconds, 3600), &offset):
                    local = seconds + offset
                    days = _floor_div_ll(local, 86400)
                    hour[0] = <int>((local - days * 86400) / 3600)
                    weekday[0] = <int>((days + _EPOCH_ORDINAL + 6) % 7)
                    return 0
        local_dt = ts.astimezone(tz)
        hour[0] = local_dt.hour
        weekday[0] = local_dt.weekday()
        return 0

    cdef double _salary_regularity(self, tuple salaries, tz) except? -1.0:
        """features.salary_regularity(salaries, tz), with each local day found in C."""
        cdef _ZoneHours zone = self._zone(tz)
        cdef long long t, seconds, offset
        cdef int day, low = 32, high = 0
        cdef Py_ssize_t k, n = PyTuple_GET_SIZE(salaries)
        if n < 2:
            return 0.0
        if zone is None:
            return self.salary_regularity(salaries, tz)
        for k in range(n):
            t = <object>PyTuple_GET_ITEM(salaries, k)
            if not 0 <= t < _SALARY_MS_LIMIT:
                return self.salary_regularity(salaries, tz)
            seconds = t / 1000
            if zone.offset(seconds / 3600, &offset):
                day = _day_of_month(_EPOCH_ORDINAL + _floor_div_ll(seconds + offset, 86400))
            else:
                day = datetime.fromtimestamp(<double>t / 1000.0, _UTC).astimezone(tz).day
            low = day if day < low else low
            high = day if day > high else high
        cdef double regularity = 1.0 - <double>(high - low) / 10.0
        return regularity if regularity > 0.0 else 0.0

    cdef double _haversine_km(self, double lat1, double lon1, lat2_obj, lon2_obj) except? -1.0:
        """features.haversine_km; inputs that would make ``math`` raise go to it."""
        cdef double lat2 = lat2_obj, lon2 = lon2_obj
        cdef double p1 = lat1 * _DEG_TO_RAD, p2 = lat2 * _DEG_TO_RAD
        cdef double dp = p2 - p1, dl = (lon2 - lon1) * _DEG_TO_RAD, a, s
        if isfinite(p1) and isfinite(p2) and isfinite(dp) and isfinite(dl):
            a = _square(sin(dp / 2.0)) + cos(p1) * cos(p2) * _square(sin(dl / 2.0))
            if a >= 0.0:
                s = sqrt(a)
                return 2.0 * _EARTH_RADIUS_KM * asin(s if s < 1.0 else 1.0)
        return self.haversine_km(lat1, lon1, lat2_obj, lon2_obj)

    def build(self, txn, update, tz):
        """The feature dict of ``txn`` given its StateUpdate (features.build_features)."""
        cdef dict out = PyDict_Copy(self.template)
        cdef SlotReader rt = self.txn_slots, ru = self.update_slots
        cdef _Filling f
        cdef Py_ssize_t k, n
        cdef int hour, weekday
        cdef double amount, since, mean, m2, std, distance = 0.0, velocity = 0.0
        cdef long long amount_minor, t, inflow, prev_ts, prev_ch, ts, nb
        cdef const unsigned char* is_sum

        f.out = <PyObject*>out
        f.names = <PyObject*>self.names
        f.n = PyTuple_GET_SIZE(self.names)
        f.i = 0
        f.values = rw_dict_values(<PyObject*>out, f.n) if self.by_position else NULL

        # The transaction.
        amount = float(rt.get(txn, _T_AMOUNT))
        self._local_hour_weekday(rt.get(txn, _T_TS), tz, &hour, &weekday)
        channel = rt.get(txn, _T_CHANNEL)
        direction = rt.get(txn, _T_DIRECTION)
        card_present = channel in self.card_present
        _put(&f, amount)
        if amount > -1.0 and isfinite(amount):
            _put(&f, amount if amount == 0.0 else log1p(amount))
        else:
            _put_object(&f, math.log1p(amount))
        _put(&f, <double>hour)
        _put(&f, <double>weekday)
        _put(&f, 1.0 if weekday >= 5 else 0.0)
        _put(&f, 1.0 if hour < 6 else 0.0)
        _put(&f, 1.0 if direction == "debit" else 0.0)
        _put(&f, 1.0 if card_present else 0.0)
        _put_object(&f, channel)
        _put_object(&f, direction)
        _put_object(&f, rt.get(txn, _T_KIND))
        _put_object(&f, rt.get(txn, _T_MCC))
        _put_object(&f, rt.get(txn, _T_COUNTRY))
        _put_object(&f, rt.get(txn, _T_CITY))
        _put_object(&f, rt.get(txn, _T_CURRENCY))

        # The customer's windows: the fold's array("q"), read as C long longs (any other
        # sequence of ints, as a StateUpdate made elsewhere holds, is made one first).
        totals_in = ru.get(update, _U_TOTALS)
        cdef array totals = (
            totals_in if type(totals_in) is array and (<array>totals_in).ob_descr.typecode == c"q"
            else _array.array("q", totals_in)
        )
        n = len(totals)
        if len(self.sum_flags) != n:
            raise ValueError(f"{n} totals, {len(self.sum_flags)} scales")
        is_sum = self.sum_flags
        cdef const long long* tv = totals.data.as_longlongs
        for k in range(n):
            t = tv[k]
            _put(&f, <double>t * _SUM_SCALE if is_sum[k] else <double>t)
        for pair in self.net_flows:
            _put(&f, _true_div(tv[<Py_ssize_t>pair[0]] - tv[<Py_ssize_t>pair[1]], 100))

        # Profile.
        inflow = tv[_INFLOW_24H]
        if inflow > 0:
            since = _true_div(ru.get(update, _U_PASSTHROUGH), inflow)
            _put(&f, since if since < 1.0 else 1.0)
        else:
            _put(&f, 0.0)
        _put(&f, _true_div(ru.get(update, _U_MAX_INFLOW), 100))
        _put(&f, self._salary_regularity(ru.get(update, _U_SALARIES), tz))
        for v in ru.get(update, _U_DISTINCT):
            _put(&f, <double><long long>v)

        # Timing and first seen.
        ts = ru.get(update, _U_TS)
        prev_ts = ru.get(update, _U_PREV_TS)
        prev_ch = ru.get(update, _U_PREV_CH)
        since = _true_div(ts - prev_ts, 1000) if prev_ts >= 0 else 0.0
        _put(&f, since)
        _put(&f, _true_div(ts - prev_ch, 1000) if prev_ch >= 0 else 0.0)
        _put(&f, _floor_div(since, 86400.0))
        for v in ru.get(update, _U_NEW_FLAGS):
            _put(&f, <double><long long>v)

        # Geo.
        prev_geo = ru.get(update, _U_PREV_GEO)
        if prev_geo is not None and card_present:
            lat = rt.get(txn, _T_LAT)
            lon = rt.get(txn, _T_LON)
            if lat is not None and lon is not None:
                prev_geo_ts, prev_lat, prev_lon = prev_geo
                distance = self._haversine_km(prev_lat, prev_lon, lat, lon)
                t = prev_geo_ts
                t = ts - t
                velocity = distance / _true_div(t if t > 60_000 else 60_000, 3_600_000)
        _put(&f, distance)
        _put(&f, velocity)

        # Baseline.
        amount_minor = rt.get(txn, _T_AMOUNT_MINOR)
        baseline = ru.get(update, _U_BASELINE)
        nb = baseline[0]
        mean = baseline[1]
        m2 = baseline[2]
        std = sqrt(m2 / <double>(nb - 1)) if nb >= 2 else 0.0
        _put(&f, mean / 100.0)
        _put(&f, std / 100.0)
        _put(&f, (<double>amount_minor - mean) / std if std > 0 else 0.0)
        _put(&f, <double>amount_minor / mean if nb >= 1 and mean > 0 else 1.0)
        _put(&f, <double>nb)

        # Entities.
        entities = ru.get(update, _U_ENTITIES)
        for prefix in self.entity_prefixes:
            for v in <tuple>(<dict>entities).get(prefix, self.no_entity):
                _put(&f, <double><long long>v)

        _put(&f, 1.0 if ru.get(update, _U_LATE) else 0.0)
        if f.i != f.n:
            raise ValueError(f"{f.i} values made, {f.n} expected")
        return out


cdef bint _fills_by_position(dict template, tuple names) except -1:
    """Whether a copy of ``template`` shows rw_dict_values's layout: its entries are
    ``names`` with the template's values, in order (checked on a real copy, once)."""
    cdef Py_ssize_t i, n = PyTuple_GET_SIZE(names)
    cdef dict copy = PyDict_Copy(template)
    cdef PyObject** entries = rw_dict_values(<PyObject*>copy, n)
    if entries == NULL:
        return False
    for i in range(n):
        name = <object>PyTuple_GET_ITEM(names, i)
        if (rw_entry_key(entries, i) != <PyObject*>name
                or rw_entry_value(entries, i) != <PyObject*>template[name]):
            return False
    return True


cdef inline double _square(double x) noexcept:
    """CPython's ``x ** 2`` for a finite float: +0.0 for a zero, else libm's pow(|x|, 2.0)."""
    if x == 0.0:
        return 0.0
    return pow(-x if x < 0.0 else x, _TWO)


cdef inline Py_ssize_t _small(double v) noexcept:
    """``v``'s index in _SMALL if it is a small whole number (not -0.0), else -1."""
    cdef long long whole
    if 0.0 <= v < _N_SMALL and not signbit(v):
        whole = <long long>v
        if <double>whole == v:
            return whole
    return -1


cdef inline int _put(_Filling* f, double v) except -1:
    """Set the next feature to the float ``v`` (a shared object for a small whole number).

    A new float is written into its entry here, not through _put_object: a
    float is never a container (no tracking to check), and the new one is
    handed over, not counted twice and released. ~200 values per event.
    """
    cdef Py_ssize_t i = f.i, small = _small(v)
    if f.values == NULL or i >= f.n:  # by key, or the error
        return _put_object(f, v if small < 0 else <object>PyTuple_GET_ITEM(_SMALL, small))
    if small >= 0:
        rw_replace_value(f.values, i, <object>PyTuple_GET_ITEM(_SMALL, small))
    else:
        rw_replace_with_float(f.values, i, v)
    f.i = i + 1
    return 0


cdef inline int _put_object(_Filling* f, object value) except -1:
    """Set the next feature to ``value``: into its entry's value slot, or by its key."""
    cdef Py_ssize_t i = f.i
    if i >= f.n:
        raise ValueError(f"more values than the {f.n} names")
    if f.values != NULL:
        rw_replace_value(f.values, i, value)
        if PyObject_IS_GC(value) and not PyObject_GC_IsTracked(<object>f.out):
            # As the dict itself would (MAINTAIN_TRACKING): a container now holds one.
            PyObject_GC_Track(<object>f.out)
    else:
        PyDict_SetItem(<object>f.out, <object>PyTuple_GET_ITEM(<object>f.names, i), value)
    f.i = i + 1
    return 0
