"""Legitimate traffic: what one customer does on one local day.

Income arrives on payday, bills leave on their day, and each everyday habit
fires a Poisson number of times, at its usual hours, through one of its
channels, at a favourite merchant more often than not. Customers without a
phone or computer fall back to the card and the counter. Now and then a
customer travels (their card then turns up in another city, legitimately),
or replaces their phone (a new device, legitimately), so that neither is a
sure sign of fraud.

Every draw comes from the ``rng`` passed in; fraud scenarios draw from a
stream of their own, so changing injection rates does not reshuffle the
legitimate traffic.
"""

from __future__ import annotations

import bisect
import math
import random
from math import cos as _cos
from math import exp as _exp
from math import log as _log
from math import sqrt as _sqrt

from simulator import channels
from simulator.counterparties import Counterparty
from simulator.days import HOUR_MS, Day
from simulator.devices import Device
from simulator.errors import SimulatorError
from simulator.events import Draft
from simulator.geography import City, away_from
from simulator.ids import TokenMinter
from simulator.merchants import Merchant, Terminal
from simulator.population import MONTH_DAYS, Customer, Population, ScheduledBill
from simulator.segments import Habit, Hours, weighted
from simulator.state import CustomerState, Trip

#: Chance per day that a customer with a phone replaces it (about every two years).
PHONE_REPLACEMENT = 0.0015
#: Share of everyday purchases at home made at one of the customer's favourites.
FAVOURITE_SHARE = 0.8
#: Chance per day that family tops up a dormant account (about twice a year).
DORMANT_TOP_UP = 0.005
_TWO_PI = 2.0 * math.pi
_new_draft = tuple.__new__  # Draft(...) without the named tuple's Python-level __new__
_NEEDS_PHONE = frozenset({"mobile", "thirdparty"})
#: Where a habit goes when the customer lacks the device its channel needs.
_FALLBACK = {"purchase": "pos", "transfer_out": "counter", "bill_payment": "counter"}


