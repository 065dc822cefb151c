"""The retail benchmark's two reference predictors: BG/NBD x Gamma-Gamma and a plain LightGBM on RFM.

- `BgNbdGammaGammaPredictor`: BG/NBD for purchases and Gamma-Gamma for spend per purchase, fitted by
  maximum likelihood on the history (daily resolution, same-day purchases merged; Fader, Hardie & Lee
  2005; Fader & Hardie 2013). Value = expected purchases x spend per purchase over the horizon, churn
  probability = P(no purchase in the horizon) (`training.evaluation.bgnbd_churn_probability`), activity
  score = expected purchases, as in the CDNOW protocol.
- `PlainLightGbmPredictor`: what a data scientist would try first. Recency, frequency and spend over
  trailing windows (the product's `build_features` columns of those three families only), one
  snapshot, the most recent whose label window closed before the cutoff (cutoff - horizon, labels in
  [cutoff - horizon, cutoff)), on the same population and targets as the benchmark; a LightGBM
  classifier for churn and a Tweedie LightGBM regressor for net spend, LightGBM's default settings,
  nothing tuned.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl

from domain.errors import BenchmarkPopulationError
from features.build import build_features
from features.contract import RawData
from training.baselines import BgNbdGammaGamma, rfm_summary
from training.evaluation import bgnbd_churn_probability
from training.retail.protocol import LOOKBACK_DAYS, population, targets

logger = logging.getLogger(__name__)

RFM_WINDOWS_DAYS = (30, 90, 180, 365)
RFM_FEATURES = (
    "days_since_last_order",
    *(f"orders_{days}d" for days in RFM_WINDOWS_DAYS),
    "orders_lifetime",
    *(f"net_spend_{days}d" for days in RFM_WINDOWS_DAYS),
    "net_spend_lifetime",
)
"""Recency, frequency and monetary columns of `features.build.build_features`, nothing else."""


class BgNbdGammaGammaPredictor:
    """BG/NBD x Gamma-Gamma fitted on the history; see the module docstring.

    Customers whose every purchase day nets to zero or less are not in the BG/NBD summary
    (`rfm_summary`): they get churn probability 1, value 0 and activity 0, and are counted in
    `diagnostics_`.
    """

    def __call__(self, history: RawData, cutoff: datetime, horizon_days: int) -> pl.DataFrame:
        summary = rfm_summary(history.transactions, cutoff)
        model = BgNbdGammaGamma().fit(summary)
        fitted = summary.select("customer_id").with_columns(
            pl.Series("churn_probability", bgnbd_churn_probability(model, horizon_days)),
            pl.Series("predicted_value", model.predict_value(horizon_days)),
            pl.Series("activity_score", model.predict_purchases(horizon_days)),
        )
        buyers = history.transactions.filter(pl.col("amount") > 0).select(pl.col("customer_id").unique())
        unfitted = buyers.join(fitted, on="customer_id", how="anti").with_columns(
            pl.lit(1.0).alias("churn_probability"),
            pl.lit(0.0).alias("predicted_value"),
            pl.lit(0.0).alias("activity_score"),
        )
        self.diagnostics_: dict[str, Any] = {
            "bgnbd_params": model.transactions_model_.params_._asdict(),
            "gamma_gamma_params": model.spend_model_.params_._asdict(),
            "customers_fitted": summary.height,
            "customers_without_a_purchase_day": unfitted.height,
        }
        return pl.concat([fitted, unfitted]).sort("customer_id")


@dataclass(frozen=True)
class PlainLightGbmSettings:
    """LightGBM's own defaults (100 rounds, learning rate 0.1, 31 leaves, 20 rows per leaf).

    Tests lower `min_child_samples` and the rounds so that a dozen customers still split.
    """

    n_estimators: int = 100
    learning_rate: float = 0.1
    num_leaves: int = 31
    min_child_samples: int = 20
    tweedie_variance_power: float = 1.5
    random_state: int = 0
    n_jobs: int = 2
    lookback_days: int = LOOKBACK_DAYS
    features: tuple[str, ...] = field(default=RFM_FEATURES)

    def lightgbm_params(self) -> dict[str, Any]:
        return {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "random_state": self.random_state,
            "n_jobs": self.n_jobs,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }


class PlainLightGbmPredictor:
    """LightGBM on recency/frequency/spend windows, trained on the most recent closed window."""

    def __init__(self, settings: PlainLightGbmSettings | None = None) -> None:
        self.settings = settings or PlainLightGbmSettings()

    def __call__(self, history: RawData, cutoff: datetime, horizon_days: int) -> pl.DataFrame:
        """Fit on the snapshot at cutoff - horizon_days, predict the population at `cutoff`."""
        training_cutoff = cutoff - timedelta(days=horizon_days)
        training = self._rows(history, training_cutoff)
        labels = targets(history, training.get_column("customer_id"), training_cutoff, cutoff)
        churned = labels.get_column("churned").to_numpy()
        if churned.min() == churned.max():
            raise BenchmarkPopulationError(
                f"every one of the {len(churned)} customers of the training window {training_cutoff.date()} .. "
                f"{cutoff.date()} has churned = {int(churned[0])}: the plain LightGBM cannot learn churn there"
            )
        spend = np.clip(labels.get_column("net_spend").to_numpy(), 0.0, None)
        params = self.settings.lightgbm_params()
        X = self._matrix(training)
        classifier = lgb.LGBMClassifier(**params).fit(X, churned)
        regressor = lgb.LGBMRegressor(
            objective="tweedie", tweedie_variance_power=self.settings.tweedie_variance_power, **params
        ).fit(X, spend)

        target = self._rows(history, cutoff)
        X_target = self._matrix(target)
        self.diagnostics_: dict[str, Any] = {
            "training_cutoff": training_cutoff.date().isoformat(),
            "training_rows": training.height,
            "training_churn_rate": float(churned.mean()),
            "training_mean_net_spend": float(np.mean(labels.get_column("net_spend").to_numpy())),
            "settings": {key: value for key, value in asdict(self.settings).items() if key != "features"},
        }
        logger.info(
            "plain LightGBM: %d training rows as of %s, %d scored as of %s",
            training.height,
            training_cutoff.date(),
            target.height,
            cutoff.date(),
        )
        return target.select("customer_id").with_columns(
            pl.Series(
                "churn_probability", np.asarray(classifier.predict_proba(X_target))[:, 1], dtype=pl.Float64
            ),
            pl.Series("predicted_value", regressor.predict(X_target), dtype=pl.Float64),
        )

    def _rows(self, history: RawData, as_of: datetime) -> pl.DataFrame:
        """The population at `as_of` with its RFM features, sorted by customer id."""
        customers = population(history, as_of, self.settings.lookback_days)
        features = build_features(history, as_of).select("customer_id", *self.settings.features)
        return customers.to_frame().join(features, on="customer_id", how="left", maintain_order="left")

    def _matrix(self, rows: pl.DataFrame) -> pd.DataFrame:
        return rows.select(self.settings.features).to_pandas()
