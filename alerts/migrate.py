"""Bring a case store database up to the newest schema with Alembic.

Alembic is configured in code, pointing at the ``migrations`` directory inside
this package (``alerts:migrations``), so an installed riskwatch migrates its
own database without an ``alembic.ini`` beside it.

To write a new migration during development::

    from alembic import command
    from alerts.migrate import alembic_config
    cfg = alembic_config()
    cfg.set_main_option("sqlalchemy.url", "sqlite:///var/riskwatch.db")
    command.revision(cfg, "add case owner history", autogenerate=True, rev_id="0002")
"""

from __future__ import annotations

import logging
import threading

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from alerts.engine import begin_write, safe_url
from alerts.errors import CaseStoreUnavailable, MigrationError

logger = logging.getLogger(__name__)

SCRIPT_LOCATION = "alerts:migrations"
# Any constant will do; it only has to be the same in every riskwatch process.
_PG_MIGRATION_LOCK = 0x7269736B  # "risk"
# Alembic's ``context`` and ``op`` are module-level proxies, so two threads of
# one process (Bytewax workers) must not run migrations at the same time.
_ALEMBIC_PROXIES = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the case store, optionally bound to a connection."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _serialise_concurrent_upgrades(connection: Connection) -> None:
    # Several Bytewax workers open the store at once; on PostgreSQL the second
    # waits here instead of racing the first to CREATE TABLE. On SQLite,
    # begin_write's BEGIN IMMEDIATE already serialises them.
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))


def _check_reachable(engine: Engine) -> None:
    """Fail as unavailable when the database cannot be reached at all.

    Done apart from the upgrade because, once connected, an OperationalError
    (say, SQLite's "no such column") means a broken migration, not an outage.
    """
    try:
        with engine.connect():
            pass
    except sa_exc.DBAPIError as exc:
        msg = f"cannot connect to {safe_url(engine.url)}: {exc.orig}"
        raise CaseStoreUnavailable(msg) from exc


def upgrade_to_head(engine: Engine) -> None:
    """Apply every migration the database has not seen, in one transaction."""
    _check_reachable(engine)
    where = safe_url(engine.url)
    try:
        with _ALEMBIC_PROXIES, begin_write(engine) as connection:
            _serialise_concurrent_upgrades(connection)
            command.upgrade(alembic_config(connection), "head")
    except (CommandError, sa_exc.SQLAlchemyError, OSError) as exc:
        msg = f"could not upgrade the case store schema on {where} to head: {exc}"
        raise MigrationError(msg) from exc
    logger.debug("case store schema is at head on %s", engine.url.get_backend_name())
