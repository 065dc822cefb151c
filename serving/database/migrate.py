"""Bring the database schema to the revision this code expects, safely from many processes at once.

The schema is versioned by Alembic; the revisions live in `serving/database/migrations/versions/`
and Alembic gets its connection from here (no alembic.ini). `upgrade(url)` is what
`clvchurn db upgrade` and `clvchurn serve` run; it is idempotent (at head it does nothing) and
safe when several workers or machines start together, because the whole upgrade, version stamp
included, runs in one transaction that first takes a lock no other upgrade can share:

- PostgreSQL: a transaction-level advisory lock (`pg_advisory_xact_lock`, released at commit or
  rollback; https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS), with
  DDL inside the transaction, which PostgreSQL supports;
- SQLite: the database's write lock, taken by `BEGIN IMMEDIATE` (every transaction of
  `open_database` starts so) and waited for up to the busy timeout; SQLite's DDL is transactional
  too.

A second process therefore waits, then finds the schema at head and stamps nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from domain.errors import SchemaMigrationError
from serving.database.connection import describe_error, open_database, safe_url

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
ADVISORY_LOCK_KEY = int.from_bytes(b"clvchurn", "big")
"""PostgreSQL advisory-lock key of schema upgrades: 'clvchurn' in ASCII, a positive 64-bit integer."""


def upgrade(database: str | URL | Engine, revision: str = "head") -> str:
    """Migrate `database` (a URL, or an engine from `open_database`) to `revision`; return the revision now.

    Raises
    ------
    DatabaseUrlError
        The URL names no supported database.
    SchemaMigrationError
        The database cannot be reached, a revision fails (nothing of it is kept), or the database
        carries a revision this code does not know (written by a newer clvchurn).
    """
    engine = database if isinstance(database, Engine) else open_database(database)
    try:
        with engine.connect() as connection:
            with connection.begin():
                _take_migration_lock(connection)
                command.upgrade(_alembic_config(connection), revision)
            reached = current_revision(connection)
    except (SQLAlchemyError, CommandError) as error:
        raise SchemaMigrationError(
            f"Cannot upgrade the database at {safe_url(engine.url)} (CLVCHURN_DATABASE_URL) to {revision}: "
            f"{describe_error(error)}; check that the database is reachable and was not migrated by a newer "
            "clvchurn"
        ) from error
    finally:
        if engine is not database:
            engine.dispose()
    logger.info("Database at %s is at revision %s", safe_url(engine.url), reached)
    return reached or ""


def head_revision() -> str:
    """The newest revision in the migrations folder: the one this code expects."""
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None, "the migrations folder has no revision"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision stamped in the database, None before the first upgrade."""
    return MigrationContext.configure(connection).get_current_revision()


def require_current_schema(engine: Engine) -> None:
    """Raise unless the database is at `head_revision()`: a start-up check for the workers.

    Raises
    ------
    SchemaMigrationError
        The schema is missing or at another revision; the message says to run `clvchurn db upgrade`.
    """
    try:
        with engine.connect() as connection:
            found = current_revision(connection)
    except SQLAlchemyError as error:
        raise SchemaMigrationError(
            f"Cannot read the schema revision of the database at {safe_url(engine.url)} "
            f"(CLVCHURN_DATABASE_URL): {describe_error(error)}"
        ) from error
    expected = head_revision()
    if found != expected:
        raise SchemaMigrationError(
            f"The database at {safe_url(engine.url)} is at schema revision {found or 'none'}, this "
            f"clvchurn expects {expected}: run `clvchurn db upgrade`"
        )


def _take_migration_lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    # SQLite: BEGIN IMMEDIATE, issued when the transaction began, already holds the write lock.


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config
