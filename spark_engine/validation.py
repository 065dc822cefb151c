"""Validation and rejects on Spark, with the in-process loader's checks, texts and row numbers.

Nothing about what makes a row bad is written here: each Arrow batch goes through
`features.contract.check_rows`, the function `load_raw` itself uses, in a `mapInArrow`. Only the
unique-key rule (a repeated `transaction_id` or `customer_id`) needs more than a batch: the keys are
parsed by the contract (`parse_unique_key`), grouped across the whole table, and every repeat after
the first row learns where its key was first seen; the contract then words the reason as it does in
process. When the first row is in another part file of a folder table, the reason names that file
("first seen at row 12 of part-00001.csv").

The structural checks (missing required column, a column of a type the contract cannot read) run on
the driver, on an empty frame with the table's columns and types, so they fail fast with the
contract's message instead of inside a task.

The checked rows of each table are persisted (memory, then disk): counting them, writing the rejects
and building features then read them once instead of parsing the files again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from features.contract import (
    CUSTOMERS_BASE_SCHEMA,
    INTERACTIONS_SCHEMA,
    REJECTS_SCHEMA,
    TRANSACTIONS_SCHEMA,
    UNIQUE_KEYS,
    FileCounts,
    check_rows,
    parse_unique_key,
)
from spark_engine.arrow import arrow_schema, polars_frame, quiet_pandas_warning, spark_schema, to_spark_arrow
from spark_engine.reading import FILE_COLUMN, ROW_COLUMN, TABLES, TableSource, find_tables, read_rows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

CANONICAL_SCHEMAS = {
    "transactions": TRANSACTIONS_SCHEMA,
    "customers": CUSTOMERS_BASE_SCHEMA,
    "interactions": INTERACTIONS_SCHEMA,
}
FIRST_SEEN_COLUMN = "_first_seen"
REASON_COLUMN = "_reason"
RECORD_COLUMN = "_record"
_KEY_COLUMN = "_key"
# Above this many repeated rows the join that hands them to the batches is left to Spark's planner.
BROADCAST_REPEATS_BELOW = 1_000_000


@dataclass(frozen=True)
class SparkLoad:
    """A data folder read and checked on Spark: what `features.contract.LoadResult` is in process.

    `tables` holds the accepted rows of all three tables in canonical form (an absent optional file is
    an empty frame); `counts` only the files that were present; `partitions` the input partitions
    read, per table.
    """

    tables: dict[str, DataFrame]
    attribute_columns: tuple[str, ...]
    rejects: DataFrame
    counts: dict[str, FileCounts]
    partitions: dict[str, int]
    _persisted: list[DataFrame] = field(default_factory=list, repr=False)

    @property
    def rejected(self) -> int:
        return sum(counts.rejected for counts in self.counts.values())

    def release(self) -> None:
        """Drop the persisted rows once every job that reads them has run."""
        for frame in self._persisted:
            frame.unpersist()


def load_raw_spark(spark: SparkSession, data_uri: str) -> SparkLoad:
    """Read and check a raw CRM folder on Spark, as `features.contract.load_raw` does in process.

    Parameters
    ----------
    data_uri: a folder any of the session's Hadoop file systems can read (a local path, hdfs://,
        s3a://, ...), holding the contract's files as CSV or Parquet (files or folders of part files).

    Returns
    -------
    The accepted rows, the rejects (`REJECTS_SCHEMA`) and the counts per file; counting runs the
    checks, so this returns once every file has been read and checked.

    Raises
    ------
    DataContractError: a missing or doubled file, a missing required column, an unreadable file or a
        column of a type the contract cannot read, with the in-process message.
    """
    sources = find_tables(spark, data_uri)
    tables: dict[str, DataFrame] = {}
    rejects: list[DataFrame] = []
    counts: dict[str, FileCounts] = {}
    partitions: dict[str, int] = {}
    persisted: list[DataFrame] = []
    attributes: tuple[str, ...] = ()
    with quiet_pandas_warning():
        for table in TABLES:
            source = sources.get(table)
            if source is None:
                tables[table] = spark.createDataFrame([], spark_schema(CANONICAL_SCHEMAS[table]))
                continue
            checked, accepted_schema = _checked_rows(spark, source)
            checked = checked.persist()
            persisted.append(checked)
            partitions[table] = checked.rdd.getNumPartitions()
            counts[table] = _file_counts(checked, source.name)
            logger.info(
                "%s: %d rows accepted, %d rejected",
                source.name,
                counts[table].accepted,
                counts[table].rejected,
            )
            is_rejected = checked[REASON_COLUMN].isNotNull()
            tables[table] = checked.where(~is_rejected).select(*accepted_schema)
            rejects.append(
                checked.where(is_rejected).select(
                    checked[FILE_COLUMN].alias("file"),
                    checked[ROW_COLUMN].alias("row_number"),
                    checked[REASON_COLUMN].alias("reason"),
                    checked[RECORD_COLUMN].alias("record"),
                )
            )
            if table == "customers":
                attributes = tuple(c for c in accepted_schema if c not in CUSTOMERS_BASE_SCHEMA)
        all_rejects = spark.createDataFrame([], spark_schema(REJECTS_SCHEMA))
        for frame in rejects:
            all_rejects = all_rejects.unionByName(frame)
    return SparkLoad(tables, attributes, all_rejects, counts, partitions, persisted)


def write_rejects_dataset(load: SparkLoad, uri: str) -> str | None:
    """Write the rejected rows as a Parquet dataset at `uri`, ordered by file and row; nothing if none."""
    if load.rejected == 0:
        return None
    load.rejects.orderBy("file", "row_number").write.mode("overwrite").parquet(uri)
    logger.info("wrote %d rejected rows to %s", load.rejected, uri)
    return uri


def _checked_rows(spark: SparkSession, source: TableSource) -> tuple[DataFrame, list[str]]:
    """Every row of the table, checked: canonical columns, then file, row, reason and record.

    Accepted rows have a null reason (and record); rejected rows null canonical columns.
    """
    rows = read_rows(spark, source)
    raw_columns = [c for c in rows.columns if c not in (FILE_COLUMN, ROW_COLUMN)]
    empty = polars_frame(arrow_schema(rows.select(*raw_columns).schema).empty_table())
    accepted_sample, _ = check_rows(empty, source.table, source.name)  # structural errors, on the driver
    key = UNIQUE_KEYS.get(source.table)
    if key is not None and key in raw_columns:
        rows = _with_first_seen(source, rows, key)
    output = spark_schema(
        {
            **accepted_sample.schema,
            FILE_COLUMN: pl.String(),
            ROW_COLUMN: pl.Int64(),
            REASON_COLUMN: pl.String(),
            RECORD_COLUMN: pl.String(),
        }
    )
    check = _batch_checker(source.table, raw_columns, FIRST_SEEN_COLUMN in rows.columns, arrow_schema(output))
    return rows.mapInArrow(check, output), accepted_sample.columns


def _with_first_seen(source: TableSource, rows: DataFrame, key: str) -> DataFrame:
    """`rows` with `_first_seen` on every row that repeats an earlier key; unchanged if none does.

    The first row of a key is the smallest (file, row) with it, as in process within one file.
    """
    from pyspark.sql import functions as F

    keys = rows.select(FILE_COLUMN, ROW_COLUMN, key).mapInArrow(
        _key_parser(source.table, key, source.name),
        f"{FILE_COLUMN} string, {ROW_COLUMN} long, {_KEY_COLUMN} string",
    )
    present = keys.where(F.col(_KEY_COLUMN).isNotNull())
    firsts = (
        present.groupBy(_KEY_COLUMN)
        .agg(F.min(F.struct(FILE_COLUMN, ROW_COLUMN)).alias("_first"), F.count(F.lit(1)).alias("_n"))
        .where(F.col("_n") > 1)
    )
    first_file, first_row = F.col(f"_first.{FILE_COLUMN}"), F.col(f"_first.{ROW_COLUMN}")
    first_seen = F.when(first_file == F.col(FILE_COLUMN), first_row.cast("string")).otherwise(
        F.concat(first_row.cast("string"), F.lit(" of "), first_file)
    )
    repeats = (
        present.join(firsts, on=_KEY_COLUMN)
        .where((first_file != F.col(FILE_COLUMN)) | (first_row != F.col(ROW_COLUMN)))
        .select(FILE_COLUMN, ROW_COLUMN, first_seen.alias(FIRST_SEEN_COLUMN))
        .persist()
    )
    repeated = repeats.count()
    logger.info("%s: %d rows repeat an earlier %s", source.name, repeated, key)
    if repeated == 0:
        repeats.unpersist()
        return rows
    if repeated < BROADCAST_REPEATS_BELOW:
        repeats = F.broadcast(repeats)
    return rows.join(repeats, on=[FILE_COLUMN, ROW_COLUMN], how="left")


def _key_parser(
    table: str, key: str, file_name: str
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A mapInArrow function: the unique key of each row as the contract compares it."""

    def parse(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            frame = polars_frame(batch)
            value = parse_unique_key(frame.get_column(key), table, file_name).cast(pl.String)
            out = frame.select(FILE_COLUMN, ROW_COLUMN, value.alias(_KEY_COLUMN))
            yield from out.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(_KEY_SCHEMA).to_batches()

    return parse


_KEY_SCHEMA = pa.schema([(FILE_COLUMN, pa.string()), (ROW_COLUMN, pa.int64()), (_KEY_COLUMN, pa.string())])


def _batch_checker(
    table: str, raw_columns: list[str], with_first_seen: bool, output: pa.Schema
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A mapInArrow function: `check_rows` on each batch, per file, rejects renumbered to file rows."""

    def check(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            frame = polars_frame(batch)
            for (file_name,), part in frame.partition_by(
                FILE_COLUMN, as_dict=True, maintain_order=True
            ).items():
                first_seen = part.get_column(FIRST_SEEN_COLUMN) if with_first_seen else None
                accepted, rejects = check_rows(
                    part.select(raw_columns), table, str(file_name), first_seen=first_seen
                )
                positions = rejects.get_column("row_number") - 1
                rejects = rejects.select(
                    pl.col("file").alias(FILE_COLUMN),
                    part.get_column(ROW_COLUMN).gather(positions).alias(ROW_COLUMN),
                    pl.col("reason").alias(REASON_COLUMN),
                    pl.col("record").alias(RECORD_COLUMN),
                )
                accepted = accepted.with_columns(pl.lit(file_name, dtype=pl.String).alias(FILE_COLUMN))
                checked = pl.concat([accepted, rejects], how="diagonal")
                yield from to_spark_arrow(checked, output).to_batches()

    return check


def _file_counts(checked: DataFrame, name: str) -> FileCounts:
    from pyspark.sql import functions as F

    is_rejected = F.col(REASON_COLUMN).isNotNull()
    row = checked.agg(
        F.count(F.when(~is_rejected, 1)).alias("accepted"), F.count(F.when(is_rejected, 1)).alias("rejected")
    ).first()
    assert row is not None
    return FileCounts(name, int(row["accepted"]), int(row["rejected"]))
