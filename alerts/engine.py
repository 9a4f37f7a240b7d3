"""Build the SQLAlchemy engine the case store runs on, from a database URL.

SQLite is the embedded default and PostgreSQL the shared deployment; the few
things they need done differently are done here, once:

- SQLite only enforces foreign keys when asked to, per connection.
- Python's sqlite3 (3.11) does not BEGIN before DDL or SELECT, so migrations
  would not be atomic; SQLAlchemy emits BEGIN itself instead. Transactions
  opened with :func:`begin_write` take SQLite's write lock at BEGIN
  (``BEGIN IMMEDIATE``), so two writers queue for the busy timeout rather than
  both reading and then failing to upgrade their locks.
- A SQLite file's directory is created, so the default ``sqlite:///var/...``
  works on a fresh checkout.
- JSON is written with orjson, which accepts what detectors put in feature
  snapshots (``Decimal`` amounts, numpy scalars) and writes ``NaN`` as
  ``null``, where the standard library would write a token PostgreSQL rejects.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine

from alerts.errors import CaseStoreError, CaseStoreUnavailable

_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
# Execution option marking a connection whose transactions will write.
_WRITE_INTENT = "case_store_write"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # As text, like the transaction contract, so money is not rounded.
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    msg = f"cannot store a {type(value).__name__} as JSON: {value!r}"
    raise TypeError(msg)


def dumps_json(value: Any) -> str:
    """Serialise a JSON column value; see the module docstring for why orjson.

    >>> dumps_json({"amount": Decimal("12.50"), "z": float("nan")})
    '{"amount":"12.50","z":null}'
    """
    return orjson.dumps(value, default=_json_default, option=_ORJSON_OPTIONS).decode()


def parse_url(url: str) -> URL:
    """Parse a database URL, without echoing a password into the error."""
    try:
        return sa.make_url(url)
    except sa_exc.ArgumentError as exc:
        msg = "not a database URL (expected e.g. sqlite:///var/riskwatch.db)"
        raise CaseStoreError(msg) from exc


def safe_url(url: URL) -> str:
    """The URL as it may appear in logs and error messages."""
    return url.render_as_string(hide_password=True)


def _ensure_sqlite_directory(url: URL) -> None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Stop sqlite3 from issuing its own BEGIN; _begin_sqlite_transaction does.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    writes = connection.get_execution_options().get(_WRITE_INTENT, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


@contextmanager
def begin_write(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write; on SQLite it holds the write lock from the start."""
    with engine.connect() as connection:
        connection.execution_options(**{_WRITE_INTENT: True})
        with connection.begin():
            yield connection


def create_store_engine(url: str) -> Engine:
    """An engine for ``url`` with the per-dialect settings described above."""
    parsed = parse_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite:
        try:
            _ensure_sqlite_directory(parsed)
        except OSError as exc:
            msg = f"cannot create the directory for {safe_url(parsed)}: {exc}"
            raise CaseStoreUnavailable(msg) from exc
    try:
        engine = sa.create_engine(
            parsed,
            json_serializer=dumps_json,
            json_deserializer=orjson.loads,
            pool_pre_ping=not is_sqlite,
        )
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
        msg = f"cannot use database {safe_url(parsed)}: {exc}"
        raise CaseStoreError(msg) from exc
    if is_sqlite:
        sa.event.listen(engine, "connect", _configure_sqlite_connection)
        sa.event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine
