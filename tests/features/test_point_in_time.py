"""Point-in-time correctness and partition invariance on a few hundred random customers.

The feature function must not see the future (features as of T from the full history equal those from
the history cut at T) and must not depend on who else is in the input (the whole base, three
partitions or one customer at a time give the same rows): that is what lets training, batch scoring,
a Spark job per partition and the online API share it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features import build
from features.build import build_features, build_labels
from features.contract import INTERACTIONS_SCHEMA, TRANSACTIONS_SCHEMA, RawData

START = datetime(2023, 1, 1)
CUTOFFS = [datetime(2023, 9, 14, 13, 30), datetime(2024, 6, 1), datetime(2025, 1, 1)]
TYPES = np.array(
    ["visit", "email_open", "email_click", "call", "meeting", "inquiry", "support_ticket", "complaint"]
)
TYPES = np.append(TYPES, ["survey", "survey", "webinar"])


def levels(rng: np.random.Generator, values: list[str | None], size: int) -> list[str | None]:
    return [values[i] for i in rng.integers(0, len(values), size)]


def random_base(customers: int, seed: int) -> RawData:
    """Customers with up to 40 transactions and 20 interactions over two years, signup before any event.

    Timestamps fall on a coarse grid (whole hours), so several orders share a day or a moment and some
    events land exactly on a cutoff. A few customers are missing from the customers table.
    """
    rng = np.random.default_rng(seed)
    ids = np.array([f"C{i:04d}" for i in range(customers)])
    first_hour = rng.integers(0, 2 * 365 * 24, customers)

    def events(max_per_customer: int) -> tuple[np.ndarray, pl.Series]:
        counts = rng.integers(0, max_per_customer + 1, customers)
        owner = np.repeat(np.arange(customers), counts)
        hours = first_hour[owner] + rng.integers(0, 500 * 24, owner.size)
        hours = np.where(rng.random(owner.size) < 0.5, hours // 24 * 24, hours)  # half at midnight
        moments = pl.Series([START + timedelta(hours=int(h)) for h in hours], dtype=pl.Datetime("us"))
        return owner, moments

    owner, moments = events(40)
    amounts = np.round(rng.lognormal(3, 1, owner.size), 2) * rng.choice([1, 1, 1, 1, 1, 1, 1, -1], owner.size)
    transactions = pl.DataFrame(
        {
            "customer_id": ids[owner],
            "timestamp": moments,
            "amount": amounts,
            "transaction_id": [f"T{i}" for i in range(owner.size)],
            "quantity": rng.integers(1, 4, owner.size).astype(float),
            "category": levels(rng, ["books", "music", "video", None], owner.size),
            "channel": levels(rng, ["web", "store", None], owner.size),
        },
        schema=TRANSACTIONS_SCHEMA,
    )
    owner, moments = events(20)
    kinds = rng.choice(TYPES, owner.size)
    scores = np.where(rng.random(owner.size) < 0.8, rng.integers(1, 6, owner.size), -1).astype(float)
    interactions = pl.DataFrame(
        {"customer_id": ids[owner], "timestamp": moments, "type": kinds, "value": scores},
        schema=INTERACTIONS_SCHEMA,
    ).with_columns(pl.when((pl.col("type") == "survey") & (pl.col("value") > 0)).then("value").alias("value"))
    signup = [
        None if unknown else START + timedelta(hours=int(hour) // 24 * 24 - int(lead))
        for unknown, hour, lead in zip(
            rng.random(customers) < 0.2, first_hour, rng.integers(0, 90 * 24, customers), strict=True
        )
    ]
    listed = rng.random(customers) < 0.95
    customers_frame = pl.DataFrame(
        {
            "customer_id": ids,
            "signup_date": pl.Series(signup, dtype=pl.Datetime("us")),
            "region": levels(rng, ["north", "south", None], customers),
            "segment": rng.choice(np.array(["b2b", "b2c"]), customers),
        }
    ).filter(pl.Series(listed))
    return RawData(transactions=transactions, customers=customers_frame, interactions=interactions)


def cut_at(raw: RawData, moment: datetime) -> RawData:
    """The history as it was known at `moment`: events before it, customers signed up before it."""
    signup = pl.col("signup_date")
    return RawData(
        transactions=raw.transactions.filter(pl.col("timestamp") < moment),
        customers=raw.customers.filter(signup.is_null() | (signup < moment)),
        interactions=raw.interactions.filter(pl.col("timestamp") < moment),
    )


def only(raw: RawData, customer_ids: list[str]) -> RawData:
    keep = pl.col("customer_id").is_in(customer_ids)
    return RawData(raw.transactions.filter(keep), raw.customers.filter(keep), raw.interactions.filter(keep))


@pytest.fixture(scope="module")
def base() -> RawData:
    return random_base(300, seed=11)


def test_the_random_base_exercises_the_edge_cases(base: RawData) -> None:
    """Guards the generator: the properties below mean little on a base without these cases."""
    cutoff = CUTOFFS[1]
    at_cutoff = base.transactions.filter(pl.col("timestamp") == cutoff).height
    at_cutoff += base.interactions.filter(pl.col("timestamp") == cutoff).height
    same_day_orders = (
        base.transactions.filter(pl.col("amount") > 0)
        .group_by("customer_id", pl.col("timestamp").dt.date())
        .len()
        .filter(pl.col("len") > 1)
        .height
    )
    features = build_features(base, cutoff)
    assert at_cutoff > 0
    assert same_day_orders > 10
    assert features.filter(pl.col("orders_lifetime") == 0).height > 10
    assert features.filter(pl.col("std_days_between_orders").is_not_null()).height > 50
    assert features.filter(pl.col("satisfaction_last").is_not_null()).height > 50
    assert features.filter(pl.col("profile_segment").is_null()).height > 0  # not in the customers table


@pytest.mark.parametrize("cutoff", CUTOFFS)
def test_features_as_of_a_cutoff_ignore_everything_after_it(base: RawData, cutoff: datetime) -> None:
    assert_frame_equal(
        build_features(base, cutoff), build_features(cut_at(base, cutoff), cutoff), check_exact=True
    )


@pytest.mark.parametrize("cutoff", CUTOFFS)
def test_whole_base_equals_one_customer_at_a_time(base: RawData, cutoff: datetime) -> None:
    """Alone, a customer with a record takes the one-customer plan (no grouping, no joins)."""
    whole = build_features(base, cutoff)
    ids = sorted(set(base.customers["customer_id"]) | set(base.transactions["customer_id"]))
    alone = {customer_id: only(base, [customer_id]) for customer_id in ids}
    one_by_one = pl.concat([build_features(history, cutoff) for history in alone.values()])
    assert_frame_equal(one_by_one, whole, check_exact=True)
    one_customer_plans = sum(build._is_one_customer(history) for history in alone.values())
    assert one_customer_plans == base.customers.height < len(ids)
    assert not build._is_one_customer(only(base, ids[:2]))


@pytest.mark.parametrize("optimise_from_rows", [0, build.OPTIMISE_FROM_ROWS])
def test_partitions_of_customers_give_the_same_rows(
    base: RawData, optimise_from_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build, "OPTIMISE_FROM_ROWS", optimise_from_rows)
    cutoff = CUTOFFS[2]
    ids = sorted(set(base.customers["customer_id"]) | set(base.transactions["customer_id"]))
    partitions = [ids[0::3], ids[1::3], ids[2::3]]
    parts = pl.concat([build_features(only(base, partition), cutoff) for partition in partitions])
    assert_frame_equal(parts.sort("customer_id"), build_features(base, cutoff), check_exact=True)


def test_labels_of_a_partition_are_its_rows_of_the_whole(base: RawData) -> None:
    cutoff = CUTOFFS[1]
    whole = build_labels(base, cutoff, churn_horizon_days=90, value_horizon_days=180)
    ids = sorted(set(base.customers["customer_id"]))[::3]
    part = build_labels(only(base, ids), cutoff, churn_horizon_days=90, value_horizon_days=180)
    assert part.height > 50
    assert_frame_equal(part, whole.filter(pl.col("customer_id").is_in(ids)), check_exact=True)
