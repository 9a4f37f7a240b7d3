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
it would be a bug in the state, not an input to pass through. The day
buckets are ``array('q')`` (typecode 'q' only): packed from their C buffer
as the MessagePack array of their ints, the bytes of the equivalent list.

:func:`unpack_state` decodes a blob into the state with its day buckets as
arrays: it reads the buckets itself, without an int object per number, and
leaves the rest to ``msgpack.unpackb`` (a compiled decoder of the whole blob
was no faster than msgpack: only the buckets' ints are worth avoiding).
Decoding and freeing a state costs ~99k instructions instead of ~117k with
msgpack's lists (bench.state's blobs, ~1,510 bytes), where converting
msgpack's lists to arrays would have cost ~206k.
"""

from cpython.array cimport array, clone
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_Next, PyDict_Size
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_AsUnsignedLongLong
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.object cimport PyObject
from cpython.sequence cimport PySequence_Fast_GET_SIZE, PySequence_Fast_ITEMS
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcpy

import array as _array

import msgpack

#: An empty ``array('q')``: what a decoded day bucket is cloned from.
cdef array _BUCKET = _array.array("q")

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


cdef inline void _signed(Buffer* buf, long long v) noexcept:
    if v >= 0:
        _unsigned(buf, <uint64_t>v)
    else:
        _negative(buf, v)


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
        _signed(buf, v)
        return 0
    v = PyLong_AsLongLongAndOverflow(o, &overflow)
    if overflow > 0:
        _unsigned(buf, PyLong_AsUnsignedLongLong(o))
    elif overflow < 0:
        raise OverflowError(f"{o} is beyond 64-bit MessagePack ints")
    else:
        _signed(buf, v)
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


cdef int _longlongs(Buffer* buf, array a) except -1:
    """An ``array('q')`` (a day bucket) as the MessagePack array of its ints: the bytes of
    the list of the same ints, written from the array's C buffer."""
    cdef Py_ssize_t i, n
    if a.ob_descr.typecode != c'q':
        raise TypeError(f"a customer blob holds only arrays of typecode 'q', not {a!r}")
    n = len(a)
    _reserve(buf, 5 + 9 * n)
    _header(buf, n, 0x90, 16, 0xDC, 0xDD)
    for i in range(n):
        _signed(buf, a.data.as_longlongs[i])
    return 0


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
    if type(o) is array:
        return _longlongs(buf, <array>o)
    raise TypeError(f"a customer blob holds no {type(o).__name__}: {o!r}")


