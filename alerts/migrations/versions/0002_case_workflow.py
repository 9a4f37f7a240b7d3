"""The case workflow: SLA, resolution, STR four-eyes, folds, comments, audit chain,
label outbox and API users.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Columns are only added to ``cases`` and ``alerts`` (both dialects can ADD
COLUMN in place); everything else is new tables. The audit table is made
append-only by triggers that refuse UPDATE and DELETE, on SQLite and on
PostgreSQL alike; the hash chain (``alerts.audit``) then detects what someone
with the rights to drop those triggers changed anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
]
_PG_TRIGGERS = [
    """CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
]


def _aware() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    for column in (
        sa.Column("sla_due_at", _aware(), nullable=True),
        sa.Column("resolution", sa.String(32), nullable=True),
        sa.Column("folded_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("str_narrative", sa.Text(), nullable=True),
        sa.Column("str_prepared_by", sa.String(128), nullable=True),
        sa.Column("str_prepared_at", _aware(), nullable=True),
        sa.Column("str_approved_by", sa.String(128), nullable=True),
        sa.Column("str_approved_at", _aware(), nullable=True),
    ):
        op.add_column("cases", column)
    op.add_column("alerts", sa.Column("primary_rule", sa.String(128), nullable=True))

    op.create_table(
        "alert_folds",
        sa.Column("alert_id", sa.String(300), nullable=False),
        sa.Column("folded_into", sa.String(300), nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("txn_id", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("txn", sa.JSON(), nullable=False),
        sa.Column("event_time", _aware(), nullable=False),
        sa.Column("detected_at", _aware(), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", name="pk_alert_folds"),
        sa.ForeignKeyConstraint(
            ["folded_into"], ["alerts.alert_id"], name="fk_alert_folds_folded_into_alerts"
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name="fk_alert_folds_case_id_cases"
        ),
        sa.UniqueConstraint("customer_id", "txn_id", name="uq_alert_folds_customer_id_txn_id"),
    )
    op.create_index("ix_alert_folds_folded_into", "alert_folds", ["folded_into"])
    op.create_index("ix_alert_folds_case_id", "alert_folds", ["case_id"])

    op.create_table(
        "case_comments",
        sa.Column("comment_id", _ID, nullable=False, autoincrement=True),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _aware(), nullable=False),
        sa.PrimaryKeyConstraint("comment_id", name="pk_case_comments"),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name="fk_case_comments_case_id_cases"
        ),
    )
    op.create_index("ix_case_comments_case_id", "case_comments", ["case_id"])

    op.create_table(
        "audit_log",
        sa.Column("seq", _ID, nullable=False, autoincrement=False),
        sa.Column("at", _aware(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("case_id", _ID, nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_case_id", "audit_log", ["case_id"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("seq", _ID, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )
    # The head row exists from the start, so every append locks and updates it.
    op.bulk_insert(
        sa.table("audit_head", sa.column("id"), sa.column("seq"), sa.column("hash")),
        [{"id": 1, "seq": 0, "hash": "0" * 64}],
    )
    for statement in (
        _PG_TRIGGERS if op.get_bind().dialect.name == "postgresql" else _SQLITE_TRIGGERS
    ):
        op.execute(statement)

    op.create_table(
        "label_outbox",
        sa.Column("outbox_id", _ID, nullable=False, autoincrement=True),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("created_at", _aware(), nullable=False),
        sa.Column("sent_at", _aware(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("outbox_id", name="pk_label_outbox"),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name="fk_label_outbox_case_id_cases"
        ),
    )
    op.create_index("ix_label_outbox_sent_at", "label_outbox", ["sent_at"])

    op.create_table(
        "users",
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", _aware(), nullable=False),
        sa.PrimaryKeyConstraint("username", name="pk_users"),
        sa.UniqueConstraint("token_sha256", name="uq_users_token_sha256"),
        sa.CheckConstraint("role IN ('analyst', 'compliance', 'admin')", name="ck_users_role"),
    )


def downgrade() -> None:
    op.drop_table("users")
    op.drop_table("label_outbox")
    op.drop_table("audit_head")
    op.drop_table("audit_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_table("case_comments")
    op.drop_table("alert_folds")
    op.drop_column("alerts", "primary_rule")
    for name in (
        "str_approved_at",
        "str_approved_by",
        "str_prepared_at",
        "str_prepared_by",
        "str_narrative",
        "folded_count",
        "resolution",
        "sla_due_at",
    ):
        op.drop_column("cases", name)
