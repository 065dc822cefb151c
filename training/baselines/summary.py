"""Raw transactions to the per-customer (frequency, recency, T, monetary_value) summary.

The conventions are those of lifetimes' `summary_data_from_transaction_data` and of the BG/NBD and
Gamma-Gamma papers: purchases on the same day are one purchase, frequency counts repeat purchases
only, and monetary_value averages the repeat purchases only (the first one is left out, as in
Fader, Hardie & Lee 2005, "RFM and CLV").
"""

from __future__ import annotations

import logging
from datetime import datetime

import polars as pl

from domain.errors import BaselineInputError

logger = logging.getLogger(__name__)

SUMMARY_COLUMNS = ("customer_id", "frequency", "recency", "T", "monetary_value")
_REQUIRED = ("customer_id", "timestamp", "amount")
_MICROSECONDS_PER_DAY = 86_400_000_000


def rfm_summary(
    transactions: pl.DataFrame,
    as_of: datetime,
    time_unit_days: float = 1.0,
    count_zero_spend_days: bool = False,
) -> pl.DataFrame:
    """One row per customer with a purchase strictly before `as_of`, times in units of `time_unit_days`.

    A purchase day is a calendar day with positive net spend (refunds on the day netted out), or
    non-negative with `count_zero_spend_days` (CDNOW logs some purchases at $0; the published fits
    count them).
    frequency = purchase days - 1; recency = last - first purchase day; T = as_of - first purchase
    day; monetary_value = mean net spend over the repeat purchase days (0 when frequency is 0).
    Customers whose every day nets to zero or less have no purchase and are left out (logged).
    """
    missing = [column for column in _REQUIRED if column not in transactions.columns]
    if missing:
        raise BaselineInputError(f"transactions lack column(s) {missing}; need {list(_REQUIRED)}")
    if time_unit_days <= 0:
        raise BaselineInputError(f"time_unit_days must be positive, got {time_unit_days}")

    daily = (
        transactions.lazy()
        .filter(pl.col("timestamp") < as_of)
        .group_by("customer_id", pl.col("timestamp").dt.truncate("1d").alias("day"))
        .agg(pl.col("amount").sum().alias("day_spend"))
    )
    is_purchase = pl.col("day_spend") >= 0 if count_zero_spend_days else pl.col("day_spend") > 0
    purchase_days = daily.filter(is_purchase).sort("customer_id", "day")
    unit_us = time_unit_days * _MICROSECONDS_PER_DAY
    summary = (
        purchase_days.group_by("customer_id")
        .agg(
            (pl.len() - 1).cast(pl.Float64).alias("frequency"),
            pl.col("day").first().alias("first_day"),
            pl.col("day").last().alias("last_day"),
            pl.col("day_spend").slice(1).mean().fill_null(0.0).alias("monetary_value"),
        )
        .select(
            pl.col("customer_id"),
            pl.col("frequency"),
            ((pl.col("last_day") - pl.col("first_day")).dt.total_microseconds() / unit_us).alias("recency"),
            ((pl.lit(as_of) - pl.col("first_day")).dt.total_microseconds() / unit_us).alias("T"),
            pl.col("monetary_value"),
        )
        .sort("customer_id")
        .collect()
    )
    buyers_in_window = daily.select(pl.col("customer_id").n_unique()).collect().item()
    if buyers_in_window > summary.height:
        logger.info(
            "rfm_summary: %d customer(s) with only non-positive net spend before %s left out",
            buyers_in_window - summary.height,
            as_of,
        )
    return summary
