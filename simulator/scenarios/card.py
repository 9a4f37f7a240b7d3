"""Card and account fraud: what a chargeback or a customer's report later confirms.

* ``stolen_card_spree``: a stolen or cloned card buys 6–12 expensive things
  (800–5000 CNY, mostly electronics and jewellery) within about 40 minutes,
  in a city away from home or abroad, or online from a strange device.
* ``account_takeover``: someone logs in to mobile or online banking from a
  device and address the customer never used and, within 30 minutes, moves
  60–95% of the balance (at least about 10,000 CNY) to an account the
  customer never paid, at another bank, in one to three transfers.
* ``card_testing``: a handful of tiny online purchases (0.50–5 CNY) a few
  seconds apart to see whether the card works, then one large one.
* ``impossible_travel``: a cloned card is used card-present 1,000 km or more
  from where the real card was used 20 minutes to 2 hours before.
* ``skimmed_atm_cashout``: a skimmed card empties the account at ATMs in the
  small hours, 2–5 round withdrawals within 90 minutes.
* ``compromised_terminal``: a colluding merchant's POS terminal runs stolen
  cards for two weeks; each victim's card is charged there once to three
  times. Many customers, one terminal: the signal is the terminal's.
* ``compromised_credentials``: for 3–14 days after the credentials leak, a
  third of the customer's remote purchases are inflated 3–6 times (as in the
  Handbook's third scenario); nothing else about them changes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from simulator import channels
from simulator.days import DAY_MS, HOUR_MS, MINUTE_MS
from simulator.events import Draft
from simulator.geography import FOREIGN_CITIES, HOME_CITIES, away_from, distance_km
from simulator.merchants import Merchant
from simulator.scenarios.base import (
    FRAUD,
    Target,
    attacker,
    compromise,
    log_uniform_cents,
    new_mule,
    one,
    split,
    spread,
)
from simulator.segments import Weighted, weighted
from simulator.state import Compromise

_PHYSICAL_LOOT: Weighted = (
    ("electronics", 0.35), ("jewelry", 0.3), ("department", 0.2), ("clothing", 0.15),
)  # fmt: skip
_ONLINE_LOOT: Weighted = (
    ("electronics", 0.35), ("money_transfer", 0.2), ("digital", 0.2),
    ("jewelry", 0.15), ("misc", 0.1),
)  # fmt: skip
_BIG_TICKET: Weighted = (("electronics", 0.5), ("jewelry", 0.3), ("money_transfer", 0.2))
_EVERYDAY: tuple[str, ...] = ("dining", "groceries", "clothing", "department", "misc", "fuel")


@dataclass(frozen=True, slots=True)
class StolenCardSpree:
    name: str = "stolen_card_spree"
    label: str = FRAUD
    pool: str = "all"
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
        card = one(state.cards, rng)
        count = rng.randint(*self.purchases)
        times = spread(target.start(rng), rng.uniform(*self.span_minutes) * MINUTE_MS, count, rng)
        merchants = target.population.merchants
        drafts = []
        if rng.random() < self.online_share:
            device_id, ip = attacker(target, rng)
            for ts in times:
                merchant = one(merchants.online[weighted(_ONLINE_LOOT, rng)], rng)
                extras = channels.remote(device_id, ip, card_id=card, merchant=merchant)
                cents = log_uniform_cents(self.amount, rng)
                drafts.append(
                    Draft(ts, customer, "online", "purchase", cents, extras, self.name, False)
                )
        else:
            city = away_from(customer.home, rng, self.abroad_share)
            for ts in times:
                shops = merchants.in_city(city, weighted(_PHYSICAL_LOOT, rng))
                merchant = one(shops or merchants.in_city(city, "electronics"), rng)
                extras = channels.pos(card, merchant, one(merchant.terminals, rng))
                cents = log_uniform_cents(self.amount, rng)
                drafts.append(
                    Draft(ts, customer, "pos", "purchase", cents, extras, self.name, False)
                )
        compromise(target, card, rng)
        return drafts


@dataclass(frozen=True, slots=True)
class AccountTakeover:
    name: str = "account_takeover"
    label: str = FRAUD
    pool: str = "all"
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
        device_id, ip = attacker(target, rng)
        mule = new_mule(target, rng)
        balance = target.balance_at(times[0])
        total = max(
            round(balance * rng.uniform(*self.balance_share)),
            round(rng.uniform(*self.at_least) * 100),
        )
        extras = channels.remote(device_id, ip, party=mule)
        return [
            Draft(ts, customer, channel, "transfer_out", cents, extras, self.name, False)
            for ts, cents in zip(times, split(total, count, rng), strict=True)
        ]


@dataclass(frozen=True, slots=True)
class CardTesting:
    name: str = "card_testing"
    label: str = FRAUD
    pool: str = "all"
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
        card = one(state.cards, rng)
        device_id, ip = attacker(target, rng)
        online = target.population.merchants.online
        testbeds = [one(online["digital"], rng), one(online["misc"], rng)]
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
        merchant = one(online[weighted(_BIG_TICKET, rng)], rng)
        cents = log_uniform_cents(self.big, rng)
        extras = channels.remote(device_id, ip, card_id=card, merchant=merchant)
        drafts.append(Draft(ts, customer, "online", "purchase", cents, extras, self.name, False))
        compromise(target, card, rng)
        return drafts


@dataclass(frozen=True, slots=True)
class ImpossibleTravel:
    """A card-present use too far from the real card's last one for the time between.

    The real card's use is the victim's own card-present transaction of the
    day if there is one, or else a purchase at a favourite shop the
    scenario adds (legitimate, so unlabelled; only if the balance covers
    it, and not while the victim is travelling, else the attack is off). The clone then turns up
    ``min_km`` or more away, at ordinary shops for ordinary amounts: only
    the geography gives it away.
    """

    name: str = "impossible_travel"
    label: str = FRAUD
    pool: str = "all"
    uses: tuple[int, int] = (1, 3)
    gap_minutes: tuple[float, float] = (20.0, 120.0)
    amount: tuple[float, float] = (150.0, 3000.0)
    min_km: float = 1000.0
    atm_share: float = 0.3

    @property
    def max_span_ms(self) -> int:
        return int(2 * self.gap_minutes[1] * MINUTE_MS)

    def inject(self, target: Target, rng: random.Random) -> list[Draft]:
        customer = target.customer
        anchors = [
            d
            for d in target.settled
            if d.channel in ("pos", "atm") and target.earliest_ms <= d.ts_ms <= target.latest_ms
        ]
        drafts: list[Draft] = []
        if anchors:
            anchor = one(anchors, rng)
        else:
            anchor = self._real_use(target, rng)
            if anchor is None:
                return []
            drafts.append(anchor)
        card = anchor.extras["card_id"]
        lat, lon = anchor.extras["lat"], anchor.extras["lon"]
        far = [
            c for c in HOME_CITIES + FOREIGN_CITIES if distance_km(lat, lon, c.lat, c.lon) >= 1100
        ]
        city = one(far, rng)
        merchants = target.population.merchants
        ts = anchor.ts_ms + int(rng.uniform(*self.gap_minutes) * MINUTE_MS)
        for _ in range(rng.randint(*self.uses)):
            if rng.random() < self.atm_share:
                atm = one(merchants.atms[city.code], rng)
                cents = rng.randint(5, 25) * 10_000
                extras = channels.atm(card, atm)
                drafts.append(
                    Draft(ts, customer, "atm", "cash_withdrawal", cents, extras, self.name, False)
                )
            else:
                shops = merchants.in_city(city, one(_EVERYDAY, rng)) or merchants.in_city(
                    city, "dining"
                )
                merchant = one(shops, rng)
                extras = channels.pos(card, merchant, one(merchant.terminals, rng))
                cents = log_uniform_cents(self.amount, rng)
                drafts.append(
                    Draft(ts, customer, "pos", "purchase", cents, extras, self.name, False)
                )
            ts += int(rng.uniform(3.0, 30.0) * MINUTE_MS)
        compromise(target, card, rng)
        return drafts

    def _real_use(self, target: Target, rng: random.Random) -> Draft | None:
        customer = target.customer
        shops: tuple[Merchant, ...] = ()
        for category in ("groceries", "dining"):
            shops = customer.favourites.get(category, ())
            if shops:
                break
        if not shops or target.state.trip is not None:
            return None
        merchant = one(shops, rng)
        card = one(target.state.cards, rng)
        extras = channels.pos(card, merchant, one(merchant.terminals, rng))
        cents = log_uniform_cents((20.0, 300.0), rng)
        ts = target.start(rng)
        if target.balance_at(ts) < cents:
            return None  # the customer could not have paid: no real use to clone
        return Draft(ts, customer, "pos", "purchase", cents, extras, None, False)


@dataclass(frozen=True, slots=True)
class SkimmedAtmCashout:
    name: str = "skimmed_atm_cashout"
    label: str = FRAUD
    pool: str = "all"
    withdrawals: tuple[int, int] = (2, 5)
    notes: tuple[int, int] = (10, 30)  # hundreds of CNY per withdrawal
    span_minutes: tuple[float, float] = (10.0, 90.0)
    away_share: float = 0.5

    @property
    def max_span_ms(self) -> int:
        return DAY_MS + 6 * HOUR_MS

    def inject(self, target: Target, rng: random.Random) -> list[Draft]:
        customer, state = target.customer, target.state
        start = target.day.start_ms + int(rng.uniform(0.3, 4.5) * HOUR_MS)
        if start < target.earliest_ms:
            start += DAY_MS  # the next night
        card = one(state.cards, rng)
        city = away_from(customer.home, rng, 0.2) if rng.random() < self.away_share else None
        pool = target.population.merchants.atms[(city or customer.home).code]
        usual = {a.terminal_id for a in customer.atms}
        strangers = [a for a in pool if a.terminal_id not in usual] or list(pool)
        count = rng.randint(*self.withdrawals)
        times = spread(start, rng.uniform(*self.span_minutes) * MINUTE_MS, count, rng)
        drafts = []
        for ts in times:
            extras = channels.atm(card, one(strangers, rng))
            cents = rng.randint(*self.notes) * 10_000
            drafts.append(
                Draft(ts, customer, "atm", "cash_withdrawal", cents, extras, self.name, False)
            )
        compromise(target, card, rng)
        return drafts


@dataclass(frozen=True, slots=True)
class CompromisedTerminal:
    """Stolen cards run through one colluding merchant's terminal.

    Which merchants collude is fixed per home city and fortnight by the
    world's ``salt``, so every victim in a city that fortnight is charged at
    the same two merchants; the victims themselves have nothing in common.
    """

    name: str = "compromised_terminal"
    label: str = FRAUD
    pool: str = "all"
    charges: tuple[int, int] = (1, 3)
    amount: tuple[float, float] = (200.0, 3000.0)
    period_days: int = 14

    @property
    def max_span_ms(self) -> int:
        return 3 * HOUR_MS

    def inject(self, target: Target, rng: random.Random) -> list[Draft]:
        customer = target.customer
        city = customer.home
        period = target.day.index // self.period_days
        chooser = random.Random(f"{target.population.salt}/{city.code}/{period}")
        merchants = target.population.merchants
        colluding = [
            one(merchants.in_city(city, category), chooser)
            for category in (chooser.choice(_EVERYDAY), chooser.choice(_EVERYDAY))
            if merchants.in_city(city, category)
        ]
        if not colluding:
            return []
        merchant = one(colluding, rng)
        terminal = merchant.terminals[0]
        card = one(target.state.cards, rng)
        count = rng.randint(*self.charges)
        times = spread(target.start(rng), rng.uniform(5.0, 170.0) * MINUTE_MS, count, rng)
        drafts = []
        for ts in times:
            extras = channels.pos(card, merchant, terminal)
            cents = log_uniform_cents(self.amount, rng)
            drafts.append(Draft(ts, customer, "pos", "purchase", cents, extras, self.name, False))
        compromise(target, card, rng)
        return drafts


@dataclass(frozen=True, slots=True)
class CompromisedCredentials:
    """Leaked credentials: the customer's own remote purchases, some inflated.

    Injects nothing at once: it marks the victim compromised from the next
    day for 3–14 days, and the generator then inflates a third of the
    victim's online, mobile and platform purchases by the incident's factor
    (see :class:`~simulator.state.Compromise`).
    """

    name: str = "compromised_credentials"
    label: str = FRAUD
    pool: str = "all"
    days: tuple[int, int] = (3, 14)
    factor: tuple[float, float] = (3.0, 6.0)
    share: float = 1.0 / 3.0

    @property
    def max_span_ms(self) -> int:
        return DAY_MS

    def inject(self, target: Target, rng: random.Random) -> list[Draft]:
        state = target.state
        if state.compromise is None:
            until = target.day.index + rng.randint(*self.days)
            state.compromise = Compromise(
                self.name, target.day.index + 1, until, rng.uniform(*self.factor), self.share
            )
        return []
