"""The retail benchmark's metrics: the CDNOW protocol's six, then four of the churn probability.

The six (`training.cdnow.protocol.score`) compare predicted with actual holdout net spend (normalized
Gini, Spearman, MAE, total error %, top-10% share) and rank holdout activity by an activity score
(`auc_active`: for BG/NBD its expected holdout purchases, as in the CDNOW protocol; for a churn model
1 - P(churn)). The churn probability, P(no order in the holdout), is then scored as a probability:
ROC-AUC, PR-AUC (average precision, churners positive), Brier score and the expected calibration error
over 10 uniform bins (`training.metrics.probability_metrics`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from domain.errors import BenchmarkPopulationError
from training.cdnow.protocol import METRIC_KEYS as SIX_METRIC_KEYS
from training.cdnow.protocol import score as six_metrics
from training.metrics import probability_metrics

CHURN_METRIC_KEYS = ("churn_roc_auc", "churn_pr_auc", "churn_brier", "churn_ece")
METRIC_KEYS = (*SIX_METRIC_KEYS, *CHURN_METRIC_KEYS)


def check_scorable(actual: pl.DataFrame) -> None:
    """Refuse a holdout the metrics cannot score: nobody in it, all churned or none, no positive spend."""
    if actual.height == 0:
        raise BenchmarkPopulationError(
            "the benchmark population is empty: nobody ordered in the lookback before the cutoff; "
            "choose a cutoff inside the data"
        )
    churners = int(actual.get_column("churned").sum())
    if churners in (0, actual.height):
        raise BenchmarkPopulationError(
            f"{churners} of the {actual.height} population customers churned in the holdout: "
            "churn metrics need both outcomes; choose another cutoff or horizon"
        )
    if float(actual.get_column("net_spend").sum()) <= 0:
        raise BenchmarkPopulationError(
            "the population's net holdout spend is not positive: value metrics are undefined; "
            "choose another cutoff or horizon"
        )


def score_model(actual: pl.DataFrame, predictions: pl.DataFrame) -> dict[str, float]:
    """Every metric of `METRIC_KEYS` for one model; both frames hold the population in the same order.

    `actual` carries `ordered`, `churned` and `net_spend` (`protocol.targets`); `predictions` carries
    `churn_probability`, `predicted_value` and `activity_score`.
    """
    churned = actual.get_column("churned").to_numpy().astype(np.int64)
    probability = predictions.get_column("churn_probability").to_numpy()
    metrics = six_metrics(
        actual.get_column("net_spend").to_numpy(),
        actual.get_column("ordered").to_numpy(),
        predictions.get_column("predicted_value").to_numpy(),
        predictions.get_column("activity_score").to_numpy(),
    )
    churn = probability_metrics(churned, probability)
    metrics.update({f"churn_{name}": churn[name] for name in ("roc_auc", "pr_auc", "brier", "ece")})
    return metrics
