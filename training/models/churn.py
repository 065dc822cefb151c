"""The churn classifier: gradient boosting for ranking, out-of-time calibration for honest probabilities.

Boosted trees rank well but their probabilities drift, and the retention playbook multiplies them by
customer value, so they must be calibrated (Niculescu-Mizil & Caruana 2005, "Predicting good
probabilities with supervised learning"). The calibration fold is the snapshot just before
validation: it is out of time for the booster, like the customers it will score.

Calibration method, chosen on the calibration fold:
- fewer than `MIN_ISOTONIC_MINORITY` rows of the rarer class: sigmoid (Platt 1999) on the raw margin,
  because isotonic regression overfits small samples;
- otherwise 5-fold cross-fitting inside the calibration fold: each method is fitted on four folds and
  scored by Brier on the fifth; the lower mean Brier wins (sigmoid on ties), then it is refitted on
  the whole fold.
Both maps are monotone in the raw margin, so they keep the booster's ranking (up to isotonic ties).
The same fold stops boosting early, so scores measured on it are slightly optimistic: report the
untouched validation snapshot instead.
"""

from __future__ import annotations

import logging
from numbers import Integral
from typing import Any, ClassVar, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from domain.errors import CalibrationDataError
from model_contract.scoring import CalibratedProbabilityScorer, raw_score
from training.models.boosting import fit_with_early_stopping, lightgbm_params

logger = logging.getLogger(__name__)

CalibrationMethod = Literal["sigmoid", "isotonic"]
MIN_CALIBRATION_MINORITY = 10
MIN_ISOTONIC_MINORITY = 100
CROSS_FIT_FOLDS = 5


class RawMarginScore(ClassifierMixin, BaseEstimator):
    """A column of LightGBM raw margins presented as a classifier's decision function.

    Wrapped in `FrozenEstimator`, it lets scikit-learn's `CalibratedClassifierCV` learn a map from
    raw margin to probability, which also converts margin-space SHAP values downstream.
    """

    def fit(self, X: Any = None, y: Any = None) -> RawMarginScore:
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=np.float64)[:, 0]

    def predict(self, X: Any) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(np.int64)


class ChurnModel(ClassifierMixin, BaseEstimator):
    """P(churn within the horizon) from a LightGBM classifier calibrated out of time.

    Parameters: `lgbm_params` overrides `training.models.boosting.DEFAULT_LIGHTGBM_PARAMS` (the
    parameters used are kept in `lgbm_params_`), `n_jobs` threads, `random_state` the seed.
    `fit(X, y, *, X_calibration, y_calibration)`: the calibration fold, the snapshot before the
    validation one, stops boosting early and fits the calibration map.

    Learned: `classifier_` (LGBMClassifier), `booster_` (its raw booster), `calibrator_` (fitted
    `CalibratedClassifierCV` from raw margin to probability), `calibration_method_` (sigmoid or
    isotonic), `calibration_brier_` (cross-fitted Brier per method, empty when the rule decided),
    `scorer_` (what the registry stores: `model_contract.scoring.CalibratedProbabilityScorer`),
    `lgbm_params_`, `classes_` and `feature_names_in_`.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "lgbm_params": [dict, None],
        "n_jobs": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, lgbm_params: dict[str, Any] | None = None, n_jobs: int = 1, random_state: int = 0):
        self.lgbm_params = lgbm_params
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: Any, *, X_calibration: pd.DataFrame, y_calibration: Any) -> ChurnModel:
        self._validate_params()
        y_train = _binary(y, "y")
        y_cal = _binary(y_calibration, "y_calibration")
        _check_calibration_fold(y_cal)
        self.lgbm_params_ = lightgbm_params(self.random_state, self.n_jobs, self.lgbm_params)
        classifier = lgb.LGBMClassifier(objective="binary", **self.lgbm_params_)
        fit_with_early_stopping(classifier, X, y_train, X_calibration, y_cal)
        self.classifier_ = classifier
        self.booster_ = classifier.booster_
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        margins = raw_score(self.booster_, X_calibration)
        method, briers = self._choose_method(margins, y_cal)
        self.calibration_method_: CalibrationMethod = method
        self.calibration_brier_ = briers
        self.calibrator_ = _fit_calibrator(margins, y_cal, method)
        self.scorer_ = CalibratedProbabilityScorer(
            self.booster_, self.calibrator_.calibrated_classifiers_[0].calibrators[0]
        )
        logger.info(
            "churn model: %d rounds, %s calibration on %d rows (cross-fitted Brier %s)",
            classifier.best_iteration_,
            method,
            len(y_cal),
            briers or "not compared",
        )
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Columns [P(stay), P(churn)], scikit-learn's convention."""
        churn = self.churn_probability(X)
        return np.column_stack([1.0 - churn, churn])

    def churn_probability(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "scorer_")
        return self.scorer_.predict(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.churn_probability(X) >= 0.5).astype(np.int64)

    def contributions(self, X: pd.DataFrame) -> tuple[float, np.ndarray]:
        """(base probability, per-feature contributions in probability points); see the scorer."""
        check_is_fitted(self, "scorer_")
        return self.scorer_.contributions(X)

    def _choose_method(
        self, margins: np.ndarray, y_cal: np.ndarray
    ) -> tuple[CalibrationMethod, dict[str, float]]:
        if min(np.bincount(y_cal, minlength=2)) < MIN_ISOTONIC_MINORITY:
            return "sigmoid", {}
        folds = StratifiedKFold(CROSS_FIT_FOLDS, shuffle=True, random_state=self.random_state)
        briers: dict[str, float] = {}
        for method in ("sigmoid", "isotonic"):
            scores = [
                brier_score_loss(
                    y_cal[held_out],
                    _fit_calibrator(margins[fitted], y_cal[fitted], method).predict_proba(
                        margins[held_out].reshape(-1, 1)
                    )[:, 1],
                )
                for fitted, held_out in folds.split(margins.reshape(-1, 1), y_cal)
            ]
            briers[method] = float(np.mean(scores))
        best: CalibrationMethod = "isotonic" if briers["isotonic"] < briers["sigmoid"] else "sigmoid"
        return best, briers


def _fit_calibrator(margins: np.ndarray, y: np.ndarray, method: CalibrationMethod) -> CalibratedClassifierCV:
    calibrator = CalibratedClassifierCV(FrozenEstimator(RawMarginScore().fit()), method=method)
    return calibrator.fit(margins.reshape(-1, 1), y)


def _binary(y: Any, name: str) -> np.ndarray:
    values = np.asarray(y, dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError(
            f"{name} has {int(np.isnan(values).sum())} missing churn labels: keep only eligible rows "
            "(churned not null) before fitting"
        )
    if not np.isin(values, (0.0, 1.0)).all():
        raise ValueError(f"{name} must hold 0 (stayed) or 1 (churned) only")
    return values.astype(np.int64)


def _check_calibration_fold(y_cal: np.ndarray) -> None:
    stayed, churned = np.bincount(y_cal, minlength=2)
    if min(stayed, churned) < MIN_CALIBRATION_MINORITY:
        raise CalibrationDataError(
            f"the calibration snapshot has {churned} churners and {stayed} stayers; calibration needs at "
            f"least {MIN_CALIBRATION_MINORITY} of each: use more customers or a longer --churn-horizon-days"
        )
