"""Training rows built on Spark and collected to the driver, where LightGBM, the backtest and MLflow run.

`SparkTableBuilder` is a `training.tables.TableBuilder`: `training.train.train` hands it every cutoff
of a run at once; it runs `features.build.build_training_table` for all of them per bucket of
customers (one Spark job) and brings the rows to the driver as polars frames, one per cutoff, in
customer order: exactly the tables `training.tables.TrainingTables` builds in process (tests/spark).

**Above `max_rows`**, a stratified sample is collected instead of every row: the strata are cutoff x
population x whether the customer ordered in the churn horizon (which decides every population's
label), each keeps its share of the rows (proportional allocation, largest remainders, at least one
row per stratum), and within a stratum the rows kept are those with the smallest
`xxhash64(customer_id, as_of, seed)`: the same rows for the same data and seed, on any cluster and
partitioning. Per stratum the hash cut-off is found exactly by collecting only the hashes below a
generous bound (a few standard deviations above the stratum's sampling fraction), so the driver never
holds more than about `max_rows` hashes and `max_rows` rows. What was sampled is recorded in the run's
notes (stored with the model pair) and parameters.

The baselines (BG/NBD, RFM) read transactions, not feature rows; `baseline_history` gives them each
customer's net spend per day (per part of a day, when a cutoff is not at midnight), which is all they
read (`training.baselines.rfm_summary` nets spend per calendar day before a cutoff), at a fraction
of the transactions' size.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import TYPE_CHECKING

import polars as pl

from domain.errors import ScheduleError
from features.build import build_training_table, midnight_after
from features.contract import INTERACTIONS_SCHEMA, TRANSACTIONS_SCHEMA, RawData, empty_frame
from features.populations import ORDERED_COLUMN, POPULATION_COLUMN
from spark_engine.arrow import polars_frame, timestamp_literal
from spark_engine.buckets import BUCKET_COLUMN, empty_raw
from spark_engine.tables import training_table
from spark_engine.validation import SparkLoad
from spark_engine.worker_errors import worker_errors
from training.tables import BuiltTables

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

logger = logging.getLogger(__name__)

STRATA = ("as_of", POPULATION_COLUMN, ORDERED_COLUMN)
_HASH_COLUMN = "_sample_hash"
_CUT_COLUMN = "_sample_cut"
# A stratum's hashes are collected up to its fraction plus this many binomial standard deviations.
_BOUND_DEVIATIONS = 6.0
_HASHES = 2.0**64
_SMALLEST_HASH, _LARGEST_HASH = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class SparkTableBuilder:
    """Training tables of a Spark load (see the module docstring); `max_rows` None keeps every row."""

    load: SparkLoad
    buckets: int
    max_rows: int | None = None
    seed: int = 0

    def data_span(self) -> tuple[datetime, datetime]:
        """The first event and the midnight after the last, as `training.train` finds them in process."""
        from pyspark.sql import functions as F

        spans = [
            self.load.tables[name].agg(F.min("timestamp"), F.max("timestamp")).first()
            for name in ("transactions", "interactions")
        ]
        firsts = [row[0] for row in spans if row is not None and row[0] is not None]
        lasts = [row[1] for row in spans if row is not None and row[1] is not None]
        if not lasts:
            raise ScheduleError("the data holds no transactions or interactions to train on")
        return min(firsts), midnight_after(max(lasts))

    def build(
        self,
        as_ofs: Sequence[datetime],
        *,
        churn_horizon_days: int,
        value_horizon_days: int,
        lookback_days: int,
    ) -> BuiltTables:
        """Every cutoff's training table, collected (or sampled, above `max_rows`) to the driver."""
        schema = build_training_table(
            empty_raw(self.load.attribute_columns),
            as_ofs,
            churn_horizon_days=churn_horizon_days,
            value_horizon_days=value_horizon_days,
            lookback_days=lookback_days,
        ).schema
        rows = training_table(
            self.load, as_ofs, churn_horizon_days, value_horizon_days, lookback_days, self.buckets
        ).drop(BUCKET_COLUMN)
        notes: tuple[str, ...] = ()
        params: dict[str, str] = {"training_tables_engine": "spark"}
        with worker_errors():
            if self.max_rows is None:
                collected = _collect(rows)
            else:
                collected, notes, sample_params = self._sampled(rows)
                params |= sample_params
        collected = collected.cast(dict(schema))  # type: ignore[arg-type]
        parts = collected.partition_by("as_of", as_dict=True)
        empty = pl.DataFrame(schema=schema)
        tables = {as_of: parts.get((as_of,), empty).sort("customer_id") for as_of in as_ofs}
        logger.info("collected %d training rows for %d cutoffs", collected.height, len(as_ofs))
        return BuiltTables(tables, notes, params)

    def _sampled(self, rows: DataFrame) -> tuple[pl.DataFrame, tuple[str, ...], dict[str, str]]:
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        assert self.max_rows is not None
        hashed = rows.withColumn(_HASH_COLUMN, F.xxhash64("customer_id", "as_of", F.lit(self.seed)))
        hashed = hashed.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            counts = {
                tuple(row[name] for name in STRATA): int(row["count"])
                for row in hashed.groupBy(*STRATA).count().collect()
            }
            total = sum(counts.values())
            params = {"max_training_rows": str(self.max_rows), "training_rows_available": str(total)}
            if total <= self.max_rows:
                return _collect(hashed.drop(_HASH_COLUMN)), (), params | {"training_rows": str(total)}
            kept = allocate(counts, self.max_rows)
            cuts = _hash_cuts(hashed, counts, kept)
            sampled = _collect(hashed.where(F.col(_HASH_COLUMN) <= _cut_column(cuts)).drop(_HASH_COLUMN))
        finally:
            hashed.unpersist()
        note = (
            f"training rows: a stratified sample of {sampled.height:,} of {total:,} (--max-training-rows "
            f"{self.max_rows:,}; strata cutoff x population x ordered within the churn horizon, "
            f"proportional; rows with the smallest xxhash64 of customer and cutoff, seed {self.seed})"
        )
        return (
            sampled,
            (note,),
            params | {"training_rows": str(sampled.height), "sample_seed": str(self.seed)},
        )


