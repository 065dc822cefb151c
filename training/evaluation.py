"""The baselines every training run is measured against, scored on the same validation snapshot.

- BG/NBD with Gamma-Gamma (Fader, Hardie & Lee 2005; Fader & Hardie 2013), fitted on the history
  before the validation cutoff: expected spend for value, and for churn the probability of no purchase
  in the horizon (see `bgnbd_churn_probability`).
- RFM rule tiers, the rule of thumb companies use today: ranking scores only, so calibration and
  currency-error metrics are not defined for them (NaN).
- Logistic regression on the same feature matrix and split as the churn model.
- On synthetic data, the oracle from the ground-truth file: the best score any model could reach.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import polars as pl

from domain.errors import ModelFitError
from features.contract import RawData
from training.baselines import BgNbdGammaGamma, RfmRules, logistic_churn_pipeline, rfm_summary
from training.metrics import churn_metrics, value_metrics
from training.schedule import CutoffSchedule

# Metrics that need probabilities or currency amounts; a ranking score leaves them undefined.
_CHURN_PROBABILITY_METRICS = ("brier", "ece")
_VALUE_AMOUNT_METRICS = ("mae", "rmse", "total_error_pct")


@dataclass(frozen=True)
class ChurnRows:
    """The churn-labelled rows of one snapshot group: model matrix (`to_model_frame`) and 0/1 labels."""

    features: pd.DataFrame
    churned: np.ndarray


@dataclass
class Backtest:
    churn: dict[str, dict[str, float]] = field(default_factory=dict)
    value: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # baselines refitted or left out, and why


def evaluate_baselines(
    *,
    raw: RawData,
    schedule: CutoffSchedule,
    validation_part: pl.DataFrame,
    churn_train: ChurnRows,
    churn_validation: ChurnRows,
    churn_horizon_days: int,
    value_horizon_days: int,
    ground_truth: pl.DataFrame | None = None,
) -> Backtest:
    """Metrics of every baseline on the validation snapshot, keyed by baseline name.

    `churn_train` and `churn_validation` are the churn model's own inputs, so the logistic regression
    sees exactly the matrix (features, categorical levels) and rows the boosted model saw.
    """
    backtest = Backtest()
    population = validation_part.select("customer_id", "churned", "future_value")
    eligible = population["churned"].is_not_null().to_numpy()
    churned = population["churned"].to_numpy()[eligible].astype(int)
    actual_value = population["future_value"].to_numpy()

    summary = rfm_summary(raw.transactions, schedule.validation)
    bgnbd = _fit_bgnbd(summary, backtest.notes)
    if bgnbd is None:
        backtest.churn["bgnbd_gamma_gamma"] = _undefined(churn_metrics)
        backtest.value["bgnbd_gamma_gamma"] = _undefined(value_metrics)
    else:
        bg_value = _aligned(population, summary, bgnbd.predict_value(value_horizon_days))
        bg_churn = _aligned(
            population, summary, bgnbd_churn_probability(bgnbd, churn_horizon_days), missing=1.0
        )
        backtest.churn["bgnbd_gamma_gamma"] = churn_metrics(churned, bg_churn[eligible])
        backtest.value["bgnbd_gamma_gamma"] = value_metrics(actual_value, bg_value)

    rules = RfmRules().fit(rfm_summary(raw.transactions, schedule.calibration))
    scored = rules.score(summary)
    rfm_churn = _aligned(
        population,
        summary,
        scored["churn_score"].to_numpy(),
        missing=float(scored["churn_score"].to_numpy().max()),
    )
    rfm_value = _aligned(population, summary, scored["value_score"].to_numpy())
    backtest.churn["rfm_rules"] = _ranking_only(
        churn_metrics(churned, rfm_churn[eligible]), _CHURN_PROBABILITY_METRICS
    )
    backtest.value["rfm_rules"] = _ranking_only(value_metrics(actual_value, rfm_value), _VALUE_AMOUNT_METRICS)

    backtest.churn["logistic_regression"] = _logistic(churn_train, churn_validation)

    if ground_truth is not None:
        backtest.churn["oracle"], backtest.value["oracle"] = _oracle(
            population, ground_truth, schedule.validation, churn_horizon_days, value_horizon_days, eligible
        )
    return backtest


def _fit_bgnbd(summary: pl.DataFrame, notes: list[str]) -> BgNbdGammaGamma | None:
    """BG/NBD + Gamma-Gamma by maximum likelihood, or None (with a note) when the fit fails.

    On small or heavy-tailed samples the Gamma-Gamma fit can land on q <= 1, where mean spend is
    undefined; an L2 penalty pulls q further towards 1 and does not help. The baseline is then
    reported as undefined (NaN) instead of stopping the training.
    """
    try:
        return BgNbdGammaGamma().fit(summary)
    except ModelFitError as error:
        notes.append(f"baseline bgnbd_gamma_gamma left out: {error}")
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
    """Baseline scores in the validation population's order; customers without purchases get `missing`."""
    by_customer = pl.DataFrame(
        {"customer_id": summary["customer_id"], "score": np.asarray(scores, dtype=float)}
    )
    joined = population.select("customer_id").join(
        by_customer, on="customer_id", how="left", maintain_order="left"
    )
    return joined["score"].fill_null(missing).to_numpy()


def _undefined(report_card: Callable[[list[float], list[float]], dict[str, float]]) -> dict[str, float]:
    """Every metric of a report card as NaN, for a baseline that could not be fitted."""
    return dict.fromkeys(report_card([0.0, 1.0], [0.0, 1.0]), float("nan"))


def _ranking_only(metrics: dict[str, float], undefined: tuple[str, ...]) -> dict[str, float]:
    return {name: (float("nan") if name in undefined else value) for name, value in metrics.items()}


def _logistic(churn_train: ChurnRows, churn_validation: ChurnRows) -> dict[str, float]:
    frame = churn_train.features
    categorical = [name for name in frame.columns if isinstance(frame[name].dtype, pd.CategoricalDtype)]
    numeric = [name for name in frame.columns if name not in categorical]
    pipeline = logistic_churn_pipeline(numeric, categorical)
    pipeline.fit(frame, churn_train.churned)
    probability = pipeline.predict_proba(churn_validation.features)[:, 1]
    return churn_metrics(churn_validation.churned, probability)


def _oracle(
    population: pl.DataFrame,
    ground_truth: pl.DataFrame,
    as_of: datetime,
    churn_horizon_days: int,
    value_horizon_days: int,
    eligible: np.ndarray,
) -> tuple[dict[str, float], dict[str, float]]:
    from features.synth import oracle_churn_probability, oracle_expected_spend

    ids = population.select("customer_id")
    churn = ids.join(
        oracle_churn_probability(ground_truth, as_of, churn_horizon_days),
        on="customer_id",
        how="left",
        maintain_order="left",
    )
    value = ids.join(
        oracle_expected_spend(ground_truth, as_of, value_horizon_days),
        on="customer_id",
        how="left",
        maintain_order="left",
    )
    churned = population["churned"].to_numpy()[eligible].astype(int)
    return (
        churn_metrics(churned, churn["churn_probability"].fill_null(1.0).to_numpy()[eligible]),
        value_metrics(
            population["future_value"].to_numpy(), value["expected_spend"].fill_null(0.0).to_numpy()
        ),
    )
