"""The case store's tables, as SQLAlchemy Core metadata.

This module is what the store's queries are written against; the database
itself is shaped by the Alembic migrations in ``alerts/migrations/``, which
spell the same tables out by hand because a migration must keep describing the
schema of its day after this module has moved on. ``tests/test_case_store.py``
checks that the two agree.

A case groups one customer's alerts for an analyst. At most one case per
customer is open (any status but ``closed``) at a time, enforced by a partial
unique index that SQLite and PostgreSQL both support, so that two writers can
never open two cases for the same customer.

Alerts are compliance records: they are inserted once (``alert_id`` is the
idempotency key and a customer's ``txn_id`` is unique) and never updated or deleted.

>>> sorted(metadata.tables)  # doctest: +NORMALIZE_WHITESPACE
['alert_folds', 'alert_typologies', 'alerts', 'audit_head', 'audit_log', 'case_comments',
 'cases', 'label_outbox', 'users']
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

#: Severity bands from least to most urgent; a case takes the worst of its alerts.
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
#: The analyst workflow (see :mod:`alerts.workflow` for the moves between them).
CASE_STATUSES: tuple[str, ...] = ("new", "assigned", "investigating", "escalated", "closed")
OPEN_STATUS = "new"
CLOSED_STATUS = "closed"
#: How a closed case ended; each but ``str_filed`` is an analyst's disposition.
RESOLUTIONS: tuple[str, ...] = ("confirmed_fraud", "false_positive", "str_filed")
#: Who may do what through the API and the UI (see :mod:`alerts.api.auth`).
ROLES: tuple[str, ...] = ("analyst", "compliance", "admin")

# Deterministic constraint names in both dialects, so later migrations can
# drop or alter them by name (SQLite would otherwise leave them unnamed).
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware datetime that is stored in UTC and always comes back aware.

    PostgreSQL keeps ``timestamptz`` natively but hands values back in the
    session's time zone; SQLite keeps text and hands back naive values. Both are
    normalised to UTC here so that callers compare and render one kind of
    datetime. Naive datetimes are refused: their zone would be a guess.
    """

    impl = sa.DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            msg = f"refusing to store the naive datetime {value.isoformat()}: its zone is unknown"
            raise ValueError(msg)
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite's text form has no offset; UTC is implied and restored on read.
            value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
