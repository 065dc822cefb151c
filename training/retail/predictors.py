"""What a benchmarked model is: a function from the history before a cutoff to per-customer forecasts.

A `Predictor` is called as `predictor(history, cutoff, horizon_days)`: `history` holds only events
strictly before `cutoff` (`protocol.history_before`), and it returns one row per customer it scores with
- `customer_id`,
- `churn_probability`: P(no order in [cutoff, cutoff + horizon_days)),
- `predicted_value`: expected net spend over the same window,
- optionally `activity_score`: what ranks holdout activity for `auc_active` (default 1 - P(churn);
  BG/NBD gives its expected purchases, as in the CDNOW protocol).
It may score more customers than the population; the benchmark keeps the population's rows and refuses
an output that misses one of them, repeats a customer or holds an invalid number.

A predictor that also exposes `diagnostics_` (a dict, filled by its last call) gets it reported next
to the table: fitted parameters, the training cutoffs a recipe chose, its own validation metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import polars as pl

from domain.errors import BenchmarkPredictionError
from features.contract import RawData

Predictor = Callable[[RawData, datetime, int], pl.DataFrame]
REQUIRED_COLUMNS = ("customer_id", "churn_probability", "predicted_value")
ACTIVITY_SCORE = "activity_score"


@runtime_checkable
class ReportsDiagnostics(Protocol):
    """A predictor that keeps what its last call learned about itself, for the benchmark's report."""

    diagnostics_: dict[str, Any]


def aligned_predictions(name: str, output: pl.DataFrame, customer_ids: pl.Series) -> pl.DataFrame:
    """`output` checked and reduced to the population `customer_ids`, in that order.

    Columns: customer_id, churn_probability, predicted_value, activity_score (Float64).

    Raises
    ------
    BenchmarkPredictionError: a required column is missing, a customer appears twice, a population
    customer has no row, or a value is missing, not finite, or (for the probability) outside [0, 1].
    """
    missing = [column for column in REQUIRED_COLUMNS if column not in output.columns]
    if missing:
        raise BenchmarkPredictionError(
            f"predictor '{name}' returned no column(s) {missing}; it must return {list(REQUIRED_COLUMNS)}"
        )
    duplicated = output.get_column("customer_id").is_duplicated().sum()
    if duplicated:
        raise BenchmarkPredictionError(
            f"predictor '{name}' returned {duplicated} rows for repeated customer ids; give one row per customer"
        )
    activity = (
        pl.col(ACTIVITY_SCORE) if ACTIVITY_SCORE in output.columns else 1.0 - pl.col("churn_probability")
    )
    rows = output.select(
        pl.col("customer_id").cast(pl.String),
        pl.col("churn_probability").cast(pl.Float64),
        pl.col("predicted_value").cast(pl.Float64),
        activity.cast(pl.Float64).alias(ACTIVITY_SCORE),
    )
    aligned = (
        customer_ids.alias("customer_id")
        .to_frame()
        .join(
            rows.with_columns(pl.lit(True).alias("_scored")),
            on="customer_id",
            how="left",
            maintain_order="left",
        )
    )
    unscored = aligned.filter(pl.col("_scored").is_null()).get_column("customer_id")
    if unscored.len():
        raise BenchmarkPredictionError(
            f"predictor '{name}' scored {customer_ids.len() - unscored.len()} of the {customer_ids.len()} "
            f"population customers; missing e.g. {unscored.head(3).to_list()}: score every customer with an "
            "order before the cutoff"
        )
    aligned = aligned.drop("_scored")
    _check_values(name, aligned)
    return aligned


def _check_values(name: str, aligned: pl.DataFrame) -> None:
    for column in (*REQUIRED_COLUMNS[1:], ACTIVITY_SCORE):
        values = aligned.get_column(column)
        bad = values.is_null() | ~values.is_finite()
        if bad.any():
            customer = aligned.filter(bad).get_column("customer_id")[0]
            raise BenchmarkPredictionError(
                f"predictor '{name}' returned {int(bad.sum())} missing or non-finite {column} value(s), "
                f"e.g. for customer {customer}"
            )
    probability = aligned.get_column("churn_probability")
    outside = (probability < 0) | (probability > 1)
    if outside.any():
        customer = aligned.filter(outside).get_column("customer_id")[0]
        raise BenchmarkPredictionError(
            f"predictor '{name}' returned {int(outside.sum())} churn_probability value(s) outside [0, 1], "
            f"e.g. for customer {customer}"
        )
