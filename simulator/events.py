"""What the simulator emits, and the draft form events take before that.

A :class:`Draft` is an event that does not yet have its id or its place in
the stream: ids are handed out only after a day's events are sorted by
time, so that ids rise with event time and the same settings always number
the same events the same way. Drafts keep time as epoch milliseconds and
money as integer cents, which sort and add exactly and cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from riskwatch.contracts import Label, Transaction

if TYPE_CHECKING:
    from simulator.population import Customer

#: Kinds that bring money in; everything else is expenditure.
CREDIT_KINDS: frozenset[str] = frozenset(
    {"salary", "pension", "transfer_in", "cash_deposit", "refund"}
)


def direction_of(kind: str) -> str:
    return "credit" if kind in CREDIT_KINDS else "debit"


class Draft(NamedTuple):
    """An event before it is numbered.

    ``extras`` holds the channel's optional contract fields, keyed by their
    :class:`~riskwatch.contracts.Transaction` names. ``scenario`` names the
    injected scenario that made it (``None`` for everyday traffic), and
    ``known_ms`` when its label becomes known.
    ``discretionary`` spending is skipped when the balance cannot cover it;
    bills and fraud go through regardless, into overdraft if need be.
    """

    ts_ms: int
    customer: Customer
    channel: str
    kind: str
    cents: int
    extras: dict[str, Any]
    scenario: str | None = None
    discretionary: bool = True
    #: When the draft's label becomes known (epoch ms); set by the generator.
    known_ms: int = 0

    @property
    def credit(self) -> bool:
        return self.kind in CREDIT_KINDS


@dataclass(frozen=True, slots=True)
class SimulatedEvent:
    """One transaction and, for fraud, the ground-truth label that goes with it."""

    txn: Transaction
    label: Label | None = None
