"""Meta-learners of an action's uplift on LightGBM: the T-learner and the X-learner.

Both come from Kunzel, Sekhon, Bickel & Yu, "Metalearners for estimating heterogeneous treatment
effects using machine learning", PNAS 116(10), 2019:

- **T-learner**: one outcome classifier on the treated customers (mu_1), one on the control customers
  (mu_0); uplift(x) = mu_1(x) - mu_0(x).
- **X-learner**: the same two outcome models, then each group's imputed effects, D_1 = y - mu_0(x) on
  the treated and D_0 = mu_1(x) - y on the control customers, regressed on x (tau_1, tau_0);
  uplift(x) = g tau_0(x) + (1 - g) tau_1(x), with g the treatment share (the propensity, known in a
  randomised experiment). When the control group is a tenth of the customers, tau_0 is fitted on few
  rows but on effects imputed from the large treated group, which is where the X-learner gains.

causalml's `BaseTClassifier` and `BaseXClassifier` (in uv.lock) fit the same estimators, but what they
keep are causalml objects: a registered model would then need causalml (and its import, seven seconds
here) to be unpickled and scored, against the model contract's rule that serving runs registered models
without training code, and their explanations go through `shap` rather than LightGBM's own TreeSHAP.
These learners keep only LightGBM boosters (`model_contract.bundle.UpliftScorer`), whose TreeSHAP the
reason codes already use. They follow scikit-learn's conventions: `fit` returns self, what is learned
ends in an underscore.
"""

from __future__ import annotations

from typing import Any, Final

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit

from domain.errors import UpliftTrainingError
from domain.vocabulary import UpliftLearner
from model_contract.bundle import UpliftScorer

BOOSTING_PARAMS: Final[dict[str, Any]] = {
    "learning_rate": 0.05,
    "num_leaves": 7,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.8,
    "lambda_l2": 1.0,
    "verbosity": -1,
    "deterministic": True,
    "force_row_wise": True,
}
ROUNDS: Final = 150


def _booster(frame: pd.DataFrame, target: np.ndarray, objective: str, seed: int, n_jobs: int) -> lgb.Booster:
    params = {**BOOSTING_PARAMS, "objective": objective, "seed": seed, "num_threads": n_jobs}
    params["min_data_in_leaf"] = max(BOOSTING_PARAMS["min_data_in_leaf"], len(frame) // 50)
    return lgb.train(params, lgb.Dataset(frame, label=target), num_boost_round=ROUNDS)


class TLearner:
    """Two outcome classifiers, treated and control; uplift is their difference."""

    learner: UpliftLearner = "t_learner"

    def __init__(self, seed: int = 0, n_jobs: int = 1) -> None:
        self.seed = seed
        self.n_jobs = n_jobs

    def fit(self, X: pd.DataFrame, treated: np.ndarray, y: np.ndarray) -> TLearner:
        treated = np.asarray(treated, dtype=bool)
        y = np.asarray(y, dtype=np.float64)
        _check_groups(treated, y)
        self.treated_model_ = _booster(X[treated], y[treated], "binary", self.seed, self.n_jobs)
        self.control_model_ = _booster(X[~treated], y[~treated], "binary", self.seed + 1, self.n_jobs)
        self.scorer_ = UpliftScorer("t_learner", self.treated_model_, self.control_model_)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.scorer_.predict(X)


class XLearner:
    """T-learner's outcome models, then effect regressors on each group's imputed effects."""

    learner: UpliftLearner = "x_learner"

    def __init__(self, seed: int = 0, n_jobs: int = 1) -> None:
        self.seed = seed
        self.n_jobs = n_jobs

    def fit(self, X: pd.DataFrame, treated: np.ndarray, y: np.ndarray) -> XLearner:
        treated = np.asarray(treated, dtype=bool)
        y = np.asarray(y, dtype=np.float64)
        _check_groups(treated, y)
        outcomes = TLearner(self.seed, self.n_jobs).fit(X, treated, y)
        mu_1 = expit(outcomes.treated_model_.predict(X, raw_score=True))
        mu_0 = expit(outcomes.control_model_.predict(X, raw_score=True))
        effect_treated = y[treated] - mu_0[treated]
        effect_control = mu_1[~treated] - y[~treated]
        self.treatment_share_ = float(treated.mean())
        self.effect_from_control_ = _booster(
            X[~treated], effect_control, "regression", self.seed + 2, self.n_jobs
        )
        self.effect_from_treated_ = _booster(
            X[treated], effect_treated, "regression", self.seed + 3, self.n_jobs
        )
        self.scorer_ = UpliftScorer(
            "x_learner", self.effect_from_control_, self.effect_from_treated_, self.treatment_share_
        )
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.scorer_.predict(X)


LEARNERS: Final[dict[str, type[TLearner] | type[XLearner]]] = {"t_learner": TLearner, "x_learner": XLearner}


def _check_groups(treated: np.ndarray, y: np.ndarray) -> None:
    if treated.shape != y.shape or treated.all() or not treated.any():
        raise UpliftTrainingError(
            "an uplift model needs customers in both the treatment and the control group, with one "
            "outcome each; give the action's rule a control_share and wait for outcomes to close"
        )
