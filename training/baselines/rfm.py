"""RFM quintile scoring and rule-based tiers: the hand-made segmentation companies use today.

Classic direct-marketing RFM (Hughes 1994, "Strategic Database Marketing"): each customer gets a
1-5 score for recency, frequency and monetary value from quintile edges (5 = best), the cell "RFM"
and the sum R+F+M (3-15). The tier cuts that sum; the churn score is the rule of thumb "the longer
since the last order, the likelier gone", as the share of training customers who ordered more recently.
Edges are learned on training data only, so scoring a later snapshot never peeks at it.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from domain.errors import BaselineInputError, ModelNotFittedError
from training.baselines.base import FloatArray, as_float_array

_QUINTILES = (0.2, 0.4, 0.6, 0.8)
_NEEDED = ("frequency", "recency", "T", "monetary_value")


class RfmRules:
    """`fit(summary)` learns quintile edges; `score(summary)` returns scores, tier and churn score.

    `summary` is an `rfm_summary` table; time since last purchase is T - recency. `tier_cuts` are the
    lowest R+F+M sums of tiers A, B and C; anything lower is D.
    """

    def __init__(self, tier_cuts: tuple[int, int, int] = (12, 9, 6)) -> None:
        self.tier_cuts = tier_cuts

    def fit(self, summary: pl.DataFrame) -> RfmRules:
        since_last, frequency, monetary = _rfm_arrays(summary)
        self.recency_edges_ = np.quantile(since_last, _QUINTILES)
        self.frequency_edges_ = np.quantile(frequency, _QUINTILES)
        self.monetary_edges_ = np.quantile(monetary, _QUINTILES)
        self.training_since_last_ = np.sort(since_last)
        return self

    def score(self, summary: pl.DataFrame) -> pl.DataFrame:
        """Columns: [customer_id,] recency_score, frequency_score, monetary_score, rfm_cell,
        rfm_score (R+F+M), tier (A-D), churn_score in [0, 1], value_score = (rfm_score - 3) / 12."""
        if not hasattr(self, "recency_edges_"):
            raise ModelNotFittedError("RfmRules is not fitted: call fit(training_summary) first")
        since_last, frequency, monetary = _rfm_arrays(summary)
        recency_score = 5 - np.searchsorted(self.recency_edges_, since_last, side="left")
        frequency_score = 1 + np.searchsorted(self.frequency_edges_, frequency, side="left")
        monetary_score = 1 + np.searchsorted(self.monetary_edges_, monetary, side="left")
        rfm_score = recency_score + frequency_score + monetary_score
        a_cut, b_cut, c_cut = self.tier_cuts
        tier = np.select([rfm_score >= a_cut, rfm_score >= b_cut, rfm_score >= c_cut], ["A", "B", "C"], "D")
        more_recent = np.searchsorted(self.training_since_last_, since_last, side="left")
        scores = pl.DataFrame(
            {
                "recency_score": recency_score.astype(np.int8),
                "frequency_score": frequency_score.astype(np.int8),
                "monetary_score": monetary_score.astype(np.int8),
                "rfm_cell": [
                    f"{r}{f}{m}"
                    for r, f, m in zip(recency_score, frequency_score, monetary_score, strict=True)
                ],
                "rfm_score": rfm_score.astype(np.int8),
                "tier": tier,
                "churn_score": more_recent / len(self.training_since_last_),
                "value_score": (rfm_score - 3) / 12.0,
            }
        )
        if "customer_id" in summary.columns:
            scores = scores.insert_column(0, summary["customer_id"])
        return scores


def _rfm_arrays(summary: pl.DataFrame) -> tuple[FloatArray, FloatArray, FloatArray]:
    missing = [column for column in _NEEDED if column not in summary.columns]
    if missing:
        raise BaselineInputError(f"summary lacks column(s) {missing}; build it with rfm_summary()")
    if summary.height == 0:
        raise BaselineInputError("summary is empty: RFM needs at least one customer")
    since_last = as_float_array(summary["T"] - summary["recency"], "T - recency")
    return (
        since_last,
        as_float_array(summary["frequency"], "frequency"),
        as_float_array(summary["monetary_value"], "monetary_value"),
    )
