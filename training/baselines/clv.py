"""BG/NBD x Gamma-Gamma: the textbook customer-lifetime-value baseline.

Expected value over a horizon = E[transactions in the horizon] (BG/NBD) x E[spend per transaction]
(Gamma-Gamma), the product used by Fader, Hardie & Lee (2005, "RFM and CLV"), which is valid because
the Gamma-Gamma model assumes spend is independent of the transaction process. Undiscounted.
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from domain.errors import BaselineInputError, ModelNotFittedError
from training.baselines.base import FloatArray
from training.baselines.bgnbd import BetaGeoModel
from training.baselines.gamma_gamma import GammaGammaModel
from training.baselines.summary import SUMMARY_COLUMNS

logger = logging.getLogger(__name__)


class BgNbdGammaGamma:
    """Fits both models on an `rfm_summary` table; predicts purchases and spend over a horizon in days.

    `time_unit_days` must be the one the summary was built with; horizons are converted with it.
    """

    def __init__(self, time_unit_days: float = 1.0, penalizer_coef: float = 0.0) -> None:
        self.time_unit_days = time_unit_days
        self.penalizer_coef = penalizer_coef

    def fit(self, summary: pl.DataFrame) -> BgNbdGammaGamma:
        _check_summary(summary)
        self.transactions_model_ = BetaGeoModel(self.penalizer_coef).fit(
            summary["frequency"], summary["recency"], summary["T"]
        )
        spenders = summary.filter((pl.col("frequency") > 0) & (pl.col("monetary_value") > 0))
        skipped = summary.filter(pl.col("frequency") > 0).height - spenders.height
        if skipped:
            logger.info(
                "Gamma-Gamma: %d repeat customer(s) with zero mean spend left out of the fit", skipped
            )
        self.spend_model_ = GammaGammaModel(self.penalizer_coef).fit(
            spenders["frequency"], spenders["monetary_value"]
        )
        self.summary_ = summary
        return self

    def predict_purchases(self, horizon_days: float, summary: pl.DataFrame | None = None) -> FloatArray:
        """Expected purchases in the next `horizon_days` per summary row (default: the fitted summary)."""
        table = self._table(summary)
        return self.transactions_model_.expected_purchases(
            horizon_days / self.time_unit_days, table["frequency"], table["recency"], table["T"]
        )

    def predict_value(self, horizon_days: float, summary: pl.DataFrame | None = None) -> FloatArray:
        """Expected spend in the next `horizon_days`: purchases x Gamma-Gamma spend per purchase.

        Customers without repeat purchase get the population mean spend p gamma / (q - 1).
        """
        table = self._table(summary)
        spend = self.spend_model_.expected_spend_per_transaction(table["frequency"], table["monetary_value"])
        return np.asarray(self.predict_purchases(horizon_days, table) * spend, dtype=np.float64)

    def probability_alive(self, summary: pl.DataFrame | None = None) -> FloatArray:
        table = self._table(summary)
        return self.transactions_model_.probability_alive(table["frequency"], table["recency"], table["T"])

    def _table(self, summary: pl.DataFrame | None) -> pl.DataFrame:
        if not hasattr(self, "summary_"):
            raise ModelNotFittedError("BgNbdGammaGamma is not fitted: call fit(rfm_summary(...)) first")
        if summary is None:
            return self.summary_
        _check_summary(summary)
        return summary


def _check_summary(summary: pl.DataFrame) -> None:
    missing = [column for column in SUMMARY_COLUMNS[1:] if column not in summary.columns]
    if missing:
        raise BaselineInputError(f"summary lacks column(s) {missing}; build it with rfm_summary()")
