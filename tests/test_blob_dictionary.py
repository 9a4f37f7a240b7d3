"""Customer blobs are compressed with the shipped zstd dictionary and read back, as are
blobs of the former dictionary and of none."""

from __future__ import annotations

import hashlib
import threading

import msgpack
import pytest
import zstandard

from detectors.blob_dictionary import (
    DICTIONARY_BYTES,
    DICTIONARY_ID,
    DICTIONARY_PATH,
    FORMER_DICTIONARIES,
    load_dictionary,
)
from detectors.customer_fold import UnknownBlobDictionary, dump, load, new_state

#: The dictionary of the first compressed blobs (level -1): its blobs stay readable only
#: while these bytes do not change.
FIRST_ID = 0x52570001
FIRST_SHA1 = "2c93bddd0c2742cfff676d0ae84ce8de82e3958e"
#: The shipped dictionary's: a retrained one needs a new id, or blobs written with this one
#: would be decoded with the wrong dictionary.
SHIPPED_SHA1 = "7d1470fe98dfd783578991166d8cc0353885b5d1"


def _state() -> list:
    s = new_state()
    s[1], s[2] = 1_770_000_000_000, 20_486
    for i in range(40):
        s[4].append([1_770_000_000_000 + i, 2**63 + i, 9, 1999 + i, 2**60 + i % 3, None, "CN",
                     None, "5411", 31.2, 121.4])  # fmt: skip
    s[11]["purchase"] = [40, 2018.5, 12.25]
    return s


def _first_blob(s: list) -> bytes:
    """The blob as the version with the first dictionary wrote it."""
    first = zstandard.ZstdCompressionDict(FORMER_DICTIONARIES[FIRST_ID].read_bytes())
    return zstandard.ZstdCompressor(level=-1, dict_data=first).compress(msgpack.packb(s))


def test_dump_names_the_shipped_dictionary_and_loads_back() -> None:
    s = _state()
    blob = dump(s)
    assert DICTIONARY_ID == 0x52570002
    assert zstandard.get_frame_parameters(blob).dict_id == DICTIONARY_ID
    assert load_dictionary().dict_id() == DICTIONARY_ID
    assert hashlib.sha1(DICTIONARY_PATH.read_bytes()).hexdigest() == SHIPPED_SHA1
    assert len(load_dictionary().as_bytes()) == DICTIONARY_BYTES == 8192
    assert load(blob) == s


def test_dump_writes_the_content_size_and_no_checksum() -> None:
    """_decompress sizes its output by the frame's content size."""
    s = _state()
    frame = zstandard.get_frame_parameters(dump(s))
    assert frame.content_size == len(msgpack.packb(s))
    assert not frame.has_checksum


def test_a_blob_written_at_level_minus_2_still_loads() -> None:
    """Versions before the tuned parameters wrote the shipped dictionary's frames at -2."""
    s = _state()
    before = zstandard.ZstdCompressor(level=-2, dict_data=load_dictionary()).compress(
        msgpack.packb(s)
    )
    assert zstandard.get_frame_parameters(before).dict_id == DICTIONARY_ID
    assert before != dump(s)
    assert load(before) == s


def test_a_blob_of_the_former_dictionary_still_loads() -> None:
    assert hashlib.sha1(FORMER_DICTIONARIES[FIRST_ID].read_bytes()).hexdigest() == FIRST_SHA1
    assert load_dictionary(FIRST_ID).dict_id() == FIRST_ID
    s = _state()
    before = _first_blob(s)
    assert zstandard.get_frame_parameters(before).dict_id == FIRST_ID
    assert before != dump(s)
    assert load(before) == s


def test_each_thread_reads_every_dictionary() -> None:
    s = _state()
    blobs = [_first_blob(s), dump(s), zstandard.ZstdCompressor(level=1).compress(msgpack.packb(s))]
    read: list = []
    thread = threading.Thread(target=lambda: read.extend(load(b) for b in blobs))
    thread.start()
    thread.join()
    assert read == [s, s, s]


def test_a_blob_compressed_without_dictionary_still_loads() -> None:
    s = _state()
    before = zstandard.ZstdCompressor(level=1).compress(msgpack.packb(s, use_bin_type=True))
    assert zstandard.get_frame_parameters(before).dict_id == 0
    assert load(before) == s


@pytest.mark.parametrize("dict_id", [DICTIONARY_ID + 1, FIRST_ID - 1, 32768])
def test_a_blob_of_another_dictionary_is_refused(dict_id: int) -> None:
    raw = msgpack.packb(_state(), use_bin_type=True)
    other = zstandard.train_dictionary(1024, [raw[i:] + raw[:i] for i in range(0, 600, 6)],
                                       dict_id=dict_id)  # fmt: skip
    blob = zstandard.ZstdCompressor(level=1, dict_data=other).compress(raw)
    with pytest.raises(UnknownBlobDictionary, match=str(dict_id)):
        load(blob)