_CASE_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("case_id", _CASE_ID, primary_key=True, autoincrement=True),
    sa.Column("customer_id", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("max_score", sa.Float(), nullable=False),
    sa.Column("alert_count", sa.Integer(), nullable=False),
    sa.Column("opened_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("closed_at", UTCDateTime(), nullable=True),
    sa.Column("owner", sa.String(128), nullable=True),
    # Added by migration 0002: the workflow's own columns.
    sa.Column("sla_due_at", UTCDateTime(), nullable=True),
    sa.Column("resolution", sa.String(32), nullable=True),
    sa.Column("folded_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("str_narrative", sa.Text(), nullable=True),
    sa.Column("str_prepared_by", sa.String(128), nullable=True),
    sa.Column("str_prepared_at", UTCDateTime(), nullable=True),
    sa.Column("str_approved_by", sa.String(128), nullable=True),
    sa.Column("str_approved_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint(_one_of("status", CASE_STATUSES), name="status"),
    sa.CheckConstraint(_one_of("severity", SEVERITIES), name="severity"),
    sa.CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="closed_at"),
    sa.Index(
        "uq_cases_open_customer",
        "customer_id",
        unique=True,
        sqlite_where=sa.text("status != 'closed'"),
        postgresql_where=sa.text("status != 'closed'"),
    ),
    sa.Index(None, "status", "max_score"),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("alert_id", sa.String(300), primary_key=True),
    sa.Column("case_id", _CASE_ID, sa.ForeignKey("cases.case_id"), nullable=False, index=True),
    sa.Column("txn_id", sa.String(128), nullable=False),
    sa.Column("customer_id", sa.String(128), nullable=False, index=True),
    sa.Column("score", sa.Float(), nullable=False, index=True),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False, index=True),
    sa.Column("typologies", sa.JSON(), nullable=False),
    sa.Column("rules", sa.JSON(), nullable=False),
    sa.Column("models", sa.JSON(), nullable=False),
    sa.Column("features", sa.JSON(), nullable=False),
    sa.Column("txn", sa.JSON(), nullable=False),
    sa.Column("rule_pack_version", sa.String(64), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("event_time", UTCDateTime(), nullable=False),
    sa.Column("detected_at", UTCDateTime(), nullable=False),
    # Added by migration 0002: the rule later repeats of this alert are folded by.
    sa.Column("primary_rule", sa.String(128), nullable=True),
    sa.CheckConstraint(_one_of("severity", SEVERITIES), name="severity"),
    sa.CheckConstraint("score >= 0 AND score <= 100", name="score"),
    # txn_id is the idempotency key of one customer's transaction; the same id
    # under another customer is another transaction, not a replay.
    sa.UniqueConstraint("customer_id", "txn_id"),
)

# One row per (alert, typology): filtering a JSON array is not portable between
# SQLite and PostgreSQL, an indexed child table is. ``alerts.typologies`` keeps
# the same list for reading without a join.
alert_typologies = sa.Table(
    "alert_typologies",
    metadata,
    sa.Column("alert_id", sa.String(300), sa.ForeignKey("alerts.alert_id"), primary_key=True),
    sa.Column("typology", sa.String(64), primary_key=True, index=True),
)

# A repeat of an alert (same customer, same leading rule, within the rule's
# suppression window) is kept here instead of as an alert of its own: the
# analyst sees one alert with a count, the transaction is still on record for
# the customer's history and the STR, and a replay recognises it by
# ``alert_id`` or by ``(customer_id, txn_id)`` exactly like a stored alert.
alert_folds = sa.Table(
    "alert_folds",
    metadata,
    sa.Column("alert_id", sa.String(300), primary_key=True),
    sa.Column(
        "folded_into",
        sa.String(300),
        sa.ForeignKey("alerts.alert_id"),
        nullable=False,
        index=True,
    ),
    sa.Column("case_id", _CASE_ID, sa.ForeignKey("cases.case_id"), nullable=False, index=True),
    sa.Column("txn_id", sa.String(128), nullable=False),
    sa.Column("customer_id", sa.String(128), nullable=False),
    sa.Column("rule_id", sa.String(128), nullable=False),
    sa.Column("score", sa.Float(), nullable=False),
    sa.Column("txn", sa.JSON(), nullable=False),
    sa.Column("event_time", UTCDateTime(), nullable=False),
    sa.Column("detected_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("customer_id", "txn_id"),
)

case_comments = sa.Table(
    "case_comments",
    metadata,
    sa.Column("comment_id", _CASE_ID, primary_key=True, autoincrement=True),
    sa.Column("case_id", _CASE_ID, sa.ForeignKey("cases.case_id"), nullable=False, index=True),
    sa.Column("author", sa.String(128), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

# The audit trail: append-only (triggers refuse UPDATE and DELETE, see
# migration 0002) and hash-chained, each entry's hash covering its content and
# the previous entry's hash (:mod:`alerts.audit`). ``audit_head`` holds the
# newest sequence number and hash, so that cutting entries off the end of the
# chain is detected too.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", _CASE_ID, primary_key=True, autoincrement=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("case_id", _CASE_ID, nullable=True, index=True),
    sa.Column("before", sa.JSON(), nullable=True),
    sa.Column("after", sa.JSON(), nullable=True),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("seq", _CASE_ID, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# Labels from dispositions wait here, written in the same transaction as the
# disposition, until the labels stream (Kafka or a JSONL file) has taken them:
# an outbox, so a label is never lost while Kafka is down.
label_outbox = sa.Table(
    "label_outbox",
    metadata,
    sa.Column("outbox_id", _CASE_ID, primary_key=True, autoincrement=True),
    sa.Column("case_id", _CASE_ID, sa.ForeignKey("cases.case_id"), nullable=False),
    sa.Column("label", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("sent_at", UTCDateTime(), nullable=True, index=True),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text(), nullable=True),
)

# API users: a token is shown once when the user is made; only its SHA-256 is kept.
users = sa.Table(
    "users",
    metadata,
    sa.Column("username", sa.String(128), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint(_one_of("role", ROLES), name="role"),
)
