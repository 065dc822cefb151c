"""Fixtures of the fault tests: a database on SQLite and on a throwaway PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.postgres_server import ThrowawayPostgres, missing_reason


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    server = ThrowawayPostgres()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of an empty database, not yet migrated (the service migrates it at start-up)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'clvchurn.db'}"
        return
    server: ThrowawayPostgres = request.getfixturevalue("postgres_server")
    url = server.create_database()
    yield url
    server.drop_database(url)
