"""A whole snapshot history joined with what happened after each snapshot, on Spark, for monitoring.

A snapshot history (`clvchurn score --history DIR`) holds one Parquet dataset per cutoff,
`DIR/as_of=YYYY-MM-DD/`, in the snapshot's columns (`serving.serialise.SNAPSHOT_SCHEMA`), whichever
engine wrote it. Realised performance needs, for every customer of every snapshot, what the scores
said and what came true: `realised_outcomes` reads the history's prediction columns, builds the
labels of each snapshot's cutoff with `features.build.build_labels` per bucket of customers (the raw
data's outcomes: an order within the churn horizon, the net spend within the value horizon), joins
them on (customer, cutoff) and collects the result to the driver, one row per customer and snapshot.

Each population's label follows from the order exactly as at training time
(`features.populations.POPULATION_LABELS`): `churned` for active customers, `reactivated` for lapsed
ones, `converted` for prospects, null outside the population. Whether a snapshot's label window has
closed by the data's end is the caller's decision (`clvchurn monitor` keeps the closed ones for
realised figures and the rest for estimated ones).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Final

import polars as pl

from features.build import build_labels
from features.contract import RawData
from features.populations import ORDERED_COLUMN, POPULATION_COLUMN, POPULATION_LABELS
from serving.history import SNAPSHOT_FILE
from spark_engine.arrow import polars_frame
from spark_engine.buckets import BUCKET_COLUMN, apply_per_bucket
from spark_engine.validation import SparkLoad
from spark_engine.worker_errors import worker_errors

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

PREDICTION_COLUMNS: Final = (
    "customer_id",
    "as_of",
    POPULATION_COLUMN,
    "churn_probability",
    "reactivation_probability",
    "conversion_probability",
    "predicted_value",
    "tier",
    "lifecycle_stage",
    "pair_version",
    "run_id",
)
"""What each snapshot said, as the history stores it."""
OUTCOME_COLUMNS: Final = (
    ORDERED_COLUMN,
    "future_value",
    *(label for label, _ in POPULATION_LABELS.values()),
)
"""What came true after the snapshot's cutoff."""


def read_history(spark: SparkSession, history_uri: str) -> DataFrame:
    """Every entry of a snapshot history as one frame of the predictions: the part files Spark scoring
    copies in (`DIR/as_of=*/part-*`) and the `snapshot.parquet` of an in-process `clvchurn score`
    (not the `features.parquet` filed beside it).

    The entries' folder names are not read as a column: each row's `as_of` is the snapshot's own.
    """
    entries = f"{history_uri.rstrip('/')}/as_of=*/{{{SNAPSHOT_FILE},part-*}}"
    return spark.read.parquet(entries).select(*PREDICTION_COLUMNS)


def realised_outcomes(
    spark: SparkSession,
    load: SparkLoad,
    history_uri: str,
    churn_horizon_days: int,
    value_horizon_days: int,
    buckets: int,
) -> pl.DataFrame:
    """Each snapshot's predictions beside its realised labels, sorted by cutoff and customer.

    Columns: `PREDICTION_COLUMNS`, then `OUTCOME_COLUMNS`. A customer of a snapshot the raw data
    does not know (which `clvchurn score` never writes) has null outcomes.
    """
    predictions = read_history(spark, history_uri)
    with worker_errors():
        cutoffs = sorted(row[0] for row in predictions.select("as_of").distinct().collect())
        logger.info("history %s: %d snapshots", history_uri, len(cutoffs))
        compute = partial(
            labels_at,
            as_ofs=tuple(cutoffs),
            churn_horizon_days=churn_horizon_days,
            value_horizon_days=value_horizon_days,
        )
        labels = apply_per_bucket(load, compute, buckets).drop(BUCKET_COLUMN)
        joined = predictions.join(labels, on=["customer_id", "as_of"], how="left")
        frame = polars_frame(joined.toArrow())
    return with_outcome_labels(frame).sort("as_of", "customer_id")


def labels_at(
    raw: RawData, as_ofs: Sequence[datetime], churn_horizon_days: int, value_horizon_days: int
) -> pl.DataFrame:
    """`build_labels` at each cutoff, stacked (customer, cutoff, order within the horizon, net spend)."""
    if not as_ofs:
        return build_labels(raw, datetime(1970, 1, 1), churn_horizon_days, value_horizon_days).clear()
    return pl.concat(
        [build_labels(raw, as_of, churn_horizon_days, value_horizon_days) for as_of in as_ofs], how="vertical"
    )


def with_outcome_labels(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` (with `population` and `ordered_within_horizon`) plus each population's label, as in
    `features.populations.with_population_labels` but from the population the snapshot stored."""
    population, ordered = pl.col(POPULATION_COLUMN), pl.col(ORDERED_COLUMN)
    return frame.with_columns(
        pl.when(population == name)
        .then(ordered if positive_when_ordered else 1 - ordered)
        .cast(pl.Int8)
        .alias(label)
        for name, (label, positive_when_ordered) in POPULATION_LABELS.items()
    ).select(*PREDICTION_COLUMNS, *OUTCOME_COLUMNS)
