"""Legitimate behaviour that a naive detector flags.

Labelled ``legit`` with the scenario's name, so that an evaluation can count
the false positives each one draws. Each mirrors a fraud or laundering
pattern in its loud features and differs in the quiet ones (own device,
plausible timing, the customer's own money).

* ``shopping_festival``: a Singles' Day style night: 8–20 online and
  platform purchases at as many shops within an hour or two, from the
  customer's own phone and card (looks like a stolen-card spree).
* ``year_end_bonus``: a bonus of 2–6 months' income arrives and most of it
  goes within hours to the customer's own account at another bank, an
  account never paid before (looks like mule pass-through or a takeover).
* ``travel_abroad``: the customer flies abroad overnight and uses the card
  there for a hotel, meals, shopping and cash; the days after it the
  customer's routine follows them there (looks like stolen-card use
  abroad, but the timing is a flight's).
* ``rent_day``: moving house: a deposit and the first month's rent, two to
  three months' rent together, to a landlord never paid before (looks like
  a takeover's draining transfer to a new payee).

Transfers go from the customer's own phone or computer, or over the counter
of their branch when they have neither; the shopping festival needs a
device, so customers without one sit it out (its incidents then fall short
of the configured rate by the share of customers without a device).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from simulator import channels
from simulator.counterparties import OTHER_BANKS, Counterparty
from simulator.days import DAY_MS, HOUR_MS, MINUTE_MS
from simulator.events import Draft
from simulator.geography import FOREIGN_CITIES
from simulator.scenarios.base import (
    LEGIT,
    Target,
    log_uniform_cents,
    one,
    own_device,
    spread,
    strangers,
)
from simulator.state import Trip

_FESTIVAL_SHOPS: tuple[str, ...] = ("clothing", "electronics", "department", "digital", "misc")


@dataclass(frozen=True, slots=True)
class ShoppingFestival:
    name: str = "shopping_festival"
    label: str = LEGIT
    pool: str = "all"
    purchases: tuple[int, int] = (8, 20)
    amount: tuple[float, float] = (60.0, 2_500.0)

    @property
    def max_span_ms(self) -> int:
        return DAY_MS + 3 * HOUR_MS

    def inject(self, target: Target, rng: random.Random) -> list[Draft]:
        customer, state = target.customer, target.state
        device = own_device(target, rng)
        if device is None or state.phone is None:
            return []
        # The sales open at 20:00 or at midnight.
        start = target.day.start_ms + (20 if rng.random() < 0.5 else 24) * HOUR_MS
        start += int(rng.uniform(0.0, 40.0) * MINUTE_MS)
        count = rng.randint(*self.purchases)
        times = spread(start, rng.uniform(20.0, 120.0) * MINUTE_MS, count, rng)
        online = target.population.merchants.online
        drafts = []
        for ts in times:
            merchant = one(online[one(_FESTIVAL_SHOPS, rng)], rng)
            cents = log_uniform_cents(self.amount, rng)
            if rng.random() < 0.5:
                extras = channels.platform(
                    customer.platform, state.phone.device_id, merchant=merchant
                )
                channel = "thirdparty"
            else:
                card = one(state.cards, rng)
                extras = channels.remote(*device, card_id=card, merchant=merchant)
                channel = "online"
            drafts.append(Draft(ts, customer, channel, "purchase", cents, extras, self.name, False))
        return drafts


@dataclass(frozen=True, slots=True)
class YearEndBonus:
    name: str = "year_end_bonus"
    label: str = LEGIT
    pool: str = "all"
    months: tuple[float, float] = (2.0, 6.0)
    moved: tuple[float, float] = (0.7, 1.0)

    @property
    def max_span_ms(self) -> int:
        return 10 * HOUR_MS

    def inject(self, target: Target, rng: random.Random) -> list[Draft]:
        customer = target.customer
        start = target.start(rng)
        bonus = round(customer.income_cents * rng.uniform(*self.months) / 100) * 100
        source = customer.income_source
        if source is not None and customer.segment.income_kind == "salary":
            credit = Draft(
                start, customer, "online", "salary", bonus,
                channels.remote(None, None, party=source), self.name, False,
            )  # fmt: skip
        else:
            (payer,) = strangers(target, rng, 1)
            credit = Draft(
                start, customer, "online", "transfer_in", bonus,
                channels.remote(None, None, party=payer), self.name, False,
            )  # fmt: skip
        own = Counterparty(target.minter.mint("ext", rng), one(OTHER_BANKS, rng))
        target.state.known_counterparties.add(own.account)
        ts = start + int(rng.uniform(10.0, 480.0) * MINUTE_MS)
        cents = round(bonus * rng.uniform(*self.moved) / 10_000) * 10_000 or bonus
        channel, extras = _transfer_channel(target, own, rng)
        return [
            credit,
            Draft(ts, customer, channel, "transfer_out", cents, extras, self.name, False),
        ]


@dataclass(frozen=True, slots=True)
class TravelAbroad:
    name: str = "travel_abroad"
    label: str = LEGIT
    pool: str = "all"
    days: tuple[int, int] = (2, 6)

    @property
    def max_span_ms(self) -> int:
        return 2 * DAY_MS

    def inject(self, target: Target, rng: random.Random) -> list[Draft]:
        customer, state = target.customer, target.state
        if state.trip is not None:
            return []
        city = one(FOREIGN_CITIES, rng)
        state.trip = Trip(city, target.day.index + rng.randint(*self.days))
        merchants = target.population.merchants
        card = one(state.cards, rng)
        # An overnight flight: the first use abroad is the next morning.
        ts = target.day.end_ms + int(rng.uniform(7.0, 11.0) * HOUR_MS)
        drafts = []
        atm = one(merchants.atms[city.code], rng)
        cents = rng.randint(10, 30) * 10_000
        drafts.append(
            Draft(ts, customer, "atm", "cash_withdrawal", cents, channels.atm(card, atm), self.name)
        )
        plan = [("hotel", (400.0, 2_500.0))] + [
            (
                one(("dining", "department", "clothing", "electronics", "transit"), rng),
                (40.0, 4_000.0),
            )
            for _ in range(rng.randint(2, 6))
        ]
        for category, bounds in plan:
            ts += int(rng.uniform(20.0, 150.0) * MINUTE_MS)
            shops = merchants.in_city(city, category) or merchants.in_city(city, "dining")
            merchant = one(shops, rng)
            extras = channels.pos(card, merchant, one(merchant.terminals, rng))
            cents = log_uniform_cents(bounds, rng)
            drafts.append(Draft(ts, customer, "pos", "purchase", cents, extras, self.name, False))
        return drafts


@dataclass(frozen=True, slots=True)
class RentDay:
    name: str = "rent_day"
    label: str = LEGIT
    pool: str = "all"
    months: tuple[int, int] = (2, 3)
    share: tuple[float, float] = (0.2, 0.35)

    @property
    def max_span_ms(self) -> int:
        return 2 * HOUR_MS

    def inject(self, target: Target, rng: random.Random) -> list[Draft]:
        customer = target.customer
        rent = round(customer.income_cents * rng.uniform(*self.share) / 10_000) * 10_000
        months = rng.randint(*self.months)
        (landlord,) = strangers(target, rng, 1)
        channel, extras = _transfer_channel(target, landlord, rng)
        start = target.start(rng)
        deposit = Draft(start, customer, channel, "transfer_out", rent * (months - 1), extras,
                        self.name, False)  # fmt: skip
        ts = start + int(rng.uniform(1.0, 90.0) * MINUTE_MS)
        first = Draft(ts, customer, channel, "transfer_out", rent, extras, self.name, False)
        return [deposit, first]


def _transfer_channel(
    target: Target, party: Counterparty, rng: random.Random
) -> tuple[str, channels.Extras]:
    """The customer's own phone, else their computer, else their branch's counter."""
    state = target.state
    device = own_device(target, rng)
    if device is None:
        return "counter", channels.counter(target.customer.branch, payee=party)
    return ("mobile" if state.phone is not None else "online"), channels.remote(
        *device, party=party
    )
