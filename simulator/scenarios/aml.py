"""Money laundering: what a suspicious-transaction report would cover.

Labelled ``suspicious``, not ``fraud``: nobody charges these back, and the
customer is usually in on it.

* ``structuring``: 3–6 cash deposits at the counters of several branches
  over two days, each just under the CNY 50,000 large-value threshold
  (38,000–49,900) and together well above it.
* ``mule_passthrough``: 5–15 transfers in from strangers within hours, then
  70–95% of the money out again, to one to three new accounts or as cash,
  within the day.
* ``fan_in``: 10–30 modest transfers in from as many strangers over up to
  three days; the money stays, for now.
* ``fan_out``: one large credit from a stranger, then 8–25 transfers out to
  as many new accounts within hours.
* ``dormant_reactivation``: an account idle for a long time (only dormant
  customers are in this scenario's pool) suddenly takes large credits from
  strangers and passes them on from a device it was never used from.
* ``high_risk_transfers``: 1–4 round-amount transfers to accounts in
  high-risk jurisdictions over up to three days, from the customer's own
  device.

The customer's own transfers go from their phone or computer, or over the
counter of their branch when they have neither.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from simulator import channels
from simulator.counterparties import HIGH_RISK_COUNTRIES, Counterparty, abroad
from simulator.days import DAY_MS, HOUR_MS, MINUTE_MS
from simulator.events import Draft
from simulator.population import Customer
from simulator.scenarios.base import (
    SUSPICIOUS,
    Target,
    attacker,
    log_uniform_cents,
    one,
    own_device,
    split,
    spread,
    strangers,
)

#: The large-value cash transaction reporting threshold, in cents.
LARGE_CASH_CENTS = 5_000_000


def _credit(ts: int, customer: Customer, party: Counterparty, cents: int, name: str) -> Draft:
    """A transfer in from ``party``: platform money on the platform, else a bank transfer."""
    channel = "online"
    extras = channels.remote(None, None, party=party)
    return Draft(ts, customer, channel, "transfer_in", cents, extras, name, False)


def _debit(
    ts: int,
    customer: Customer,
    device: tuple[str, str] | None,
    party: Counterparty,
    cents: int,
    name: str,
    channel: str = "mobile",
) -> Draft:
    if device is None:  # no phone or computer: over the counter of their branch
        extras = channels.counter(customer.branch, payee=party)
        return Draft(ts, customer, "counter", "transfer_out", cents, extras, name, False)
    extras = channels.remote(*device, party=party)
    return Draft(ts, customer, channel, "transfer_out", cents, extras, name, False)


@dataclass(frozen=True, slots=True)
class Structuring:
    name: str = "structuring"
    label: str = SUSPICIOUS
    pool: str = "all"
    deposits: tuple[int, int] = (3, 6)
    amount: tuple[int, int] = (380, 499)  # hundreds of CNY

    @property
    def max_span_ms(self) -> int:
        return 2 * DAY_MS

    def inject(self, target: Target, rng: random.Random) -> list[Draft]:
        customer = target.customer
        branches = target.population.merchants.branches[customer.home.code]
        count = rng.randint(*self.deposits)
        times = sorted(
            max(
                target.earliest_ms,
                target.day.start_ms
                + (i * 2 // count) * DAY_MS
                + int(rng.uniform(9.0, 16.8) * HOUR_MS),
            )
            for i in range(count)
        )
        drafts = []
        for ts in times:
            extras = channels.counter(one(branches, rng))
            cents = rng.randint(*self.amount) * 10_000
            drafts.append(Draft(ts, customer, "counter", "cash_deposit", cents, extras, self.name))
        return drafts


@dataclass(frozen=True, slots=True)
class MulePassthrough:
    name: str = "mule_passthrough"
    label: str = SUSPICIOUS
    pool: str = "all"
    inflows: tuple[int, int] = (5, 15)
    amount: tuple[float, float] = (2_000.0, 30_000.0)
    out_share: tuple[float, float] = (0.7, 0.95)
    cash_share: float = 0.25

    @property
    def max_span_ms(self) -> int:
        return 20 * HOUR_MS

    def inject(self, target: Target, rng: random.Random) -> list[Draft]:
        customer = target.customer
        count = rng.randint(*self.inflows)
        times = spread(target.start(rng), rng.uniform(2.0, 10.0) * HOUR_MS, count, rng)
        drafts = [
            _credit(ts, customer, party, log_uniform_cents(self.amount, rng), self.name)
            for ts, party in zip(times, strangers(target, rng, count), strict=True)
        ]
        total = round(sum(d.cents for d in drafts) * rng.uniform(*self.out_share))
        ts = times[-1] + int(rng.uniform(10.0, 240.0) * MINUTE_MS)
        device = own_device(target, rng)
        if rng.random() < self.cash_share:
            atm = one(target.customer.atms, rng)
            card = one(target.state.cards, rng)
            for _ in range(rng.randint(1, 3)):
                cents = rng.randint(10, 20) * 10_000
                extras = channels.atm(card, atm)
                drafts.append(
                    Draft(ts, customer, "atm", "cash_withdrawal", cents, extras, self.name, False)
                )
                total -= cents
                ts += int(rng.uniform(1.0, 5.0) * MINUTE_MS)
        recipients = strangers(target, rng, rng.randint(1, 3))
        for party, cents in zip(
            recipients, split(max(total, 100_000), len(recipients), rng), strict=True
        ):
            drafts.append(_debit(ts, customer, device, party, cents, self.name))
            ts += int(rng.uniform(2.0, 60.0) * MINUTE_MS)
        return drafts


@dataclass(frozen=True, slots=True)
class FanIn:
    name: str = "fan_in"
    label: str = SUSPICIOUS
    pool: str = "all"
    inflows: tuple[int, int] = (10, 30)
    amount: tuple[float, float] = (300.0, 5_000.0)

    @property
    def max_span_ms(self) -> int:
        return 3 * DAY_MS

    def inject(self, target: Target, rng: random.Random) -> list[Draft]:
        customer = target.customer
        count = rng.randint(*self.inflows)
        times = spread(target.start(rng), rng.uniform(0.3, 3.0) * DAY_MS, count, rng)
        return [
            _credit(ts, customer, party, log_uniform_cents(self.amount, rng), self.name)
            for ts, party in zip(times, strangers(target, rng, count), strict=True)
        ]


@dataclass(frozen=True, slots=True)
class FanOut:
    name: str = "fan_out"
    label: str = SUSPICIOUS
    pool: str = "all"
    outflows: tuple[int, int] = (8, 25)
    amount: tuple[float, float] = (1_000.0, 9_000.0)

    @property
    def max_span_ms(self) -> int:
        return 12 * HOUR_MS

    def inject(self, target: Target, rng: random.Random) -> list[Draft]:
        customer = target.customer
        count = rng.randint(*self.outflows)
        pieces = [log_uniform_cents(self.amount, rng) for _ in range(count)]
        start = target.start(rng)
        funding = round(sum(pieces) * rng.uniform(1.0, 1.1) / 10_000) * 10_000
        (source,) = strangers(target, rng, 1)
        drafts = [_credit(start, customer, source, funding, self.name)]
        device = own_device(target, rng)
        begin = start + int(rng.uniform(5.0, 90.0) * MINUTE_MS)
        times = spread(begin, rng.uniform(1.0, 10.0) * HOUR_MS, count, rng)
        for ts, party, cents in zip(times, strangers(target, rng, count), pieces, strict=True):
            drafts.append(_debit(ts, customer, device, party, cents, self.name))
        return drafts


@dataclass(frozen=True, slots=True)
class DormantReactivation:
    name: str = "dormant_reactivation"
    label: str = SUSPICIOUS
    pool: str = "dormant"
    inflows: tuple[int, int] = (1, 3)
    amount: tuple[float, float] = (20_000.0, 200_000.0)
    out_share: tuple[float, float] = (0.85, 1.0)

    @property
    def max_span_ms(self) -> int:
        return 16 * HOUR_MS

    def inject(self, target: Target, rng: random.Random) -> list[Draft]:
        customer = target.customer
        count = rng.randint(*self.inflows)
        times = spread(target.start(rng), rng.uniform(0.5, 6.0) * HOUR_MS, count, rng)
        drafts = [
            _credit(ts, customer, party, log_uniform_cents(self.amount, rng), self.name)
            for ts, party in zip(times, strangers(target, rng, count), strict=True)
        ]
        total = round(sum(d.cents for d in drafts) * rng.uniform(*self.out_share))
        device = attacker(target, rng)  # the account was sold or rented out
        parts = rng.randint(2, 5)
        begin = times[-1] + int(rng.uniform(10.0, 180.0) * MINUTE_MS)
        out_times = spread(begin, rng.uniform(0.5, 6.0) * HOUR_MS, parts, rng)
        recipients = strangers(target, rng, parts)
        for ts, party, cents in zip(out_times, recipients, split(total, parts, rng), strict=True):
            drafts.append(_debit(ts, customer, device, party, cents, self.name, "online"))
        return drafts


@dataclass(frozen=True, slots=True)
class HighRiskTransfers:
    name: str = "high_risk_transfers"
    label: str = SUSPICIOUS
    pool: str = "all"
    transfers: tuple[int, int] = (1, 4)
    amounts: tuple[int, ...] = (10_000, 20_000, 30_000, 50_000, 80_000, 100_000)

    @property
    def max_span_ms(self) -> int:
        return 3 * DAY_MS

    def inject(self, target: Target, rng: random.Random) -> list[Draft]:
        customer = target.customer
        device = own_device(target, rng)
        count = rng.randint(*self.transfers)
        times = spread(target.start(rng), rng.uniform(0.1, 3.0) * DAY_MS, count, rng)
        party = abroad(target.minter, rng, HIGH_RISK_COUNTRIES)
        target.state.known_counterparties.add(party.account)
        drafts = []
        for ts in times:
            if rng.random() < 0.3:  # a second account there now and then
                party = abroad(target.minter, rng, HIGH_RISK_COUNTRIES)
            cents = one(self.amounts, rng) * 100
            channel = "online" if rng.random() < 0.6 else "mobile"
            drafts.append(_debit(ts, customer, device, party, cents, self.name, channel))
        return drafts