def pack(object state):
    """``state`` (lists, tuples, dicts, None, bools, ints, floats, texts, arrays of
    typecode 'q', packed as lists of their ints) as MessagePack bytes.

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


# Decoding. ``msgpack.unpackb`` decodes a blob about as fast as any compiled decoder
# would, except for the day buckets: there it builds a list and an int object per
# number, which the fold then reads back into C. A blob's ``b`` is read here straight
# into ``array('q')`` buckets, and msgpack decodes the rest.

cdef enum:
    _BLOB_FIELDS = 12  # version 2: [2, nw, pd, ids, ev, b, seen, lt, lc, geo, sal, k]
    _B_FIELD = 5


cdef inline uint64_t _be(const unsigned char* p, int width) noexcept:
    """``width`` (1, 2, 4 or 8) bytes at ``p``, most significant first."""
    cdef uint64_t v = 0
    cdef int i
    for i in range(width):
        v = (v << 8) | p[i]
    return v


# What follows each MessagePack tag: >= 0, that many bytes; _ARRAY, _MAP: a container of
# the count in the tag's low bits (fix) or in the next 2 or 4 bytes; _STR: that many bytes,
# counted in the tag's low bits or in the next 1, 2 or 4 bytes; _EXT: as _STR, plus a type
# byte; _BAD: never written.
cdef enum:
    _ARRAY = -1
    _MAP = -2
    _STR = -3
    _EXT = -4
    _BAD = -5

cdef signed char _FOLLOWS[256]


cdef void _init_follows() noexcept:
    cdef int tag
    for tag in range(256):
        _FOLLOWS[tag] = 0
    for tag in range(0x80, 0x90):
        _FOLLOWS[tag] = _MAP
    for tag in range(0x90, 0xA0):
        _FOLLOWS[tag] = _ARRAY
    for tag in range(0xA0, 0xC0):
        _FOLLOWS[tag] = _STR
    _FOLLOWS[0xC1] = _BAD
    _FOLLOWS[0xC4] = _FOLLOWS[0xC5] = _FOLLOWS[0xC6] = _STR  # bin 8, 16, 32
    _FOLLOWS[0xC7] = _FOLLOWS[0xC8] = _FOLLOWS[0xC9] = _EXT  # ext 8, 16, 32
    _FOLLOWS[0xCA] = 4  # float 32
    _FOLLOWS[0xCB] = 8  # float 64
    _FOLLOWS[0xCC] = _FOLLOWS[0xD0] = 1
    _FOLLOWS[0xCD] = _FOLLOWS[0xD1] = 2
    _FOLLOWS[0xCE] = _FOLLOWS[0xD2] = 4
    _FOLLOWS[0xCF] = _FOLLOWS[0xD3] = 8
    for tag in range(0xD4, 0xD9):  # fixext 1, 2, 4, 8, 16
        _FOLLOWS[tag] = 1 + (1 << (tag - 0xD4))
    _FOLLOWS[0xD9] = _FOLLOWS[0xDA] = _FOLLOWS[0xDB] = _STR
    _FOLLOWS[0xDC] = _FOLLOWS[0xDD] = _ARRAY
    _FOLLOWS[0xDE] = _FOLLOWS[0xDF] = _MAP


_init_follows()


cdef inline Py_ssize_t _length(const unsigned char* p, Py_ssize_t pos, Py_ssize_t end,
                               int width, Py_ssize_t* n) noexcept:
    """The count in the ``width`` bytes at ``pos`` into *n, and where they end; -1: truncated."""
    if pos + width > end:
        return -1
    n[0] = <Py_ssize_t>_be(p + pos, width)
    return pos + width


cdef Py_ssize_t _skip(const unsigned char* p, Py_ssize_t pos, Py_ssize_t end) noexcept:
    """Where the MessagePack object at ``pos`` ends; -1: malformed or truncated."""
    cdef Py_ssize_t remaining = 1, n = 0
    cdef unsigned char tag
    cdef signed char follows
    while remaining > 0:
        if pos >= end:
            return -1
        tag = p[pos]
        pos += 1
        remaining -= 1
        follows = _FOLLOWS[tag]
        if follows >= 0:
            pos += follows
            continue
        if follows == _BAD:
            return -1
        if tag < 0xC0:  # fixmap, fixarray, fixstr
            n = tag & (0x1F if follows == _STR else 0x0F)
        else:
            # the count's width: 1, 2, 4 for bin, ext and str 8, 16, 32; 2, 4 for
            # array and map 16, 32 (their tags are even, then odd)
            if follows == _ARRAY or follows == _MAP:
                pos = _length(p, pos, end, 2 if tag & 1 == 0 else 4, &n)
            elif tag <= 0xC6:
                pos = _length(p, pos, end, 1 << (tag - 0xC4), &n)
            elif tag <= 0xC9:
                pos = _length(p, pos, end, 1 << (tag - 0xC7), &n)
            else:
                pos = _length(p, pos, end, 1 << (tag - 0xD9), &n)
            if pos < 0:
                return -1
        if follows == _ARRAY:
            remaining += n
        elif follows == _MAP:
            remaining += 2 * n
        else:
            pos += n + (1 if follows == _EXT else 0)
    return pos if pos <= end else -1


cdef inline Py_ssize_t _read_int(const unsigned char* p, Py_ssize_t pos, Py_ssize_t end,
                                 long long* v) noexcept:
    """The int at ``pos`` into *v, and where it ends; -1: not an int of a long long."""
    cdef unsigned char tag
    cdef uint64_t u
    cdef int n
    if pos >= end:
        return -1
    tag = p[pos]
    if tag <= 0x7F:
        v[0] = tag
        return pos + 1
    if tag >= 0xE0:
        v[0] = <signed char>tag
        return pos + 1
    if 0xCC <= tag <= 0xCF:
        n = 1 << (tag - 0xCC)
        if pos + 1 + n > end:
            return -1
        u = _be(p + pos + 1, n)
        if u > <uint64_t>0x7FFFFFFFFFFFFFFF:
            return -1
        v[0] = <long long>u
        return pos + 1 + n
    if 0xD0 <= tag <= 0xD3:
        n = 1 << (tag - 0xD0)
        if pos + 1 + n > end:
            return -1
        u = _be(p + pos + 1, n)
        if n == 1:
            v[0] = <signed char>u
        elif n == 2:
            v[0] = <short>u
        elif n == 4:
            v[0] = <int>u
        else:
            v[0] = <long long>u
        return pos + 1 + n
    return -1


cdef inline Py_ssize_t _read_header(const unsigned char* p, Py_ssize_t pos, Py_ssize_t end,
                                    unsigned char fix, unsigned char tag16,
                                    Py_ssize_t* n) noexcept:
    """The length of the array (``fix`` 0x90, ``tag16`` 0xDC) or map (0x80, 0xDE) at ``pos``
    into *n, and where its items start; -1: not one."""
    cdef unsigned char tag
    if pos >= end:
        return -1
    tag = p[pos]
    if tag & 0xF0 == fix:
        n[0] = tag & 0x0F
        return pos + 1
    if tag == tag16:
        return _length(p, pos + 1, end, 2, n)
    if tag == tag16 + 1:
        return _length(p, pos + 1, end, 4, n)
    return -1


cdef object _buckets(const unsigned char* p, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t* stop):
    """The day buckets (a map of ints to arrays of ints) at ``pos`` as a dict of
    ``array('q')``, and where they end into *stop; None: anything else."""
    cdef Py_ssize_t i, j, n, m
    cdef long long day
    cdef array bucket
    cdef long long* v
    cdef dict b = {}
    pos = _read_header(p, pos, end, 0x80, 0xDE, &n)
    if pos < 0:
        return None
    for i in range(n):
        pos = _read_int(p, pos, end, &day)
        if pos < 0:
            return None
        pos = _read_header(p, pos, end, 0x90, 0xDC, &m)
        # A bucket is its largest credit and whole triples: any other length is left
        # to the caller's checks (the fold reads a bucket's first value unchecked).
        if pos < 0 or m > end - pos or m % 3 != 1:
            return None
        bucket = clone(_BUCKET, m, False)
        v = bucket.data.as_longlongs
        for j in range(m):
            pos = _read_int(p, pos, end, &v[j])
            if pos < 0:
                return None
        b[day] = bucket
    stop[0] = pos
    return b


def unpack_state(bytes raw not None):
    """A blob of version 2's layout (uncompressed) decoded as ``msgpack.unpackb`` would,
    but for its day buckets: ``array('q')``, not lists of ints. None: not that layout
    (a map of the former one), or day buckets that are not maps of ints to lists of
    ints; the caller decodes those with msgpack.

    >>> import msgpack
    >>> unpack_state(msgpack.packb([2, -1, -1, {}, [], {19000: [5, 1, 2, 5]}, 0, 0, 0, 0, 0, 0]))
    [2, -1, -1, {}, [], {19000: array('q', [5, 1, 2, 5])}, 0, 0, 0, 0, 0, 0]
    """
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(raw)
    cdef Py_ssize_t end = PyBytes_GET_SIZE(raw), start, stop, n, i
    cdef char* out
    start = _read_header(p, 0, end, 0x90, 0xDC, &n)
    if start < 0 or n != _BLOB_FIELDS:
        return None
    for i in range(_B_FIELD):
        start = _skip(p, start, end)
        if start < 0:
            return None
    b = _buckets(p, start, end, &stop)
    if b is None:
        return None
    # The rest as msgpack decodes it, with nil where the buckets were.
    rest = PyBytes_FromStringAndSize(NULL, end - (stop - start) + 1)
    out = PyBytes_AS_STRING(rest)
    memcpy(out, p, start)
    out[start] = <char>0xC0
    memcpy(out + start + 1, p + stop, end - stop)
    s = msgpack.unpackb(rest, raw=False, strict_map_key=False, use_list=True)
    (<list>s)[_B_FIELD] = b
    return s
