"""Which population a customer belongs to at a cutoff, from their features: one rule for every caller.

- `active`: an order within the lookback (`days_since_last_order` below it);
- `lapsed`: ordered before, but not within the lookback (the dormant and lost stages);
- `prospect`: never ordered (no `days_since_last_order`).

Each population has its own probability: churn (no order in the churn horizon) for active customers,
reactivation (an order in it) for lapsed ones, conversion (a first order in it) for prospects. The
lookback is the playbook's (`policy`): it is the silence after which a customer is dormant, so the
populations and the lifecycle stages always agree. Training, batch scoring and the online endpoint
all call `population_expr` on the same feature table.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from domain.vocabulary import POPULATIONS, Population

POPULATION_COLUMN: Final = "population"
ORDERED_COLUMN: Final = "ordered_within_horizon"
# Each population's label, and whether it is 1 when the customer orders (else when they do not).
POPULATION_LABELS: Final[dict[Population, tuple[str, bool]]] = {
    "active": ("churned", False),
    "lapsed": ("reactivated", True),
    "prospect": ("converted", True),
}


def population_expr(lookback_days: float) -> pl.Expr:
    """The population of each row of a feature table, as a String column named `population`."""
    since_last = pl.col("days_since_last_order")
    return (
        pl.when(since_last.is_null())
        .then(pl.lit("prospect"))
        .when(since_last < float(lookback_days))
        .then(pl.lit("active"))
        .otherwise(pl.lit("lapsed"))
        .alias(POPULATION_COLUMN)
    )


def with_population_labels(table: pl.DataFrame, lookback_days: float) -> pl.DataFrame:
    """`table` (features and `ordered_within_horizon`) with `population` and each population's label.

    A label is null outside its population: churned (Int8) for active customers, reactivated and
    converted for lapsed customers and prospects.
    """
    population = pl.col(POPULATION_COLUMN)
    ordered = pl.col(ORDERED_COLUMN)
    labels = [
        pl.when(population == name)
        .then(ordered if positive_when_ordered else 1 - ordered)
        .cast(pl.Int8)
        .alias(label)
        for name, (label, positive_when_ordered) in POPULATION_LABELS.items()
    ]
    return table.with_columns(population_expr(lookback_days)).with_columns(labels)


assert tuple(POPULATION_LABELS) == POPULATIONS
