"""Any per-customer computation over `RawData`, run on Spark one hash bucket of customers at a time.

Every clvchurn computation on histories (features, labels, training tables, and next scoring) is an
aggregation over each customer's own events, so it gives the same rows on any partition of customers
as on the whole base (tests/features prove it for `build_features`). On Spark that makes the plan:

1. the three checked tables unioned into one long frame with a `source` column (the columns of the
   other tables null; customers' attributes named by position, `attribute__0`, ..., so that they never
   collide with an event column and PySpark's UDFs can resolve them even with dots in their names);
2. `bucket = pmod(hash(customer_id), N)`, so a bucket holds complete histories of its customers;
3. `groupBy("bucket").applyInArrow(fn, schema)`: Spark sends each bucket's rows to one Python worker
   as one Arrow table, `fn` splits it by `source` into a canonical `RawData` (Arrow to polars, no
   pandas), calls the computation and returns its frame as Arrow.

The only shuffle is the one that groups by bucket. A bucket is held in one worker's memory at once,
so N must keep buckets small enough (see `session.bucket_count`); the output schema is the
computation's own, found by calling it on an empty history on the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from features.contract import (
    CUSTOMERS_BASE_SCHEMA,
    INTERACTIONS_SCHEMA,
    TRANSACTIONS_SCHEMA,
    RawData,
    empty_frame,
)
from spark_engine.arrow import arrow_schema, polars_frame, quiet_pandas_warning, spark_schema, to_spark_arrow
from spark_engine.reading import column
from spark_engine.validation import SparkLoad

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

SOURCE_COLUMN = "source"
BUCKET_COLUMN = "bucket"
ATTRIBUTE_PREFIX = "attribute__"

Computation = Callable[[RawData], pl.DataFrame]
"""What runs per bucket: canonical histories in, one polars frame out (picklable: a module-level
function or a `functools.partial` of one)."""


def apply_per_bucket(
    load: SparkLoad, compute: Computation, buckets: int, *, schema: StructType | None = None
) -> DataFrame:
    """`compute` on every bucket of customers; its rows with their `bucket` (an int) last.

    Parameters
    ----------
    load: the checked tables (`validation.load_raw_spark`).
    compute: the per-bucket computation; it must give a customer the same rows whatever other
        customers share its bucket.
    buckets: N in `pmod(hash(customer_id), N)`.
    schema: the Spark schema of `compute`'s frame; by default that of `compute` on an empty history
        with the data's attribute columns (pass it when the computation cannot run on the driver).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import IntegerType, StructField, StructType

    attributes = load.attribute_columns
    if schema is None:
        schema = spark_schema(compute(empty_raw(attributes)).schema)
    output = StructType([*schema.fields, StructField(BUCKET_COLUMN, IntegerType(), nullable=False)])
    bucket = F.pmod(F.hash("customer_id"), F.lit(buckets)).cast("int")
    with quiet_pandas_warning():
        return (
            long_frame(load)
            .withColumn(BUCKET_COLUMN, bucket)
            .groupBy(BUCKET_COLUMN)
            .applyInArrow(_bucket_function(compute, attributes, arrow_schema(output)), output)
        )


def long_frame(load: SparkLoad) -> DataFrame:
    """The three tables as one frame: `source` names the table, other tables' columns are null."""
    from pyspark.sql import functions as F

    customers = load.tables["customers"]
    customers = customers.select(
        *(F.col(c) for c in CUSTOMERS_BASE_SCHEMA),
        *(column(a).alias(f"{ATTRIBUTE_PREFIX}{i}") for i, a in enumerate(load.attribute_columns)),
    )
    frames = [
        load.tables[source].withColumn(SOURCE_COLUMN, F.lit(source))
        for source in ("transactions", "interactions")
    ]
    frames.append(customers.withColumn(SOURCE_COLUMN, F.lit("customers")))
    long = frames[0]
    for frame in frames[1:]:
        long = long.unionByName(frame, allowMissingColumns=True)
    return long


def raw_from_arrow(table: pa.Table, attribute_columns: Sequence[str]) -> RawData:
    """One bucket's long Arrow table as canonical `RawData` (the dtypes `load_raw` gives)."""
    frame = polars_frame(table)
    parts = frame.partition_by(SOURCE_COLUMN, as_dict=True)
    customers_schema = {**CUSTOMERS_BASE_SCHEMA, **dict.fromkeys(attribute_columns, pl.String())}

    def part(source: str, schema: dict[str, pl.DataType], prefix: dict[str, str]) -> pl.DataFrame:
        rows = parts.get((source,))
        if rows is None:
            return empty_frame(schema)
        return rows.select(pl.col(prefix.get(c, c)).cast(dtype).alias(c) for c, dtype in schema.items())

    prefixed = {a: f"{ATTRIBUTE_PREFIX}{i}" for i, a in enumerate(attribute_columns)}
    return RawData(
        transactions=part("transactions", TRANSACTIONS_SCHEMA, {}),
        customers=part("customers", customers_schema, prefixed),
        interactions=part("interactions", INTERACTIONS_SCHEMA, {}),
    )


def empty_raw(attribute_columns: Sequence[str]) -> RawData:
    """A history with no rows and the data's attribute columns: what a computation's schema is read from."""
    customers = {**CUSTOMERS_BASE_SCHEMA, **dict.fromkeys(attribute_columns, pl.String())}
    return RawData(empty_frame(TRANSACTIONS_SCHEMA), empty_frame(customers), empty_frame(INTERACTIONS_SCHEMA))


def _bucket_function(
    compute: Computation, attribute_columns: Sequence[str], output: pa.Schema
) -> Callable[[tuple[pa.Scalar, ...], pa.Table], pa.Table]:
    attributes = tuple(attribute_columns)

    def run(key: tuple[pa.Scalar, ...], table: pa.Table) -> pa.Table:
        frame = compute(raw_from_arrow(table, attributes))
        bucket = pl.lit(key[0].as_py(), dtype=pl.Int32).alias(BUCKET_COLUMN)
        return to_spark_arrow(frame.with_columns(bucket), output)

    return run
