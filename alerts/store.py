"""The case store: alerts kept as compliance records, grouped into analyst cases.

The alert sink calls :meth:`CaseStore.write_alerts` once per batch. A batch is
one transaction, and writing is idempotent on ``alert_id`` (and on the pair
``customer_id, txn_id``, which is unique), because after a restart the dataflow
replays from its last snapshot and will hand the same alerts over again: a replay must neither
duplicate an alert nor inflate a case's counts.

Each customer has at most one open case (status other than ``closed``). It
absorbs the customer's new alerts; once an analyst closes it, the next alert
opens a fresh case. Two writers racing to open a case for the same customer
are settled by a partial unique index (see :mod:`alerts.schema`), not by luck.

Repeats are folded (:mod:`alerts.policy`): an alert whose leading rule
already raised an alert in the customer's open case, within that rule's
suppression window, is kept in ``alert_folds`` under the first alert and
counted on the case (``folded_count``) instead of becoming another alert. A
new case gets its SLA due time from its severity, moved up when a worse alert
joins it, and an audit entry by ``system``.

On PostgreSQL, cases are locked in customer order, so concurrent batches
cannot deadlock. On SQLite, the embedded default, writers take the file's
write lock in turn; one that waits longer than the busy timeout (5 s) gets
``CaseStoreUnavailable`` (database is locked) and may retry.

>>> store = CaseStore("sqlite://")
>>> store.write_alerts([])
WriteResult(alerts_inserted=0, duplicates_skipped=0, cases_opened=0, alerts_folded=0)
>>> store.count_cases(), store.list_cases()
(0, [])
>>> store.close()
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from types import TracebackType
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row

from alerts import audit
from alerts.engine import begin_write, create_store_engine, safe_url
from alerts.errors import CaseNotFound, CaseStoreError, CaseStoreUnavailable, InvalidAlert
from alerts.migrate import upgrade_to_head
from alerts.policy import CasePolicy
from alerts.schema import (
    CASE_STATUSES,
    CLOSED_STATUS,
    OPEN_STATUS,
    SEVERITIES,
    alert_folds,
    alert_typologies,
    alerts,
    cases,
)
from riskwatch.clock import Clock, utc_now
from riskwatch.contracts import Alert

logger = logging.getLogger(__name__)

#: The embedded default, relative to the working directory.
DEFAULT_URL = "sqlite:///var/riskwatch.db"

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
# Well under SQLite's limit on bound parameters per statement.
_LOOKUP_CHUNK = 500
_OPEN_CASE = sa.text(f"status != '{CLOSED_STATUS}'")


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one :meth:`CaseStore.write_alerts` call changed.

    ``duplicates_skipped`` counts alerts that were already stored, or repeated
    within the batch; a replayed batch shows up as all duplicates.
    """

    alerts_inserted: int = 0
    duplicates_skipped: int = 0
    cases_opened: int = 0
    alerts_folded: int = 0


