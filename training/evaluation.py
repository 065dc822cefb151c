"""The baselines every backtest is measured against, on the same validation rows as the model.

- BG/NBD with Gamma-Gamma (Fader, Hardie & Lee 2005; Fader & Hardie 2013), fitted on the history
  before the validation cutoff: expected spend for value, and for churn the probability of no purchase
  in the horizon (`bgnbd_churn_probability`; its complement for reactivation). Prospects have no
  purchase for it to learn from, so it has no conversion forecast.
- RFM rule tiers, the rule of thumb companies use today: ranking scores only, so calibration and
  currency-error metrics are not defined for them (NaN).
- Logistic regression on the same matrix and rows as the boosted model (churn, reactivation,
  conversion).
- On synthetic data, the oracle from the ground-truth file: the best score any model could reach.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import numpy as np
import pandas as pd
import polars as pl

from domain.errors import ModelFitError
from features.contract import RawData
from training.baselines import BgNbdGammaGamma, RfmRules, logistic_churn_pipeline, rfm_summary
from training.metrics import probability_metrics, value_metrics

# Metrics that need probabilities or currency amounts; a ranking score leaves them undefined.
_PROBABILITY_ONLY_METRICS = ("brier", "ece")
_VALUE_AMOUNT_METRICS = ("mae", "rmse", "total_error_pct")


def probability_baselines(
    model: str,
    raw: RawData,
    validation_as_of: datetime,
    calibration_as_of: datetime,
    horizon_days: int,
    validation: pl.DataFrame,
    labels: np.ndarray,
    fit_matrix: pd.DataFrame,
    fit_labels: np.ndarray,
    validation_matrix: pd.DataFrame,
    ground_truth: pl.DataFrame | None,
    notes: list[str],
) -> dict[str, dict[str, float]]:
    """Each baseline's metrics on the validation rows of a probability model (`labels` their 0/1)."""
    table: dict[str, dict[str, float]] = {}
    if len(labels) == 0 or len(np.unique(labels)) < 2:
        return table
    if model in ("churn", "reactivation"):
        summary = rfm_summary(raw.transactions, validation_as_of)
        bgnbd = _fit_bgnbd(summary, notes)
        if bgnbd is None:
            table["bgnbd_gamma_gamma"] = _undefined(probability_metrics)
        else:
            no_purchase = _aligned(
                validation, summary, bgnbd_churn_probability(bgnbd, horizon_days), missing=1.0
            )
            table["bgnbd_gamma_gamma"] = probability_metrics(
                labels, no_purchase if model == "churn" else 1.0 - no_purchase
            )
        if model == "churn":
            rules = RfmRules().fit(rfm_summary(raw.transactions, calibration_as_of))
            scored = rules.score(summary)
            score = _aligned(
                validation,
                summary,
                scored["churn_score"].to_numpy(),
                missing=float(scored["churn_score"].to_numpy().max()),
            )
            table["rfm_rules"] = _ranking_only(probability_metrics(labels, score), _PROBABILITY_ONLY_METRICS)
    if len(np.unique(fit_labels)) == 2:
        table["logistic_regression"] = _logistic(fit_matrix, fit_labels, validation_matrix, labels)
    if ground_truth is not None:
        from features.synth import oracle_churn_probability

        oracle = _joined(validation, oracle_churn_probability(ground_truth, validation_as_of, horizon_days))
        no_purchase = oracle["churn_probability"].fill_null(1.0).to_numpy()
        table["oracle"] = probability_metrics(labels, no_purchase if model == "churn" else 1.0 - no_purchase)
    return table


def value_baselines(
    raw: RawData,
    validation_as_of: datetime,
    calibration_as_of: datetime,
    horizon_days: int,
    validation: pl.DataFrame,
    ground_truth: pl.DataFrame | None,
    notes: list[str],
) -> dict[str, dict[str, float]]:
    """Each baseline's metrics for the value forecast on the validation rows."""
    actual = validation["future_value"].to_numpy()
    table: dict[str, dict[str, float]] = {}
    summary = rfm_summary(raw.transactions, validation_as_of)
    bgnbd = _fit_bgnbd(summary, notes)
    table["bgnbd_gamma_gamma"] = (
        _undefined(value_metrics)
        if bgnbd is None
        else value_metrics(actual, _aligned(validation, summary, bgnbd.predict_value(horizon_days)))
    )
    rules = RfmRules().fit(rfm_summary(raw.transactions, calibration_as_of))
    value_score = _aligned(validation, summary, rules.score(summary)["value_score"].to_numpy())
    table["rfm_rules"] = _ranking_only(value_metrics(actual, value_score), _VALUE_AMOUNT_METRICS)
    if ground_truth is not None:
        from features.synth import oracle_expected_spend

        oracle = _joined(validation, oracle_expected_spend(ground_truth, validation_as_of, horizon_days))
        table["oracle"] = value_metrics(actual, oracle["expected_spend"].fill_null(0.0).to_numpy())
    return table


