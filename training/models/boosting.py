"""What the churn and value models share: LightGBM settings, early stopping, raw scores and TreeSHAP.

Contributions come from LightGBM's own TreeSHAP (`pred_contrib=True`; Lundberg et al. 2020, "From local
explanations to global understanding with explainable AI for trees"), identical to `shap.TreeExplainer`
on the booster's raw output. They add up in the raw (link) space: logit for classifiers, log for
Tweedie and gamma regressors. `rescale_to_output` turns them into output units (probability points,
currency) by sharing the output difference f(raw) - f(base) in proportion to each raw contribution:
exact in sum, faithful in sign and ranking, an approximation of each share when the link is curved.
Every prediction call asks LightGBM for one thread: serving scores a handful of rows per request,
where thread start-up costs more than it saves.
"""

from __future__ import annotations

import logging
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

EARLY_STOPPING_ROUNDS = 50
MAX_BOOSTING_ROUNDS = 1000
PARALLEL_PREDICTION_MIN_ROWS = 1_000


def lightgbm_params(random_state: int, n_jobs: int) -> dict[str, Any]:
    """Fixed, conservative settings for tabular CRM data of thousands to millions of customers.

    Shallow trees (depth 6) with row and column subsampling and a mild L2 penalty. Depth and the
    learning rate also bound serving cost: exact TreeSHAP per row grows with trees x leaves x depth^2,
    and every scored customer gets its reasons. The number of rounds is
    set by early stopping on the calibration fold. `deterministic` with row-wise histograms makes a
    seed reproduce the same model.
    """
    return {
        "n_estimators": MAX_BOOSTING_ROUNDS,
        "learning_rate": 0.08,
        "num_leaves": 31,
        "max_depth": 6,
        "min_child_samples": 20,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
        "random_state": random_state,
        "n_jobs": n_jobs,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }


def prediction_threads(rows: int) -> int:
    """One thread for online-sized inputs, every core for batches.

    LightGBM starts a thread team per predict call, which costs about a millisecond: more than a
    single row's whole prediction (LightGBM issues #906, #6913). Batches are worth the start-up.
    """
    return 1 if rows < PARALLEL_PREDICTION_MIN_ROWS else 0


def fit_with_early_stopping(
    estimator: lgb.LGBMModel,
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_stop: pd.DataFrame,
    y_stop: np.ndarray,
) -> lgb.LGBMModel:
    """Fit, stopping when the held-out snapshot's loss has not improved for 50 rounds."""
    estimator.fit(
        X_train,
        y_train,
        eval_X=(X_stop,),
        eval_y=(y_stop,),
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
    )
    logger.debug("%s stopped at %s rounds", type(estimator).__name__, estimator.best_iteration_)
    return estimator


def raw_score(booster: lgb.Booster, X: pd.DataFrame) -> np.ndarray:
    """The booster's output before the link's inverse (logit or log), one thread."""
    return np.asarray(
        booster.predict(booster_input(booster, X), raw_score=True, num_threads=prediction_threads(len(X))),
        dtype=np.float64,
    )


def raw_contributions(booster: lgb.Booster, X: pd.DataFrame) -> tuple[float, np.ndarray]:
    """TreeSHAP in raw space: (expected raw score, n x features matrix), one thread."""
    matrix = np.asarray(
        booster.predict(booster_input(booster, X), pred_contrib=True, num_threads=prediction_threads(len(X))),
        dtype=np.float64,
    )
    return float(matrix[0, -1]) if len(matrix) else 0.0, matrix[:, :-1]


def rescale_to_output(
    raw_contrib: np.ndarray, raw_base: float, output: np.ndarray, output_base: float
) -> np.ndarray:
    """Share `output - output_base` among features in proportion to their raw contributions.

    Rows whose raw contributions cancel exactly (raw score equal to the base) get zeros.
    """
    raw_delta = raw_contrib.sum(axis=1)
    moved = np.abs(raw_delta) > 1e-12
    scale = np.divide(output - output_base, raw_delta, out=np.zeros_like(raw_delta), where=moved)
    return raw_contrib * scale[:, None]


def booster_input(booster: lgb.Booster, X: pd.DataFrame) -> np.ndarray | pd.DataFrame:
    """X as the float matrix LightGBM builds from pandas itself, categoricals as their codes.

    LightGBM's pandas conversion costs milliseconds per call, most of a one-customer request. When
    every categorical column has exactly the categories seen in training (always true for frames from
    `training.dataset.to_model_frame`), codes are what LightGBM would use, so the matrix is passed
    directly; otherwise the frame goes through LightGBM's own remapping.
    """
    categorical = [name for name in X.columns if isinstance(X[name].dtype, pd.CategoricalDtype)]
    trained_levels = booster.pandas_categorical or []
    if len(categorical) != len(trained_levels) or any(
        list(X[name].cat.categories) != list(levels)
        for name, levels in zip(categorical, trained_levels, strict=False)
    ):
        return X
    matrix = np.empty(X.shape, dtype=np.float64)
    for position, name in enumerate(X.columns):
        column = X[name]
        if name in categorical:
            codes = column.cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            matrix[:, position] = codes
        else:
            matrix[:, position] = column.to_numpy(dtype=np.float64, na_value=np.nan)
    return matrix
