"""The triage queue: cases filtered and sorted the way analysts work them.

Filters are on the case (status, severity, score range, assignee, age, SLA
breach) or on its alerts (channel, typology: a case matches when any of its
alerts does). Sorting is by one key, ``-`` first for descending.

>>> QueueQuery(sort="due").order_by()[0].compile().string
'cases.sla_due_at ASC'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from alerts.schema import CLOSED_STATUS, alert_typologies, alerts, cases

#: Sort keys the queue accepts, each with ``-`` for descending.
SORT_KEYS: dict[str, Any] = {
    "score": cases.c.max_score,
    "opened": cases.c.opened_at,
    "updated": cases.c.updated_at,
    "due": cases.c.sla_due_at,
    "alerts": cases.c.alert_count,
    "severity": sa.case(
        {"low": 0, "medium": 1, "high": 2, "critical": 3}, value=cases.c.severity, else_=0
    ),
}
SORTS: tuple[str, ...] = tuple(s for key in SORT_KEYS for s in (key, f"-{key}"))


@dataclass(frozen=True, slots=True)
class QueueQuery:
    """One queue view; ``None`` means no filter on that field."""

    status: str | None = None
    open_only: bool = False
    severity: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    channel: str | None = None
    typology: str | None = None
    assignee: str | None = None
    min_age_hours: float | None = None
    max_age_hours: float | None = None
    breached: bool | None = None
    sort: str = "-score"
    limit: int = 50
    offset: int = 0

    def order_by(self) -> list[Any]:
        if self.sort not in SORTS:
            msg = f"unknown sort {self.sort!r}; expected one of {', '.join(SORTS)}"
            raise ValueError(msg)
        column = SORT_KEYS[self.sort.lstrip("-")]
        first = column.desc() if self.sort.startswith("-") else column.asc()
        return [first, cases.c.case_id]

    def select(self, now: datetime) -> sa.Select[Any]:
        """The query for this view, as of ``now`` (for ages and SLA breaches)."""
        query = sa.select(cases, sla_breached(now).label("sla_breached"))
        for condition in self._conditions(now):
            query = query.where(condition)
        return query.order_by(*self.order_by()).limit(self.limit).offset(self.offset)

    def _conditions(self, now: datetime) -> list[Any]:
        out: list[Any] = []
        if self.status is not None:
            out.append(cases.c.status == self.status)
        if self.open_only:
            out.append(cases.c.status != CLOSED_STATUS)
        if self.severity is not None:
            out.append(cases.c.severity == self.severity)
        if self.min_score is not None:
            out.append(cases.c.max_score >= self.min_score)
        if self.max_score is not None:
            out.append(cases.c.max_score <= self.max_score)
        if self.assignee is not None:
            out.append(cases.c.owner == self.assignee)
        if self.min_age_hours is not None:
            out.append(cases.c.opened_at <= now - timedelta(hours=self.min_age_hours))
        if self.max_age_hours is not None:
            out.append(cases.c.opened_at >= now - timedelta(hours=self.max_age_hours))
        if self.breached is not None:
            out.append(sla_breached(now) if self.breached else sa.not_(sla_breached(now)))
        if self.channel is not None:
            out.append(
                cases.c.case_id.in_(
                    sa.select(alerts.c.case_id).where(alerts.c.channel == self.channel)
                )
            )
        if self.typology is not None:
            tagged = (
                sa.select(alerts.c.case_id)
                .join(alert_typologies, alert_typologies.c.alert_id == alerts.c.alert_id)
                .where(alert_typologies.c.typology == self.typology)
            )
            out.append(cases.c.case_id.in_(tagged))
        return out


def sla_breached(now: datetime) -> Any:
    """Open and past its SLA due time."""
    return sa.and_(
        cases.c.status != CLOSED_STATUS,
        cases.c.sla_due_at.is_not(None),
        cases.c.sla_due_at < now,
    )
