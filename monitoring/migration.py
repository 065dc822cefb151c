"""Migration between two snapshots: who moved between value tiers and lifecycle stages.

The practice clvchurn serves re-classifies customers periodically; account managers need to see the
moves, not only the new tier. Between an earlier and a later snapshot, over the customers present in
both, count matrices (rows: the earlier tier or stage, columns: the later one) and value matrices
(the later snapshot's predicted value summed per cell, what is now at stake in each move), plus the
customers who moved up a tier (towards A) or down. Everything is one join and one group-by, so a
million customers take well under a second.

Shape::

    {"from": "2025-04-01", "to": "2025-07-01", "customers": 950, "entered": 60, "left": 10,
     "tiers": {"A": {"A": 80, "B": 5, "C": 0, "D": 0}, ...}, "tier_values": {"A": {"A": 1.2e6, ...}},
     "stages": {"active": {"active": 400, ...}, ...}, "stage_values": {...},
     "moved_up": 40, "moved_down": 55}

Every tier and stage of the vocabulary is a row and a column, zeros included, so the matrices sum to
`customers`. `entered` counts customers only in the later snapshot, `left` those only in the earlier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import polars as pl

from domain.errors import MigrationInputError
from domain.vocabulary import LIFECYCLE_STAGES, MIGRATION_DIRECTIONS, TIERS

KEY: Final = "customer_id"
TIER: Final = "tier"
STAGE: Final = "lifecycle_stage"
UP, DOWN = MIGRATION_DIRECTIONS


def migration(
    previous: pl.DataFrame,
    current: pl.DataFrame,
    *,
    value: str = "predicted_value",
    from_as_of: str | None = None,
    to_as_of: str | None = None,
) -> dict[str, Any]:
    """Tier x tier and stage x stage count and value matrices between two snapshots (JSON-ready).

    Parameters
    ----------
    previous, current
        The earlier and the later snapshot, one row per customer with `customer_id`, `tier`,
        `lifecycle_stage` and the `value` column (nulls count as 0 in the value sums).
    from_as_of, to_as_of
        The snapshots' cutoffs, recorded as "from" and "to".

    Raises
    ------
    MigrationInputError
        A column is missing, a customer appears twice, or a tier or stage is null or not in the
        vocabulary.
    """
    moves = _moves(previous, current, value)
    tiers = _matrices(moves, TIER, TIERS)
    stages = _matrices(moves, STAGE, LIFECYCLE_STAGES)
    direction = moves.select(
        (pl.col("tier_rank_to") < pl.col("tier_rank_from")).sum().alias("up"),
        (pl.col("tier_rank_to") > pl.col("tier_rank_from")).sum().alias("down"),
    ).row(0, named=True)
    both = moves.height
    return {
        "from": from_as_of,
        "to": to_as_of,
        "customers": both,
        "entered": current.height - both,
        "left": previous.height - both,
        "tiers": tiers[0],
        "tier_values": tiers[1],
        "stages": stages[0],
        "stage_values": stages[1],
        "moved_up": int(direction["up"]),
        "moved_down": int(direction["down"]),
    }


def tier_movers(
    previous: pl.DataFrame, current: pl.DataFrame, *, value: str = "predicted_value"
) -> pl.DataFrame:
    """The customers whose tier changed: `customer_id`, `direction` ("up" towards A, or "down"),
    `tier_from`, `tier_to`, `lifecycle_stage_from`, `lifecycle_stage_to`, `value_from`, `value_to`;
    moves up first, then by later predicted value, highest first."""
    moves = _moves(previous, current, value)
    return (
        moves.filter(pl.col("tier_rank_to") != pl.col("tier_rank_from"))
        .with_columns(
            pl.when(pl.col("tier_rank_to") < pl.col("tier_rank_from"))
            .then(pl.lit(UP))
            .otherwise(pl.lit(DOWN))
            .alias("direction")
        )
        .sort(["direction", "value_to", KEY], descending=[True, True, False], nulls_last=True)
        .select(
            KEY,
            "direction",
            f"{TIER}_from",
            f"{TIER}_to",
            f"{STAGE}_from",
            f"{STAGE}_to",
            "value_from",
            "value_to",
        )
    )


def _moves(previous: pl.DataFrame, current: pl.DataFrame, value: str) -> pl.DataFrame:
    """One row per customer in both snapshots, with tier, stage and value before and after."""
    sides = [
        _side(frame, value, side, name)
        for frame, side, name in ((previous, "from", "earlier"), (current, "to", "later"))
    ]
    return sides[0].join(sides[1], on=KEY, how="inner")


def _side(frame: pl.DataFrame, value: str, side: str, name: str) -> pl.DataFrame:
    missing = [column for column in (KEY, TIER, STAGE, value) if column not in frame.columns]
    if missing:
        raise MigrationInputError(f"the {name} snapshot lacks columns {missing}")
    if frame[KEY].n_unique() != frame.height:
        duplicated = frame.filter(pl.col(KEY).is_duplicated())
        raise MigrationInputError(
            f"the {name} snapshot holds customer {duplicated[KEY][0]!r} more than once: "
            "pass one row per customer"
        )
    for column, vocabulary in ((TIER, TIERS), (STAGE, LIFECYCLE_STAGES)):
        unknown = frame.filter(pl.col(column).is_null() | ~pl.col(column).cast(pl.String).is_in(vocabulary))
        if unknown.height:
            raise MigrationInputError(
                f"the {name} snapshot gives customer {unknown[KEY][0]!r} {column} {unknown[column][0]!r}; "
                f"expected one of {', '.join(vocabulary)}"
            )
    return frame.select(
        pl.col(KEY),
        pl.col(TIER).cast(pl.String).alias(f"{TIER}_{side}"),
        pl.col(TIER)
        .cast(pl.String)
        .replace_strict(list(TIERS), list(range(len(TIERS))), return_dtype=pl.Int64)
        .alias(f"tier_rank_{side}"),
        pl.col(STAGE).cast(pl.String).alias(f"{STAGE}_{side}"),
        pl.col(value).cast(pl.Float64).alias(f"value_{side}"),
    )


def _matrices(
    moves: pl.DataFrame, column: str, levels: Sequence[str]
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
    cells = moves.group_by(f"{column}_from", f"{column}_to").agg(
        pl.len().alias("customers"), pl.col("value_to").sum().alias("value")
    )
    counts = {row: dict.fromkeys(levels, 0) for row in levels}
    values = {row: dict.fromkeys(levels, 0.0) for row in levels}
    for origin, destination, customers, total in cells.iter_rows():
        counts[origin][destination] = int(customers)
        values[origin][destination] = float(total)
    return counts, values
