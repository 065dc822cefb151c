"""One bucket's long Arrow table back into canonical `RawData`: no JVM needed."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from features.build import build_features
from features.contract import CUSTOMERS_BASE_SCHEMA, INTERACTIONS_SCHEMA, TRANSACTIONS_SCHEMA
from spark_engine import empty_raw, raw_from_arrow

pytestmark = pytest.mark.spark


def long_table() -> pl.DataFrame:
    """What Spark hands a bucket: the union of the three tables, `source` telling them apart."""
    return pl.DataFrame(
        {
            "customer_id": ["C1", "C2", "C1", "C1", "C3"],
            "timestamp": [datetime(2024, 1, 5), datetime(2024, 2, 1), datetime(2024, 3, 1), None, None],
            "amount": [10.0, -2.5, None, None, None],
            "transaction_id": ["T1", None, None, None, None],
            "quantity": [1.0, None, None, None, None],
            "category": ["books", None, None, None, None],
            "channel": [None, "web", None, None, None],
            "type": [None, None, "visit", None, None],
            "value": [None, None, None, None, None],
            "signup_date": [None, None, None, datetime(2023, 1, 1), None],
            "attribute__0": [None, None, None, "b2b", None],
            "source": ["transactions", "transactions", "interactions", "customers", "customers"],
            "bucket": [3, 3, 3, 3, 3],
        },
        schema_overrides={"value": pl.Float64, "signup_date": pl.Datetime("us")},
    )


def test_a_bucket_splits_into_the_three_canonical_tables() -> None:
    raw = raw_from_arrow(long_table().to_arrow(), ["type"])

    assert raw.transactions.schema == pl.Schema(TRANSACTIONS_SCHEMA)
    assert raw.transactions.select("customer_id", "amount", "channel").rows() == [
        ("C1", 10.0, None),
        ("C2", -2.5, "web"),
    ]
    assert raw.interactions.schema == pl.Schema(INTERACTIONS_SCHEMA)
    assert raw.interactions.rows() == [("C1", datetime(2024, 3, 1), "visit", None)]
    # An attribute called like an event column comes back under its own name.
    assert raw.customers.schema == pl.Schema({**CUSTOMERS_BASE_SCHEMA, "type": pl.String()})
    assert raw.customers.rows() == [("C1", datetime(2023, 1, 1), "b2b"), ("C3", None, None)]


def test_a_bucket_without_one_source_gets_an_empty_canonical_table() -> None:
    only_orders = long_table().filter(pl.col("source") == "transactions")
    raw = raw_from_arrow(only_orders.to_arrow(), [])
    assert raw.interactions.is_empty() and raw.interactions.schema == pl.Schema(INTERACTIONS_SCHEMA)
    assert raw.customers.is_empty() and raw.customers.schema == pl.Schema(CUSTOMERS_BASE_SCHEMA)


def test_the_empty_history_gives_the_schema_of_a_full_one() -> None:
    as_of = datetime(2024, 6, 1)
    full = build_features(raw_from_arrow(long_table().to_arrow(), ["type"]), as_of)
    empty = build_features(empty_raw(["type"]), as_of)
    assert empty.is_empty()
    assert empty.schema == full.schema
