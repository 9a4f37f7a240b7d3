"""The case queue's state as Prometheus gauges, read from the store at each scrape.

The monitor's counters say what the flow did; operations and compliance also
need what is waiting: open cases by status and severity, the cases past
their SLA, the age of the oldest open case and the analyst labels not yet
sent back to the models. These live in the case store, which any number of
API processes share, so they are computed by a custom collector when
Prometheus scrapes (a handful of grouped counts), never kept in process
counters that each replica would count differently.

A store that cannot be read yields ``riskwatch_case_queue_up 0`` and no
other sample, so a dashboard shows the outage rather than an empty queue.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from alerts.errors import CaseStoreError
from alerts.queue import sla_breached
from alerts.schema import CASE_STATUSES, CLOSED_STATUS, SEVERITIES, cases, label_outbox
from alerts.store import CaseStore

logger = logging.getLogger(__name__)

OPEN_STATUSES = tuple(s for s in CASE_STATUSES if s != CLOSED_STATUS)


class CaseQueueCollector(Collector):
    """Gauges over the case store, computed when scraped."""

    def __init__(self, store: CaseStore) -> None:
        self._store = store

    def describe(self) -> list[GaugeMetricFamily]:
        # A fixed description keeps registration from running the queries.
        return [GaugeMetricFamily("riskwatch_case_queue_up", "")]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "riskwatch_case_queue_up", "1 when the case store answered this scrape, else 0"
        )
        try:
            families = self._read()
        except (CaseStoreError, sa.exc.SQLAlchemyError) as exc:
            logger.warning("case queue metrics: the store did not answer: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self) -> list[GaugeMetricFamily]:
        now = self._store.clock()
        open_ = cases.c.status != CLOSED_STATUS
        with self._store.reading("case queue metrics") as conn:
            by_status = conn.execute(
                sa.select(cases.c.status, cases.c.severity, sa.func.count())
                .where(open_)
                .group_by(cases.c.status, cases.c.severity)
            ).all()
            breached = conn.execute(
                sa.select(cases.c.severity, sa.func.count())
                .where(sla_breached(now))
                .group_by(cases.c.severity)
            ).all()
            oldest = conn.execute(sa.select(sa.func.min(cases.c.opened_at)).where(open_)).scalar()
            pending = conn.execute(
                sa.select(sa.func.count()).where(label_outbox.c.sent_at.is_(None))
            ).scalar()

        open_cases = GaugeMetricFamily(
            "riskwatch_cases_open",
            "Cases not yet closed, by status and severity",
            labels=["status", "severity"],
        )
        counts = {(status, severity): n for status, severity, n in by_status}
        # Every combination is exported, zeros included, so a panel's series never vanish.
        for status in OPEN_STATUSES:
            for severity in SEVERITIES:
                open_cases.add_metric([status, severity], counts.get((status, severity), 0))
        sla = GaugeMetricFamily(
            "riskwatch_cases_sla_breached",
            "Open cases past their SLA due time, by severity",
            labels=["severity"],
        )
        late = dict(breached)
        for severity in SEVERITIES:
            sla.add_metric([severity], late.get(severity, 0))
        age = GaugeMetricFamily(
            "riskwatch_case_oldest_open_age_seconds",
            "Age of the oldest open case (0 when none is open)",
        )
        age.add_metric([], (now - oldest).total_seconds() if oldest is not None else 0.0)
        outbox = GaugeMetricFamily(
            "riskwatch_analyst_labels_pending",
            "Analyst dispositions waiting in the outbox to reach the labels stream",
        )
        outbox.add_metric([], pending or 0)
        return [open_cases, sla, age, outbox]