class CaseStore:
    """Alerts and cases in SQLite or PostgreSQL, migrated to the newest schema on open."""

    def __init__(
        self, url: str, *, clock: Clock = utc_now, policy: CasePolicy | None = None
    ) -> None:
        self._engine = create_store_engine(url)
        self._where = safe_url(self._engine.url)
        self._clock = clock
        self.policy = policy or CasePolicy()
        backend = self._engine.dialect.name
        if backend not in _INSERTS:
            self._engine.dispose()
            msg = f"the case store runs on SQLite or PostgreSQL, not {backend} ({self._where})"
            raise CaseStoreError(msg)
        self._insert = _INSERTS[backend]
        try:
            self.migrate()
        except CaseStoreError:
            self._engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"CaseStore({self._where!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def clock(self) -> Clock:
        return self._clock

    @contextmanager
    def writing(self, action: str) -> Iterator[Connection]:
        """A write transaction for :mod:`alerts.actions`, with the store's error translation."""
        with self._translated(action), begin_write(self._engine) as conn:
            yield conn

    @contextmanager
    def reading(self, action: str) -> Iterator[Connection]:
        """A read-only connection, with the store's error translation."""
        with self._translated(action), self._engine.connect() as conn:
            yield conn

    def migrate(self) -> None:
        """Upgrade the schema to the newest migration; safe to call again."""
        upgrade_to_head(self._engine)

    def close(self) -> None:
        """Release pooled connections."""
        self._engine.dispose()

    # -- writing ---------------------------------------------------------------

    def write_alerts(self, batch: Sequence[Alert]) -> WriteResult:
        """Store a batch of alerts under their customers' open cases, in one transaction."""
        unique = _first_of_each_id(batch)
        for alert in unique:
            _check_alert(alert)
        if not unique:
            return WriteResult(duplicates_skipped=len(batch))
        now = self._clock()
        inserted = opened = folded = 0
        with self._translated("writing alerts"), begin_write(self._engine) as conn:
            fresh = self._not_yet_stored(conn, unique)
            for customer_id, group in _by_customer(fresh):
                count, n_folded, was_opened = self._file_under_case(conn, customer_id, group, now)
                inserted += count
                folded += n_folded
                opened += was_opened
        return WriteResult(inserted, len(batch) - inserted - folded, opened, folded)

    def close_case(self, case_id: int) -> None:
        """Close a case, so that the customer's next alert opens a new one.

        Closing a closed case changes nothing; an unknown id raises
        :class:`CaseNotFound`.
        """
        now = self._clock()
        with self._translated(f"closing case {case_id}"), begin_write(self._engine) as conn:
            result = conn.execute(
                sa.update(cases)
                .where(cases.c.case_id == case_id, _OPEN_CASE)
                .values(status=CLOSED_STATUS, closed_at=now, updated_at=now)
            )
            if result.rowcount == 0 and self._case_row(conn, case_id) is None:
                raise CaseNotFound(case_id)

    def _not_yet_stored(self, conn: Connection, batch: list[Alert]) -> list[Alert]:
        """Drop alerts whose id, or whose transaction, is already stored.

        This keeps the common replay path read-only. The insert itself still
        ignores conflicts, for a concurrent writer that got there first.
        """
        stored_ids: set[str] = set()
        stored_txns: set[tuple[str, str]] = set()
        for chunk in _chunks(batch, _LOOKUP_CHUNK):
            alert_ids = [a.alert_id for a in chunk]
            txn_ids = [a.txn.txn_id for a in chunk]
            # A folded repeat was stored too, in alert_folds, with the same columns.
            for table in (alerts, alert_folds):
                rows = conn.execute(
                    sa.select(table.c.alert_id, table.c.customer_id, table.c.txn_id).where(
                        sa.or_(table.c.alert_id.in_(alert_ids), table.c.txn_id.in_(txn_ids))
                    )
                )
                for alert_id, customer_id, txn_id in rows:
                    stored_ids.add(alert_id)
                    stored_txns.add((customer_id, txn_id))
        fresh = [a for a in batch if a.alert_id not in stored_ids]
        rescored = [a.alert_id for a in fresh if (a.customer_id, a.txn.txn_id) in stored_txns]
        if rescored:
            # Same transaction, new alert id: alert ids are not deterministic
            # upstream, or a transaction was scored twice. Either way the first
            # alert stands; say so rather than drop the rest silently.
            logger.warning(
                "skipped %d alerts whose transactions already have an alert, e.g. %s",
                len(rescored),
                rescored[0],
            )
        return [a for a in fresh if (a.customer_id, a.txn.txn_id) not in stored_txns]

    def _file_under_case(
        self, conn: Connection, customer_id: str, group: list[Alert], now: datetime
    ) -> tuple[int, int, bool]:
        """Insert one customer's alerts under their open case; (inserted, folded, opened)."""
        case, opened = self._lock_open_case(conn, customer_id, now)
        heads, repeats = self._split_repeats(conn, case.case_id, group, case_is_new=opened)
        stored = self._insert_alerts(conn, case.case_id, heads)
        folded = self._insert_folds(conn, case.case_id, repeats)
        if not stored and not folded:
            if opened:
                # A concurrent writer stored these alerts first; leave no empty case.
                conn.execute(sa.delete(cases).where(cases.c.case_id == case.case_id))
            return 0, 0, False
        self._index_typologies(conn, stored)
        self._absorb(conn, case, stored, folded, now)
        if opened:
            audit.append(
                conn,
                at=now,
                actor="system",
                action="case_opened",
                case_id=case.case_id,
                after={"customer_id": customer_id, "alerts": [a.alert_id for a in stored]},
            )
        return len(stored), len(folded), opened

    def _split_repeats(
        self, conn: Connection, case_id: int, group: list[Alert], *, case_is_new: bool
    ) -> tuple[list[Alert], list[tuple[Alert, str]]]:
        """Alerts to store, and repeats to fold with the alert id each folds into.

        A repeat has the same leading rule as an alert already in the case (or
        earlier in this batch) whose event time is at most the rule's
        suppression window before it.
        """
        leading = {a.alert_id: _primary_hit(a) for a in group}
        rule_ids = {hit.rule_id for hit in leading.values() if hit is not None}
        earlier: dict[str, list[tuple[datetime, str]]] = {r: [] for r in rule_ids}
        if rule_ids and not case_is_new:  # a case opened just now holds no alert yet
            rows = conn.execute(
                sa.select(alerts.c.primary_rule, alerts.c.event_time, alerts.c.alert_id).where(
                    alerts.c.case_id == case_id, alerts.c.primary_rule.in_(sorted(rule_ids))
                )
            )
            for rule_id, event_time, alert_id in rows:
                earlier[rule_id].append((event_time, alert_id))
        heads: list[Alert] = []
        repeats: list[tuple[Alert, str]] = []
        for alert in sorted(group, key=lambda a: (a.event_time, a.alert_id)):
            hit = leading[alert.alert_id]
            window = self.policy.fold_window(hit) if hit is not None else None
            target = None
            if hit is not None and window:
                target = next(
                    (
                        alert_id
                        for at, alert_id in earlier[hit.rule_id]
                        if timedelta(0) <= alert.event_time - at <= window
                    ),
                    None,
                )
            if target is None:
                heads.append(alert)
                if hit is not None:
                    earlier[hit.rule_id].append((alert.event_time, alert.alert_id))
            else:
                repeats.append((alert, target))
        return heads, repeats

    def _insert_folds(
        self, conn: Connection, case_id: int, repeats: list[tuple[Alert, str]]
    ) -> list[Alert]:
        if not repeats:
            return []
        statement = (
            self._insert(alert_folds).on_conflict_do_nothing().returning(alert_folds.c.alert_id)
        )
        rows = [_fold_row(alert, target, case_id) for alert, target in repeats]
        inserted = set(conn.execute(statement, rows).scalars())
        return [alert for alert, _ in repeats if alert.alert_id in inserted]

    def _lock_open_case(
        self, conn: Connection, customer_id: str, now: datetime
    ) -> tuple[Row[Any], bool]:
        """The customer's open case, locked for this transaction, opening one if needed."""
        case = self._select_open_case(conn, customer_id)
        if case is not None:
            return case, False
        opened_id = conn.execute(
            self._insert(cases)
            .values(
                customer_id=customer_id,
                status=OPEN_STATUS,
                severity=SEVERITIES[0],
                max_score=0.0,
                alert_count=0,
                opened_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["customer_id"], index_where=_OPEN_CASE)
            .returning(cases.c.case_id)
        ).scalar_one_or_none()
        case = self._select_open_case(conn, customer_id)
        if case is None:
            msg = f"no open case for customer {customer_id} right after opening one"
            raise CaseStoreError(msg)
        return case, opened_id is not None

    def _select_open_case(self, conn: Connection, customer_id: str) -> Row[Any] | None:
        return conn.execute(
            sa.select(cases).where(cases.c.customer_id == customer_id, _OPEN_CASE).with_for_update()
        ).one_or_none()

    def _insert_alerts(self, conn: Connection, case_id: int, group: list[Alert]) -> list[Alert]:
        """Insert alerts, ignoring any already stored; returns those that went in."""
        if not group:
            return []
        statement = self._insert(alerts).on_conflict_do_nothing().returning(alerts.c.alert_id)
        rows = [_alert_row(alert, case_id) for alert in group]
        inserted = set(conn.execute(statement, rows).scalars())
        return [alert for alert in group if alert.alert_id in inserted]

    def _index_typologies(self, conn: Connection, stored: list[Alert]) -> None:
        rows = [
            {"alert_id": alert.alert_id, "typology": typology}
            for alert in stored
            for typology in _typologies(alert)
        ]
        if rows:
            conn.execute(sa.insert(alert_typologies), rows)

    def _absorb(
        self,
        conn: Connection,
        case: Row[Any],
        stored: list[Alert],
        folded: list[Alert],
        now: datetime,
    ) -> None:
        """Fold new alerts into the case's counts, top score, worst severity and SLA."""
        joined = stored + folded
        severity = _worst(case.severity, *(a.severity for a in joined))
        conn.execute(
            sa.update(cases)
            .where(cases.c.case_id == case.case_id)
            .values(
                alert_count=cases.c.alert_count + len(stored),
                folded_count=cases.c.folded_count + len(folded),
                max_score=max(case.max_score, *(a.score for a in joined)),
                severity=severity,
                sla_due_at=self.policy.sla_due(case.opened_at, severity),
                updated_at=now,
            )
        )

    # -- reading ---------------------------------------------------------------

    def count_alerts(self) -> int:
        return self._count(alerts)

    def count_folded(self) -> int:
        """Repeats folded into earlier alerts (kept in ``alert_folds``, not as alerts)."""
        return self._count(alert_folds)

    def alerted_txn_ids(self) -> set[str]:
        """Every transaction that raised an alert, folded repeats included."""
        query = sa.union(sa.select(alerts.c.txn_id), sa.select(alert_folds.c.txn_id))
        with self._translated("listing alerted transactions"), self._engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def count_cases(self) -> int:
        return self._count(cases)

    def get_case(self, case_id: int) -> dict[str, Any] | None:
        """One case's row, or ``None`` when there is no such case."""
        with self._translated(f"reading case {case_id}"), self._engine.connect() as conn:
            row = self._case_row(conn, case_id)
        return None if row is None else dict(row._mapping)

    def list_cases(
        self, status: str | None = None, limit: int | None = 100
    ) -> list[dict[str, Any]]:
        """Cases, riskiest first: the order an analyst's queue is worked in."""
        if status is not None and status not in CASE_STATUSES:
            msg = f"unknown case status {status!r}; expected one of {', '.join(CASE_STATUSES)}"
            raise ValueError(msg)
        query = sa.select(cases).order_by(
            cases.c.max_score.desc(), cases.c.updated_at.desc(), cases.c.case_id
        )
        if status is not None:
            query = query.where(cases.c.status == status)
        return self._rows(query.limit(_checked_limit(limit)), "listing cases")

    def list_alerts(
        self,
        customer_id: str | None = None,
        limit: int | None = 100,
        *,
        case_id: int | None = None,
        channel: str | None = None,
        typology: str | None = None,
    ) -> list[dict[str, Any]]:
        """Alerts, highest score first, with their explanations; ``limit=None`` for all.

        Each dict holds the columns of the ``alerts`` table: the JSON columns
        are the matching parts of :meth:`Alert.to_json_dict`, times are aware UTC.
        """
        query = sa.select(alerts).order_by(
            alerts.c.score.desc(), alerts.c.detected_at.desc(), alerts.c.alert_id
        )
        if customer_id is not None:
            query = query.where(alerts.c.customer_id == customer_id)
        if case_id is not None:
            query = query.where(alerts.c.case_id == case_id)
        if channel is not None:
            query = query.where(alerts.c.channel == channel)
        if typology is not None:
            tagged = sa.select(alert_typologies.c.alert_id).where(
                alert_typologies.c.typology == typology
            )
            query = query.where(alerts.c.alert_id.in_(tagged))
        return self._rows(query.limit(_checked_limit(limit)), "listing alerts")

    def _case_row(self, conn: Connection, case_id: int) -> Row[Any] | None:
        return conn.execute(sa.select(cases).where(cases.c.case_id == case_id)).one_or_none()

    def _count(self, table: sa.Table) -> int:
        with self._translated(f"counting {table.name}"), self._engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

    def _rows(self, query: sa.Select[Any], action: str) -> list[dict[str, Any]]:
        with self._translated(action), self._engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    @contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        """Re-raise SQLAlchemy's errors as the store's own, naming what was being done."""
        try:
            yield
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
            msg = f"{action} on {self._where}: database unavailable: {exc.orig}"
            raise CaseStoreUnavailable(msg) from exc
        except sa_exc.SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            msg = f"{action} on {self._where} failed: {cause}"
            raise CaseStoreError(msg) from exc


