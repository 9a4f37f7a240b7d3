# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""One script call's events at their entities, in the binary layouts ``entities.lua`` reads.

Each event used to reach the script as 4 + n argument strings (time, fresh,
customer, n, then n entity numbers), and its counts came back as six
integers per entity: the worker spent about 2 µs an event building the
arguments in Python and as long turning the reply into tuples, Redis parsed
each string into an object and then a Lua string, and the script converted
it back with ``tonumber``. Here an event is appended to one byte string as
it is added, which the script reads with one ``struct.unpack`` per event,
and the counts come back as one string that :meth:`EntityBatch.counts`
reads straight into the events' dicts.

The events, one after another, little-endian (``struct`` format
``'<i8BBHc0I4I4I4I4'``)::

    ts i8, fresh B, n B, len H, customer id (len bytes),
    entity number I4 * 4 (the first n are the event's, 1-based in KEYS
    order; the others 0)

The reply: per event and entity present, in ENTITIES order, its six
counts (events 1h/24h/7d, customers 1h/24h/7d) as I4, nothing else.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

#: Entities a transaction touches: feature prefix, key letter, transaction field.
ENTITIES = (
    ("terminal", "t", "terminal_id"),
    ("merchant", "m", "merchant_id"),
    ("device", "v", "device_id"),
    ("counterparty", "p", "counterparty_account"),
)

cdef tuple _LETTERS = tuple(letter for _, letter, _ in ENTITIES)
cdef tuple _PREFIXES = tuple(prefix for prefix, _, _ in ENTITIES)
#: An event's bytes besides its customer id, and a reply's per event and entity.
cdef enum:
    _EVENT_FIXED = 8 + 1 + 1 + 2 + 4 * 4
    _COUNTS = 6 * 4


cdef struct Buffer:
    char* data
    Py_ssize_t size
    Py_ssize_t capacity


cdef inline char* _grow(Buffer* buf, Py_ssize_t more) except NULL:
    """Room for ``more`` bytes at the end of ``buf``: where to write them."""
    cdef Py_ssize_t want = buf.size + more
    cdef char* grown
    if want > buf.capacity:
        want = max(want, 2 * buf.capacity, 256)
        grown = <char*>PyMem_Realloc(buf.data, want)
        if grown == NULL:
            raise MemoryError()
        buf.data = grown
        buf.capacity = want
    return buf.data + buf.size


cdef inline void _little(unsigned char* out, uint64_t v, int width) noexcept:
    cdef int i
    for i in range(width):
        out[i] = <unsigned char>(v >> (8 * i))


