"""The best forecasts any model could make: expectations under the true simulated parameters.

Given a customer's true purchase rate, first order, dropout moment, mean order value and refund rate,
purchase occasions in a window [as_of, as_of + h) are Poisson with mean
    1[first order in window] + rate * integral of seasonality over the alive part of the window,
so the expected spend and the probability of no purchase have closed forms. Benchmarks compare model
scores with these to see how much of the reachable accuracy a model gets.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from features.synth.calendar import MICROSECONDS_PER_DAY, purchase_seasonality, to_uniform_clock
from features.synth.purchases import SAME_DAY_EXTRA_ORDER_PROBABILITY

_EPOCH = datetime(1970, 1, 1)


def oracle_expected_spend(ground_truth: pl.DataFrame, as_of: datetime, horizon_days: int) -> pl.DataFrame:
    """True expected net spend (orders minus expected refunds) per customer in [as_of, as_of + h).

    Refunds are counted with the order they belong to, so a window's realised net spend differs from
    this only by the few refunds crossing its edges.
    """
    first_in_window, repeat_occasions = _expected_occasions(ground_truth, as_of, horizon_days)
    orders = (first_in_window + repeat_occasions) * (1.0 + SAME_DAY_EXTRA_ORDER_PROBABILITY)
    net_order_value = ground_truth.select(
        pl.col("mean_order_value").fill_null(0.0) * (1.0 - pl.col("refund_rate").fill_null(0.0))
    ).to_series()
    return pl.DataFrame(
        {"customer_id": ground_truth["customer_id"], "expected_spend": orders * net_order_value.to_numpy()}
    )


def oracle_churn_probability(ground_truth: pl.DataFrame, as_of: datetime, horizon_days: int) -> pl.DataFrame:
    """True probability that a customer makes no purchase in [as_of, as_of + h)."""
    first_in_window, repeat_occasions = _expected_occasions(ground_truth, as_of, horizon_days)
    no_purchase = np.where(first_in_window > 0, 0.0, np.exp(-repeat_occasions))
    return pl.DataFrame({"customer_id": ground_truth["customer_id"], "churn_probability": no_purchase})


def _expected_occasions(
    ground_truth: pl.DataFrame, as_of: datetime | date, horizon_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """(1 if the first order falls in the window else 0, expected repeat occasions in the window)."""
    if horizon_days <= 0:
        raise ValueError(f"horizon_days must be a positive number of days, got {horizon_days}")
    window_start = as_of if isinstance(as_of, datetime) else datetime.combine(as_of, datetime.min.time())
    window_end = window_start + timedelta(days=horizon_days)
    origin = datetime.combine(window_start.date(), datetime.min.time())
    seasonality = purchase_seasonality(
        np.datetime64(origin.date(), "D") + np.arange((window_end - origin).days + 1)
    )
    seasonality_before_day = np.concatenate([[0.0], np.cumsum(seasonality)])

    def uniform_clock(moments: np.ndarray) -> np.ndarray:
        return to_uniform_clock((moments - _microseconds(origin)) / MICROSECONDS_PER_DAY)

    start, end = uniform_clock(
        np.array([_microseconds(window_start), _microseconds(window_end)], dtype=np.float64)
    )
    first_order = uniform_clock(_column_microseconds(ground_truth, "first_order_at"))
    lifetime_end = uniform_clock(_column_microseconds(ground_truth, "lifetime_end"))

    def cumulative_seasonality(moment: np.ndarray) -> np.ndarray:
        day = np.minimum(np.floor(moment).astype(np.int64), len(seasonality) - 1)
        return seasonality_before_day[day] + (moment - day) * seasonality[day]

    alive_from = np.clip(np.nan_to_num(first_order, nan=end), start, end)
    alive_until = np.maximum(np.clip(np.nan_to_num(lifetime_end, nan=start), start, end), alive_from)
    seasonal_exposure = cumulative_seasonality(alive_until) - cumulative_seasonality(alive_from)
    repeat_occasions = ground_truth["purchase_rate_per_day"].to_numpy() * seasonal_exposure
    first_in_window = ((first_order >= start) & (first_order < end)).astype(np.float64)
    return first_in_window, repeat_occasions


def _microseconds(moment: datetime) -> float:
    return float((moment - _EPOCH) // timedelta(microseconds=1))


def _column_microseconds(frame: pl.DataFrame, column: str) -> np.ndarray:
    """Microseconds since the epoch, NaN where the moment is unknown (prospects)."""
    return frame[column].dt.epoch("us").cast(pl.Float64).to_numpy()
