"""The value range's estimator: conformalized quantile regression of log1p(spend), calibrated per tier
on the out-of-time calibration fold, stretched to contain the predicted value.

The method and its sources are in `model_contract.value_range`, which computes the range at serving
time. Fitting, in order:
1. two LightGBM quantile regressors (Koenker & Bassett 1978; LightGBM's `quantile` objective) of
   log1p(net spend clipped at 0) at (1 - level) / 2 and (1 + level) / 2, fitted on the fit rows. They
   stop boosting on a fifth of the fit rows' customers (`X_stop`), never on the calibration fold: split
   conformal prediction needs the fold untouched by fitting, so that its scores are exchangeable with
   those of new customers (Lei et al. 2018, section 2.2);
2. on the calibration fold, each row's conformity score: how far the interval stretched to the
   predicted value must be moved out to hold the actual spend (`conformity_scores`; Romano et al.
   2019, eq. 6, for the nested family of `model_contract.value_range`);
3. per tier, the ceil((n + 1) x level)-th smallest score of its n calibration rows
   (`conformal_offset`), for tiers with at least `min_tier_rows` rows; the offset of all rows for the
   others.

MAPIE's `ConformalizedQuantileRegressor` computes step 3 for one group and plain intervals (a test
checks that ours agrees with it there); it has neither the per-tier calibration nor the stretching to
the predicted value, and serving runs the registered scorer without training libraries, so the
offsets are computed here and stored as numbers.
"""

from __future__ import annotations

import logging
import math
from numbers import Integral, Real
from typing import Any, ClassVar

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from domain.errors import RangeCalibrationError
from domain.vocabulary import TIERS
from model_contract.scoring import raw_score
from model_contract.value_range import DEFAULT_RANGE_LEVEL, ConformalRangeScorer, log_spend
from training.models.boosting import fit_with_early_stopping, lightgbm_params

logger = logging.getLogger(__name__)

MIN_TIER_CALIBRATION_ROWS = 50
"""A tier with fewer calibration rows uses the offset of all rows. The coverage that n calibration rows
give is Beta-distributed around the level (Vovk 2012, "Conditional validity of inductive conformal
predictors"), with a standard deviation of sqrt(level (1 - level) / (n + 2)): 5.5 points at 50 rows
and an 80% level, 2.5 points at 250."""
OFFSET_FLOOR = -30.0
"""An offset below this (in log1p space, a factor of e^-30) already collapses every interval to its
point; it stands for minus infinity, which JSON and MLflow cannot store."""


def conformity_scores(
    lower_log: np.ndarray, upper_log: np.ndarray, actual_log: np.ndarray, point_log: np.ndarray | None = None
) -> np.ndarray:
    """Each row's score: the smallest offset whose interval holds the actual value (all in log1p space).

    Without `point_log`, CQR's score max(lower - actual, actual - upper). With it, the score of the
    served interval (`model_contract.value_range.range_bounds`): stretched to the point, its low end
    moved out by positive offsets only. An actual value below the point needs an offset only when it
    is below the lower quantile (then lower - actual > 0); one above the point needs actual - upper; an
    actual value the interval holds at any offset scores minus infinity.
    """
    lower, upper = np.minimum(lower_log, upper_log), np.maximum(lower_log, upper_log)
    if point_log is None:
        return np.maximum(lower - actual_log, actual_log - upper)
    below = np.where((actual_log < point_log) & (actual_log < lower), lower - actual_log, -np.inf)
    above = np.where(actual_log > point_log, actual_log - upper, -np.inf)
    return np.maximum(below, above)


def conformal_offset(scores: np.ndarray, level: float) -> float:
    """The split-conformal quantile: the ceil((n + 1) x level)-th smallest of n scores (Lei et al. 2018).

    A new row scored like these is then covered with probability at least `level`.
    """
    n = len(scores)
    rank = math.ceil(round((n + 1) * level, 9))  # rounded first: 15 x 0.8 is 12.000000000000002
    if rank > n:
        raise RangeCalibrationError(
            f"{n} calibration rows cannot calibrate a {level:.0%} value range (it needs at least "
            f"{math.ceil(round(level / (1 - level), 9))}): use more customers or a longer --value-horizon-days"
        )
    return max(float(np.partition(scores, rank - 1)[rank - 1]), OFFSET_FLOOR)


