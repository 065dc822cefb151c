"""Types across the polars / Arrow / Spark boundary, and the Arrow tables Python workers hand back.

Spark checks that an Arrow UDF returns exactly the Arrow types of its declared schema (`string`,
not polars' `large_string`; `int64`, not `int32`), so every table leaves a worker through
`to_spark_arrow`, cast to the schema the driver derived from a polars frame with `spark_schema`.
Naive datetimes become `TimestampNTZType`, so timestamps cross without any time-zone shift.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

if TYPE_CHECKING:
    from datetime import datetime

    from pyspark.sql import Column
    from pyspark.sql.types import StructType


def spark_schema(schema: pl.Schema | dict[str, pl.DataType]) -> StructType:
    """The Spark schema of a polars schema (String -> string, Datetime(us) -> timestamp_ntz, ...)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    empty = pl.DataFrame(schema=schema).to_arrow(compat_level=pl.CompatLevel.oldest())
    return from_arrow_schema(empty.schema, prefer_timestamp_ntz=True)


def arrow_schema(schema: StructType) -> pa.Schema:
    """The Arrow schema Spark expects back from a worker for `schema`."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(schema, timezone="UTC")


def to_spark_arrow(frame: pl.DataFrame, schema: pa.Schema) -> pa.Table:
    """`frame` as an Arrow table of exactly `schema` (columns selected by name, in its order)."""
    table = frame.select(schema.names).to_arrow(compat_level=pl.CompatLevel.oldest())
    return table.cast(schema)


def polars_frame(data: pa.Table | pa.RecordBatch) -> pl.DataFrame:
    """An Arrow table or batch from Spark as a polars frame (zero-copy where the types allow)."""
    frame = pl.from_arrow(data)
    assert isinstance(frame, pl.DataFrame)
    return frame


def timestamp_literal(moment: datetime) -> Column:
    """A naive datetime as a `timestamp_ntz` literal, its wall-clock time unchanged.

    `F.lit(datetime)` would read a naive datetime in the driver's local time zone and make a
    time-zone-aware timestamp of it; from its ISO text, Spark takes the wall clock as it is.
    """
    from pyspark.sql import functions as F

    return F.lit(moment.isoformat(sep=" ")).cast("timestamp_ntz")


@contextmanager
def quiet_pandas_warning() -> Iterator[None]:
    """PySpark 4.3 warns on Arrow UDFs that it does not fully support pandas 3; clvchurn's UDFs use
    Arrow and polars only, so the warning says nothing about them."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        yield
