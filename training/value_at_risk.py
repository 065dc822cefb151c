"""Value at risk against the synthetic ground truth: does it rank the customers whose loss is largest?

The generator knows each customer's purchase rate, spend and dropout, so the true value lost to churn
over the value horizon is exact: the expected net spend if the customer stayed alive through it, minus
the expected net spend as they are (`features.synth.oracle_expected_spend` with and without dropout).
Two definitions are compared on the active customers at the data end, which no label has reached:

- `value_at_risk` = churn probability x value if retained (clvchurn's);
- the earlier one, churn probability x predicted (unconditional) value, which discounts for churn twice.

Reported: Spearman rank correlation with the true loss, and the share of the true top decile (largest
losses) found in the predicted top decile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from features.populations import POPULATION_COLUMN
from model_contract import ModelPair
from training.metrics import spearman


@dataclass(frozen=True)
class ValueAtRiskCheck:
    customers: int
    horizon_days: int
    spearman: float
    top_decile_found: float
    spearman_churn_times_value: float
    top_decile_found_churn_times_value: float

    def as_metrics(self) -> dict[str, float]:
        return {
            "value_at_risk_spearman_truth": self.spearman,
            "value_at_risk_top_decile_found": self.top_decile_found,
            "churn_times_value_spearman_truth": self.spearman_churn_times_value,
            "churn_times_value_top_decile_found": self.top_decile_found_churn_times_value,
        }


def check_value_at_risk(
    pair: ModelPair, latest: pl.DataFrame, ground_truth: pl.DataFrame, as_of: datetime
) -> ValueAtRiskCheck:
    """Both definitions of value at risk against the true loss, on the active customers of `latest`."""
    active = latest.filter(pl.col(POPULATION_COLUMN) == "active")
    horizon = pair.metadata.value_horizon_days
    churn = pair["churn"].predict_frame(active)
    at_risk = churn * pair["value_if_retained"].predict_frame(active)
    churn_times_value = churn * pair["value"].predict_frame(active)
    truth = true_value_lost(ground_truth, active.select("customer_id"), as_of, horizon)
    return ValueAtRiskCheck(
        customers=active.height,
        horizon_days=horizon,
        spearman=spearman(truth, at_risk),
        top_decile_found=top_decile_found(truth, at_risk),
        spearman_churn_times_value=spearman(truth, churn_times_value),
        top_decile_found_churn_times_value=top_decile_found(truth, churn_times_value),
    )


def true_value_lost(
    ground_truth: pl.DataFrame, customers: pl.DataFrame, as_of: datetime, horizon: int
) -> np.ndarray:
    """E[spend over the horizon if never dropping out] - E[spend], per customer of `customers`."""
    from features.synth import oracle_expected_spend

    never = as_of + timedelta(days=100 * 365)
    immortal = ground_truth.with_columns(pl.lit(never).cast(pl.Datetime("us")).alias("lifetime_end"))
    as_they_are = customers.join(
        oracle_expected_spend(ground_truth, as_of, horizon), on="customer_id", how="left"
    )
    if_alive = customers.join(oracle_expected_spend(immortal, as_of, horizon), on="customer_id", how="left")
    return (
        if_alive["expected_spend"].fill_null(0.0) - as_they_are["expected_spend"].fill_null(0.0)
    ).to_numpy()


def top_decile_found(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Share of the customers with the largest 10% of `truth` that are in the top 10% of `predicted`."""
    top = max(1, len(truth) // 10)
    true_top = set(np.argsort(-truth, kind="stable")[:top].tolist())
    predicted_top = set(np.argsort(-predicted, kind="stable")[:top].tolist())
    return len(true_top & predicted_top) / top
