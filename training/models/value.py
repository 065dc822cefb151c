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
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from domain.errors import InsufficientBuyersError
from training.metrics import mae, normalized_gini
from training.models.boosting import (
    fit_with_early_stopping,
    lightgbm_params,
    raw_contributions,
    raw_score,
    rescale_to_output,
)

logger = logging.getLogger(__name__)

VARIANCE_POWERS = (1.2, 1.5, 1.8)
GINI_TIE_TOLERANCE = 0.005
MIN_BUYERS = 20


class ValueModel(RegressorMixin, BaseEstimator, ABC):
    """Expected net spend >= 0 per customer, with per-feature contributions in currency."""

    @property
    @abstractmethod
    def name(self) -> str:
        """Short identifier used in the model comparison, e.g. "tweedie_1.5"."""

    @abstractmethod
    def fit(self, X_train: pd.DataFrame, y_train: Any, X_cal: pd.DataFrame, y_cal: Any) -> ValueModel: ...

    @abstractmethod
    def predict(self, X: pd.DataFrame) -> np.ndarray: ...

    @abstractmethod
    def contributions(self, X: pd.DataFrame) -> tuple[float, np.ndarray]:
        """(base value, n x features contributions in currency); rows sum to prediction - base."""


class TweedieValueModel(ValueModel):
    """One LightGBM Tweedie regressor; `booster_` predicts log expected spend as its raw score."""

    def __init__(self, variance_power: float = 1.5, n_jobs: int = 1, random_state: int = 0) -> None:
        self.variance_power = variance_power
        self.n_jobs = n_jobs
        self.random_state = random_state

    @property
    def name(self) -> str:
        return f"tweedie_{self.variance_power}"

    def fit(self, X_train: pd.DataFrame, y_train: Any, X_cal: pd.DataFrame, y_cal: Any) -> TweedieValueModel:
        target, cal_target = spend_target(y_train, "y_train"), spend_target(y_cal, "y_cal")
        _require_buyers(target, 1, "y_train")
        regressor = lgb.LGBMRegressor(
            objective="tweedie",
            tweedie_variance_power=self.variance_power,
            **lightgbm_params(self.random_state, self.n_jobs),
        )
        fit_with_early_stopping(regressor, X_train, target, X_cal, cal_target)
        self.regressor_ = regressor
        self.booster_ = regressor.booster_
        self.feature_names_in_ = np.asarray(X_train.columns, dtype=object)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.exp(raw_score(self.booster_, X))

    def contributions(self, X: pd.DataFrame) -> tuple[float, np.ndarray]:
        """TreeSHAP in log space rescaled to currency: each row sums to exp(raw) - exp(expected raw).

        The base is exp of the expected log prediction (a geometric-mean-like amount, below the mean
        prediction). See `training.models.boosting` for the proportional rescaling.
        """
        raw_base, raw_contrib = raw_contributions(self.booster_, X)
        base = float(np.exp(raw_base))
        predicted = np.exp(raw_base + raw_contrib.sum(axis=1))
        return base, rescale_to_output(raw_contrib, raw_base, predicted, base)


class TwoPartValueModel(ValueModel):
    """P(buy) x E[spend | buy]: `purchase_booster_` (logit) and `spend_booster_` (log, gamma)."""

    def __init__(self, n_jobs: int = 1, random_state: int = 0) -> None:
        self.n_jobs = n_jobs
        self.random_state = random_state

    @property
    def name(self) -> str:
        return "two_part"

    def fit(self, X_train: pd.DataFrame, y_train: Any, X_cal: pd.DataFrame, y_cal: Any) -> TwoPartValueModel:
        target, cal_target = spend_target(y_train, "y_train"), spend_target(y_cal, "y_cal")
        _require_buyers(target, MIN_BUYERS, "y_train")
        _require_buyers(cal_target, 1, "y_cal")
        if (target > 0).all():
            raise InsufficientBuyersError("y_train has no customer without spend; P(buy) cannot be learned")
        params = lightgbm_params(self.random_state, self.n_jobs)
        purchase = lgb.LGBMClassifier(objective="binary", **params)
        fit_with_early_stopping(purchase, X_train, target > 0, X_cal, cal_target > 0)
        buyers, cal_buyers = target > 0, cal_target > 0
        spend = lgb.LGBMRegressor(objective="gamma", **params)
        fit_with_early_stopping(
            spend, X_train[buyers], target[buyers], X_cal[cal_buyers], cal_target[cal_buyers]
        )
        self.purchase_classifier_, self.spend_regressor_ = purchase, spend
        self.purchase_booster_, self.spend_booster_ = purchase.booster_, spend.booster_
        self.feature_names_in_ = np.asarray(X_train.columns, dtype=object)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return _sigmoid(raw_score(self.purchase_booster_, X)) * np.exp(raw_score(self.spend_booster_, X))

    def contributions(self, X: pd.DataFrame) -> tuple[float, np.ndarray]:
        """Each part's TreeSHAP rescaled to its own units, then combined by the Shapley split of a product.

        With p, s the purchase probability and conditional spend and p0, s0 their bases,
        p*s - p0*s0 = (p - p0)(s + s0)/2 + (s - s0)(p + p0)/2, so a feature's currency contribution is
        its probability share times (s + s0)/2 plus its spend share times (p + p0)/2. Base = p0 * s0.
        """
        logit_base, logit_contrib = raw_contributions(self.purchase_booster_, X)
        log_base, log_contrib = raw_contributions(self.spend_booster_, X)
        p0, s0 = float(_sigmoid(np.array(logit_base))), float(np.exp(log_base))
        p = _sigmoid(logit_base + logit_contrib.sum(axis=1))
        s = np.exp(log_base + log_contrib.sum(axis=1))
        purchase_share = rescale_to_output(logit_contrib, logit_base, p, p0)
        spend_share = rescale_to_output(log_contrib, log_base, s, s0)
        combined = purchase_share * ((s + s0) / 2)[:, None] + spend_share * ((p + p0) / 2)[:, None]
        return p0 * s0, combined


def select_value_model(
    X_train: pd.DataFrame,
    y_train: Any,
    X_cal: pd.DataFrame,
    y_cal: Any,
    *,
    variance_powers: Sequence[float] = VARIANCE_POWERS,
    n_jobs: int = 1,
    random_state: int = 0,
) -> tuple[ValueModel, dict[str, Any]]:
    """Fit every candidate and keep the best on the calibration snapshot (rule in the module docstring).

    The comparison dict is JSON-ready: per candidate its normalized Gini and MAE on the calibration
    snapshot (or why it was skipped), the selected name and the rule.
    """
    candidates: list[ValueModel] = [
        TweedieValueModel(power, n_jobs=n_jobs, random_state=random_state) for power in variance_powers
    ]
    candidates.append(TwoPartValueModel(n_jobs=n_jobs, random_state=random_state))
    actual = spend_target(y_cal, "y_cal")
    _require_buyers(actual, 1, "y_cal")
    scores: dict[str, dict[str, Any]] = {}
    fitted: dict[str, ValueModel] = {}
    for candidate in candidates:
        try:
            candidate.fit(X_train, y_train, X_cal, y_cal)
        except InsufficientBuyersError as error:
            logger.warning("value candidate %s skipped: %s", candidate.name, error)
            scores[candidate.name] = {"skipped": str(error)}
            continue
        predicted = candidate.predict(X_cal)
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


def _sigmoid(raw: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-raw))
