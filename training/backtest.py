"""The out-of-time backtest of one model: the recipe fitted on its backtest schedule, judged on the
validation snapshot against the baselines (`training.evaluation`).

These are the figures a training run reports, logs to MLflow and stores with the model pair as each
model's `backtest_metrics`; the model that is registered is the refit (`training.train`). The order
count and the next order are judged against naive forecasts (`training.order_baselines`); the value
range is backtested by `training.value_range`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from features.contract import RawData
from training.evaluation import probability_baselines, value_baselines
from training.metrics import probability_metrics, value_metrics
from training.order_baselines import next_order_table, orders_table
from training.recipe import FORECAST_ESTIMATORS, FittedModel, ModelSpec, fit_model
from training.schedule import Schedule
from training.tables import TrainingTables


@dataclass
class Backtest:
    """One model's backtest: the fitted recipe, its validation rows and predictions, and the metrics."""

    spec: ModelSpec
    schedule: Schedule
    fitted: FittedModel
    validation: pl.DataFrame
    actual: np.ndarray
    predicted: np.ndarray
    table: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float]:
        return self.table.get("clvchurn", {})

    @property
    def validation_as_of(self) -> datetime:
        assert self.schedule.validation is not None
        return self.schedule.validation


def run_backtest(
    spec: ModelSpec,
    tables: TrainingTables,
    schedule: Schedule,
    levels: dict[str, list[str]],
    *,
    raw: RawData,
    ground_truth: pl.DataFrame | None,
    n_jobs: int,
    seed: int,
    notes: list[str],
) -> Backtest:
    """Fit `spec` on the schedule's fit and calibration cutoffs, score its validation rows."""
    assert schedule.validation is not None
    fit_table, calibration_table = tables.folds(schedule, seed)
    fitted = fit_model(
        spec, fit_table, calibration_table, tables.feature_names, levels, n_jobs=n_jobs, seed=seed
    )
    validation = spec.rows(tables.at(schedule.validation))
    actual = validation[spec.target].to_numpy()
    predicted = fitted.predict(validation)
    result = Backtest(spec, schedule, fitted, validation, actual, predicted)
    if validation.height == 0:
        notes.append(
            f"{spec.name}: no validation rows as of {schedule.validation.date()}; no backtest figures"
        )
        return result
    if spec.estimator in FORECAST_ESTIMATORS:
        result.table.update(_forecast_table(spec, validation, actual, predicted, fit_table, schedule))
        return result
    if spec.is_probability:
        labels = actual.astype(np.int64)
        if len(np.unique(labels)) == 2:
            result.table["clvchurn"] = probability_metrics(labels, predicted)
            fit_rows = spec.rows(fit_table)
            result.table.update(
                probability_baselines(
                    spec.name,
                    raw,
                    schedule.validation,
                    schedule.calibration,
                    schedule.horizon_days,
                    validation,
                    labels,
                    fitted.matrix(fit_rows),
                    fit_rows[spec.target].to_numpy().astype(np.int64),
                    fitted.matrix(validation),
                    ground_truth,
                    notes,
                )
            )
        else:
            notes.append(f"{spec.name}: the validation rows hold one class only; no backtest figures")
    else:
        result.table["clvchurn"] = value_metrics(actual, predicted)
        if spec.name == "value":
            result.table.update(
                value_baselines(
                    raw,
                    schedule.validation,
                    schedule.calibration,
                    schedule.horizon_days,
                    validation,
                    ground_truth,
                    notes,
                )
            )
    return result


def _forecast_table(
    spec: ModelSpec,
    validation: pl.DataFrame,
    actual: np.ndarray,
    predicted: np.ndarray,
    fit_table: pl.DataFrame,
    schedule: Schedule,
) -> dict[str, dict[str, float]]:
    """The order count's or the next order's figures against the naive forecasts (`training.order_baselines`)."""
    if spec.estimator == "orders":
        return orders_table(validation, actual, predicted, schedule.horizon_days)
    return next_order_table(validation, actual, predicted, spec.rows(fit_table), schedule.horizon_days)


def finite(metrics: dict[str, Any]) -> dict[str, float]:
    """The metrics that are finite numbers (MLflow and JSON refuse NaN)."""
    return {
        name: float(value)
        for name, value in metrics.items()
        if isinstance(value, int | float) and np.isfinite(value)
    }
