"""Customer blobs are compressed with the shipped zstd dictionary and read back."""

from __future__ import annotations

import msgpack
import pytest
import zstandard

from detectors.blob_dictionary import DICTIONARY_ID, load_dictionary
from detectors.customer_fold import UnknownBlobDictionary, dump, load, new_state


def _state() -> list:
    s = new_state()
    s[1], s[2] = 1_770_000_000_000, 20_486
    for i in range(40):
        s[4].append([1_770_000_000_000 + i, 2**63 + i, 9, 1999 + i, 2**60 + i % 3, None, "CN",
                     None, "5411", 31.2, 121.4])  # fmt: skip
    s[11]["purchase"] = [40, 2018.5, 12.25]
    return s


def test_dump_names_the_shipped_dictionary_and_loads_back() -> None:
    s = _state()
    blob = dump(s)
    assert zstandard.get_frame_parameters(blob).dict_id == DICTIONARY_ID
    assert load_dictionary().dict_id() == DICTIONARY_ID
    assert load(blob) == s


def test_a_blob_compressed_without_dictionary_still_loads() -> None:
    s = _state()
    before = zstandard.ZstdCompressor(level=1).compress(msgpack.packb(s, use_bin_type=True))
    assert zstandard.get_frame_parameters(before).dict_id == 0
    assert load(before) == s


def test_a_blob_of_another_dictionary_is_refused() -> None:
    raw = msgpack.packb(_state(), use_bin_type=True)
    other = zstandard.train_dictionary(1024, [raw[i:] + raw[:i] for i in range(0, 600, 6)],
                                       dict_id=DICTIONARY_ID + 1)  # fmt: skip
    blob = zstandard.ZstdCompressor(level=1, dict_data=other).compress(raw)
    with pytest.raises(UnknownBlobDictionary, match=str(DICTIONARY_ID + 1)):
        load(blob)
