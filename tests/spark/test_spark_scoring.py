"""Scoring on Spark: the snapshot equals the in-process one, and the service and the history read it.

The session's champion pair (tests/conftest.py `trained`, 1,500 customers) scores a base of 600 other
customers (`scoring_base`) once in process (`serving.batch.score_base`) and once on Spark, eight
buckets at local[2]: every column of every row must be equal, floats included (each row's prediction,
TreeSHAP contributions and decision depend on that row only).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from support.cli import run_cli
from support.trained import TrainedModels

from domain.errors import ModelNotReadyError, ModelNotRegisteredError, PlaybookError
from features.contract import load_raw
from policy.playbook import DEFAULT_PLAYBOOK
from serving.batch import score_base
from serving.events import timeline_events
from serving.snapshot_store import SnapshotStore, write_snapshot
from serving.web.timeline import EventsStore
from spark_engine import (
    PairLoader,
    SparkLoad,
    add_to_history,
    champion_loader,
    history_entry,
    load_raw_spark,
    snapshot_table,
    write_snapshot_dataset,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark

AS_OF = datetime(2025, 7, 1)
BUCKETS = 8


@pytest.fixture(scope="module")
def in_process_snapshot(
    trained: TrainedModels, scoring_base: Path, tmp_path_factory: pytest.TempPathFactory
) -> pl.DataFrame:
    """`clvchurn score` in process, as the service reads it back (canonical types, id order)."""
    path = tmp_path_factory.mktemp("in_process") / "scores.parquet"
    write_snapshot(score_base(load_raw(scoring_base).raw, AS_OF, trained.engine), path)
    return SnapshotStore(path).frame()


@pytest.fixture(scope="module")
def spark_load(spark: SparkSession, scoring_base: Path) -> Iterator[SparkLoad]:
    load = load_raw_spark(spark, str(scoring_base))
    yield load
    load.release()


def test_the_spark_snapshot_equals_the_in_process_one(
    spark: SparkSession,
    trained: TrainedModels,
    spark_load: SparkLoad,
    in_process_snapshot: pl.DataFrame,
    tmp_path: Path,
) -> None:
    loader = champion_loader(trained.tracking_uri, DEFAULT_PLAYBOOK)
    uri = str(tmp_path / "scores.parquet")

    written = write_snapshot_dataset(spark, snapshot_table(spark_load, AS_OF, loader, BUCKETS), uri)
    served = SnapshotStore(Path(uri)).frame()

    assert loader.version == trained.engine.loaded.version
    assert (written.rows, served.height) == (in_process_snapshot.height, in_process_snapshot.height)
    assert served.get_column("population").n_unique() == 3  # every population's model ran
    assert served.get_column("tier").n_unique() == 4
    assert_frame_equal(served, in_process_snapshot, check_exact=True)


def test_a_history_entry_is_the_snapshot_under_its_cutoff(
    spark: SparkSession, trained: TrainedModels, spark_load: SparkLoad, tmp_path: Path
) -> None:
    loader = champion_loader(trained.tracking_uri, DEFAULT_PLAYBOOK)
    snapshot = write_snapshot_dataset(
        spark, snapshot_table(spark_load, AS_OF, loader, BUCKETS), str(tmp_path / "scores.parquet")
    )
    history = tmp_path / "history"

    entry = add_to_history(spark, snapshot.uri, str(history), AS_OF)
    add_to_history(spark, snapshot.uri, str(history), AS_OF)  # the same cutoff again replaces it

    assert entry == history_entry(str(history), AS_OF) == f"{history}/as_of=2025-07-01"
    assert [p.name for p in history.iterdir()] == ["as_of=2025-07-01"]
    kept = pl.read_parquet(f"{entry}/*.parquet", hive_partitioning=False).sort("customer_id")
    assert kept.equals(pl.read_parquet(f"{snapshot.uri}/*.parquet").sort("customer_id"))


def test_a_missing_version_raised_in_a_worker_reaches_the_driver_as_itself(
    trained: TrainedModels, spark_load: SparkLoad, tmp_path: Path, spark: SparkSession
) -> None:
    loader = champion_loader(trained.tracking_uri, DEFAULT_PLAYBOOK)
    missing = PairLoader(loader.tracking_uri, "999", loader.playbook_yaml)

    with pytest.raises(ModelNotRegisteredError, match="no version 999 of model 'clvchurn-pair'"):
        write_snapshot_dataset(
            spark, snapshot_table(spark_load, AS_OF, missing, 2), str(tmp_path / "s.parquet")
        )
    assert not (tmp_path / "s.parquet").exists()


def test_the_driver_refuses_a_registry_without_champion_or_a_broken_playbook(
    trained: TrainedModels, tmp_path: Path
) -> None:
    with pytest.raises(ModelNotReadyError, match="no 'champion' version of model 'clvchurn-pair'"):
        champion_loader(f"sqlite:///{tmp_path / 'empty.db'}", DEFAULT_PLAYBOOK)
    broken = tmp_path / "playbook.yaml"
    broken.write_text("rules: []\n")
    with pytest.raises(PlaybookError):
        champion_loader(trained.tracking_uri, broken)


def test_score_on_spark_from_the_command_line_writes_what_the_service_reads(
    spark: SparkSession,
    trained: TrainedModels,
    scoring_base: Path,
    in_process_snapshot: pl.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLVCHURN_MLFLOW_TRACKING_URI", trained.tracking_uri)
    out = tmp_path / "artifacts" / "scores.parquet"

    result = run_cli(
        [
            *["score", "--engine", "spark", "--spark-master", "local[2]", "--as-of", "2025-07-01"],
            *("--data", str(scoring_base), "--out", str(out)),
        ]
    )

    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    assert "transactions.parquet: " in printed and "Checked " in printed
    assert f"Scored {in_process_snapshot.height:,} customers as of 2025-07-01" in printed
    assert f"with model pair v{trained.engine.loaded.version}; tiers {{'A': " in printed
    assert_frame_equal(SnapshotStore(out).frame(), in_process_snapshot, check_exact=True)
    events = EventsStore(tmp_path / "artifacts" / "scores.events.parquet")
    timeline = timeline_events(load_raw(scoring_base).raw, AS_OF)
    customer = (
        timeline.group_by("customer_id").len().sort("len", "customer_id", descending=[True, False])[0, 0]
    )
    expected = timeline.filter(pl.col("customer_id") == customer)
    shown = sorted((e.timestamp, e.kind, e.amount or 0.0) for e in events.events(customer))
    assert shown == sorted(expected.select("timestamp", "kind", pl.col("amount").fill_null(0.0)).rows())
    assert len(shown) > 10 and {"order"} < {kind for _, kind, _ in shown}  # orders and interactions


def test_score_without_the_spark_engine_refuses_spark_options(tmp_path: Path) -> None:
    result = run_cli(
        [
            *["score", "--spark-conf", "spark.executor.memory=4g", "--as-of", "2025-07-01"],
            *("--data", str(tmp_path), "--out", str(tmp_path / "s.parquet")),
        ]
    )
    assert result.exit_code == 2
    assert "--spark-master and --spark-conf only apply with --engine spark" in " ".join(result.output.split())
