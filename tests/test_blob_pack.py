"""The compiled blob encoder writes exactly the bytes msgpack's Packer writes (a day bucket,
an ``array('q')``, as the list of its ints); the compiled decoder reads a blob as msgpack
does, but for the day buckets, which it reads into arrays."""

from __future__ import annotations

from array import array

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.blob_pack import pack, unpack_state
from detectors.customer_fold import B, dump, load, new_state

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


_LONG_LONGS = st.integers(min_value=-(2**63), max_value=2**63 - 1) | _EDGES.filter(
    lambda v: v < 2**63
)
#: A day bucket: its largest credit, then (code, count, sum) triples.
_BUCKETS = st.dictionaries(
    _LONG_LONGS,
    st.tuples(
        _LONG_LONGS, st.lists(st.tuples(_LONG_LONGS, _LONG_LONGS, _LONG_LONGS), max_size=13)
    ).map(lambda t: array("q", [t[0], *(v for triple in t[1] for v in triple)])),
    max_size=30,
)


def _as_lists(value: object) -> object:
    """``value`` with its arrays as lists (what msgpack packs and reads back)."""
    if isinstance(value, array):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_as_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_lists(v) for k, v in value.items()}
    return value


@given(st.lists(st.lists(_LONG_LONGS, max_size=40).map(lambda v: array("q", v)) | _VALUES))
def test_an_array_packs_as_the_list_of_its_ints(value: list) -> None:
    assert pack(value) == _msgpack(_as_lists(value))


@pytest.mark.parametrize("n", [15, 16, 65535, 65536])
def test_array_headers_of_every_size(n: int) -> None:
    assert pack(array("q", range(-n, 0))) == _msgpack(list(range(-n, 0)))


@pytest.mark.parametrize("typecode", ["b", "i", "l", "Q", "d"])
def test_arrays_of_other_typecodes_are_refused(typecode: str) -> None:
    with pytest.raises(TypeError):
        pack([array(typecode, [1, 2])])


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_VALUES, min_size=11, max_size=11), _BUCKETS)
def test_unpack_state_reads_what_msgpack_reads_with_buckets_as_arrays(
    fields: list, buckets: dict
) -> None:
    state = [*fields[:B], buckets, *fields[B:]]
    raw = _msgpack(_as_lists(state))
    decoded = unpack_state(raw)
    assert decoded is not None
    assert all(type(v) is array and v.typecode == "q" for v in decoded[B].values())
    assert list(decoded[B].items()) == list(buckets.items())
    # (compared packed: a nan is not equal to itself)
    expected = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    expected[B] = decoded[B]
    assert pack(decoded) == pack(expected) == raw
    assert pack(load(raw)) == raw


@pytest.mark.parametrize(
    ("buckets", "loaded"),
    [
        ({"1": [1]}, {"1": array("q", [1])}),
        ({1.5: [1]}, {1.5: array("q", [1])}),
        ({1: [1, 2.5]}, None),
        ({1: [2**63]}, None),
        ([[1]], None),
        ({1: {1: 2}}, None),
        ({1: None}, None),
        ({1: []}, None),  # the fold reads a bucket's first value unchecked
        ({1: [0, 1]}, None),
    ],
)
def test_other_buckets_are_left_to_msgpack(buckets: object, loaded: object) -> None:
    """unpack_state answers None; load decodes them with msgpack (a bucket: an array), or
    refuses a malformed bucket with a ValueError that says so."""
    raw = _msgpack([2, -1, -1, {}, [], buckets, [{}, {}, {}, {}, {}], -1, [], [], [], {}])
    assert unpack_state(raw) is None
    if loaded is None:
        with pytest.raises(ValueError, match="customer blob"):
            load(raw)
    else:
        assert load(raw)[B] == loaded


@pytest.mark.parametrize(
    "buckets",
    [
        {day: array("q", [day]) for day in range(70_000)},  # a map32 of fixarrays
        {day: array("q", [day]) for day in range(20)},  # a map16
        {7: array("q", range(1 + 3 * 6))},  # an array16
        {7: array("q", range(1 + 3 * 21_846))},  # an array32
    ],
)
def test_unpack_state_reads_every_width_of_map_and_array_headers(buckets: dict) -> None:
    raw = pack([2, -1, -1, {}, [], buckets, [{}, {}, {}, {}, {}], -1, [], [], [], {}])
    decoded = unpack_state(raw)
    assert decoded is not None and decoded[B] == buckets


def test_a_map_or_a_short_array_is_left_to_msgpack() -> None:
    assert unpack_state(_msgpack({"nw": 1})) is None
    assert unpack_state(_msgpack([2, -1, -1])) is None
    with pytest.raises(ValueError, match="not a customer blob"):
        load(_msgpack([2, -1, -1]))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_VALUES, min_size=11, max_size=11), _BUCKETS, st.data())
def test_a_truncated_blob_is_refused(fields: list, buckets: dict, data: st.DataObject) -> None:
    raw = _msgpack(_as_lists([*fields[:B], buckets, *fields[B:]]))
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    with pytest.raises(ValueError):
        load(raw[:cut] or b"\xc1")
