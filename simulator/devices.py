"""Phones and computers customers bank from, and the addresses they come from.

A device keeps a small fixed set of IP addresses (its mobile carrier address
and the home broadband), so that "a device or an address never seen for this
customer" is a meaningful signal. Addresses are synthetic: home broadband in
10.0.0.0/8 and mobile carriers in the 100.64.0.0/10 shared space, with the
second octet naming the city. Attackers draw from the same ranges, so the
prefix alone gives nothing away.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from simulator.geography import City
from simulator.ids import TokenMinter


class Device(NamedTuple):
    """A phone or computer, with the addresses it is usually seen from.

    A named tuple, like :class:`~simulator.counterparties.Counterparty`:
    cheap to make, immutable.
    """

    device_id: str
    kind: str  # "phone" | "computer"
    ips: tuple[str, ...]


def broadband_ip(city: City, rng: random.Random) -> str:
    return f"10.{city.number}.{rng.getrandbits(8)}.{1 + int(rng.random() * 254)}"


def mobile_ip(city: City, rng: random.Random) -> str:
    return f"100.{64 + city.number}.{rng.getrandbits(8)}.{1 + int(rng.random() * 254)}"


def new_phone(city: City, minter: TokenMinter, rng: random.Random) -> Device:
    return Device(minter.mint("dev", rng), "phone", (mobile_ip(city, rng), broadband_ip(city, rng)))


def new_computer(city: City, minter: TokenMinter, rng: random.Random) -> Device:
    return Device(minter.mint("dev", rng), "computer", (broadband_ip(city, rng),))
