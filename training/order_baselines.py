"""What the order-count and next-order models are judged against on the validation snapshot: the
forecasts a CRM team makes without a model.

- Orders: the orders of the last 365 days, scaled to the value horizon (`orders_365d` x H / 365): "as
  many as last year".
- Next order: the day the customer's usual interval after their last order comes round, "last order +
  usual interval" (`mean_days_between_orders` - `days_since_last_order` days after the cutoff). A
  customer with a single order day has no interval of their own and gets the median interval of the
  model's fit rows. The date is moved to the cutoff when it is already past and kept inside the churn
  horizon, the window the actual next order of these rows is known to fall in: the same knowledge the
  model has, so the baseline is not handicapped by dates it could not mean.

Both figures sit in the model's own report card (`naive_*` metrics, stored with the pair and shown by
/v1/models) and as a row of the backtest table.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from training.metrics import count_metrics, days_metrics

NAIVE_ORDERS = "naive_orders_last_365d"
NAIVE_NEXT_ORDER = "naive_last_order_plus_usual_interval"


def naive_orders(table: pl.DataFrame, horizon_days: int) -> np.ndarray:
    """Orders of the last 365 days scaled to `horizon_days`, per row of a feature table."""
    return table["orders_365d"].fill_null(0.0).to_numpy() * horizon_days / 365.0


def typical_interval(fit_rows: pl.DataFrame) -> float:
    """The median `mean_days_between_orders` of the fit rows that have one (0 when none has)."""
    intervals = fit_rows["mean_days_between_orders"].drop_nulls()
    median = intervals.median() if intervals.len() else None
    return float(median) if isinstance(median, int | float) else 0.0


def naive_days_to_next_order(table: pl.DataFrame, typical: float, horizon_days: int) -> np.ndarray:
    """Days from the cutoff to "last order + usual interval", within [0, horizon_days]."""
    usual = table["mean_days_between_orders"].fill_null(typical).to_numpy()
    since_last = table["days_since_last_order"].to_numpy()
    return np.clip(usual - since_last, 0.0, float(horizon_days))


def orders_table(
    validation: pl.DataFrame, actual: np.ndarray, predicted: np.ndarray, horizon_days: int
) -> dict[str, dict[str, float]]:
    """The order-count backtest: the model's report card (with the naive figures) and the naive row."""
    naive = count_metrics(actual, naive_orders(validation, horizon_days), prefix="naive_orders")
    naive = {name: value for name, value in naive.items() if not name.endswith("spearman")}
    return {
        "clvchurn": {**count_metrics(actual, predicted), **naive},
        NAIVE_ORDERS: {name.removeprefix("naive_"): value for name, value in naive.items()},
    }


def next_order_table(
    validation: pl.DataFrame,
    actual: np.ndarray,
    predicted: np.ndarray,
    fit_rows: pl.DataFrame,
    horizon_days: int,
) -> dict[str, dict[str, float]]:
    """The next-order backtest: mean and median absolute error in days, the model's and the naive rule's."""
    naive = naive_days_to_next_order(validation, typical_interval(fit_rows), horizon_days)
    naive_metrics = days_metrics(actual, naive)
    return {
        "clvchurn": {**days_metrics(actual, predicted), **days_metrics(actual, naive, prefix="naive_")},
        NAIVE_NEXT_ORDER: naive_metrics,
    }
