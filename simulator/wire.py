"""The JSON wire form of simulated events, formatted straight from drafts.

Writing a file or a topic only needs bytes, and building a
:class:`~riskwatch.contracts.Transaction` per event just to serialise it
again costs more than generating the event. :class:`WireFormatter` writes
the bytes ``orjson.dumps(txn.to_json_dict())`` would give, without the
object in between: same keys, same order, same number and time formats.
:func:`to_wire` does it the slow, obvious way, from a ``SimulatedEvent``;
the test suite holds the two to byte equality over whole runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import orjson

from riskwatch.contracts import ts_to_ms
from simulator.days import EPOCH
from simulator.events import CREDIT_KINDS, Draft, SimulatedEvent
from simulator.ids import txn_id
from simulator.scenarios import SCENARIOS


@dataclass(frozen=True, slots=True)
class WireEvent:
    """One event as bytes: the Kafka key, the transaction, the label if any.

    ``ts_ms`` is the transaction's event time and ``label_ms`` the label's
    (when it becomes known), so sinks can release labels in their own time
    order; ``channel`` lets a sink route by channel without parsing.
    """

    key: bytes
    txn: bytes
    label: bytes | None = None
    ts_ms: int = 0
    label_ms: int = 0
    channel: str = ""


def to_wire(event: SimulatedEvent) -> WireEvent:
    txn = event.txn
    label = event.label
    return WireEvent(
        txn.customer_id.encode("utf-8"),
        orjson.dumps(txn.to_json_dict()),
        None if label is None else orjson.dumps(label.to_json_dict()),
        ts_to_ms(txn.ts),
        0 if label is None else ts_to_ms(label.ts),
        txn.channel,
    )


class WireFormatter:
    """Numbers drafts and renders them as wire bytes, for one run.

    Keeps a small cache of timestamps' date prefixes: every event of a day
    shares one, and formatting a date is the slow part.
    """

    __slots__ = ("_currency", "_days", "_labels", "_tag")

    def __init__(self, tag: str, currency: str) -> None:
        self._tag = tag
        self._currency = currency
        self._days: dict[int, str] = {}
        self._labels = {name: scenario.label for name, scenario in SCENARIOS.items()}

    def iso(self, ts_ms: int) -> str:
        """``riskwatch.contracts.ts_to_iso`` of the same instant, from epoch ms."""
        day, rest = divmod(ts_ms, 86_400_000)
        prefix = self._days.get(day)
        if prefix is None:
            if len(self._days) > 64:  # labels reach weeks ahead; runs move forward
                self._days.clear()
            prefix = (EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
            self._days[day] = prefix
        hours, rest = divmod(rest, 3_600_000)
        minutes, rest = divmod(rest, 60_000)
        seconds, millis = divmod(rest, 1000)
        return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"

    def format(self, n: int, draft: Draft) -> WireEvent:
        customer = draft.customer
        kind = draft.kind
        cents = draft.cents
        ident = txn_id(self._tag, n)
        ts = self.iso(draft.ts_ms)
        record = {
            "txn_id": ident,
            "ts": ts,
            "customer_id": customer.customer_id,
            "account_id": customer.account_id,
            "channel": draft.channel,
            "direction": "credit" if kind in CREDIT_KINDS else "debit",
            "kind": kind,
            "amount": f"{cents // 100}.{cents % 100:02d}",
            "currency": self._currency,
            **draft.extras,
        }
        key = customer.customer_id.encode("utf-8")
        scenario = draft.scenario
        if scenario is None:
            return WireEvent(key, orjson.dumps(record), None, draft.ts_ms, 0, draft.channel)
        label = orjson.dumps(
            {
                "txn_id": ident,
                "customer_id": customer.customer_id,
                "label": self._labels[scenario],
                "source": "simulator",
                "ts": self.iso(draft.known_ms),
                "scenario": scenario,
            }
        )
        return WireEvent(
            key, orjson.dumps(record), label, draft.ts_ms, draft.known_ms, draft.channel
        )
