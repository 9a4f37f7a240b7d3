"""The audit trail: an append-only, hash-chained log of every case action.

Each entry records who did what to which case, when, and the case's fields
before and after. Its hash is the SHA-256 of its canonical JSON, which
includes the previous entry's hash, so editing an entry breaks its own hash
and removing one breaks the link after it. ``audit_head`` keeps the newest
sequence number and hash in the same transaction, so cutting entries off the
end shows too. Database triggers (migration 0002) refuse UPDATE and DELETE on
the log; the chain catches whoever gets past them.

Appends take the lock on the single ``audit_head`` row, so entries are
numbered without gaps even with several writers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from alerts.schema import audit_head, audit_log

GENESIS_HASH = "0" * 64
_HEAD_ID = 1


def jsonable(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Values as they come back from a JSON column: times as ISO text, Decimals as text."""
    if values is None:
        return None
    return orjson.loads(orjson.dumps(dict(values), default=str))


def entry_hash(entry: Mapping[str, Any]) -> str:
    """The SHA-256 of an entry's canonical JSON (sorted keys, UTC ISO time)."""
    at: datetime = entry["at"]
    canonical = {
        "seq": int(entry["seq"]),
        "at": at.astimezone(UTC).isoformat(),
        "actor": entry["actor"],
        "action": entry["action"],
        "case_id": entry["case_id"],
        "before": entry["before"],
        "after": entry["after"],
        "prev_hash": entry["prev_hash"],
    }
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


def append(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    case_id: int | None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> int:
    """Add one entry at the end of the chain, in the caller's transaction; returns its seq."""
    head = conn.execute(
        sa.select(audit_head.c.seq, audit_head.c.hash)
        .where(audit_head.c.id == _HEAD_ID)
        .with_for_update()
    ).one_or_none()
    seq, prev_hash = (0, GENESIS_HASH) if head is None else (int(head.seq), head.hash)
    entry: dict[str, Any] = {
        "seq": seq + 1,
        "at": at,
        "actor": actor,
        "action": action,
        "case_id": case_id,
        "before": jsonable(before),
        "after": jsonable(after),
        "prev_hash": prev_hash,
    }
    entry["hash"] = entry_hash(entry)
    conn.execute(sa.insert(audit_log).values(**entry))
    if head is None:
        conn.execute(
            sa.insert(audit_head).values(id=_HEAD_ID, seq=entry["seq"], hash=entry["hash"])
        )
    else:
        conn.execute(
            sa.update(audit_head)
            .where(audit_head.c.id == _HEAD_ID)
            .values(seq=entry["seq"], hash=entry["hash"])
        )
    return int(entry["seq"])


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What :func:`verify` found: how many entries it checked and every break in the chain."""

    entries: int
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def verify(conn: Connection) -> AuditReport:
    """Walk the whole chain and report each edited, missing or reordered entry."""
    problems: list[str] = []
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)):
        entry = dict(row._mapping)
        count += 1
        seq = int(entry["seq"])
        if seq != expected_seq:
            problems.append(f"entries {expected_seq}..{seq - 1} are missing (deleted?)")
        elif entry["prev_hash"] != prev_hash:
            problems.append(f"entry {seq} does not link to the entry before it")
        if entry_hash(entry) != entry["hash"]:
            problems.append(f"entry {seq} ({entry['action']}) was edited: its hash does not match")
        expected_seq, prev_hash = seq + 1, entry["hash"]
    head = conn.execute(sa.select(audit_head).where(audit_head.c.id == _HEAD_ID)).one_or_none()
    head_seq = 0 if head is None else int(head.seq)
    if head_seq != expected_seq - 1:
        problems.append(
            f"the chain ends at entry {expected_seq - 1} but entry {head_seq} was written last"
            " (entries cut off the end?)"
        )
    elif head is not None and head.hash != prev_hash:
        problems.append(f"the newest entry {head_seq} does not match the recorded head hash")
    return AuditReport(count, problems)
