"""The order labels (`build_order_labels`) on hand-made histories: counts, first orders, their windows,
and point-in-time correctness (only what happens in the label windows changes them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from domain.errors import LabelLeakError
from features.build import (
    ORDER_LABEL_COLUMNS,
    build_features,
    build_labels,
    build_order_labels,
    feature_columns,
)
from features.contract import CUSTOMERS_BASE_SCHEMA, INTERACTIONS_SCHEMA, TRANSACTIONS_SCHEMA, RawData
from model_contract import check_no_label_leak

AS_OF = datetime(2025, 7, 1)


def before(days: float) -> datetime:
    return AS_OF - timedelta(days=days)


def after(days: float) -> datetime:
    return AS_OF + timedelta(days=days)


def history(
    transactions: Sequence[tuple[str, datetime, float]] = (),
    interactions: Sequence[tuple[str, datetime, str]] = (),
    customers: Sequence[tuple[str, datetime | None]] = (),
) -> RawData:
    """Transactions (id, moment, amount), interactions (id, moment, type), customers (id, signup)."""
    rows = len(transactions)
    return RawData(
        transactions=pl.DataFrame(
            {
                "customer_id": [row[0] for row in transactions],
                "timestamp": [row[1] for row in transactions],
                "amount": [float(row[2]) for row in transactions],
                **{name: [None] * rows for name in ("transaction_id", "quantity", "category", "channel")},
            },
            schema=TRANSACTIONS_SCHEMA,
        ),
        customers=pl.DataFrame(list(customers), schema=CUSTOMERS_BASE_SCHEMA, orient="row"),
        interactions=pl.DataFrame(
            {
                "customer_id": [row[0] for row in interactions],
                "timestamp": [row[1] for row in interactions],
                "type": [row[2] for row in interactions],
                "value": [None] * len(interactions),
            },
            schema=INTERACTIONS_SCHEMA,
        ),
    )


def test_orders_are_counted_over_the_value_horizon_and_the_first_one_timed_in_the_churn_horizon() -> None:
    raw = history(
        [
            ("C1", before(5), 999),  # before the cutoff: neither counted nor timed
            ("C1", after(2.5), 10),  # the first order: 2.5 days after the cutoff
            ("C1", after(10), -4),  # a refund is not an order
            ("C1", after(40), 3),  # outside the 30-day churn horizon, inside the 90-day value horizon
            ("C1", after(90), 5),  # the value horizon's end is excluded
            ("C2", before(3), 1),
            ("C2", after(31), 5),  # an order, but after the churn horizon: no next order
            ("C3", before(1), 2),
            ("C3", AS_OF, 7),  # the first instant of both windows counts
        ],
        customers=[("C4", None)],
    )

    labels = build_order_labels(raw, AS_OF, churn_horizon_days=30, value_horizon_days=90)

    assert labels.schema == pl.Schema(
        {
            "customer_id": pl.String,
            "as_of": pl.Datetime("us"),
            "future_orders": pl.Float64,
            "future_next_order_at": pl.Datetime("us"),
            "future_days_to_next_order": pl.Float64,
        }
    )
    assert labels.drop("as_of").rows() == [
        ("C1", 2.0, after(2.5), 2.5),
        ("C2", 1.0, None, None),
        ("C3", 1.0, AS_OF, 0.0),
        ("C4", 0.0, None, None),
    ]


def test_the_next_order_is_timed_exactly_when_the_churn_label_says_an_order_came() -> None:
    raw = history(
        [
            ("STAYS", before(10), 10),
            ("STAYS", after(29.9), 10),
            ("LEAVES", before(10), 10),
            ("LEAVES", after(30), 10),
            ("REFUNDS", before(10), 10),
            ("REFUNDS", after(1), -10),
        ]
    )
    orders = build_order_labels(raw, AS_OF, churn_horizon_days=30, value_horizon_days=30)
    ordered = build_labels(raw, AS_OF, churn_horizon_days=30, value_horizon_days=30)
    timed = orders["future_days_to_next_order"].is_not_null().cast(pl.Int8)
    assert timed.to_list() == ordered["ordered_within_horizon"].to_list() == [0, 0, 1]
    assert orders["customer_id"].to_list() == ["LEAVES", "REFUNDS", "STAYS"]


def test_the_labels_cover_the_feature_population_in_its_order() -> None:
    raw = history(
        [("C1", before(3), 10), ("NEW", after(3), 10)],
        [("C2", before(2), "visit")],
        [("C3", None), ("LATER", after(1))],
    )
    labels = build_order_labels(raw, AS_OF, churn_horizon_days=30, value_horizon_days=30)
    assert labels["customer_id"].to_list() == build_features(raw, AS_OF)["customer_id"].to_list()
    assert labels["customer_id"].to_list() == ["C1", "C2", "C3"]


def test_history_before_the_cutoff_and_events_after_the_windows_change_no_label() -> None:
    """Point in time: only events in [as_of, as_of + horizon) decide the labels."""
    window = [("C1", after(1), 10), ("C1", after(20), 5), ("C2", after(50), 8)]
    plain = history([("C1", before(5), 10), ("C2", before(5), 10), *window])
    busier = history(
        [
            ("C1", before(400), 80),
            ("C1", before(5), 10),
            ("C1", before(0.001), 3),  # just before the cutoff
            ("C2", before(5), 10),
            *window,
            ("C1", after(60), 50),  # the 60-day value window ends here
            ("C2", after(61), 50),
        ]
    )
    for raw in (plain, busier):
        labels = build_order_labels(raw, AS_OF, churn_horizon_days=30, value_horizon_days=60)
        assert labels.drop("as_of").rows() == [("C1", 2.0, after(1), 1.0), ("C2", 1.0, None, None)]


def test_a_customer_alone_gets_the_labels_of_the_whole_base() -> None:
    raw = history(
        [
            ("A", before(30), 10),
            ("A", after(4), 10),
            ("B", before(9), 5),
            ("B", after(12), 5),
            ("B", after(13), 5),
        ]
    )
    whole = build_order_labels(raw, AS_OF, churn_horizon_days=30, value_horizon_days=60)
    for customer in ("A", "B"):
        alone = RawData(
            raw.transactions.filter(pl.col("customer_id") == customer),
            raw.customers.filter(pl.col("customer_id") == customer),
            raw.interactions.filter(pl.col("customer_id") == customer),
        )
        assert_frame_equal(
            build_order_labels(alone, AS_OF, churn_horizon_days=30, value_horizon_days=60),
            whole.filter(pl.col("customer_id") == customer),
        )


def test_order_labels_are_never_features() -> None:
    raw = history([("C1", before(3), 10), ("C1", after(3), 10)])
    table = build_features(raw, AS_OF).join(
        build_order_labels(raw, AS_OF, churn_horizon_days=30, value_horizon_days=30),
        on=["customer_id", "as_of"],
    )
    assert not set(ORDER_LABEL_COLUMNS) & set(feature_columns(table))
    assert set(ORDER_LABEL_COLUMNS) <= set(table.columns)
    for name in ORDER_LABEL_COLUMNS:
        with pytest.raises(LabelLeakError):
            check_no_label_leak([name])


def test_a_cutoff_later_in_the_day_counts_from_that_instant() -> None:
    moment = datetime(2025, 7, 1, 12)
    raw = history(
        [("C1", before(3), 10), ("C1", datetime(2025, 7, 1, 6), 10), ("C1", datetime(2025, 7, 2), 10)]
    )
    labels = build_order_labels(raw, moment, churn_horizon_days=30, value_horizon_days=30)
    assert labels.drop("as_of").rows() == [("C1", 1.0, datetime(2025, 7, 2), 0.5)]
