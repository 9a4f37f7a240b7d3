# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Script calls in Redis's protocol (a RESP array of bulk strings), written in one pass.

hiredis.pack_command cost the worker some 14k instructions per event for
the entity script's calls: each argument's ``$len`` header goes through
sprintf (8.6k of it), and the ints had to be turned into text in Python
first (:func:`~detectors.lua_script.ints_as_text` says why). Here the
length of the whole command is worked out first, one bytes object of that
size is made, and the headers (decimal, by hand) and the arguments
(memcpy) are written straight into it. The bytes are the same as
hiredis.pack_command's for the same arguments (tests/test_resp.py holds
them to it).

Arguments are bytes, str (sent as UTF-8) or int (as its decimal text).
An int that fits in 64 bits is formatted here, without calling Python; a
larger one goes through ``str()``, whose errors (a signal handler raising
while it runs) propagate as usual.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.string cimport memcpy

#: Digits of the longest 64-bit value, with its sign.
cdef enum:
    _INT_TEXT = 20


cdef inline int _decimal(char* end, unsigned long long v) noexcept:
    """Write ``v``'s decimal digits ending just before ``end``: how many."""
    cdef int n = 0
    while True:
        n += 1
        end[-n] = <char>(48 + v % 10)
        v //= 10
        if v == 0:
            return n


cdef inline int _digits(unsigned long long v) noexcept:
    cdef int n = 1
    while v >= 10:
        v //= 10
        n += 1
    return n


cdef inline char* _header(char* out, char kind, Py_ssize_t n) noexcept:
    """Write ``*n`` or ``$n`` and CRLF at ``out``: where the next byte goes."""
    cdef char text[_INT_TEXT]
    cdef int width = _decimal(text + _INT_TEXT, <unsigned long long>n)
    out[0] = kind
    memcpy(out + 1, text + _INT_TEXT - width, width)
    out[1 + width] = 13
    out[2 + width] = 10
    return out + 3 + width


cdef inline Py_ssize_t _header_size(Py_ssize_t n) noexcept:
    return 3 + _digits(<unsigned long long>n)


cdef inline int _int_text(object value, char* end) except -1:
    """``value``'s decimal text ending before ``end``: its length, or 0 if it does
    not fit in 64 bits (then ``str()`` makes it)."""
    cdef int overflow = 0
    cdef long long v = PyLong_AsLongLongAndOverflow(value, &overflow)
    cdef int n
    if overflow:
        return 0
    if v < 0:
        n = _decimal(end, 0ULL - <unsigned long long>v)
        end[-n - 1] = 45  # '-'
        return n + 1
    return _decimal(end, <unsigned long long>v)


cdef Py_ssize_t _size(object part, list bigs) except -1:
    """The bytes ``part`` takes (header, text, CRLF); a big int's text goes to ``bigs``."""
    cdef Py_ssize_t n
    cdef char text[_INT_TEXT + 1]
    cdef bytes big
    if type(part) is bytes:
        n = PyBytes_GET_SIZE(part)
    elif type(part) is str:
        PyUnicode_AsUTF8AndSize(part, &n)
    elif type(part) is int:
        n = _int_text(part, text + _INT_TEXT + 1)
        if n == 0:
            big = str(part).encode()
            bigs.append(big)
            n = PyBytes_GET_SIZE(big)
    else:
        raise TypeError(f"a command's arguments are bytes, str or int, not {type(part).__name__}")
    return _header_size(n) + n + 2


cdef inline char* _bulk(char* out, const char* data, Py_ssize_t n) noexcept:
    out = _header(out, 36, n)  # '$'
    memcpy(out, data, n)
    out[n] = 13
    out[n + 1] = 10
    return out + n + 2


cdef char* _write(char* out, object part, list bigs, Py_ssize_t* next_big) except NULL:
    """Write ``part`` as a bulk string at ``out`` (its size known): where the next goes."""
    cdef Py_ssize_t n
    cdef const char* data
    cdef char text[_INT_TEXT + 1]
    cdef bytes big
    cdef int width
    if type(part) is bytes:
        return _bulk(out, PyBytes_AS_STRING(part), PyBytes_GET_SIZE(part))
    if type(part) is str:
        data = PyUnicode_AsUTF8AndSize(part, &n)
        return _bulk(out, data, n)
    width = _int_text(part, text + _INT_TEXT + 1)
    if width:
        return _bulk(out, text + _INT_TEXT + 1 - width, width)
    big = bigs[next_big[0]]
    next_big[0] += 1
    return _bulk(out, PyBytes_AS_STRING(big), PyBytes_GET_SIZE(big))


def pack_call(bytes command, bytes script, keys, args) -> bytes:
    """``command script numkeys *keys *args`` (EVALSHA and a SHA1, say) as one command.

    ``keys`` and ``args`` are sequences of bytes, str or int.
    """
    cdef tuple k = tuple(keys)
    return pack_command((command, script, len(k), *k, *args))


def pack_command(parts) -> bytes:
    """``parts`` (a sequence of bytes, str or int) as one command, as
    hiredis.pack_command packs it."""
    # A tuple: nothing can change it between the two passes (a signal handler may
    # run Python code while a big int becomes text).
    cdef tuple p = tuple(parts)
    cdef Py_ssize_t n = len(p), i, total, next_big = 0
    cdef list bigs = []
    cdef char* out
    total = _header_size(n)
    for i in range(n):
        total += _size(p[i], bigs)
    packed = PyBytes_FromStringAndSize(NULL, total)
    out = _header(PyBytes_AS_STRING(packed), 42, n)
    for i in range(n):
        out = _write(out, p[i], bigs, &next_big)
    return packed
