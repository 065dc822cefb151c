"""What `clvchurn score --engine spark` and `clvchurn train --engine spark` run, start to finish.

The CLI stays a thin branch: it parses its options and prints; these functions start the session,
read and check the data (rejects written as a Parquet dataset), run the job and hand back what the
summary lines say. Each step's line (rows, partitions, seconds) goes to `report` as soon as the step
ends, so a long job shows where it is; Spark's own stage progress bar runs in between (settings).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from spark_engine.scoring import (
    absolute_tracking_uri,
    add_to_history,
    champion_loader,
    events_table,
    snapshot_table,
    tier_counts,
    write_snapshot_dataset,
)
from spark_engine.session import bucket_count, spark_session
from spark_engine.settings import SparkSettings, parse_conf_pairs
from spark_engine.tables import WrittenDataset, rejects_uri
from spark_engine.training import SparkTableBuilder, baseline_history
from spark_engine.validation import SparkLoad, load_raw_spark, write_rejects_dataset
from spark_engine.worker_errors import worker_errors

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from monitoring.report import MonitorResult
    from monitoring.settings import MonitoringSettings
    from policy.playbook import Playbook
    from training.train import Progress, TrainingConfig, TrainingOutcome

Report = Callable[[str], None]
GROUND_TRUTH_TABLE = "ground_truth.parquet"


def settings_from_options(master: str | None, conf_pairs: Sequence[str]) -> SparkSettings:
    """`CLVCHURN_SPARK_*` from the environment, `--spark-master` and `--spark-conf` over them."""
    settings = SparkSettings()
    update: dict[str, object] = {"conf": settings.conf | parse_conf_pairs(conf_pairs)}
    if master is not None:
        update["master"] = master
    return settings.model_copy(update=update)


@dataclass(frozen=True)
class SparkScoring:
    """What a Spark scoring run wrote and found."""

    snapshot: WrittenDataset
    events: WrittenDataset
    version: str
    tiers: dict[str, int]
    history_entry: str | None


def score_on_spark(
    settings: SparkSettings,
    data_uri: str,
    as_of: datetime,
    out_uri: str,
    *,
    tracking_uri: str | None,
    playbook_path: Path,
    history_uri: str | None = None,
    report: Report = print,
) -> SparkScoring:
    """Score the whole base as of `as_of` on Spark into the snapshot dataset `out_uri`.

    Beside it: the rejects (`<stem>.rejects.parquet`, if any) and the timeline events
    (`<stem>.events.parquet`, what the customer page draws); with `history_uri`, a copy of the snapshot
    as that history's entry for the cutoff (`DIR/as_of=YYYY-MM-DD`).

    Raises
    ------
    ModelNotReadyError: no champion in the registry (found before Spark starts).
    DataContractError, EngineError: as `load_raw_spark` and `create_session`.
    """
    loader = champion_loader(tracking_uri, playbook_path)
    with spark_session(settings) as spark:
        report(f"Spark {spark.version} on {settings.master} ({spark.sparkContext.defaultParallelism} cores)")
        load = _checked(spark, data_uri, out_uri, report)
        try:
            buckets = bucket_count(spark, settings)
            snapshot = write_snapshot_dataset(spark, snapshot_table(load, as_of, loader, buckets), out_uri)
            report(
                f"Scored {snapshot.rows:,} customers as of {as_of.date()} with model pair v{loader.version} "
                f"in {snapshot.seconds:.1f} s ({buckets} buckets, {snapshot.files} files)"
            )
            events = write_snapshot_dataset(spark, events_table(load, as_of), _events_uri(out_uri))
            report(f"Wrote {events.rows:,} timeline events in {events.seconds:.1f} s")
        finally:
            load.release()
        entry = add_to_history(spark, out_uri, history_uri, as_of) if history_uri else None
        tiers = tier_counts(spark, out_uri)
    return SparkScoring(snapshot, events, loader.version, tiers, entry)


def train_on_spark(
    settings: SparkSettings,
    data_uri: str,
    config: TrainingConfig,
    *,
    playbook: Playbook,
    max_training_rows: int | None,
    rejects_at: str = "artifacts/train.parquet",
    report: Report = print,
    progress: Progress | None = None,
) -> TrainingOutcome:
    """`training.train.train` with its tables built on Spark (`SparkTableBuilder`) and collected.

    The baselines get each customer's daily net spend (`baseline_history`); the ground truth of a
    synthetic base (`ground_truth.parquet` in the data folder) is read when it is there.
    """
    from training.train import train

    with spark_session(settings) as spark:
        report(f"Spark {spark.version} on {settings.master} ({spark.sparkContext.defaultParallelism} cores)")
        load = _checked(spark, data_uri, rejects_at, report)
        try:
            builder = SparkTableBuilder(load, bucket_count(spark, settings), max_training_rows, config.seed)
            started = time.perf_counter()
            cutoff_times = [config.validation_as_of.time()] if config.validation_as_of else []
            history = baseline_history(load, cutoff_times)
            report(
                f"Collected {history.transactions.height:,} customer-days of spend for the baselines "
                f"in {time.perf_counter() - started:.1f} s"
            )
            ground_truth = _ground_truth(spark, data_uri)
            with worker_errors():
                return train(
                    history,
                    config,
                    playbook=playbook,
                    ground_truth=ground_truth,
                    data_source=data_uri,
                    progress=progress or report,
                    table_builder=builder,
                )
        finally:
            load.release()


def monitor_on_spark(
    settings: SparkSettings,
    data_uri: str,
    history_uri: str,
    *,
    tracking_uri: str,
    as_of: datetime | None,
    monitoring: MonitoringSettings,
    champion: Mapping[str, Any] | None,
    rejects_at: str,
    report: Report = print,
) -> MonitorResult:
    """`monitoring.report.monitor` on a history and raw data Spark reads (`spark_engine.monitoring`).

    Raises
    ------
    MonitoringInputError: no events, or no snapshot on or before `as_of`.
    DataContractError, EngineError: as `load_raw_spark` and `create_session`.
    """
    from monitoring.report import monitor_sources
    from spark_engine.monitoring import spark_sources

    uri = absolute_tracking_uri(tracking_uri)
    with spark_session(settings) as spark:
        report(f"Spark {spark.version} on {settings.master} ({spark.sparkContext.defaultParallelism} cores)")
        load = _checked(spark, data_uri, rejects_at, report)
        try:
            started = time.perf_counter()
            sources = spark_sources(spark, load, history_uri, uri, bucket_count(spark, settings))
            result = monitor_sources(sources, as_of=as_of, settings=monitoring, champion=champion)
            report(
                f"Judged {len(result.report['history']['cutoffs'])} snapshots on Spark in "
                f"{time.perf_counter() - started:.1f} s"
            )
            return result
        finally:
            load.release()


def _checked(spark: SparkSession, data_uri: str, out_uri: str, report: Report) -> SparkLoad:
    """Read and check the data folder, write its rejects beside `out_uri`, report both."""
    started = time.perf_counter()
    load = load_raw_spark(spark, data_uri)
    for counts in load.counts.values():
        report(f"{counts.file}: {counts.accepted:,} rows accepted, {counts.rejected:,} rejected")
    rows = sum(c.accepted + c.rejected for c in load.counts.values())
    report(
        f"Checked {rows:,} rows in {len(load.counts)} files ({sum(load.partitions.values())} partitions) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    written = write_rejects_dataset(load, rejects_uri(out_uri))
    if written is not None:
        report(f"{load.rejected:,} rejected rows with reasons in {written}")
    return load


def _events_uri(snapshot_uri: str) -> str:
    """`artifacts/scores.parquet` -> `artifacts/scores.events.parquet`, as `serving.events` names it."""
    return rejects_uri(snapshot_uri).removesuffix(".rejects.parquet") + ".events.parquet"


def _ground_truth(spark: SparkSession, data_uri: str) -> pl.DataFrame | None:
    from spark_engine.arrow import polars_frame
    from spark_engine.storage import exists

    uri = f"{data_uri.rstrip('/')}/{GROUND_TRUTH_TABLE}"
    if not exists(spark, uri):
        return None
    return polars_frame(spark.read.parquet(uri).toArrow())
