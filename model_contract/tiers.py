"""Value tiers A-D: cut-points on predicted value, fitted as population shares or set in currency.

By default A is the top 10% of customers by predicted value, B the next 20%, C the next 40% and D the
rest, the account-management pyramid of a customer value segmentation (Zeithaml, Rust & Lemon 2001,
"The customer pyramid"). A company with its own thresholds passes them in currency instead. Each
threshold is the lowest value of its tier, inclusive: value >= A threshold is A, else >= B is B,
else >= C is C, else D. With ties at a threshold every tied customer gets the higher tier, so a tier
can hold slightly more than its share. Cut-points are stored with the model (`to_dict`) and applied
unchanged at serving time, never refitted per request.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from domain.errors import TierError
from domain.vocabulary import TIERS

DEFAULT_SHARES = (0.10, 0.20, 0.40)


class TierCutpoints(BaseModel):
    """Lowest predicted value (currency over the value horizon) of tiers A, B and C."""

    model_config = ConfigDict(frozen=True)

    method: Literal["quantile", "absolute"]
    a_threshold: float
    b_threshold: float
    c_threshold: float
    shares: tuple[float, float, float] | None = None

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
    predicted_values: Sequence[float] | np.ndarray, shares: Sequence[float] = DEFAULT_SHARES
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
        method="quantile", a_threshold=a, b_threshold=b, c_threshold=c, shares=(share_a, share_b, share_c)
    )


def absolute_tiers(a: float, b: float, c: float) -> TierCutpoints:
    """Cut-points set in currency: value >= a is tier A, >= b is B, >= c is C, else D."""
    return TierCutpoints(method="absolute", a_threshold=a, b_threshold=b, c_threshold=c)


def assign_tier(cutpoints: TierCutpoints, values: Sequence[float] | np.ndarray) -> np.ndarray:
    """The tier letter of each value; thresholds are inclusive lower bounds."""
    array = _finite(values, "values")
    return np.select(
        [array >= cutpoints.a_threshold, array >= cutpoints.b_threshold, array >= cutpoints.c_threshold],
        list(TIERS[:3]),
        default=TIERS[3],
    ).astype("<U1")


def _finite(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    bad = ~np.isfinite(array)
    if bad.any():
        raise TierError(
            f"{name} has {int(bad.sum())} missing or infinite entries (first at position "
            f"{int(np.argmax(bad))}); tiers need a finite predicted value for every customer"
        )
    return array
