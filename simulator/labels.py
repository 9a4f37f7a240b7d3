"""Labels in the order they become known, apart from the transactions.

A label's ``ts`` is when the bank learns the truth about a transaction
(a chargeback, a report, a cleared alert), often days after the
transaction. A sink writing the labels stream holds each label back until
the transaction stream has passed that moment, then releases it, so the
labels stream is ordered by label time and never tells a consumer anything
before it could have been known. What is still held when the run ends is
released, in order, on close.
"""

from __future__ import annotations

import heapq


class LabelQueue:
    """Labels waiting for their moment, released in (time, arrival) order.

    ``heap`` is readable so that a sink can test ``heap and heap[0][0] <=
    now`` inline: it asks once per transaction, and a method call there is
    a measurable share of writing one.
    """

    __slots__ = ("_seq", "heap")

    def __init__(self) -> None:
        self.heap: list[tuple[int, int, bytes]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self.heap)

    def push(self, ts_ms: int, payload: bytes) -> None:
        self._seq += 1
        heapq.heappush(self.heap, (ts_ms, self._seq, payload))

    def due(self, now_ms: int) -> list[bytes]:
        """Every held label whose time is at or before ``now_ms``, oldest first."""
        heap = self.heap
        out = []
        while heap and heap[0][0] <= now_ms:
            out.append(heapq.heappop(heap)[2])
        return out

    def drain(self) -> list[bytes]:
        """Everything still held, oldest first."""
        out = [item[2] for item in sorted(self.heap)]
        self.heap.clear()
        return out
