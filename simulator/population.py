"""The simulated world: customers, and the merchants and accounts around them.

A customer belongs to a :mod:`segment <simulator.segments>`, lives in a home
city, holds one account, one or two cards and (mostly) a phone and maybe a
computer to bank from, and has the people and businesses they pay: family
and friends, a landlord, billers, staff and suppliers for a business. Each
gets a monthly income, fixed bills, and a spending scale chosen so that what
they spend in a month is a believable share of what they earn.

Everything here is drawn from the ``rng`` passed in, in a fixed order, so a
seed rebuilds the same world.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import numpy as np

from simulator import counterparties as cp
from simulator.counterparties import Counterparty
from simulator.devices import Device, new_computer, new_phone
from simulator.errors import SimulatorError
from simulator.geography import HOME_CITIES, City, near
from simulator.ids import TokenMinter, account_id, customer_id
from simulator.merchants import Merchant, MerchantDirectory, Terminal, build_merchants
from simulator.segments import SEGMENTS, BillSpec, Segment, weighted

#: Days in an average month, to turn monthly money into daily money.
MONTH_DAYS = 30.4
_FAVOURITES = 3
T = TypeVar("T")
#: Share of accounts left dormant: opened, then hardly used. They are the
#: pool of the ``dormant_reactivation`` laundering scenario.
DORMANT_SHARE = 0.03


class ScheduledBill(NamedTuple):
    """One customer's instance of a monthly bill: when, how much, to whom.

    A named tuple, like :class:`~simulator.counterparties.Counterparty`:
    cheap to make, immutable.
    """

    spec: BillSpec
    day: int
    cents: int
    channel: str
    payee: Counterparty | None = None
    biller: Merchant | None = None


@dataclass(slots=True, eq=False)
class Customer:
    """A customer's fixed profile. What changes lives in ``CustomerState``.

    Read-only by convention, not frozen: a frozen dataclass sets each of its
    35 fields through ``object.__setattr__``, which made building customers
    several times slower. Nothing assigns to a customer after it is built.
    """

    index: int
    customer_id: str
    account_id: str
    segment: Segment
    home: City
    income_cents: int
    payday: int
    opening_balance_cents: int
    cards: tuple[str, ...]
    phone: Device | None
    computer: Device | None
    platform: str
    income_source: Counterparty | None
    contacts: tuple[Counterparty, ...]
    suppliers: tuple[Counterparty, ...]
    bills: tuple[ScheduledBill, ...]
    branch: Terminal
    atms: tuple[Terminal, ...]
    favourites: Mapping[str, tuple[Merchant, ...]]
    activity: float
    #: How much more than nominal this customer spends each day; half of it
    #: is in how often (the rates below), half in how much (``amount_scale``).
    spend_scale: float
    amount_scale: float
    #: Expected habit events per weekday and per weekend day, and the
    #: cumulative per-habit rates behind them, in ``segment.habits`` order.
    weekday_rates: tuple[float, tuple[float, ...]]
    weekend_rates: tuple[float, tuple[float, ...]]
    #: An idle account: no income, no bills, no habits, only a rare small
    #: credit from family (see :mod:`simulator.routine`).
    dormant: bool = False
    #: An account abroad the customer sometimes pays (tuition, family, a supplier).
    overseas: Counterparty | None = None
    #: ``customer_id`` as bytes: the Kafka key of every event of this customer.
    key: bytes = b""
    #: Where in the home city the customer lives.
    lat: float = 0.0
    lon: float = 0.0

    def counterparties(self) -> Iterator[Counterparty]:
        """Every account this customer legitimately sends money to or gets it from."""
        if self.income_source is not None:
            yield self.income_source
        yield from self.contacts
        yield from self.suppliers
        for bill in self.bills:
            if bill.payee is not None:
                yield bill.payee
        if self.overseas is not None:
            yield self.overseas


@dataclass(frozen=True, slots=True)
class Population:
    customers: tuple[Customer, ...]
    merchants: MerchantDirectory
    employers: tuple[Counterparty, ...]
    #: Accounts fraudsters cash out to; no customer ever pays them legitimately.
    mules: tuple[Counterparty, ...]
    #: Each platform's settlement account, which pays businesses their takings.
    settlements: Mapping[str, Counterparty]
    #: Indices of the dormant customers, in order.
    dormant: tuple[int, ...] = ()
    #: A number drawn with the world, for choices fixed per world and period
    #: (which merchants collude in ``compromised_terminal``).
    salt: int = 0


def build_population(customers: int, rng: random.Random, minter: TokenMinter) -> Population:
    merchants = build_merchants(customers, rng)
    employers = cp.pool(minter, rng, max(5, customers // 40))
    mules = cp.pool(minter, rng, max(5, customers // 300))
    settlements = {p: Counterparty(minter.mint("ext", rng), p) for p in cp.PLATFORMS}
    pension_payers = {
        c.code: Counterparty(minter.mint("ext", rng), cp.PENSION_PAYER) for c in HOME_CITIES
    }
    segment_weights = tuple((s.name, s.share) for s in SEGMENTS)
    by_name = {s.name: s for s in SEGMENTS}
    city_weights = tuple((c.code, c.weight) for c in HOME_CITIES)
    by_code = {c.code: c for c in HOME_CITIES}
    people = tuple(
        _customer(
            index,
            by_name[weighted(segment_weights, rng)],
            by_code[weighted(city_weights, rng)],
            merchants,
            employers,
            pension_payers,
            minter,
            rng,
        )
        for index in range(customers)
    )
    _choose_favourites(people, merchants, np.random.default_rng(rng.getrandbits(128)))
    dormant = tuple(c.index for c in people if c.dormant)
    return Population(
        people, merchants, employers, mules, settlements, dormant, rng.getrandbits(32)
    )


def _choose_favourites(
    people: Sequence[Customer], merchants: MerchantDirectory, gen: np.random.Generator
) -> None:
    """Give each customer a few favourite shops per category in their home city.

    Drawn for all customers of a city and segment at once (a random
    permutation of the city's shops per customer, of which the first few
    are kept): picking them one customer at a time was a fifth of building
    the world.
    """
    groups: dict[tuple[str, str], list[Customer]] = {}
    for customer in people:
        groups.setdefault((customer.home.code, customer.segment.name), []).append(customer)
    for group in groups.values():
        home, segment = group[0].home, group[0].segment.name
        for category in _PHYSICAL[segment]:
            choices = merchants.in_city(home, category)
            keep = min(_FAVOURITES, len(choices))
            picks = np.argsort(gen.random((len(group), len(choices))), axis=1)[:, :keep]
            for customer, row in zip(group, picks.tolist(), strict=True):
                customer.favourites[category] = tuple(choices[j] for j in row)  # type: ignore[index]


def _customer(
    index: int,
    segment: Segment,
    home: City,
    merchants: MerchantDirectory,
    employers: tuple[Counterparty, ...],
    pension_payers: Mapping[str, Counterparty],
    minter: TokenMinter,
    rng: random.Random,
) -> Customer:
    lo, hi = segment.income
    income = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    income_cents = round(income * 100)
    if segment.income_kind == "salary":
        source: Counterparty | None = employers[int(rng.random() * len(employers))]
    elif segment.income_kind == "pension":
        source = pension_payers[home.code]
    else:
        source = None
    payday = segment.paydays[int(rng.random() * len(segment.paydays))] if segment.paydays else 0
    savings = rng.uniform(*segment.savings_months)

    cards = tuple(minter.mint("card", rng) for _ in range(1 + (rng.random() < segment.second_card)))
    phone = new_phone(home, minter, rng) if rng.random() < segment.phone else None
    computer = new_computer(home, minter, rng) if rng.random() < segment.computer else None
    platform = "alipay" if rng.random() < 0.55 else "wechatpay"
    contacts = tuple(
        cp.external(minter, rng, internal_share=0.25) for _ in range(1 + int(rng.random() * 3))
    )
    suppliers = tuple(cp.external(minter, rng) for _ in range(_between(segment.suppliers, rng)))
    bills = _bills(segment, home, income, phone, computer, merchants, minter, rng)

    branches = merchants.branches[home.code]
    atms = merchants.atms[home.code]
    favourites: dict[str, tuple[Merchant, ...]] = {}  # filled by _choose_favourites

    home_at = near(home, rng)
    activity = rng.uniform(0.7, 1.3)
    fixed = sum(b.cents for b in bills) / 100
    budget = max(income - fixed, 0.15 * income) * rng.uniform(0.55, 0.85) / MONTH_DAYS
    nominal = _NOMINAL_SPEND[segment.name] * activity
    spend_scale = min(5.0, max(0.1, budget / nominal)) if nominal > 0 else 1.0
    frequency = math.sqrt(spend_scale)
    rates = [
        h.per_day * activity * (frequency if spends else 1.0)
        for h, spends in zip(segment.habits, _SPENDING[segment.name], strict=True)
    ]
    weekend = [r * h.weekend for r, h in zip(rates, segment.habits, strict=True)]

    ident = customer_id(index)
    return Customer(
        index=index,
        customer_id=ident,
        account_id=account_id(index),
        segment=segment,
        home=home,
        income_cents=income_cents,
        payday=payday,
        opening_balance_cents=round(income_cents * savings),
        cards=cards,
        phone=phone,
        computer=computer,
        platform=platform,
        income_source=source,
        contacts=contacts,
        suppliers=suppliers,
        bills=bills,
        branch=branches[int(rng.random() * len(branches))],
        atms=_distinct(atms, 2, rng),
        favourites=favourites,
        activity=activity,
        spend_scale=spend_scale,
        amount_scale=frequency,
        weekday_rates=_cumulative(rates),
        weekend_rates=_cumulative(weekend),
        dormant=rng.random() < DORMANT_SHARE,
        overseas=cp.abroad(minter, rng, cp.USUAL_ABROAD),
        key=ident.encode("ascii"),
        lat=home_at[0],
        lon=home_at[1],
    )


#: Which of each segment's habits are everyday spending, computed once.
_SPENDING: Mapping[str, tuple[bool, ...]] = {
    s.name: tuple(h.spending for h in s.habits) for s in SEGMENTS
}
#: Each segment's everyday spending per day at scale one, computed once.
_NOMINAL_SPEND: Mapping[str, float] = {s.name: s.daily_spend_at_scale_one() for s in SEGMENTS}


def _cumulative(rates: list[float]) -> tuple[float, tuple[float, ...]]:
    cumulative = tuple(itertools.accumulate(rates))
    return cumulative[-1], cumulative


def _bills(
    segment: Segment,
    home: City,
    income: float,
    phone: Device | None,
    computer: Device | None,
    merchants: MerchantDirectory,
    minter: TokenMinter,
    rng: random.Random,
) -> tuple[ScheduledBill, ...]:
    out: list[ScheduledBill] = []
    given: set[str] = set()
    for spec in segment.bills:
        if spec.instead_of is not None and spec.instead_of in given:
            continue
        if rng.random() >= spec.probability:
            continue
        given.add(spec.name)
        channel = weighted(spec.channels, rng)
        if (channel in ("mobile", "thirdparty") and phone is None) or (
            channel == "online" and phone is None and computer is None
        ):
            channel = "counter"
        day = _between(spec.days, rng)
        if spec.payee == "staff":
            staff = max(1, min(segment.staff[1], round(income / 35_000 * rng.uniform(0.6, 1.4))))
            for _ in range(staff):
                cents = round(rng.uniform(*_amount_range(spec)) / 100) * 10_000
                payee = cp.external(minter, rng, internal_share=0.2)
                out.append(ScheduledBill(spec, day, cents, channel, payee=payee))
            continue
        if spec.share is not None:
            cents = round(income * rng.uniform(*spec.share) / 100) * 10_000
        else:
            cents = round(rng.uniform(*_amount_range(spec)) * 100)
        if spec.payee == "landlord":
            payee = cp.external(minter, rng, internal_share=0.2)
            out.append(ScheduledBill(spec, day, cents, channel, payee=payee))
        else:
            billers = merchants.billers_for(spec.payee, home)
            biller = billers[int(rng.random() * len(billers))]
            out.append(ScheduledBill(spec, day, cents, channel, biller=biller))
    return tuple(out)


def _amount_range(spec: BillSpec) -> tuple[float, float]:
    if spec.amount is None:
        msg = f"bill {spec.name!r} has neither a share of income nor an amount"
        raise SimulatorError(msg)
    return spec.amount


def _between(bounds: tuple[int, int], rng: random.Random) -> int:
    """A whole number in ``bounds`` inclusive (0 for ``(0, 0)``); one draw, not ``randint``'s."""
    lo, hi = bounds
    return lo + int(rng.random() * (hi - lo + 1))


def _distinct(items: Sequence[T], count: int, rng: random.Random) -> tuple[T, ...]:
    """``count`` different items (all of them if there are fewer), in the order drawn.

    ``random.sample`` does the same, but its checks cost more than the draws
    here, where a world of 5,000 customers picks 30,000 small samples.
    """
    n = len(items)
    if n <= count:
        chosen = list(range(n))
        for i in range(n - 1):  # shuffled, as a sample of everything would be
            j = i + int(rng.random() * (n - i))
            chosen[i], chosen[j] = chosen[j], chosen[i]
    else:
        chosen = []
        while len(chosen) < count:
            j = int(rng.random() * n)
            if j not in chosen:
                chosen.append(j)
    return tuple(items[j] for j in chosen)


def _physical_categories(segment: Segment) -> list[str]:
    seen: dict[str, None] = {}
    for habit in segment.habits:
        if not habit.online:
            for category in habit.categories:
                seen.setdefault(category, None)
    return list(seen)


#: Each segment's categories of physical merchants, computed once.
_PHYSICAL: Mapping[str, list[str]] = {s.name: _physical_categories(s) for s in SEGMENTS}
