"""Who the customers are: profile attributes and the true behavioural parameters behind them.

Buyers follow the Pareto/NBD story (Schmittlein, Morrison & Colombo, "Counting Your Customers",
Management Science 33(1), 1987): a gamma-distributed purchase rate and an exponential lifetime whose
dropout rate is itself gamma-distributed across customers. Spend per order follows the Gamma-Gamma
idea (Fader, Hardie & Lee, "RFM and CLV", J. Marketing Research 42(4), 2005): each customer has a
gamma-distributed mean order value and each order adds gamma noise around it. Profile attributes
scale the rate, the order value and the lifetime, so that attributes carry real signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROSPECT_SHARE = 0.12
KEY_ACCOUNT_SHARE = 0.015
KEY_ACCOUNT_RATE_FACTOR = 2.5
KEY_ACCOUNT_ORDER_VALUE_FACTOR = 5.0
KEY_ACCOUNT_LIFETIME_FACTOR = 3.0

BASE_PURCHASE_RATE_PER_DAY = 1 / 40
PURCHASE_RATE_SHAPE = 0.9
BASE_LIFETIME_DAYS = 700.0
DROPOUT_RATE_SHAPE = 1.5
BASE_MEAN_ORDER_VALUE = 120.0
MEAN_ORDER_VALUE_SHAPE = 2.0
MEAN_FIRST_ORDER_DELAY_DAYS = 2.0
SIGNUP_GROWTH = 0.5
"""Acquisitions per day grow linearly by this fraction from the first to the last day."""


@dataclass(frozen=True)
class Attribute:
    """One profile column: its levels, how common each is, and how each level scales behaviour."""

    levels: tuple[str, ...]
    shares: tuple[float, ...]
    purchase_rate: tuple[float, ...]
    order_value: tuple[float, ...]
    lifetime: tuple[float, ...]


COMPANY_SIZE = Attribute(
    levels=("individual", "small", "medium", "large", "enterprise"),
    shares=(0.35, 0.30, 0.20, 0.10, 0.05),
    purchase_rate=(1.0, 0.9, 1.1, 1.3, 1.5),
    order_value=(0.45, 1.0, 1.8, 3.0, 5.0),
    lifetime=(0.7, 1.0, 1.2, 1.4, 1.7),
)
INDUSTRY = Attribute(
    levels=(
        "consumer",
        "retail",
        "manufacturing",
        "technology",
        "healthcare",
        "finance",
        "education",
        "hospitality",
    ),
    shares=(0.0, 0.22, 0.16, 0.18, 0.12, 0.1, 0.1, 0.12),
    purchase_rate=(1.0, 1.3, 0.9, 1.1, 0.8, 0.9, 0.7, 1.2),
    order_value=(1.0, 0.8, 1.4, 1.2, 1.3, 1.5, 0.9, 0.8),
    lifetime=(1.0, 0.85, 1.2, 1.0, 1.3, 1.1, 1.2, 0.8),
)
REGION = Attribute(
    levels=("north_america", "europe", "asia_pacific", "latin_america", "middle_east_africa"),
    shares=(0.36, 0.32, 0.17, 0.09, 0.06),
    purchase_rate=(1.1, 1.0, 1.0, 0.9, 0.9),
    order_value=(1.2, 1.0, 0.9, 0.7, 0.8),
    lifetime=(1.0, 1.1, 0.9, 0.9, 0.95),
)
ACQUISITION_CHANNEL = Attribute(
    levels=(
        "organic_search",
        "paid_search",
        "paid_social",
        "referral",
        "partner",
        "outbound_sales",
        "trade_show",
    ),
    shares=(0.24, 0.2, 0.16, 0.14, 0.1, 0.1, 0.06),
    purchase_rate=(1.0, 1.0, 0.9, 1.1, 1.0, 1.1, 1.0),
    order_value=(1.0, 0.9, 0.8, 1.1, 1.2, 1.4, 1.3),
    lifetime=(1.1, 0.8, 0.6, 1.4, 1.2, 1.1, 1.0),
)
_CONSUMER_CHANNEL_SHARES = (0.3, 0.25, 0.3, 0.15, 0.0, 0.0, 0.0)
ATTRIBUTES = {
    "industry": INDUSTRY,
    "region": REGION,
    "company_size": COMPANY_SIZE,
    "acquisition_channel": ACQUISITION_CHANNEL,
}
MISSING_REGION_SHARE = 0.02


@dataclass(frozen=True)
class Population:
    """Per-customer arrays (one entry per customer, in id order). Times are uniform-clock days.

    Attribute arrays hold level codes into `ATTRIBUTES[name].levels`; -1 means missing.
    Prospects have a zero purchase rate and NaN first order and lifetime end.
    """

    signup: np.ndarray
    attribute_codes: dict[str, np.ndarray]
    is_prospect: np.ndarray
    is_key_account: np.ndarray
    first_order: np.ndarray
    lifetime_end: np.ndarray
    purchase_rate: np.ndarray
    dropout_rate: np.ndarray
    mean_order_value: np.ndarray
    refund_rate: np.ndarray

    @property
    def size(self) -> int:
        return len(self.signup)


def draw_population(rng: np.random.Generator, n_customers: int, n_days: int) -> Population:
    """Draw who signs up when, what they look like and how they will truly behave."""
    signup = _signup_days(rng, n_customers, n_days)
    codes = _attribute_codes(rng, n_customers)
    is_prospect = rng.random(n_customers) < PROSPECT_SHARE
    is_key_account = _key_accounts(rng, codes["company_size"], is_prospect)

    rate_factor, value_factor, lifetime_factor = (
        np.prod([_effect(ATTRIBUTES[name], field, codes[name]) for name in ATTRIBUTES], axis=0)
        for field in ("purchase_rate", "order_value", "lifetime")
    )
    rate_factor *= np.where(is_key_account, KEY_ACCOUNT_RATE_FACTOR, 1.0)
    value_factor *= np.where(is_key_account, KEY_ACCOUNT_ORDER_VALUE_FACTOR, 1.0)
    lifetime_factor *= np.where(is_key_account, KEY_ACCOUNT_LIFETIME_FACTOR, 1.0)

    purchase_rate = rng.gamma(
        PURCHASE_RATE_SHAPE, BASE_PURCHASE_RATE_PER_DAY / PURCHASE_RATE_SHAPE, n_customers
    )
    purchase_rate = np.where(is_prospect, 0.0, purchase_rate * rate_factor)
    dropout_rate = rng.gamma(DROPOUT_RATE_SHAPE, 1.0 / (BASE_LIFETIME_DAYS * DROPOUT_RATE_SHAPE), n_customers)
    dropout_rate /= lifetime_factor
    mean_order_value = value_factor * rng.gamma(
        MEAN_ORDER_VALUE_SHAPE, BASE_MEAN_ORDER_VALUE / MEAN_ORDER_VALUE_SHAPE, n_customers
    )
    consumer_facing = np.isin(codes["industry"], [0, 1, 7])  # consumer, retail, hospitality return more
    refund_rate = np.minimum(rng.beta(2.0, 50.0, n_customers) * np.where(consumer_facing, 1.5, 0.8), 0.5)

    first_order = signup + rng.exponential(MEAN_FIRST_ORDER_DELAY_DAYS, n_customers)
    lifetime_end = first_order + rng.exponential(1.0, n_customers) / dropout_rate
    return Population(
        signup=signup,
        attribute_codes=codes,
        is_prospect=is_prospect,
        is_key_account=is_key_account,
        first_order=np.where(is_prospect, np.nan, first_order),
        lifetime_end=np.where(is_prospect, np.nan, lifetime_end),
        purchase_rate=purchase_rate,
        dropout_rate=dropout_rate,
        mean_order_value=mean_order_value,
        refund_rate=refund_rate,
    )


def _signup_days(rng: np.random.Generator, n_customers: int, n_days: int) -> np.ndarray:
    """Signup moments with linearly growing acquisitions, by inverting the CDF (x + g x^2/2)/(1 + g/2)."""
    u = rng.random(n_customers)
    g = SIGNUP_GROWTH
    share_of_period = (np.sqrt(1.0 + 2.0 * g * u * (1.0 + g / 2.0)) - 1.0) / g
    return np.minimum(share_of_period * n_days, np.nextafter(float(n_days), 0.0))


def _attribute_codes(rng: np.random.Generator, n_customers: int) -> dict[str, np.ndarray]:
    """Company size first; individuals are consumers and reach us through consumer channels."""
    size = _draw_level(rng, COMPANY_SIZE.shares, n_customers)
    is_individual = size == 0
    industry = np.where(is_individual, 0, _draw_level(rng, INDUSTRY.shares, n_customers))
    channel = np.where(
        is_individual,
        _draw_level(rng, _CONSUMER_CHANNEL_SHARES, n_customers),
        _draw_level(rng, ACQUISITION_CHANNEL.shares, n_customers),
    )
    region = _draw_level(rng, REGION.shares, n_customers)
    region = np.where(rng.random(n_customers) < MISSING_REGION_SHARE, -1, region)
    return {"industry": industry, "region": region, "company_size": size, "acquisition_channel": channel}


def _draw_level(rng: np.random.Generator, shares: tuple[float, ...], n: int) -> np.ndarray:
    cumulative = np.cumsum(shares) / np.sum(shares)
    return np.searchsorted(cumulative, rng.random(n), side="right").astype(np.int64)


def _key_accounts(rng: np.random.Generator, company_size: np.ndarray, is_prospect: np.ndarray) -> np.ndarray:
    """About `KEY_ACCOUNT_SHARE` of customers, mostly large companies, never prospects."""
    weight_by_size = np.array([0.0, 0.3, 1.0, 3.0, 6.0])[company_size]
    probability = KEY_ACCOUNT_SHARE / (1.0 - PROSPECT_SHARE) * weight_by_size / weight_by_size.mean()
    return (rng.random(len(company_size)) < probability) & ~is_prospect


def _effect(attribute: Attribute, field: str, codes: np.ndarray) -> np.ndarray:
    """The multiplier each customer's level applies to `field`; missing levels are neutral."""
    factors = np.append(np.asarray(getattr(attribute, field), dtype=np.float64), 1.0)
    return factors[codes]  # code -1 picks the trailing neutral 1.0