def _fit_bgnbd(summary: pl.DataFrame, notes: list[str]) -> BgNbdGammaGamma | None:
    """BG/NBD + Gamma-Gamma by maximum likelihood, or None (with a note) when the fit fails.

    On small or heavy-tailed samples the Gamma-Gamma fit can land on q <= 1, where mean spend is
    undefined; an L2 penalty pulls q further towards 1 and does not help. The baseline is then
    reported as undefined (NaN) instead of stopping the training.
    """
    try:
        return BgNbdGammaGamma().fit(summary)
    except ModelFitError as error:
        note = f"baseline bgnbd_gamma_gamma left out: {error}"
        if note not in notes:
            notes.append(note)
        return None


def bgnbd_churn_probability(model: BgNbdGammaGamma, horizon_days: float) -> np.ndarray:
    """P(no purchase in the next `horizon_days`) under BG/NBD, per row of the fitted summary.

    A customer is either already inactive (1 - P(alive)) or alive with a purchase rate whose posterior is
    Gamma(r + x, alpha + T) (Fader, Hardie & Lee 2005, section 3), under which P(no purchase in t) =
    ((alpha + T) / (alpha + T + t)) ** (r + x). Dropout during the horizon is ignored, which slightly
    understates churn for long horizons.
    """
    summary = model.summary_
    r, alpha = model.transactions_model_.params_[:2]
    t = horizon_days / model.time_unit_days
    big_t = summary["T"].to_numpy()
    x = summary["frequency"].to_numpy()
    alive = model.probability_alive()
    quiet_if_alive = ((alpha + big_t) / (alpha + big_t + t)) ** (r + x)
    return np.asarray(1.0 - alive + alive * quiet_if_alive, dtype=float)


def _aligned(
    population: pl.DataFrame, summary: pl.DataFrame, scores: np.ndarray, missing: float = 0.0
) -> np.ndarray:
    """Baseline scores in the validation rows' order; customers without purchases get `missing`."""
    by_customer = pl.DataFrame(
        {"customer_id": summary["customer_id"], "score": np.asarray(scores, dtype=float)}
    )
    joined = population.select("customer_id").join(
        by_customer, on="customer_id", how="left", maintain_order="left"
    )
    return joined["score"].fill_null(missing).to_numpy()


def _joined(population: pl.DataFrame, scores: pl.DataFrame) -> pl.DataFrame:
    return population.select("customer_id").join(scores, on="customer_id", how="left", maintain_order="left")


def _undefined(report_card: Callable[[list[float], list[float]], dict[str, float]]) -> dict[str, float]:
    """Every metric of a report card as NaN, for a baseline that could not be fitted."""
    return dict.fromkeys(report_card([0.0, 1.0], [0.0, 1.0]), float("nan"))


def _ranking_only(metrics: dict[str, float], undefined: tuple[str, ...]) -> dict[str, float]:
    return {name: (float("nan") if name in undefined else value) for name, value in metrics.items()}


def _logistic(
    fit_matrix: pd.DataFrame, fit_labels: np.ndarray, validation_matrix: pd.DataFrame, labels: np.ndarray
) -> dict[str, float]:
    categorical = [
        name for name in fit_matrix.columns if isinstance(fit_matrix[name].dtype, pd.CategoricalDtype)
    ]
    numeric = [name for name in fit_matrix.columns if name not in categorical]
    pipeline = logistic_churn_pipeline(numeric, categorical)
    pipeline.fit(fit_matrix, fit_labels)
    return probability_metrics(labels, pipeline.predict_proba(validation_matrix)[:, 1])
