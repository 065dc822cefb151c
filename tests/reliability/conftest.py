"""Fixtures of the fault tests: a database on SQLite and on a throwaway PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.postgres_server import ThrowawayPostgres, empty_database, postgres_or_skip


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    with postgres_or_skip() as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of an empty database, not yet migrated (the service migrates it at start-up)."""
    yield from empty_database(request, tmp_path_factory)