class ConformalValueRange(BaseEstimator):
    """An interval of net spend with coverage `level` per tier (see the module docstring).

    `fit(X, y, *, X_stop, y_stop, X_calibration, y_calibration, amount_calibration, tiers_calibration)`:
    `amount_calibration` is the value model's prediction for the calibration rows and
    `tiers_calibration` their tiers by the cut-points the pair serves with. Learned: `scorer_`
    (`model_contract.value_range.ConformalRangeScorer`), `lower_regressor_`, `upper_regressor_`,
    `offsets_` (per tier), `pooled_offset_`, `calibration_rows_` (per tier), `lgbm_params_`.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "level": [Interval(Real, 0, 1, closed="neither")],
        "lgbm_params": [dict, None],
        "min_tier_rows": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        level: float = DEFAULT_RANGE_LEVEL,
        lgbm_params: dict[str, Any] | None = None,
        min_tier_rows: int = MIN_TIER_CALIBRATION_ROWS,
        n_jobs: int = 1,
        random_state: int = 0,
    ) -> None:
        self.level = level
        self.lgbm_params = lgbm_params
        self.min_tier_rows = min_tier_rows
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(
        self,
        X: pd.DataFrame,
        y: Any,
        *,
        X_stop: pd.DataFrame,
        y_stop: Any,
        X_calibration: pd.DataFrame,
        y_calibration: Any,
        amount_calibration: Any,
        tiers_calibration: Any,
    ) -> ConformalValueRange:
        self._validate_params()
        if len(X) == 0 or len(X_stop) == 0:
            raise RangeCalibrationError(
                f"the value range needs fit rows ({len(X)}) and rows to stop its quantile regressors on "
                f"({len(X_stop)}); use more customers"
            )
        self.lgbm_params_ = lightgbm_params(self.random_state, self.n_jobs, self.lgbm_params)
        target, stop_target = log_spend(y), log_spend(y_stop)
        self.lower_regressor_ = self._quantile_regressor((1 - self.level) / 2, X, target, X_stop, stop_target)
        self.upper_regressor_ = self._quantile_regressor((1 + self.level) / 2, X, target, X_stop, stop_target)
        lower, upper = self.lower_regressor_.booster_, self.upper_regressor_.booster_
        scores = conformity_scores(
            raw_score(lower, X_calibration),
            raw_score(upper, X_calibration),
            log_spend(y_calibration),
            log_spend(amount_calibration),
        )
        tiers = np.asarray(tiers_calibration, dtype=object)
        self.pooled_offset_ = conformal_offset(scores, self.level)
        self.calibration_rows_ = {tier: int((tiers == tier).sum()) for tier in TIERS}
        self.offsets_: dict[str, float] = {
            tier: conformal_offset(scores[tiers == tier], self.level)
            for tier, rows in self.calibration_rows_.items()
            if rows >= self.min_tier_rows
        }
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.scorer_ = ConformalRangeScorer(
            lower, upper, self.offsets_, self.pooled_offset_, X.shape[1], self.level
        )
        logger.info(
            "value range: offsets %s (pooled %.3f) from calibration rows %s",
            self.offsets_,
            self.pooled_offset_,
            self.calibration_rows_,
        )
        return self

    def bounds(self, X: pd.DataFrame, amount: Any, tiers: Any) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) in currency, as serving computes them."""
        check_is_fitted(self, "scorer_")
        return self.scorer_.bounds(X, np.asarray(amount, dtype=np.float64), tiers)

    def _quantile_regressor(
        self, alpha: float, X: pd.DataFrame, y: np.ndarray, X_stop: pd.DataFrame, y_stop: np.ndarray
    ) -> lgb.LGBMRegressor:
        regressor = lgb.LGBMRegressor(objective="quantile", alpha=alpha, **self.lgbm_params_)
        fit_with_early_stopping(regressor, X, y, X_stop, y_stop)
        logger.debug("quantile %.2f: %d rounds", alpha, regressor.best_iteration_)
        return regressor
