"""What every injected scenario shares: its protocol, its victim, its helpers.

A scenario picks a moment on a victim's day and returns the drafts it
causes, each tagged with the scenario's name. The generator decides who is
hit (each customer-day of the scenario's ``pool`` with the configured
probability), stamps every draft of one incident with the moment its label
becomes known, and settles the drafts against the victim's balance.

Scenarios hold no state of their own and draw only from the ``rng`` they
are given. What an attack changes about its victim goes into the victim's
:class:`~simulator.state.CustomerState`: the attacker's device and address
now count as seen, and after a card fraud the card is reissued a few days
later, as a bank would.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from simulator.counterparties import Counterparty, external
from simulator.days import Day
from simulator.devices import broadband_ip, mobile_ip
from simulator.events import Draft
from simulator.geography import FOREIGN_CITIES, HOME_CITIES
from simulator.ids import TokenMinter
from simulator.population import Customer, Population
from simulator.state import CustomerState, Reissue

T = TypeVar("T")

#: Label values by scenario family: card fraud is confirmed fraud, money
#: laundering is suspicious activity (a report, not a chargeback), and the
#: look-alikes are legitimate traffic a naive detector would flag.
FRAUD, SUSPICIOUS, LEGIT = "fraud", "suspicious", "legit"


@dataclass(frozen=True, slots=True)
class Target:
    """A victim on a day, and the span of time an attack may start in.

    ``settled`` are the victim's legitimate drafts of the day that went
    through, in time order, so an attack can see the balance at its moment.
    """

    customer: Customer
    state: CustomerState
    day: Day
    earliest_ms: int
    latest_ms: int
    population: Population
    minter: TokenMinter
    opening_balance_cents: int
    settled: Sequence[Draft]

    def start(self, rng: random.Random) -> int:
        return self.earliest_ms + int(rng.random() * (self.latest_ms - self.earliest_ms))

    def balance_at(self, ts_ms: int) -> int:
        """The victim's balance in cents just before ``ts_ms``."""
        balance = self.opening_balance_cents
        for draft in self.settled:
            if draft.ts_ms >= ts_ms:
                break
            balance += draft.cents if draft.credit else -draft.cents
        return balance


class Scenario(Protocol):
    """A pattern the generator can inject: fraud, laundering or a look-alike."""

    @property
    def name(self) -> str: ...

    @property
    def label(self) -> str:
        """``fraud``, ``suspicious`` or ``legit``: what its transactions are labelled."""
        ...

    @property
    def pool(self) -> str:
        """Whom it can hit: ``all`` customers, or only ``dormant`` accounts."""
        ...

    @property
    def max_span_ms(self) -> int:
        """The longest an attack lasts, so it can be placed inside the window."""
        ...

    def inject(self, target: Target, rng: random.Random) -> list[Draft]: ...


def one(items: Sequence[T], rng: random.Random) -> T:
    return items[int(rng.random() * len(items))]


def attacker(target: Target, rng: random.Random) -> tuple[str, str]:
    """A device and address this customer has never been seen from."""
    state = target.state
    device_id = target.minter.mint("dev", rng)
    cities = HOME_CITIES + FOREIGN_CITIES
    while True:
        city = cities[int(rng.random() * len(cities))]
        ip = mobile_ip(city, rng) if rng.random() < 0.5 else broadband_ip(city, rng)
        if ip not in state.known_ips:
            break
    state.known_devices.add(device_id)
    state.known_ips.add(ip)
    return device_id, ip


def own_device(target: Target, rng: random.Random) -> tuple[str, str] | None:
    """The customer's own phone (or computer) and one of its usual addresses."""
    state = target.state
    device = state.phone or state.computer
    if device is None:
        return None
    return device.device_id, device.ips[int(rng.random() * len(device.ips))]


def new_mule(target: Target, rng: random.Random) -> Counterparty:
    """A mule account the customer has never sent money to."""
    known = target.state.known_counterparties
    mules = [m for m in target.population.mules if m.account not in known]
    mule = mules[int(rng.random() * len(mules))] if mules else external(target.minter, rng)
    known.add(mule.account)
    return mule


def strangers(target: Target, rng: random.Random, count: int) -> list[Counterparty]:
    """``count`` accounts at other banks the customer has never dealt with."""
    known = target.state.known_counterparties
    out = [external(target.minter, rng, internal_share=0.15) for _ in range(count)]
    known.update(p.account for p in out)
    return out


def compromise(target: Target, card: str, rng: random.Random) -> None:
    """The bank blocks the card and the customer gets a new one a few days later."""
    state = target.state
    if any(r.old == card for r in state.reissues):
        return
    new = target.minter.mint("card", rng)
    state.reissues.append(Reissue(target.day.index + rng.randint(1, 3), card, new))


def split(total: int, parts: int, rng: random.Random, *, unit: int | None = None) -> list[int]:
    """``total`` cents in ``parts`` uneven pieces; in round hundreds half the time.

    Rounding only ever raises the total, so it never drops below the amount
    the attack was sized at.
    """
    if unit is None:
        unit = 10_000 if rng.random() < 0.5 else 1
    units = max(-(-total // unit), parts)
    weights = [rng.uniform(0.5, 1.5) for _ in range(parts)]
    scale = units / sum(weights)
    pieces = [max(1, int(w * scale)) for w in weights[:-1]]
    pieces.append(max(1, units - sum(pieces)))
    return [p * unit for p in pieces]


def log_uniform_cents(bounds: tuple[float, float], rng: random.Random) -> int:
    lo, hi = bounds
    return round(math.exp(rng.uniform(math.log(lo), math.log(hi))) * 100)


def spread(start: int, span_ms: float, count: int, rng: random.Random) -> list[int]:
    """``count`` sorted moments in ``[start, start + span_ms)``, the first at ``start``."""
    return [start, *sorted(start + int(span_ms * rng.random()) for _ in range(count - 1))]
