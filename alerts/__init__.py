"""Alerts and the analyst case queue.

Scored, explained alerts from the dataflow are kept here as compliance records
and grouped into cases, one open case per customer, for analysts to work.

- :mod:`alerts.store`: :class:`CaseStore`, the SQL store (SQLite by default,
  PostgreSQL by URL), migrated with Alembic on open.
- :mod:`alerts.schema`: the tables and the vocabulary they constrain.
- :mod:`alerts.export`: alerts as JSONL or CSV, with their explanations.
- :mod:`alerts.errors`: what the store raises.
"""

from alerts.errors import (
    CaseNotFound,
    CaseStoreError,
    CaseStoreUnavailable,
    InvalidAlert,
    MigrationError,
)
from alerts.store import DEFAULT_URL, CaseStore, WriteResult

__all__ = [
    "DEFAULT_URL",
    "CaseNotFound",
    "CaseStore",
    "CaseStoreError",
    "CaseStoreUnavailable",
    "InvalidAlert",
    "MigrationError",
    "WriteResult",
]