cdef inline uint32_t _u32(const unsigned char* p) noexcept:
    return p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef class EntityBatch:
    """One call's events at their entities: the script's KEYS and ARGV, built as events come.

    ``places`` remembers, between batches, each entity's own key, its
    customers' zset key, its bucket (None: it has none) and its field name
    there (key letter and id), per ENTITIES position by id;
    ``place(letter, id, field)`` works them out for an entity it does not
    hold.
    """

    cdef list _places
    cdef object _place
    #: Per ENTITIES position: entity id -> its number in this batch (1-based).
    cdef list _numbers
    #: Bucket key -> its number among the batch's buckets, as text.
    cdef dict _bucket_numbers
    cdef list _entity_keys
    cdef list _heads
    cdef Py_ssize_t _entities
    cdef Buffer _events
    #: Per event added: bit i set if it has entity ENTITIES[i].
    cdef Buffer _present

    def __init__(self, list places, place) -> None:
        self._places = places
        self._place = place
        self._numbers = [{}, {}, {}, {}]
        self._bucket_numbers = {}
        self._entity_keys = []
        self._heads = []

    def __dealloc__(self) -> None:
        PyMem_Free(self._events.data)
        PyMem_Free(self._present.data)

    def add(self, txn, long long ts_ms, bint fresh) -> None:
        """Record one event (``fresh``) or only read its counts, at its assessed time."""
        # In ENTITIES order (tests/test_entity_batch.py holds them to it).
        cdef tuple ids = (txn.terminal_id, txn.merchant_id, txn.device_id, txn.counterparty_account)
        cdef uint32_t numbers[4]
        cdef int bit, n = 0, present = 0
        cdef object value, number
        cdef dict known
        cdef Py_ssize_t size
        cdef unsigned char* out
        # Held here: the pointer is into this string's UTF-8, read after Python
        # code (_first) has run, so the string must outlive it.
        cdef str customer = txn.customer_id
        cdef const char* cid = PyUnicode_AsUTF8AndSize(customer, &size)
        if size > 0xFFFF:
            raise ValueError(f"a customer id of {size} bytes is too long for the entity script")
        for bit in range(4):
            value = ids[bit]
            if value is None:
                continue
            known = <dict>self._numbers[bit]
            number = known.get(value)
            if number is None:
                number = self._first(bit, value, known)
            numbers[n] = number
            n += 1
            present |= 1 << bit
        _grow(&self._present, 1)[0] = <char>present
        self._present.size += 1
        if n == 0:
            return
        out = <unsigned char*>_grow(&self._events, _EVENT_FIXED + size)
        _little(out, <uint64_t>ts_ms, 8)
        out[8] = 1 if fresh else 0
        out[9] = <unsigned char>n
        _little(out + 10, <uint64_t>size, 2)
        memcpy(out + 12, cid, size)
        out += 12 + size
        for bit in range(4):
            _little(out + 4 * bit, numbers[bit] if bit < n else 0, 4)
        self._events.size += _EVENT_FIXED + size

    cdef object _first(self, int bit, str value, dict known):
        """Number an entity on its batch's first event there, with its keys and bucket."""
        cdef dict places = <dict>self._places[bit]
        cdef str letter
        cdef object bucket, b
        place = places.get(value)
        if place is None:
            letter = _LETTERS[bit]
            place = places[value] = self._place(letter, value, letter + value)
        own, zset, bucket, field = place
        # Numbered only once its place is known: a batch whose place() raised
        # holds no number without keys.
        self._entities += 1
        number = known[value] = self._entities
        self._entity_keys += (own, zset)
        if bucket is None:
            b = "0"
        else:
            b = self._bucket_numbers.get(bucket)
            if b is None:
                b = self._bucket_numbers[bucket] = str(len(self._bucket_numbers) + 1)
        self._heads += (b, field)
        return number

    def call(self, customer_keys, blobs, ttl_ms, guard, seq):
        """``entities.lua``'s KEYS and ARGV: this batch's entities and events, and the
        customer blobs (under ``customer_keys``, with a TTL) to write in the same call.

        ``guard`` and ``seq`` chain the calls of one state batch: ``seq`` is this
        call's number among them (1, 2, ...), negative for the last; a call
        refuses to run unless the one before it completed.
        """
        keys = [*self._entity_keys, *self._bucket_numbers, *customer_keys, guard]
        events = PyBytes_FromStringAndSize(self._events.data, self._events.size)
        args = [self._entities, len(blobs), ttl_ms, *self._heads, events, *blobs, seq]
        return keys, args

    def __bool__(self) -> bool:
        return self._events.size > 0

    def counts(self, reply) -> list:
        """Per event added, in order: entity prefix -> its six counts.

        ``reply`` is the script's (empty, b"" or [], if no event has an
        entity); one of another length than the events need raises
        ValueError.
        """
        cdef const unsigned char* data = NULL
        cdef Py_ssize_t size = 0, at = 0, i
        cdef int bit
        cdef uint8_t present
        cdef dict entities
        cdef list out = []
        if reply:
            if type(reply) is not bytes:
                raise TypeError(f"entity counts come as bytes, not {type(reply).__name__}")
            data = <const unsigned char*>PyBytes_AS_STRING(reply)
            size = PyBytes_GET_SIZE(reply)
        for i in range(self._present.size):
            present = <uint8_t>self._present.data[i]
            entities = {}
            for bit in range(4):
                if present >> bit & 1:
                    if at + _COUNTS > size:
                        raise ValueError(f"entity counts of {size} bytes: too few for the events")
                    entities[_PREFIXES[bit]] = (
                        _u32(data + at), _u32(data + at + 4), _u32(data + at + 8),
                        _u32(data + at + 12), _u32(data + at + 16), _u32(data + at + 20),
                    )
                    at += _COUNTS
            out.append(entities)
        if at != size:
            raise ValueError(f"entity counts of {size} bytes for events that need {at}")
        return out
