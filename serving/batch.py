"""Batch scoring: the whole customer base through the same features and engine as the online endpoint.

`clvchurn score` writes the snapshot that GET /v1/customers/{id} and the portfolio pages serve, and
beside it the events file the customer page draws its timeline from. The base is scored once and its
reasons and actions written in every supported language, so each reader picks its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import polars as pl

from domain.vocabulary import LANGUAGES
from features.build import build_features
from features.contract import RawData
from serving.predictor import Predictor

logger = logging.getLogger(__name__)

CHUNK_ROWS = 20_000


def score_base(
    raw: RawData,
    as_of: datetime,
    predictor: Predictor,
    langs: Sequence[str] = LANGUAGES,
    progress: Callable[[int, int], None] | None = None,
) -> pl.DataFrame:
    """Every customer known at `as_of` in the snapshot format, in customer-id order, texts in `langs`.

    Rows are written as columns (`Predictor.score_snapshot_chunks`), never as `Prediction` objects;
    for each customer they hold exactly what POST /v1/predict answers. Scored in chunks to bound
    memory, the next chunk's models and TreeSHAP running while this one's texts are written.
    """
    features = build_features(raw, as_of)
    slices = (features.slice(start, CHUNK_ROWS) for start in range(0, features.height, CHUNK_ROWS))
    chunks: list[pl.DataFrame] = []
    done = 0
    for chunk in predictor.score_snapshot_chunks(slices, langs):
        chunks.append(chunk)
        done += chunk.height
        if progress is not None:
            progress(done, features.height)
    scored = pl.concat(chunks) if chunks else predictor.score_snapshot(features, langs)
    logger.info("Scored %d customers as of %s in %s", features.height, as_of, ", ".join(langs))
    return scored


def events_path_for(snapshot_path: Path) -> Path:
    """Where the timeline events of a snapshot live: `<snapshot stem>.events.parquet` beside it."""
    return snapshot_path.with_name(f"{snapshot_path.stem}.events.parquet")


def timeline_events(raw: RawData, as_of: datetime) -> pl.DataFrame:
    """Orders, refunds and interactions before `as_of`, one row each, for the customer pages.

    Columns: customer_id, timestamp, kind ("order", "refund" or the interaction type), amount (orders
    and refunds), value (survey scores).
    """
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
