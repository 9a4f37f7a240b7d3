"""The fixed points where money changes hands: merchants, ATMs and branches.

Merchants are grouped by category, each category with its ISO 18245 merchant
category codes (MCC). Physical merchants sit in a city with coordinates and
one to three POS terminals; online merchants have no location; billers
(utilities, telecoms, schools, insurers, our own mortgage desk) collect
monthly bills. ATMs and branches are the bank's own terminals and live here
too, since to a transaction they are the same thing: an id at a place.

How many of each there are scales with the population, so a small run still
has several merchants per category and a large one does not pile every
customer onto the same few terminals.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from simulator.counterparties import OUR_BANK
from simulator.geography import FOREIGN_CITIES, HOME_CITIES, City, near

#: Merchant categories and the MCCs their merchants carry.
CATEGORY_MCCS: Mapping[str, tuple[str, ...]] = {
    "groceries": ("5411",),
    "dining": ("5812", "5814"),
    "fuel": ("5541",),
    "pharmacy": ("5912",),
    "department": ("5311",),
    "clothing": ("5651", "5691"),
    "electronics": ("5732",),
    "jewelry": ("5944",),
    "hotel": ("7011",),
    "transit": ("4111",),
    "wholesale": ("5300",),
    "misc": ("5999",),
    "digital": ("5815", "5816", "5818"),
    "money_transfer": ("4829",),
    "travel": ("4722",),
}

#: Residents per physical merchant of a category in a home city.
_RESIDENTS_PER_MERCHANT: Mapping[str, int] = {
    "groceries": 40,
    "dining": 20,
    "fuel": 150,
    "pharmacy": 100,
    "department": 250,
    "clothing": 100,
    "electronics": 250,
    "jewelry": 400,
    "hotel": 300,
    "transit": 5000,
    "wholesale": 200,
    "misc": 100,
    "money_transfer": 1500,
}
_FOREIGN_CATEGORIES: tuple[str, ...] = (
    "dining", "groceries", "pharmacy", "department", "clothing",
    "electronics", "jewelry", "hotel", "transit", "misc",
)  # fmt: skip
_ONLINE_CATEGORIES: tuple[str, ...] = (
    "groceries", "department", "clothing", "electronics", "jewelry",
    "digital", "misc", "travel", "money_transfer",
)  # fmt: skip
#: Countries of cross-border online shops; most online trade stays in CN.
_ONLINE_ABROAD: tuple[str, ...] = ("HK", "US", "SG", "JP", "GB")

#: Biller types: (MCC, per city?, names).
_BILLERS: Mapping[str, tuple[str, bool, tuple[str, ...]]] = {
    "utility": ("4900", True, ("GRID", "WATER", "GAS")),
    "telecom": ("4814", False, ("CMCC", "CUCC", "CTCC")),
    "school": ("8211", True, ("SCH1", "SCH2", "SCH3")),
    "insurance": ("6300", False, ("PICC", "PING", "CPIC")),
    "mortgage": ("6012", False, (f"LOAN-{OUR_BANK}",)),
}


@dataclass(frozen=True, slots=True)
class Merchant:
    """A merchant: physical (with a city and POS terminals), online or a biller."""

    merchant_id: str
    category: str
    mcc: str
    country: str
    city: City | None = None
    lat: float | None = None
    lon: float | None = None
    terminals: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Terminal:
    """An ATM or a branch counter of the bank."""

    terminal_id: str
    city: City
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class MerchantDirectory:
    """Every merchant, ATM and branch, looked up the way traffic needs them."""

    physical: Mapping[tuple[str, str], tuple[Merchant, ...]]
    online: Mapping[str, tuple[Merchant, ...]]
    billers: Mapping[tuple[str, str], tuple[Merchant, ...]]
    atms: Mapping[str, tuple[Terminal, ...]]
    branches: Mapping[str, tuple[Terminal, ...]]

    def in_city(self, city: City, category: str) -> tuple[Merchant, ...]:
        """Physical merchants of a category in a city; empty if there are none."""
        return self.physical.get((city.code, category), ())

    def billers_for(self, kind: str, city: City) -> tuple[Merchant, ...]:
        return self.billers.get((kind, city.code)) or self.billers[(kind, "")]


def build_merchants(customers: int, rng: random.Random) -> MerchantDirectory:
    physical: dict[tuple[str, str], tuple[Merchant, ...]] = {}
    atms: dict[str, tuple[Terminal, ...]] = {}
    branches: dict[str, tuple[Terminal, ...]] = {}
    for city in HOME_CITIES:
        residents = customers * city.weight
        serial = 0
        for category, per in _RESIDENTS_PER_MERCHANT.items():
            count = max(3, round(residents / per))
            merchants = []
            for _ in range(count):
                serial += 1
                merchants.append(_physical(city, category, serial, rng))
            physical[(city.code, category)] = tuple(merchants)
        atms[city.code] = _terminals("ATM", city, max(5, round(residents / 100)), rng)
        branches[city.code] = _terminals("BR", city, max(3, round(residents / 500)), rng)
    for city in FOREIGN_CITIES:
        serial = 0
        for category in _FOREIGN_CATEGORIES:
            merchants = []
            for _ in range(4):
                serial += 1
                merchants.append(_physical(city, category, serial, rng))
            physical[(city.code, category)] = tuple(merchants)
        atms[city.code] = _terminals("ATM", city, 5, rng)

    online: dict[str, tuple[Merchant, ...]] = {}
    serial = 0
    for category in _ONLINE_CATEGORIES:
        merchants = []
        for _ in range(max(5, customers // 400)):
            serial += 1
            abroad = rng.random() < 0.1
            country = _ONLINE_ABROAD[int(rng.random() * len(_ONLINE_ABROAD))] if abroad else "CN"
            mcc = _pick_mcc(category, rng)
            merchants.append(Merchant(f"M-WEB-{serial:05d}", category, mcc, country))
        online[category] = tuple(merchants)

    billers: dict[tuple[str, str], tuple[Merchant, ...]] = {}
    for kind, (mcc, per_city, names) in _BILLERS.items():
        if per_city:
            for city in HOME_CITIES:
                billers[(kind, city.code)] = tuple(
                    Merchant(f"B-{name}-{city.code}", kind, mcc, "CN") for name in names
                )
        else:
            billers[(kind, "")] = tuple(Merchant(f"B-{name}", kind, mcc, "CN") for name in names)
    return MerchantDirectory(physical, online, billers, atms, branches)


def _pick_mcc(category: str, rng: random.Random) -> str:
    mccs = CATEGORY_MCCS[category]
    return mccs[int(rng.random() * len(mccs))]


def _physical(city: City, category: str, serial: int, rng: random.Random) -> Merchant:
    merchant_id = f"M-{city.code}-{serial:05d}"
    lat, lon = near(city, rng)
    terminals = tuple(
        f"P-{city.code}-{serial:05d}-{k}" for k in range(1, 2 + int(rng.random() * 3))
    )
    return Merchant(
        merchant_id, category, _pick_mcc(category, rng), city.country, city, lat, lon, terminals
    )


def _terminals(prefix: str, city: City, count: int, rng: random.Random) -> tuple[Terminal, ...]:
    out = []
    for k in range(1, count + 1):
        lat, lon = near(city, rng, 0.08)
        out.append(Terminal(f"{prefix}-{city.code}-{k:04d}", city, lat, lon))
    return tuple(out)
