"""Loopback ports for services a test or a run starts."""

from __future__ import annotations

import socket

import pytest

from riskwatch import services


def test_a_run_of_free_ports_skips_a_first_port_whose_next_is_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as taken, socket.socket() as spare:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy_next = taken.getsockname()[1]
        spare.bind(("127.0.0.1", 0))
        elsewhere = spare.getsockname()[1]
        spare.close()
        offered = iter([busy_next - 1, elsewhere])
        monkeypatch.setattr(services, "free_port", lambda: next(offered))
        first = services.free_port_run(2)
    assert first == elsewhere, "the first offer's second port was taken"
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", first))
        b.bind(("127.0.0.1", first + 1))
