"""Training rows of the uplift models: each closed action outcome with the customer's features at assignment.

A row is one action assigned to one customer whose success window has closed (`policy.outcomes`), its
group (treated or control) and whether it succeeded by the action's metric. Its features are built by
the one feature function (`features.build.build_features`) as of the midnight that starts the
assignment day, so they use only events before that day: nothing of the outcome window, and nothing of
the assignment day either (a contact the same morning may already show in it). Features are built once
per assignment day for the customers assigned that day.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from features.build import build_features
from features.contract import RawData
from policy.outcomes import success_expr, window_outcomes, with_success_definitions
from policy.playbook import Playbook

ROW_COLUMNS = (
    "customer_id",
    "action_id",
    "assigned_at",
    "cutoff",
    "group",
    "success",
    "window_days",
    "metric",
)


def outcome_rows(actions: pl.DataFrame, raw: RawData, playbook: Playbook, as_of: datetime) -> pl.DataFrame:
    """Every action row with a closed window by `as_of`: `ROW_COLUMNS`, in the actions' order."""
    assigned = actions.filter(pl.col("assigned_at") < as_of)
    outcomes = window_outcomes(with_success_definitions(assigned, playbook), raw.transactions, as_of)
    return (
        outcomes.filter(pl.col("closed"))
        .with_columns(success_expr(), pl.col("assigned_at").dt.truncate("1d").alias("cutoff"))
        .select(ROW_COLUMNS)
    )


def with_features(rows: pl.DataFrame, raw: RawData) -> pl.DataFrame:
    """`rows` (from `outcome_rows`) joined with each customer's features as of the row's `cutoff`."""
    parts = []
    for (cutoff,), part in rows.partition_by("cutoff", as_dict=True, maintain_order=True).items():
        customers = part["customer_id"].unique().implode()
        subset = RawData(
            raw.transactions.filter(pl.col("customer_id").is_in(customers)),
            raw.customers.filter(pl.col("customer_id").is_in(customers)),
            raw.interactions.filter(pl.col("customer_id").is_in(customers)),
        )
        assert isinstance(cutoff, datetime)
        features = build_features(subset, cutoff).drop("as_of")
        parts.append(part.join(features, on="customer_id", how="inner", maintain_order="left"))
    return pl.concat(parts, how="diagonal_relaxed") if parts else rows
