"""A snapshot history joined on Spark with what came true after each cutoff (for `clvchurn monitor`).

The history is hand-made: two cutoffs' entries (`DIR/as_of=YYYY-MM-DD/`) for 30 customers of the
600-customer `scoring_base`, each given a population in turn, plus one customer the data does not know.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.build import build_labels
from features.contract import RawData, load_raw
from spark_engine import OUTCOME_COLUMNS, PREDICTION_COLUMNS, SparkLoad, load_raw_spark, realised_outcomes

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark

CUTOFFS = [datetime(2024, 7, 1), datetime(2025, 1, 1)]
POPULATIONS = ("active", "lapsed", "prospect")
UNKNOWN = "NOT-A-CUSTOMER"


@pytest.fixture(scope="module")
def raw(scoring_base: Path) -> RawData:
    return load_raw(scoring_base).raw


@pytest.fixture(scope="module")
def spark_load(spark: SparkSession, scoring_base: Path) -> Iterator[SparkLoad]:
    load = load_raw_spark(spark, str(scoring_base))
    yield load
    load.release()


def entry(customers: list[str], as_of: datetime) -> pl.DataFrame:
    rows = len(customers)
    return pl.DataFrame(
        {
            "customer_id": customers,
            "as_of": [as_of] * rows,
            "population": [POPULATIONS[i % 3] for i in range(rows)],
            "churn_probability": [i / rows for i in range(rows)],
            "reactivation_probability": [None] * rows,
            "conversion_probability": [None] * rows,
            "predicted_value": [float(i) for i in range(rows)],
            "tier": ["A"] * rows,
            "lifecycle_stage": ["loyal"] * rows,
            "pair_version": ["3"] * rows,
            "run_id": ["run"] * rows,
        },
        schema_overrides={"as_of": pl.Datetime("us"), "reactivation_probability": pl.Float64},
    ).with_columns(pl.col("conversion_probability").cast(pl.Float64))


def test_each_snapshot_row_gets_the_labels_of_its_cutoff_and_population(
    spark: SparkSession, spark_load: SparkLoad, raw: RawData, tmp_path: Path
) -> None:
    customers = raw.customers.get_column("customer_id").sort().head(30).to_list()
    history = tmp_path / "history"
    entries = []
    for as_of in CUTOFFS:
        frame = entry([*customers, UNKNOWN], as_of)
        folder = history / f"as_of={as_of.date().isoformat()}"
        folder.mkdir(parents=True)
        frame.write_parquet(folder / "part-0.parquet")
        entries.append(frame)

    joined = realised_outcomes(spark, spark_load, str(history), 180, 365, buckets=4)

    labels = pl.concat([build_labels(raw, as_of, 180, 365) for as_of in CUTOFFS])
    expected = (
        pl.concat(entries)
        .join(labels, on=["customer_id", "as_of"], how="left")
        .with_columns(
            pl.when(pl.col("population") == "active")
            .then(1 - pl.col("ordered_within_horizon"))
            .alias("churned"),
            pl.when(pl.col("population") == "lapsed")
            .then(pl.col("ordered_within_horizon"))
            .alias("reactivated"),
            pl.when(pl.col("population") == "prospect")
            .then(pl.col("ordered_within_horizon"))
            .alias("converted"),
        )
        .with_columns(pl.col("churned", "reactivated", "converted").cast(pl.Int8))
        .select(*PREDICTION_COLUMNS, *OUTCOME_COLUMNS)
        .sort("as_of", "customer_id")
    )
    assert joined.columns == [*PREDICTION_COLUMNS, *OUTCOME_COLUMNS]
    assert joined.height == 2 * 31
    assert_frame_equal(joined, expected, check_exact=False, rtol=0, atol=1e-9)
    assert (
        joined.filter(pl.col("customer_id") == UNKNOWN).get_column("ordered_within_horizon").null_count() == 2
    )
    known = joined.filter(pl.col("customer_id") != UNKNOWN)
    assert known.get_column("ordered_within_horizon").drop_nulls().n_unique() == 2  # both outcomes occur
