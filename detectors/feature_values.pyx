# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The numbers ``detectors/features.py`` reads from a StateUpdate, compiled.

About two hundred features per event are plain arithmetic on the update's
integers (totals scaled to major units, net flows, ratios, times since,
baselines, entity counts); interpreted, each made and dropped Python ints
and floats through the interpreter's loop, a fifth of the feature stage's
CPU. Here they are C doubles, boxed once each. The values are the very
floats Python computes: the same IEEE operations in the same order (an int
turned into a double and then multiplied, divided or subtracted, as Python's
mixed arithmetic does), ``//`` as CPython's float floor division, and ints
divided by ints as Python's true division (exact rounding, even beyond
2^53, by handing such rare operands to Python). What needs Python (the
salary days' local dates, the great-circle distance) is computed by
``features.py`` and passed in. tests/test_features_reference.py holds the
features to an interpreted reference.
"""

from cpython.list cimport PyList_GET_SIZE, PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF
from libc.math cimport copysign, floor, fmod, sqrt

#: The totals that are sums of minor units (reported in major units): as features.py's names.
cdef double _SUM_SCALE = 0.01
#: Beyond this an int -> double conversion may round, so division is left to Python.
cdef long long _EXACT = 1LL << 53


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


cdef inline int _put(list out, Py_ssize_t* i, double v) except -1:
    if i[0] >= PyList_GET_SIZE(out):
        raise ValueError(f"more state values than the {PyList_GET_SIZE(out)} expected")
    cdef object item = v
    Py_INCREF(item)
    PyList_SET_ITEM(out, i[0], item)
    i[0] += 1
    return 0


def state_values(
    update,
    bytes sum_flags,
    tuple net_flows,
    tuple entity_prefixes,
    tuple no_entity,
    Py_ssize_t n_values,
    long long amount,
    double salary_regularity,
    double distance,
    double velocity,
):
    """The values of features.py's _STATE_NAMES, in order, as floats.

    ``sum_flags``: per total, 1 if it is a sum (scaled by 0.01), else 0;
    ``net_flows``: (credit index, debit index) per window; ``entity_prefixes``:
    the entities in their feature order, ``no_entity`` the counts of one that
    is absent; ``n_values``: how many values in all
    (the list is made at that size); ``amount``: the transaction's minor units.
    """
    cdef list out = PyList_New(n_values)
    cdef Py_ssize_t i = 0, k, n
    cdef tuple totals = update.totals
    cdef const unsigned char* is_sum = sum_flags
    cdef long long t, inflow, prev_ts, prev_ch, ts, nb
    cdef double since, mean, m2, std
    n = len(totals)
    if len(sum_flags) != n:
        raise ValueError(f"{n} totals, {len(sum_flags)} scales")
    for k in range(n):
        t = totals[k]
        if is_sum[k]:
            _put(out, &i, <double>t * _SUM_SCALE)
        else:
            _put(out, &i, <double>t)
    for pair in net_flows:
        _put(out, &i, _true_div(<long long>totals[pair[0]] - <long long>totals[pair[1]], 100))
    inflow = totals[4 * 3 + 3]  # credit sum of 24 h
    if inflow > 0:
        since = _true_div(update.passthrough_minor, inflow)
        _put(out, &i, since if since < 1.0 else 1.0)
    else:
        _put(out, &i, 0.0)
    _put(out, &i, _true_div(update.max_inflow_minor, 100))
    _put(out, &i, salary_regularity)
    for v in update.distinct:
        _put(out, &i, <double><long long>v)
    ts = update.ts_ms
    prev_ts = update.prev_ts_ms
    prev_ch = update.prev_channel_ts_ms
    since = _true_div(ts - prev_ts, 1000) if prev_ts >= 0 else 0.0
    _put(out, &i, since)
    _put(out, &i, _true_div(ts - prev_ch, 1000) if prev_ch >= 0 else 0.0)
    _put(out, &i, _floor_div(since, 86400.0))
    for v in update.new_flags:
        _put(out, &i, <double><long long>v)
    _put(out, &i, distance)
    _put(out, &i, velocity)
    baseline = update.baseline
    nb = baseline[0]
    mean = baseline[1]
    m2 = baseline[2]
    std = sqrt(m2 / <double>(nb - 1)) if nb >= 2 else 0.0
    _put(out, &i, mean / 100.0)
    _put(out, &i, std / 100.0)
    _put(out, &i, (<double>amount - mean) / std if std > 0 else 0.0)
    _put(out, &i, <double>amount / mean if nb >= 1 and mean > 0 else 1.0)
    _put(out, &i, <double>nb)
    entities = update.entities
    for prefix in entity_prefixes:
        for v in <tuple>(<dict>entities).get(prefix, no_entity):
            _put(out, &i, <double><long long>v)
    if i != n_values:
        raise ValueError(f"{i} state values made, {n_values} expected")
    return out
