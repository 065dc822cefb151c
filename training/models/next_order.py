"""How many orders, and when the next one comes: the two estimators behind `predicted_orders` and
`expected_next_order_date`.

- `OrderCountModel`: the number of orders over the value horizon, for every customer. A LightGBM
  regressor with the Poisson deviance and a log link, the standard loss for counts (McCullagh &
  Nelder 1989, "Generalized linear models", ch. 6): it predicts the expected count, never negative,
  and its errors grow with the count as a count's do.
- `DaysToNextOrderModel`: the days from the cutoff to an active customer's next order, learned on the
  active customers who did order within the churn horizon (the complement of the churn label). The
  date is conditional on the customer ordering in that window, which is what the churn probability
  gives the chance of; together they read "if this customer orders again (70%), most likely around
  12 May". A LightGBM regressor with the absolute loss predicts the conditional median (Koenker &
  Bassett 1978, "Regression quantiles"), the number that minimises the mean absolute error in days
  the backtest reports, and half of the customers who order do so before it. A customer's own rhythm
  (`days_since_last_order`, `mean_days_between_orders`, `recency_vs_usual_interval`) is among its
  features, so the model learns how far to trust it: the naive "last order plus usual interval" is
  the baseline it is judged against (`training.order_baselines`). Predictions are kept in the window
  the labels come from (0 to the longest gap seen, below the churn horizon).

Both stop boosting on the calibration fold, as the value model does, and hand a scorer from
`model_contract.scoring` to the registry.
"""

from __future__ import annotations

import logging
from numbers import Integral
from typing import Any, ClassVar

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from model_contract.scoring import BoundedDaysScorer, LogLinkAmountScorer, Scorer
from training.models.boosting import fit_with_early_stopping, lightgbm_params

logger = logging.getLogger(__name__)


class _ForecastModel(RegressorMixin, BaseEstimator):
    """`fit(X, y, *, X_calibration, y_calibration)` with early stopping on the calibration fold;
    `lgbm_params` overrides the LightGBM defaults. Learned: `scorer_`, `booster_`, `lgbm_params_`,
    `feature_names_in_`."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "lgbm_params": [dict, None],
        "n_jobs": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left")],
    }
    scorer_: Scorer

    def __init__(
        self, lgbm_params: dict[str, Any] | None = None, n_jobs: int = 1, random_state: int = 0
    ) -> None:
        self.lgbm_params = lgbm_params
        self.n_jobs = n_jobs
        self.random_state = random_state

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "scorer_")
        return self.scorer_.predict(X)

    def _boost(
        self, objective: str, X: pd.DataFrame, y: np.ndarray, X_calibration: pd.DataFrame, y_cal: np.ndarray
    ) -> lgb.Booster:
        self._validate_params()
        self.lgbm_params_ = lightgbm_params(self.random_state, self.n_jobs, self.lgbm_params)
        regressor = lgb.LGBMRegressor(objective=objective, **self.lgbm_params_)
        fit_with_early_stopping(regressor, X, y, X_calibration, y_cal)
        self.regressor_ = regressor
        self.booster_ = regressor.booster_
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        logger.info("%s: %d rounds on %d rows", type(self).__name__, regressor.best_iteration_, len(y))
        return regressor.booster_


class OrderCountModel(_ForecastModel):
    """Expected number of orders over the value horizon: LightGBM Poisson, exp(raw score)."""

    def fit(
        self, X: pd.DataFrame, y: Any, *, X_calibration: pd.DataFrame, y_calibration: Any
    ) -> OrderCountModel:
        target, cal_target = order_counts(y, "y"), order_counts(y_calibration, "y_calibration")
        self.scorer_ = LogLinkAmountScorer(self._boost("poisson", X, target, X_calibration, cal_target))
        return self


class DaysToNextOrderModel(_ForecastModel):
    """Median days from the cutoff to the next order of a customer who orders: LightGBM L1, clipped."""

    def fit(
        self, X: pd.DataFrame, y: Any, *, X_calibration: pd.DataFrame, y_calibration: Any
    ) -> DaysToNextOrderModel:
        target, cal_target = days_target(y, "y"), days_target(y_calibration, "y_calibration")
        booster = self._boost("regression_l1", X, target, X_calibration, cal_target)
        self.upper_days_ = float(max(target.max(), cal_target.max()))
        self.scorer_ = BoundedDaysScorer(booster, self.upper_days_)
        return self


def order_counts(y: Any, name: str) -> np.ndarray:
    """Order counts as floats; missing or negative counts are an error (they come from `build_order_labels`)."""
    values = np.asarray(y, dtype=np.float64)
    if np.isnan(values).any() or (values < 0).any():
        raise ValueError(f"{name} must hold order counts >= 0 (future_orders), without missing values")
    return values


def days_target(y: Any, name: str) -> np.ndarray:
    """Days to the next order; a missing value means the rows were not restricted to customers who order."""
    values = np.asarray(y, dtype=np.float64)
    if len(values) == 0 or np.isnan(values).any():
        raise ValueError(
            f"{name} has missing or no days to the next order: keep only the active customers who ordered "
            "within the churn horizon (ModelSpec.retained_only)"
        )
    return values
