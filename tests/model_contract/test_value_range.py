"""The value range as serving computes it (`model_contract.value_range`), on hand-made numbers."""

from __future__ import annotations

import math

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from model_contract import ConformalRangeScorer, log_spend, range_bounds


def _log(*amounts: float) -> np.ndarray:
    return np.log1p(np.asarray(amounts, dtype=np.float64))


def test_a_positive_offset_widens_both_ends_by_a_factor_of_spend() -> None:
    low, high = range_bounds(_log(99.0), _log(999.0), np.array([300.0]), math.log(2.0))
    assert low[0] == pytest.approx(49.0)  # (99 + 1) / 2 - 1
    assert high[0] == pytest.approx(1999.0)  # (999 + 1) x 2 - 1


def test_a_negative_offset_lowers_the_high_end_and_never_lifts_the_low_end() -> None:
    low, high = range_bounds(_log(0.0, 99.0), _log(999.0, 999.0), np.array([10.0, 300.0]), -math.log(2.0))
    assert low.tolist() == pytest.approx([0.0, 99.0])
    assert high.tolist() == pytest.approx([499.0, 499.0])


def test_the_range_is_stretched_to_hold_the_predicted_value() -> None:
    # a customer who rarely buys: both quantiles 0, a mean of 120; and one whose mean is below both
    low, high = range_bounds(_log(0.0, 50.0), _log(0.0, 400.0), np.array([120.0, 20.0]), 0.0)
    assert low.tolist() == pytest.approx([0.0, 20.0])
    assert high.tolist() == pytest.approx([120.0, 400.0])


def test_the_low_end_is_never_negative_and_crossed_quantiles_are_swapped() -> None:
    low, high = range_bounds(_log(500.0, 5.0), _log(100.0, 5.0), np.array([200.0, 5.0]), math.log(10.0))
    assert low.tolist() == pytest.approx([9.1, 0.0])  # (100 + 1) / 10 - 1; (5 + 1) / 10 - 1 < 0 -> 0
    assert high.tolist() == pytest.approx([5009.0, 59.0])


def test_a_negative_predicted_value_counts_as_zero() -> None:
    low, high = range_bounds(_log(10.0), _log(20.0), np.array([-5.0]), 0.0)
    assert (low[0], high[0]) == pytest.approx((0.0, 20.0))
    assert log_spend([-5.0, 0.0]).tolist() == [0.0, 0.0]


def _constant_booster(value: float, features: int = 2) -> lgb.Booster:
    """A booster that predicts `value` for every row (trained on a constant target)."""
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(60, features)), columns=["a", "b"][:features])
    regressor = lgb.LGBMRegressor(n_estimators=1, verbose=-1).fit(X, np.full(60, value))
    return regressor.booster_


def test_each_tier_gets_its_offset_and_the_others_the_pooled_one() -> None:
    scorer = ConformalRangeScorer(
        _constant_booster(math.log1p(99.0)),
        _constant_booster(math.log1p(999.0)),
        offsets={"A": math.log(2.0), "D": 0.0},
        pooled_offset=math.log(10.0),
        features=2,
    )
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0], "b": [0.0, 1.0, 2.0]})
    assert scorer.tier_offsets(np.array(["A", "B", "D"], dtype=object)).tolist() == pytest.approx(
        [math.log(2.0), math.log(10.0), 0.0]
    )
    low, high = scorer.bounds(X, np.array([300.0, 300.0, 300.0]), ["A", "B", "D"])
    assert low.tolist() == pytest.approx([49.0, 9.0, 99.0])
    assert high.tolist() == pytest.approx([1999.0, 9999.0, 999.0])
    assert scorer.predict(X).tolist() == pytest.approx([9999.0] * 3)  # the pooled high end
    base, contributions = scorer.contributions(X)
    assert base == 0.0 and contributions.shape == (3, 2) and not contributions.any()
    assert len(scorer.boosters) == 2
