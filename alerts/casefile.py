"""Everything an analyst or compliance officer reads about one case or alert.

The customer's recent transactions and the 30-day income/expenditure series
come from the transactions the store holds for that customer: the alerted
ones and the folded repeats (each kept with its full transaction). The store
does not see the customer's other traffic, so these show the customer's
alerted activity; the alert's feature snapshot (``credit_sum_30d``,
``debit_sum_30d`` and the like, when the detectors computed them) carries the
full-traffic totals and is shown beside it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from alerts.errors import AlertNotFound, CaseNotFound
from alerts.queue import QueueQuery
from alerts.schema import alert_folds, alerts, audit_log, case_comments, cases, label_outbox
from alerts.store import CaseStore

CHART_DAYS = 30


@dataclass(frozen=True, slots=True)
class DayFlow:
    """One day of a customer's income (credits) and expenditure (debits)."""

    day: date
    income: Decimal
    expenditure: Decimal


class CaseFile:
    """Read-only views over one store."""

    def __init__(self, store: CaseStore) -> None:
        self._store = store

    def queue(self, query: QueueQuery) -> list[dict[str, Any]]:
        with self._store.reading("reading the queue") as conn:
            rows = conn.execute(query.select(self._store.clock())).all()
        # SQLite hands a boolean expression back as 0/1.
        return [{**row._mapping, "sla_breached": bool(row.sla_breached)} for row in rows]

    def case(self, case_id: int) -> dict[str, Any]:
        """The case row with its alerts, folded repeats and comments."""
        now = self._store.clock()
        with self._store.reading(f"reading case {case_id}") as conn:
            row = conn.execute(sa.select(cases).where(cases.c.case_id == case_id)).one_or_none()
            if row is None:
                raise CaseNotFound(case_id)
            case = dict(row._mapping)
            case["alerts"] = _dicts(
                conn.execute(
                    sa.select(alerts)
                    .where(alerts.c.case_id == case_id)
                    .order_by(alerts.c.score.desc(), alerts.c.alert_id)
                )
            )
            case["folds"] = _dicts(
                conn.execute(
                    sa.select(alert_folds)
                    .where(alert_folds.c.case_id == case_id)
                    .order_by(alert_folds.c.event_time)
                )
            )
            case["comments"] = _dicts(
                conn.execute(
                    sa.select(case_comments)
                    .where(case_comments.c.case_id == case_id)
                    .order_by(case_comments.c.comment_id)
                )
            )
        due = case["sla_due_at"]
        case["sla_breached"] = case["status"] != "closed" and due is not None and due < now
        return case

    def audit_trail(self, case_id: int) -> list[dict[str, Any]]:
        with self._store.reading(f"reading the audit trail of case {case_id}") as conn:
            return _dicts(
                conn.execute(
                    sa.select(audit_log)
                    .where(audit_log.c.case_id == case_id)
                    .order_by(audit_log.c.seq)
                )
            )

    def top_alerts(self, case_ids: list[int]) -> dict[int, dict[str, Any]]:
        """Each case's highest-scoring alert, in one query, for the queue page."""
        if not case_ids:
            return {}
        with self._store.reading("reading the queue's top alerts") as conn:
            rows = conn.execute(
                sa.select(alerts.c.case_id, alerts.c.alert_id, alerts.c.channel, alerts.c.rules)
                .where(alerts.c.case_id.in_(case_ids))
                .order_by(alerts.c.case_id, alerts.c.score.desc(), alerts.c.alert_id)
            ).all()
        top: dict[int, dict[str, Any]] = {}
        for row in rows:
            top.setdefault(row.case_id, dict(row._mapping))
        return top

    def labels(self, case_id: int) -> list[dict[str, Any]]:
        """The labels the case's disposition put in the outbox, sent or waiting."""
        with self._store.reading(f"reading the labels of case {case_id}") as conn:
            return _dicts(
                conn.execute(
                    sa.select(label_outbox)
                    .where(label_outbox.c.case_id == case_id)
                    .order_by(label_outbox.c.outbox_id)
                )
            )

    def alert(self, alert_id: str) -> dict[str, Any]:
        """The alert row with the repeats folded into it."""
        with self._store.reading(f"reading alert {alert_id}") as conn:
            row = conn.execute(sa.select(alerts).where(alerts.c.alert_id == alert_id)).one_or_none()
            if row is None:
                raise AlertNotFound(alert_id)
            alert = dict(row._mapping)
            alert["folds"] = _dicts(
                conn.execute(
                    sa.select(alert_folds)
                    .where(alert_folds.c.folded_into == alert_id)
                    .order_by(alert_folds.c.event_time)
                )
            )
        return alert

    def customer_transactions(
        self, customer_id: str, around: datetime, days: int = CHART_DAYS
    ) -> list[dict[str, Any]]:
        """The customer's stored transactions from ``days`` before ``around`` on, newest first.

        Later ones are included: an analyst looking at an alert wants to see
        what followed it too.
        """
        since = around - timedelta(days=days)
        with self._store.reading(f"reading the history of customer {customer_id}") as conn:
            rows = conn.execute(
                sa.union_all(
                    sa.select(alerts.c.txn, alerts.c.event_time, alerts.c.alert_id).where(
                        alerts.c.customer_id == customer_id,
                        alerts.c.event_time > since,
                    ),
                    sa.select(
                        alert_folds.c.txn, alert_folds.c.event_time, alert_folds.c.folded_into
                    ).where(
                        alert_folds.c.customer_id == customer_id,
                        alert_folds.c.event_time > since,
                    ),
                )
            ).all()
        out = [{**row.txn, "alert_id": row[2]} for row in rows]
        return sorted(out, key=lambda t: (t["ts"], t["txn_id"]), reverse=True)


def daily_flows(
    transactions: list[dict[str, Any]], until: datetime, days: int = CHART_DAYS
) -> list[DayFlow]:
    """Income and expenditure per UTC day, for the ``days`` ending on ``until``'s day.

    >>> t = [{"ts": "2026-01-30T10:00:00.000Z", "direction": "credit", "amount": "100.00"},
    ...      {"ts": "2026-01-30T11:00:00.000Z", "direction": "debit", "amount": "40.5"}]
    >>> flows = daily_flows(t, datetime(2026, 1, 30, 12, tzinfo=UTC), days=2)
    >>> [(f.day.isoformat(), str(f.income), str(f.expenditure)) for f in flows]
    [('2026-01-29', '0', '0'), ('2026-01-30', '100.00', '40.5')]
    """
    last = until.astimezone(UTC).date()
    income: dict[date, Decimal] = defaultdict(Decimal)
    spent: dict[date, Decimal] = defaultdict(Decimal)
    for txn in transactions:
        day = datetime.fromisoformat(txn["ts"].replace("Z", "+00:00")).astimezone(UTC).date()
        amount = Decimal(str(txn["amount"]))
        if txn.get("direction") == "credit":
            income[day] += amount
        else:
            spent[day] += amount
    span = [last - timedelta(days=n) for n in range(days - 1, -1, -1)]
    return [DayFlow(day, income[day], spent[day]) for day in span]


def _dicts(result: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in result]
