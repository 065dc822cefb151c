"""Value tiers A-D: cut-points on predicted value, fitted as shares of active customers or set in currency.

The playbook's tier policy (`policy.tiers`) says which: by default A is the top 10% of active customers
by predicted value, B the next 20%, C the next 40% and D the rest (Zeithaml, Rust & Lemon 2001, "The
customer pyramid"). Each threshold is the lowest value of its tier, inclusive: value >= A threshold is
A, else >= B is B, else >= C is C, else D. With ties at a threshold every tied customer gets the higher
tier, so a tier can hold slightly more than its share. A tier may also ask for a minimum number of
orders in the last 365 days: a customer short of it gets the highest lower tier whose minimum they
meet. Cut-points are stored with the model pair (`to_dict`) and applied unchanged at serving time,
never refitted per request.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.errors import TierError
from domain.vocabulary import TIERS


class TierCutpoints(BaseModel):
    """Lowest predicted value (currency over the value horizon) of tiers A, B and C."""

    model_config = ConfigDict(frozen=True)

    method: Literal["quantile", "absolute"]
    a_threshold: float
    b_threshold: float
    c_threshold: float
    shares: tuple[float, float, float] | None = None
    minimum_orders_365d: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ordered(self) -> TierCutpoints:
        thresholds = (self.a_threshold, self.b_threshold, self.c_threshold)
        if not all(math.isfinite(value) for value in thresholds):
            raise ValueError(f"tier thresholds A, B, C must be finite numbers, got {thresholds}")
        if not self.a_threshold >= self.b_threshold >= self.c_threshold:
            raise ValueError(
                f"tier thresholds must satisfy A >= B >= C, got A={self.a_threshold}, B={self.b_threshold}, "
                f"C={self.c_threshold}: pass --tier-thresholds highest first, e.g. 500000,100000,20000"
            )
        if self.method == "quantile" and self.shares is None:
            raise ValueError("quantile tier cut-points must record the shares they were fitted with")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TierCutpoints:
        return cls.model_validate(data)


def fit_tiers(
    predicted_values: Sequence[float] | np.ndarray,
    shares: Sequence[float],
    minimum_orders_365d: dict[str, int] | None = None,
) -> TierCutpoints:
    """Cut-points giving tiers A, B, C the given shares of customers (D the rest), highest values first.

    Tier sizes are the rounded cumulative shares of n (A = round(0.1 n), A + B = round(0.3 n), ...);
    each threshold is the smallest predicted value inside its tier.
    """
    values = _finite(predicted_values, "predicted_values")
    if len(shares) != 3 or any(share <= 0 for share in shares) or sum(shares) > 1 + 1e-9:
        raise TierError(
            f"shares must be three positive fractions for A, B, C summing to at most 1, got {shares}"
        )
    cumulative = np.cumsum(shares)
    ends = [min(math.floor(len(values) * share + 0.5), len(values)) for share in cumulative]
    sizes = np.diff([0, *ends])
    if (sizes < 1).any():
        raise TierError(
            f"{len(values)} predicted values give tier sizes A, B, C = {sizes.tolist()} with shares "
            f"{tuple(shares)}; each tier needs at least one customer, so fit on at least "
            f"{math.ceil(0.5 / min(shares))} customers"
        )
    descending = np.sort(values)[::-1]
    a, b, c = (float(descending[end - 1]) for end in ends)
    share_a, share_b, share_c = (float(share) for share in shares)
    return TierCutpoints(
        method="quantile",
        a_threshold=a,
        b_threshold=b,
        c_threshold=c,
        shares=(share_a, share_b, share_c),
        minimum_orders_365d=dict(minimum_orders_365d or {}),
    )


def absolute_tiers(
    a: float, b: float, c: float, minimum_orders_365d: dict[str, int] | None = None
) -> TierCutpoints:
    """Cut-points set in currency: value >= a is tier A, >= b is B, >= c is C, else D."""
    return TierCutpoints(
        method="absolute",
        a_threshold=a,
        b_threshold=b,
        c_threshold=c,
        minimum_orders_365d=dict(minimum_orders_365d or {}),
    )


def assign_tier(
    cutpoints: TierCutpoints,
    values: Sequence[float] | np.ndarray,
    orders_365d: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """The tier letter of each value; thresholds are inclusive lower bounds.

    With `orders_365d` (missing counts as none), a customer below a tier's minimum orders drops to the
    highest lower tier whose minimum they meet.
    """
    array = _finite(values, "values")
    thresholds = (cutpoints.a_threshold, cutpoints.b_threshold, cutpoints.c_threshold, -np.inf)
    orders = (
        np.zeros(len(array))
        if orders_365d is None
        else np.nan_to_num(np.asarray(orders_365d, dtype=np.float64).reshape(-1), nan=0.0)
    )
    conditions = [
        (array >= threshold)
        & (orders >= cutpoints.minimum_orders_365d.get(tier, 0) if orders_365d is not None else True)
        for tier, threshold in zip(TIERS, thresholds, strict=True)
    ]
    return np.select(conditions, list(TIERS), default=TIERS[3]).astype("<U1")


def _finite(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    bad = ~np.isfinite(array)
    if bad.any():
        raise TierError(
            f"{name} has {int(bad.sum())} missing or infinite entries (first at position "
            f"{int(np.argmax(bad))}); tiers need a finite predicted value for every customer"
        )
    return array
