"""The value range's estimator (`training.models.value_range`): conformity scores and offsets on
hand-made numbers, agreement with MAPIE's CQR, and coverage per tier on heteroscedastic spend."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from mapie.regression import ConformalizedQuantileRegressor

from domain.errors import RangeCalibrationError
from model_contract import assign_tier, fit_tiers, range_bounds
from training.metrics import range_metrics
from training.models.value_range import ConformalValueRange, conformal_offset, conformity_scores

LEVEL = 0.8


def test_cqr_scores_are_the_distance_outside_the_interval() -> None:
    lower, upper = np.array([1.0, 1.0, 1.0]), np.array([3.0, 3.0, 3.0])
    actual = np.array([0.5, 2.0, 4.0])
    assert conformity_scores(lower, upper, actual).tolist() == [0.5, -1.0, 1.0]


def test_scores_of_the_served_interval_count_only_the_ends_the_point_does_not_cover() -> None:
    lower, upper, point = np.full(5, 1.0), np.full(5, 3.0), np.array([2.0, 2.0, 0.5, 4.0, 2.0])
    actual = np.array([0.5, 1.5, 0.2, 3.5, 2.0])
    scores = conformity_scores(lower, upper, actual, point)
    # below the lower quantile: 1 - 0.5; inside: never needs an offset; below a point itself below the
    # interval: 1 - 0.2; between the upper quantile and a point above it: held at any offset; the point
    assert scores.tolist() == [0.5, -math.inf, pytest.approx(0.8), -math.inf, -math.inf]


def test_the_offset_is_the_split_conformal_order_statistic() -> None:
    scores = np.arange(10, dtype=np.float64)  # n = 9 + 1 = 10: rank ceil(11 x 0.8) = 9
    assert conformal_offset(scores, LEVEL) == 8.0
    assert conformal_offset(np.array([-np.inf] * 5), LEVEL) == -30.0  # every row held: the floor
    with pytest.raises(RangeCalibrationError, match="at least 4"):
        conformal_offset(np.arange(3, dtype=np.float64), LEVEL)


def _spend(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Customers whose spend is zero with probability 1 - p(x) and lognormal otherwise, its scale and
    spread both growing with the features (from tens to thousands); returns X, spend and the true mean."""
    x = rng.uniform(size=(n, 2))
    buys = 0.35 + 0.6 * x[:, 0]
    mu, sigma = 3.0 + 5.0 * x[:, 1], 0.4 + 0.8 * x[:, 0]
    spend = np.where(rng.uniform(size=n) < buys, rng.lognormal(mu, sigma), 0.0)
    return pd.DataFrame(x, columns=["x1", "x2"]), spend, buys * np.exp(mu + sigma**2 / 2)


@pytest.fixture(scope="module")
def fitted() -> tuple[ConformalValueRange, dict[str, tuple[pd.DataFrame, np.ndarray, np.ndarray]], object]:
    rng = np.random.default_rng(5)
    parts = {
        name: _spend(n, rng) for name, n in (("fit", 6000), ("stop", 2000), ("cal", 20000), ("test", 20000))
    }
    cutpoints = fit_tiers(parts["cal"][2], [0.1, 0.2, 0.4])
    X_cal, y_cal, mean_cal = parts["cal"]
    model = ConformalValueRange(LEVEL, lgbm_params={"n_estimators": 300}, n_jobs=1).fit(
        parts["fit"][0],
        parts["fit"][1],
        X_stop=parts["stop"][0],
        y_stop=parts["stop"][1],
        X_calibration=X_cal,
        y_calibration=y_cal,
        amount_calibration=mean_cal,
        tiers_calibration=assign_tier(cutpoints, mean_cal),
    )
    return model, parts, cutpoints


