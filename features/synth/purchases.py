"""What the buyers buy: orders, same-day extra orders and later refunds, fully vectorised.

Each buyer orders once at `first_order`, then repeat purchase occasions arrive as a Poisson process
of rate `purchase_rate * seasonality(day)` until `lifetime_end` (drawn at the seasonal peak rate and
thinned, Lewis & Shedler 1979). Some occasions split into a second order later the same day.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from features.synth.population import Population

if TYPE_CHECKING:
    from features.synth.shift import ShiftEffect

SAME_DAY_EXTRA_ORDER_PROBABILITY = 0.06
"""Chance that a purchase occasion produces a second order later the same day (before dropout)."""
ORDER_VALUE_SHAPE = 3.0
"""Gamma shape of one order's value around the customer's mean (coefficient of variation 0.58)."""
MEAN_REFUND_DELAY_DAYS = 12.0
MIN_REFUND_DELAY_DAYS = 1.0

CATEGORIES = (
    "hardware",
    "software",
    "services",
    "supplies",
    "furniture",
    "apparel",
    "electronics",
    "food_beverage",
)
UNIT_PRICE_BY_CATEGORY = np.array([180.0, 90.0, 250.0, 15.0, 220.0, 35.0, 140.0, 12.0])
_CATEGORY_SHARES_BY_INDUSTRY = np.array(
    [  # rows follow INDUSTRY.levels, columns CATEGORIES
        [0.05, 0.05, 0.02, 0.08, 0.1, 0.3, 0.25, 0.15],  # consumer
        [0.1, 0.05, 0.05, 0.25, 0.1, 0.25, 0.1, 0.1],  # retail
        [0.3, 0.1, 0.15, 0.3, 0.05, 0.02, 0.06, 0.02],  # manufacturing
        [0.25, 0.35, 0.2, 0.05, 0.05, 0.0, 0.1, 0.0],  # technology
        [0.2, 0.15, 0.2, 0.3, 0.05, 0.02, 0.06, 0.02],  # healthcare
        [0.1, 0.35, 0.3, 0.1, 0.08, 0.0, 0.07, 0.0],  # finance
        [0.15, 0.2, 0.1, 0.25, 0.15, 0.02, 0.13, 0.0],  # education
        [0.05, 0.05, 0.1, 0.2, 0.15, 0.1, 0.05, 0.3],  # hospitality
    ]
)
PRIMARY_CATEGORY_SHARE_RANGE = (0.4, 0.9)
"""Each buyer puts this share (uniform in the range) of orders in one category; product breadth varies."""

ORDER_CHANNELS = ("web", "mobile_app", "sales_rep", "phone", "marketplace")
_CHANNEL_SHARES_BY_SIZE = np.array(
    [  # rows follow COMPANY_SIZE.levels, columns ORDER_CHANNELS
        [0.5, 0.3, 0.0, 0.05, 0.15],
        [0.55, 0.1, 0.1, 0.15, 0.1],
        [0.45, 0.05, 0.25, 0.2, 0.05],
        [0.3, 0.02, 0.48, 0.18, 0.02],
        [0.2, 0.0, 0.65, 0.15, 0.0],
    ]
)
PREFERRED_CHANNEL_SHARE = 0.8


@dataclass(frozen=True)
class Transactions:
    """One entry per order or refund: customer index, uniform-clock time and line details (codes)."""

    customer: np.ndarray
    time: np.ndarray
    amount: np.ndarray
    quantity: np.ndarray
    category: np.ndarray
    channel: np.ndarray


def simulate_transactions(
    rng: np.random.Generator,
    population: Population,
    seasonality_by_day: np.ndarray,
    shift: ShiftEffect | None = None,
) -> Transactions:
    """Orders (first, repeat and same-day extras) with amounts, then refunds of some of them.

    A `shift` is applied after every draw (new prices, orders lost to earlier dropouts and their
    refunds), so the random stream and every event before the shift stay as without it.
    """
    n_days = len(seasonality_by_day)
    customer, time = _purchase_occasions(rng, population, seasonality_by_day)
    customer, time = _with_same_day_extras(rng, population, customer, time, n_days)

    mean_value = population.mean_order_value[customer]
    amount = np.maximum(np.round(rng.gamma(ORDER_VALUE_SHAPE, mean_value / ORDER_VALUE_SHAPE), 2), 0.01)
    category = _order_categories(rng, population, customer)
    quantity = np.maximum(rng.poisson(amount / UNIT_PRICE_BY_CATEGORY[category]), 1).astype(np.float64)
    channel = _order_channels(rng, population, customer)

    refunded, refund_time = _refunds(rng, population, customer, time, n_days)
    if shift is not None:
        amount = shift.priced(amount, time)
    transactions = Transactions(
        customer=np.concatenate([customer, customer[refunded]]),
        time=np.concatenate([time, refund_time]),
        amount=np.concatenate([amount, -amount[refunded]]),
        quantity=np.concatenate([quantity, quantity[refunded]]),  # items returned; the contract wants >= 0
        category=np.concatenate([category, category[refunded]]),
        channel=np.concatenate([channel, channel[refunded]]),
    )
    if shift is None:
        return transactions
    kept = shift.keeps_order(customer, time)
    return _selected(transactions, np.concatenate([kept, kept[refunded]]))


def _selected(transactions: Transactions, kept: np.ndarray) -> Transactions:
    return Transactions(
        customer=transactions.customer[kept],
        time=transactions.time[kept],
        amount=transactions.amount[kept],
        quantity=transactions.quantity[kept],
        category=transactions.category[kept],
        channel=transactions.channel[kept],
    )


def _with_same_day_extras(
    rng: np.random.Generator, population: Population, customer: np.ndarray, time: np.ndarray, n_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Add a second order later the same day (and before dropout) to some purchase occasions."""
    extra = rng.random(len(customer)) < SAME_DAY_EXTRA_ORDER_PROBABILITY
    extra_customer = customer[extra]
    latest = np.minimum(np.floor(time[extra]) + 1.0, population.lifetime_end[extra_customer])
    latest = np.minimum(latest, n_days)
    extra_time = time[extra] + rng.random(len(extra_customer)) * (latest - time[extra])
    return np.concatenate([customer, extra_customer]), np.concatenate([time, extra_time])