class Routine:
    """Builds the legitimate drafts of one customer-day."""

    def __init__(self, population: Population, minter: TokenMinter) -> None:
        self._population = population
        self._merchants = population.merchants
        self._minter = minter
        #: Per customer, the median amount of each habit (computed on first use).
        self._medians: list[tuple[float, ...] | None] = [None] * len(population.customers)

    def day(
        self, customer: Customer, state: CustomerState, day: Day, rng: random.Random
    ) -> list[Draft]:
        """The customer's drafts for ``day``, in no particular order."""
        if customer.dormant:
            return self._dormant(customer, day, rng)
        arrived = self._housekeeping(customer, state, day, rng)
        where = state.trip.city if state.trip is not None else customer.home
        out: list[Draft] = []
        if customer.payday and customer.payday in day.paydays:
            out.append(self._income(customer, day, rng))
        for bill in customer.bills_by_day.get(day.date.day, ()):
            draft = self._bill(bill, customer, state, day, rng)
            if draft is not None:
                out.append(draft)
        # One Poisson draw for the whole day, each event then given to a habit
        # in proportion to its rate: the same law as one draw per habit, and
        # much cheaper when most habits fire less than once a day.
        total, cumulative = customer.weekend_rates if day.weekend else customer.weekday_rates
        habits = customer.segment.habits
        medians = self._medians[customer.index] or self._medians_of(customer)
        for _ in range(_poisson(total, rng)):
            i = bisect.bisect_right(cumulative, rng.random() * total)
            draft = self._habit(habits[i], medians[i], customer, state, day, where, rng)
            if draft is not None:
                out.append(draft)
        if arrived:
            draft = self._hotel(customer, state, day, where, rng)
            if draft is not None:
                out.append(draft)
        return out

    def _medians_of(self, customer: Customer) -> tuple[float, ...]:
        medians = tuple(_median(habit, customer) for habit in customer.segment.habits)
        self._medians[customer.index] = medians
        return medians

    def _dormant(self, customer: Customer, day: Day, rng: random.Random) -> list[Draft]:
        if rng.random() >= DORMANT_TOP_UP:
            return []
        party = customer.contacts[int(rng.random() * len(customer.contacts))]
        cents = round(rng.uniform(50.0, 500.0)) * 100
        ts = day.start_ms + int((9.0 + 12.0 * rng.random()) * HOUR_MS)
        extras = channels.remote(None, None, party=party)
        return [Draft(ts, customer, "online", "transfer_in", cents, extras)]

    # -- the customer's life outside single transactions ------------------

    def _housekeeping(
        self, customer: Customer, state: CustomerState, day: Day, rng: random.Random
    ) -> bool:
        """Apply card reissues, phone changes and trips; True if a trip starts today."""
        if state.reissues:
            for reissue in [r for r in state.reissues if r.due_day <= day.index]:
                state.cards = [reissue.new if c == reissue.old else c for c in state.cards]
                state.reissues.remove(reissue)
        if state.phone is not None and rng.random() < PHONE_REPLACEMENT:
            old = state.phone
            state.phone = Device(self._minter.mint("dev", rng), "phone", old.ips)
            state.known_devices.add(state.phone.device_id)
        if state.trip is not None and state.trip.until_day < day.index:
            state.trip = None
        segment = customer.segment
        if state.trip is None and rng.random() < segment.trip_rate:
            city = away_from(customer.home, rng, segment.abroad_share)
            state.trip = Trip(city, day.index + int(rng.random() * 5))
            return True
        return False

    # -- income and bills --------------------------------------------------

    def _income(self, customer: Customer, day: Day, rng: random.Random) -> Draft:
        source = customer.income_source
        if source is None:
            msg = f"{customer.customer_id} has a payday but no income source"
            raise SimulatorError(msg)
        if customer.segment.income_kind == "pension":
            kind, cents = "pension", customer.income_cents
            ts = day.start_ms + int((7.0 + 2.0 * rng.random()) * HOUR_MS)
        else:
            kind = "salary"
            cents = round(customer.income_cents * rng.uniform(0.98, 1.05))
            ts = day.start_ms + int((8.0 + 4.0 * rng.random()) * HOUR_MS)
        extras = channels.remote(None, None, party=source)
        return Draft(ts, customer, "online", kind, cents, extras, None, False)

    def _bill(
        self,
        bill: ScheduledBill,
        customer: Customer,
        state: CustomerState,
        day: Day,
        rng: random.Random,
    ) -> Draft | None:
        cents = bill.cents
        if bill.spec.varies:
            cents = round(cents * (1.0 + bill.spec.varies * (2.0 * rng.random() - 1.0)))
        ts = day.start_ms + int((8.0 + 14.0 * rng.random()) * HOUR_MS)
        channel = bill.channel
        extras: channels.Extras | None
        if channel == "counter":
            branch = self._branch(customer, state, rng)
            if branch is None:  # abroad: the bill waits
                return None
            extras = channels.counter(branch, payee=bill.payee, biller=bill.biller)
        else:
            extras = self._remote(
                channel, bill.spec.kind, customer, state, rng, bill.payee, bill.biller
            )
        if extras is None:
            return None
        return Draft(ts, customer, channel, bill.spec.kind, cents, extras, None, False)

    # -- everyday habits ----------------------------------------------------

    def _habit(
        self,
        habit: Habit,
        median: float,
        customer: Customer,
        state: CustomerState,
        day: Day,
        where: City,
        rng: random.Random,
    ) -> Draft | None:
        kind = habit.kind
        pairs = habit.channels
        channel = pairs[0][0] if len(pairs) == 1 else weighted(pairs, rng)
        if habit.payee != "platform" and (
            (channel in _NEEDS_PHONE and state.phone is None)
            or (channel == "online" and state.phone is None and state.computer is None)
        ):
            if habit.online:
                return None
            channel = _FALLBACK.get(kind, "online")
        hours = habit.hours
        if len(hours) == 1:  # _time_of_day, inlined for the common single window
            start, end, _ = hours[0]
            ts = day.start_ms + int((start + (end - start) * rng.random()) * HOUR_MS)
        else:
            ts = day.start_ms + _time_of_day(hours, rng)
        cents = _habit_cents(habit, median, rng)

        extras: channels.Extras | None
        if kind == "purchase" or kind == "refund":
            categories = habit.categories
            category = categories[int(rng.random() * len(categories))]
            # Which merchant: online ones for online habits, else a favourite
            # more often than not at home, else any in the city where they are.
            if channel == "online" or habit.online:
                choices = self._merchants.online.get(category, ())
            elif state.trip is None and rng.random() < FAVOURITE_SHARE:
                choices = customer.favourites.get(category, ())
            else:
                choices = self._merchants.in_city(where, category)
            if not choices:
                return None
            merchant = choices[int(rng.random() * len(choices))]
            if channel == "pos":
                cards = state.cards  # _card, inlined
                card = cards[0] if len(cards) == 1 or rng.random() < 0.75 else cards[1]
                terminals = merchant.terminals
                extras = channels.pos(card, merchant, terminals[int(rng.random() * len(terminals))])
            else:
                extras = self._remote(channel, kind, customer, state, rng, None, merchant)
        elif channel == "atm":
            extras = channels.atm(_card(state, rng), self._atm(customer, state, where, rng))
        elif channel == "counter":
            branch = self._branch(customer, state, rng)
            if branch is None:
                return None
            party = self._party(habit, customer, rng) if kind.startswith("transfer") else None
            extras = channels.counter(branch, payee=party)
        else:
            party = self._party(habit, customer, rng)
            extras = self._remote(channel, kind, customer, state, rng, party, None)
        if extras is None:
            return None
        return _new_draft(Draft, (ts, customer, channel, kind, cents, extras, None, True, 0))

    def _hotel(
        self, customer: Customer, state: CustomerState, day: Day, where: City, rng: random.Random
    ) -> Draft | None:
        """Checking in on the first day of a trip: a card purchase far from home."""
        hotels = self._merchants.in_city(where, "hotel")
        if not hotels or rng.random() < 0.4:
            return None
        merchant = hotels[int(rng.random() * len(hotels))]
        cents = round(rng.uniform(300.0, 1500.0) * 100)
        ts = day.start_ms + int((14.0 + 8.0 * rng.random()) * HOUR_MS)
        extras = channels.pos(_card(state, rng), merchant, merchant.terminals[0])
        return Draft(ts, customer, "pos", "purchase", cents, extras)

    # -- who and where ------------------------------------------------------

    def _remote(
        self,
        channel: str,
        kind: str,
        customer: Customer,
        state: CustomerState,
        rng: random.Random,
        party: Counterparty | None,
        merchant: Merchant | None,
    ) -> channels.Extras | None:
        """Fields of the online, mobile and thirdparty channels."""
        incoming = kind == "transfer_in"
        if channel == "thirdparty":
            if party is not None and party.bank == customer.platform and incoming:
                device_id = None  # the platform settles; nobody touched a phone
            elif state.phone is None:
                return None
            else:
                device_id = state.phone.device_id
            return channels.platform(customer.platform, device_id, merchant=merchant, party=party)
        if channel == "mobile":
            device = state.phone
        elif incoming:
            device = None
        elif state.computer is not None and (state.phone is None or rng.random() < 0.7):
            device = state.computer
        else:
            device = state.phone
        if device is None:
            if channel == "mobile":
                return None
            return channels.remote(None, None, party=party)
        ip = device.ips[int(rng.random() * len(device.ips))]
        card = _card(state, rng) if kind == "purchase" and channel == "online" else None
        return channels.remote(device.device_id, ip, card_id=card, merchant=merchant, party=party)

    def _party(self, habit: Habit, customer: Customer, rng: random.Random) -> Counterparty:
        if habit.payee == "platform":
            return self._population.settlements[customer.platform]
        if habit.payee == "abroad" and customer.overseas is not None:
            return customer.overseas
        pool = customer.suppliers if habit.payee == "suppliers" else customer.contacts
        return pool[int(rng.random() * len(pool))]

    def _atm(
        self, customer: Customer, state: CustomerState, where: City, rng: random.Random
    ) -> Terminal:
        if state.trip is None and rng.random() < 0.85:
            pool = customer.atms
        else:
            pool = self._merchants.atms[where.code]
        return pool[int(rng.random() * len(pool))]

    def _branch(
        self, customer: Customer, state: CustomerState, rng: random.Random
    ) -> Terminal | None:
        trip = state.trip
        if trip is None:
            return customer.branch
        branches = self._merchants.branches.get(trip.city.code, ())
        return branches[int(rng.random() * len(branches))] if branches else None


