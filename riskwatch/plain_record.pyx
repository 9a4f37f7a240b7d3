# cython: language_level=3, boundscheck=False, wraparound=False
"""The plain-record shortcut of :func:`riskwatch.parsing.validate`, compiled.

Interpreted, the shortcut's checks cost more in bytecode, calls and
temporary tuples than in checking, and the frozen dataclass's generated
``__init__`` made 21 ``object.__setattr__`` calls through the interpreter:
together about six times what orjson takes to decode the record. Here one
walk over the record's keys finds the contract's fields (21 dict lookups
cost more: orjson's key objects are not the lookups', so each hit compares
texts), the checks read the ids' ASCII bytes, the usual timestamp
(``YYYY-MM-DDTHH:MM:SS[.fff]Z``) and amount (``123.45``) are read without
``fromisoformat`` and regular expressions, and the Transaction's 21 slots
are filled as ``object.__setattr__`` fills them (a slot's member descriptor
stores the reference at its offset), without the 21 calls. Its ``ts_ms`` and
``amount_minor`` are kept too, from the digits read here, for the state
store and the features to read without working them out again.

The verdicts are those of the interpreted shortcut it replaces: a
Transaction equal field for field (and of the same types) to the one
:func:`~riskwatch.parsing.validate_by_field` builds, or None when any check
fails or any doubt remains, and the field-by-field checks then find the
first failure and its reason. Timestamps and amounts of other forms go to
``parsing.parse_timestamp`` and ``parsing.parse_amount`` themselves, at the
point where the field-by-field checks call them (every earlier check has
passed), so their errors are the ones reported. tests/test_plain_record.py
holds the shortcut to the field-by-field checks on simulated and malformed
records.
"""

from cpython.datetime cimport (
    PyDateTime_CheckExact,
    PyDateTime_DATE_GET_HOUR,
    PyDateTime_DATE_GET_MICROSECOND,
    PyDateTime_DATE_GET_MINUTE,
    PyDateTime_DATE_GET_SECOND,
    PyDateTime_DATE_GET_TZINFO,
    PyDateTime_DELTA_GET_DAYS,
    PyDateTime_DELTA_GET_MICROSECONDS,
    PyDateTime_DELTA_GET_SECONDS,
    PyDateTime_GET_DAY,
    PyDateTime_GET_MONTH,
    PyDateTime_GET_YEAR,
    PyDelta_CheckExact,
    datetime_new,
    import_datetime,
)
from cpython.dict cimport PyDict_Next
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF
from cpython.unicode cimport PyUnicode_GET_LENGTH
from libc.string cimport memcmp

from dataclasses import fields
from datetime import UTC
from decimal import Decimal

from riskwatch.contracts import CHANNELS, DIRECTIONS, Transaction

import_datetime()

COMPILED = True

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object)
    const unsigned char* PyUnicode_1BYTE_DATA(object)

include "object_slots.pxi"

#: The Transaction's fields in order: every one of its slots is filled here.
_FIELDS = (
    "txn_id", "ts", "customer_id", "account_id", "channel", "direction", "kind", "amount",
    "currency", "card_id", "merchant_id", "mcc", "terminal_id", "device_id", "ip", "country",
    "city", "lat", "lon", "counterparty_account", "counterparty_bank",
)

cdef enum:
    # The number of fields, and each one's place in _FIELDS.
    N_FIELDS = 21
    TXN_ID = 0
    TS, CUSTOMER_ID, ACCOUNT_ID, CHANNEL, DIRECTION, KIND, AMOUNT, CURRENCY, CARD_ID
    MERCHANT_ID, MCC, TERMINAL_ID, DEVICE_ID, IP, COUNTRY, CITY, LAT, LON, CP_ACCOUNT, CP_BANK

if (TXN_ID, TS, CUSTOMER_ID, ACCOUNT_ID, CHANNEL, DIRECTION, KIND, AMOUNT, CURRENCY, CARD_ID,
        MERCHANT_ID, MCC, TERMINAL_ID, DEVICE_ID, IP, COUNTRY, CITY, LAT, LON, CP_ACCOUNT,
        CP_BANK, N_FIELDS) != tuple(range(len(_FIELDS) + 1)):
    raise ImportError("riskwatch.plain_record's places of the fields are not _FIELDS's")
if tuple(f.name for f in fields(Transaction)) != _FIELDS or Transaction.__slots__ != _FIELDS:
    raise ImportError("riskwatch.plain_record fills a Transaction's fields as of 21 names; "
                      "Transaction's fields changed, change _FIELDS and the places with them")