def allocate(counts: Mapping[tuple, int], total: int) -> dict[tuple, int]:
    """Rows to keep per stratum: shares proportional to its size summing to `total` (largest
    remainders, Hamilton's method), at least one per non-empty stratum (so one each when `total` is
    below the number of strata), never more than it has."""
    size = sum(counts.values())
    if size <= total:
        return dict(counts)
    quotas = {key: count * total / size for key, count in counts.items()}
    kept = {key: min(count, max(1 if count else 0, math.floor(quotas[key]))) for key, count in counts.items()}
    while sum(kept.values()) > total:  # the one-row minimums overshot: take from the largest strata
        largest = max(
            (key for key in kept if kept[key] > 1), key=lambda key: (kept[key], str(key)), default=None
        )
        if largest is None:  # fewer rows asked than strata: one per stratum
            return kept
        kept[largest] -= 1
    by_remainder = sorted(counts, key=lambda key: (-(quotas[key] - math.floor(quotas[key])), str(key)))
    left = total - sum(kept.values())
    for key in by_remainder:
        if left <= 0:
            break
        if kept[key] < counts[key]:
            kept[key] += 1
            left -= 1
    return kept


def _hash_cuts(hashed: DataFrame, counts: Mapping[tuple, int], kept: Mapping[tuple, int]) -> dict[tuple, int]:
    """Per stratum, the largest hash among its `kept` smallest: found from the hashes below a bound."""
    from pyspark.sql import functions as F

    bounds: dict[tuple, int | None] = {}
    for key, count in counts.items():
        fraction = kept[key] / count
        spread = _BOUND_DEVIATIONS * math.sqrt(fraction * (1 - fraction) / count) + 10 / count
        bounds[key] = None if fraction + spread >= 1 else int(_SMALLEST_HASH + (fraction + spread) * _HASHES)
    cuts: dict[tuple, int] = {}
    for _ in range(2):  # a second pass, without bounds, for a stratum whose bound fell short (rare)
        pending = {key: bound for key, bound in bounds.items() if key not in cuts}
        if not pending:
            break
        below = hashed.where(_stratum_in(pending)).where(F.col(_HASH_COLUMN) < _bound_column(pending))
        found = polars_frame(below.select(*STRATA, _HASH_COLUMN).toArrow())
        for key in pending:
            hashes = found.filter(_is_stratum(key)).get_column(_HASH_COLUMN).sort()
            if hashes.len() >= kept[key]:
                cuts[key] = int(hashes[kept[key] - 1])
            else:
                bounds[key] = None
    return cuts


