"""When things happen: the yearly and weekly purchase seasonality and the time of day.

The simulation runs on a "uniform clock": float days since the start of the data, with every moment of
a day equally likely. Two calendar effects are layered on top, both exactly invertible so that the
oracles can integrate the true purchase intensity:

- purchase intensity is piecewise constant per calendar day, `purchase_seasonality(day)` (a Q4 peak
  and quieter weekends); purchases are thinned to it (Lewis & Shedler, "Simulation of
  nonhomogeneous Poisson processes by thinning", Naval Res. Logistics Q. 26(3), 1979);
- within each day, `to_clock_time` bends the uniform clock into business-hours-shaped wall-clock time,
  monotone per day, so the order of events, signups and dropouts is kept.
"""

from __future__ import annotations

import numpy as np

MICROSECONDS_PER_DAY = 86_400_000_000

PEAK_DAY_OF_YEAR = 330
"""Late November: Black Friday and year-end budget spending."""
YEARLY_AMPLITUDE = 0.3
WEEKDAY_WEIGHTS = np.array([1.08, 1.1, 1.1, 1.08, 1.04, 0.82, 0.78])
"""Monday .. Sunday purchase intensity (mean 1.0): a mixed B2B/B2C base orders less at weekends."""

# fmt: off
HOURLY_ACTIVITY = np.array([
    0.2, 0.12, 0.08, 0.07, 0.08, 0.15, 0.4, 0.9, 1.6, 2.2, 2.5, 2.5,  # 00:00 - 11:59
    2.2, 2.3, 2.4, 2.3, 2.1, 1.8, 1.5, 1.4, 1.3, 1.1, 0.7, 0.4,  # 12:00 - 23:59
])
# fmt: on
"""Relative activity per hour of day: office hours with an evening tail from consumers."""
_HOUR_EDGES = np.linspace(0.0, 1.0, 25)
_ACTIVITY_SHARE_BEFORE_HOUR = np.concatenate([[0.0], np.cumsum(HOURLY_ACTIVITY) / HOURLY_ACTIVITY.sum()])


def purchase_seasonality(days: np.ndarray) -> np.ndarray:
    """Relative purchase intensity of each calendar day (`datetime64[D]` values), averaging ~1 a year."""
    days = days.astype("datetime64[D]")
    day_of_year = (days - days.astype("datetime64[Y]")).astype(np.int64)
    yearly = 1.0 + YEARLY_AMPLITUDE * np.cos(2.0 * np.pi * (day_of_year - PEAK_DAY_OF_YEAR) / 365.25)
    monday_first_weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    return yearly * WEEKDAY_WEIGHTS[monday_first_weekday]


def to_clock_time(uniform_days: np.ndarray) -> np.ndarray:
    """Move each moment within its day so that times of day follow `HOURLY_ACTIVITY`."""
    whole_days = np.floor(uniform_days)
    return whole_days + np.interp(uniform_days - whole_days, _ACTIVITY_SHARE_BEFORE_HOUR, _HOUR_EDGES)


def to_uniform_clock(clock_days: np.ndarray) -> np.ndarray:
    """Inverse of `to_clock_time`: the share of a day's activity before each wall-clock moment."""
    whole_days = np.floor(clock_days)
    return whole_days + np.interp(clock_days - whole_days, _HOUR_EDGES, _ACTIVITY_SHARE_BEFORE_HOUR)
