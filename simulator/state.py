"""What changes about a customer while the simulation runs.

:class:`~simulator.population.Customer` is the fixed profile; this is the
mutable part: the balance, the cards and devices currently in use, what the
bank has already seen from the customer, and whether they are travelling.
One instance per customer per run, owned by the generator; nothing here is
shared between runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.devices import Device
from simulator.events import Draft
from simulator.geography import City
from simulator.population import Customer


@dataclass(slots=True)
class Trip:
    """The customer is away in ``city`` up to and including ``until_day``."""

    city: City
    until_day: int


@dataclass(slots=True)
class Reissue:
    """A compromised card replaced by a new one from day ``due_day`` on."""

    due_day: int
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Compromise:
    """Leaked credentials: from ``first_day`` to ``last_day``, a ``share`` of the
    customer's remote purchases are the fraudster's, at ``factor`` times the amount.

    ``known_ms`` is when the customer reports it (stamped by the generator).
    """

    scenario: str
    first_day: int
    last_day: int
    factor: float
    share: float
    known_ms: int = 0


@dataclass(slots=True)
class CustomerState:
    """The mutable part of a customer.

    What the bank has seen from the customer (devices, addresses,
    counterparties) is only asked about by the few customers an attack
    picks, so each set is made from the profile on first use.
    """

    customer: Customer
    balance_cents: int
    cards: list[str]
    phone: Device | None
    computer: Device | None
    trip: Trip | None = None
    reissues: list[Reissue] = field(default_factory=list)
    compromise: Compromise | None = None
    #: Drafts of an attack that fall on later days, settled on their own day.
    later: list[Draft] = field(default_factory=list)
    _devices: set[str] | None = None
    _ips: set[str] | None = None
    _counterparties: set[str] | None = None

    @classmethod
    def opening(cls, customer: Customer) -> CustomerState:
        return cls(
            customer,
            customer.opening_balance_cents,
            list(customer.cards),
            customer.phone,
            customer.computer,
        )

    @property
    def known_devices(self) -> set[str]:
        if self._devices is None:
            self._devices = {d.device_id for d in self._opening_devices()}
        return self._devices

    @property
    def known_ips(self) -> set[str]:
        if self._ips is None:
            self._ips = {ip for d in self._opening_devices() for ip in d.ips}
        return self._ips

    @property
    def known_counterparties(self) -> set[str]:
        if self._counterparties is None:
            self._counterparties = {p.account for p in self.customer.counterparties()}
        return self._counterparties

    def _opening_devices(self) -> list[Device]:
        return [d for d in (self.customer.phone, self.customer.computer) if d is not None]