def _is_stratum(key: tuple) -> pl.Expr:
    return pl.all_horizontal(pl.col(name).eq_missing(value) for name, value in zip(STRATA, key, strict=True))


def _spark_stratum(key: tuple) -> Column:
    from pyspark.sql import functions as F

    condition = F.lit(True)
    for name, value in zip(STRATA, key, strict=True):
        literal = timestamp_literal(value) if isinstance(value, datetime) else F.lit(value)
        condition = condition & F.col(name).eqNullSafe(literal)
    return condition


def _stratum_in(keys: Iterable[tuple]) -> Column:
    from pyspark.sql import functions as F

    condition = F.lit(False)
    for key in keys:
        condition = condition | _spark_stratum(key)
    return condition


def _bound_column(bounds: Mapping[tuple, int | None]) -> Column:
    """Each row's stratum's bound on the hash (exclusive; no bound: the largest hash there is)."""
    return _per_stratum({key: _LARGEST_HASH if bound is None else bound for key, bound in bounds.items()})


def _cut_column(cuts: Mapping[tuple, int]) -> Column:
    """Each row's stratum's largest kept hash (inclusive); below every hash outside the strata."""
    return _per_stratum(cuts)


def _per_stratum(values: Mapping[tuple, int]) -> Column:
    """One CASE over the (few dozen) strata."""
    from pyspark.sql import functions as F

    keys = list(values)
    column = F.when(_spark_stratum(keys[0]), F.lit(values[keys[0]]))
    for key in keys[1:]:
        column = column.when(_spark_stratum(key), F.lit(values[key]))
    return column.otherwise(F.lit(_SMALLEST_HASH)).cast("long")


def _collect(frame: DataFrame) -> pl.DataFrame:
    return polars_frame(frame.toArrow())


def baseline_history(load: SparkLoad, cutoff_times: Sequence[time] = ()) -> RawData:
    """What the baselines read, collected: per customer and day (split at each cutoff's time of day),
    the net spend at the day's first transaction's time; no customers or interactions.

    `training.baselines.rfm_summary` keeps transactions before a cutoff and nets them per calendar
    day, so these rows give it the same days and sums (up to the order of float additions) for every
    cutoff whose time of day is midnight or in `cutoff_times`.
    """
    from pyspark.sql import functions as F

    micros_of_day = F.unix_micros(F.col("timestamp").cast("timestamp")) % F.lit(86_400_000_000)
    part_of_day = F.lit(0)
    for moment in sorted({t for t in cutoff_times if t != time(0)}):
        threshold = ((moment.hour * 60 + moment.minute) * 60 + moment.second) * 1_000_000 + moment.microsecond
        part_of_day = part_of_day + (micros_of_day >= F.lit(threshold)).cast("int")
    daily = (
        load.tables["transactions"]
        .groupBy("customer_id", F.to_date("timestamp").alias("_day"), part_of_day.alias("_part"))
        .agg(F.min("timestamp").alias("timestamp"), F.sum("amount").alias("amount"))
        .select("customer_id", "timestamp", "amount")
    )
    with worker_errors():
        spend = _collect(daily)
    transactions = spend.with_columns(
        pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in TRANSACTIONS_SCHEMA.items()
        if name not in spend.columns
    ).select(pl.col(name).cast(dtype) for name, dtype in TRANSACTIONS_SCHEMA.items())
    logger.info("collected %d customer-days of spend for the baselines", transactions.height)
    customers = empty_raw(load.attribute_columns).customers
    return RawData(transactions, customers, empty_frame(INTERACTIONS_SCHEMA))
