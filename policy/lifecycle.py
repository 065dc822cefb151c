"""Lifecycle stage of a customer: where they stand in the relationship, from prospect to lost.

The stage is read from the features and the churn-risk band, first matching rule wins:

1. no order ever (no ``days_since_last_order``, or ``orders_lifetime`` is 0): ``intent`` when the
   prospect has shown interest within ``intent_window_days`` (90 or 365) - at least
   ``intent_min_inquiries`` inquiries and meetings, or ``intent_min_contacts`` interactions of any kind
   - else ``prospect`` (known to us, nothing more);
2. ``lost``: no order for at least ``lost_after_days`` (default 365);
3. ``dormant``: no order for at least ``dormant_after_days`` (default 180);
4. ``at_risk``: churn risk band is ``high``;
5. ``new``: first order less than ``new_customer_days`` ago (default 90);
6. ``loyal``: a customer for at least ``loyal_tenure_days`` (``tenure_days``, or
   ``days_since_first_order`` when tenure is unknown; default 365) with at least ``loyal_orders_365d``
   orders in the last 365 days (default 4, roughly quarterly buying);
7. ``active``: everyone else.

Recency thresholds follow the usual non-contractual practice of calling a customer inactive after a
fixed silence (Fader, Hardie & Lee 2005); the playbook sets every threshold. The rule is written once,
over arrays, so a single API request (arrays of one) and a whole base run the same code; a missing
value (null or NaN, or a column the table lacks) never meets a condition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from domain.vocabulary import LIFECYCLE_STAGES

_STAGE_CODES: dict[str, int] = {stage: code for code, stage in enumerate(LIFECYCLE_STAGES)}
_STAGE_NAMES = np.asarray(LIFECYCLE_STAGES, dtype=object)
INTENT_WINDOWS_DAYS = (90, 365)
"""Windows the interaction features are counted over, so the ones an intent window can be."""


def stage_features(intent_window_days: int) -> tuple[str, ...]:
    """The feature columns the stage rules read."""
    window = f"{intent_window_days}d"
    return (
        "days_since_last_order",
        "days_since_first_order",
        "orders_lifetime",
        "orders_365d",
        "tenure_days",
        f"inquiries_{window}",
        f"meetings_{window}",
        f"interactions_{window}",
    )


@dataclass(frozen=True)
class StageThresholds:
    """The silences and counts of the stage rules (the playbook's `lifecycle` section)."""

    dormant_after_days: float = 180
    lost_after_days: float = 365
    new_customer_days: float = 90
    loyal_tenure_days: float = 365
    loyal_orders_365d: float = 4
    intent_window_days: int = 90
    intent_min_inquiries: float = 1
    intent_min_contacts: float = 3


DEFAULT_THRESHOLDS = StageThresholds()


def lifecycle_stages(
    features: pl.DataFrame | Mapping[str, npt.ArrayLike],
    churn_risks: npt.ArrayLike,
    thresholds: StageThresholds = StageThresholds(),
) -> np.ndarray:
    """The stage of every row: an object array of stage names, in row order.

    `features` is a feature table (or columns by name) holding the columns of `stage_features`;
    `churn_risks` the risk band of each row (None where the customer has no churn probability).
    """
    rows = len(np.asarray(churn_risks))
    since_last = _column(features, "days_since_last_order", rows)
    since_first = _column(features, "days_since_first_order", rows)
    orders_lifetime = _column(features, "orders_lifetime", rows)
    orders_365d = _column(features, "orders_365d", rows)
    tenure = _column(features, "tenure_days", rows)
    tenure = np.where(np.isnan(tenure), since_first, tenure)
    window = f"{thresholds.intent_window_days}d"
    inquiries = np.nan_to_num(_column(features, f"inquiries_{window}", rows)) + np.nan_to_num(
        _column(features, f"meetings_{window}", rows)
    )
    contacts = np.nan_to_num(_column(features, f"interactions_{window}", rows))
    risk = np.asarray(churn_risks, dtype=object)
    never_ordered = np.isnan(since_last) | (orders_lifetime == 0)
    with np.errstate(invalid="ignore"):
        shows_intent = (inquiries >= thresholds.intent_min_inquiries) | (
            contacts >= thresholds.intent_min_contacts
        )
        conditions = [
            never_ordered & shows_intent,
            never_ordered,
            since_last >= thresholds.lost_after_days,
            since_last >= thresholds.dormant_after_days,
            risk == "high",
            since_first < thresholds.new_customer_days,
            (tenure >= thresholds.loyal_tenure_days) & (orders_365d >= thresholds.loyal_orders_365d),
        ]
    stages = ("intent", "prospect", "lost", "dormant", "at_risk", "new", "loyal")
    choices = [np.full(rows, _STAGE_CODES[stage]) for stage in stages]
    codes = np.select(conditions, choices, default=_STAGE_CODES["active"])
    return _STAGE_NAMES[codes]


def _column(features: pl.DataFrame | Mapping[str, npt.ArrayLike], name: str, rows: int) -> np.ndarray:
    """A feature as floats, NaN where missing; an absent column is missing everywhere."""
    if isinstance(features, pl.DataFrame):
        if name not in features.columns:
            return np.full(rows, np.nan)
        return features.get_column(name).cast(pl.Float64).to_numpy()
    if name not in features:
        return np.full(rows, np.nan)
    values = np.asarray(features[name], dtype=object)
    return np.asarray([np.nan if value is None else value for value in values], dtype=np.float64)
