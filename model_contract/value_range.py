"""The value range: an interval around each customer's predicted value that holds the actual spend
with a stated probability (80% by default), as the registered pair computes it.

Method (fitted by `training.models.value_range`):
- **Conformalized quantile regression** (CQR; Romano, Patterson & Candès 2019, "Conformalized quantile
  regression", NeurIPS): two LightGBM quantile regressors give the 10% and 90% quantiles of spend,
  and a split-conformal offset learned on the out-of-time calibration fold widens (or narrows) both
  ends until the fold's coverage is the level, in finite samples (Lei et al. 2018, "Distribution-free
  predictive inference for regression", JASA). Quantile regressors make the width follow the
  customer: absolute-residual conformal prediction gives every customer the same width, hopeless for
  spend ranging from 2,000 to 200,000.
- **In log1p(spend)**: quantiles are unchanged by a monotone transform, and an offset there is a
  factor on spend, so one offset fits a small customer and a large one alike.
- **Per tier** (a Mondrian conformal predictor; Vovk, Gammerman & Shafer 2005, "Algorithmic learning
  in a random world", ch. 4): each tier has its own offset from its own calibration rows, so the
  coverage holds per tier, not only on average over a base of mostly small customers. A tier with too
  few calibration rows uses the offset of all rows.
- **Narrowed from the top only**: spend is often exactly zero, so the lower quantile of many customers
  is 0. A negative offset (an interval too wide on the calibration fold) lowers the high end but never
  lifts the low end: a customer with a fair chance of spending nothing keeps 0 as the low end, and the
  calibration does not stall on the many customers tied at zero (which would leave whole tiers covered
  well above the level). A positive offset widens both ends.
- **Containing the point prediction**: the predicted value is a mean and spend is skewed, so a mean
  can fall outside the quantile interval (a customer who buys with 30% chance has a range [0, 0] and a
  mean above it). The range served is the interval stretched to the predicted value.
- These intervals grow with the offset, so calibrating the offset on them keeps the split-conformal
  guarantee (nested conformal prediction; Gupta, Kuchibhotla & Ramdas 2022, "Nested conformal
  prediction and quantile out-of-bag ensemble methods", Pattern Recognition).
- Crossed quantiles are swapped (rearrangement; Chernozhukov, Fernández-Val & Galichon 2010), and the
  low end is never below 0: the target is net spend clipped at 0, as for the value model.

Serving computes the two quantiles with the other boosters and the bounds once the tiers are known;
no TreeSHAP is run for the range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

from domain.vocabulary import TIERS
from model_contract.matrix import ModelMatrix
from model_contract.scoring import raw_score

DEFAULT_RANGE_LEVEL = 0.8


def log_spend(amount: np.ndarray | Sequence[float]) -> np.ndarray:
    """log1p of spend clipped at 0: the space in which the range is fitted and calibrated."""
    return np.log1p(np.maximum(np.asarray(amount, dtype=np.float64), 0.0))


def range_bounds(
    lower_log: np.ndarray, upper_log: np.ndarray, amount: np.ndarray, offset: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) in currency: the log1p quantiles moved out by `offset`, stretched to `amount`.

    `offset` is one number or one per row (a tier's); a negative offset lowers the high end only. The
    low end is at least 0, and low <= max(amount, 0) <= high on every row.
    """
    lower, upper = np.minimum(lower_log, upper_log), np.maximum(lower_log, upper_log)
    point = np.maximum(np.asarray(amount, dtype=np.float64), 0.0)
    low = np.expm1(lower - np.maximum(offset, 0.0))
    high = np.expm1(upper + offset)
    # Stretched in currency, not in log space, so that the amount is held exactly (expm1(log1p(x)) may
    # differ from x in its last bit).
    return np.clip(low, 0.0, point), np.maximum(high, point)


@dataclass(frozen=True)
class ConformalRangeScorer:
    """Two quantile boosters of log1p(spend) and the conformal offset of each tier (module docstring).

    `offsets` holds the tiers calibrated on their own rows; any other tier uses `pooled_offset`.
    Offsets are in log1p space; `features` is the width of the model matrix.
    """

    lower_booster: lgb.Booster
    upper_booster: lgb.Booster
    offsets: Mapping[str, float]
    pooled_offset: float
    features: int
    level: float = DEFAULT_RANGE_LEVEL

    @property
    def boosters(self) -> tuple[lgb.Booster, ...]:
        return (self.lower_booster, self.upper_booster)

    def quantiles(self, X: ModelMatrix) -> tuple[np.ndarray, np.ndarray]:
        """The lower and upper quantile of log1p(spend) per row, before any offset."""
        return raw_score(self.lower_booster, X), raw_score(self.upper_booster, X)

    def tier_offsets(self, tiers: np.ndarray | Sequence[str]) -> np.ndarray:
        """Each row's offset: its tier's, or the pooled one."""
        letters = np.asarray(tiers, dtype=object)
        chosen = [letters == tier for tier in TIERS if tier in self.offsets]
        values = [self.offsets[tier] for tier in TIERS if tier in self.offsets]
        return np.select(chosen, values, default=self.pooled_offset).astype(np.float64)

    def bounds_from_quantiles(
        self,
        lower_log: np.ndarray,
        upper_log: np.ndarray,
        amount: np.ndarray,
        tiers: np.ndarray | Sequence[str],
    ) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) in currency for quantiles already computed (`quantiles`)."""
        return range_bounds(lower_log, upper_log, amount, self.tier_offsets(tiers))

    def bounds(
        self, X: ModelMatrix, amount: np.ndarray, tiers: np.ndarray | Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) in currency of the rows of `X`, whose predicted values and tiers are given."""
        return self.bounds_from_quantiles(*self.quantiles(X), amount, tiers)

    def predict(self, X: ModelMatrix) -> np.ndarray:
        """The high end under the pooled offset, before stretching to a predicted value.

        What the registered pyfunc's `value_range` column holds, since a single column cannot carry
        both ends and the tier is only known with the value model; serving calls `bounds`.
        """
        lower, upper = self.quantiles(X)
        return np.expm1(np.maximum(lower, upper) + self.pooled_offset).clip(min=0.0)

    def contributions(self, X: ModelMatrix) -> tuple[float, np.ndarray]:
        """No reasons for the range: zeros."""
        return 0.0, np.zeros((len(X), self.features))
