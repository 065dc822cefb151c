"""`clvchurn features build --engine spark`: summary lines, the dataset, and the rejects beside it."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest
from support.cli import run_cli

from features.build import build_features
from features.contract import load_raw

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark

TRANSACTIONS = (
    "customer_id,timestamp,amount,transaction_id\n"
    "C1,2024-01-05,10,T1\nC2,2024-02-01,20,T2\nC1,2024-03-01,5,T1\nC3,never,1,T3\nC3,2024-04-01,7,T4\n"
)
# An attribute with a dot in its name goes through every step (Spark would take it for a struct field).
CUSTOMERS = (
    "customer_id,signup_date,sales.region\nC1,2023-01-01,north\nC2,2023-06-01,south\nC4,2023-02-01,east\n"
)


def test_features_build_on_spark_prints_a_line_per_step_and_writes_both_datasets(
    spark: SparkSession, tmp_path: Path
) -> None:
    data = tmp_path / "raw"
    data.mkdir()
    (data / "transactions.csv").write_text(TRANSACTIONS)
    (data / "customers.csv").write_text(CUSTOMERS)
    out = tmp_path / "out" / "features.parquet"

    result = run_cli(
        [
            *["features", "build", "--engine", "spark", "--spark-master", "local[2]"],
            *("--spark-conf", "spark.sql.shuffle.partitions=2", "--as-of", "2024-06-01"),
            *("--data", str(data), "--out", str(out)),
        ]
    )

    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())  # rich wraps long lines at the terminal's width
    assert "Checked 8 rows in 2 files" in printed
    assert "2 rejected rows with reasons in" in printed
    expected = build_features(load_raw(data).raw, datetime(2024, 6, 1))
    assert re.search(rf"Wrote 4 rows x {expected.width} columns in \d+ files \(\d+ buckets\)", printed)
    written = pl.read_parquet(f"{out}/**/*.parquet", hive_partitioning=False).sort("customer_id")
    assert written.equals(expected)
    rejects = pl.read_parquet(f"{tmp_path / 'out' / 'features.rejects.parquet'}/*.parquet")
    assert rejects.select("row_number", "reason").rows() == [
        (3, "duplicate transaction_id 'T1' (first seen at row 1)"),
        (4, "timestamp 'never' is not an ISO date"),
    ]


def test_spark_options_without_the_spark_engine_are_an_error(tmp_path: Path) -> None:
    result = run_cli(
        [
            *["features", "build", "--spark-master", "local[2]", "--as-of", "2024-06-01"],
            *("--data", str(tmp_path), "--out", str(tmp_path / "f.parquet")),
        ]
    )
    assert result.exit_code == 2
    assert "--spark-master and --spark-conf only apply with --engine spark" in " ".join(result.output.split())


def test_a_malformed_spark_conf_is_an_error_before_spark_starts(tmp_path: Path) -> None:
    result = run_cli(
        [
            *["features", "build", "--engine", "spark", "--spark-conf", "spark.executor.memory"],
            *["--as-of", "2024-06-01"],
            *("--data", str(tmp_path), "--out", str(tmp_path / "f.parquet")),
        ]
    )
    assert result.exit_code == 2
    assert "--spark-conf 'spark.executor.memory' is not key=value" in " ".join(result.output.split())
