"""One customer's state blob: its layout, encoding and digests; the fold is compiled.

A customer belongs to exactly one shard and a shard to one worker, so the
customer's blob has a single writer: the state store holds it decoded
(``detectors/held_states.py``), folds every event into it (a customer with
several events in a batch in arrival order) with :func:`assess`, which
lives in ``detectors/fold.pyx`` (compiled by ``make install``; its docstring
says why and how) and is re-exported here with its ``Event``,
``Assessment``, ``FoldParams``, ``Memo``, :func:`digest` and the state
store's compiled per-event glue, and writes it back at the end of the
batch. The blob is one MessagePack array (packed by
``detectors/blob_pack.pyx``, compiled, into the bytes ``msgpack`` would
write; read back with ``msgpack`` but for the day buckets, which that module
reads: ``detectors/profile.py`` reads it with :func:`load`). Its layout
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
         + 1 for a credit, 12 cash in, 13 cash out. In memory a bucket is an
         ``array('q')``, on the wire the MessagePack array of its ints (the
         bytes of the list of them): as lists, their ints were ~170 of a
         30-day decoded state's ~430 Python objects,
         and a worker holding fewer customers than it serves decodes, folds,
         packs and frees a state per event; as C arrays they are read and
         bumped by the fold, packed and decoded (``unpack_state``) without an
         int object each (bench.state with 300 of 2,951 customers held: 277k
         instructions per event, not 291k), and a held state takes ~13.7 KB,
         not ~14.8 KB
    seen [merchants, devices, countries, counterparties, mccs], each
         value (digests for the first, second and fourth) -> ms of its
         latest folded sighting, counted from :func:`time_base` (so that it
         packs in 5 bytes, not 9)
    lt   latest folded event ms          lc   per channel index: latest folded ms, -1
    geo  [ms, lat, lon] latest folded card-present position (ms -1: none)
    sal  the six latest folded salary credits (ms)
    k    kind -> [n, mean, M2] (Welford, in arrival order)

Stored, the array is compressed with zstd with the 8 KB dictionary of
``detectors/blob_dictionary.py`` (trained on simulated blobs; that module
says how, and what it gains), at level -3's fast strategy but with 4-byte
matches and a 32k-entry hash table: a customer's final ~1,510 bytes on
bench.state's input are stored in ~1,123 (~1,135 at level -2, which
earlier versions wrote; ~1,105 with the first, 4 KB dictionary at level -1;
~1,250 at level 1 without one) for ~43k instructions per compress (~46k;
~65k; ~100k). Decoding is rarer: only for
customers a worker does not hold. A blob that would not shrink is stored as
is, which :func:`load` tells by zstd's magic number (a MessagePack array
never starts with 0x28). A frame names its dictionary: :func:`load` reads
frames of the shipped one, of the first (written by earlier versions) and
frames without one (written before that), and raises
:class:`UnknownBlobDictionary` for any other. Blobs of the former
layout (a map, written by an earlier version or by the Lua script before
it, with one-letter codes) are converted when read.
``detectors/state.py`` states what is exact; this module implements it.
"""

from __future__ import annotations

import threading
from array import array
from typing import Any

import msgpack
import zstandard

from detectors.blob_dictionary import DICTIONARY_ID, FORMER_DICTIONARIES, load_dictionary
from detectors.blob_pack import pack, unpack_state
from detectors.fold import COMPILED as COMPILED
from detectors.fold import Assessment as Assessment
from detectors.fold import Event as Event
from detectors.fold import EventCodes as EventCodes
from detectors.fold import FoldParams as FoldParams
from detectors.fold import Memo as Memo
from detectors.fold import UpdateMaker as UpdateMaker
from detectors.fold import assess as assess
from detectors.fold import digest as digest
from detectors.fold import fold_part as fold_part

# The layout's numbers; detectors/fold.pyx declares the same as C constants.
DAY = 86_400_000
#: Channel codes (CHANNEL_CODES order); a channel's index is its place here.
CHANNELS = "apomct"
#: Kinds as the fold tells them apart.
KIND_OTHER, KIND_SALARY, KIND_CASH_IN, KIND_CASH_OUT = 0, 1, 2, 3
_CREDIT = 4
#: Totals (StateUpdate.totals): per window 4 (debit count, sum, credit count,
#: sum); per channel 16 (its four windows); then cash, 4 per cash window.
N_TOTALS = 24 + 16 * len(CHANNELS) + 12
#: Blob fields.
VERSION, NW, PD, IDS, EV, B, SEEN, LT, LC, GEO, SAL, K = range(12)
_CASH_IN_BUCKET, _CASH_OUT_BUCKET = 12, 13

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: zstd's parameters for level -3 with the dictionary (a 16 KB window, the fast strategy
#: trying every third position), but matches from 4 bytes instead of 5 and a hash table
#: of 2^15 entries instead of 2^13: 8 % fewer instructions per compress than level -2
#: (written before), for blobs 1 % smaller (detectors/blob_dictionary.py has the table).
#: Decoding does not depend on them: frames of either read the same.
_ZSTD_PARAMS = {"window_log": 14, "hash_log": 15, "min_match": 4, "target_length": 3}
#: zstd contexts are not safe to share between threads (they release the GIL).
_zstd = threading.local()


