"""Where customers live and where their cards can turn up.

Home cities are real Chinese cities with their real centres, so that
distances (and impossible-travel checks built on them) come out plausible.
Foreign cities exist for the rare legitimate trip abroad and for card fraud
that surfaces across the border.

All customers keep China Standard Time: China has one time zone and no
daylight saving, so a fixed UTC+8 offset is exact and needs no tz database.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import timedelta, timezone

LOCAL_TZ = timezone(timedelta(hours=8), "CST")


@dataclass(frozen=True, slots=True)
class City:
    """A city with the coordinates of its centre.

    ``code`` (the IATA code of its main airport) is short and stable, so ids
    of terminals and merchants built from it stay readable. ``number`` is a
    small integer used to give the city its own synthetic IP ranges.
    """

    code: str
    name: str
    country: str
    lat: float
    lon: float
    number: int
    weight: float = 0.0


HOME_CITIES: tuple[City, ...] = (
    City("SHA", "Shanghai", "CN", 31.2304, 121.4737, 1, 0.18),
    City("PEK", "Beijing", "CN", 39.9042, 116.4074, 2, 0.17),
    City("SZX", "Shenzhen", "CN", 22.5431, 114.0579, 3, 0.13),
    City("CAN", "Guangzhou", "CN", 23.1291, 113.2644, 4, 0.13),
    City("CTU", "Chengdu", "CN", 30.5728, 104.0668, 5, 0.12),
    City("WUH", "Wuhan", "CN", 30.5928, 114.3055, 6, 0.10),
    City("HGH", "Hangzhou", "CN", 30.2741, 120.1551, 7, 0.09),
    City("NKG", "Nanjing", "CN", 32.0603, 118.7969, 8, 0.08),
)

FOREIGN_CITIES: tuple[City, ...] = (
    City("HKG", "Hong Kong", "HK", 22.3193, 114.1694, 21),
    City("SIN", "Singapore", "SG", 1.3521, 103.8198, 22),
    City("BKK", "Bangkok", "TH", 13.7563, 100.5018, 23),
    City("KUL", "Kuala Lumpur", "MY", 3.1390, 101.6869, 24),
    City("DXB", "Dubai", "AE", 25.2048, 55.2708, 25),
    City("LON", "London", "GB", 51.5072, -0.1276, 26),
)


def near(city: City, rng: random.Random, spread_deg: float = 0.06) -> tuple[float, float]:
    """A point scattered around the city centre, rounded to 4 decimals (~10 m).

    Rounding keeps the JSON short and stops long float tails from looking
    like digit runs in the output.
    """
    r = spread_deg * math.sqrt(-2.0 * math.log(1.0 - rng.random()))
    angle = 2.0 * math.pi * rng.random()
    return round(city.lat + r * math.sin(angle), 4), round(city.lon + r * math.cos(angle), 4)


def away_from(home: City, rng: random.Random, abroad_share: float) -> City:
    """A city other than ``home``: abroad with probability ``abroad_share``."""
    if rng.random() < abroad_share:
        return FOREIGN_CITIES[int(rng.random() * len(FOREIGN_CITIES))]
    others = [c for c in HOME_CITIES if c.code != home.code]
    return others[int(rng.random() * len(others))]


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance by the haversine formula, on a 6,371 km sphere."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))
