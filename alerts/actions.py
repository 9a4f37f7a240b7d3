"""What analysts and compliance do to cases, each action one audited transaction.

Every method locks the case row, checks the move against
:mod:`alerts.workflow`, changes the case, and appends an audit entry (who,
when, what, the changed fields before and after) in the same transaction.
Dispositions also put one label per alerted transaction into the label
outbox, in that transaction too, so a committed disposition always has its
labels waiting (:mod:`alerts.labels` sends them).

Roles are checked by the API (:mod:`alerts.api.auth`); the four-eyes rule is
checked here, because it holds whoever calls.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from alerts import audit
from alerts.errors import CaseNotFound, FourEyesViolation, InvalidAction
from alerts.schema import CLOSED_STATUS, alert_folds, alerts, case_comments, cases, label_outbox
from alerts.store import CaseStore
from alerts.workflow import DISPOSITIONS, LABEL_FOR_RESOLUTION, check_move, check_open
from riskwatch.contracts import Label

#: Computes the changed columns from the locked case row, or raises InvalidAction.
Change = Callable[[Row[Any], datetime], dict[str, Any]]
#: Writes anything else the action needs, in the same transaction.
Extra = Callable[[Connection, Row[Any], datetime], dict[str, Any] | None]


class CaseActions:
    """The case workflow's actions on one store."""

    def __init__(self, store: CaseStore) -> None:
        self._store = store

    def assign(self, case_id: int, assignee: str, *, actor: str) -> dict[str, Any]:
        """Give the case to ``assignee``; a new case becomes assigned."""
        assignee = _required_text("assignee", assignee, 128)

        def change(case: Row[Any], _now: datetime) -> dict[str, Any]:
            check_open(case_id, case.status, "assigned")
            status = "assigned" if case.status == "new" else case.status
            return {"owner": assignee, "status": status}

        return self._act(case_id, actor, "assign", change)

    def move(self, case_id: int, status: str, *, actor: str) -> dict[str, Any]:
        """Move to ``investigating`` or ``escalated`` (closing has its own methods)."""
        if status not in ("investigating", "escalated"):
            msg = f"status {status!r} cannot be set directly; use investigating or escalated"
            raise InvalidAction(msg)

        def change(case: Row[Any], _now: datetime) -> dict[str, Any]:
            check_move(case_id, case.status, status)
            return {"status": status}

        return self._act(case_id, actor, status if status == "escalated" else "investigate", change)

    def close(self, case_id: int, resolution: str, *, actor: str) -> dict[str, Any]:
        """An analyst's disposition: confirmed fraud or false positive, with labels."""
        if resolution not in DISPOSITIONS:
            msg = (
                f"resolution {resolution!r} is not a disposition; use one of "
                f"{', '.join(DISPOSITIONS)} (an STR is filed through the STR steps)"
            )
            raise InvalidAction(msg)

        def change(case: Row[Any], now: datetime) -> dict[str, Any]:
            check_move(case_id, case.status, CLOSED_STATUS)
            return _closing(case, resolution, actor, now)

        return self._act(case_id, actor, "close", change, self._emit_labels(resolution))

    def comment(self, case_id: int, body: str, *, actor: str) -> dict[str, Any]:
        """Add a comment; allowed on closed cases too, for the record."""
        body = _required_text("comment", body, 10_000)

        def add(conn: Connection, _case: Row[Any], now: datetime) -> dict[str, Any]:
            comment_id = conn.execute(
                sa.insert(case_comments)
                .values(case_id=case_id, author=actor, body=body, created_at=now)
                .returning(case_comments.c.comment_id)
            ).scalar_one()
            return {"comment_id": comment_id, "body": body}

        return self._act(case_id, actor, "comment", lambda _c, _n: {}, add)

    def prepare_str(self, case_id: int, narrative: str, *, actor: str) -> dict[str, Any]:
        """Write (or rewrite) the STR narrative; any earlier approval lapses."""
        narrative = _required_text("narrative", narrative, 20_000)

        def change(case: Row[Any], now: datetime) -> dict[str, Any]:
            if case.status != "escalated":
                msg = f"case {case_id} is {case.status}; an STR is prepared on an escalated case"
                raise InvalidAction(msg)
            return {
                "str_narrative": narrative,
                "str_prepared_by": actor,
                "str_prepared_at": now,
                "str_approved_by": None,
                "str_approved_at": None,
            }

        return self._act(case_id, actor, "str_prepare", change)

    def approve_str(self, case_id: int, *, actor: str) -> dict[str, Any]:
        """The second pair of eyes: anyone but the preparer approves the STR."""

        def change(case: Row[Any], now: datetime) -> dict[str, Any]:
            check_open(case_id, case.status, "approved")
            if case.str_prepared_by is None:
                msg = f"case {case_id} has no STR prepared to approve"
                raise InvalidAction(msg)
            if case.str_prepared_by == actor:
                msg = (
                    f"four-eyes: {actor} prepared the STR of case {case_id} and cannot also"
                    " approve it; a second compliance user must"
                )
                raise FourEyesViolation(msg)
            return {"str_approved_by": actor, "str_approved_at": now}

        return self._act(case_id, actor, "str_approve", change)

    def file_str(self, case_id: int, *, actor: str) -> dict[str, Any]:
        """File the approved STR: the case closes as ``str_filed``."""

        def change(case: Row[Any], now: datetime) -> dict[str, Any]:
            check_move(case_id, case.status, CLOSED_STATUS)
            if case.str_approved_by is None or case.str_approved_by == case.str_prepared_by:
                msg = (
                    f"case {case_id}: the STR can be filed only after a second compliance"
                    " user, not its preparer, approves it"
                )
                raise FourEyesViolation(msg)
            return _closing(case, "str_filed", actor, now)

        return self._act(case_id, actor, "str_file", change, self._emit_labels("str_filed"))

    # -- the one transaction every action runs in ---------------------------------

    def _act(
        self,
        case_id: int,
        actor: str,
        action: str,
        change: Change,
        extra: Extra | None = None,
    ) -> dict[str, Any]:
        actor = _required_text("actor", actor, 128)
        now = self._store.clock()
        with self._store.writing(f"{action} on case {case_id}") as conn:
            case = conn.execute(
                sa.select(cases).where(cases.c.case_id == case_id).with_for_update()
            ).one_or_none()
            if case is None:
                raise CaseNotFound(case_id)
            changes = change(case, now)
            if changes:
                conn.execute(
                    sa.update(cases)
                    .where(cases.c.case_id == case_id)
                    .values(**changes, updated_at=now)
                )
            before = {name: getattr(case, name) for name in changes}
            after = dict(changes)
            if extra is not None:
                after.update(extra(conn, case, now) or {})
            audit.append(
                conn,
                at=now,
                actor=actor,
                action=action,
                case_id=case_id,
                before=before,
                after=after,
            )
            updated = conn.execute(sa.select(cases).where(cases.c.case_id == case_id)).one()
        return dict(updated._mapping)

    def _emit_labels(self, resolution: str) -> Extra:
        def emit(conn: Connection, case: Row[Any], now: datetime) -> dict[str, Any]:
            label = LABEL_FOR_RESOLUTION[resolution]
            txns = conn.execute(
                sa.union_all(
                    sa.select(alerts.c.txn_id, alerts.c.customer_id).where(
                        alerts.c.case_id == case.case_id
                    ),
                    sa.select(alert_folds.c.txn_id, alert_folds.c.customer_id).where(
                        alert_folds.c.case_id == case.case_id
                    ),
                )
            ).all()
            rows = [
                {
                    "case_id": case.case_id,
                    "label": Label(
                        txn_id=txn_id,
                        customer_id=customer_id,
                        label=label,
                        source="analyst",
                        ts=now,
                    ).to_json_dict(),
                    "created_at": now,
                }
                for txn_id, customer_id in sorted(txns)
            ]
            if rows:
                conn.execute(sa.insert(label_outbox), rows)
            return {"labels": len(rows), "label": label}

        return emit


def _closing(case: Row[Any], resolution: str, actor: str, now: datetime) -> dict[str, Any]:
    return {
        "status": CLOSED_STATUS,
        "resolution": resolution,
        "closed_at": now,
        "owner": case.owner or actor,
    }


def _required_text(name: str, value: str, max_length: int) -> str:
    text = (value or "").strip()
    if not text:
        msg = f"{name} must not be empty"
        raise InvalidAction(msg)
    if len(text) > max_length:
        msg = f"{name} is {len(text)} characters long; at most {max_length} are kept"
        raise InvalidAction(msg)
    return text
