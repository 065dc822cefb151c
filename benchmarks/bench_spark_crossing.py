"""What the JVM-Python crossing costs on Spark, apart from clvchurn's own work: the floor under `--engine spark`.

On a contract base written by `bench_spark.py` (its `base/` folder), times for the transactions table
at a chosen master:

- reading the rows with their file and row numbers (`spark_engine.reading.read_rows`) and counting;
- a `mapInArrow` that hands every Arrow batch back unchanged, counted: the crossing into a Python
  worker and back, with no check at all;
- the same, persisted as `load_raw_spark` persists its checked rows;
- clvchurn's check of the table (`spark_engine.validation._checked_rows`: the contract's checks in a
  `mapInArrow`, persisted, repeated keys looked for), then its accepted and rejected counts.

    .venv/bin/python benchmarks/bench_spark.py --workdir /tmp/bench-spark-1m          # writes the base
    .venv/bin/python benchmarks/bench_spark_crossing.py /tmp/bench-spark-1m/base-1000000-7/base
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(label: str, action: Callable[[], Any]) -> None:
    started = time.perf_counter()
    result = action()
    print(f"{label}: {time.perf_counter() - started:.1f} s ({result})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base", type=Path, help="a contract folder (transactions.parquet or .csv)")
    parser.add_argument("--master", default="local[2]")
    options = parser.parse_args()

    import pyarrow as pa

    from spark_engine import SparkSettings, create_session
    from spark_engine.reading import find_tables, read_rows
    from spark_engine.validation import _checked_rows, _file_counts

    spark = create_session(SparkSettings(master=options.master, ui=False, show_progress=False))
    source = find_tables(spark, str(options.base))["transactions"]
    rows = read_rows(spark, source)
    timed("read with row numbers, count (JVM start included)", rows.count)
    timed("read with row numbers, count", rows.count)

    def unchanged(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        yield from batches

    timed("mapInArrow handing batches back unchanged, count", rows.mapInArrow(unchanged, rows.schema).count)
    timed(
        "the same, persisted, count",
        lambda: rows.mapInArrow(unchanged, rows.schema).persist().count(),
    )

    def check() -> object:
        checked, _, _ = _checked_rows(spark, source)
        return _file_counts(checked, source.name)

    timed("clvchurn's check (the contract in mapInArrow, persisted, repeats), counts", check)
    spark.stop()


if __name__ == "__main__":
    main()
