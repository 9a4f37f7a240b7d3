"""Cases and their alerts, with the typologies index.

Revision ID: 0001
Revises:
Create Date: 2025-11-28

Tables are spelled out rather than imported from ``alerts.schema``: this file
must keep creating the first schema after that module has moved on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEVERITY_CHECK = "severity IN ('low', 'medium', 'high', 'critical')"
_STATUS_CHECK = "status IN ('new', 'assigned', 'investigating', 'escalated', 'closed')"
_CASE_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _aware() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("case_id", _CASE_ID, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("alert_count", sa.Integer(), nullable=False),
        sa.Column("opened_at", _aware(), nullable=False),
        sa.Column("updated_at", _aware(), nullable=False),
        sa.Column("closed_at", _aware(), nullable=True),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("case_id", name="pk_cases"),
        sa.CheckConstraint(_STATUS_CHECK, name="ck_cases_status"),
        sa.CheckConstraint(_SEVERITY_CHECK, name="ck_cases_severity"),
        sa.CheckConstraint(
            "(status = 'closed') = (closed_at IS NOT NULL)", name="ck_cases_closed_at"
        ),
    )
    op.create_index(
        "uq_cases_open_customer",
        "cases",
        ["customer_id"],
        unique=True,
        sqlite_where=sa.text("status != 'closed'"),
        postgresql_where=sa.text("status != 'closed'"),
    )
    op.create_index("ix_cases_status_max_score", "cases", ["status", "max_score"])

    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(300), nullable=False),
        sa.Column("case_id", _CASE_ID, nullable=False),
        sa.Column("txn_id", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("typologies", sa.JSON(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("txn", sa.JSON(), nullable=False),
        sa.Column("rule_pack_version", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("event_time", _aware(), nullable=False),
        sa.Column("detected_at", _aware(), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", name="pk_alerts"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.case_id"], name="fk_alerts_case_id_cases"),
        sa.UniqueConstraint("customer_id", "txn_id", name="uq_alerts_customer_id_txn_id"),
        sa.CheckConstraint(_SEVERITY_CHECK, name="ck_alerts_severity"),
        sa.CheckConstraint("score >= 0 AND score <= 100", name="ck_alerts_score"),
    )
    op.create_index("ix_alerts_case_id", "alerts", ["case_id"])
    op.create_index("ix_alerts_customer_id", "alerts", ["customer_id"])
    op.create_index("ix_alerts_score", "alerts", ["score"])
    op.create_index("ix_alerts_channel", "alerts", ["channel"])

    op.create_table(
        "alert_typologies",
        sa.Column("alert_id", sa.String(300), nullable=False),
        sa.Column("typology", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", "typology", name="pk_alert_typologies"),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.alert_id"], name="fk_alert_typologies_alert_id_alerts"
        ),
    )
    op.create_index("ix_alert_typologies_typology", "alert_typologies", ["typology"])


def downgrade() -> None:
    op.drop_table("alert_typologies")
    op.drop_table("alerts")
    op.drop_table("cases")
