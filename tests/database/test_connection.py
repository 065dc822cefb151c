"""Opening the database: which URLs are accepted, how SQLite is set up, and that URLs never leak passwords."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, text

from domain.errors import DatabaseUrlError
from serving.database import is_reachable, open_database, parse_database_url, safe_url
from serving.settings import Settings


def test_a_bare_postgresql_url_means_psycopg_3() -> None:
    url = parse_database_url("postgresql://clv:pw@db.internal:5432/clvchurn")

    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.database, url.username) == ("db.internal", 5432, "clvchurn", "clv")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://", "names an in-memory SQLite database"),
        ("sqlite:///:memory:", "names an in-memory SQLite database"),
        ("sqlite:///file:shared?mode=memory&uri=true", "names an in-memory SQLite database"),
        ("mysql://u:p@host/db", "names the backend 'mysql'; clvchurn supports SQLite"),
        ("postgresql+psycopg2://u:p@host/db", "names the backend 'postgresql\\+psycopg2'"),
        ("not a url", "CLVCHURN_DATABASE_URL is not a SQLAlchemy URL"),
    ],
)
def test_unsupported_urls_are_refused_with_the_setting_named(url: str, message: str) -> None:
    with pytest.raises(DatabaseUrlError, match=message) as raised:
        parse_database_url(url)

    assert "CLVCHURN_DATABASE_URL" in str(raised.value)


def test_urls_are_shown_with_the_password_masked() -> None:
    assert safe_url("postgresql+psycopg://clv:s3cret@db:5432/clvchurn") == (
        "postgresql+psycopg://clv:***@db:5432/clvchurn"
    )


def test_sqlite_is_opened_with_wal_full_sync_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'nested' / 'folder' / 'clvchurn.db'}")
    try:
        with engine.connect() as connection:
            pragmas = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
    finally:
        engine.dispose()

    assert pragmas == {"journal_mode": "wal", "synchronous": 2, "busy_timeout": 30_000, "foreign_keys": 1}
    assert (tmp_path / "nested" / "folder" / "clvchurn.db").is_file()


def test_sqlite_transactions_take_the_write_lock_at_begin(tmp_path: Path) -> None:
    """Another writer cannot begin while a transaction that has only read is open (BEGIN IMMEDIATE)."""
    path = tmp_path / "clvchurn.db"
    engine = open_database(f"sqlite:///{path}")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT 1"))
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()
        engine.dispose()


def test_a_reachable_database_answers_the_probe(engine: Engine) -> None:
    assert is_reachable(engine) is True


def test_an_unreachable_database_fails_the_probe_without_raising() -> None:
    engine = open_database("postgresql+psycopg://nobody:pw@127.0.0.1:9/none")  # port 9: discard, closed

    assert is_reachable(engine) is False


def test_the_setting_defaults_to_a_sqlite_file_and_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CLVCHURN_DATABASE_URL", raising=False)
    assert Settings().database_url.get_secret_value() == "sqlite:///artifacts/clvchurn.db"

    monkeypatch.setenv("CLVCHURN_DATABASE_URL", "postgresql+psycopg://clv:s3cret@db/clvchurn")
    settings = Settings()

    assert settings.database_url == SecretStr("postgresql+psycopg://clv:s3cret@db/clvchurn")
    assert "s3cret" not in repr(settings)
