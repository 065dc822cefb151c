"""Fixtures of the database tests: every test runs on SQLite and on a real PostgreSQL server.

`database_url` is parametrised over both backends: a SQLite file in the test's temporary folder, and
a fresh database on one throwaway PostgreSQL server started for the session (`tests/support/postgres_server.py`).
The PostgreSQL cases carry the `postgres` marker (`-m "not postgres"` leaves them out) and are
skipped, with the reason, only when Debian's server binaries are absent (`make postgres`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from support.postgres_server import ThrowawayPostgres, empty_database, postgres_or_skip

from serving.database import open_database, upgrade


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    with postgres_or_skip() as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of an empty database, not yet migrated."""
    yield from empty_database(request, tmp_path_factory)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a migrated database."""
    upgrade(database_url)
    engine = open_database(database_url)
    yield engine
    engine.dispose()
