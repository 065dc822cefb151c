"""Open the one database the service keeps what must last in: SQLite for one machine, PostgreSQL for many.

`open_database(url)` returns a SQLAlchemy `Engine` set up so that every caller gets the same guarantees
whichever backend the URL names:

- **SQLite** (`sqlite:///path/to/file.db`): write-ahead logging, so readers never block the writer and
  a committed transaction survives a crash of the process (https://sqlite.org/wal.html);
  `synchronous=FULL`, so it survives a crash of the machine too (the WAL is synced at every commit,
  which group commit amortises, see `serving.database.recorder`); a busy timeout, so workers that
  write at once queue instead of failing; foreign keys on. Every transaction starts with
  `BEGIN IMMEDIATE`, taking the write lock at once: a transaction that reads then writes can then
  never fail with SQLITE_BUSY_SNAPSHOT, which the busy timeout does not retry
  (https://sqlite.org/isolation.html). pysqlite's own transaction handling is turned off for that,
  as SQLAlchemy documents ("Serializable isolation / Savepoints / Transactional DDL").
- **PostgreSQL** (`postgresql+psycopg://user:pw@host:5432/db`; a bare `postgresql://` is taken to mean
  psycopg 3, the driver installed): connections are checked before use, so a restarted server costs
  no failed request, and connecting gives up after `CONNECT_TIMEOUT_S`.

Parameters are hidden from SQLAlchemy's error messages and logs (they hold session-token digests),
and a URL is only ever shown with its password masked (`safe_url`).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from domain.errors import DatabaseUnavailableError, DatabaseUrlError

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for another process's write lock before failing."""
CONNECT_TIMEOUT_S = 5
"""How long a PostgreSQL connection attempt may take before the database counts as unavailable."""
POSTGRES_DRIVER = "postgresql+psycopg"
URL_SETTING = "CLVCHURN_DATABASE_URL"


def parse_database_url(url: str | URL) -> URL:
    """`url` as a SQLAlchemy URL of a supported backend, with PostgreSQL's driver made explicit.

    Raises
    ------
    DatabaseUrlError
        The URL is malformed, names an in-memory SQLite database (each connection would see its own),
        or names a backend other than SQLite and PostgreSQL with psycopg 3.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise DatabaseUrlError(
            f"{URL_SETTING} is not a SQLAlchemy URL ({error}); write sqlite:///path/to/file.db or "
            "postgresql+psycopg://user:password@host:5432/database"
        ) from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername=POSTGRES_DRIVER)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
            raise DatabaseUrlError(
                f"{URL_SETTING} names an in-memory SQLite database, which every connection and worker "
                "would see empty; name a file, e.g. sqlite:///artifacts/clvchurn.db"
            )
        return parsed
    if parsed.drivername == POSTGRES_DRIVER:
        return parsed
    raise DatabaseUrlError(
        f"{URL_SETTING} names the backend {parsed.drivername!r}; clvchurn supports SQLite "
        "(sqlite:///path/to/file.db) and PostgreSQL with psycopg 3 (postgresql+psycopg://...)"
    )


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, the only form in which a URL may be logged or shown."""
    return make_url(url).render_as_string(hide_password=True)


def open_database(url: str | URL) -> Engine:
    """An engine on the database `url` names, configured as the module docstring says.

    A SQLite file's folder is created if missing. Nothing is connected yet: the first use connects.

    Raises
    ------
    DatabaseUrlError
        As `parse_database_url`.
    """
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _open_sqlite(parsed)
    return create_engine(
        parsed,
        pool_pre_ping=True,
        hide_parameters=True,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
    )


def is_reachable(engine: Engine) -> bool:
    """Whether one `SELECT 1` succeeds: the readiness probe's question, answered without detail."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        logger.warning("Database at %s is unreachable: %s", safe_url(engine.url), type(error).__name__)
        return False
    return True


@contextmanager
def transaction(engine: Engine, purpose: str) -> Iterator[Connection]:
    """One transaction on `engine`, committed on leaving; a database error becomes
    `DatabaseUnavailableError` saying what could not be done (`purpose`, e.g. "read a session").
    """
    try:
        with engine.begin() as connection:
            yield connection
    except SQLAlchemyError as error:
        raise DatabaseUnavailableError(
            f"Cannot {purpose} in the database at {safe_url(engine.url)} ({URL_SETTING}): "
            f"{describe_error(error)}; check that it is reachable and migrated (`clvchurn db upgrade`)"
        ) from error


def describe_error(error: BaseException) -> str:
    """The driver's first line of message, without the SQL and parameters SQLAlchemy appends.

    What error messages and logs show of a database error: the statement could hold a token digest.
    """
    original = getattr(error, "orig", None)
    cause = original if original is not None else error
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__


def _open_sqlite(url: URL) -> Engine:
    assert url.database is not None  # parse_database_url refuses databases without a file
    Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, hide_parameters=True, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite would otherwise BEGIN on its own (deferred, and not before DDL); we BEGIN in `_begin_immediate`.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """Put a new database file in WAL mode (it stays so), retrying while other processes hold it.

    Switching the journal mode needs the file to itself, and SQLite can answer "database is locked" at
    once instead of waiting out the busy timeout when several workers open a fresh file together.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
