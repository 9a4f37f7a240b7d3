# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""MessagePack encoding of a customer blob, compiled: the bytes ``msgpack.Packer`` makes.

Every batch that changes a customer packs its whole state (about 430 objects
for a customer with 30 days of history: the day buckets, the sightings, the
exact log) before compressing it. The ``msgpack`` C extension spends about
90 ns an object on it (a Python comparison and a conversion per int, a call
per container); this encoder walks the same lists, dicts, ints, floats and
texts with C type checks and writes into one growing buffer, several times
faster. It writes exactly what ``msgpack.Packer(use_bin_type=True)`` writes
(the smallest encoding of each int, floats as 64-bit doubles, str8 for short
texts, maps in the dict's order), so a blob reads back with ``msgpack`` as
before and tests/test_blob_pack.py holds the two to the same bytes. Only the
types a decoded state holds are known here; anything else (bytes, a set, an
int beyond 64 bits) raises :class:`TypeError` or :class:`OverflowError`, as
it would be a bug in the state, not an input to pass through.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_Next, PyDict_Size
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_AsUnsignedLongLong
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.object cimport PyObject
from cpython.sequence cimport PySequence_Fast_GET_SIZE, PySequence_Fast_ITEMS
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcpy

#: Containers nest this deep at most (a blob nests four deep).
cdef int _MAX_DEPTH = 64


cdef struct Buffer:
    char* data
    Py_ssize_t size
    Py_ssize_t capacity


cdef inline int _reserve(Buffer* buf, Py_ssize_t more) except -1:
    cdef Py_ssize_t want = buf.size + more
    cdef char* grown
    if want <= buf.capacity:
        return 0
    want = max(want, 2 * buf.capacity)
    grown = <char*>PyMem_Realloc(buf.data, want)
    if grown == NULL:
        raise MemoryError()
    buf.data = grown
    buf.capacity = want
    return 0


cdef inline void _byte(Buffer* buf, uint8_t b) noexcept:
    """Append one byte; the caller has reserved room (``_pack`` reserves 9 per object)."""
    buf.data[buf.size] = <char>b
    buf.size += 1


cdef inline void _big_endian(Buffer* buf, uint8_t tag, uint64_t v, int width) noexcept:
    """``tag`` then the low ``width`` (1, 2, 4 or 8) bytes of ``v``, most significant first."""
    cdef unsigned char* out = <unsigned char*>buf.data + buf.size
    out[0] = tag
    if width == 1:
        out[1] = <unsigned char>v
    elif width == 2:
        out[1] = <unsigned char>(v >> 8)
        out[2] = <unsigned char>v
    elif width == 4:
        out[1] = <unsigned char>(v >> 24)
        out[2] = <unsigned char>(v >> 16)
        out[3] = <unsigned char>(v >> 8)
        out[4] = <unsigned char>v
    else:
        out[1] = <unsigned char>(v >> 56)
        out[2] = <unsigned char>(v >> 48)
        out[3] = <unsigned char>(v >> 40)
        out[4] = <unsigned char>(v >> 32)
        out[5] = <unsigned char>(v >> 24)
        out[6] = <unsigned char>(v >> 16)
        out[7] = <unsigned char>(v >> 8)
        out[8] = <unsigned char>v
    buf.size += 1 + width


cdef inline void _unsigned(Buffer* buf, uint64_t v) noexcept:
    if v < 0x80:
        _byte(buf, <uint8_t>v)
    elif v < 0x100:
        _big_endian(buf, 0xCC, v, 1)
    elif v < 0x10000:
        _big_endian(buf, 0xCD, v, 2)
    elif v >> 32 == 0:  # (v < 0x100000000 compared as Python ints: a literal beyond 2^31)
        _big_endian(buf, 0xCE, v, 4)
    else:
        _big_endian(buf, 0xCF, v, 8)


cdef inline void _negative(Buffer* buf, long long v) noexcept:
    if v >= -32:
        _byte(buf, <uint8_t>(v & 0xFF))
    elif v >= -128:
        _big_endian(buf, 0xD0, <uint64_t>v, 1)
    elif v >= -32768:
        _big_endian(buf, 0xD1, <uint64_t>v, 2)
    elif v >= -2147483648:
        _big_endian(buf, 0xD2, <uint64_t>v, 4)
    else:
        _big_endian(buf, 0xD3, <uint64_t>v, 8)


# rw_read_int: small ints read from CPython 3.11's digits (shared with fold.pyx).
include "cpython_ints.pxi"


cdef inline int _int(Buffer* buf, object o) except -1:
    cdef int overflow = 0
    cdef long long v
    cdef unsigned long long u
    cdef int read = rw_read_int(o, &v, &u)
    if read == 2:
        _unsigned(buf, u)
        return 0
    if read == 1:
        if v >= 0:
            _unsigned(buf, <uint64_t>v)
        else:
            _negative(buf, v)
        return 0
    v = PyLong_AsLongLongAndOverflow(o, &overflow)
    if overflow > 0:
        _unsigned(buf, PyLong_AsUnsignedLongLong(o))
    elif overflow < 0:
        raise OverflowError(f"{o} is beyond 64-bit MessagePack ints")
    elif v >= 0:
        _unsigned(buf, <uint64_t>v)
    else:
        _negative(buf, v)
    return 0


cdef inline void _header(Buffer* buf, Py_ssize_t n, uint8_t fix, Py_ssize_t fix_limit,
                         uint8_t tag16, uint8_t tag32) noexcept:
    if n < fix_limit:
        _byte(buf, fix | <uint8_t>n)
    elif n < 0x10000:
        _big_endian(buf, tag16, <uint64_t>n, 2)
    else:
        _big_endian(buf, tag32, <uint64_t>n, 4)


cdef int _text(Buffer* buf, object o) except -1:
    cdef Py_ssize_t n
    cdef const char* utf8 = PyUnicode_AsUTF8AndSize(o, &n)
    _reserve(buf, n + 9)
    if n < 32:
        _byte(buf, 0xA0 | <uint8_t>n)
    elif n < 0x100:
        _big_endian(buf, 0xD9, <uint64_t>n, 1)
    elif n < 0x10000:
        _big_endian(buf, 0xDA, <uint64_t>n, 2)
    else:
        _big_endian(buf, 0xDB, <uint64_t>n, 4)
    memcpy(buf.data + buf.size, utf8, n)
    buf.size += n
    return 0


cdef inline void _double(Buffer* buf, double d) noexcept:
    cdef uint64_t bits
    memcpy(&bits, &d, 8)
    _big_endian(buf, 0xCB, bits, 8)


cdef int _pack(Buffer* buf, object o, int depth) except -1:
    cdef Py_ssize_t i, n, pos = 0
    cdef PyObject* k
    cdef PyObject* v
    cdef PyObject** items
    if depth > _MAX_DEPTH:
        raise ValueError("a blob nests deeper than MessagePack encoding here allows")
    # Room for any header or number (at most 9 bytes); a text reserves its own.
    _reserve(buf, 9)
    if type(o) is int:
        return _int(buf, o)
    if o is None:
        _byte(buf, 0xC0)
        return 0
    if type(o) is float:
        _double(buf, PyFloat_AS_DOUBLE(o))
        return 0
    if o is True:
        _byte(buf, 0xC3)
        return 0
    if o is False:
        _byte(buf, 0xC2)
        return 0
    if type(o) is str:
        return _text(buf, o)
    # Ints, most of a blob, are written in place rather than by a call each.
    if type(o) is list or type(o) is tuple:
        n = PySequence_Fast_GET_SIZE(o)
        items = PySequence_Fast_ITEMS(o)
        _header(buf, n, 0x90, 16, 0xDC, 0xDD)
        for i in range(n):
            if type(<object>items[i]) is int:
                _reserve(buf, 9)
                _int(buf, <object>items[i])
            else:
                _pack(buf, <object>items[i], depth + 1)
        return 0
    if type(o) is dict:
        _header(buf, PyDict_Size(o), 0x80, 16, 0xDE, 0xDF)
        while PyDict_Next(o, &pos, &k, &v):
            if type(<object>k) is int and type(<object>v) is int:
                _reserve(buf, 18)
                _int(buf, <object>k)
                _int(buf, <object>v)
            else:
                _pack(buf, <object>k, depth + 1)
                _pack(buf, <object>v, depth + 1)
        return 0
    raise TypeError(f"a customer blob holds no {type(o).__name__}: {o!r}")


def pack(object state):
    """``state`` (lists, tuples, dicts, None, bools, ints, floats, texts) as MessagePack bytes.

    >>> import msgpack
    >>> s = [2, -1, {7: [0, 3, 1, 1999]}, [1.5, None, "CN", True], 2**64 - 1, -2**40]
    >>> pack(s) == msgpack.packb(s, use_bin_type=True)
    True
    """
    cdef Buffer buf
    buf.size = 0
    buf.capacity = 2048
    buf.data = <char*>PyMem_Malloc(buf.capacity)
    if buf.data == NULL:
        raise MemoryError()
    try:
        _pack(&buf, state, 0)
        return PyBytes_FromStringAndSize(buf.data, buf.size)
    finally:
        PyMem_Free(buf.data)
