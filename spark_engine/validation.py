"""Validation and rejects on Spark, with the in-process loader's checks, texts and row numbers.

Nothing about what makes a row bad is written here: each Arrow batch goes through
`features.contract.check_rows`, the function `load_raw` itself uses, in a `mapInArrow`. Only the
unique-key rule (a repeated `transaction_id` or `customer_id`) needs more than a batch:

1. the batches are checked as if no row repeated a key, and every row's key comes out beside it,
   parsed by the contract (`parse_unique_key`);
2. the keys are grouped across the whole table (in the JVM, from the persisted result): every row
   after the first one of its key learns where that key was first seen;
3. only those rows (usually none or few) are read and checked again, with that knowledge, so the
   contract words all of their reasons in its own order, and replace their first check.

When the first row is in another part file of a folder table, the reason names that file ("first
seen at row 12 of part-00001.csv").

The structural checks (missing required column, a column of a type the contract cannot read) run on
the driver, on an empty frame with the table's columns and types, so they fail fast with the
contract's message instead of inside a task.

The checked rows are persisted (memory, then disk): counting them, finding repeats, writing the
rejects and building features then read them instead of parsing the files again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
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
from spark_engine.reading import FILE_COLUMN, ROW_COLUMN, TABLES, TableSource, column, find_tables, read_rows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

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
            checked, accepted_schema, persisted_now = _checked_rows(spark, source)
            persisted.extend(persisted_now)
            partitions[table] = checked.rdd.getNumPartitions()
            counts[table] = _file_counts(checked, source.name)
            logger.info(
                "%s: %d rows accepted, %d rejected",
                source.name,
                counts[table].accepted,
                counts[table].rejected,
            )
            is_rejected = checked[REASON_COLUMN].isNotNull()
            tables[table] = checked.where(~is_rejected).select(*map(column, accepted_schema))
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


def _checked_rows(spark: SparkSession, source: TableSource) -> tuple[DataFrame, list[str], list[DataFrame]]:
    """Every row of the table, checked: canonical columns, then file, row, reason, record (and key).

    Accepted rows have a null reason and record; rejected rows null canonical columns. Also returns
    the accepted columns and the frames persisted on the way.
    """
    rows = read_rows(spark, source)
    raw_columns = tuple(c for c in rows.columns if c not in (FILE_COLUMN, ROW_COLUMN))
    empty = polars_frame(arrow_schema(rows.select(*map(column, raw_columns)).schema).empty_table())
    accepted_sample, _ = check_rows(empty, source.table, source.name)  # structural errors, on the driver
    key = UNIQUE_KEYS.get(source.table)
    key = key if key in raw_columns else None
    bookkeeping: dict[str, pl.DataType] = {
        FILE_COLUMN: pl.String(),
        ROW_COLUMN: pl.Int64(),
        REASON_COLUMN: pl.String(),
        RECORD_COLUMN: pl.String(),
        **({_KEY_COLUMN: pl.String()} if key is not None else {}),
    }
    accepted = tuple(accepted_sample.columns)
    output = spark_schema({**accepted_sample.rename(_positional(accepted, "out")).schema, **bookkeeping})
    checker = _BatchChecker(source.table, raw_columns, accepted, key, arrow_schema(output))
    inputs = _positional(raw_columns, "in")
    rows = rows.select(*(column(c).alias(inputs[c]) for c in raw_columns), FILE_COLUMN, ROW_COLUMN)
    checked = rows.mapInArrow(checker.without_repeats, output).persist()
    persisted = [checked]
    if key is not None:
        repeats = _repeats(checked).persist()
        persisted.append(repeats)
        repeated = repeats.count()
        logger.info("%s: %d rows repeat an earlier %s", source.name, repeated, key)
        if repeated:
            checked, rechecked = _with_repeats_rechecked(rows, checked, repeats, repeated, checker, output)
            persisted.append(rechecked)
    outputs = _positional(accepted, "out")
    checked = checked.select(
        *(column(outputs[c]).alias(c) for c in accepted), *(c for c in bookkeeping if c in checked.columns)
    )
    return checked, list(accepted), persisted


def _positional(columns: tuple[str, ...], prefix: str) -> dict[str, str]:
    """Names by position (`_in0`, `_in1`, ...): PySpark's Arrow UDFs resolve their input columns by
    name, which fails for names with dots in them, so the tables cross into Python under these."""
    return {name: f"_{prefix}{i}" for i, name in enumerate(columns)}


def _repeats(checked: DataFrame) -> DataFrame:
    """(file, row, where first seen) of every row whose key an earlier row of the table has.

    The first row of a key is the smallest (file, row) with it, as in process within one file; the
    place is the row number, or "<row> of <file>" when it is in another file of a folder table.
    """
    from pyspark.sql import functions as F

    present = checked.where(F.col(_KEY_COLUMN).isNotNull()).select(FILE_COLUMN, ROW_COLUMN, _KEY_COLUMN)
    firsts = (
        present.groupBy(_KEY_COLUMN)
        .agg(F.min(F.struct(FILE_COLUMN, ROW_COLUMN)).alias("_first"), F.count(F.lit(1)).alias("_n"))
        .where(F.col("_n") > 1)
    )
    first_file, first_row = F.col(f"_first.{FILE_COLUMN}"), F.col(f"_first.{ROW_COLUMN}")
    first_seen = F.when(first_file == F.col(FILE_COLUMN), first_row.cast("string")).otherwise(
        F.concat(first_row.cast("string"), F.lit(" of "), first_file)
    )
    return (
        present.join(firsts, on=_KEY_COLUMN)
        .where((first_file != F.col(FILE_COLUMN)) | (first_row != F.col(ROW_COLUMN)))
        .select(FILE_COLUMN, ROW_COLUMN, first_seen.alias(FIRST_SEEN_COLUMN))
    )


def _with_repeats_rechecked(
    rows: DataFrame,
    checked: DataFrame,
    repeats: DataFrame,
    repeated: int,
    checker: _BatchChecker,
    output: StructType,
) -> tuple[DataFrame, DataFrame]:
    """The repeating rows checked again from their raw records, now knowing where each key was first
    seen (so the contract words every reason of theirs, in its order), in place of their first check."""
    from pyspark.sql import functions as F

    small = repeated < BROADCAST_REPEATS_BELOW
    place = F.broadcast(repeats) if small else repeats
    rechecked = (
        rows.join(place, on=[FILE_COLUMN, ROW_COLUMN]).mapInArrow(checker.with_repeats, output).persist()
    )
    places = repeats.select(FILE_COLUMN, ROW_COLUMN)
    others = checked.join(
        F.broadcast(places) if small else places, on=[FILE_COLUMN, ROW_COLUMN], how="left_anti"
    )
    return others.unionByName(rechecked), rechecked


@dataclass(frozen=True)
class _BatchChecker:
    """mapInArrow functions: `check_rows` on each Arrow batch, per file, rejects renumbered to file rows.

    `without_repeats` runs before the repeated keys are known: it tells the contract that no row
    repeats one (the repeats are found across the whole table afterwards) and returns every row's
    key; `with_repeats` checks the repeating rows again with where their keys were first seen.
    """

    table: str
    raw_columns: tuple[str, ...]
    accepted_columns: tuple[str, ...]
    key: str | None
    output: pa.Schema

    def without_repeats(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return self._check(batches, with_first_seen=False)

    def with_repeats(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return self._check(batches, with_first_seen=True)

    def _check(self, batches: Iterator[pa.RecordBatch], *, with_first_seen: bool) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            frame = polars_frame(batch)
            for (file_name,), part in frame.partition_by(
                FILE_COLUMN, as_dict=True, maintain_order=True
            ).items():
                checked = self._check_part(part, str(file_name), with_first_seen=with_first_seen)
                yield from to_spark_arrow(checked, self.output).to_batches()

    def _check_part(self, part: pl.DataFrame, file_name: str, *, with_first_seen: bool) -> pl.DataFrame:
        inputs = _positional(self.raw_columns, "in")
        raw = part.select(inputs[c] for c in self.raw_columns).rename({v: k for k, v in inputs.items()})
        if with_first_seen:
            first_seen = part.get_column(FIRST_SEEN_COLUMN)
        else:
            first_seen = pl.repeat(None, part.height, dtype=pl.String, eager=True)
        accepted, rejects = check_rows(raw, self.table, file_name, first_seen=first_seen)
        positions = rejects.get_column("row_number") - 1
        rejected = [
            pl.col("file").alias(FILE_COLUMN),
            part.get_column(ROW_COLUMN).gather(positions).alias(ROW_COLUMN),
            pl.col("reason").alias(REASON_COLUMN),
            pl.col("record").alias(RECORD_COLUMN),
        ]
        kept = [
            pl.lit(file_name, dtype=pl.String).alias(FILE_COLUMN),
            part.get_column(ROW_COLUMN).gather(_complement(positions, part.height)).alias(ROW_COLUMN),
        ]
        if self.key is not None:
            keys = parse_unique_key(raw.get_column(self.key), self.table, file_name).cast(pl.String)
            rejected.append(keys.gather(positions).alias(_KEY_COLUMN))
            kept.append(pl.col(self.key).cast(pl.String).alias(_KEY_COLUMN))
        accepted = accepted.with_columns(kept).rename(_positional(self.accepted_columns, "out"))
        return pl.concat([accepted, rejects.select(rejected)], how="diagonal")


def _complement(positions: pl.Series, height: int) -> pl.Series:
    """The positions in range(height) that are not in `positions` (sorted), in order."""
    if positions.is_empty():
        return pl.int_range(height, dtype=pl.Int64, eager=True)
    is_kept = pl.repeat(True, height, dtype=pl.Boolean, eager=True).scatter(positions, False)
    return is_kept.arg_true().cast(pl.Int64)


def _file_counts(checked: DataFrame, name: str) -> FileCounts:
    from pyspark.sql import functions as F

    is_rejected = F.col(REASON_COLUMN).isNotNull()
    row = checked.agg(
        F.count(F.when(~is_rejected, 1)).alias("accepted"), F.count(F.when(is_rejected, 1)).alias("rejected")
    ).first()
    assert row is not None
    return FileCounts(name, int(row["accepted"]), int(row["rejected"]))
