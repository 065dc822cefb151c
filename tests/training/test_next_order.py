"""The order count and next-order models (`training.models.next_order`), their naive baselines
(`training.order_baselines`), their metrics and the serving date (`serving.predictor.next_order_dates`),
on hand-made rows and small synthetic ones."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import polars as pl
import pytest

from model_contract import BoundedDaysScorer, ConstantScorer
from serving.predictor import next_order_dates
from training.metrics import count_metrics, days_metrics, range_metrics
from training.models.next_order import DaysToNextOrderModel, OrderCountModel, days_target
from training.order_baselines import (
    NAIVE_NEXT_ORDER,
    naive_days_to_next_order,
    naive_orders,
    next_order_table,
    typical_interval,
)


def _rows(usual: list[float | None], since_last: list[float], orders_365d: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "mean_days_between_orders": usual,
            "days_since_last_order": since_last,
            "orders_365d": orders_365d,
        },
        schema={
            "mean_days_between_orders": pl.Float64,
            "days_since_last_order": pl.Float64,
            "orders_365d": pl.Float64,
        },
    )


def test_naive_orders_are_last_years_orders_scaled_to_the_horizon() -> None:
    rows = _rows([None, None, None], [1.0, 1.0, 1.0], [0.0, 4.0, 73.0])
    assert naive_orders(rows, 180).tolist() == pytest.approx([0.0, 4 * 180 / 365, 36.0])


def test_naive_next_order_is_last_order_plus_usual_interval_inside_the_horizon() -> None:
    # usual 30 days, 10 since the last order: 20 days; overdue: today; one order: the typical 40 days;
    # an interval longer than the horizon: the horizon
    rows = _rows([30.0, 30.0, None, 400.0], [10.0, 50.0, 0.0, 5.0], [0.0] * 4)
    typical = typical_interval(_rows([20.0, 40.0, 60.0, None], [0.0] * 4, [0.0] * 4))
    assert typical == 40.0
    assert naive_days_to_next_order(rows, typical, 180).tolist() == [20.0, 0.0, 40.0, 180.0]
    assert typical_interval(_rows([None], [0.0], [0.0])) == 0.0


def test_the_next_order_table_puts_the_naive_error_beside_the_models() -> None:
    rows = _rows([30.0, 30.0], [10.0, 50.0], [0.0, 0.0])  # naive: 20 and 0 days
    table = next_order_table(rows, np.array([25.0, 10.0]), np.array([24.0, 12.0]), rows, 180)
    assert table["clvchurn"] == {
        "mae_days": 1.5,
        "median_ae_days": 1.5,
        "naive_mae_days": 7.5,  # |20 - 25| and |0 - 10|
        "naive_median_ae_days": 7.5,
    }
    assert table[NAIVE_NEXT_ORDER] == {"mae_days": 7.5, "median_ae_days": 7.5}


def test_count_days_and_range_metrics_worked_by_hand() -> None:
    assert count_metrics([0, 2, 4], [1, 2, 3]) == pytest.approx(
        {"orders_mae": 2 / 3, "orders_rmse": (2 / 3) ** 0.5, "orders_spearman": 1.0}
    )
    assert days_metrics([10, 20, 40], [12, 20, 30], prefix="naive_") == {
        "naive_mae_days": 4.0,
        "naive_median_ae_days": 2.0,
    }
    metrics = range_metrics(
        [5.0, 50.0, 500.0, 0.0], [0.0, 60.0, 100.0, 0.0], [10.0, 80.0, 900.0, 0.0], ["D", "B", "A", "D"]
    )
    assert metrics == {
        "coverage": 0.75,
        "coverage_A": 1.0,
        "coverage_B": 0.0,
        "coverage_D": 1.0,
        "median_width": 15.0,
    }


def _customers(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Customers who order at a rate set by `rate_feature`; returns X, order counts and days to the first."""
    rate = rng.uniform(0.5, 8.0, size=n)
    X = pd.DataFrame({"rate_feature": rate, "noise": rng.normal(size=n)})
    counts = rng.poisson(rate).astype(np.float64)
    days = np.minimum(rng.exponential(180.0 / rate), 179.0)
    return X, counts, days


def test_the_order_count_model_learns_the_rate_and_is_never_negative() -> None:
    rng = np.random.default_rng(3)
    X, y, _ = _customers(3000, rng)
    X_cal, y_cal, _ = _customers(1000, rng)
    model = OrderCountModel(lgbm_params={"n_estimators": 100}).fit(
        X, y, X_calibration=X_cal, y_calibration=y_cal
    )
    predicted = model.predict(X_cal)
    assert predicted.min() >= 0.0
    assert (
        count_metrics(y_cal, predicted)["orders_mae"]
        < count_metrics(y_cal, np.full(len(y_cal), y.mean()))["orders_mae"]
    )


def test_the_days_model_predicts_the_median_inside_the_window_it_learned() -> None:
    rng = np.random.default_rng(4)
    X, _, days = _customers(3000, rng)
    X_cal, _, days_cal = _customers(1000, rng)
    model = DaysToNextOrderModel(lgbm_params={"n_estimators": 100}).fit(
        X, days, X_calibration=X_cal, y_calibration=days_cal
    )
    predicted = model.predict(X_cal)
    assert isinstance(model.scorer_, BoundedDaysScorer)
    assert predicted.min() >= 0.0 and predicted.max() <= model.upper_days_ == max(days.max(), days_cal.max())
    assert np.mean(days_cal < predicted) == pytest.approx(0.5, abs=0.05)  # a median: half order before it
    base, contributions = model.scorer_.contributions(X_cal.head(20))
    np.testing.assert_allclose(base + contributions.sum(axis=1), predicted[:20], atol=1e-6)


def test_days_without_a_next_order_are_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="retained_only"):
        days_target([3.0, float("nan")], "y")


def test_the_constant_fallback_has_no_reasons() -> None:
    scorer = ConstantScorer(2.5, features=3)
    X = pd.DataFrame(np.zeros((2, 3)))
    assert scorer.predict(X).tolist() == [2.5, 2.5]
    base, contributions = scorer.contributions(X)
    assert base == 2.5 and not contributions.any()


def test_the_next_order_date_is_the_cutoff_day_plus_the_days_and_none_without_them() -> None:
    as_of = pl.Series([datetime(2025, 7, 1), datetime(2025, 7, 1, 18), datetime(2025, 7, 1)])
    assert next_order_dates(as_of, np.array([0.4, 10.3, np.nan])) == [
        date(2025, 7, 1),
        date(2025, 7, 12),
        None,
    ]
