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
    balance_cents: int
    cards: list[str]
    phone: Device | None
    computer: Device | None
    known_devices: set[str]
    known_ips: set[str]
    known_counterparties: set[str]
    trip: Trip | None = None
    reissues: list[Reissue] = field(default_factory=list)
    compromise: Compromise | None = None
    #: Drafts of an attack that fall on later days, settled on their own day.
    later: list[Draft] = field(default_factory=list)

    @classmethod
    def opening(cls, customer: Customer) -> CustomerState:
        devices = [d for d in (customer.phone, customer.computer) if d is not None]
        return cls(
            balance_cents=customer.opening_balance_cents,
            cards=list(customer.cards),
            phone=customer.phone,
            computer=customer.computer,
            known_devices={d.device_id for d in devices},
            known_ips={ip for d in devices for ip in d.ips},
            known_counterparties={p.account for p in customer.counterparties()},
        )
