"""The recipe: how each model of the pair is fitted on its rows, the same in the backtest and the refit.

| model | rows | label | estimator |
|---|---|---|---|
| churn | active customers | no order in the churn horizon | `ProbabilityModel`, monotone in silence and complaints |
| reactivation | lapsed customers | an order in the churn horizon | `ProbabilityModel`, monotone in silence |
| conversion | prospects | a first order in the churn horizon | `ProbabilityModel` |
| value | everyone | net spend over the value horizon | `select_value_model` (Tweedie or two-part) |
| value_if_retained | active and lapsed customers who ordered in the churn horizon | net spend over the value horizon | `select_value_model` |
| orders | everyone | orders over the value horizon | `OrderCountModel` (Poisson) |
| next_order | active customers who ordered in the churn horizon | days to that first order | `DaysToNextOrderModel` (median) |
| value_range | everyone | net spend over the value horizon | `ConformalValueRange`, fitted on the value model (`training.value_range`) |

`value_if_retained` is the expected spend if the customer stays (an active customer) or comes back (a
lapsed one): value at risk is the churn probability times it, the value lost if the customer churns,
instead of a churn-discounted value times churn again.

`orders` and `next_order` (`training.models.next_order`) give `predicted_orders` and an active customer's
`expected_next_order_date`; their labels come from `features.build.build_order_labels`
(`training.order_tables`). `value_range` is the value's 80% interval: it needs the value model's
predictions and the tiers, so `training.train` fits it after the others (`training.value_range`).

A lapsed or prospect population too small to fit (a calibration fold without `MIN_CALIBRATION_MINORITY`
of each class, or fewer fit rows than `MIN_FIT_ROWS`) gets the documented fallback: its observed base
rate on the fit and calibration rows (`model_contract.scoring.ConstantProbabilityScorer`), which has no
reasons; the model card and /v1/models say so. The churn model is what the playbook's risk bands and
value at risk rest on: it has no fallback, too few active customers stop the training with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from domain.errors import CalibrationDataError
from domain.vocabulary import ModelName, Population
from features.populations import ORDERED_COLUMN, POPULATION_COLUMN
from model_contract import ConstantProbabilityScorer, ConstantScorer, Scorer, to_model_frame
from training.models import ProbabilityModel, select_value_model
from training.models.next_order import DaysToNextOrderModel, OrderCountModel
from training.models.probability import MIN_CALIBRATION_MINORITY

logger = logging.getLogger(__name__)

MIN_FIT_ROWS = 50


@dataclass(frozen=True)
class ModelSpec:
    """Which rows a model learns from, what it predicts, and the directions it must respect."""

    name: ModelName
    populations: tuple[Population, ...]
    target: str
    horizon: str  # "churn" or "value": whose horizon the label window has
    monotone_increasing: tuple[str, ...] = ()
    monotone_decreasing: tuple[str, ...] = ()
    retained_only: bool = False
    fallback_allowed: bool = False  # a base rate may stand in when the population is too small
    estimator: str = ""  # "" = by horizon (probability or value); else one of FORECAST_ESTIMATORS

    @property
    def is_probability(self) -> bool:
        return self.horizon == "churn" and not self.estimator

    def rows(self, table: pl.DataFrame) -> pl.DataFrame:
        """The rows of `table` this model learns from or is judged on."""
        condition = pl.col(POPULATION_COLUMN).is_in(list(self.populations))
        if self.retained_only:
            condition = condition & (pl.col(ORDERED_COLUMN) == 1)
        if self.estimator == "next_order":  # the days are known only for the rows whose next order came
            condition = condition & pl.col(self.target).is_not_null()
        return table.filter(condition)


SPECS: dict[ModelName, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "churn",
            ("active",),
            "churned",
            "churn",
            monotone_increasing=(
                "days_since_last_order",
                "recency_vs_usual_interval",
                "complaints_90d",
                "complaints_365d",
            ),
        ),
        ModelSpec(
            "reactivation",
            ("lapsed",),
            "reactivated",
            "churn",
            monotone_decreasing=("days_since_last_order",),
            fallback_allowed=True,
        ),
        ModelSpec("conversion", ("prospect",), "converted", "churn", fallback_allowed=True),
        ModelSpec("value", ("active", "lapsed", "prospect"), "future_value", "value"),
        ModelSpec("value_if_retained", ("active", "lapsed"), "future_value", "value", retained_only=True),
        ModelSpec(
            "orders",
            ("active", "lapsed", "prospect"),
            "future_orders",
            "value",
            fallback_allowed=True,
            estimator="orders",
        ),
        ModelSpec(
            "next_order",
            ("active",),
            "future_days_to_next_order",
            "churn",
            retained_only=True,
            fallback_allowed=True,
            estimator="next_order",
        ),
        ModelSpec(
            "value_range", ("active", "lapsed", "prospect"), "future_value", "value", estimator="value_range"
        ),
    )
}
FORECAST_ESTIMATORS = ("orders", "next_order")
"""The estimators `fit_model` fits besides probabilities and values (`training.models.next_order`)."""
VALUE_RANGE = "value_range"
"""The estimator fitted on the value model's predictions by `training.value_range`, not by `fit_model`."""


