"""How customers engage: visits, emails, calls, meetings, tickets, complaints and surveys.

Each interaction type arrives as a Poisson stream whose rate is piecewise constant over a customer's
life: steady while active, fading in two steps over a warning window of 60-120 days before dropout
(engagement falls, complaints and tickets rise, satisfaction drops), then a trickle of email opens
for some after dropout. Prospects are busy for a while (visits, inquiries) and never buy.
The pre-churn pattern follows what CRM churn studies report, e.g. Ascarza et al., "In Pursuit of
Enhanced Customer Retention Management", Customer Needs and Solutions 5, 2018.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.definitions import INTERACTION_TYPES
from features.synth.population import Population

ACTIVE_RATE_PER_DAY = np.array([0.0056, 0.005, 0.0015, 0.00075, 0.0003, 0.00045, 0.0006, 0.0001, 0.0003])
"""Per-type daily rate of an active buyer with engagement 1, in `INTERACTION_TYPES` order."""
WARNING_FACTOR = np.array([0.3, 0.35, 0.25, 0.7, 0.3, 0.5, 3.0, 6.0, 1.5])
"""Rate multipliers in the last half of the warning window; the first half gets their square root."""
B2B_CONTACT_FACTOR_BY_SIZE = np.array([0.15, 0.8, 1.2, 2.0, 3.0])
"""Calls and meetings scale with company size (rows of `COMPANY_SIZE.levels`)."""
KEY_ACCOUNT_ENGAGEMENT_FACTOR = 2.5
ENGAGEMENT_SHAPE = 2.0
WARNING_WINDOW_DAYS = (60.0, 120.0)
LAPSED_READER_SHARE = 0.5
LAPSED_EMAIL_OPEN_RATE_PER_DAY = 0.004
PROSPECT_MEAN_INTEREST_DAYS = 75.0
PROSPECT_RATE_PER_DAY = np.array([0.05, 0.03, 0.008, 0.004, 0.0015, 0.02, 0.0, 0.0, 0.0])
MEAN_SATISFACTION = 4.1
WARNING_SATISFACTION_DROP = (0.7, 1.5)
"""How far satisfaction falls in the first and the second half of the warning window."""

_CONTACT_TYPES = np.isin(INTERACTION_TYPES, ["call", "meeting"])
_SURVEY = INTERACTION_TYPES.index("survey")
_EMAIL_OPEN = INTERACTION_TYPES.index("email_open")
_INQUIRY = INTERACTION_TYPES.index("inquiry")


@dataclass(frozen=True)
class Interactions:
    """One entry per interaction: customer index, uniform-clock time, type code and value (NaN: none)."""

    customer: np.ndarray
    time: np.ndarray
    type_code: np.ndarray
    value: np.ndarray


@dataclass
class _Streams:
    """Accumulates Poisson streams of interactions, one (type, life phase) at a time."""

    rng: np.random.Generator
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]

    def add(
        self,
        type_code: int,
        start: np.ndarray,
        end: np.ndarray,
        rate: np.ndarray,
        satisfaction: np.ndarray | None = None,
    ) -> None:
        span = np.maximum(end - start, 0.0)
        counts = self.rng.poisson(rate * span)
        customer = np.repeat(np.arange(len(start)), counts)
        time = start[customer] + self.rng.random(len(customer)) * span[customer]
        value = np.full(len(customer), np.nan)
        if satisfaction is not None:
            noisy = satisfaction[customer] + self.rng.normal(0.0, 0.7, len(customer))
            value = np.clip(np.round(noisy), 1.0, 5.0)
        self.parts.append((customer, time, np.full(len(customer), type_code, dtype=np.int8), value))


def simulate_interactions(rng: np.random.Generator, population: Population, n_days: int) -> Interactions:
    """All interaction streams of buyers and prospects, concatenated (unsorted)."""
    streams = _Streams(rng=rng, parts=[])
    _buyer_streams(streams, population, n_days)
    _prospect_streams(streams, population, n_days)
    customer, time, type_code, value = (np.concatenate(column) for column in zip(*streams.parts, strict=True))
    return Interactions(customer=customer, time=time, type_code=type_code, value=value)


def _buyer_streams(streams: _Streams, population: Population, n_days: int) -> None:
    rng = streams.rng
    n = population.size
    is_buyer = ~population.is_prospect
    engagement = rng.gamma(ENGAGEMENT_SHAPE, 1.0 / ENGAGEMENT_SHAPE, n) * np.where(
        population.is_key_account, KEY_ACCOUNT_ENGAGEMENT_FACTOR, 1.0
    )
    contact_factor = B2B_CONTACT_FACTOR_BY_SIZE[population.attribute_codes["company_size"]]
    long_lived = np.log(population.dropout_rate.mean() / population.dropout_rate)
    satisfaction = MEAN_SATISFACTION + 0.25 * long_lived + rng.normal(0.0, 0.3, n)
    warning_days = rng.uniform(*WARNING_WINDOW_DAYS, n)
    reads_after_dropout = rng.random(n) < LAPSED_READER_SHARE

    lifetime_end = np.where(is_buyer, population.lifetime_end, -1.0)
    phase_edges = [
        np.clip(edge, population.signup, n_days)
        for edge in (
            population.signup,
            lifetime_end - warning_days,
            lifetime_end - warning_days / 2,
            lifetime_end,
        )
    ]
    phase_factors = (np.ones_like(WARNING_FACTOR), np.sqrt(WARNING_FACTOR), WARNING_FACTOR)
    for phase, factor in enumerate(phase_factors):
        start, end = phase_edges[phase], phase_edges[phase + 1]
        for type_code, base_rate in enumerate(ACTIVE_RATE_PER_DAY):
            rate = (
                base_rate
                * factor[type_code]
                * engagement
                * np.where(_CONTACT_TYPES[type_code], contact_factor, 1.0)
            )
            if type_code == _SURVEY:
                streams.add(
                    type_code, start, end, rate, satisfaction - (0.0, *WARNING_SATISFACTION_DROP)[phase]
                )
            else:
                streams.add(type_code, start, end, rate)
    lapsed_rate = np.where(reads_after_dropout & is_buyer, LAPSED_EMAIL_OPEN_RATE_PER_DAY, 0.0)
    streams.add(_EMAIL_OPEN, phase_edges[3], np.full(n, float(n_days)), lapsed_rate)


def _prospect_streams(streams: _Streams, population: Population, n_days: int) -> None:
    """Prospects are active for an exponential interest span, then only open the odd email."""
    rng = streams.rng
    n = population.size
    interest_end = np.minimum(population.signup + rng.exponential(PROSPECT_MEAN_INTEREST_DAYS, n), n_days)
    interest_end = np.where(population.is_prospect, interest_end, population.signup)
    curiosity = rng.gamma(ENGAGEMENT_SHAPE, 1.0 / ENGAGEMENT_SHAPE, n)
    prospect = np.flatnonzero(population.is_prospect)
    streams.parts.append(  # the inquiry that made them a lead
        (
            prospect,
            population.signup[prospect],
            np.full(len(prospect), _INQUIRY, dtype=np.int8),
            np.full(len(prospect), np.nan),
        )
    )
    for type_code, base_rate in enumerate(PROSPECT_RATE_PER_DAY):
        if base_rate > 0:
            streams.add(type_code, population.signup, interest_end, base_rate * curiosity)
    lapsed_rate = np.where(population.is_prospect, LAPSED_EMAIL_OPEN_RATE_PER_DAY, 0.0)
    streams.add(_EMAIL_OPEN, interest_end, np.full(n, float(n_days)), lapsed_rate)