class UnknownBlobDictionary(ValueError):
    """A blob was compressed with a zstd dictionary this version does not have."""


def new_state() -> list[Any]:
    return [2, -1, -1, {}, [], {}, [{}, {}, {}, {}, {}], -1, [-1] * len(CHANNELS), [-1, None, None],
            [], {}]  # fmt: skip


def load(raw: bytes | None) -> list[Any]:
    """A blob as stored, or a new state."""
    if raw is None:
        return new_state()
    if raw.startswith(_ZSTD_MAGIC):
        raw = _decompress(raw)
    s = unpack_state(raw)
    if s is not None:
        return s
    s = msgpack.unpackb(raw, raw=False, strict_map_key=False, use_list=True)
    if isinstance(s, dict):
        return _from_map(s)
    if not (isinstance(s, list) and len(s) == K + 1 and isinstance(s[B], dict)):
        raise ValueError(f"not a customer blob of layout 2: {str(s)[:200]}")
    buckets = s[B]
    for day, bucket in buckets.items():
        # The fold reads a bucket's first value and its triples without checks.
        if not isinstance(bucket, list) or len(bucket) % 3 != 1:
            raise ValueError(f"a customer blob's day bucket is malformed: {day}: {bucket!r}")
        try:
            buckets[day] = array("q", bucket)
        except (TypeError, OverflowError) as exc:
            raise ValueError(f"a customer blob's day bucket is malformed: {exc}") from None
    return s


def dump(state: list[Any], compress: bool = True) -> bytes:
    """The blob to store; uncompressed when ``compress`` is false (a blob about to be
    replaced: the state store writes a customer once per script call, and only the
    last of a batch's writes stays)."""
    raw = pack(state)
    if not compress:
        return raw
    packed = _contexts()[0].compress(raw)
    return packed if len(packed) < len(raw) else raw


def _decompress(frame: bytes) -> bytes:
    """A frame of the shipped dictionary, of a former one, or of none (blobs written before
    the first)."""
    dict_id = zstandard.get_frame_parameters(frame).dict_id
    decompressors = _contexts()[1]
    decompressor = decompressors.get(dict_id)
    if decompressor is None:
        if dict_id not in FORMER_DICTIONARIES:
            known = ", ".join(map(str, [DICTIONARY_ID, *FORMER_DICTIONARIES]))
            msg = f"customer blob compressed with zstd dictionary {dict_id}, not one of {known}"
            raise UnknownBlobDictionary(msg)
        # A former dictionary is read on the first frame that names it: writing never
        # needs it, and most states hold none of its blobs.
        dictionary = load_dictionary(dict_id)
        decompressor = decompressors[dict_id] = zstandard.ZstdDecompressor(dict_data=dictionary)
    return decompressor.decompress(frame)


def _contexts() -> tuple[zstandard.ZstdCompressor, dict[int, zstandard.ZstdDecompressor]]:
    """This thread's zstd compressor, and its decompressors by dictionary id (0: none;
    a former dictionary's is added by _decompress when a frame first names it).

    The dictionaries are read here, not on import, so that training a new one
    (``python -m detectors.blob_dictionary``, which folds with this module)
    does not need it to exist yet."""
    contexts = getattr(_zstd, "contexts", None)
    if contexts is None:
        dictionary = load_dictionary()
        decompressors = {
            0: zstandard.ZstdDecompressor(),
            DICTIONARY_ID: zstandard.ZstdDecompressor(dict_data=dictionary),
        }
        # Both written: ZstdCompressionParameters' default leaves the dictionary's id out
        # (ZstdCompressor's writes it), and _decompress sizes its output by the content size.
        params = zstandard.ZstdCompressionParameters(
            strategy=zstandard.STRATEGY_FAST,
            write_content_size=True,
            write_dict_id=True,
            **_ZSTD_PARAMS,
        )
        contexts = _zstd.contexts = (
            zstandard.ZstdCompressor(dict_data=dictionary, compression_params=params),
            decompressors,
        )
    return contexts


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
        s[B][int(day)] = array("q", bucket)
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