def test_the_range_covers_80_percent_per_tier_on_heteroscedastic_spend(fitted: tuple) -> None:
    model, parts, cutpoints = fitted
    X, spend, mean = parts["test"]
    tiers = assign_tier(cutpoints, mean)
    low, high = model.bounds(X, mean, tiers)

    metrics = range_metrics(spend, low, high, tiers)
    for name in ("coverage", "coverage_A", "coverage_B", "coverage_C", "coverage_D"):
        assert metrics[name] == pytest.approx(LEVEL, abs=0.03), (name, metrics)
    assert set(model.offsets_) == {"A", "B", "C", "D"}
    assert np.all(low >= 0) and np.all(low <= mean) and np.all(mean <= high)
    # spend from tens to thousands: the widths follow the customer
    assert np.median(high[tiers == "A"] - low[tiers == "A"]) > 10 * np.median(
        high[tiers == "D"] - low[tiers == "D"]
    )


def test_one_width_for_every_customer_misses_the_tiers_the_range_covers(fitted: tuple) -> None:
    """What the per-tier range is for: absolute-residual conformal prediction (Lei et al. 2018) covers
    80% on average and fails the high tiers."""
    _, parts, cutpoints = fitted
    _, y_cal, mean_cal = parts["cal"]
    _, spend, mean = parts["test"]
    width = conformal_offset(np.abs(y_cal - mean_cal), LEVEL)
    metrics = range_metrics(spend, np.maximum(mean - width, 0), mean + width, assign_tier(cutpoints, mean))
    assert metrics["coverage"] == pytest.approx(LEVEL, abs=0.03)
    assert metrics["coverage_A"] < LEVEL - 0.15


def test_without_tiers_and_stretching_the_offsets_are_mapies_cqr(fitted: tuple) -> None:
    """One group and plain intervals: our order statistic and MAPIE's ConformalizedQuantileRegressor
    (prefit quantile regressors, symmetric correction) give the same bounds."""
    model, parts, _ = fitted
    X_cal, y_cal, _ = parts["cal"]
    X_test = parts["test"][0]
    median = type(model.lower_regressor_)(objective="quantile", alpha=0.5, n_estimators=20, verbose=-1)
    median.fit(parts["fit"][0], np.log1p(parts["fit"][1]))
    mapie = ConformalizedQuantileRegressor(
        [model.lower_regressor_, model.upper_regressor_, median], confidence_level=LEVEL, prefit=True
    )
    mapie.conformalize(X_cal, np.log1p(y_cal))
    _, intervals = mapie.predict_interval(X_test, symmetric_correction=True)

    lower_cal, upper_cal = model.lower_regressor_.predict(X_cal), model.upper_regressor_.predict(X_cal)
    offset = conformal_offset(conformity_scores(lower_cal, upper_cal, np.log1p(y_cal)), LEVEL)
    lower, upper = model.lower_regressor_.predict(X_test), model.upper_regressor_.predict(X_test)
    np.testing.assert_allclose(intervals[:, 0, 0], lower - offset, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(intervals[:, 1, 0], upper + offset, rtol=1e-9, atol=1e-9)
    served_low, _ = range_bounds(lower, upper, np.zeros(len(lower)), offset)
    assert offset > 0 or np.all(served_low >= 0)


def test_a_tier_with_too_few_calibration_rows_takes_the_pooled_offset() -> None:
    rng = np.random.default_rng(1)
    X, y, mean = _spend(600, rng)
    tiers = np.where(np.arange(600) < 20, "A", "D")
    model = ConformalValueRange(LEVEL, lgbm_params={"n_estimators": 30}, min_tier_rows=50).fit(
        X[:300],
        y[:300],
        X_stop=X[300:400],
        y_stop=y[300:400],
        X_calibration=X,
        y_calibration=y,
        amount_calibration=mean,
        tiers_calibration=tiers,
    )
    assert set(model.offsets_) == {"D"}
    assert model.calibration_rows_ == {"A": 20, "B": 0, "C": 0, "D": 580}
    assert model.scorer_.tier_offsets(["A", "D"]).tolist() == [model.pooled_offset_, model.offsets_["D"]]


def test_no_rows_to_stop_on_is_refused() -> None:
    X, y, mean = _spend(50, np.random.default_rng(2))
    with pytest.raises(RangeCalibrationError, match="stop"):
        ConformalValueRange().fit(
            X,
            y,
            X_stop=X[:0],
            y_stop=y[:0],
            X_calibration=X,
            y_calibration=y,
            amount_calibration=mean,
            tiers_calibration=["D"] * 50,
        )