if Transaction.__new__ is not object.__new__:
    raise ImportError("riskwatch.plain_record makes Transactions with object.__new__")

cdef object _TRANSACTION = Transaction
cdef tuple _NO_ARGS = ()
cdef object _DECIMAL = Decimal
cdef object _UTC = UTC
cdef tuple _CHANNELS = tuple(CHANNELS)
cdef tuple _DIRECTIONS = tuple(DIRECTIONS)
#: Longer texts would rest on the decimal context's precision in quantize(Decimal("0.01")),
#: and their hundredths could overflow 64 bits.
cdef Py_ssize_t _MAX_AMOUNT_TEXT = 20
cdef Py_ssize_t _MAX_TEXT = 256
# parse_timestamp's earliest time (1990-01-01T00:00Z), and datetime's range, in
# microseconds since the epoch.
cdef long long _EARLIEST_MICROS = 631_152_000_000_000
cdef long long _FIRST_MICROS = -62_135_596_800_000_000
cdef long long _LAST_MICROS = 253_402_300_799_999_999

# The fields' names as C text, to know a record's keys by, and their slots' offsets.
cdef enum:
    LONGEST_NAME = 20  # "counterparty_account"
    SAME_LENGTH = 3  # at most so many names are as long as one another
cdef tuple _NAME_BYTES = tuple(name.encode("ascii") for name in _FIELDS)
cdef const char* _NAMES[N_FIELDS]
#: For each length, the places of the names that long (-1 after the last).
cdef int _BY_LENGTH[LONGEST_NAME + 1][SAME_LENGTH]
cdef Py_ssize_t _OFFSETS[N_FIELDS]
# The offsets of the slots where Transaction keeps its ts_ms and amount_minor.
cdef Py_ssize_t _TS_MS_OFFSET, _AMOUNT_MINOR_OFFSET


cdef Py_ssize_t _slot_offset(str name) except -1:
    """Where in a Transaction the slot ``name`` keeps its reference (else the import fails)."""
    try:
        return slot_offset(Transaction, name)
    except TypeError as exc:
        raise ImportError(str(exc)) from exc


cdef int _layout() except -1:
    """Fill the tables above, once; any surprise in Transaction's layout stops the import."""
    global _TS_MS_OFFSET, _AMOUNT_MINOR_OFFSET
    cdef int i, j
    cdef Py_ssize_t n
    for n in range(LONGEST_NAME + 1):
        for j in range(SAME_LENGTH):
            _BY_LENGTH[n][j] = -1
    for i in range(N_FIELDS):
        _NAMES[i] = <bytes>_NAME_BYTES[i]
        n = len(<bytes>_NAME_BYTES[i])
        j = 0
        while n <= LONGEST_NAME and j < SAME_LENGTH and _BY_LENGTH[n][j] >= 0:
            j += 1
        if n > LONGEST_NAME or j == SAME_LENGTH:
            raise ImportError(f"raise LONGEST_NAME or SAME_LENGTH for {_FIELDS[i]!r}")
        _BY_LENGTH[n][j] = i
        _OFFSETS[i] = _slot_offset(_FIELDS[i])
    _TS_MS_OFFSET = _slot_offset("_ts_ms")
    _AMOUNT_MINOR_OFFSET = _slot_offset("_amount_minor")
    return 0


_layout()


cdef inline const unsigned char* _ascii(object value, Py_ssize_t* n) noexcept:
    """The characters of an ASCII str, one byte each (``n`` gets how many), else NULL."""
    if type(value) is not str or not PyUnicode_IS_ASCII(value):
        return NULL
    n[0] = PyUnicode_GET_LENGTH(value)
    return PyUnicode_1BYTE_DATA(value)


cdef inline int _field_of(object key) noexcept:
    """The place in _FIELDS of a key equal to a field's name, -1 for any other key."""
    cdef Py_ssize_t n = 0
    cdef const unsigned char* s = _ascii(key, &n)
    cdef int i, j
    if s is NULL or n > LONGEST_NAME:
        return -1
    for j in range(SAME_LENGTH):
        i = _BY_LENGTH[n][j]
        if i < 0:
            return -1
        if _NAMES[i][0] == s[0] and memcmp(_NAMES[i], s, n) == 0:
            return i
    return -1


cdef inline object _value(PyObject* value):
    return None if value is NULL else <object>value