def _refunds(
    rng: np.random.Generator, population: Population, customer: np.ndarray, time: np.ndarray, n_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Which orders are refunded within the data period (indices), and when."""
    refunded = rng.random(len(customer)) < population.refund_rate[customer]
    delay = MIN_REFUND_DELAY_DAYS + rng.exponential(MEAN_REFUND_DELAY_DAYS, refunded.sum())
    refund_time = time[refunded] + delay
    in_data = refund_time < n_days
    return np.flatnonzero(refunded)[in_data], refund_time[in_data]


def _purchase_occasions(
    rng: np.random.Generator, population: Population, seasonality_by_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """First orders plus the thinned Poisson stream of repeat occasions inside each buyer's lifetime."""
    n_days = len(seasonality_by_day)
    buyers = np.flatnonzero(~population.is_prospect)
    span_start = population.first_order[buyers]
    span_end = np.minimum(population.lifetime_end[buyers], n_days)
    span = np.maximum(span_end - span_start, 0.0)
    peak = float(seasonality_by_day.max())
    candidates = rng.poisson(population.purchase_rate[buyers] * peak * span)
    owner = np.repeat(np.arange(len(buyers)), candidates)
    candidate_time = span_start[owner] + rng.random(len(owner)) * span[owner]
    day = np.minimum(candidate_time.astype(np.int64), n_days - 1)
    kept = rng.random(len(owner)) * peak < seasonality_by_day[day]

    first_in_data = span_start < n_days
    customer = np.concatenate([buyers[first_in_data], buyers[owner[kept]]])
    time = np.concatenate([span_start[first_in_data], candidate_time[kept]])
    return customer, time


def _order_categories(rng: np.random.Generator, population: Population, customer: np.ndarray) -> np.ndarray:
    """Each buyer has a primary category (drawn from the industry's mix) and an occasional spread."""
    industry = population.attribute_codes["industry"]
    cumulative = np.cumsum(_CATEGORY_SHARES_BY_INDUSTRY, axis=1)
    cumulative /= cumulative[:, -1:]
    primary = _choice_by_group(rng, industry, cumulative)
    primary_share = rng.uniform(*PRIMARY_CATEGORY_SHARE_RANGE, population.size)
    other = _choice_by_group(rng, industry[customer], cumulative)
    return np.where(rng.random(len(customer)) < primary_share[customer], primary[customer], other)


def _order_channels(rng: np.random.Generator, population: Population, customer: np.ndarray) -> np.ndarray:
    """Most orders go through the buyer's preferred channel, which depends on company size."""
    size = population.attribute_codes["company_size"]
    cumulative = np.cumsum(_CHANNEL_SHARES_BY_SIZE, axis=1)
    cumulative /= cumulative[:, -1:]
    preferred = _choice_by_group(rng, size, cumulative)
    other = rng.integers(0, len(ORDER_CHANNELS), len(customer))
    return np.where(rng.random(len(customer)) < PREFERRED_CHANNEL_SHARE, preferred[customer], other)


def _choice_by_group(
    rng: np.random.Generator, group: np.ndarray, cumulative_by_group: np.ndarray
) -> np.ndarray:
    """One categorical draw per entry, from the cumulative probabilities of the entry's group."""
    u = rng.random(len(group))
    choice = np.empty(len(group), dtype=np.int64)
    for code, cumulative in enumerate(cumulative_by_group):
        members = group == code
        choice[members] = np.searchsorted(cumulative, u[members], side="right")
    return np.minimum(choice, cumulative_by_group.shape[1] - 1)
