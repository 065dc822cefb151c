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
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold

from domain.errors import CalibrationDataError
from training.models.boosting import (
    fit_with_early_stopping,
    lightgbm_params,
    raw_contributions,
    raw_score,
    rescale_to_output,
)

logger = logging.getLogger(__name__)

CalibrationMethod = Literal["sigmoid", "isotonic"]
MIN_CALIBRATION_MINORITY = 10
MIN_ISOTONIC_MINORITY = 100
CROSS_FIT_FOLDS = 5


def _is_sigmoid_map(mapping: Any) -> bool:
    """Whether `mapping` is scikit-learn's fitted Platt map (a private class: matched by name and fields)."""
    return (
        type(mapping).__name__ == "_SigmoidCalibration" and hasattr(mapping, "a_") and hasattr(mapping, "b_")
    )


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

    Learned: `classifier_` (LGBMClassifier), `booster_` (its raw booster, for TreeSHAP),
    `calibrator_` (fitted `CalibratedClassifierCV` from raw margin to probability) and its fitted
    map `raw_to_probability_` (sigmoid or isotonic),
    `calibration_method_`, `calibration_brier_` (cross-fitted Brier per method, empty when the rule
    decided) and `feature_names_in_`.
    """

    def __init__(self, n_jobs: int = 1, random_state: int = 0) -> None:
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X_train: pd.DataFrame, y_train: Any, X_cal: pd.DataFrame, y_cal: Any) -> ChurnModel:
        y_train_array = _binary(y_train, "y_train")
        y_cal_array = _binary(y_cal, "y_cal")
        _check_calibration_fold(y_cal_array)
        classifier = lgb.LGBMClassifier(objective="binary", **lightgbm_params(self.random_state, self.n_jobs))
        fit_with_early_stopping(classifier, X_train, y_train_array, X_cal, y_cal_array)
        self.classifier_ = classifier
        self.booster_ = classifier.booster_
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.asarray(X_train.columns, dtype=object)
        margins = raw_score(self.booster_, X_cal)
        method, briers = self._choose_method(margins, y_cal_array)
        self.calibration_method_: CalibrationMethod = method
        self.calibration_brier_ = briers
        self.calibrator_ = _fit_calibrator(margins, y_cal_array, method)
        self.raw_to_probability_ = self.calibrator_.calibrated_classifiers_[0].calibrators[0]
        logger.info(
            "churn model: %d rounds, %s calibration on %d rows (cross-fitted Brier %s)",
            classifier.best_iteration_,
            method,
            len(y_cal_array),
            briers or "not compared",
        )
        return self

    def raw_margin(self, X: pd.DataFrame) -> np.ndarray:
        return raw_score(self.booster_, X)

    def calibrated_from_raw(self, raw_margin: np.ndarray) -> np.ndarray:
        """Calibrated P(churn) for raw LightGBM margins (log-odds before calibration).

        Applies the one fitted map inside `calibrator_` directly (`raw_to_probability_`), which is
        what `calibrator_.predict_proba(margins)[:, 1]` computes without its per-call validation.
        For the isotonic map that means its clip and interpolation (`IsotonicRegression._transform`
        minus `check_array`, which costs about 0.1 ms per call); for the sigmoid map, scikit-learn's
        `expit(-(a * margin + b))` minus `column_or_1d`, whose dataframe checks cost about 0.4 ms.
        """
        margins = np.asarray(raw_margin, dtype=np.float64).reshape(-1)
        mapping = self.raw_to_probability_
        if isinstance(mapping, IsotonicRegression) and mapping.X_thresholds_.dtype == np.float64:
            if not np.isfinite(margins).all():
                raise ValueError("raw margins contain NaN or infinity; LightGBM margins are always finite")
            if mapping.out_of_bounds == "clip":
                margins = np.clip(margins, mapping.X_min_, mapping.X_max_)
            probabilities = np.asarray(mapping.f_(margins), dtype=np.float64)
        elif _is_sigmoid_map(mapping):
            probabilities = expit(-(mapping.a_ * margins + mapping.b_))
        else:
            probabilities = np.asarray(mapping.predict(margins), dtype=np.float64)
        return np.clip(probabilities, 0.0, 1.0)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Columns [P(stay), P(churn)], scikit-learn's convention."""
        churn = self.churn_probability(X)
        return np.column_stack([1.0 - churn, churn])

    def churn_probability(self, X: pd.DataFrame) -> np.ndarray:
        return self.calibrated_from_raw(self.raw_margin(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.churn_probability(X) >= 0.5).astype(np.int64)

    def contributions(self, X: pd.DataFrame) -> tuple[float, np.ndarray]:
        """(base probability, per-feature contributions in probability points).

        The base is the calibrated probability of the expected raw margin (TreeSHAP's base value),
        not the mean predicted probability; each row's contributions sum to its calibrated
        probability minus that base. See `training.models.boosting` for the rescaling.
        """
        raw_base, raw_contrib = raw_contributions(self.booster_, X)
        probability = self.calibrated_from_raw(raw_base + raw_contrib.sum(axis=1))
        base = float(self.calibrated_from_raw(np.array([raw_base]))[0])
        return base, rescale_to_output(raw_contrib, raw_base, probability, base)

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
