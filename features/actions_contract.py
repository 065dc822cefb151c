"""The actions file: retention actions assigned to customers, for measuring their effect.

The fourth, optional file of a data folder, read and checked like the other three
(`features.contract`), plus the rules across columns an action row must keep.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from domain.errors import DataContractError
from domain.vocabulary import LIFECYCLE_STAGES, TIERS
from features.column_parsers import (
    Check,
    number_parser,
    one_of_parser,
    parse_customer_id,
    parse_required_text,
    parse_text,
    timestamp_parser,
)
from features.contract import (
    REJECTS_SCHEMA,
    FileCounts,
    TableSpec,
    check_with_spec,
    empty_frame,
    find_table_file,
    read_table,
    rejected_rows,
)

logger = logging.getLogger(__name__)

ACTIONS_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "action_id": pl.String(),
    "assigned_at": pl.Datetime("us"),
    "group": pl.String(),
    "rule_id": pl.String(),
    "taken_at": pl.Datetime("us"),
    "channel": pl.String(),
    "owner": pl.String(),
    "cost": pl.Float64(),
    "tier": pl.String(),
    "lifecycle_stage": pl.String(),
}
"""The fourth file of a data folder, `actions` (CSV or Parquet), optional: who was assigned which action
when, and in which group of its experiment (`treatment` got it, `control` was held out). `rule_id`,
`taken_at` (when the contact happened), `channel`, `owner` and `cost` are optional, as are `tier` and
`lifecycle_stage`, the customer's segment when the action was assigned (what the prediction said), which
the evaluation breaks its figures down by."""
ACTION_GROUPS = ("treatment", "control")


@dataclass(frozen=True)
class ActionsLoad:
    """The accepted actions in canonical form, the rows turned away with their reasons, and the counts
    (None without an actions file)."""

    actions: pl.DataFrame
    rejects: pl.DataFrame
    counts: FileCounts | None


def load_actions(data_dir: Path) -> ActionsLoad:
    """Read and validate the optional `actions` file of a data folder, as `load_raw` does the others.

    Raises
    ------
    DataContractError
        The folder is missing, holds both actions.csv and actions.parquet, or the file lacks a required
        column or cannot be read.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataContractError(f"data folder {data_dir} does not exist or is not a folder")
    path = find_table_file(data_dir, "actions", required=False)
    if path is None:
        return ActionsLoad(empty_frame(ACTIONS_SCHEMA), empty_frame(REJECTS_SCHEMA), None)
    accepted, rejected = check_actions(read_table(path), path.name)
    logger.info("%s: %d rows accepted, %d rejected", path.name, accepted.height, rejected.height)
    return ActionsLoad(accepted, rejected, FileCounts(path.name, accepted.height, rejected.height))


def check_actions(table: pl.DataFrame, file_name: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate actions rows: each column as the contract reads it, then the rules across columns (a
    contact before its assignment, the same customer, action and assignment time twice).

    Returns
    -------
    The accepted rows (`ACTIONS_SCHEMA`) and the rejects (`REJECTS_SCHEMA`, 1-based row numbers of
    `table`), each rejected row once with every reason of the column checks, or else of the row checks.
    """
    accepted, rejected = check_with_spec(table, _ACTIONS_SPEC, file_name)
    kept = pl.Series(
        np.setdiff1d(np.arange(table.height), rejected["row_number"].to_numpy() - 1), dtype=pl.Int64
    )
    checks = _action_row_checks(accepted, kept, table.height)
    if not checks:
        return accepted, rejected
    failed = pl.repeat(False, accepted.height, dtype=pl.Boolean, eager=True)
    for check in checks:
        failed = failed | check.failed.gather(kept)
    later = rejected_rows(table, checks, kept.filter(failed), file_name)
    return accepted.filter(~failed), pl.concat([rejected, later]).sort("row_number")


def _action_row_checks(accepted: pl.DataFrame, rows: pl.Series, height: int) -> list[Check]:
    """The checks across columns, as full-length series of the original table (`rows`: where each
    accepted row came from)."""

    def spread(values: pl.Series, fill: object) -> pl.Series:
        full = pl.Series(values.name, [fill] * height, dtype=values.dtype)
        return full.scatter(rows, values)

    checks = []
    early = (accepted["taken_at"] < accepted["assigned_at"]).fill_null(False)
    if early.any():
        checks.append(
            Check(
                spread(early, False),
                "taken_at {} is before assigned_at {}",
                (
                    spread(accepted["taken_at"].dt.to_string("%Y-%m-%dT%H:%M:%S"), None),
                    spread(accepted["assigned_at"].dt.to_string("%Y-%m-%dT%H:%M:%S"), None),
                ),
            )
        )
    key = accepted.select(pl.struct("customer_id", "action_id", "assigned_at").alias("key"))["key"]
    repeated = ~key.is_first_distinct()
    if repeated.any():
        first = (
            pl.DataFrame({"key": key, "row": rows + 1}).select(pl.col("row").min().over("key")).to_series()
        )
        checks.append(
            Check(
                spread(repeated, False),
                "duplicate action: customer, action_id and assigned_at first seen at row {}",
                (spread(first.cast(pl.Int64), None),),
            )
        )
    return checks


_ACTIONS_SPEC = TableSpec(
    name="actions",
    schema=ACTIONS_SCHEMA,
    required=("customer_id", "action_id", "assigned_at", "group"),
    parsers={
        "customer_id": parse_customer_id,
        "action_id": parse_required_text,
        "assigned_at": timestamp_parser(required=True),
        "group": one_of_parser(ACTION_GROUPS, required=True),
        "rule_id": parse_text,
        "taken_at": timestamp_parser(required=False),
        "channel": parse_text,
        "owner": parse_text,
        "cost": number_parser(required=False, non_negative=True),
        "tier": one_of_parser(TIERS, required=False),
        "lifecycle_stage": one_of_parser(LIFECYCLE_STAGES, required=False),
    },
    unique_key=None,
    extra_columns_are_attributes=False,
)
