"""The retail benchmark protocol of ../shared/data/README.md: cutoff, holdout, population, targets.

UCI Online Retail (Chen, Sain & Guo 2012) holds one year of invoices, 2010-12-01 .. 2011-12-09. The
protocol cuts it at 2011-09-09:
- history: every event strictly before the cutoff (`history_before`); a model sees nothing else;
- holdout: [cutoff, cutoff + 91 days), 2011-09-09 .. 2011-12-08, the same 91 days as the horizon
  the models forecast (the export's last, partial day, 2011-12-09, falls outside it);
- population: customers with an order (a transaction of positive amount) in the 365 days before the
  cutoff (`population`), the "recently active" customers whose churn is defined;
- targets (`targets`): `ordered` (any order in the holdout; `churned` is its negation) and
  `net_spend` (every holdout amount, refunds included).

These definitions mirror clvchurn's churn label (`features.build.build_labels`) but are written out
here, so that the benchmark stays fixed while the product's labels and populations evolve.

Profile attributes (the customers file) are taken as they are: the invoice import derives `country`
from all invoices, so a customer whose majority country changed in the holdout would leak that; on
this file no population customer's country differs between the calibration invoices and the full file.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from features.contract import RawData

CUTOFF = datetime(2011, 9, 9)
HOLDOUT_DAYS = 91
LOOKBACK_DAYS = 365


def holdout_end(cutoff: datetime, horizon_days: int) -> datetime:
    """The first moment after the holdout (exclusive end) that starts at `cutoff`."""
    return cutoff + timedelta(days=horizon_days)


def history_before(raw: RawData, cutoff: datetime) -> RawData:
    """What a model fitted at `cutoff` may see: events strictly before it, and the customers known then.

    A customer is known if they signed up before the cutoff or have an event before it; a customer
    without a signup date and without such an event cannot be shown to have existed yet and is left out.
    """
    transactions = raw.transactions.filter(pl.col("timestamp") < cutoff)
    interactions = raw.interactions.filter(pl.col("timestamp") < cutoff)
    with_events = pl.concat([transactions.get_column("customer_id"), interactions.get_column("customer_id")])
    known = pl.col("signup_date") < cutoff
    customers = raw.customers.filter(
        known.fill_null(False) | pl.col("customer_id").is_in(with_events.unique().implode())
    )
    return RawData(transactions=transactions, customers=customers, interactions=interactions)


def population(history: RawData, cutoff: datetime, lookback_days: int = LOOKBACK_DAYS) -> pl.Series:
    """Customers with an order (amount > 0) in [cutoff - lookback_days, cutoff), sorted by id."""
    start = cutoff - timedelta(days=lookback_days)
    timestamp = pl.col("timestamp")
    recent_orders = history.transactions.filter(
        (pl.col("amount") > 0) & (timestamp >= start) & (timestamp < cutoff)
    )
    return recent_orders.get_column("customer_id").unique().sort().alias("customer_id")


def targets(raw: RawData, customer_ids: pl.Series, start: datetime, end: datetime) -> pl.DataFrame:
    """Per customer of `customer_ids` (in that order): `ordered`, `churned` and `net_spend` in [start, end).

    `ordered` is True with a transaction of positive amount in the window, `churned` (Int8) is 1
    without one, `net_spend` sums every amount in the window (refunds lower it; 0.0 without rows).
    """
    timestamp = pl.col("timestamp")
    window = raw.transactions.filter((timestamp >= start) & (timestamp < end))
    totals = window.group_by("customer_id").agg(
        (pl.col("amount") > 0).any().alias("ordered"),
        pl.col("amount").sum().alias("net_spend"),
    )
    return (
        customer_ids.alias("customer_id")
        .to_frame()
        .join(totals, on="customer_id", how="left", maintain_order="left")
        .select(
            "customer_id",
            pl.col("ordered").fill_null(False),
            (~pl.col("ordered").fill_null(False)).cast(pl.Int8).alias("churned"),
            pl.col("net_spend").fill_null(0.0),
        )
    )
