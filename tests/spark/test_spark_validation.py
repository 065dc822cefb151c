"""Checks and rejects on Spark are the in-process ones: same rows, reasons, row numbers and counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from domain.errors import DataContractError
from features.contract import load_raw
from spark_engine import SparkLoad, load_raw_spark, write_rejects_dataset

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark

BAD_TRANSACTIONS = (
    "customer_id,timestamp,amount,transaction_id,quantity\n"
    "C1,2024-01-05,10,T1,1\n"
    ",2024-01-05,10,T2,1\n"
    "C3,abc,10,T3,1\n"
    "C4,2024-02-30,10,T4,1\n"
    "C5,2024-01-05,x,T5,1\n"
    "C6,2024-01-05,10,T6,-2\n"
    "C7,2024-01-05,10,T1,1\n"
    "C8,2024-01-05,,T8,\n"
    "C9,2024-01-05,inf,T9,x\n"
    "C1,2024-01-06,-4.5,,\n"
    ' C2 ,"2024-01-07T10:00:00+02:00","1,5",T1,\n'
)
# An attribute whose name Spark would read as a struct field unless quoted.
BAD_CUSTOMERS = "customer_id,signup_date,sales.region\nC1,2023-01-01,north\nC2,01/02/2023,\nC1,2023-05-05,x\n,2023-01-01,y\n"
BAD_INTERACTIONS = (
    "customer_id,timestamp,type,value\nC1,2024-01-01,Visit,\nC1,2024-01-02,  ,\nC1,2024-01-03,survey,good\n"
)


def frame(spark_frame: DataFrame) -> pl.DataFrame:
    result = pl.from_arrow(spark_frame.toArrow())
    assert isinstance(result, pl.DataFrame)
    return result


def write_files(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("_csv", ".csv")).write_text(text, encoding="utf-8")
    return folder


def assert_same_as_in_process(spark: SparkSession, folder: Path) -> tuple[pl.DataFrame, SparkLoad]:
    """Load `folder` both ways and compare everything; the Spark rejects (sorted) and load for more checks."""
    local = load_raw(folder)
    load = load_raw_spark(spark, str(folder))
    try:
        assert load.counts == local.counts
        rejects = frame(load.rejects).sort("file", "row_number")
        assert_frame_equal(rejects, local.rejects.sort("file", "row_number"))
        for table in ("transactions", "customers", "interactions"):
            in_process = getattr(local.raw, table)
            assert_frame_equal(
                frame(load.tables[table]).sort(in_process.columns), in_process.sort(in_process.columns)
            )
        assert list(load.attribute_columns) == local.raw.attribute_columns
    finally:
        load.release()
    return rejects, load


def test_bad_csv_rows_are_rejected_with_the_in_process_reasons(spark: SparkSession, tmp_path: Path) -> None:
    folder = write_files(
        tmp_path,
        transactions_csv=BAD_TRANSACTIONS,
        customers_csv=BAD_CUSTOMERS,
        interactions_csv=BAD_INTERACTIONS,
    )
    rejects, _ = assert_same_as_in_process(spark, folder)

    rejects = rejects.filter(pl.col("file") == "transactions.csv")
    assert rejects.select("row_number", "reason").rows() == [
        (2, "empty customer_id"),
        (3, "timestamp 'abc' is not an ISO date"),
        (4, "timestamp '2024-02-30' is not an ISO date"),
        (5, "amount 'x' is not a number"),
        (6, "quantity -2 is negative"),
        (7, "duplicate transaction_id 'T1' (first seen at row 1)"),
        (8, "empty amount"),
        (9, "amount 'inf' is not a finite number; quantity 'x' is not a number"),
        (11, "amount '1,5' is not a number; duplicate transaction_id 'T1' (first seen at row 1)"),
    ]


def test_bad_parquet_rows_are_rejected_as_in_process(spark: SparkSession, tmp_path: Path) -> None:
    pl.DataFrame(
        {
            "customer_id": ["C1", None, "C2", " ", "C3", "C4"],
            "timestamp": [datetime(2024, 1, 5)] * 5 + [None],
            "amount": [10.0, 1.0, float("nan"), 2.0, float("inf"), 3.0],
            "transaction_id": ["T1", "T2", "T3", "T1", None, "T3"],
            "quantity": [1, 2, -1, None, 4, 5],
        }
    ).write_parquet(tmp_path / "transactions.parquet")
    pl.DataFrame({"customer_id": [1, 2, 2], " company size ": ["1-10", None, "11-50"]}).write_parquet(
        tmp_path / "customers.parquet"
    )
    assert_same_as_in_process(spark, tmp_path)


def test_a_csv_read_in_many_byte_ranges_keeps_its_file_row_numbers(
    spark: SparkSession, spark_conf: Callable, tmp_path: Path
) -> None:
    """Spark packs the ranges of a split file into tasks in any order; row numbers stay the file's."""
    lines = ["customer_id,timestamp,amount,transaction_id"]
    for row in range(1, 3001):
        timestamp = "not a date" if row % 397 == 0 else f"2024-01-{1 + row % 28:02d}"
        transaction = f"T{row - 2000}" if row > 2900 else f"T{row}"  # the last 100 repeat rows 901..1000
        lines.append(f"C{row % 50},{timestamp},{row % 13}.5,{transaction}")
    (tmp_path / "transactions.csv").write_text("\n".join(lines) + "\n")

    with spark_conf({"spark.sql.files.maxPartitionBytes": "4096", "spark.sql.files.openCostInBytes": "0"}):
        _, load = assert_same_as_in_process(spark, tmp_path)
    assert load.partitions["transactions"] > 10
    assert load.counts["transactions"].rejected == 7 + 100


