"""Lifecycle stage of a customer: where they stand in the relationship, from prospect to lost.

The stage is read from the features and the churn-risk band, first matching rule wins:

1. ``prospect``: no order ever (no ``days_since_last_order``, or ``orders_lifetime`` is 0);
2. ``lost``: no order for at least ``lost_after_days`` (default 365);
3. ``dormant``: no order for at least ``dormant_after_days`` (default 180);
4. ``at_risk``: churn risk band is ``high``;
5. ``new``: first order less than 90 days ago;
6. ``loyal``: a customer for at least 365 days (``tenure_days``, or ``days_since_first_order`` when
   tenure is unknown) with at least 4 orders in the last 365 days, i.e. roughly quarterly buying;
7. ``active``: everyone else.

Recency thresholds follow the usual non-contractual practice of calling a customer inactive after a
fixed silence (Fader, Hardie & Lee 2005); the playbook sets them. `lifecycle_stage` serves one
customer, `lifecycle_stage_expr` a polars frame of any size; the tests check that they agree.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any, Final

import polars as pl

from domain.vocabulary import LifecycleStage

NEW_CUSTOMER_DAYS: Final = 90
LOYAL_TENURE_DAYS: Final = 365
LOYAL_ORDERS_365D: Final = 4


def lifecycle_stage(
    features: Mapping[str, Any],
    churn_probability: float,
    churn_risk: str,
    dormant_after_days: int = 180,
    lost_after_days: int = 365,
) -> LifecycleStage:
    """The stage of one customer from their feature values (missing names count as missing values).

    `churn_probability` is accepted so callers pass the whole prediction; the rule reads the band
    `churn_risk`, which already applies the playbook's thresholds to it.
    """
    since_last = _number(features.get("days_since_last_order"))
    orders_lifetime = _number(features.get("orders_lifetime"))
    if since_last is None or orders_lifetime == 0:
        return "prospect"
    if since_last >= lost_after_days:
        return "lost"
    if since_last >= dormant_after_days:
        return "dormant"
    if churn_risk == "high":
        return "at_risk"
    since_first = _number(features.get("days_since_first_order"))
    if since_first is not None and since_first < NEW_CUSTOMER_DAYS:
        return "new"
    tenure = _number(features.get("tenure_days"))
    if tenure is None:
        tenure = since_first
    orders_365d = _number(features.get("orders_365d"))
    if (
        tenure is not None
        and tenure >= LOYAL_TENURE_DAYS
        and orders_365d is not None
        and orders_365d >= LOYAL_ORDERS_365D
    ):
        return "loyal"
    return "active"


def lifecycle_stage_expr(
    churn_risk: str | pl.Expr = "churn_risk",
    dormant_after_days: int = 180,
    lost_after_days: int = 365,
    available_columns: Collection[str] | None = None,
) -> pl.Expr:
    """The same rules as `lifecycle_stage` as one polars expression (a String column named `lifecycle_stage`).

    `churn_risk` is the column name or expression of the risk band. Pass the frame's columns as
    `available_columns` when some feature columns may be absent: those are then treated as missing,
    as the scalar version does.
    """
    risk = pl.col(churn_risk) if isinstance(churn_risk, str) else churn_risk

    def feature(name: str) -> pl.Expr:
        if available_columns is not None and name not in available_columns:
            return pl.lit(None, dtype=pl.Float64)
        return pl.col(name).cast(pl.Float64).fill_nan(None)

    since_last = feature("days_since_last_order")
    since_first = feature("days_since_first_order")
    tenure = pl.coalesce(feature("tenure_days"), since_first)
    loyal = (tenure >= LOYAL_TENURE_DAYS) & (feature("orders_365d") >= LOYAL_ORDERS_365D)
    return (
        pl.when(since_last.is_null() | (feature("orders_lifetime") == 0).fill_null(False))
        .then(pl.lit("prospect"))
        .when(since_last >= lost_after_days)
        .then(pl.lit("lost"))
        .when(since_last >= dormant_after_days)
        .then(pl.lit("dormant"))
        .when((risk == "high").fill_null(False))
        .then(pl.lit("at_risk"))
        .when((since_first < NEW_CUSTOMER_DAYS).fill_null(False))
        .then(pl.lit("new"))
        .when(loyal.fill_null(False))
        .then(pl.lit("loyal"))
        .otherwise(pl.lit("active"))
        .alias("lifecycle_stage")
    )


def lifecycle_stages(
    features: pl.DataFrame,
    churn_risk: str | pl.Expr = "churn_risk",
    dormant_after_days: int = 180,
    lost_after_days: int = 365,
) -> pl.Series:
    """`lifecycle_stage_expr` evaluated on a feature frame that may lack some feature columns."""
    expression = lifecycle_stage_expr(churn_risk, dormant_after_days, lost_after_days, features.columns)
    return features.select(expression).to_series()


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number