@dataclass
class FittedModel:
    """One model fitted by the recipe, with what its metadata records."""

    spec: ModelSpec
    scorer: Scorer
    feature_names: list[str]
    categorical_levels: dict[str, list[str]]
    model_family: str
    model_params: dict[str, Any]
    fallback: str | None = None
    comparison: dict[str, Any] = field(default_factory=dict)

    def predict(self, table: pl.DataFrame) -> np.ndarray:
        if table.height == 0:
            return np.empty(0)
        return np.asarray(self.scorer.predict(self.matrix(table)), dtype=np.float64)

    def matrix(self, table: pl.DataFrame) -> pd.DataFrame:
        return to_model_frame(table, self.feature_names, self.categorical_levels)


def fit_model(
    spec: ModelSpec,
    fit_rows: pl.DataFrame,
    calibration_rows: pl.DataFrame,
    feature_names: Sequence[str],
    categorical_levels: dict[str, list[str]],
    *,
    n_jobs: int,
    seed: int,
    value_candidate: str | None = None,
) -> FittedModel:
    """Fit `spec`'s estimator on its rows of the fit and calibration tables (see the module docstring).

    `value_candidate` fixes the value candidate (the refit reuses the backtest's choice); otherwise the
    candidates are compared on the calibration fold.
    """
    fit, calibration = spec.rows(fit_rows), spec.rows(calibration_rows)
    names = list(feature_names)
    X, X_cal = (
        to_model_frame(fit, names, categorical_levels),
        to_model_frame(calibration, names, categorical_levels),
    )
    y, y_cal = fit[spec.target].to_numpy(), calibration[spec.target].to_numpy()
    if spec.estimator in FORECAST_ESTIMATORS:
        return _fit_forecast(spec, X, y, X_cal, y_cal, names, categorical_levels, n_jobs=n_jobs, seed=seed)
    if spec.estimator:
        raise ValueError(f"the {spec.name} model is fitted by training.value_range, not by fit_model")
    if spec.is_probability:
        return _fit_probability(spec, X, y, X_cal, y_cal, names, categorical_levels, n_jobs=n_jobs, seed=seed)
    powers = _candidate_powers(value_candidate)
    model, comparison = select_value_model(
        X, y, X_calibration=X_cal, y_calibration=y_cal, n_jobs=n_jobs, random_state=seed, **powers
    )
    return FittedModel(
        spec,
        model.scorer_,
        names,
        categorical_levels,
        f"LightGBM value regressor ({model.name})",
        {**model.lgbm_params_, "candidate": model.name},
        comparison=comparison,
    )