def _first_of_each_id(batch: Iterable[Alert]) -> list[Alert]:
    seen: dict[str, Alert] = {}
    for alert in batch:
        seen.setdefault(alert.alert_id, alert)
    return list(seen.values())


def _by_customer(batch: list[Alert]) -> Iterator[tuple[str, list[Alert]]]:
    """Alerts grouped by customer, in customer order.

    The order matters on PostgreSQL: every writer locks cases in the same
    order, so two batches touching the same customers cannot deadlock.
    """
    ordered = sorted(batch, key=lambda a: a.customer_id)
    for customer_id, group in groupby(ordered, key=lambda a: a.customer_id):
        yield customer_id, list(group)


def _chunks(items: list[Alert], size: int) -> Iterator[list[Alert]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_alert(alert: Alert) -> None:
    problem = None
    if alert.severity not in SEVERITIES:
        problem = f"unknown severity {alert.severity!r}"
    elif not (isinstance(alert.score, int | float) and 0 <= alert.score <= 100):
        problem = f"score {alert.score!r} is outside 0–100"
    else:
        for name, ts in (("event time", alert.event_time), ("detected_at", alert.detected_at)):
            if ts.tzinfo is None or ts.utcoffset() is None:
                problem = f"{name} {ts.isoformat()} has no time zone"
    if problem is not None:
        msg = f"alert {alert.alert_id} (txn {alert.txn.txn_id}): {problem}"
        raise InvalidAlert(msg)


def _primary_hit(alert: Alert) -> Any:
    """The rule that drove the alert (highest score, then first), or None for a model-only alert."""
    if not alert.rules:
        return None
    return max(alert.rules, key=lambda hit: hit.score)


def _fold_row(alert: Alert, target: str, case_id: int) -> dict[str, Any]:
    hit = _primary_hit(alert)
    return {
        "alert_id": alert.alert_id,
        "folded_into": target,
        "case_id": case_id,
        "txn_id": alert.txn.txn_id,
        "customer_id": alert.customer_id,
        "rule_id": hit.rule_id,
        "score": float(alert.score),
        "txn": alert.txn.to_json_dict(),
        "event_time": alert.event_time,
        "detected_at": alert.detected_at,
    }


def _typologies(alert: Alert) -> list[str]:
    return sorted({hit.typology for hit in alert.rules if hit.typology})


def _alert_row(alert: Alert, case_id: int) -> dict[str, Any]:
    wire = alert.to_json_dict()
    return {
        "alert_id": alert.alert_id,
        "case_id": case_id,
        "txn_id": alert.txn.txn_id,
        "customer_id": alert.customer_id,
        "score": float(alert.score),
        "severity": alert.severity,
        "channel": alert.txn.channel,
        "typologies": _typologies(alert),
        "rules": wire["rules"],
        "models": wire["models"],
        "features": wire["features"],
        "txn": wire["txn"],
        "rule_pack_version": alert.rule_pack_version,
        "model_version": alert.model_version,
        "event_time": alert.event_time,
        "detected_at": alert.detected_at,
        "primary_rule": None if (hit := _primary_hit(alert)) is None else hit.rule_id,
    }


def _worst(*severities: str) -> str:
    return max(severities, key=SEVERITIES.index)


def _checked_limit(limit: int | None) -> int | None:
    if limit is not None and limit < 1:
        msg = f"limit must be a positive number of rows or None for all, not {limit}"
        raise ValueError(msg)
    return limit
