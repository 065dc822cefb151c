"""Point-in-time model inputs for the CDNOW benchmark: product features plus BG/NBD and Gamma-Gamma outputs.

At a cutoff the product's own `build_features` (the one feature function of clvchurn) is joined with
the outputs of a BG/NBD x Gamma-Gamma fitted by maximum likelihood on the purchases before that
cutoff (daily resolution, same-day purchases merged; Fader, Hardie & Lee 2005). Columns that do not
depend on a horizon become model inputs; the expected purchases and spend over the label horizon are
kept apart as the offsets the boosted models correct (see `training.cdnow.model`).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from features.build import build_features, feature_columns
from features.contract import CUSTOMERS_BASE_SCHEMA, INTERACTIONS_SCHEMA, RawData, empty_frame
from training.baselines import BgNbdGammaGamma, rfm_summary
from training.cdnow.protocol import before

EXPECTED_PURCHASES = "bgnbd_expected_purchases"
EXPECTED_SPEND_PER_PURCHASE = "gamma_gamma_spend_per_purchase"
EXPECTED_SPEND = "bgnbd_gamma_gamma_expected_spend"
# Horizon-free outputs of the fitted baseline, used as model inputs next to the product features.
BASELINE_INPUTS = (
    "repeat_purchase_days",
    "days_first_to_last_purchase",
    "days_since_first_purchase_day",
    "mean_repeat_purchase_spend",
    "probability_alive",
    EXPECTED_SPEND_PER_PURCHASE,
    "bgnbd_expected_purchases_30d",
)
OFFSET_COLUMNS = (EXPECTED_PURCHASES, EXPECTED_SPEND)


def point_in_time_frame(transactions: pl.DataFrame, as_of: datetime, horizon_days: float) -> pl.DataFrame:
    """One row per customer with a purchase before `as_of`: keys, features, baseline inputs, offsets.

    Only transactions strictly before `as_of` are read; the offsets are the baseline's expected
    purchases and spend over the `horizon_days` after it. Rows are sorted by customer id.
    """
    history = before(transactions, as_of)
    summary = rfm_summary(history, as_of, count_zero_spend_days=True)
    baseline = BgNbdGammaGamma().fit(summary)
    spend_per_purchase = baseline.spend_model_.expected_spend_per_transaction(
        summary["frequency"], summary["monetary_value"]
    )
    expected_purchases = baseline.predict_purchases(horizon_days, summary)
    baseline_columns = summary.select(
        "customer_id",
        pl.col("frequency").alias("repeat_purchase_days"),
        pl.col("recency").alias("days_first_to_last_purchase"),
        pl.col("T").alias("days_since_first_purchase_day"),
        pl.col("monetary_value").alias("mean_repeat_purchase_spend"),
    ).with_columns(
        pl.Series("probability_alive", baseline.probability_alive(summary)),
        pl.Series(EXPECTED_SPEND_PER_PURCHASE, spend_per_purchase),
        pl.Series("bgnbd_expected_purchases_30d", baseline.predict_purchases(30.0, summary)),
        pl.Series(EXPECTED_PURCHASES, expected_purchases),
        pl.Series(EXPECTED_SPEND, expected_purchases * spend_per_purchase),
    )
    features = build_features(_raw_history(history), as_of)
    return features.join(baseline_columns, on="customer_id", how="inner").sort("customer_id")


def model_inputs(frame: pl.DataFrame) -> list[str]:
    """The model's input columns of a `point_in_time_frame`: product features and baseline inputs."""
    excluded = {*OFFSET_COLUMNS, "spend", "purchase_days"}
    return [column for column in feature_columns(frame) if column not in excluded]


def _raw_history(history: pl.DataFrame) -> RawData:
    """CDNOW as a CRM export: the purchases, a customer list without profile, no interactions."""
    customers = history.select(pl.col("customer_id").unique().sort()).with_columns(
        pl.lit(None, dtype=pl.Datetime("us")).alias("signup_date")
    )
    return RawData(
        transactions=history,
        customers=customers.select(list(CUSTOMERS_BASE_SCHEMA)),
        interactions=empty_frame(INTERACTIONS_SCHEMA),
    )