def _fit_probability(
    spec: ModelSpec,
    X: pd.DataFrame,
    y: np.ndarray,
    X_cal: pd.DataFrame,
    y_cal: np.ndarray,
    names: list[str],
    levels: dict[str, list[str]],
    *,
    n_jobs: int,
    seed: int,
) -> FittedModel:
    positives, negatives = int(np.sum(y_cal == 1)), int(np.sum(y_cal == 0))
    fallback = None
    if len(y) < MIN_FIT_ROWS:
        fallback = f"{len(y)} fit rows (fewer than {MIN_FIT_ROWS})"
    elif min(positives, negatives) < MIN_CALIBRATION_MINORITY or len(np.unique(y)) < 2:
        fallback = (
            f"the calibration fold has {positives} positives and {negatives} negatives (fewer than "
            f"{MIN_CALIBRATION_MINORITY} of one)"
        )
    if fallback is None:
        model = ProbabilityModel(
            monotone_increasing=spec.monotone_increasing,
            monotone_decreasing=spec.monotone_decreasing,
            n_jobs=n_jobs,
            random_state=seed,
        )
        try:
            model.fit(X, y, X_calibration=X_cal, y_calibration=y_cal)
        except CalibrationDataError as error:
            fallback = str(error)
        else:
            return FittedModel(
                spec,
                model.scorer_,
                names,
                levels,
                "LightGBM classifier, Platt-scaled out of time",
                {**model.lgbm_params_, "calibration": "sigmoid"},
            )
    if not spec.fallback_allowed:
        raise CalibrationDataError(
            f"the {spec.name} model cannot be fitted: {fallback}; use more customers or a longer "
            "--churn-horizon-days"
        )
    observed = np.concatenate([y, y_cal]).astype(np.float64)
    rate = float(observed.mean()) if len(observed) else 0.0
    note = f"{spec.name}: too few {'/'.join(spec.populations)} rows to fit ({fallback}); base rate {rate:.3f} used"
    logger.warning(note)
    return FittedModel(
        spec,
        ConstantProbabilityScorer(rate, len(names)),
        names,
        levels,
        "base rate of the population (fallback)",
        {"base_rate": rate},
        fallback=note,
    )


def _fit_forecast(
    spec: ModelSpec,
    X: pd.DataFrame,
    y: np.ndarray,
    X_cal: pd.DataFrame,
    y_cal: np.ndarray,
    names: list[str],
    levels: dict[str, list[str]],
    *,
    n_jobs: int,
    seed: int,
) -> FittedModel:
    """The order count or the days to the next order; with too few rows, the fallback of the fit and
    calibration rows: their mean count, or their median days."""
    if spec.estimator == "orders":
        model: OrderCountModel | DaysToNextOrderModel = OrderCountModel(n_jobs=n_jobs, random_state=seed)
        family = "LightGBM Poisson regressor of the order count"
    else:
        model = DaysToNextOrderModel(n_jobs=n_jobs, random_state=seed)
        family = "LightGBM median (L1) regressor of the days to the next order"
    if len(y) >= MIN_FIT_ROWS and len(y_cal) >= MIN_CALIBRATION_MINORITY:
        model.fit(X, y, X_calibration=X_cal, y_calibration=y_cal)
        return FittedModel(spec, model.scorer_, names, levels, family, dict(model.lgbm_params_))
    observed = np.concatenate([y, y_cal]).astype(np.float64)
    value = (
        0.0
        if len(observed) == 0
        else float(np.mean(observed) if spec.estimator == "orders" else np.median(observed))
    )
    statistic = "mean" if spec.estimator == "orders" else "median"
    note = (
        f"{spec.name}: too few rows to fit ({len(y)} fit rows, at least {MIN_FIT_ROWS}; {len(y_cal)} calibration "
        f"rows, at least {MIN_CALIBRATION_MINORITY}); the {statistic} {value:.3f} of the rows used"
    )
    logger.warning(note)
    return FittedModel(
        spec,
        ConstantScorer(value, len(names)),
        names,
        levels,
        f"{statistic} of the rows (fallback)",
        {statistic: value},
        fallback=note,
    )


def _candidate_powers(candidate: str | None) -> dict[str, Any]:
    """`select_value_model` keyword arguments that restrict it to one candidate of the backtest."""
    if candidate is None:
        return {}
    if candidate.startswith("tweedie_"):
        return {"variance_powers": (float(candidate.removeprefix("tweedie_")),), "two_part": False}
    return {"variance_powers": (), "two_part": True}
