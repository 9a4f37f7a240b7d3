"""Alembic's entry point for the case store's migrations.

The store runs migrations itself (:func:`alerts.migrate.upgrade_to_head`) and
hands its open connection over in ``config.attributes["connection"]``, so no
``alembic.ini`` is needed and an installed package migrates its own database.
For ``alembic revision --autogenerate`` during development, build the same
``Config`` and set ``sqlalchemy.url`` instead (see ``alerts/migrate.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection

from alerts.schema import metadata


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """Emit the SQL as a script, for a DBA to review and apply."""
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    given: Connection | None = context.config.attributes.get("connection")
    if given is not None:
        _configure_and_run(given)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        msg = "set sqlalchemy.url or pass a connection in config.attributes['connection']"
        raise RuntimeError(msg)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            _configure_and_run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
