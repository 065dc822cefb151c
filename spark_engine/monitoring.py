"""`clvchurn monitor --engine spark`: a whole snapshot history judged against the raw data on Spark.

The expensive part of a monitoring run grows with customers times snapshots: every customer of every
snapshot needs the labels of its cutoff, built from the raw events. On Spark that is one job
(`spark_engine.history.realised_outcomes`: the labels of every cutoff per bucket of customers, joined
to the history's predictions) and the features of the latest cutoff for drift another
(`spark_engine.tables.feature_table`, only the reference distribution's columns collected). What comes
back to the driver is one row of predictions and outcomes per customer and snapshot, and the report is
then worked out by the same code as in process (`monitoring.report.monitor_sources`), so both engines
give the same report for the same history and data.

The pair that scored each snapshot is read from the registry by the version its rows carry (a history
written on Spark is a folder of part files with no room for the pair's description in a footer).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from features.populations import POPULATION_LABELS
from model_contract.registry import load_pair_version
from monitoring.outcomes import FUTURE_VALUE, OUTCOME
from monitoring.report import SNAPSHOT_COLUMNS, MonitorSources
from serving.history import pair_description
from spark_engine.arrow import polars_frame
from spark_engine.history import read_history, realised_outcomes
from spark_engine.tables import data_end_spark, feature_table
from spark_engine.validation import SparkLoad
from spark_engine.worker_errors import worker_errors

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

Report = Callable[[str], None]


def spark_sources(
    spark: SparkSession,
    load: SparkLoad,
    history_uri: str,
    tracking_uri: str,
    buckets: int,
) -> MonitorSources:
    """The inputs of a monitoring report, computed on Spark (see the module's docstring).

    Raises
    ------
    MonitoringInputError
        Through `monitor_sources`: the history holds no snapshot.
    ModelNotReadyError
        The registry lacks a version of the pair a snapshot was scored with.
    """
    versions = _versions_per_cutoff(spark, history_uri)
    pairs: dict[str, dict[str, Any]] = {}

    def pair(day: date) -> dict[str, Any]:
        version = versions[day]
        if version not in pairs:
            pairs[version] = pair_description(load_pair_version(version, tracking_uri))
        return pairs[version]

    judged: dict[tuple[int, int], pl.DataFrame] = {}

    def joined(churn_days: int, value_days: int) -> pl.DataFrame:
        if (churn_days, value_days) not in judged:
            frame = realised_outcomes(spark, load, history_uri, churn_days, value_days, buckets)
            judged[churn_days, value_days] = _with_outcome(frame)
        return judged[churn_days, value_days]

    def latest_horizons() -> tuple[int, int]:
        described = pair(max(versions))
        return int(described["churn_horizon_days"]), int(described["value_horizon_days"])

    def snapshot(day: date) -> pl.DataFrame:
        return _rows_of(joined(*latest_horizons()), day).select(SNAPSHOT_COLUMNS)

    def outcomes(frame: pl.DataFrame, as_of: datetime, churn_days: int, value_days: int) -> pl.DataFrame:
        found = _rows_of(joined(churn_days, value_days), as_of.date()).select(
            "customer_id", OUTCOME, FUTURE_VALUE
        )
        return frame.join(found, on="customer_id", how="left")

    def features(day: date) -> pl.DataFrame:
        reference = (pair(day).get("reference_distribution") or {}).get("features") or {}
        as_of = datetime.combine(day, datetime.min.time())
        with worker_errors():
            table = feature_table(load, [as_of], buckets)
            wanted = ["customer_id", *(name for name in reference if name in table.columns)]
            return polars_frame(table.select(*wanted).toArrow()).sort("customer_id")

    return MonitorSources(
        history=history_uri,
        data_end=data_end_spark(load),
        cutoffs=sorted(versions),
        pair=pair,
        snapshot=snapshot,
        outcomes=outcomes,
        features=features,
    )


def _versions_per_cutoff(spark: SparkSession, history_uri: str) -> dict[date, str]:
    """The pair version each cutoff of the history was scored with (one small job)."""
    from spark_engine.storage import exists

    if not exists(spark, history_uri):
        return {}
    rows = read_history(spark, history_uri).select("as_of", "pair_version").distinct().collect()
    versions: dict[date, set[str]] = {}
    for row in rows:
        versions.setdefault(row["as_of"].date(), set()).add(str(row["pair_version"]))
    mixed = {day: found for day, found in versions.items() if len(found) > 1}
    if mixed:
        logger.warning("history entries scored by several pairs: %s; the newest version is used", mixed)
    return {day: max(found, key=int) for day, found in versions.items()}


def _rows_of(frame: pl.DataFrame, day: date) -> pl.DataFrame:
    return frame.filter(pl.col("as_of").dt.date() == day)


def _with_outcome(frame: pl.DataFrame) -> pl.DataFrame:
    """The population's label as one `outcome` column, as `monitoring.outcomes.snapshot_outcomes` names it."""
    labels = [label for label, _ in POPULATION_LABELS.values()]
    return frame.with_columns(pl.coalesce(labels).cast(pl.Int8).alias(OUTCOME))
