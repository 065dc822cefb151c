"""Next order, expected orders and the value range (issue 16) on the trained pair: every scored customer
carries them where they apply, the range holds the predicted value, and the backtest figures the pair
reports (/v1/models) compare the next order with its naive forecast and give the coverage per tier."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from support.trained import AS_OF, TrainedModels, request_for

from domain.vocabulary import TIERS
from serving.batch import score_base
from serving.model_info import describe_pair


@pytest.fixture(scope="module")
def base(trained: TrainedModels) -> pl.DataFrame:
    return score_base(trained.raw, AS_OF, trained.engine)


def test_every_customer_has_expected_orders_and_a_range_that_holds_the_predicted_value(
    base: pl.DataFrame,
) -> None:
    orders = base["predicted_orders"]
    low, value, high = base["predicted_value_low"], base["predicted_value"], base["predicted_value_high"]

    assert orders.null_count() == low.null_count() == high.null_count() == 0
    assert orders.min() >= 0.0  # type: ignore[operator]
    assert (low >= 0.0).all() and (low <= value).all() and (value <= high).all()
    assert (high > low).mean() > 0.5  # type: ignore[operator]  # a range, not the point repeated


def test_only_active_customers_have_a_next_order_date_inside_the_churn_horizon(
    trained: TrainedModels, base: pl.DataFrame
) -> None:
    horizon = trained.engine.pair.metadata.churn_horizon_days
    active = base.filter(pl.col("population") == "active")["expected_next_order_date"]
    others = base.filter(pl.col("population") != "active")["expected_next_order_date"]

    assert active.len() > 0 and active.null_count() == 0
    assert others.null_count() == others.len() > 0
    assert active.min() >= AS_OF.date()  # type: ignore[operator]
    assert active.max() <= AS_OF.date() + timedelta(days=horizon)  # type: ignore[operator]
    assert active.n_unique() > 5  # the customer's own rhythm moves the date


def test_the_online_answer_carries_the_same_fields_as_the_batch(
    trained: TrainedModels, base: pl.DataFrame
) -> None:
    row = base.filter(pl.col("population") == "active").row(0, named=True)
    [online] = trained.engine.predict([request_for(trained.raw, row["customer_id"])], "en")

    assert online.predicted_orders == pytest.approx(row["predicted_orders"])
    assert online.expected_next_order_date == row["expected_next_order_date"]
    assert (online.predicted_value.low, online.predicted_value.high) == pytest.approx(
        (row["predicted_value_low"], row["predicted_value_high"])
    )


def test_the_pair_reports_next_order_error_against_the_naive_rule_and_coverage_per_tier(
    trained: TrainedModels,
) -> None:
    info = describe_pair(trained.engine.loaded).models
    next_order, orders, value_range = (
        info["next_order"].backtest_metrics,
        info["orders"].backtest_metrics,
        info["value_range"].backtest_metrics,
    )

    assert {"mae_days", "median_ae_days", "naive_mae_days", "naive_median_ae_days"} <= set(next_order)
    assert 0.0 < next_order["mae_days"] < trained.engine.pair.metadata.churn_horizon_days
    assert {"orders_mae", "naive_orders_mae"} <= set(orders)
    assert {"coverage", "median_width", *(f"coverage_{tier}" for tier in TIERS)} <= set(value_range)
    assert 0.6 < value_range["coverage"] < 0.95  # 1,500 customers: only roughly the 80% level