def test_a_folder_of_part_files_is_one_table_and_a_repeat_names_the_file_first_seen(
    spark: SparkSession, tmp_path: Path
) -> None:
    header = "customer_id,timestamp,amount,transaction_id\n"
    write_files(
        tmp_path / "transactions.csv",
        **{
            "part-0_csv": header + "C1,2024-01-05,10,T1\nC2,2024-01-06,5,T2\n",
            "part-1_csv": header + "C3,2024-01-07,1,T3\nC4,2024-01-08,2,T1\nC5,2024-01-09,3,T3\n",
        },
    )
    load = load_raw_spark(spark, str(tmp_path))
    rejects = frame(load.rejects).sort("file", "row_number")
    accepted = frame(load.tables["transactions"]).height
    load.release()

    assert rejects.select("file", "row_number", "reason").rows() == [
        (
            "transactions.csv/part-1.csv",
            2,
            "duplicate transaction_id 'T1' (first seen at row 1 of transactions.csv/part-0.csv)",
        ),
        ("transactions.csv/part-1.csv", 3, "duplicate transaction_id 'T3' (first seen at row 1)"),
    ]
    assert (accepted, load.counts["transactions"].file) == (3, "transactions.csv")


@pytest.mark.parametrize(
    "files",
    [
        {"transactions_csv": "customer_id,timestamp,price\nC1,2024-01-05,10\n"},
        {
            "transactions_csv": "customer_id,timestamp,amount\nC1,2024-01-05,1\n",
            "interactions_csv": "customer_id,type\n",
        },
        {"customers_csv": "customer_id\nC1\n"},
    ],
)
def test_structural_errors_carry_the_in_process_message(
    spark: SparkSession, tmp_path: Path, files: dict[str, str]
) -> None:
    folder = write_files(tmp_path, **files)
    with pytest.raises(DataContractError) as in_process:
        load_raw(folder)
    with pytest.raises(DataContractError) as on_spark:
        load_raw_spark(spark, str(folder))
    assert str(on_spark.value) == str(in_process.value)


def test_a_parquet_column_of_the_wrong_type_is_found_on_the_driver(
    spark: SparkSession, tmp_path: Path
) -> None:
    pl.DataFrame({"customer_id": ["C1"], "timestamp": [1704412800], "amount": [1.0]}).write_parquet(
        tmp_path / "transactions.parquet"
    )
    with pytest.raises(DataContractError, match=r"transactions\.parquet column 'timestamp' has type Int64"):
        load_raw_spark(spark, str(tmp_path))


def test_a_missing_folder_is_named(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(DataContractError, match=r"data folder .*nowhere does not exist"):
        load_raw_spark(spark, str(tmp_path / "nowhere"))


def test_rejects_are_written_as_a_parquet_dataset_and_nothing_when_clean(
    spark: SparkSession, tmp_path: Path
) -> None:
    write_files(
        tmp_path / "bad", transactions_csv="customer_id,timestamp,amount\nC1,2024-01-05,x\nC1,2024-01-05,2\n"
    )
    write_files(tmp_path / "clean", transactions_csv="customer_id,timestamp,amount\nC1,2024-01-05,1\n")
    bad, clean = load_raw_spark(spark, str(tmp_path / "bad")), load_raw_spark(spark, str(tmp_path / "clean"))

    written = write_rejects_dataset(bad, str(tmp_path / "out" / "features.rejects.parquet"))
    assert write_rejects_dataset(clean, str(tmp_path / "out" / "clean.rejects.parquet")) is None
    bad.release()
    clean.release()
    assert written is not None
    assert pl.read_parquet(f"{written}/*.parquet").rows() == [
        (
            "transactions.csv",
            1,
            "amount 'x' is not a number",
            '{"customer_id":"C1","timestamp":"2024-01-05","amount":"x"}',
        )
    ]
    assert not (tmp_path / "out" / "clean.rejects.parquet").exists()
