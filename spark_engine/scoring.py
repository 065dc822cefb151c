"""Batch scoring on Spark: the champion pair resolved once, loaded once per Python worker, scored per bucket.

The driver resolves the registry's `champion` alias to a version once (`champion_loader`) and never
loads a model: the snapshot's Spark schema is declared (`serving.serialise.SNAPSHOT_SCHEMA`), not
read from a scored sample. What travels to every task is a `PairLoader`: the registry URI, that
version and the playbook's text (a few strings). In each Python worker the first bucket loads the
pair by version (`model_contract.registry.load_pair_version`) and builds the in-process
`serving.predictor.Predictor`; Spark reuses its Python workers, so later buckets in the same process
find it in a per-process cache (a bounded `functools.lru_cache` keyed by the loader). Loading by
version, not by alias, means every worker scores with the same models even if the champion moves
while the job runs.

Per bucket the work is exactly `clvchurn score`'s: `features.build.build_features` on the bucket's
complete histories, then `Predictor.score(features).to_frame()` (populations, the pair's
probabilities and values with TreeSHAP, tiers, reason codes, risk bands, stages and the playbook's
decision). Every one of those is a function of one customer's row, so the union of the buckets is the
in-process snapshot, row for row (tests/spark prove it).

The snapshot is a Parquet dataset (a folder of part files, no partition columns) that
`serving.snapshot_store.SnapshotStore` reads; `history_entry` is where it goes in a snapshot history
(`DIR/as_of=YYYY-MM-DD/`, the layout `clvchurn monitor` reads), copied there file by file.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import yaml

from domain.errors import ModelNotReadyError
from features.build import build_features
from features.contract import RawData
from model_contract import CHAMPION, PAIR_MODEL_NAME, aliased_version, resolve_tracking_uri
from model_contract.registry import load_pair_version
from policy.playbook import Playbook
from serving.batch import CHUNK_ROWS
from serving.predictor import Predictor
from serving.serialise import SNAPSHOT_SCHEMA, empty_snapshot
from serving.text import Texts
from serving.text.catalogues import Catalogues
from spark_engine.arrow import spark_schema, timestamp_literal
from spark_engine.buckets import BUCKET_COLUMN, apply_per_bucket
from spark_engine.storage import copy_folder, hidden_sibling, replace_folder
from spark_engine.tables import WrittenDataset
from spark_engine.validation import SparkLoad
from spark_engine.worker_errors import worker_errors

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

HISTORY_PARTITION = "as_of"
# Predictors a worker keeps: one job scores with one pair; a second allows a notebook to switch.
CACHED_PREDICTORS = 2


@dataclass(frozen=True)
class PairLoader:
    """What a scoring task needs to build the predictor in its worker: strings only, never the models."""

    tracking_uri: str
    version: str
    playbook_yaml: str

    def predictor(self) -> Predictor:
        """The pair and playbook as an in-process `Predictor`, built once per Python process."""
        return _predictor(self)


@functools.lru_cache(maxsize=CACHED_PREDICTORS)
def _predictor(loader: PairLoader) -> Predictor:
    started = time.perf_counter()
    loaded = load_pair_version(loader.version, loader.tracking_uri)
    playbook = Playbook.model_validate(yaml.safe_load(loader.playbook_yaml))  # checked on the driver
    predictor = Predictor(loaded, Texts.of(Catalogues.load(), playbook), loader.tracking_uri)
    logger.info("loaded %s v%s in %.1f s", PAIR_MODEL_NAME, loader.version, time.perf_counter() - started)
    return predictor


def champion_loader(tracking_uri: str | None, playbook_path: Path) -> PairLoader:
    """The champion's version and the playbook, resolved on the driver without loading any model.

    A relative SQLite store (the default `sqlite:///mlruns/mlflow.db`) is made absolute, so workers
    started in another directory find it. The playbook is read and checked here, so a broken one
    stops the job before Spark runs anything.

    Raises
    ------
    ModelNotReadyError: the registry has no champion.
    PlaybookError: the playbook is unreadable or breaks a rule.
    """
    uri = absolute_tracking_uri(resolve_tracking_uri(tracking_uri))
    found = aliased_version(PAIR_MODEL_NAME, CHAMPION, uri)
    if found is None:
        raise ModelNotReadyError(
            f"no '{CHAMPION}' version of model '{PAIR_MODEL_NAME}' in {uri}. Train one first: "
            "`clvchurn train --data DIR` (or `make demo`), or point MLFLOW_TRACKING_URI at the registry."
        )
    Texts.load(playbook_path)
    return PairLoader(uri, found.version, Path(playbook_path).read_text(encoding="utf-8"))


def score_bucket(raw: RawData, as_of: datetime, loader: PairLoader) -> pl.DataFrame:
    """One bucket's snapshot rows: what `serving.batch.score_base` gives these customers.

    Scored in `serving.batch.CHUNK_ROWS` slices, as in process, so a large bucket's TreeSHAP
    contributions never sit in memory all at once; each row depends on its customer only.
    """
    features = build_features(raw, as_of)
    if features.is_empty():
        return empty_snapshot()
    predictor = loader.predictor()
    return pl.concat(
        predictor.score(features.slice(start, CHUNK_ROWS)).to_frame()
        for start in range(0, features.height, CHUNK_ROWS)
    )


def snapshot_table(load: SparkLoad, as_of: datetime, loader: PairLoader, buckets: int) -> DataFrame:
    """Every customer known at `as_of`, scored, in the snapshot's columns (no bucket)."""
    compute = partial(score_bucket, as_of=as_of, loader=loader)
    scored = apply_per_bucket(load, compute, buckets, schema=spark_schema(SNAPSHOT_SCHEMA))
    return scored.drop(BUCKET_COLUMN)


