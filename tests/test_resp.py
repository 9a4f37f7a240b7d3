"""The compiled command packer writes exactly the bytes hiredis.pack_command writes."""

from __future__ import annotations

import hiredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.resp import pack_call, pack_command

_EDGES = st.sampled_from(
    [0, 1, 9, 10, 99, 100, -1, -9, -10, 2**31, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 2**64,
     -(2**63), -(2**63) - 1, -(2**64), 10**19 - 1, 10**19, 10**20, -(10**19), 10**300]
)  # fmt: skip
#: Large bytes: sizes whose "$len" header has from one to seven digits.
_LARGE = st.builds(
    lambda size, fill: bytes([fill]) * size,
    st.integers(min_value=0, max_value=1_200_000),
    st.integers(min_value=0, max_value=255),
)
_PARTS = (
    st.binary(max_size=300)
    | st.text(max_size=60)
    | st.text(st.characters(min_codepoint=128, codec="utf-8"), max_size=20)  # non-ASCII only
    | st.just("")
    | st.just(b"")
    | st.integers()
    | _EDGES
    | _LARGE
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PARTS, max_size=40))
def test_a_command_is_packed_as_hiredis_packs_it(parts: list[object]) -> None:
    assert pack_command(parts) == hiredis.pack_command(tuple(parts))


@settings(max_examples=300, deadline=None)
@given(
    st.binary(min_size=1, max_size=20),
    st.binary(max_size=50),
    st.lists(_PARTS, max_size=120),
    st.lists(_PARTS, max_size=120),
)
def test_a_script_call_is_packed_as_hiredis_packs_it(
    command: bytes, script: bytes, keys: list[object], args: list[object]
) -> None:
    packed = pack_call(command, script, keys, tuple(args))
    assert packed == hiredis.pack_command((command, script, str(len(keys)), *keys, *args))


@pytest.mark.parametrize("part", [1.5, True, None, bytearray(b"x"), memoryview(b"x")])
def test_other_arguments_are_refused(part: object) -> None:
    with pytest.raises(TypeError, match="bytes, str or int"):
        pack_command([b"SET", "k", part])
    with pytest.raises(TypeError, match="bytes, str or int"):
        pack_call(b"EVALSHA", b"sha", ["k"], [part])


def test_a_string_that_is_not_utf8_raises() -> None:
    with pytest.raises(UnicodeEncodeError):
        pack_command(["\ud800"])
