"""Realised performance of a past snapshot, once its outcomes are known, and alerts against the backtest.

A snapshot's scores are judged the way the model was judged before it was registered: the same
metric functions (`training.metrics`), on the customers the snapshot scored, against what they
then did. Binary scores (churn, reactivation, conversion) get ROC-AUC, PR-AUC, Brier, ECE, lift in
the top decile and a calibration table by decile; value forecasts get normalised Gini, Spearman,
MAE, RMSE, total error and a decile table. Each also by segment (tier, lifecycle stage), because an
average can hide a tier the model has stopped serving.

A metric a segment cannot have is null, never a made-up number: ROC-AUC of a segment where nobody
churned, Gini of a segment that spent nothing, Spearman of a constant forecast.

Alerts compare a realised metric with the backtest stored with the model pair: each metric knows
which way is better (`METRIC_DIRECTIONS`), and it alerts when it is worse than the backtest by more
than its tolerance (`MonitoringSettings.tolerances`, absolute, or `relative_tolerances`, as a
fraction of the backtest value for metrics in currency).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import polars as pl

from domain.errors import MetricInputError, MonitoringSettingsError, OutcomeInputError
from domain.vocabulary import LIFECYCLE_STAGES, TIERS, MetricDirection
from monitoring.settings import ENV_PREFIX, MonitoringSettings
from training import metrics

DEFAULT_SEGMENTS: Final = ("tier", "lifecycle_stage")
MISSING_SEGMENT: Final = "missing"

METRIC_DIRECTIONS: Final[dict[str, MetricDirection]] = {
    "roc_auc": "higher_is_better",
    "pr_auc": "higher_is_better",
    "lift_top10": "higher_is_better",
    "brier": "lower_is_better",
    "ece": "lower_is_better",
    "gini": "higher_is_better",
    "spearman": "higher_is_better",
    "top10_share": "higher_is_better",
    "mae": "lower_is_better",
    "rmse": "lower_is_better",
    "total_error_pct": "closer_to_zero_is_better",
}
"""Which way each metric of the churn and value report cards improves."""

_BINARY_METRICS: Final[dict[str, Callable[[np.ndarray, np.ndarray], float]]] = {
    "roc_auc": metrics.roc_auc,
    "pr_auc": metrics.pr_auc,
    "brier": metrics.brier,
    "ece": metrics.expected_calibration_error,
    "lift_top10": lambda y, p: metrics.lift_at(y, p, 0.1),
}
_VALUE_METRICS: Final[dict[str, Callable[[np.ndarray, np.ndarray], float]]] = {
    "gini": metrics.normalized_gini,
    "spearman": metrics.spearman,
    "mae": metrics.mae,
    "rmse": metrics.rmse,
    "total_error_pct": metrics.total_error_pct,
    "top10_share": lambda actual, predicted: metrics.top_share(actual, predicted, 0.1),
}
_ROUNDING: Final = 1e-12
"""Margin below which a difference from the tolerance is floating-point rounding, not an alert."""
_SEGMENT_ORDER: Final[dict[str, tuple[str, ...]]] = {"tier": TIERS, "lifecycle_stage": LIFECYCLE_STAGES}


def realised_binary_performance(
    frame: pl.DataFrame,
    *,
    outcome: str,
    probability: str,
    segments: Sequence[str] = DEFAULT_SEGMENTS,
) -> dict[str, Any]:
    """Metrics of predicted probabilities against realised 0/1 outcomes, overall and per segment.

    Parameters
    ----------
    frame
        One row per scored customer: the snapshot's probability, the realised outcome (0/1 or
        boolean) and the segment columns.
    outcome, probability
        Column names of the outcome and the predicted probability.
    segments
        Columns to break the figures down by.

    Returns
    -------
    dict
        ``{"roc_auc", "pr_auc", "brier", "ece", "lift_top10", "n", "positives", "calibration":
        [{"decile", "customers", "mean_predicted", "observed_rate", "share_of_positives",
        "cumulative_share"}] | None, "segments": {column: {level: {... the same ...}}}}``

    Raises
    ------
    OutcomeInputError
        A column is missing, holds nulls, an outcome is not 0/1 or a probability is outside [0, 1].
    """
    _require(frame, [outcome, probability, *segments])
    labels = _column(frame, outcome)
    if not np.all((labels == 0) | (labels == 1)):
        raise OutcomeInputError(f"column {outcome!r} must hold only 0 and 1 (or booleans)")
    scores = _column(frame, probability)
    if scores.min() < 0 or scores.max() > 1:
        raise OutcomeInputError(f"column {probability!r} must hold probabilities within [0, 1]")
    return _overall_and_segments(
        frame, segments, lambda part: _binary_card(_column(part, outcome), _column(part, probability))
    )


def realised_value_performance(
    frame: pl.DataFrame,
    *,
    actual: str,
    predicted: str,
    segments: Sequence[str] = DEFAULT_SEGMENTS,
) -> dict[str, Any]:
    """Metrics of value forecasts against the realised spend, overall and per segment.

    Returns
    -------
    dict
        ``{"gini", "spearman", "mae", "rmse", "total_error_pct", "top10_share", "n",
        "actual_total", "predicted_total", "deciles": [{"decile", "customers", "mean_predicted",
        "mean_actual", "share_of_actual", "cumulative_share"}] | None, "segments": {...}}``

    Raises
    ------
    OutcomeInputError
        A column is missing or holds nulls or non-finite values.
    """
    _require(frame, [actual, predicted, *segments])
    for name in (actual, predicted):
        _column(frame, name)  # checks nulls and types once, with the column's name
    return _overall_and_segments(
        frame, segments, lambda part: _value_card(_column(part, actual), _column(part, predicted))
    )


def backtest_comparison(
    realised: Mapping[str, Any],
    backtest: Mapping[str, Any],
    settings: MonitoringSettings | None = None,
    *,
    model: str,
) -> list[dict[str, Any]]:
    """Every metric with a tolerance, realised beside backtest, and whether it alerts.

    Metrics missing (or null) on either side are left out. A record: ``{"model", "metric",
    "direction", "realised", "backtest", "worse_by", "allowed", "tolerance", "tolerance_kind",
    "alert"}``; `worse_by` is positive when the realised figure is worse, `allowed` the tolerance in
    the metric's unit, and `alert` is `worse_by > allowed`.

    Raises
    ------
    MonitoringSettingsError
        A tolerance names a metric whose direction is unknown (a typo in the settings).
    """
    settings = settings or MonitoringSettings()
    tolerances = {name: (value, "absolute") for name, value in settings.tolerances.items()}
    tolerances |= {name: (value, "relative") for name, value in settings.relative_tolerances.items()}
    unknown = sorted(set(tolerances) - set(METRIC_DIRECTIONS))
    if unknown:
        raise MonitoringSettingsError(
            f"{ENV_PREFIX}TOLERANCES or {ENV_PREFIX}RELATIVE_TOLERANCES name unknown metrics {unknown}; "
            f"known metrics: {', '.join(METRIC_DIRECTIONS)}"
        )
    records = []
    for metric, direction in METRIC_DIRECTIONS.items():
        if metric not in tolerances:
            continue
        now, then = _number(realised.get(metric)), _number(backtest.get(metric))
        if now is None or then is None:
            continue
        tolerance, kind = tolerances[metric]
        worse_by = _worse_by(direction, now, then)
        allowed = tolerance * abs(then) if kind == "relative" else tolerance
        records.append(
            {
                "model": model,
                "metric": metric,
                "direction": direction,
                "realised": now,
                "backtest": then,
                "worse_by": worse_by,
                "allowed": allowed,
                "tolerance": tolerance,
                "tolerance_kind": kind,
                "alert": worse_by - allowed > _ROUNDING,
            }
        )
    return records


def performance_alerts(
    realised: Mapping[str, Any],
    backtest: Mapping[str, Any],
    settings: MonitoringSettings | None = None,
    *,
    model: str,
) -> list[dict[str, Any]]:
    """The records of `backtest_comparison` that alert: realised worse than backtest beyond tolerance."""
    return [
        record for record in backtest_comparison(realised, backtest, settings, model=model) if record["alert"]
    ]


def _binary_card(labels: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    card: dict[str, Any] = {
        name: _metric_or_none(metric, labels, scores) for name, metric in _BINARY_METRICS.items()
    }
    card["n"] = len(labels)
    card["positives"] = int(labels.sum())
    table = _table_or_none(labels, scores)
    card["calibration"] = (
        None
        if table is None
        else table.rename(
            {"mean_actual": "observed_rate", "share_of_actual": "share_of_positives"}
        ).to_dicts()
    )
    return card


def _value_card(actual: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    card: dict[str, Any] = {
        name: _metric_or_none(metric, actual, predicted) for name, metric in _VALUE_METRICS.items()
    }
    card["n"] = len(actual)
    card["actual_total"] = float(actual.sum())
    card["predicted_total"] = float(predicted.sum())
    table = _table_or_none(actual, predicted)
    card["deciles"] = None if table is None else table.to_dicts()
    return card


def _overall_and_segments(
    frame: pl.DataFrame, segments: Sequence[str], card: Callable[[pl.DataFrame], dict[str, Any]]
) -> dict[str, Any]:
    if frame.height == 0:
        raise OutcomeInputError("no customers to measure realised performance on")
    result = card(frame)
    result["segments"] = {}
    for segment in segments:
        labelled = frame.with_columns(pl.col(segment).cast(pl.String).fill_null(MISSING_SEGMENT))
        parts = labelled.partition_by(segment, as_dict=True)
        levels = sorted((key[0] for key in parts), key=lambda level: _segment_rank(segment, str(level)))
        result["segments"][segment] = {str(level): card(parts[(level,)]) for level in levels}
    return result


def _segment_rank(segment: str, level: str) -> tuple[int, str]:
    order = _SEGMENT_ORDER.get(segment, ())
    return (order.index(level), "") if level in order else (len(order), level)


def _metric_or_none(
    metric: Callable[[np.ndarray, np.ndarray], float], first: np.ndarray, second: np.ndarray
) -> float | None:
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            return _number(metric(first, second))
    except (MetricInputError, ZeroDivisionError):  # normalised Gini of spend the perfect order cannot rank
        return None


def _table_or_none(actual: np.ndarray, predicted: np.ndarray) -> pl.DataFrame | None:
    try:
        return metrics.decile_table(actual, predicted)
    except MetricInputError:  # nothing realised to share out (no churner, no spend)
        return None


def _worse_by(direction: MetricDirection, realised: float, backtest: float) -> float:
    if direction == "higher_is_better":
        return backtest - realised
    if direction == "lower_is_better":
        return realised - backtest
    return abs(realised) - abs(backtest)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) or math.isinf(value) else float(value)


def _require(frame: pl.DataFrame, columns: Sequence[str]) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise OutcomeInputError(f"columns {missing} are missing from the predictions-and-outcomes frame")


def _column(frame: pl.DataFrame, name: str) -> np.ndarray:
    column = frame[name]
    if column.null_count():
        raise OutcomeInputError(
            f"column {name!r} has {column.null_count()} nulls: keep only customers whose outcome is known"
        )
    try:
        values = column.cast(pl.Float64).to_numpy()
    except pl.exceptions.InvalidOperationError as error:
        raise OutcomeInputError(f"column {name!r} holds {column.dtype} values, not numbers") from error
    if not np.all(np.isfinite(values)):
        raise OutcomeInputError(f"column {name!r} holds NaN or infinite values")
    return values