def write_snapshot_dataset(spark: SparkSession, frame: DataFrame, uri: str) -> WrittenDataset:
    """Write the snapshot as a Parquet dataset at `uri`, swapped in whole once complete."""
    started = time.perf_counter()
    staged = hidden_sibling(uri, "partial")
    with worker_errors():
        frame.write.parquet(staged)
    replace_folder(spark, staged, uri)
    written = spark.read.parquet(uri)
    result = WrittenDataset(uri, written.count(), len(written.inputFiles()), time.perf_counter() - started)
    logger.info("wrote %d scored customers in %d files to %s", result.rows, result.files, uri)
    return result


def history_entry(history_uri: str, as_of: datetime) -> str:
    """The folder of one cutoff's snapshot in a history: `DIR/as_of=YYYY-MM-DD`."""
    return f"{history_uri.rstrip('/')}/{HISTORY_PARTITION}={as_of.date().isoformat()}"


def add_to_history(spark: SparkSession, snapshot_uri: str, history_uri: str, as_of: datetime) -> str:
    """Copy a written snapshot dataset into the history, replacing that cutoff's entry; its folder."""
    entry = history_entry(history_uri, as_of)
    copy_folder(spark, snapshot_uri, entry)
    logger.info("snapshot as of %s kept in %s", as_of.date(), entry)
    return entry


def tier_counts(spark: SparkSession, uri: str) -> dict[str, int]:
    """Customers per tier in a written snapshot dataset (one column read)."""
    rows = spark.read.parquet(uri).groupBy("tier").count().collect()
    return {str(row["tier"]): int(row["count"]) for row in sorted(rows, key=lambda row: str(row["tier"]))}


def events_table(load: SparkLoad, as_of: datetime) -> DataFrame:
    """The timeline events before `as_of` (`serving.events.timeline_events`), on Spark."""
    from pyspark.sql import functions as F

    before = F.col("timestamp") < timestamp_literal(as_of)
    transactions = load.tables["transactions"].where(before)
    interactions = load.tables["interactions"].where(before)
    return transactions.select(
        "customer_id",
        "timestamp",
        F.when(F.col("amount") < 0, F.lit("refund")).otherwise(F.lit("order")).alias("kind"),
        "amount",
        F.lit(None).cast("double").alias("value"),
    ).unionByName(
        interactions.select(
            "customer_id",
            "timestamp",
            F.col("type").alias("kind"),
            F.lit(None).cast("double").alias("amount"),
            "value",
        )
    )


def absolute_tracking_uri(uri: str) -> str:
    """A relative SQLite store made absolute, so workers started in another directory find it."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str(Path(uri.removeprefix(prefix)).resolve())
    return uri
