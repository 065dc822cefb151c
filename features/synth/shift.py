"""A drift scenario: from a date on, prices, engagement or one segment's churn hazard change.

Monitoring has to show realised accuracy falling, drift being flagged and a retrain recovering, so the
generator can move the world after a date. Each change applies to events from `after` 00:00 on and
leaves every event before it exactly as the unshifted base with the same seed has it:

- `price`: every order placed from `after` on costs `factor` times what it would have (default 0.8,
  prices 20% lower), same quantity; the refund of such an order reverses the lower amount. Spend
  features and the value model's target move; behaviour does not.
- `engagement`: each visit, email open, email click, call and meeting from `after` on is kept with
  probability `factor` (default 0.25: engagement falls to a quarter, as when a mail client stops
  reporting opens and a redesign loses visits; merely halving it moves 90-day counts that are
  mostly 0 or 1 only to a PSI near 0.1); tickets, complaints, inquiries and surveys are unchanged.
  The thinning has its own random stream, so no other draw moves.
- `hazard`: the dropout hazard of the buyers in one segment (default `company_size` = `small`) is
  multiplied by `factor` (default 2) from `after` on. Lifetimes are exponential, hence memoryless: a
  buyer alive at `after` with remaining lifetime R under the old hazard has remaining lifetime
  R / factor under the new one, an exact draw that needs no new random numbers. Orders and
  interactions between the new and the old dropout moment are removed, so these departures come
  without the usual warning (fading engagement, complaints): a competitor's offer rather than
  dissatisfaction, which a churn model trained before the date cannot see coming (concept drift).

What monitoring should see: the price shift moves the value target far more than any feature
(realised value error grows; spend features drift only mildly), the engagement shift moves the
interaction features (drift flagged), the hazard shift moves almost nothing before customers leave
(realised churn calibration falls while drift stays quiet).

The ground truth records the new dropout moments, a `shift_affected` column, and the shift itself
(`shift.json` beside the files). The oracles read the ground truth, so they stay exact under the
hazard shift; they do not know about the price or engagement shifts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Literal, get_args

import numpy as np

from domain.errors import SyntheticDataError
from features.definitions import INTERACTION_TYPES
from features.synth.engagement import Interactions
from features.synth.population import ATTRIBUTES, Population

ShiftKind = Literal["price", "engagement", "hazard"]
SHIFT_KINDS: Final[tuple[ShiftKind, ...]] = get_args(ShiftKind)
DEFAULT_FACTORS: Final[dict[ShiftKind, float]] = {"price": 0.8, "engagement": 0.25, "hazard": 2.0}
DEFAULT_HAZARD_SEGMENT: Final[tuple[str, str]] = ("company_size", "small")
ENGAGEMENT_TYPES: Final[tuple[str, ...]] = ("visit", "email_open", "email_click", "call", "meeting")
_THINNING_STREAM = 1
"""Second entropy word of the engagement thinning's random stream, `(seed, 1)`."""


@dataclass(frozen=True)
class SyntheticShift:
    """What changes from `after` on: `kind`, its `factor` (None: the kind's default) and, for the
    hazard, the segment as (attribute, level)."""

    kind: ShiftKind
    after: date
    factor: float | None = None
    segment: tuple[str, str] = DEFAULT_HAZARD_SEGMENT

    @property
    def effective_factor(self) -> float:
        return DEFAULT_FACTORS[self.kind] if self.factor is None else float(self.factor)

    def describe(self) -> dict[str, Any]:
        """The shift as JSON-ready data, written to `shift.json` beside the synthetic files."""
        factor = self.effective_factor
        changes = {
            "price": f"orders from {self.after} on cost {factor:g} x the unshifted amount",
            "engagement": f"visits, email opens and clicks, calls and meetings from {self.after} on "
            f"are kept with probability {factor:g}",
            "hazard": f"the dropout hazard of buyers with {self.segment[0]} = {self.segment[1]} is "
            f"multiplied by {factor:g} from {self.after} on",
        }
        return {
            "kind": self.kind,
            "after": self.after.isoformat(),
            "factor": factor,
            "segment": {"attribute": self.segment[0], "level": self.segment[1]}
            if self.kind == "hazard"
            else None,
            "change": changes[self.kind],
        }


