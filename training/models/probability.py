"""A probability per population: gradient boosting for ranking, out-of-time Platt scaling for honesty.

Churn (an active customer places no order in the horizon), reactivation (a lapsed customer orders
again) and conversion (a prospect's first order) are the same estimator on different rows and labels.
Boosted trees rank well but their probabilities drift, and the retention playbook multiplies them by
customer value, so they must be calibrated (Niculescu-Mizil & Caruana 2005, "Predicting good
probabilities with supervised learning"). The calibration fold is a snapshot after every fit row's
label window (`training.schedule`): out of time for the booster, like the customers it will score.

Calibration is Platt's sigmoid on the raw margin (Platt 1999). It is strictly increasing, so it keeps
the booster's ranking with no ties, and a customer whose margin differs from the baseline's always has
a probability that differs too, hence reasons; isotonic regression, tried before, put whole groups of
customers on the baseline's step (6.6% had no reason at all) and tied their ranks. The same fold stops
boosting early, so scores measured on it are slightly optimistic: report the untouched validation
snapshot instead.

Where the domain is unambiguous the booster is constrained to be monotone (`monotone_increasing`,
`monotone_decreasing`: LightGBM's monotone constraints, "intermediate" method): a longer silence
relative to the customer's own rhythm, or another complaint, never lowers the churn probability.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from numbers import Integral
from typing import Any, ClassVar

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from domain.errors import CalibrationDataError
from model_contract.scoring import CalibratedProbabilityScorer, raw_score
from training.models.boosting import fit_with_early_stopping, lightgbm_params

logger = logging.getLogger(__name__)

MIN_CALIBRATION_MINORITY = 10


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


class ProbabilityModel(ClassifierMixin, BaseEstimator):
    """P(label = 1 within the horizon) from a LightGBM classifier calibrated out of time.

    Parameters: `lgbm_params` overrides `training.models.boosting.DEFAULT_LIGHTGBM_PARAMS` (the
    parameters used are kept in `lgbm_params_`); `monotone_increasing` and `monotone_decreasing` name
    features the probability may only rise or only fall with (others are free); `n_jobs` threads,
    `random_state` the seed. `fit(X, y, *, X_calibration, y_calibration)`: the calibration fold stops
    boosting early and fits the sigmoid.

    Learned: `classifier_` (LGBMClassifier), `booster_` (its raw booster), `calibrator_` (fitted
    `CalibratedClassifierCV` from raw margin to probability), `scorer_` (what the registry stores:
    `model_contract.scoring.CalibratedProbabilityScorer`), `lgbm_params_`, `classes_` and
    `feature_names_in_`.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "lgbm_params": [dict, None],
        "monotone_increasing": [tuple, list],
        "monotone_decreasing": [tuple, list],
        "n_jobs": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        lgbm_params: dict[str, Any] | None = None,
        monotone_increasing: Sequence[str] = (),
        monotone_decreasing: Sequence[str] = (),
        n_jobs: int = 1,
        random_state: int = 0,
    ):
        self.lgbm_params = lgbm_params
        self.monotone_increasing = monotone_increasing
        self.monotone_decreasing = monotone_decreasing
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(
        self, X: pd.DataFrame, y: Any, *, X_calibration: pd.DataFrame, y_calibration: Any
    ) -> ProbabilityModel:
        self._validate_params()
        y_train = _binary(y, "y")
        y_cal = _binary(y_calibration, "y_calibration")
        _check_calibration_fold(y_cal)
        self.lgbm_params_ = lightgbm_params(self.random_state, self.n_jobs, self.lgbm_params, len(X))
        constraints = _monotone_constraints(
            list(X.columns), self.monotone_increasing, self.monotone_decreasing
        )
        if any(constraints):
            self.lgbm_params_ = {
                **self.lgbm_params_,
                "monotone_constraints": constraints,
                "monotone_constraints_method": "intermediate",
            }
        classifier = lgb.LGBMClassifier(objective="binary", **self.lgbm_params_)
        fit_with_early_stopping(classifier, X, y_train, X_calibration, y_cal)
        self.classifier_ = classifier
        self.booster_ = classifier.booster_
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        margins = raw_score(self.booster_, X_calibration)
        self.calibrator_ = _fit_calibrator(margins, y_cal)
        self.scorer_ = CalibratedProbabilityScorer(
            self.booster_, self.calibrator_.calibrated_classifiers_[0].calibrators[0]
        )
        logger.info(
            "probability model: %d rounds, sigmoid calibration on %d rows",
            classifier.best_iteration_,
            len(y_cal),
        )
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Columns [P(0), P(1)], scikit-learn's convention."""
        positive = self.probability(X)
        return np.column_stack([1.0 - positive, positive])

    def probability(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "scorer_")
        return self.scorer_.predict(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.probability(X) >= 0.5).astype(np.int64)

    def contributions(self, X: pd.DataFrame) -> tuple[float, np.ndarray]:
        """(base probability, per-feature contributions in probability points); see the scorer."""
        check_is_fitted(self, "scorer_")
        return self.scorer_.contributions(X)


def _monotone_constraints(
    columns: Sequence[str], increasing: Sequence[str], decreasing: Sequence[str]
) -> list[int]:
    """LightGBM's constraint per column: 1 increasing, -1 decreasing, 0 free; named features must exist."""
    unknown = sorted((set(increasing) | set(decreasing)) - set(columns))
    if unknown:
        raise ValueError(f"monotone constraints name features {unknown} that the matrix lacks")
    both = sorted(set(increasing) & set(decreasing))
    if both:
        raise ValueError(f"features {both} cannot be both monotone increasing and decreasing")
    return [1 if name in increasing else -1 if name in decreasing else 0 for name in columns]


def _fit_calibrator(margins: np.ndarray, y: np.ndarray) -> CalibratedClassifierCV:
    calibrator = CalibratedClassifierCV(FrozenEstimator(RawMarginScore().fit()), method="sigmoid")
    return calibrator.fit(margins.reshape(-1, 1), y)


def _binary(y: Any, name: str) -> np.ndarray:
    values = np.asarray(y, dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError(
            f"{name} has {int(np.isnan(values).sum())} missing labels: keep only the rows of the model's "
            "population (label not null) before fitting"
        )
    if not np.isin(values, (0.0, 1.0)).all():
        raise ValueError(f"{name} must hold 0 or 1 only")
    return values.astype(np.int64)


def _check_calibration_fold(y_cal: np.ndarray) -> None:
    negatives, positives = np.bincount(y_cal, minlength=2)
    if min(negatives, positives) < MIN_CALIBRATION_MINORITY:
        raise CalibrationDataError(
            f"the calibration snapshot has {positives} positives and {negatives} negatives; calibration needs "
            f"at least {MIN_CALIBRATION_MINORITY} of each: use more customers or a longer --churn-horizon-days"
        )
