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
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, NamedTuple

import orjson

from riskwatch.contracts import ts_to_ms
from simulator.days import EPOCH
from simulator.events import CREDIT_KINDS, Draft, SimulatedEvent
from simulator.scenarios import SCENARIOS

if TYPE_CHECKING:
    from simulator.population import Customer

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


#: ``:SS.mmmZ`` for every millisecond of a minute: with a cache of each
#: minute's ``YYYY-MM-DDTHH:MM``, a timestamp is two look-ups, not divisions
#: and a format (formatting was a third of a simulated event's cost).
_SECONDS = tuple(f":{s:02d}.{m:03d}Z" for s in range(60) for m in range(1000))
_MINUTES = tuple(f"{h:02d}:{m:02d}" for h in range(24) for m in range(60))
_CENTS = tuple(f".{c:02d}" for c in range(100))
#: The last four digits of a transaction number: ``f"{n:010d}"`` cost as much
#: as the rest of the record's fixed part.
_DIGITS = tuple(f"{i:04d}" for i in range(10_000))
_new_event = tuple.__new__  # WireEvent(...) without the named tuple's Python-level __new__
#: Minutes kept in the timestamp cache; runs move forward, labels reach weeks ahead.
_MINUTE_CACHE = 100_000


class WireFormatter:
    """Numbers drafts and renders them as wire bytes, for one run.

    Caches what events share: each minute's date and time prefix (formatting
    a date is the slow part), each channel and kind's fixed fields, each
    customer's id fields and the leading digits of the transaction number,
    so that formatting an event is mostly splicing cached strings.
    """

    __slots__ = (
        "_currency",
        "_dates",
        "_id",
        "_kinds",
        "_labels",
        "_minutes",
        "_tag",
        "_tail",
        "_who",
    )

    def __init__(self, tag: str, currency: str) -> None:
        self._tag = tag
        self._currency = currency
        self._minutes: dict[int, str] = {}
        self._dates: dict[int, str] = {}
        self._kinds: dict[tuple[str, str], str] = {}
        #: Per customer (by identity: no look-up into the customer's own
        #: memory, a cache miss per event), its id fields and Kafka key.
        self._who: dict[Customer, tuple[str, bytes]] = {}
        if not _PLAIN.fullmatch(tag + currency):
            msg = (
                f"run tag {tag!r} and currency {currency!r} must be plain ASCII letters and digits"
            )
            raise ValueError(msg)
        self._labels = {name: scenario.label for name, scenario in SCENARIOS.items()}
        self._id = f'{{"txn_id":"T{tag}-'
        self._tail = f'","currency":"{currency}",'

    def iso(self, ts_ms: int) -> str:
        """``riskwatch.contracts.ts_to_iso`` of the same instant, from epoch ms."""
        minute = ts_ms // 60_000
        stamp = self._minutes.get(minute) or self._minute(minute)
        return stamp + _SECONDS[ts_ms - minute * 60_000]

    def _minute(self, minute: int) -> str:
        if len(self._minutes) >= _MINUTE_CACHE:
            self._minutes.clear()
            self._dates.clear()
        day, of_day = divmod(minute, 1440)
        date = self._dates.get(day)
        if date is None:
            date = (EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
            self._dates[day] = date
        stamp = date + _MINUTES[of_day]
        self._minutes[minute] = stamp
        return stamp

    def _kind_fragment(self, channel: str, kind: str) -> str:
        direction = "credit" if kind in CREDIT_KINDS else "debit"
        fragment = orjson.dumps({"channel": channel, "direction": direction, "kind": kind})
        text = fragment[1:-1].decode() + ',"amount":"'
        self._kinds[(channel, kind)] = text
        return text

    def _who_fragment(self, customer: Customer) -> tuple[str, bytes]:
        if not _PLAIN.fullmatch(customer.customer_id + customer.account_id):
            msg = f"customer ids {customer.customer_id!r}, {customer.account_id!r} are not plain"
            raise ValueError(msg)
        text = f'","customer_id":"{customer.customer_id}","account_id":"{customer.account_id}",'
        self._who[customer] = (text, customer.key)
        return text, customer.key

    def format(self, n: int, draft: Draft) -> WireEvent:
        """The wire form of one draft numbered ``n``."""
        return self.format_day(n, [draft], [0])[0]

    def format_day(
        self, first: int, drafts: Sequence[Draft], ranks: Sequence[int]
    ) -> list[WireEvent]:
        """The wire forms of ``drafts`` in time order, numbered from ``first``.

        ``ranks[i]`` is the place of ``drafts[i]`` in time order; the drafts
        come in the order they were made, which walks memory in the order it
        was allocated. One call per day, so that the caches are local variables.
        """
        minutes, whos, kinds, labels = self._minutes, self._who, self._kinds, self._labels
        ident, tail, tag, seconds, cents_of, digits = (
            self._id,
            self._tail,
            self._tag,
            _SECONDS,
            _CENTS,
            _DIGITS,
        )
        dumps, new = orjson.dumps, _new_event
        leading: dict[int, str] = {}
        out: list[WireEvent | None] = [None] * len(drafts)
        for draft, rank in zip(drafts, ranks, strict=True):
            ts_ms, customer, channel, kind, cents, extras, scenario, _, known_ms = draft
            minute = ts_ms // 60_000
            stamp = minutes.get(minute) or self._minute(minute)
            who, key = whos.get(customer) or self._who_fragment(customer)
            what = kinds.get((channel, kind)) or self._kind_fragment(channel, kind)
            units, hundredths = divmod(cents, 100)
            high, low = divmod(first + rank, 10_000)
            head_digits = leading.get(high)
            if head_digits is None:
                head_digits = leading[high] = f"{high:06d}"
            number = head_digits + digits[low]
            # The fixed part of the record is spliced from cached fragments, only the
            # optional fields go through orjson: the bytes are those of
            # orjson.dumps(record) (the test suite holds the two equal), in a fraction
            # of the time. The id is simulator.ids.txn_id, inlined.
            head = (
                f'{ident}{number}","ts":"{stamp}{seconds[ts_ms - minute * 60_000]}'
                f"{who}{what}{units}{cents_of[hundredths]}{tail}"
            ).encode()
            # orjson's "{" gives way to the head's ",": one copy fewer than splicing in a comma.
            txn = head + dumps(extras)[1:] if extras else head[:-1] + b"}"
            if scenario is None:
                out[rank] = new(WireEvent, (key, txn, None, ts_ms, 0, channel))
                continue
            label = dumps(
                {
                    "txn_id": f"T{tag}-{number}",
                    "customer_id": customer.customer_id,
                    "label": labels[scenario],
                    "source": "simulator",
                    "ts": self.iso(known_ms),
                    "scenario": scenario,
                }
            )
            out[rank] = new(WireEvent, (key, txn, label, ts_ms, known_ms, channel))
        return out  # type: ignore[return-value]  # every rank is filled
