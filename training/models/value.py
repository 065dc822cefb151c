"""The value regressor: expected net spend over the value horizon, zero-inflated and heavy-tailed.

Most customers spend nothing in a horizon and a few spend a lot, so squared error on the raw amount
is the wrong loss. Two candidates, both LightGBM with a log link:
- Tweedie: one compound Poisson-gamma model of the amount (Jørgensen 1987; Zhou, Yang & Qian 2022,
  "Tweedie gradient boosting for extremely unbalanced zero-inflated data"), variance power tuned
  among `VARIANCE_POWERS`;
- two-part (hurdle): P(buy) from a classifier times E[spend | buy] from a gamma regressor fitted on
  buyers (Cragg 1971). The gamma log link predicts the conditional mean directly, so no
  retransformation (smearing) correction is needed, unlike a regressor on log1p(spend).
`select_value_model` fits all of them and keeps the best on the calibration snapshot: highest
normalized Gini (the ranking that decides the tiers; `training.metrics`, as in the backtest), then,
among candidates within `GINI_TIE_TOLERANCE` of the best, lowest mean absolute error, then the first
in candidate order.

Targets are net spend, refunds included; negative totals are clipped to 0 for training and scoring,
since both losses need non-negative targets and a net refunder is worth nothing to retain.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from domain.errors import InsufficientBuyersError
from model_contract.scoring import LogLinkAmountScorer, Scorer, TwoPartAmountScorer
from training.metrics import mae, normalized_gini
from training.models.boosting import fit_with_early_stopping, lightgbm_params

logger = logging.getLogger(__name__)

VARIANCE_POWERS = (1.2, 1.5, 1.8)
GINI_TIE_TOLERANCE = 0.005
MIN_BUYERS = 20


class ValueModel(RegressorMixin, BaseEstimator, ABC):
    """Expected net spend >= 0 per customer, with per-feature contributions in currency.

    `fit(X, y, *, X_calibration, y_calibration)`: the calibration fold stops boosting early.
    `lgbm_params` overrides the LightGBM defaults; the parameters used are kept in `lgbm_params_`.
    Learned: `scorer_` (what the registry stores, from `model_contract.scoring`), the fitted
    LightGBM estimators and boosters, `lgbm_params_` and `feature_names_in_`.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "lgbm_params": [dict, None],
        "n_jobs": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left")],
    }
    scorer_: Scorer

    @property
    @abstractmethod
    def name(self) -> str:
        """Short identifier used in the model comparison, e.g. "tweedie_1.5"."""

    @abstractmethod
    def fit(
        self, X: pd.DataFrame, y: Any, *, X_calibration: pd.DataFrame, y_calibration: Any
    ) -> ValueModel: ...

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "scorer_")
        return self.scorer_.predict(X)

    def contributions(self, X: pd.DataFrame) -> tuple[float, np.ndarray]:
        """(base value, n x features contributions in currency); rows sum to prediction - base."""
        check_is_fitted(self, "scorer_")
        return self.scorer_.contributions(X)


