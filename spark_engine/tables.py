"""Feature and training tables on Spark, written as Parquet datasets partitioned by bucket.

The per-bucket computations are exactly the in-process ones (`features.build`): `build_features` per
cutoff, stacked, for a feature table; `build_training_table` (features joined with `build_labels`)
for training rows. The dataset has the in-process table's columns and types; the bucket is only in
the folder names (`bucket=17/part-....parquet`, Hive-style), so a reader that wants it gets it back
as a partition column and a per-bucket job (scoring) can read one bucket's customers without a shuffle.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

import polars as pl

from features.build import build_features, build_training_table, midnight_after
from features.contract import RawData
from spark_engine.buckets import BUCKET_COLUMN, apply_per_bucket
from spark_engine.validation import SparkLoad

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WrittenDataset:
    """A Parquet dataset a job wrote: where, how many rows and files, and how long it took."""

    uri: str
    rows: int
    files: int
    seconds: float


def features_at(raw: RawData, as_ofs: Sequence[datetime]) -> pl.DataFrame:
    """Features for each cutoff, stacked oldest first: the in-process `features build` table."""
    return pl.concat([build_features(raw, as_of) for as_of in as_ofs], how="vertical")


def feature_table(load: SparkLoad, as_ofs: Sequence[datetime], buckets: int) -> DataFrame:
    """One row per customer and cutoff, as `features_at` gives in process, plus `bucket`."""
    return apply_per_bucket(load, partial(features_at, as_ofs=tuple(as_ofs)), buckets)


def training_table(
    load: SparkLoad,
    as_ofs: Sequence[datetime],
    churn_horizon_days: int,
    value_horizon_days: int,
    lookback_days: int,
    buckets: int,
) -> DataFrame:
    """Features, populations and labels for several cutoffs (`build_training_table` per bucket), plus
    `bucket`."""
    compute = partial(
        build_training_table,
        as_ofs=list(as_ofs),
        churn_horizon_days=churn_horizon_days,
        value_horizon_days=value_horizon_days,
        lookback_days=lookback_days,
    )
    return apply_per_bucket(load, compute, buckets)


def rejects_uri(out_uri: str) -> str:
    """Where the rejects of a job writing `out_uri` go: `<name>.rejects.parquet` beside it."""
    parent, _, name = out_uri.rstrip("/").rpartition("/")
    stem = name.removesuffix(".parquet")
    return f"{parent}/{stem}.rejects.parquet" if parent else f"{stem}.rejects.parquet"


def write_dataset(spark: SparkSession, frame: DataFrame, uri: str) -> WrittenDataset:
    """Write `frame` to `uri` (replacing it), one folder per bucket, and count what was written.

    The counts come from the Parquet footers, so they cost a file listing, not another pass.
    """
    started = time.perf_counter()
    frame.write.mode("overwrite").partitionBy(BUCKET_COLUMN).parquet(uri)
    written = spark.read.parquet(uri)
    result = WrittenDataset(uri, written.count(), len(written.inputFiles()), time.perf_counter() - started)
    logger.info("wrote %d rows in %d files to %s in %.1f s", result.rows, result.files, uri, result.seconds)
    return result


def data_end_spark(load: SparkLoad) -> datetime | None:
    """The midnight after the last event, as `features.build.data_end` gives in process."""
    from pyspark.sql import functions as F

    latest = [
        row[0]
        for name in ("transactions", "interactions")
        for row in [load.tables[name].agg(F.max("timestamp")).first()]
        if row is not None and row[0] is not None
    ]
    return midnight_after(max(latest)) if latest else None
