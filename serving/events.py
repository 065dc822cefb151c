"""The events file beside a snapshot: each customer's orders, refunds and interactions, for the timeline.

`clvchurn score` writes, beside `<snapshot>.parquet`, the events it scored from as
`<snapshot stem>.events.parquet`: customer_id, timestamp, kind ("order", "refund" or an interaction
type such as "email_open"), amount (orders and refunds) and value (survey scores). The customer page
reads it (`serving.web.timeline`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Final

import polars as pl

from features.contract import RawData

EVENTS_SCHEMA: Final[dict[str, pl.DataType]] = {
    "customer_id": pl.String(),
    "timestamp": pl.Datetime("us"),
    "kind": pl.String(),
    "amount": pl.Float64(),
    "value": pl.Float64(),
}


def events_path_for(snapshot_path: Path) -> Path:
    """`artifacts/scores.parquet` -> `artifacts/scores.events.parquet`."""
    return snapshot_path.with_name(f"{snapshot_path.stem}.events.parquet")


def timeline_events(raw: RawData, as_of: datetime) -> pl.DataFrame:
    """Orders, refunds and interactions before `as_of`, one row each, sorted by customer and time."""
    transactions = raw.transactions.filter(pl.col("timestamp") < as_of).select(
        "customer_id",
        "timestamp",
        pl.when(pl.col("amount") < 0).then(pl.lit("refund")).otherwise(pl.lit("order")).alias("kind"),
        "amount",
        pl.lit(None, dtype=pl.Float64).alias("value"),
    )
    interactions = raw.interactions.filter(pl.col("timestamp") < as_of).select(
        "customer_id",
        "timestamp",
        pl.col("type").alias("kind"),
        pl.lit(None, dtype=pl.Float64).alias("amount"),
        "value",
    )
    return pl.concat([transactions, interactions]).sort("customer_id", "timestamp")
