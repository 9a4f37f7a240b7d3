"""Injected fraud: named patterns, each with a shape rules can recognise.

A scenario picks a moment on a victim's day and returns the drafts the
fraudster causes, each tagged with the scenario's name so it leaves the
simulator with a ``fraud`` label. The generator decides who is hit: each
customer-day is hit with the scenario's configured probability.

* ``stolen_card_spree``: a stolen or cloned card buys 6–12 expensive things
  (800–5000 CNY, mostly electronics and jewellery) within about 40 minutes,
  in a city away from home or abroad, or online from a strange device.
* ``account_takeover``: someone logs in to mobile or online banking from a
  device and address the customer never used and, within 30 minutes, moves
  60–95% of the balance (at least about 10,000 CNY) to an account the
  customer never paid, at another bank, in one to three transfers.
* ``card_testing``: a handful of tiny online purchases (0.50–5 CNY) a few
  seconds apart to see whether the card works, then one large one.

Scenarios hold no state of their own and draw only from the ``rng`` they
are given. What an attack changes about its victim goes into the victim's
:class:`~simulator.state.CustomerState`: the attacker's device and address
now count as seen, and after a card fraud the card is reissued a few days
later, as a bank would.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from simulator import channels
from simulator.counterparties import Counterparty, external
from simulator.days import MINUTE_MS, Day
from simulator.devices import broadband_ip, mobile_ip
from simulator.events import Draft
from simulator.geography import FOREIGN_CITIES, HOME_CITIES, away_from
from simulator.ids import TokenMinter
from simulator.population import Customer, Population
from simulator.segments import Weighted, weighted
from simulator.state import CustomerState, Reissue

T = TypeVar("T")


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
    """A fraud pattern the generator can inject."""

    @property
    def name(self) -> str: ...

    @property
    def max_span_ms(self) -> int:
        """The longest an attack lasts, so it can be placed inside the window."""
        ...

    def inject(self, target: Target, rng: random.Random) -> list[Draft]: ...


_PHYSICAL_LOOT: Weighted = (
    ("electronics", 0.35), ("jewelry", 0.3), ("department", 0.2), ("clothing", 0.15),
)  # fmt: skip
_ONLINE_LOOT: Weighted = (
    ("electronics", 0.35), ("money_transfer", 0.2), ("digital", 0.2),
    ("jewelry", 0.15), ("misc", 0.1),
)  # fmt: skip
_BIG_TICKET: Weighted = (("electronics", 0.5), ("jewelry", 0.3), ("money_transfer", 0.2))


@dataclass(frozen=True, slots=True)
class StolenCardSpree:
    name: str = "stolen_card_spree"
    purchases: tuple[int, int] = (6, 12)
    amount: tuple[float, float] = (800.0, 5000.0)
    span_minutes: tuple[float, float] = (12.0, 40.0)
    abroad_share: float = 0.4
    online_share: float = 0.25

    @property
    def max_span_ms(self) -> int:
        return int(self.span_minutes[1] * MINUTE_MS)

    def inject(self, target: Target, rng: random.Random) -> list[Draft]:
        customer, state = target.customer, target.state
        card = state.cards[int(rng.random() * len(state.cards))]
        count = rng.randint(*self.purchases)
        span = rng.uniform(*self.span_minutes) * MINUTE_MS
        start = target.start(rng)
        times = [start, *sorted(start + int(span * rng.random()) for _ in range(count - 1))]
        merchants = target.population.merchants
        drafts = []
        if rng.random() < self.online_share:
            device_id, ip = _attacker(target, rng)
            for ts in times:
                merchant = _one(merchants.online[weighted(_ONLINE_LOOT, rng)], rng)
                extras = channels.remote(device_id, ip, card_id=card, merchant=merchant)
                drafts.append(self._draft(ts, customer, "online", extras, rng))
        else:
            city = away_from(customer.home, rng, self.abroad_share)
            for ts in times:
                shops = merchants.in_city(city, weighted(_PHYSICAL_LOOT, rng))
                merchant = _one(shops or merchants.in_city(city, "electronics"), rng)
                extras = channels.pos(card, merchant, _one(merchant.terminals, rng))
                drafts.append(self._draft(ts, customer, "pos", extras, rng))
        _compromise(target, card, rng)
        return drafts

    def _draft(
        self,
        ts: int,
        customer: Customer,
        channel: str,
        extras: channels.Extras,
        rng: random.Random,
    ) -> Draft:
        cents = _log_uniform_cents(self.amount, rng)
        return Draft(ts, customer, channel, "purchase", cents, extras, self.name, False)


@dataclass(frozen=True, slots=True)
class AccountTakeover:
    name: str = "account_takeover"
    transfers: tuple[int, int] = (1, 3)
    gap_minutes: tuple[float, float] = (1.0, 12.0)
    balance_share: tuple[float, float] = (0.6, 0.95)
    at_least: tuple[float, float] = (10_000.0, 12_000.0)
    mobile_share: float = 0.7

    @property
    def max_span_ms(self) -> int:
        return int((self.transfers[1] - 1) * self.gap_minutes[1] * MINUTE_MS) + MINUTE_MS

    def inject(self, target: Target, rng: random.Random) -> list[Draft]:
        customer = target.customer
        count = rng.randint(*self.transfers)
        times = [target.start(rng)]
        for _ in range(count - 1):
            times.append(times[-1] + int(rng.uniform(*self.gap_minutes) * MINUTE_MS))
        channel = "mobile" if rng.random() < self.mobile_share else "online"
        device_id, ip = _attacker(target, rng)
        mule = _new_mule(target, rng)
        balance = target.balance_at(times[0])
        total = max(
            round(balance * rng.uniform(*self.balance_share)),
            round(rng.uniform(*self.at_least) * 100),
        )
        drafts = []
        for ts, cents in zip(times, _split(total, count, rng), strict=True):
            extras = channels.remote(device_id, ip, party=mule)
            drafts.append(
                Draft(ts, customer, channel, "transfer_out", cents, extras, self.name, False)
            )
        return drafts


@dataclass(frozen=True, slots=True)
class CardTesting:
    name: str = "card_testing"
    tests: tuple[int, int] = (3, 8)
    tiny: tuple[float, float] = (0.5, 5.0)
    gap_seconds: tuple[float, float] = (10.0, 90.0)
    pause_minutes: tuple[float, float] = (2.0, 20.0)
    big: tuple[float, float] = (1500.0, 8000.0)

    @property
    def max_span_ms(self) -> int:
        tests = int(self.tests[1] * self.gap_seconds[1] * 1000)
        return tests + int(self.pause_minutes[1] * MINUTE_MS) + MINUTE_MS

    def inject(self, target: Target, rng: random.Random) -> list[Draft]:
        customer, state = target.customer, target.state
        card = state.cards[int(rng.random() * len(state.cards))]
        device_id, ip = _attacker(target, rng)
        online = target.population.merchants.online
        testbeds = [_one(online["digital"], rng), _one(online["misc"], rng)]
        ts = target.start(rng)
        drafts = []
        for _ in range(rng.randint(*self.tests)):
            merchant = testbeds[0] if rng.random() < 0.7 else testbeds[1]
            cents = round(rng.uniform(*self.tiny) * 100)
            extras = channels.remote(device_id, ip, card_id=card, merchant=merchant)
            drafts.append(
                Draft(ts, customer, "online", "purchase", cents, extras, self.name, False)
            )
            ts += int(rng.uniform(*self.gap_seconds) * 1000)
        ts += int(rng.uniform(*self.pause_minutes) * MINUTE_MS)
        merchant = _one(online[weighted(_BIG_TICKET, rng)], rng)
        cents = _log_uniform_cents(self.big, rng)
        extras = channels.remote(device_id, ip, card_id=card, merchant=merchant)
        drafts.append(Draft(ts, customer, "online", "purchase", cents, extras, self.name, False))
        _compromise(target, card, rng)
        return drafts


#: Every scenario the simulator knows, by name, in the order they are drawn.
SCENARIOS: Mapping[str, Scenario] = {
    s.name: s for s in (StolenCardSpree(), AccountTakeover(), CardTesting())
}
#: Chance per customer-day of each scenario, unless configured otherwise.
DEFAULT_RATES: Mapping[str, float] = {
    "stolen_card_spree": 0.0005,
    "account_takeover": 0.0003,
    "card_testing": 0.0004,
}


def _one(items: Sequence[T], rng: random.Random) -> T:
    return items[int(rng.random() * len(items))]


def _attacker(target: Target, rng: random.Random) -> tuple[str, str]:
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


def _new_mule(target: Target, rng: random.Random) -> Counterparty:
    """A mule account the customer has never sent money to."""
    known = target.state.known_counterparties
    mules = [m for m in target.population.mules if m.account not in known]
    mule = mules[int(rng.random() * len(mules))] if mules else external(target.minter, rng)
    known.add(mule.account)
    return mule


def _compromise(target: Target, card: str, rng: random.Random) -> None:
    """The bank blocks the card and the customer gets a new one a few days later."""
    state = target.state
    if any(r.old == card for r in state.reissues):
        return
    new = target.minter.mint("card", rng)
    state.reissues.append(Reissue(target.day.index + rng.randint(1, 3), card, new))


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    """``total`` cents in ``parts`` uneven pieces; in round hundreds half the time.

    Rounding only ever raises the total, so it never drops below the amount
    the attack was sized at.
    """
    unit = 10_000 if rng.random() < 0.5 else 1
    units = max(-(-total // unit), parts)
    weights = [rng.uniform(0.5, 1.5) for _ in range(parts)]
    scale = units / sum(weights)
    pieces = [max(1, int(w * scale)) for w in weights[:-1]]
    pieces.append(units - sum(pieces))
    return [p * unit for p in pieces]


def _log_uniform_cents(bounds: tuple[float, float], rng: random.Random) -> int:
    lo, hi = bounds
    return round(math.exp(rng.uniform(math.log(lo), math.log(hi))) * 100)