cdef inline bint _is_id(object value, Py_ssize_t max_length) noexcept:
    """A text of 1 to max_length characters in [!-{}~]: printable ASCII, no space or '|'."""
    cdef Py_ssize_t n = 0, i
    cdef const unsigned char* s = _ascii(value, &n)
    cdef unsigned char c
    if s is NULL or n < 1 or n > max_length:
        return False
    for i in range(n):
        c = s[i]
        if c < 0x21 or c > 0x7E or c == 0x7C:
            return False
    return True


cdef inline bint _optional_id(object value, Py_ssize_t max_length) noexcept:
    return value is None or _is_id(value, max_length)


cdef inline bint _is_digit(unsigned char c) noexcept:
    return 0x30 <= c <= 0x39


cdef bint _may_hold_card_number(object value) noexcept:
    """Whether an ASCII text might match the card-number shape at all.

    Every match is 13 or more digits in a row, or four in a row, a space or
    a dash, and four more: where neither is found, the pattern finds nothing.
    """
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(value), i = 0, j
    cdef const unsigned char* s = PyUnicode_1BYTE_DATA(value)
    while i < n:
        if not _is_digit(s[i]):
            i += 1
            continue
        j = i
        while j < n and _is_digit(s[j]):
            j += 1
        if j - i >= 13:
            return True
        if (j - i >= 4 and j + 4 < n and (s[j] == 0x2D or s[j] == 0x20) and _is_digit(s[j + 1])
                and _is_digit(s[j + 2]) and _is_digit(s[j + 3]) and _is_digit(s[j + 4])):
            return True
        i = j
    return False


cdef inline bint _one_of(object value, tuple options) noexcept:
    """``value in options`` for a text among ASCII texts."""
    cdef Py_ssize_t n = 0
    cdef const unsigned char* s = _ascii(value, &n)
    if s is NULL:
        return False
    for option in options:
        if PyUnicode_GET_LENGTH(option) == n and memcmp(PyUnicode_1BYTE_DATA(option), s, n) == 0:
            return True
    return False


cdef inline bint _is_currency(object value) noexcept:
    """Three letters A to Z, as ``[A-Z]{3}`` fullmatches."""
    cdef Py_ssize_t n = 0
    cdef const unsigned char* s = _ascii(value, &n)
    if s is NULL or n != 3:
        return False
    return 0x41 <= s[0] <= 0x5A and 0x41 <= s[1] <= 0x5A and 0x41 <= s[2] <= 0x5A


cdef inline bint _short_text(object value) noexcept:
    return value is None or (type(value) is str and PyUnicode_GET_LENGTH(value) <= _MAX_TEXT)


cdef inline int _digits(const unsigned char* s, Py_ssize_t n) noexcept:
    """The value of n ASCII digits, or -1 if any is not one."""
    cdef int value = 0
    cdef Py_ssize_t i
    for i in range(n):
        if not _is_digit(s[i]):
            return -1
        value = value * 10 + (s[i] - 0x30)
    return value


cdef inline long long _days_since_epoch(int year, int month, int day) noexcept:
    """Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil)."""
    cdef long long y = year - (1 if month <= 2 else 0)
    cdef long long era = y // 400
    cdef long long yoe = y - era * 400
    cdef long long doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


cdef object _usual_timestamp(object value, long long* micros):
    """``YYYY-MM-DDTHH:MM:SSZ`` or ``...:SS.fffZ`` as fromisoformat reads it, or None.

    fromisoformat gives such a text the UTC singleton as its zone, which
    astimezone(UTC) keeps, and whole milliseconds, which the truncation to
    milliseconds keeps: so the datetime below is parse_timestamp's. A field
    out of range (month 13, February 30) is left to fromisoformat's verdict.
    ``micros`` gets its microseconds since the epoch.
    """
    cdef Py_ssize_t n = 0
    cdef const unsigned char* s = _ascii(value, &n)
    cdef int year, month, day, hour, minute, second, millis = 0
    if s is NULL or (n != 20 and n != 24):
        return None
    if (s[4] != 0x2D or s[7] != 0x2D or s[10] != 0x54 or s[13] != 0x3A or s[16] != 0x3A
            or s[n - 1] != 0x5A):  # "-", "-", "T", ":", ":", "Z"
        return None
    if n == 24:
        if s[19] != 0x2E:  # "."
            return None
        millis = _digits(s + 20, 3)
    year, month, day = _digits(s, 4), _digits(s + 5, 2), _digits(s + 8, 2)
    hour, minute, second = _digits(s + 11, 2), _digits(s + 14, 2), _digits(s + 17, 2)
    if not (1 <= year and 1 <= month <= 12 and 1 <= day <= 31 and 0 <= hour <= 23
            and 0 <= minute <= 59 and 0 <= second <= 59 and millis >= 0):
        return None
    try:
        ts = datetime_new(year, month, day, hour, minute, second, millis * 1000, _UTC)
    except ValueError:  # a day the month lacks
        return None
    micros[0] = (
        ((_days_since_epoch(year, month, day) * 24 + hour) * 60 + minute) * 60 + second
    ) * 1_000_000 + millis * 1000
    return ts


