"""Retention actions the CRM reports as they happen (POST /v1/actions), kept in the service's database.

One row per (customer, action, assignment time) in the `actions` table (`serving.database.tables`,
revision 0002): a report of an assignment already recorded updates it (a retry, or the contact made
later with its `taken_at`), so the log never counts an assignment twice, as the actions file rejects a
repeated one. `export_actions` writes the rows out as the data folder's `actions` file
(`features.contract.ACTIONS_SCHEMA`), which `clvchurn evaluate actions` and `clvchurn train` read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import polars as pl
from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from domain.errors import DatabaseUnavailableError
from features.actions_contract import ACTIONS_SCHEMA
from serving.database import actions as actions_table

logger = logging.getLogger(__name__)

KEY: Final = ("customer_id", "action_id", "assigned_at")
REPORTED: Final = ("rule_id", "taken_at", "channel", "owner", "cost", "tier", "lifecycle_stage")
"""The columns a later report of the same assignment may fill in or change."""


class ActionRecords:
    """Writes and reads the reported actions of one database (`serving.database.open_database`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self,
        reports: Sequence[Mapping[str, Any]],
        *,
        source: str = "api",
        request_id: str | None = None,
        received_at: datetime | None = None,
    ) -> int:
        """Store `reports` (the actions file's columns, `group` for the assignment) in one transaction;
        returns how many were given. A report of a recorded assignment updates its row."""
        if not reports:
            return 0
        received = received_at or datetime.now(UTC)
        rows = [
            {
                "customer_id": report["customer_id"],
                "action_id": report["action_id"],
                "assigned_at": _naive(report["assigned_at"]),
                "assignment": report["group"],
                **{name: report.get(name) for name in REPORTED},
                "taken_at": _naive(report.get("taken_at")),
                "received_at": received,
                "source": source,
                "request_id": request_id,
            }
            for report in reports
        ]
        dialect = self.engine.dialect.name
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(actions_table)
        statement = insert.on_conflict_do_update(
            index_elements=list(KEY),
            set_={
                **{name: insert.excluded[name] for name in ("assignment", *REPORTED)},
                "received_at": insert.excluded.received_at,
                "request_id": insert.excluded.request_id,
            },
        )
        try:
            with self.engine.begin() as connection:
                for row in rows:  # one statement per row: an upsert cannot hit one key twice in a batch
                    connection.execute(statement, row)
        except SQLAlchemyError as error:
            raise DatabaseUnavailableError(
                f"could not store {len(rows)} actions in the database ({error.__class__.__name__}); check "
                "CLVCHURN_DATABASE_URL and run `clvchurn db upgrade`"
            ) from error
        logger.info("Recorded %d actions from %s", len(rows), source)
        return len(rows)

    def frame(self, since: datetime | None = None) -> pl.DataFrame:
        """Every recorded action (assigned at or after `since`) as an actions table, in assignment order."""
        table = actions_table
        query = select(
            table.c.customer_id,
            table.c.action_id,
            table.c.assigned_at,
            table.c.assignment.label("group"),
            *(table.c[name] for name in REPORTED),
        ).order_by(table.c.assigned_at, table.c.id)
        if since is not None:
            query = query.where(table.c.assigned_at >= since)
        with self.engine.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(query)]
        return (
            pl.DataFrame(rows, schema=ACTIONS_SCHEMA, orient="row")
            if rows
            else pl.DataFrame(schema=ACTIONS_SCHEMA)
        )


def export_actions(records: ActionRecords, path: Path, since: datetime | None = None) -> int:
    """Write the recorded actions to `path` as an actions file (.csv or .parquet, by the suffix);
    returns the rows written."""
    frame = records.frame(since)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        frame.write_csv(path, datetime_format="%Y-%m-%dT%H:%M:%S")
    else:
        frame.write_parquet(path)
    return frame.height


def _naive(value: datetime | None) -> datetime | None:
    """The raw-data contract's timestamps are naive: an aware one is turned to UTC and its zone dropped."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)
