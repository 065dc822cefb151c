"""Reading the raw-data contract's files with Spark, from any path its Hadoop file systems can reach.

A data folder (local, `hdfs://`, `s3a://`, whatever the cluster's Hadoop configuration allows) holds
`transactions`, and optionally `customers` and `interactions`, each as `<table>.csv` or
`<table>.parquet`; on a data lake either may also be a folder of part files. CSV is read with every
column as text, as in process, so that the contract's parsers, not Spark's type inference, decide what
is bad.

Row numbers are those of the in-process loader: the 1-based data row within its file (header
excluded), so that a rejected row can be found in the file it came from.

- Parquet: Spark's hidden `_metadata.row_index` column is the row's position in its file.
- CSV: Spark splits a large file into byte ranges (`_metadata.file_block_start`), several of which
  may be packed into one task in any order, so neither the task order nor
  `monotonically_increasing_id` alone is the file order. Within one range, rows are read in file
  order and get consecutive ids; so the rows of each range are counted (one small aggregation,
  collected to the driver), each range's offset is the sum of the counts of the ranges before it in
  its file (the zipWithIndex idea, per range instead of per partition), and a row's number is its
  range's offset plus its place within the range. Splits are deterministic for the same files and
  settings, so the second read, which assigns the numbers, sees the ranges the first one counted.
  CSV lines are records here (`multiLine` off, which is what lets Spark split a file): a quoted field
  holding a line break, which the in-process reader accepts, is not supported, and Spark skips blank
  lines, which polars does not count either.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from domain.errors import DataContractError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

logger = logging.getLogger(__name__)

TABLES = ("transactions", "customers", "interactions")
REQUIRED_TABLES = ("transactions",)
FILE_COLUMN = "_file"
ROW_COLUMN = "_row"
_BLOCK_COLUMN = "_block"
_ID_COLUMN = "_id"
# RFC 4180 quoting, as polars reads it: a quote inside a quoted field is doubled, not backslashed.
CSV_OPTIONS = {"header": "true", "inferSchema": "false", "escape": '"', "multiLine": "false"}


@dataclass(frozen=True)
class TableSource:
    """Where one table of the contract is: `name` is the entry in the data folder (as rejects name it)."""

    table: str
    uri: str
    name: str
    file_format: Literal["csv", "parquet"]
    is_folder: bool


def find_tables(spark: SparkSession, data_uri: str) -> dict[str, TableSource]:
    """The tables present in `data_uri`, with the in-process loader's rules and messages.

    Raises
    ------
    DataContractError: the folder does not exist, holds both a CSV and a Parquet entry of one table,
    or has no transactions.
    """
    folder = data_uri.rstrip("/")
    file_system, path_class = _hadoop_file_system(spark, folder)
    root = path_class(folder)
    if not file_system.exists(root) or not file_system.getFileStatus(root).isDirectory():
        raise DataContractError(f"data folder {data_uri} does not exist or is not a folder")
    sources: dict[str, TableSource] = {}
    for table in TABLES:
        present = []
        for file_format in ("csv", "parquet"):
            path = path_class(f"{folder}/{table}.{file_format}")
            if file_system.exists(path):
                name = f"{table}.{file_format}"
                is_folder = bool(file_system.getFileStatus(path).isDirectory())
                present.append(TableSource(table, f"{folder}/{name}", name, file_format, is_folder))
        if len(present) > 1:
            raise DataContractError(
                f"{data_uri} holds both {table}.csv and {table}.parquet; keep only one of them"
            )
        if present:
            sources[table] = present[0]
        elif table in REQUIRED_TABLES:
            raise DataContractError(f"{data_uri} has no {table}.csv or {table}.parquet; it is required")
        else:
            logger.info("no %s file in %s: using an empty table", table, data_uri)
    return sources


def read_rows(spark: SparkSession, source: TableSource) -> DataFrame:
    """The table's columns as read (names stripped), plus its file and 1-based data row number.

    Raises
    ------
    DataContractError: the file cannot be read, or two columns have the same name once stripped.
    """
    from pyspark.sql import functions as F

    try:
        reader = spark.read.options(**CSV_OPTIONS) if source.file_format == "csv" else spark.read
        scan = reader.format(source.file_format).load(source.uri)
    except Exception as exc:  # Spark's analysis errors and py4j's carry the Hadoop message
        raise DataContractError(f"{source.name} cannot be read as {source.file_format}: {exc}") from exc
    names = [column.strip() for column in scan.columns]
    if len(set(names)) != len(names):
        raise DataContractError(f"{source.name} has duplicate column names {names}; rename them")
    file_name = F.col("_metadata.file_name")
    if source.is_folder:
        file_name = F.concat(F.lit(f"{source.name}/"), file_name)
    columns = [column(old).alias(new) for old, new in zip(scan.columns, names, strict=True)]
    if source.file_format == "parquet":
        row = F.col("_metadata.row_index") + 1
        return scan.select(*columns, file_name.alias(FILE_COLUMN), row.alias(ROW_COLUMN))
    return _numbered_csv_rows(
        spark,
        scan.select(
            *columns,
            file_name.alias(FILE_COLUMN),
            F.col("_metadata.file_block_start").alias(_BLOCK_COLUMN),
            F.monotonically_increasing_id().alias(_ID_COLUMN),
        ),
    )


def _numbered_csv_rows(spark: SparkSession, rows: DataFrame) -> DataFrame:
    """Row numbers from (file, byte range, id within the range); see the module docstring."""
    from pyspark.sql import functions as F

    ranges = (
        rows.groupBy(FILE_COLUMN, _BLOCK_COLUMN)
        .agg(F.count(F.lit(1)).alias("rows"), F.min(_ID_COLUMN).alias("first_id"))
        .collect()
    )
    offsets = []
    seen_in_file: dict[str, int] = {}
    for file, block, count, first_id in sorted(ranges, key=lambda r: (r[FILE_COLUMN], r[_BLOCK_COLUMN])):
        before = seen_in_file.get(file, 0)
        offsets.append((file, block, before - first_id + 1))
        seen_in_file[file] = before + count
    logger.debug("numbered %d CSV rows in %d byte ranges", sum(seen_in_file.values()), len(offsets))
    shift = spark.createDataFrame(offsets, f"{FILE_COLUMN} string, {_BLOCK_COLUMN} long, _shift long")
    return (
        rows.join(F.broadcast(shift), on=[FILE_COLUMN, _BLOCK_COLUMN], how="left")
        .withColumn(ROW_COLUMN, F.col(_ID_COLUMN) + F.col("_shift"))
        .drop(_BLOCK_COLUMN, _ID_COLUMN, "_shift")
    )


def column(name: str) -> Column:
    """A top-level column by its exact name, even one with dots, spaces or backticks in it."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _hadoop_file_system(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    """Hadoop's FileSystem for `uri` (local, hdfs, s3a, ...) through the session's JVM."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    path_class = jvm.org.apache.hadoop.fs.Path
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    return path_class(uri).getFileSystem(hadoop_conf), path_class