cdef bint _latest_micros(object now, object max_future, long long* micros) except -1:
    """Microseconds since the epoch of ``now + max_future``, if C arithmetic gives them.

    Only for a datetime in the UTC singleton and a timedelta, whose sum lies in
    datetime's range: then ``ts > now + max_future`` compares these numbers
    (the same tzinfo: Python compares the fields as they are). False leaves
    the comparison, and any error it raises, to Python.
    """
    cdef long long latest
    if not PyDateTime_CheckExact(now) or not PyDelta_CheckExact(max_future):
        return False
    if PyDateTime_DATE_GET_TZINFO(now) is not <PyObject*>_UTC:
        return False
    latest = (
        _days_since_epoch(PyDateTime_GET_YEAR(now), PyDateTime_GET_MONTH(now),
                          PyDateTime_GET_DAY(now)) * 86_400
        + PyDateTime_DATE_GET_HOUR(now) * 3600 + PyDateTime_DATE_GET_MINUTE(now) * 60
        + PyDateTime_DATE_GET_SECOND(now)
        + <long long>PyDateTime_DELTA_GET_DAYS(max_future) * 86_400
        + PyDateTime_DELTA_GET_SECONDS(max_future)
    ) * 1_000_000 + PyDateTime_DATE_GET_MICROSECOND(now) + PyDateTime_DELTA_GET_MICROSECONDS(
        max_future
    )
    if not _FIRST_MICROS <= latest <= _LAST_MICROS:
        return False
    micros[0] = latest
    return True


cdef object _usual_amount(object value, unsigned long long* minor):
    """A ``123.45`` text above zero as parse_amount's Decimal, or None.

    Two decimals already: quantize to the cent keeps the coefficient and the
    exponent (at most 19 digits, within any working precision of 19 or more;
    the default is 28), so Decimal(value) is parse_amount's result. ``minor``
    gets its digits as one number: the amount in hundredths, below 10**19.
    """
    cdef Py_ssize_t n = 0, i
    cdef const unsigned char* s = _ascii(value, &n)
    cdef bint nonzero = False
    cdef unsigned long long hundredths = 0
    if s is NULL or n < 4 or n > _MAX_AMOUNT_TEXT or s[n - 3] != 0x2E:  # "."
        return None
    for i in range(n):
        if i == n - 3:
            continue
        if not _is_digit(s[i]):
            return None
        if s[i] != 0x30:
            nonzero = True
        hundredths = hundredths * 10 + (s[i] - 0x30)
    if not nonzero:
        return None
    minor[0] = hundredths
    return _DECIMAL(value)


cdef object _new_transaction(PyObject** values, object ts_ms, object amount_minor):
    """A Transaction of these field values (NULL for None), as its __init__ would make it.

    ``ts_ms`` and ``amount_minor`` go to its caches when known (not None).
    """
    cdef object txn = (<PyTypeObject*>_TRANSACTION).tp_new(_TRANSACTION, <PyObject*>_NO_ARGS, NULL)
    cdef int i
    for i in range(N_FIELDS):
        rw_set_slot(txn, _OFFSETS[i], <object>values[i] if values[i] is not NULL else None)
    if ts_ms is not None:
        rw_set_slot(txn, _TS_MS_OFFSET, ts_ms)
    if amount_minor is not None:
        rw_set_slot(txn, _AMOUNT_MINOR_OFFSET, amount_minor)
    return txn


