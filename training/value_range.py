"""The value range's backtest and refit: conformal intervals around the value model, per tier.

The range is calibrated on the predictions of the value model it accompanies and on the tiers the pair
serves (`training.models.value_range`), so it is fitted after the value model, on the same schedule:
- the **backtest** calibrates on the backtest value model's calibration fold, with the tiers cut as
  they would have been on the validation day (the tier policy on the backtest value model's
  predictions for the active customers of the validation snapshot), and reports coverage on the
  validation snapshot, overall and per tier, beside two simpler conformal intervals: CQR with one
  offset for every tier, and the absolute-residual interval of Lei et al. (2018), [m - q, m + q] with
  one width q for every customer;
- the **refit** calibrates on the refit value model's calibration fold with the pair's own tiers: the
  range that is registered and served.
Validation spend is net spend clipped at 0, the target the value model and the range learn.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import polars as pl

from model_contract import TierCutpoints, assign_tier, range_bounds
from model_contract.value_range import DEFAULT_RANGE_LEVEL, ConformalRangeScorer
from training.backtest import Backtest
from training.metrics import range_metrics
from training.models.value_range import ConformalValueRange, conformal_offset
from training.recipe import FittedModel, ModelSpec
from training.schedule import Schedule
from training.tables import TrainingTables

logger = logging.getLogger(__name__)

STOPPING_SHARE = 5
"""One customer in this many (by a hash of the id) is held out of the fit rows to stop the quantile
regressors: the calibration fold must stay untouched by fitting."""
FAMILY = "conformalized LightGBM quantile regression of log1p(spend), one offset per tier"
ONE_OFFSET = "cqr_one_offset"
ABSOLUTE_RESIDUAL = "split_conformal_absolute"


@dataclass(frozen=True)
class _Calibrated:
    fitted: FittedModel
    actual: np.ndarray  # the calibration rows' net spend
    amount: np.ndarray  # the value model's prediction for them


def fit_value_range(
    spec: ModelSpec,
    value: FittedModel,
    fit_table: pl.DataFrame,
    calibration_table: pl.DataFrame,
    cutpoints: TierCutpoints,
    *,
    n_jobs: int,
    seed: int,
    level: float = DEFAULT_RANGE_LEVEL,
) -> FittedModel:
    """The range around `value`, fitted on `fit_table` and calibrated per tier on `calibration_table`.

    Parameters
    ----------
    spec: the value_range spec (its rows and target).
    value: the fitted value model the range accompanies (its features, levels and predictions).
    fit_table, calibration_table: stacked fit snapshots and the calibration snapshot, labelled.
    cutpoints: the tier cut-points the calibration rows are grouped by.

    Raises
    ------
    RangeCalibrationError: too few rows to fit, stop or calibrate at `level`.
    """
    return _calibrate(spec, value, fit_table, calibration_table, cutpoints, n_jobs, seed, level).fitted


def backtest_value_range(
    spec: ModelSpec,
    value: Backtest,
    tables: TrainingTables,
    schedule: Schedule,
    cutpoints: TierCutpoints,
    *,
    n_jobs: int,
    seed: int,
    notes: list[str],
    level: float = DEFAULT_RANGE_LEVEL,
) -> Backtest:
    """Fit the range on the value backtest's schedule and report its coverage on the validation snapshot."""
    assert schedule.validation is not None
    calibrated = _calibrate(
        spec,
        value.fitted,
        tables.stacked(schedule.training),
        tables.at(schedule.calibration),
        cutpoints,
        n_jobs,
        seed,
        level,
    )
    fitted = calibrated.fitted
    validation = spec.rows(tables.at(schedule.validation))
    actual = np.maximum(validation[spec.target].to_numpy(), 0.0)
    if validation.height == 0:
        notes.append(
            f"{spec.name}: no validation rows as of {schedule.validation.date()}; no backtest figures"
        )
        return Backtest(spec, schedule, fitted, validation, actual, np.empty(0))
    amount = np.maximum(value.fitted.predict(validation), 0.0)
    tiers = assign_tier(cutpoints, amount, validation["orders_365d"].to_numpy())
    scorer = fitted.scorer
    assert isinstance(scorer, ConformalRangeScorer)
    lower, upper = scorer.quantiles(fitted.matrix(validation))
    low, high = scorer.bounds_from_quantiles(lower, upper, amount, tiers)
    result = Backtest(spec, schedule, fitted, validation, actual, high)
    result.table["clvchurn"] = range_metrics(actual, low, high, tiers)
    result.table[ONE_OFFSET] = range_metrics(
        actual, *range_bounds(lower, upper, amount, scorer.pooled_offset), tiers
    )
    width = conformal_offset(np.abs(calibrated.actual - calibrated.amount), level)
    result.table[ABSOLUTE_RESIDUAL] = range_metrics(
        actual, np.maximum(amount - width, 0.0), amount + width, tiers
    )
    notes.append(coverage_note(result.table["clvchurn"], level, schedule))
    return result


def coverage_note(metrics: dict[str, float], level: float, schedule: Schedule) -> str:
    """One line for the training output: the range's coverage overall and per tier."""
    assert schedule.validation is not None
    tiers = ", ".join(
        f"{name.removeprefix('coverage_')} {value:.1%}"
        for name, value in metrics.items()
        if name.startswith("coverage_")
    )
    return (
        f"value range: the {level:.0%} interval covered {metrics['coverage']:.1%} of the validation snapshot "
        f"({schedule.validation.date()}; per tier {tiers})"
    )


def stopping_rows(table: pl.DataFrame, seed: int = 0) -> np.ndarray:
    """The rows of the customers held out to stop the quantile regressors (one in `STOPPING_SHARE`)."""
    return (table["customer_id"].hash(seed) % STOPPING_SHARE == 0).to_numpy()


def _calibrate(
    spec: ModelSpec,
    value: FittedModel,
    fit_table: pl.DataFrame,
    calibration_table: pl.DataFrame,
    cutpoints: TierCutpoints,
    n_jobs: int,
    seed: int,
    level: float,
) -> _Calibrated:
    fit, calibration = spec.rows(fit_table), spec.rows(calibration_table)
    stop = stopping_rows(fit)
    kept, held_out = fit.filter(pl.Series(~stop)), fit.filter(pl.Series(stop))
    actual = np.maximum(calibration[spec.target].to_numpy(), 0.0)
    amount = np.maximum(value.predict(calibration), 0.0)
    tiers = assign_tier(cutpoints, amount, calibration["orders_365d"].to_numpy())
    model = ConformalValueRange(level, n_jobs=n_jobs, random_state=seed).fit(
        value.matrix(kept),
        kept[spec.target].to_numpy(),
        X_stop=value.matrix(held_out),
        y_stop=held_out[spec.target].to_numpy(),
        X_calibration=value.matrix(calibration),
        y_calibration=actual,
        amount_calibration=amount,
        tiers_calibration=tiers,
    )
    params = {
        **model.lgbm_params_,
        "level": level,
        "offsets": model.offsets_,
        "pooled_offset": model.pooled_offset_,
        "calibration_rows": model.calibration_rows_,
    }
    fitted = FittedModel(spec, model.scorer_, value.feature_names, value.categorical_levels, FAMILY, params)
    logger.info("value range calibrated on %d rows as of %s", len(actual), calibration_table["as_of"].max())
    return _Calibrated(fitted, actual, amount)
