"""The tier policy: how training draws the value tiers A-D, as the playbook states it.

Either `shares` (the top 10% of active customers by predicted value are A, the next 20% B, the next 40%
C, the rest D: the account-management pyramid of Zeithaml, Rust & Lemon 2001, "The customer pyramid")
or `thresholds` in currency over the value horizon. Shares are of *active* customers: lapsed customers
and prospects are scored against the same cut-points but do not set them, so a base with many lost
customers does not push tier C down to a few currency units.

`minimum_orders_365d` adds frequency to value, as the practice defines an A customer by frequency,
amount and lifetime value together: a customer whose value reaches a tier but who placed fewer orders in
the last 365 days than that tier asks for gets the highest lower tier whose minimum they meet.

Training fits the cut-points (`model_contract.tiers`) and they travel with the model pair; serving
never refits them.
"""

from __future__ import annotations

import itertools
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.vocabulary import TIERS

RANKED_TIERS = TIERS[:3]
DEFAULT_SHARES = {"A": 0.10, "B": 0.20, "C": 0.40}


class TierPolicy(BaseModel):
    """The playbook's `tiers` section (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shares: dict[str, float] | None = None
    thresholds: dict[str, float] | None = None
    minimum_orders_365d: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _default_shares(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("shares") is None and data.get("thresholds") is None:
            return {**data, "shares": dict(DEFAULT_SHARES)}
        return data

    @field_validator("shares", "thresholds")
    @classmethod
    def _tiers_a_b_c(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None and set(value) != set(RANKED_TIERS):
            raise ValueError(f"give a value for each of tiers {', '.join(RANKED_TIERS)}, got {sorted(value)}")
        return value

    @field_validator("minimum_orders_365d")
    @classmethod
    def _known_tiers(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(TIERS))
        if unknown:
            raise ValueError(f"minimum_orders_365d names tiers {unknown}; tiers are {', '.join(TIERS)}")
        if any(count < 0 for count in value.values()):
            raise ValueError("minimum_orders_365d must not be negative")
        return value

    @model_validator(mode="after")
    def _one_way(self) -> TierPolicy:
        if self.shares is not None and self.thresholds is not None:
            raise ValueError("tiers: give shares or thresholds, not both")
        if self.shares is not None:
            shares = [self.shares[tier] for tier in RANKED_TIERS]
            if any(share <= 0 for share in shares) or sum(shares) > 1 + 1e-9:
                raise ValueError(f"tiers shares must be positive and sum to at most 1, got {self.shares}")
        if self.thresholds is not None:
            a, b, c = (self.thresholds[tier] for tier in RANKED_TIERS)
            if not a >= b >= c:
                raise ValueError(f"tiers thresholds must satisfy A >= B >= C, got {self.thresholds}")
        minimums = [self.minimum_orders_365d.get(tier, 0) for tier in TIERS]
        if any(higher < lower for higher, lower in itertools.pairwise(minimums)):
            raise ValueError(
                f"minimum_orders_365d must not grow from A to D (a lower tier asking for more orders "
                f"than a higher one), got {self.minimum_orders_365d}"
            )
        return self