cdef class PlainRecords:
    """Transactions of plain records; built once by riskwatch.parsing with its own checks.

    ``parse_timestamp`` and ``parse_amount`` read the forms this module does
    not; ``pan_search`` is the card-number shape's ``re.Pattern.search``.
    """

    cdef object parse_timestamp, parse_amount, pan_search

    def __init__(self, parse_timestamp: object, parse_amount: object, pan_search: object):
        self.parse_timestamp = parse_timestamp
        self.parse_amount = parse_amount
        self.pan_search = pan_search

    def transaction(self, record: object, now: object, limits: object) -> object:
        """The Transaction of a plain record, or None: no verdict, ask validate_by_field."""
        if type(record) is not dict:
            return None
        cdef PyObject* found[N_FIELDS]
        cdef PyObject* key = NULL
        cdef PyObject* value = NULL
        cdef Py_ssize_t pos = 0
        cdef int i
        cdef long long ts_micros = 0, latest_micros = 0
        cdef unsigned long long hundredths = 0
        ts_ms = amount_minor = None
        for i in range(N_FIELDS):
            found[i] = NULL
        while PyDict_Next(record, &pos, &key, &value):
            i = _field_of(<object>key)
            if i >= 0:
                found[i] = value
            elif type(<object>key) is not str:
                return None  # a str subclass could stand for a field's name
        # Held here: the calls below could, in principle, change the record.
        txn_id, ts_value = _value(found[TXN_ID]), _value(found[TS])
        customer_id, account_id = _value(found[CUSTOMER_ID]), _value(found[ACCOUNT_ID])
        channel, direction = _value(found[CHANNEL]), _value(found[DIRECTION])
        kind, amount_value = _value(found[KIND]), _value(found[AMOUNT])
        currency, card_id = _value(found[CURRENCY]), _value(found[CARD_ID])
        merchant_id, terminal_id = _value(found[MERCHANT_ID]), _value(found[TERMINAL_ID])
        device_id, lat, lon = _value(found[DEVICE_ID]), _value(found[LAT]), _value(found[LON])
        cp_account, cp_bank = _value(found[CP_ACCOUNT]), _value(found[CP_BANK])
        mcc, ip = _value(found[MCC]), _value(found[IP])
        country, city = _value(found[COUNTRY]), _value(found[CITY])
        # Up to the timestamp, the field-by-field checks in their order; each id
        # checked here is also free of a card number's shape, as contains_card_number
        # would find none where pan_search finds none.
        cdef Py_ssize_t max_id = limits.max_id_length
        if not (_is_id(txn_id, max_id) and _is_id(customer_id, max_id)
                and _is_id(account_id, max_id) and _is_id(kind, max_id)
                and _optional_id(card_id, max_id) and _optional_id(merchant_id, max_id)
                and _optional_id(terminal_id, max_id) and _optional_id(device_id, max_id)
                and _optional_id(cp_account, max_id) and _optional_id(cp_bank, max_id)):
            return None
        if card_id is not None and _may_hold_card_number(card_id) and self.pan_search(card_id):
            return None
        if (cp_account is not None and _may_hold_card_number(cp_account)
                and self.pan_search(cp_account)):
            return None
        if not (_one_of(channel, _CHANNELS) and _one_of(direction, _DIRECTIONS)
                and _is_currency(currency)):
            return None
        if ts_value is None or amount_value is None or (lat is None) != (lon is None):
            return None
        ts = _usual_timestamp(ts_value, &ts_micros)
        if ts is not None and ts_micros >= _EARLIEST_MICROS:
            if _latest_micros(now, limits.max_future, &latest_micros):
                if ts_micros > latest_micros:
                    ts = None
            elif ts > now + limits.max_future:
                ts = None
        else:
            ts = None
        if ts is None:  # another form, or a refusal: parse_timestamp has the verdict
            ts = self.parse_timestamp(ts_value, now, limits)
        else:
            ts_ms = ts_micros // 1000  # whole milliseconds since the epoch: ts_to_ms(ts)
        amount = _usual_amount(amount_value, &hundredths)
        if amount is None or amount > limits.max_amount:
            amount = self.parse_amount(amount_value, limits)
        else:
            amount_minor = hundredths  # int((amount * 100).to_integral_value()), exactly
        if lat is not None:
            if type(lat) is not float or type(lon) is not float:
                return None
            if not (-90.0 <= <double>lat <= 90.0 and -180.0 <= <double>lon <= 180.0):
                return None
        if not (_short_text(mcc) and _short_text(ip) and _short_text(country)
                and _short_text(city)):
            return None
        found[TS] = <PyObject*>ts
        found[AMOUNT] = <PyObject*>amount
        return _new_transaction(found, ts_ms, amount_minor)
