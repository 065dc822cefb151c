"""Training on Spark: the tables the builder collects are the in-process ones, and above
`--max-training-rows` a stratified, repeatable sample of them; `train --engine spark` registers a pair.

The base is the 600-customer `scoring_base`; the cutoffs are two of a backtest's.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from support.cli import run_cli

from features.contract import RawData, load_raw
from features.populations import ORDERED_COLUMN, POPULATION_COLUMN
from model_contract import CHAMPION, PAIR_MODEL_NAME, aliased_version
from spark_engine import SparkLoad, SparkTableBuilder, allocate, baseline_history, load_raw_spark
from training.baselines.summary import rfm_summary
from training.tables import TrainingTables
from training.train import _data_span

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark

CUTOFFS = [datetime(2024, 7, 1), datetime(2025, 1, 1)]
HORIZONS = {"churn_horizon_days": 180, "value_horizon_days": 365, "lookback_days": 180}
BUCKETS = 4


@pytest.fixture(scope="module")
def raw(scoring_base: Path) -> RawData:
    return load_raw(scoring_base).raw


@pytest.fixture(scope="module")
def spark_load(spark: SparkSession, scoring_base: Path) -> Iterator[SparkLoad]:
    load = load_raw_spark(spark, str(scoring_base))
    yield load
    load.release()


@pytest.fixture(scope="module")
def in_process(raw: RawData) -> dict[datetime, pl.DataFrame]:
    tables = TrainingTables(raw, 180, 365, 180)
    return {as_of: tables.at(as_of) for as_of in CUTOFFS}


def test_allocate_keeps_proportional_shares_that_sum_to_the_total() -> None:
    counts = {("a",): 50, ("b",): 30, ("c",): 15, ("d",): 5}

    assert allocate(counts, 10) == {("a",): 5, ("b",): 3, ("c",): 1, ("d",): 1}
    assert allocate(counts, 200) == counts  # fewer rows than asked: all of them
    assert allocate({("a",): 98, ("b",): 1, ("c",): 1}, 3) == {("a",): 1, ("b",): 1, ("c",): 1}
    assert allocate({("a",): 3, ("b",): 3, ("c",): 3}, 4) == {("a",): 2, ("b",): 1, ("c",): 1}


def test_the_builder_gives_the_in_process_tables_and_span(
    spark_load: SparkLoad, raw: RawData, in_process: dict[datetime, pl.DataFrame]
) -> None:
    builder = SparkTableBuilder(spark_load, BUCKETS)

    built = builder.build(CUTOFFS, **HORIZONS)

    assert builder.data_span() == _data_span(raw)
    assert list(built.tables) == CUTOFFS
    assert built.notes == () and built.params == {"training_tables_engine": "spark"}
    for as_of in CUTOFFS:
        assert_frame_equal(built.tables[as_of], in_process[as_of], check_exact=False, rtol=0, atol=1e-9)


def test_above_max_rows_a_stratified_sample_of_the_same_rows_is_collected(
    spark_load: SparkLoad, in_process: dict[datetime, pl.DataFrame]
) -> None:
    everything = pl.concat(in_process.values())
    strata = everything.group_by("as_of", POPULATION_COLUMN, ORDERED_COLUMN).len()
    counts = {(row[0], row[1], row[2]): row[3] for row in strata.iter_rows()}
    asked = everything.height // 3

    built = SparkTableBuilder(spark_load, BUCKETS, max_rows=asked, seed=5).build(CUTOFFS, **HORIZONS)
    again = SparkTableBuilder(spark_load, 2, max_rows=asked, seed=5).build(CUTOFFS, **HORIZONS)
    other_seed = SparkTableBuilder(spark_load, BUCKETS, max_rows=asked, seed=6).build(CUTOFFS, **HORIZONS)

    sample = pl.concat(built.tables.values())
    kept = sample.group_by("as_of", POPULATION_COLUMN, ORDERED_COLUMN).len()
    assert sample.height == asked
    assert {(row[0], row[1], row[2]): row[3] for row in kept.iter_rows()} == allocate(counts, asked)
    for as_of in CUTOFFS:  # each sampled row is the full table's row, in customer order
        table = built.tables[as_of]
        assert table.get_column("customer_id").is_sorted()
        full = in_process[as_of].join(table.select("customer_id"), on="customer_id", how="semi")
        assert_frame_equal(table, full, check_exact=False, rtol=0, atol=1e-9)
        assert again.tables[as_of].equals(table)  # the same rows on any partitioning
    assert (
        not pl.concat(other_seed.tables.values())
        .select("customer_id", "as_of")
        .equals(sample.select("customer_id", "as_of"))
    )
    assert built.params == {
        "training_tables_engine": "spark",
        "max_training_rows": str(asked),
        "training_rows_available": str(everything.height),
        "training_rows": str(asked),
        "sample_seed": "5",
    }
    assert built.notes[0].startswith(
        f"training rows: a stratified sample of {asked:,} of {everything.height:,}"
    )


def test_the_baselines_history_summarises_as_the_raw_transactions(
    spark_load: SparkLoad, raw: RawData
) -> None:
    history = baseline_history(spark_load)

    assert history.customers.is_empty() and history.interactions.is_empty()
    assert history.transactions.height < raw.transactions.height
    for as_of in CUTOFFS:
        expected = rfm_summary(raw.transactions, as_of).sort("customer_id")
        actual = rfm_summary(history.transactions, as_of).sort("customer_id")
        assert_frame_equal(actual, expected, check_exact=False, rtol=1e-12, atol=1e-9)


def test_train_on_spark_from_the_command_line_samples_and_registers_a_pair(
    spark: SparkSession, scoring_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.chdir(tmp_path)

    result = run_cli(
        [
            *["train", "--engine", "spark", "--spark-master", "local[2]", "--snapshots", "2"],
            *("--max-training-rows", "2500", "--data", str(scoring_base)),
        ]
    )

    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    assert "transactions.parquet: " in printed and "customer-days of spend for the baselines" in printed
    assert "training rows: a stratified sample of 2,500 of " in printed
    assert "clvchurn-pair v1: now 'champion'" in printed
    version = aliased_version(PAIR_MODEL_NAME, CHAMPION, store)
    assert version is not None
    params = mlflow.MlflowClient(store).get_run(version.run_id).data.params
    assert (params["training_tables_engine"], params["training_rows"]) == ("spark", "2500")
    assert int(params["training_rows_available"]) > 2500


def test_train_without_the_spark_engine_refuses_max_training_rows(tmp_path: Path) -> None:
    result = run_cli(["train", "--max-training-rows", "10", "--data", str(tmp_path)])

    assert result.exit_code == 2
    assert "--max-training-rows, --spark-master and --spark-conf only apply with --engine spark" in " ".join(
        result.output.split()
    )
