"""The compiled blob encoder writes exactly the bytes msgpack's Packer writes."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from detectors.blob_pack import pack
from detectors.customer_fold import dump, load, new_state

_INTS = st.integers(min_value=-(2**63), max_value=2**64 - 1)
_EDGES = st.sampled_from(
    [0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63, 2**64 - 1,
     -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63),
     # CPython's 30-bit digits: one, two and three of them
     2**30 - 1, 2**30, -(2**30), 2**60 - 1, 2**60, -(2**60) + 1, -(2**60), 2**63 - 1,
     -(2**63) + 1]
)  # fmt: skip
_SCALARS = st.none() | st.booleans() | _INTS | _EDGES | st.floats() | st.text()
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=40)
        | st.dictionaries(_INTS | st.text(max_size=40), inner, max_size=20)
        | st.tuples(inner, inner)
    ),
    max_leaves=200,
)


def _msgpack(value: object) -> bytes:
    return msgpack.Packer(use_bin_type=True).pack(value)


@given(_VALUES)
def test_pack_writes_what_msgpack_writes(value: object) -> None:
    assert pack(value) == _msgpack(value)


@pytest.mark.parametrize("n", [15, 16, 65535, 65536])
def test_container_and_text_headers_of_every_size(n: int) -> None:
    for value in (list(range(n)), dict.fromkeys(range(n), None), "x" * n, "é" * n):
        assert pack(value) == _msgpack(value)


@pytest.mark.parametrize("value", [b"raw", {1, 2}, [object()], 2**64, -(2**63) - 1])
def test_what_a_blob_never_holds_is_refused(value: object) -> None:
    with pytest.raises((TypeError, OverflowError)):
        pack(value)


def test_dump_reads_back_as_the_state() -> None:
    s = new_state()
    s[4].append([1_770_000_000_000, 2**64 - 5, 9, 1999, None, 7, "CN", None, "5411", 31.2, 121.4])
    s[11]["purchase"] = [3, 1999.5, 12.25]
    assert load(dump(s)) == s
