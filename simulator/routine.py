"""Legitimate traffic: what every customer does on one local day.

Income arrives on payday, bills leave on their day, and each everyday habit
fires a Poisson number of times, at its usual hours, through one of its
channels, at a favourite merchant more often than not. Customers without a
phone or computer fall back to the card and the counter. Now and then a
customer travels (their card then turns up in another city, legitimately),
or replaces their phone (a new device, legitimately), so that neither is a
sure sign of fraud.

A day is built for the whole population at once: the habits' counts,
times, channels and amounts, and who replaces a phone or sets off on a
trip, are drawn as arrays (:mod:`simulator.habits`); Python then only
dresses each event with its merchant, card and device. The rare events
(income, bills, trips, phones, dormant top-ups) draw from a
``random.Random`` stream, the arrays from a numpy generator; fraud
scenarios draw from a stream of their own, so changing injection rates does
not reshuffle the legitimate traffic.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import numpy as np

from simulator import channels
from simulator.counterparties import Counterparty
from simulator.days import HOUR_MS, Day
from simulator.devices import Device
from simulator.errors import SimulatorError
from simulator.events import Draft
from simulator.geography import City, away_from
from simulator.habits import HabitTable
from simulator.ids import TokenMinter
from simulator.merchants import Merchant, Terminal
from simulator.population import Customer, Population, ScheduledBill
from simulator.segments import Habit
from simulator.state import CustomerState, Trip

#: Chance per day that a customer with a phone replaces it (about every two years).
PHONE_REPLACEMENT = 0.0015
#: Share of everyday purchases at home made at one of the customer's favourites.
FAVOURITE_SHARE = 0.8
#: Chance per day that family tops up a dormant account (about twice a year).
DORMANT_TOP_UP = 0.005
_new_draft = tuple.__new__  # Draft(...) without the named tuple's Python-level __new__
_NEEDS_PHONE = frozenset({"mobile", "thirdparty"})
#: Where a habit goes when the customer lacks the device its channel needs.
_FALLBACK = {"purchase": "pos", "transfer_out": "counter", "bill_payment": "counter"}


class Routine:
    """Builds the legitimate drafts of every customer for one day."""

    def __init__(self, population: Population, minter: TokenMinter) -> None:
        self._population = population
        self._merchants = population.merchants
        self._minter = minter
        customers = population.customers
        self._table = HabitTable(customers)
        self._habits = self._table.habits
        active = [c for c in customers if not c.dormant]
        self._dormant = np.array([c.index for c in customers if c.dormant], dtype=np.int64)
        self._trip_rate = np.zeros(len(customers))
        for c in active:
            self._trip_rate[c.index] = c.segment.trip_rate
        #: Who is paid on each nominal payday, and whose bills fall on each day of the month.
        self._paid: dict[int, list[Customer]] = {}
        self._bills: dict[int, list[tuple[Customer, ScheduledBill]]] = {}
        for c in active:
            if c.payday:
                self._paid.setdefault(c.payday, []).append(c)
            for bill in c.bills:
                self._bills.setdefault(bill.day, []).append((c, bill))

    def day(
        self,
        states: Sequence[CustomerState],
        day: Day,
        rng: random.Random,
        gen: np.random.Generator,
    ) -> list[list[Draft]]:
        """Every customer's drafts for ``day``, by customer index, each in no particular order."""
        customers = self._population.customers
        out: list[list[Draft]] = [[] for _ in customers]
        for i in self._dormant[gen.random(len(self._dormant)) < DORMANT_TOP_UP].tolist():
            out[i].append(self._top_up(customers[i], day, rng))
        arrived = self._housekeeping(states, day, rng, gen)
        for nominal in sorted(day.paydays):
            for customer in self._paid.get(nominal, ()):
                out[customer.index].append(self._income(customer, day, rng))
        for customer, bill in self._bills.get(day.date.day, ()):
            draft = self._bill(bill, customer, states[customer.index], day, rng)
            if draft is not None:
                out[customer.index].append(draft)
        self._everyday(states, day, rng, gen, out)
        for customer in arrived:
            state = states[customer.index]
            draft = self._hotel(customer, state, day, state.trip.city if state.trip else None, rng)
            if draft is not None:
                out[customer.index].append(draft)
        return out

    def _top_up(self, customer: Customer, day: Day, rng: random.Random) -> Draft:
        """Family tops up a dormant account now and then."""
        party = customer.contacts[int(rng.random() * len(customer.contacts))]
        cents = round(rng.uniform(50.0, 500.0)) * 100
        ts = day.start_ms + int((9.0 + 12.0 * rng.random()) * HOUR_MS)
        extras = channels.remote(None, None, party=party)
        return Draft(ts, customer, "online", "transfer_in", cents, extras)

    # -- the customers' lives outside single transactions ------------------

    def _housekeeping(
        self,
        states: Sequence[CustomerState],
        day: Day,
        rng: random.Random,
        gen: np.random.Generator,
    ) -> list[Customer]:
        """Apply card reissues, phone changes and trips; return who sets off today."""
        customers = self._population.customers
        index = day.index
        for state in states:
            if state.reissues:
                for reissue in [r for r in state.reissues if r.due_day <= index]:
                    state.cards = [reissue.new if c == reissue.old else c for c in state.cards]
                    state.reissues.remove(reissue)
            if state.trip is not None and state.trip.until_day < index:
                state.trip = None
        draws = gen.random((2, len(customers)))
        for i in np.flatnonzero(draws[0] < PHONE_REPLACEMENT).tolist():
            state = states[i]
            if state.phone is not None and not customers[i].dormant:
                old = state.phone
                state.phone = Device(self._minter.mint("dev", rng), "phone", old.ips)
                state.known_devices.add(state.phone.device_id)
        arrived: list[Customer] = []
        for i in np.flatnonzero(draws[1] < self._trip_rate).tolist():
            state = states[i]
            if state.trip is None:
                customer = customers[i]
                city = away_from(customer.home, rng, customer.segment.abroad_share)
                state.trip = Trip(city, index + int(rng.random() * 5))
                arrived.append(customer)
        return arrived

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
            branch = self._branch(customer, state, rng.random)
            if branch is None:  # abroad: the bill waits
                return None
            extras = channels.counter(branch, payee=bill.payee, biller=bill.biller)
        else:
            extras = self._remote(
                channel, bill.spec.kind, customer, state, rng.random, bill.payee, bill.biller
            )
        if extras is None:
            return None
        return Draft(ts, customer, channel, bill.spec.kind, cents, extras, None, False)

    # -- everyday habits ----------------------------------------------------

    def _everyday(
        self,
        states: Sequence[CustomerState],
        day: Day,
        rng: random.Random,
        gen: np.random.Generator,
        out: list[list[Draft]],
    ) -> None:
        """Dress the day's drawn habit events with who and where, into ``out``."""
        draws = self._table.draw(day, gen)
        customers, habits, make, draw = (
            self._population.customers,
            self._habits,
            self._habit,
            rng.random,
        )
        for i, h, channel, ts, cents in zip(
            draws.customer, draws.habit, draws.channel, draws.ts_ms, draws.cents, strict=True
        ):
            draft = make(habits[h], channel, ts, cents, customers[i], states[i], draw)
            if draft is not None:
                out[i].append(draft)

    def _habit(
        self,
        habit: Habit,
        channel: str,
        ts: int,
        cents: int,
        customer: Customer,
        state: CustomerState,
        draw: Callable[[], float],
    ) -> Draft | None:
        """The event through the channel it really takes, with its fields; None if it cannot happen.

        ``draw`` gives the uniforms for the choices left: category, favourite
        or not, merchant, card, terminal, device, address, payee.
        """
        kind = habit.kind
        if habit.payee != "platform" and (
            (channel in _NEEDS_PHONE and state.phone is None)
            or (channel == "online" and state.phone is None and state.computer is None)
        ):
            if habit.online:
                return None
            channel = _FALLBACK.get(kind, "online")
        trip = state.trip
        extras: channels.Extras | None
        if kind == "purchase" or kind == "refund":
            categories = habit.categories
            category = (
                categories[int(draw() * len(categories))] if len(categories) > 1 else categories[0]
            )
            # Which merchant: online ones for online habits, else a favourite
            # more often than not at home, else any in the city where they are.
            if channel == "online" or habit.online:
                choices = self._merchants.online.get(category, ())
            elif trip is None and draw() < FAVOURITE_SHARE:
                choices = customer.favourites.get(category, ())
            else:
                choices = self._merchants.in_city(
                    customer.home if trip is None else trip.city, category
                )
            if not choices:
                return None
            merchant = choices[int(draw() * len(choices))]
            if channel == "pos":
                cards = state.cards
                card = cards[0] if len(cards) == 1 or draw() < 0.75 else cards[1]
                terminals = merchant.terminals
                extras = channels.pos(card, merchant, terminals[int(draw() * len(terminals))])
            elif channel == "thirdparty":  # _remote's case for a purchase, inlined: the commonest
                if state.phone is None:
                    return None
                extras = channels.platform(
                    customer.platform, state.phone.device_id, merchant=merchant
                )
            else:
                extras = self._remote(channel, kind, customer, state, draw, None, merchant)
        elif channel == "atm":
            cards = state.cards
            card = cards[0] if len(cards) == 1 or draw() < 0.75 else cards[1]
            extras = channels.atm(card, self._atm(customer, trip, draw))
        elif channel == "counter":
            branch = self._branch(customer, state, draw)
            if branch is None:
                return None
            party = self._party(habit, customer, draw) if kind.startswith("transfer") else None
            extras = channels.counter(branch, payee=party)
        else:
            party = self._party(habit, customer, draw)
            extras = self._remote(channel, kind, customer, state, draw, party, None)
        if extras is None:
            return None
        return _new_draft(Draft, (ts, customer, channel, kind, cents, extras, None, True, 0))

    def _hotel(
        self,
        customer: Customer,
        state: CustomerState,
        day: Day,
        where: City | None,
        rng: random.Random,
    ) -> Draft | None:
        """Checking in on the first day of a trip: a card purchase far from home."""
        hotels = self._merchants.in_city(where, "hotel") if where is not None else ()
        if not hotels or rng.random() < 0.4:
            return None
        merchant = hotels[int(rng.random() * len(hotels))]
        cents = round(rng.uniform(300.0, 1500.0) * 100)
        ts = day.start_ms + int((14.0 + 8.0 * rng.random()) * HOUR_MS)
        cards = state.cards
        card = cards[0] if len(cards) == 1 or rng.random() < 0.75 else cards[1]
        extras = channels.pos(card, merchant, merchant.terminals[0])
        return Draft(ts, customer, "pos", "purchase", cents, extras)

    # -- who and where ------------------------------------------------------

    def _remote(
        self,
        channel: str,
        kind: str,
        customer: Customer,
        state: CustomerState,
        draw: Callable[[], float],
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
        elif state.computer is not None and (state.phone is None or draw() < 0.7):
            device = state.computer
        else:
            device = state.phone
        if device is None:
            if channel == "mobile":
                return None
            return channels.remote(None, None, party=party)
        ips = device.ips
        ip = ips[0] if len(ips) == 1 else ips[int(draw() * len(ips))]
        card = None
        if kind == "purchase" and channel == "online":
            cards = state.cards
            card = cards[0] if len(cards) == 1 or draw() < 0.75 else cards[1]
        return channels.remote(device.device_id, ip, card_id=card, merchant=merchant, party=party)

    def _party(self, habit: Habit, customer: Customer, draw: Callable[[], float]) -> Counterparty:
        if habit.payee == "platform":
            return self._population.settlements[customer.platform]
        if habit.payee == "abroad" and customer.overseas is not None:
            return customer.overseas
        pool = customer.suppliers if habit.payee == "suppliers" else customer.contacts
        return pool[int(draw() * len(pool))]

    def _atm(self, customer: Customer, trip: Trip | None, draw: Callable[[], float]) -> Terminal:
        if trip is None and draw() < 0.85:
            pool = customer.atms
        else:
            pool = self._merchants.atms[(customer.home if trip is None else trip.city).code]
        return pool[int(draw() * len(pool))]

    def _branch(
        self, customer: Customer, state: CustomerState, draw: Callable[[], float]
    ) -> Terminal | None:
        trip = state.trip
        if trip is None:
            return customer.branch
        branches = self._merchants.branches.get(trip.city.code, ())
        return branches[int(draw() * len(branches))] if branches else None
