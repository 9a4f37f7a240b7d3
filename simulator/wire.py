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

import re
from datetime import timedelta
from typing import NamedTuple

import orjson

from riskwatch.contracts import ts_to_ms
from simulator.days import EPOCH
from simulator.events import CREDIT_KINDS, Draft, SimulatedEvent
from simulator.scenarios import SCENARIOS

#: What may be spliced into the JSON unescaped: ids, tags, currency codes.
_PLAIN = re.compile(r"[A-Za-z0-9_-]*")


class WireEvent(NamedTuple):
    """One event as bytes: the Kafka key, the transaction, the label if any.

    ``ts_ms`` is the transaction's event time and ``label_ms`` the label's
    (when it becomes known), so sinks can release labels in their own time
    order; ``channel`` lets a sink route by channel without parsing. A
    named tuple, not a dataclass: one is made per event, and a tuple is
    several times cheaper to make than a frozen dataclass.
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

    __slots__ = ("_currency", "_days", "_kinds", "_labels", "_tag")

    def __init__(self, tag: str, currency: str) -> None:
        self._tag = tag
        self._currency = currency
        self._days: dict[int, str] = {}
        self._kinds: dict[tuple[str, str], str] = {}
        if not _PLAIN.fullmatch(tag + currency):
            msg = (
                f"run tag {tag!r} and currency {currency!r} must be plain ASCII letters and digits"
            )
            raise ValueError(msg)
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

    def _kind_fragment(self, channel: str, kind: str) -> str:
        direction = "credit" if kind in CREDIT_KINDS else "debit"
        fragment = orjson.dumps({"channel": channel, "direction": direction, "kind": kind})
        text = fragment[1:-1].decode() + ","
        self._kinds[(channel, kind)] = text
        return text

    def format(self, n: int, draft: Draft) -> WireEvent:
        customer, kind, cents, ts_ms = draft.customer, draft.kind, draft.cents, draft.ts_ms
        ident = f"T{self._tag}-{n:010d}"  # simulator.ids.txn_id, inlined
        day, rest = divmod(ts_ms, 86_400_000)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = self.iso(day * 86_400_000)[:11]
        hours, rest = divmod(rest, 3_600_000)
        minutes, rest = divmod(rest, 60_000)
        seconds, millis = divmod(rest, 1000)
        ts = f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"  # self.iso, inlined
        # The fixed part of the record is spliced from cached fragments, only the
        # optional fields go through orjson: the bytes are those of
        # orjson.dumps(record) (the test suite holds the two equal), in half the time.
        what = self._kinds.get((draft.channel, kind))
        if what is None:
            what = self._kind_fragment(draft.channel, kind)
        head = (
            f'{{"txn_id":"{ident}","ts":"{ts}","customer_id":"{customer.customer_id}",'
            f'"account_id":"{customer.account_id}",{what}'
            f'"amount":"{cents // 100}.{cents % 100:02d}","currency":"{self._currency}"'
        ).encode()
        extras = draft.extras
        txn = head + b"," + orjson.dumps(extras)[1:] if extras else head + b"}"
        key = customer.key
        scenario = draft.scenario
        if scenario is None:
            return WireEvent(key, txn, None, ts_ms, 0, draft.channel)
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
        return WireEvent(key, txn, label, ts_ms, draft.known_ms, draft.channel)
