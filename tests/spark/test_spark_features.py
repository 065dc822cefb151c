"""The Spark feature and training tables equal the in-process ones, for a few thousand customers.

Every column is compared: integers and strings exactly, floats to 1e-9 (the per-bucket sums are
exact, so in practice they agree to the bit), and the dtypes must be the in-process ones.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.build import build_features, build_training_table
from features.contract import LoadResult, RawData, load_raw
from features.synth import generate, write_synthetic
from spark_engine import (
    SparkLoad,
    apply_per_bucket,
    feature_table,
    load_raw_spark,
    training_table,
    write_dataset,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark

CUSTOMERS = 3000
CUTOFFS = [datetime(2024, 7, 1), datetime(2025, 1, 1)]
BUCKETS = 8


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("synthetic")
    write_synthetic(generate(n_customers=CUSTOMERS, seed=11), folder)
    return folder


@pytest.fixture(scope="module")
def in_process(data_folder: Path) -> LoadResult:
    return load_raw(data_folder)


@pytest.fixture(scope="module")
def spark_load(spark: SparkSession, data_folder: Path) -> Iterator[SparkLoad]:
    load = load_raw_spark(spark, str(data_folder))
    yield load
    load.release()


def read_dataset(uri: str) -> pl.DataFrame:
    """A dataset as written, without the bucket folders' partition column."""
    return pl.read_parquet(f"{uri}/**/*.parquet", hive_partitioning=False)


def test_feature_table_equals_the_in_process_one(
    spark: SparkSession, spark_load: SparkLoad, in_process: LoadResult, tmp_path: Path
) -> None:
    expected = pl.concat([build_features(in_process.raw, cutoff) for cutoff in CUTOFFS])
    written = write_dataset(
        spark, feature_table(spark_load, CUTOFFS, BUCKETS), str(tmp_path / "features.parquet")
    )

    actual = read_dataset(written.uri)
    assert actual.schema == expected.schema  # the same columns, in order, with the same dtypes
    assert any(c.startswith("profile_") for c in actual.columns)
    assert (written.rows, written.files) == (expected.height, BUCKETS)
    keys = ["customer_id", "as_of"]
    assert_frame_equal(actual.sort(keys), expected.sort(keys), check_exact=False, rel_tol=0, abs_tol=1e-9)


def test_training_table_equals_the_in_process_one(
    spark: SparkSession, spark_load: SparkLoad, in_process: LoadResult, tmp_path: Path
) -> None:
    expected = build_training_table(
        in_process.raw, CUTOFFS, churn_horizon_days=180, value_horizon_days=365, lookback_days=180
    )
    frame = training_table(spark_load, CUTOFFS, 180, 365, 180, BUCKETS)
    actual = read_dataset(write_dataset(spark, frame, str(tmp_path / "training.parquet")).uri)

    assert actual.schema == expected.schema
    assert actual.get_column("churned").drop_nulls().n_unique() == 2
    keys = ["customer_id", "as_of"]
    assert_frame_equal(actual.sort(keys), expected.sort(keys), check_exact=False, rel_tol=0, abs_tol=1e-9)


def test_each_customer_lives_in_one_bucket_folder(
    spark: SparkSession, spark_load: SparkLoad, tmp_path: Path
) -> None:
    uri = write_dataset(spark, feature_table(spark_load, CUTOFFS[-1:], 5), str(tmp_path / "f.parquet")).uri
    folders = sorted(p.name for p in Path(uri).iterdir() if p.is_dir())
    by_folder = pl.read_parquet(f"{uri}/**/*.parquet", hive_partitioning=True)

    assert folders == [f"bucket={b}" for b in range(5)]
    assert by_folder.group_by("customer_id").agg(pl.col("bucket").n_unique()).get_column("bucket").max() == 1


def test_any_per_customer_computation_runs_per_bucket(spark_load: SparkLoad, in_process: LoadResult) -> None:
    # Defined here, not at module level: a test module is not importable in Spark's Python workers,
    # and a function defined inside another one travels by value.
    def events_per_customer(raw: RawData) -> pl.DataFrame:
        events = pl.concat([raw.transactions.select("customer_id"), raw.interactions.select("customer_id")])
        return events.group_by("customer_id").agg(pl.len().cast(pl.Int64).alias("events"))

    result = pl.from_arrow(apply_per_bucket(spark_load, events_per_customer, BUCKETS).toArrow())
    assert isinstance(result, pl.DataFrame)

    assert result.columns == ["customer_id", "events", "bucket"]
    assert_frame_equal(
        result.drop("bucket").sort("customer_id"), events_per_customer(in_process.raw).sort("customer_id")
    )
