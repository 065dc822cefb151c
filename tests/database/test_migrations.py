"""The schema: Alembic creates exactly the declared tables, again and again, from many processes at once."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, make_url, text
from support.cli import run_cli

from domain.errors import SchemaMigrationError
from serving.database import head_revision, metadata, open_database, require_current_schema, upgrade

TABLES = {"actions", "alembic_version", "predictions", "service_state", "sessions", "sign_in_attempts"}


def test_upgrade_creates_the_tables_and_stamps_the_head(database_url: str) -> None:
    assert upgrade(database_url) == head_revision() == "0002"

    engine = open_database(database_url)
    try:
        assert set(inspect(engine).get_table_names()) == TABLES
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).all() == [("0002",)]
    finally:
        engine.dispose()


def test_the_migrated_schema_is_the_declared_one(engine: Engine) -> None:
    """Columns, types, nullability, indexes, keys and comments: Alembic's autogenerate finds nothing to do."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_upgrade_twice_changes_nothing(engine: Engine, database_url: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO service_state (key, value, updated_at) VALUES ('k', 'v', '2025-01-01')")
        )

    assert upgrade(database_url) == "0002"

    with engine.connect() as connection:
        assert connection.execute(text("SELECT key, value FROM service_state")).all() == [("k", "v")]
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_workers_starting_together_migrate_once(database_url: str) -> None:
    """Four processes upgrade a fresh database at the same moment: all succeed, one stamp."""
    script = (
        "import sys, time\n"
        "from serving.database import upgrade\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "print(upgrade(sys.argv[1]))\n"
    )
    start_at = str(time.time() + 3.0)  # every process has imported SQLAlchemy by then
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, database_url, start_at],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outcomes = [worker.communicate(timeout=120) for worker in workers]

    assert [(worker.returncode, out.strip()) for worker, (out, _) in zip(workers, outcomes, strict=True)] == [
        (0, "0002")
    ] * 4, [err for _, err in outcomes]
    engine = open_database(database_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).all() == [("0002",)]
    finally:
        engine.dispose()


def test_a_worker_refuses_a_database_not_at_head(database_url: str) -> None:
    engine = open_database(database_url)
    try:
        with pytest.raises(
            SchemaMigrationError, match=r"at schema revision none, .* run `clvchurn db upgrade`"
        ):
            require_current_schema(engine)
        upgrade(engine)
        require_current_schema(engine)
    finally:
        engine.dispose()


def test_a_database_migrated_by_a_newer_clvchurn_is_refused(engine: Engine, database_url: str) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))

    with pytest.raises(SchemaMigrationError, match="was not migrated by a newer clvchurn") as raised:
        upgrade(database_url)

    assert "Can't locate revision identified by '9999'" in str(raised.value)
    with pytest.raises(SchemaMigrationError, match="is at schema revision 9999, this clvchurn expects 0002"):
        require_current_schema(engine)


def test_the_command_upgrades_and_reports_the_revision_without_the_password(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        url = url.set(password="s3cret-pw")  # the throwaway server trusts local connections
    result = run_cli(["db", "upgrade", "--url", url.render_as_string(hide_password=False)])

    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert output == f"Database at {url.render_as_string(hide_password=True)} is at schema revision 0002."
    assert "s3cret-pw" not in output


def test_the_command_fails_in_one_line_on_a_bad_url() -> None:
    result = run_cli(["db", "upgrade", "--url", "mysql://u:pw@host/db"])

    assert result.exit_code == 2
    assert "names the backend 'mysql'" in result.output
