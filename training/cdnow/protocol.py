"""The CDNOW benchmark protocol of ../shared/data/README.md: the split, the targets and the six metrics.

Fader & Hardie's CDNOW cohort (23,570 first-time buyers of 1997 Q1; "Forecasting Repeat Sales at
CDNOW", Interfaces 31(3), 2001) is split into a 39-week calibration period, 1997-01-01..1997-09-30,
and a 39-week holdout, 1997-10-01..1998-06-30. Models see the calibration purchases only; each
customer's holdout spend (sum of dollar_value) and activity (any holdout purchase) are the targets.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import numpy.typing as npt
import polars as pl

from training.metrics import mae, normalized_gini, roc_auc, spearman, top_share, total_error_pct

CALIBRATION_START = datetime(1997, 1, 1)
HOLDOUT_START = datetime(1997, 10, 1)
HOLDOUT_END = datetime(1998, 7, 1)  # exclusive: the holdout ends on 1998-06-30
METRIC_KEYS = ("gini", "spearman", "mae", "total_error_pct", "auc_active", "top10_share")


def before(transactions: pl.DataFrame, moment: datetime) -> pl.DataFrame:
    """The transactions dated strictly before `moment`: the only rows a model fitted at `moment` sees."""
    return transactions.filter(pl.col("timestamp") < moment)


def window_spend(
    transactions: pl.DataFrame, customer_ids: pl.Series, start: datetime, end: datetime
) -> pl.DataFrame:
    """Per customer of `customer_ids` (in that order): net spend and purchase days in [start, end).

    A purchase day is a calendar day with a transaction of any amount, as in `rfm_summary` with
    `count_zero_spend_days=True` (CDNOW logs some purchases at $0).
    """
    window = transactions.filter((pl.col("timestamp") >= start) & (pl.col("timestamp") < end))
    totals = window.group_by("customer_id").agg(
        pl.col("amount").sum().alias("spend"),
        pl.col("timestamp").dt.date().n_unique().cast(pl.Float64).alias("purchase_days"),
    )
    return (
        customer_ids.to_frame("customer_id")
        .join(totals, on="customer_id", how="left", maintain_order="left")
        .with_columns(pl.col("spend").fill_null(0.0), pl.col("purchase_days").fill_null(0.0))
    )


def score(
    actual_spend: npt.ArrayLike,
    actual_active: npt.ArrayLike,
    predicted_spend: npt.ArrayLike,
    activity_score: npt.ArrayLike,
) -> dict[str, float]:
    """The protocol's six metrics, keyed by `METRIC_KEYS`.

    Gini, Spearman, MAE, total error (%) and top-10% share compare predicted with actual holdout
    spend; `auc_active` is the ROC-AUC of the activity score against `actual_active` (1 if any
    holdout purchase, $0 purchases included).
    """
    actual = np.asarray(actual_spend, dtype=np.float64)
    predicted = np.asarray(predicted_spend, dtype=np.float64)
    return {
        "gini": normalized_gini(actual, predicted),
        "spearman": spearman(actual, predicted),
        "mae": mae(actual, predicted),
        "total_error_pct": total_error_pct(actual, predicted),
        "auc_active": roc_auc(
            np.asarray(actual_active, dtype=np.int64), np.asarray(activity_score, dtype=np.float64)
        ),
        "top10_share": top_share(actual, predicted, 0.1),
    }