class TweedieValueModel(ValueModel):
    """One LightGBM Tweedie regressor; `booster_` predicts log expected spend as its raw score."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **ValueModel._parameter_constraints,
        "variance_power": [Interval(Real, 1, 2, closed="neither")],
    }

    def __init__(
        self,
        variance_power: float = 1.5,
        lgbm_params: dict[str, Any] | None = None,
        n_jobs: int = 1,
        random_state: int = 0,
    ) -> None:
        self.variance_power = variance_power
        self.lgbm_params = lgbm_params
        self.n_jobs = n_jobs
        self.random_state = random_state

    @property
    def name(self) -> str:
        return f"tweedie_{self.variance_power}"

    def fit(
        self, X: pd.DataFrame, y: Any, *, X_calibration: pd.DataFrame, y_calibration: Any
    ) -> TweedieValueModel:
        self._validate_params()
        target, cal_target = spend_target(y, "y"), spend_target(y_calibration, "y_calibration")
        _require_buyers(target, 1, "y")
        self.lgbm_params_ = lightgbm_params(self.random_state, self.n_jobs, self.lgbm_params, len(X))
        regressor = lgb.LGBMRegressor(
            objective="tweedie", tweedie_variance_power=self.variance_power, **self.lgbm_params_
        )
        fit_with_early_stopping(regressor, X, target, X_calibration, cal_target)
        self.regressor_ = regressor
        self.booster_ = regressor.booster_
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.scorer_ = LogLinkAmountScorer(self.booster_)
        return self


class TwoPartValueModel(ValueModel):
    """P(buy) x E[spend | buy]: `purchase_booster_` (logit) and `spend_booster_` (log, gamma)."""

    def __init__(
        self, lgbm_params: dict[str, Any] | None = None, n_jobs: int = 1, random_state: int = 0
    ) -> None:
        self.lgbm_params = lgbm_params
        self.n_jobs = n_jobs
        self.random_state = random_state

    @property
    def name(self) -> str:
        return "two_part"

    def fit(
        self, X: pd.DataFrame, y: Any, *, X_calibration: pd.DataFrame, y_calibration: Any
    ) -> TwoPartValueModel:
        self._validate_params()
        target, cal_target = spend_target(y, "y"), spend_target(y_calibration, "y_calibration")
        _require_buyers(target, MIN_BUYERS, "y")
        _require_buyers(cal_target, 1, "y_calibration")
        if (target > 0).all():
            raise InsufficientBuyersError("y has no customer without spend; P(buy) cannot be learned")
        self.lgbm_params_ = lightgbm_params(self.random_state, self.n_jobs, self.lgbm_params, len(X))
        purchase = lgb.LGBMClassifier(objective="binary", **self.lgbm_params_)
        fit_with_early_stopping(purchase, X, target > 0, X_calibration, cal_target > 0)
        buyers, cal_buyers = target > 0, cal_target > 0
        spend = lgb.LGBMRegressor(objective="gamma", **self.lgbm_params_)
        fit_with_early_stopping(
            spend, X[buyers], target[buyers], X_calibration[cal_buyers], cal_target[cal_buyers]
        )
        self.purchase_classifier_, self.spend_regressor_ = purchase, spend
        self.purchase_booster_, self.spend_booster_ = purchase.booster_, spend.booster_
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.scorer_ = TwoPartAmountScorer(self.purchase_booster_, self.spend_booster_)
        return self


def select_value_model(
    X: pd.DataFrame,
    y: Any,
    *,
    X_calibration: pd.DataFrame,
    y_calibration: Any,
    variance_powers: Sequence[float] = VARIANCE_POWERS,
    two_part: bool = True,
    n_jobs: int = 1,
    random_state: int = 0,
) -> tuple[ValueModel, dict[str, Any]]:
    """Fit every candidate and keep the best on the calibration snapshot (rule in the module docstring).

    `variance_powers` and `two_part` say which candidates take part (a refit passes only the one its
    backtest chose).

    The comparison dict is JSON-ready: per candidate its normalized Gini and MAE on the calibration
    snapshot (or why it was skipped), the selected name and the rule.
    """
    candidates: list[ValueModel] = [
        TweedieValueModel(power, n_jobs=n_jobs, random_state=random_state) for power in variance_powers
    ]
    if two_part:
        candidates.append(TwoPartValueModel(n_jobs=n_jobs, random_state=random_state))
    actual = spend_target(y_calibration, "y_calibration")
    _require_buyers(actual, 1, "y_calibration")
    scores: dict[str, dict[str, Any]] = {}
    fitted: dict[str, ValueModel] = {}
    for candidate in candidates:
        try:
            candidate.fit(X, y, X_calibration=X_calibration, y_calibration=y_calibration)
        except InsufficientBuyersError as error:
            logger.warning("value candidate %s skipped: %s", candidate.name, error)
            scores[candidate.name] = {"skipped": str(error)}
            continue
        predicted = candidate.predict(X_calibration)
        scores[candidate.name] = {
            "normalized_gini": normalized_gini(actual, predicted),
            "mae": mae(actual, predicted),
        }
        fitted[candidate.name] = candidate
    if not fitted:
        raise InsufficientBuyersError(f"no value model could be fitted: {scores}")
    selected = choose_candidate(scores)
    logger.info("value model selected: %s (%s)", selected, scores[selected])
    comparison = {
        "candidates": scores,
        "selected": selected,
        "rule": (
            f"highest normalized Gini on the calibration snapshot; within {GINI_TIE_TOLERANCE} of the "
            "best, lowest MAE; then candidate order"
        ),
    }
    return fitted[selected], comparison


def choose_candidate(scores: dict[str, dict[str, Any]]) -> str:
    """The selection rule on {name: {"normalized_gini", "mae"} or {"skipped"}}, in candidate order."""
    scored = [name for name, score in scores.items() if "skipped" not in score]
    best_gini = max(scores[name]["normalized_gini"] for name in scored)
    contenders = [
        name for name in scored if scores[name]["normalized_gini"] >= best_gini - GINI_TIE_TOLERANCE
    ]
    return min(contenders, key=lambda name: scores[name]["mae"])


def spend_target(y: Any, name: str) -> np.ndarray:
    """Net spend clipped at 0 (see the module docstring); missing values are an error."""
    values = np.asarray(y, dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError(f"{name} has {int(np.isnan(values).sum())} missing future_value labels")
    return np.clip(values, 0.0, None)


def _require_buyers(target: np.ndarray, minimum: int, name: str) -> None:
    buyers = int((target > 0).sum())
    if buyers < minimum:
        raise InsufficientBuyersError(
            f"{name} has {buyers} customers with positive spend; this model needs at least {minimum}: "
            "use more customers or a longer --value-horizon-days"
        )