def _card(state: CustomerState, rng: random.Random) -> str:
    cards = state.cards
    return cards[0] if len(cards) == 1 or rng.random() < 0.75 else cards[1]


def _median(habit: Habit, customer: Customer) -> float:
    """The median amount of ``habit`` for ``customer``, fixed for the run."""
    sigma = habit.sigma
    if habit.income_share:
        daily = habit.income_share * customer.income_cents / 100 / MONTH_DAYS
        return daily / (habit.per_day * customer.activity) / math.exp(sigma * sigma / 2.0)
    if habit.scaled:
        return habit.median * customer.amount_scale
    return habit.median


def _habit_cents(habit: Habit, median: float, rng: random.Random) -> int:
    sigma = habit.sigma
    low, high = habit.low, habit.high
    draw = rng.random
    # Truncated log-normal: redraw what falls outside the habit's range, so
    # the bounds do not pile up as spikes of identical amounts.
    for _ in range(4):
        z = _sqrt(-2.0 * _log(1.0 - draw())) * _cos(_TWO_PI * draw())
        amount = median * _exp(sigma * z)
        if low <= amount <= high:
            break
    else:  # the median itself is far outside: stay near the bound it is beyond
        amount = low * (1.0 + 0.5 * draw()) if median < low else high * (1.0 - 0.3 * draw())
        amount = min(max(amount, low), high)
    if habit.round_to:
        step = habit.round_to
        amount = min(max(step, round(amount / step) * step), habit.high)
    return round(amount * 100)


def _time_of_day(hours: Hours, rng: random.Random) -> int:
    """Milliseconds after local midnight, within one of the habit's windows."""
    window = hours[-1]
    if len(hours) > 1:
        u = rng.random()
        for candidate in hours:
            u -= candidate[2]
            if u < 0.0:
                window = candidate
                break
    start, end, _ = window
    return int((start + (end - start) * rng.random()) * HOUR_MS)


def _poisson(rate: float, rng: random.Random) -> int:
    """A Poisson draw by Knuth's method; rates here are small."""
    limit = math.exp(-rate)
    count = 0
    product = rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
