"""Point-in-time feature tables and labels: one code path for a million customers or one.

`build_features` turns a `RawData` history into one row per customer as of a cutoff, using only events
strictly before it, in a single lazy polars plan: the aggregations of `features.definitions` per
customer over transactions and over interactions, full-joined with the customer records. Every value
depends on one customer's rows only, and sums are exact (see `definitions.EXACT`), so the result is
identical bit for bit whether it is called on the whole base, on any partition of customers (e.g. a
Spark `mapInArrow` per customer-id partition) or on the history one API request posted.

Speed, measured by benchmarks/bench_features.py: a million customers take seconds to tens of seconds;
one customer's call (under 2 ms) is almost all polars' cost per expression node, whatever the size of
the history, which is why one customer's plan skips the grouping, the joins and the absent-value fill.

Labels look forward from the same cutoff (Fader, Hardie & Lee 2005 for the non-contractual setting:
"churn" means no purchase within a horizon, since customers never announce leaving).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import polars as pl

from domain.errors import InvalidCutoffError
from features.contract import RawData
from features.definitions import (
    EXACT,
    FEATURES,
    FIRST_INTERACTION_AGE_DAYS,
    FIRST_TRANSACTION_AGE_DAYS,
    INTERMEDIATE_AGGREGATIONS,
    SIGNUP_AGE_DAYS,
    age_in_days,
    events_before,
    features_from,
    moment_literal,
    profile_column,
)
from features.populations import ORDERED_COLUMN, POPULATION_COLUMN, POPULATION_LABELS, with_population_labels

logger = logging.getLogger(__name__)

KEY_COLUMNS = ("customer_id", "as_of")
LABEL_COLUMNS = (
    POPULATION_COLUMN,
    ORDERED_COLUMN,
    *(label for label, _ in POPULATION_LABELS.values()),
    "future_value",
)
"""Columns of a training table that describe the outcome (or, for `population`, pick the model)."""
ORDER_LABEL_COLUMNS = ("future_orders", "future_next_order_at", "future_days_to_next_order")
"""The outcomes of `build_order_labels`: how many orders, and when the first one comes."""
# Histories with fewer rows than this (all three tables) are computed without the query optimiser.
OPTIMISE_FROM_ROWS = 50_000


def build_features(raw: RawData, as_of: datetime) -> pl.DataFrame:
    """One row per customer as of `as_of`: keys, then `FEATURES` in order, then `profile_<attribute>`.

    Population: customers whose signup date is unknown or on or before the cutoff (a customer scored
    at the moment they sign up exists, with a tenure of 0 days), plus anyone with a transaction or
    interaction before it. Numeric features are Float64, profile attributes strings;
    rows are sorted by customer id. Expects frames that passed the raw-data contract (finite amounts
    and values, unique customer ids).
    """
    frame = _feature_plan(raw, _checked(as_of)).collect(engine="in-memory", optimizations=_optimizations(raw))
    logger.debug("built %d feature rows as of %s", frame.height, as_of)
    return frame


def feature_columns(frame: pl.DataFrame) -> list[str]:
    """Every column of a feature or training table that is neither a key nor a label, in order."""
    excluded = {*KEY_COLUMNS, *LABEL_COLUMNS, *ORDER_LABEL_COLUMNS}
    return [column for column in frame.columns if column not in excluded]


def build_labels(
    raw: RawData, as_of: datetime, churn_horizon_days: int, value_horizon_days: int
) -> pl.DataFrame:
    """What happened after the cutoff, for the population of `build_features`.

    `ordered_within_horizon` (Int8) is 1 if the customer places an order (amount > 0) in
    [as_of, as_of + churn horizon), else 0; `future_value` is net spend, refunds included, in
    [as_of, as_of + value horizon), 0.0 without transactions. Which of churn, reactivation and
    conversion the order answers depends on the customer's population (`features.populations`).
    """
    as_of = _checked(as_of)
    cutoff = _cutoff(as_of)
    transactions = raw.transactions.lazy()
    timestamp, is_order = pl.col("timestamp"), pl.col("amount") > 0
    ordered = (
        transactions.filter(
            is_order
            & (timestamp >= cutoff)
            & (timestamp < _cutoff(as_of + timedelta(days=churn_horizon_days)))
        )
        .select("customer_id")
        .unique()
        .with_columns(pl.lit(1, dtype=pl.Int8).alias(ORDERED_COLUMN))
    )
    future_value = (
        transactions.filter(
            (timestamp >= cutoff) & (timestamp < _cutoff(as_of + timedelta(days=value_horizon_days)))
        )
        .group_by("customer_id")
        .agg(pl.col("amount").cast(EXACT).sum().cast(pl.Float64).alias("future_value"))
    )
    return (
        _population(raw, cutoff)
        .join(ordered, on="customer_id", how="left")
        .join(future_value, on="customer_id", how="left")
        .select(
            "customer_id",
            cutoff.alias("as_of"),
            pl.col(ORDERED_COLUMN).fill_null(0),
            pl.col("future_value").fill_null(0.0),
        )
        .sort("customer_id")
        .collect(engine="in-memory", optimizations=_optimizations(raw))
    )


def build_order_labels(
    raw: RawData, as_of: datetime, churn_horizon_days: int, value_horizon_days: int
) -> pl.DataFrame:
    """How many orders follow the cutoff, and when the first one comes, for the population of
    `build_features` (the same rows, in the same order, as `build_labels`).

    `future_orders` (Float64) counts orders (amount > 0, as `orders_365d` does) in
    [as_of, as_of + value horizon), 0.0 without any. `future_next_order_at` is the moment of the
    first order in [as_of, as_of + churn horizon) and `future_days_to_next_order` its distance from
    the cutoff in fractional days; both are null for a customer who does not order in that window
    (the churn model's "no order"), so the next-order model learns the timing of exactly the orders
    the churn model gives a probability to. The values read only events on or after the cutoff.
    """
    as_of = _checked(as_of)
    cutoff = _cutoff(as_of)
    timestamp = pl.col("timestamp")
    orders = raw.transactions.lazy().filter((pl.col("amount") > 0) & (timestamp >= cutoff))
    counted = (
        orders.filter(timestamp < _cutoff(as_of + timedelta(days=value_horizon_days)))
        .group_by("customer_id")
        .agg(pl.len().cast(pl.Float64).alias("future_orders"))
    )
    first = (
        orders.filter(timestamp < _cutoff(as_of + timedelta(days=churn_horizon_days)))
        .group_by("customer_id")
        .agg(timestamp.min().alias("future_next_order_at"))
    )
    return (
        _population(raw, cutoff)
        .join(counted, on="customer_id", how="left")
        .join(first, on="customer_id", how="left")
        .select(
            "customer_id",
            cutoff.alias("as_of"),
            pl.col("future_orders").fill_null(0.0),
            pl.col("future_next_order_at").cast(pl.Datetime("us")),
            age_in_days("future_next_order_at", cutoff).neg().alias("future_days_to_next_order"),
        )
        .sort("customer_id")
        .collect(engine="in-memory", optimizations=_optimizations(raw))
    )


def build_training_table(
    raw: RawData,
    as_ofs: Sequence[datetime],
    churn_horizon_days: int,
    value_horizon_days: int,
    lookback_days: float,
) -> pl.DataFrame:
    """Features and labels for several cutoffs stacked; the `as_of` column tells the snapshots apart.

    Each row carries its `population` at the cutoff (an order within `lookback_days`, before it, or
    never) and that population's label (`features.populations.with_population_labels`).
    """
    if not as_ofs:
        raise InvalidCutoffError("build_training_table needs at least one cutoff in as_ofs")
    tables = [
        build_features(raw, as_of).join(
            build_labels(raw, as_of, churn_horizon_days, value_horizon_days), on=list(KEY_COLUMNS), how="left"
        )
        for as_of in as_ofs
    ]
    return with_population_labels(pl.concat(tables, how="vertical"), lookback_days)


def data_end(raw: RawData) -> datetime | None:
    """The midnight after the last event: the first cutoff that sees everything the data holds."""
    stamps = [
        value
        for frame in (raw.transactions, raw.interactions)
        if frame.height and isinstance(value := frame["timestamp"].max(), datetime)
    ]
    return midnight_after(max(stamps)) if stamps else None


def midnight_after(last_event: datetime) -> datetime:
    """The data end of a history whose last event is `last_event`: the next midnight."""
    return datetime.combine(last_event.date(), datetime.min.time()) + timedelta(days=1)


def snapshot_dates(as_of: datetime, snapshots: int, step_days: int) -> list[datetime]:
    """`snapshots` cutoffs ending at `as_of`, `step_days` apart, oldest first."""
    if snapshots < 1 or step_days < 1:
        raise InvalidCutoffError(
            f"snapshots ({snapshots}) and step_days ({step_days}) must both be at least 1"
        )
    return [as_of - timedelta(days=step_days * back) for back in range(snapshots - 1, -1, -1)]


def _optimizations(raw: RawData) -> pl.QueryOptFlags:
    """Skip the query optimiser for small histories: its passes would cost more than they save.

    The plan and its results are the same either way (a test checks it). Without the optimiser an API
    request's history (a few hundred rows) is answered about a quarter faster; with it a large base
    takes about a fifth less CPU (common subexpressions are computed once).
    """
    rows = raw.transactions.height + raw.interactions.height + raw.customers.height
    return pl.QueryOptFlags.none() if rows < OPTIMISE_FROM_ROWS else pl.QueryOptFlags()


def _checked(as_of: datetime) -> datetime:
    if as_of.tzinfo is not None:
        raise InvalidCutoffError(
            f"as_of {as_of.isoformat()} carries a time zone; raw-data timestamps are naive UTC, "
            "convert it to UTC and drop the zone first"
        )
    return as_of


def _cutoff(moment: datetime) -> pl.Expr:
    return moment_literal(moment)


def _population(raw: RawData, cutoff: pl.Expr) -> pl.LazyFrame:
    signup = pl.col("signup_date")
    ids = [
        raw.customers.lazy().filter(signup.is_null() | (signup <= cutoff)).select("customer_id"),
        raw.transactions.lazy().filter(pl.col("timestamp") < cutoff).select("customer_id"),
        raw.interactions.lazy().filter(pl.col("timestamp") < cutoff).select("customer_id"),
    ]
    return pl.concat(ids).unique()


def _feature_plan(raw: RawData, as_of: datetime) -> pl.LazyFrame:
    """Aggregate each source per customer, then full-join them with the customer records.

    A history of one customer (an API request) runs the same aggregations in a `select` and puts the
    three one-row results side by side: grouping and joining one row cost polars about a fifth of the
    call in fixed overhead. Over an empty source the aggregations give what a missing group gives after
    `absent_value` filling (counts and sums 0, the rest null), so the rows are identical without that
    filling (tests/features/test_point_in_time.py builds every customer alone and compares).
    """
    cutoff = _cutoff(as_of)
    events = {
        "transactions": events_before(raw.transactions.lazy(), "transactions", as_of),
        "interactions": events_before(raw.interactions.lazy(), "interactions", as_of),
    }
    signup = pl.col("signup_date")
    attributes = raw.attribute_columns
    profiles = raw.customers.lazy().select(
        "customer_id",
        (signup > cutoff).alias(_SIGNS_UP_LATER),
        pl.when(signup <= cutoff).then(age_in_days("signup_date", cutoff)).alias(SIGNUP_AGE_DAYS),
        *(pl.col(attribute).cast(pl.String).alias(profile_column(attribute)) for attribute in attributes),
    )
    if _is_one_customer(raw):
        customers = pl.concat(
            [profiles, *(frame.select(*_AGGREGATIONS[source]) for source, frame in events.items())],
            how="horizontal",
        )
        features = _ONE_CUSTOMER_FEATURE_COLUMNS
    else:
        customers = profiles
        for source, frame in events.items():
            aggregates = frame.group_by("customer_id").agg(*_AGGREGATIONS[source])
            customers = customers.join(aggregates, on="customer_id", how="full", coalesce=True)
        features = _FEATURE_COLUMNS
    return (
        customers.filter(_IN_POPULATION)
        .select(
            "customer_id",
            cutoff.alias("as_of"),
            *features,
            *(profile_column(attribute) for attribute in attributes),
        )
        .sort("customer_id")
    )


def _is_one_customer(raw: RawData) -> bool:
    """Whether the history is one customer's: one customer record, and every event is theirs."""
    if raw.customers.height != 1:
        return False
    customer_id = raw.customers.get_column("customer_id")[0]
    if customer_id is None:  # null keys never join: leave them to the grouped plan
        return False
    for events in (raw.transactions, raw.interactions):
        ids = events.get_column("customer_id")
        if ids.len() and (ids.null_count() or ids.n_unique() != 1 or ids[0] != customer_id):
            return False
    return True


_SIGNS_UP_LATER = "_signs_up_after_cutoff"
_AGGREGATIONS = {
    source: (*(spec.expression for spec in features_from(source)), *INTERMEDIATE_AGGREGATIONS[source])
    for source in ("transactions", "interactions")
}
# Customers with a known signup after the cutoff exist only if they already have an event.
_IN_POPULATION = (
    ~pl.col(_SIGNS_UP_LATER).fill_null(False)
    | pl.col(FIRST_TRANSACTION_AGE_DAYS).is_not_null()
    | pl.col(FIRST_INTERACTION_AGE_DAYS).is_not_null()
)
# Derived features read aggregates only (never filled values or other derived features), so one
# projection computes them and fills the counts and sums of customers without events.
_FEATURE_COLUMNS = tuple(
    spec.expression
    if spec.source == "customer"
    else pl.col(spec.name).fill_null(spec.absent_value)
    if spec.absent_value is not None
    else pl.col(spec.name)
    for spec in FEATURES
)
# One customer's aggregates are never missing: over no events they already are the absent values.
_ONE_CUSTOMER_FEATURE_COLUMNS = tuple(
    spec.expression if spec.source == "customer" else pl.col(spec.name) for spec in FEATURES
)