@dataclass(frozen=True)
class ShiftEffect:
    """A shift resolved against one population, in the simulation's uniform-clock days.

    `lifetime_end` is each customer's dropout moment after the shift (the drawn one when unaffected);
    `affected` marks the customers whose behaviour from `day` on the shift changes.
    """

    shift: SyntheticShift
    day: float
    lifetime_end: np.ndarray
    affected: np.ndarray

    def priced(self, amount: np.ndarray, time: np.ndarray) -> np.ndarray:
        """Order amounts with the price factor applied to the orders placed from `day` on."""
        if self.shift.kind != "price":
            return amount
        lowered = np.maximum(np.round(amount * self.shift.effective_factor, 2), 0.01)
        return np.where(time >= self.day, lowered, amount)

    def keeps_order(self, customer: np.ndarray, time: np.ndarray) -> np.ndarray:
        """Which orders still happen: those before the customer's dropout moment after the shift."""
        if self.shift.kind != "hazard":
            return np.ones(len(customer), dtype=bool)
        return time < self.lifetime_end[customer]

    def interactions(self, interactions: Interactions, population: Population, seed: int) -> Interactions:
        """The interactions that still happen under the shift."""
        if self.shift.kind == "engagement":
            kept = _thinned_engagement(interactions, self.day, self.shift.effective_factor, seed)
        elif self.shift.kind == "hazard":
            customer, time = interactions.customer, interactions.time
            lost_life = (time >= self.lifetime_end[customer]) & (time < population.lifetime_end[customer])
            kept = ~(self.affected[customer] & lost_life)
        else:
            return interactions
        return Interactions(
            customer=interactions.customer[kept],
            time=interactions.time[kept],
            type_code=interactions.type_code[kept],
            value=interactions.value[kept],
        )

    def population(self, population: Population) -> Population:
        """The population as the ground truth should record it: dropout moments after the shift."""
        return dataclasses.replace(population, lifetime_end=self.lifetime_end)


def resolve_shift(shift: SyntheticShift, population: Population, start: date, end: date) -> ShiftEffect:
    """Check `shift` against the period and the population and turn it into per-customer effects."""
    if not start < shift.after <= end:
        raise SyntheticDataError(
            f"--shift-after {shift.after} must fall after the first day ({start}) and on or before "
            f"the last day ({end}) of the synthetic data"
        )
    if shift.kind not in SHIFT_KINDS:
        raise SyntheticDataError(f"--shift-kind must be one of {', '.join(SHIFT_KINDS)}, got {shift.kind!r}")
    factor = shift.effective_factor
    if not np.isfinite(factor) or factor <= 0 or (shift.kind == "engagement" and factor > 1):
        allowed = "in (0, 1]" if shift.kind == "engagement" else "a positive number"
        raise SyntheticDataError(
            f"the {shift.kind} shift's factor (--shift-factor) must be {allowed}, got {factor}"
        )
    day = float((shift.after - start).days)
    is_buyer = ~population.is_prospect
    alive_after = is_buyer & (population.lifetime_end > day)
    if shift.kind == "price":
        return ShiftEffect(shift, day, population.lifetime_end, alive_after)
    if shift.kind == "engagement":
        return ShiftEffect(shift, day, population.lifetime_end, np.ones(population.size, dtype=bool))
    affected = alive_after & (_segment_codes(shift, population) == _segment_level(shift))
    hazard_from = np.maximum(day, population.first_order)
    shortened = hazard_from + (population.lifetime_end - hazard_from) / factor
    return ShiftEffect(shift, day, np.where(affected, shortened, population.lifetime_end), affected)


def _segment_codes(shift: SyntheticShift, population: Population) -> np.ndarray:
    attribute = shift.segment[0]
    if attribute not in ATTRIBUTES:
        raise SyntheticDataError(
            f"the hazard shift's segment attribute {attribute!r} is not one of {', '.join(ATTRIBUTES)}"
        )
    return population.attribute_codes[attribute]


def _segment_level(shift: SyntheticShift) -> int:
    attribute, level = shift.segment
    levels = ATTRIBUTES[attribute].levels
    if level not in levels:
        raise SyntheticDataError(
            f"the hazard shift's segment level {level!r} is not a level of {attribute} ({', '.join(levels)})"
        )
    return levels.index(level)


def _thinned_engagement(
    interactions: Interactions, day: float, keep_probability: float, seed: int
) -> np.ndarray:
    engagement_codes = [INTERACTION_TYPES.index(name) for name in ENGAGEMENT_TYPES]
    rng = np.random.default_rng([seed, _THINNING_STREAM])
    dropped = rng.random(len(interactions.time)) >= keep_probability
    thinned = np.isin(interactions.type_code, engagement_codes) & (interactions.time >= day)
    return ~(thinned & dropped)
