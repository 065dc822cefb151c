"""Feature and label values on tiny hand-made histories, one family at a time.

Every history is written relative to the cutoff AS_OF (``before(10)`` = ten days earlier), so the
expected values can be read off the test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from domain.errors import InvalidCutoffError, UnknownFeatureError
from features import build
from features.build import (
    KEY_COLUMNS,
    LABEL_COLUMNS,
    build_features,
    build_labels,
    build_training_table,
    feature_columns,
    snapshot_dates,
)
from features.contract import INTERACTIONS_SCHEMA, TRANSACTIONS_SCHEMA, RawData
from features.definitions import (
    FEATURES,
    INTERACTION_TYPES,
    INTERMEDIATE_AGGREGATIONS,
    TRAILING_WINDOWS_DAYS,
    describe,
    events_before,
    features_from,
)

AS_OF = datetime(2025, 7, 1)
CUSTOMERS_SCHEMA = {"customer_id": pl.String(), "signup_date": pl.Datetime("us"), "region": pl.String()}


def before(days: float) -> datetime:
    return AS_OF - timedelta(days=days)


def after(days: float) -> datetime:
    return AS_OF + timedelta(days=days)


def history(
    transactions: Sequence[tuple[Any, ...]] = (),
    interactions: Sequence[tuple[Any, ...]] = (),
    customers: Sequence[tuple[str, datetime | None, str | None]] = (),
) -> RawData:
    """Transactions (id, moment, amount[, category, channel]), interactions (id, moment, type[, value])."""
    tx_rows = [(*row, None, None)[:5] for row in transactions]
    ix_rows = [(*row, None)[:4] for row in interactions]
    return RawData(
        transactions=pl.DataFrame(
            {
                "customer_id": [row[0] for row in tx_rows],
                "timestamp": [row[1] for row in tx_rows],
                "amount": [float(row[2]) for row in tx_rows],
                "transaction_id": [None] * len(tx_rows),
                "quantity": [None] * len(tx_rows),
                "category": [row[3] for row in tx_rows],
                "channel": [row[4] for row in tx_rows],
            },
            schema=TRANSACTIONS_SCHEMA,
        ),
        customers=pl.DataFrame(list(customers), schema=CUSTOMERS_SCHEMA, orient="row"),
        interactions=pl.DataFrame(
            {
                "customer_id": [row[0] for row in ix_rows],
                "timestamp": [row[1] for row in ix_rows],
                "type": [row[2] for row in ix_rows],
                "value": [row[3] for row in ix_rows],
            },
            schema=INTERACTIONS_SCHEMA,
        ),
    )


def features_of(raw: RawData, customer_id: str = "C1") -> dict[str, Any]:
    rows = build_features(raw, AS_OF).filter(pl.col("customer_id") == customer_id).to_dicts()
    assert len(rows) == 1, f"{customer_id} should be in the population exactly once"
    return rows[0]


def pick(values: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: values[name] for name in names}


# --- table shape --------------------------------------------------------------------------------


def test_columns_are_keys_then_features_in_order_then_profile_attributes() -> None:
    raw = history([("C2", before(5), 10), ("C1", before(3), 20)], customers=[("C1", before(100), "north")])
    frame = build_features(raw, AS_OF)
    assert frame.columns == ["customer_id", "as_of", *(spec.name for spec in FEATURES), "profile_region"]
    assert frame["customer_id"].to_list() == ["C1", "C2"]
    assert frame["as_of"].to_list() == [AS_OF, AS_OF]
    assert frame.schema["as_of"] == pl.Datetime("us")
    assert all(frame.schema[spec.name] == pl.Float64 for spec in FEATURES)
    assert frame.schema["profile_region"] == pl.String
    assert frame["profile_region"].to_list() == ["north", None]
    assert feature_columns(frame) == [*(spec.name for spec in FEATURES), "profile_region"]


def test_feature_columns_leaves_out_keys_and_labels() -> None:
    frame = pl.DataFrame({"customer_id": ["C1"], "as_of": [AS_OF], "orders_30d": [1.0], "churned": [0]})
    frame = frame.with_columns(future_value=pl.lit(2.0))
    assert feature_columns(frame) == ["orders_30d"]
    assert set(KEY_COLUMNS) == {"customer_id", "as_of"}
    assert set(LABEL_COLUMNS) == {
        "population",
        "ordered_within_horizon",
        "churned",
        "reactivated",
        "converted",
        "future_value",
    }


def test_empty_history_gives_an_empty_table_with_every_column() -> None:
    frame = build_features(history(), AS_OF)
    assert frame.height == 0
    assert frame.columns == ["customer_id", "as_of", *(spec.name for spec in FEATURES), "profile_region"]


def test_a_cutoff_with_a_time_zone_is_refused() -> None:
    with pytest.raises(InvalidCutoffError, match="time zone"):
        build_features(history(), datetime(2025, 7, 1, tzinfo=UTC))


# --- population ---------------------------------------------------------------------------------


def test_population_is_signed_up_customers_plus_anyone_with_an_earlier_event() -> None:
    raw = history(
        transactions=[
            ("EVENT_ONLY", before(3), 5),
            ("LATE_WITH_EVENT", before(1), 5),
            ("FUTURE_ONLY", after(1), 5),
        ],
        interactions=[("VISITOR", before(2), "visit")],
        customers=[
            ("SIGNED_UP", before(10), None),
            ("NO_SIGNUP_DATE", None, None),
            ("SIGNS_UP_AT_CUTOFF", after(0), None),
            ("SIGNS_UP_LATER", after(1 / 24), None),
            ("LATE_WITH_EVENT", after(5), None),
        ],
    )
    assert build_features(raw, AS_OF)["customer_id"].to_list() == [
        "EVENT_ONLY",
        "LATE_WITH_EVENT",
        "NO_SIGNUP_DATE",
        "SIGNED_UP",
        "SIGNS_UP_AT_CUTOFF",
        "VISITOR",
    ]


def test_a_customer_signing_up_at_the_cutoff_is_in_the_population_with_a_tenure_of_zero() -> None:
    """Scored on their signup day (as_of == signup_date, no earlier event), a customer exists (issue 12)."""
    raw = history(customers=[("NEW", AS_OF, None)])

    values = features_of(raw, "NEW")

    assert pick(values, "tenure_days", "orders_lifetime") == {"tenure_days": 0.0, "orders_lifetime": 0.0}


def test_events_exactly_at_the_cutoff_are_excluded() -> None:
    raw = history(
        transactions=[("C1", before(2), 10), ("C1", AS_OF, 99), ("AT_CUTOFF", AS_OF, 50)],
        interactions=[("C1", AS_OF, "complaint"), ("ONLY_VISIT_AT_CUTOFF", AS_OF, "visit")],
    )
    assert build_features(raw, AS_OF)["customer_id"].to_list() == ["C1"]
    values = features_of(raw)
    assert pick(
        values, "orders_lifetime", "net_spend_lifetime", "complaints_90d", "interactions_lifetime"
    ) == {
        "orders_lifetime": 1.0,
        "net_spend_lifetime": 10.0,
        "complaints_90d": 0.0,
        "interactions_lifetime": 0.0,
    }


# --- transactions ---------------------------------------------------------------------------------


def test_recency_counts_and_net_spend_in_trailing_windows() -> None:
    raw = history(
        [
            ("C1", before(10), 10),
            ("C1", before(20), -4),
            ("C1", before(30), 20),  # exactly 30 days: inside the 30-day window
            ("C1", before(60.5), 30),
            ("C1", before(120), 40),
            ("C1", before(200), 50),
            ("C1", before(400), 60),
        ]
    )
    assert pick(
        features_of(raw),
        "days_since_last_order",
        "days_since_first_order",
        *(f"orders_{w}" for w in ("30d", "90d", "180d", "365d", "lifetime")),
        *(f"net_spend_{w}" for w in ("30d", "90d", "180d", "365d", "lifetime")),
    ) == {
        "days_since_last_order": 10.0,
        "days_since_first_order": 400.0,
        "orders_30d": 2.0,
        "orders_90d": 3.0,
        "orders_180d": 4.0,
        "orders_365d": 5.0,
        "orders_lifetime": 6.0,
        "net_spend_30d": 26.0,
        "net_spend_90d": 56.0,
        "net_spend_180d": 96.0,
        "net_spend_365d": 146.0,
        "net_spend_lifetime": 206.0,
    }


@pytest.mark.parametrize("days", TRAILING_WINDOWS_DAYS)
def test_a_window_holds_events_exactly_its_length_old_but_not_a_microsecond_older(days: int) -> None:
    """An event exactly N days old is in the N-day window (its float age is exactly N), one older is not."""
    edge, older = before(days), before(days) - timedelta(microseconds=1)
    raw = history(
        [("C1", edge, 10), ("C1", older, 1)],
        [("C1", edge, "complaint"), ("C1", older, "complaint")],
    )
    values = features_of(raw)

    assert values["days_since_last_order"] == days
    assert pick(values, f"orders_{days}d", f"net_spend_{days}d") == {
        f"orders_{days}d": 1.0,
        f"net_spend_{days}d": 10.0,
    }
    if days in (90, 365):
        assert values[f"complaints_{days}d"] == 1.0


def test_days_are_fractional() -> None:
    assert features_of(history([("C1", before(2.25), 10)]))["days_since_last_order"] == 2.25


def test_order_values_and_refunds() -> None:
    raw = history(
        [("C1", before(5), 10), ("C1", before(6), 50), ("C1", before(7), -15), ("C1", before(8), -5)]
    )
    assert pick(
        features_of(raw),
        "average_order_value",
        "largest_order_value",
        "refunds_lifetime",
        "refund_amount_lifetime",
        "refund_share_of_spend",
        "net_spend_lifetime",
    ) == {
        "average_order_value": 30.0,
        "largest_order_value": 50.0,
        "refunds_lifetime": 2.0,
        "refund_amount_lifetime": 20.0,
        "refund_share_of_spend": 20.0 / 60.0,
        "net_spend_lifetime": 40.0,
    }


def test_one_purchase_only() -> None:
    values = features_of(history([("C1", before(40), 25, "books", "web")]))
    assert pick(
        values,
        "days_since_last_order",
        "days_since_first_order",
        "orders_lifetime",
        "average_order_value",
        "largest_order_value",
        "order_days_lifetime",
        "mean_days_between_orders",
        "std_days_between_orders",
        "recency_vs_usual_interval",
        "refund_share_of_spend",
        "tenure_days",
        "distinct_categories_lifetime",
    ) == {
        "days_since_last_order": 40.0,
        "days_since_first_order": 40.0,
        "orders_lifetime": 1.0,
        "average_order_value": 25.0,
        "largest_order_value": 25.0,
        "order_days_lifetime": 1.0,
        "mean_days_between_orders": None,
        "std_days_between_orders": None,
        "recency_vs_usual_interval": None,
        "refund_share_of_spend": 0.0,
        "tenure_days": 40.0,
        "distinct_categories_lifetime": 1.0,
    }


def test_only_refunds() -> None:
    values = features_of(history([("C1", before(3), -10), ("C1", before(50), -30)]))
    assert pick(
        values,
        "days_since_last_order",
        "orders_lifetime",
        "net_spend_lifetime",
        "net_spend_30d",
        "refunds_lifetime",
        "refund_amount_lifetime",
        "refund_share_of_spend",
        "average_order_value",
        "order_days_lifetime",
        "tenure_days",
    ) == {
        "days_since_last_order": None,
        "orders_lifetime": 0.0,
        "net_spend_lifetime": -40.0,
        "net_spend_30d": -10.0,
        "refunds_lifetime": 2.0,
        "refund_amount_lifetime": 40.0,
        "refund_share_of_spend": None,
        "average_order_value": None,
        "order_days_lifetime": 0.0,
        "tenure_days": 50.0,
    }


def test_gaps_are_between_distinct_calendar_order_days() -> None:
    raw = history(
        [
            ("C1", datetime(2025, 3, 23, 9), 10),
            ("C1", datetime(2025, 3, 23, 18), 10),  # same day: one order day
            ("C1", datetime(2025, 4, 22, 23), 10),  # 30 days later
            ("C1", datetime(2025, 6, 21, 6), 10),  # 60 days later
            ("C1", datetime(2025, 6, 25, 6), -10),  # refunds are not order days
        ]
    )
    values = features_of(raw)
    assert pick(values, "orders_lifetime", "order_days_lifetime", "mean_days_between_orders") == {
        "orders_lifetime": 4.0,
        "order_days_lifetime": 3.0,
        "mean_days_between_orders": 45.0,
    }
    assert values["std_days_between_orders"] == pytest.approx(math.sqrt(2 * 15.0**2))
    assert values["days_since_last_order"] == pytest.approx(9.75)
    assert values["recency_vs_usual_interval"] == pytest.approx(9.75 / 45.0)


def test_several_orders_the_same_day() -> None:
    raw = history([("C1", before(3), 10), ("C1", before(3), 30), ("C1", before(2.9), 20)])
    values = features_of(raw)
    assert pick(
        values,
        "orders_lifetime",
        "order_days_lifetime",
        "average_order_value",
        "mean_days_between_orders",
        "std_days_between_orders",
    ) == {
        "orders_lifetime": 3.0,
        "order_days_lifetime": 1.0,
        "average_order_value": 20.0,
        "mean_days_between_orders": None,
        "std_days_between_orders": None,
    }


def test_two_order_days_have_a_mean_gap_but_no_spread() -> None:
    values = features_of(history([("C1", datetime(2025, 6, 1), 10), ("C1", datetime(2025, 6, 11), 10)]))
    assert pick(
        values, "mean_days_between_orders", "std_days_between_orders", "recency_vs_usual_interval"
    ) == {
        "mean_days_between_orders": 10.0,
        "std_days_between_orders": None,
        "recency_vs_usual_interval": 2.0,
    }


def test_trends_compare_the_last_90_days_with_the_90_before() -> None:
    raw = history(
        transactions=[
            ("C1", before(10), 100),
            ("C1", before(90), 20),  # last 90 days, at the edge
            ("C1", before(91), 50),
            ("C1", before(150), 60),
            ("C1", before(170), -30),
            ("C1", before(180), 40),  # previous 90 days, at the edge
            ("C1", before(181), 1000),  # older: in neither
        ],
        interactions=[("C1", before(5), "visit"), ("C1", before(100), "visit"), ("C1", before(120), "call")],
    )
    assert pick(features_of(raw), "orders_trend_90d", "net_spend_trend_90d", "interactions_trend_90d") == {
        "orders_trend_90d": 2.0 - 3.0,
        "net_spend_trend_90d": 120.0 - 120.0,
        "interactions_trend_90d": 1.0 - 2.0,
    }


def test_distinct_categories_and_channels_count_orders_only() -> None:
    raw = history(
        [
            ("C1", before(1), 10, "books", "web"),
            ("C1", before(2), 10, "books", "store"),
            ("C1", before(3), 10, "music", None),
            ("C1", before(4), 10, None, "web"),
            ("C1", before(5), -10, "video", "phone"),
        ]
    )
    assert pick(features_of(raw), "distinct_categories_lifetime", "distinct_channels_lifetime") == {
        "distinct_categories_lifetime": 2.0,
        "distinct_channels_lifetime": 2.0,
    }


# --- interactions -------------------------------------------------------------------------------


def test_interaction_counts_by_type() -> None:
    plural = {"inquiry": "inquiries"}
    rows = [("C1", before(1 + i), kind) for i, kind in enumerate(INTERACTION_TYPES) for _ in range(i + 1)]
    rows += [("C1", before(91), "visit"), ("C1", before(2), "webinar")]
    values = features_of(history(interactions=rows))
    for i, kind in enumerate(INTERACTION_TYPES):
        assert values[f"{plural.get(kind, kind + 's')}_90d"] == float(i + 1), kind
    assert pick(values, "interactions_90d", "interactions_lifetime", "days_since_last_interaction") == {
        "interactions_90d": 45.0 + 1.0,  # 1 + 2 + ... + 9 typed, plus the free-text "webinar"
        "interactions_lifetime": 47.0,
        "days_since_last_interaction": 1.0,
    }


def test_complaints_and_support_tickets_over_a_year() -> None:
    raw = history(
        interactions=[
            ("C1", before(10), "complaint"),
            ("C1", before(200), "complaint"),
            ("C1", before(365), "support_ticket"),
            ("C1", before(366), "support_ticket"),
            ("C1", before(400), "complaint"),
        ]
    )
    assert pick(features_of(raw), "complaints_90d", "complaints_365d", "support_tickets_365d") == {
        "complaints_90d": 1.0,
        "complaints_365d": 2.0,
        "support_tickets_365d": 1.0,
    }


def test_satisfaction_uses_survey_values_only() -> None:
    raw = history(
        interactions=[
            ("C1", before(300), "survey", 5.0),
            ("C1", before(20), "survey", 2.0),
            ("C1", before(20), "survey", 4.0),  # same moment: the higher score is the latest
            ("C1", before(5), "survey", None),  # answered without a score
            ("C1", before(1), "call", 1.0),  # not a survey
        ]
    )
    values = features_of(raw)
    assert pick(values, "satisfaction_last", "surveys_90d") == {"satisfaction_last": 4.0, "surveys_90d": 3.0}
    assert values["satisfaction_mean"] == pytest.approx(11.0 / 3.0)


def test_prospect_with_interactions_only() -> None:
    raw = history(
        interactions=[
            ("C1", before(4), "visit"),
            ("C1", before(30), "inquiry"),
            ("C1", before(400), "email_open"),
        ],
        customers=[("C1", None, "south")],
    )
    values = features_of(raw)
    missing = [name for name, value in values.items() if value is None]
    assert sorted(missing) == sorted(
        [
            "days_since_last_order",
            "days_since_first_order",
            "average_order_value",
            "largest_order_value",
            "mean_days_between_orders",
            "std_days_between_orders",
            "recency_vs_usual_interval",
            "refund_share_of_spend",
            "satisfaction_last",
            "satisfaction_mean",
        ]
    )
    assert pick(
        values,
        "orders_lifetime",
        "net_spend_lifetime",
        "visits_90d",
        "inquiries_90d",
        "interactions_lifetime",
        "tenure_days",
        "profile_region",
    ) == {
        "orders_lifetime": 0.0,
        "net_spend_lifetime": 0.0,
        "visits_90d": 1.0,
        "inquiries_90d": 1.0,
        "interactions_lifetime": 3.0,
        "tenure_days": 400.0,
        "profile_region": "south",
    }


def test_customer_without_any_event_has_zero_counts_and_no_recency() -> None:
    values = features_of(history(customers=[("C1", before(12), "east")]))
    assert pick(
        values, "orders_lifetime", "interactions_lifetime", "days_since_last_interaction", "tenure_days"
    ) == {
        "orders_lifetime": 0.0,
        "interactions_lifetime": 0.0,
        "days_since_last_interaction": None,
        "tenure_days": 12.0,
    }


# --- tenure -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signup", "expected"),
    [
        (before(500), 500.0),  # the signup date when known
        (None, 80.0),  # else the first event, transaction or interaction
        (after(3), 80.0),  # a signup recorded after the cutoff is not known yet
    ],
)
def test_tenure(signup: datetime | None, expected: float) -> None:
    raw = history([("C1", before(60), 10)], [("C1", before(80), "visit")], [("C1", signup, None)])
    assert features_of(raw)["tenure_days"] == expected


# --- one code path, optimised or not ------------------------------------------------------------


def test_the_optimised_plan_for_large_inputs_gives_the_same_table(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = history(
        [("C1", before(3), 10, "books", "web"), ("C1", before(40), -2), ("C2", before(400), 7)],
        [("C1", before(1), "survey", 3.0), ("C3", before(2), "visit")],
        [("C1", before(700), "north"), ("C4", None, None), ("C5", after(1), "west")],
    )
    small = build_features(raw, AS_OF)
    monkeypatch.setattr(build, "OPTIMISE_FROM_ROWS", 0)
    assert_frame_equal(build_features(raw, AS_OF), small)


# --- definitions ------------------------------------------------------------------------------------


def test_every_feature_is_defined_once_with_a_description_unit_and_expression() -> None:
    names = [spec.name for spec in FEATURES]
    assert len(names) == len(set(names))
    for spec in FEATURES:
        assert spec.description and spec.description[0].isupper(), spec.name
        assert spec.unit in {"days", "count", "currency", "ratio", "score", "category"}
        assert spec.kind == "numeric"
        assert spec.expression is not None
        assert describe(spec.name) is spec


def test_describe_profile_attributes_and_unknown_names() -> None:
    spec = describe("profile_industry_sector")
    assert (spec.name, spec.kind, spec.unit) == ("profile_industry_sector", "categorical", "category")
    assert "industry sector" in spec.description
    with pytest.raises(UnknownFeatureError, match="orders_7d"):
        describe("orders_7d")
    with pytest.raises(UnknownFeatureError):
        describe("profile_")


# --- labels -----------------------------------------------------------------------------------------


def test_each_population_has_its_own_label_from_one_order_flag() -> None:
    raw = history(
        [
            ("ACTIVE_STAYS", before(10), 10),
            ("ACTIVE_STAYS", after(5), 10),
            ("ACTIVE_CHURNS", before(179.5), 10),  # inside the 180-day lookback: still active
            ("LAPSED_RETURNS", before(180), 10),  # exactly the lookback: lapsed
            ("LAPSED_RETURNS", after(20), 10),
            ("LAPSED_STAYS_AWAY", before(400), 10),
            ("REFUND_ONLY", before(3), -10),  # a refund is not an order: still a prospect
            ("PROSPECT_CONVERTS", after(1), 50),
        ],
        interactions=[("PROSPECT_CONVERTS", before(2), "visit"), ("PROSPECT", before(2), "visit")],
    )
    labels = build_labels(raw, AS_OF, churn_horizon_days=90, value_horizon_days=90)
    assert labels.schema == pl.Schema(
        {
            "customer_id": pl.String,
            "as_of": pl.Datetime("us"),
            "ordered_within_horizon": pl.Int8,
            "future_value": pl.Float64,
        }
    )
    table = build_training_table(raw, [AS_OF], 90, 90, lookback_days=180)
    assert table.select("customer_id", "population", "churned", "reactivated", "converted").rows() == [
        ("ACTIVE_CHURNS", "active", 1, None, None),
        ("ACTIVE_STAYS", "active", 0, None, None),
        ("LAPSED_RETURNS", "lapsed", None, 1, None),
        ("LAPSED_STAYS_AWAY", "lapsed", None, 0, None),
        ("PROSPECT", "prospect", None, None, 0),
        ("PROSPECT_CONVERTS", "prospect", None, None, 1),
        ("REFUND_ONLY", "prospect", None, None, 0),
    ]


def test_the_order_window_is_half_open_and_a_refund_is_not_an_order() -> None:
    raw = history(
        [
            ("AT_CUTOFF", before(5), 10),
            ("AT_CUTOFF", AS_OF, 10),  # the first instant of the horizon counts
            ("AT_HORIZON_END", before(5), 10),
            ("AT_HORIZON_END", after(30), 10),  # the first instant after it does not
            ("REFUND_AFTER", before(5), 10),
            ("REFUND_AFTER", after(1), -10),  # a refund is not a purchase
        ]
    )
    labels = build_labels(raw, AS_OF, churn_horizon_days=30, value_horizon_days=30)
    assert labels.select("customer_id", "ordered_within_horizon").rows() == [
        ("AT_CUTOFF", 1),
        ("AT_HORIZON_END", 0),
        ("REFUND_AFTER", 0),
    ]


def test_future_value_is_net_spend_within_its_own_horizon() -> None:
    raw = history(
        [
            ("C1", before(5), 999),  # before the cutoff: not future value
            ("C1", AS_OF, 100),
            ("C1", after(10), -30),
            ("C1", after(59.9), 5),
            ("C1", after(60), 1000),  # horizon end excluded
            ("C2", before(5), 10),
        ],
        customers=[("C3", None, None)],
    )
    labels = build_labels(raw, AS_OF, churn_horizon_days=7, value_horizon_days=60)
    assert labels.select("customer_id", "ordered_within_horizon", "future_value").rows() == [
        ("C1", 1, 75.0),
        ("C2", 0, 0.0),
        ("C3", 0, 0.0),
    ]


def test_labels_cover_exactly_the_feature_population() -> None:
    raw = history(
        [("C1", before(3), 10), ("NEW", after(3), 10)],
        [("C2", before(2), "visit")],
        [("C3", None, None), ("LATER", after(1), None)],
    )
    features = build_features(raw, AS_OF)
    labels = build_labels(raw, AS_OF, churn_horizon_days=30, value_horizon_days=30)
    assert labels["customer_id"].to_list() == features["customer_id"].to_list() == ["C1", "C2", "C3"]


def test_training_table_stacks_features_and_labels_per_cutoff() -> None:
    raw = history([("C1", before(40), 10), ("C1", before(5), 20), ("C2", before(20), 30)])
    cutoffs = [before(30), AS_OF]
    table = build_training_table(
        raw, cutoffs, churn_horizon_days=30, value_horizon_days=30, lookback_days=180
    )
    assert table.columns == [
        "customer_id",
        "as_of",
        *(spec.name for spec in FEATURES),
        "profile_region",
        "ordered_within_horizon",
        "future_value",
        "population",
        "churned",
        "reactivated",
        "converted",
    ]
    # C2's first event comes after the first cutoff, so C2 only exists in the second snapshot.
    assert table.select("customer_id", "as_of", "orders_lifetime", "churned", "future_value").rows() == [
        ("C1", before(30), 1.0, 0, 20.0),
        ("C1", AS_OF, 2.0, 1, 0.0),
        ("C2", AS_OF, 1.0, 1, 0.0),
    ]


def test_training_table_needs_a_cutoff() -> None:
    with pytest.raises(InvalidCutoffError, match="at least one cutoff"):
        build_training_table(history(), [], churn_horizon_days=30, value_horizon_days=30, lookback_days=180)


def test_snapshot_dates_end_at_the_cutoff_oldest_first() -> None:
    assert snapshot_dates(AS_OF, snapshots=3, step_days=30) == [before(60), before(30), AS_OF]
    assert snapshot_dates(AS_OF, snapshots=1, step_days=30) == [AS_OF]
    with pytest.raises(InvalidCutoffError, match="snapshots"):
        snapshot_dates(AS_OF, snapshots=0, step_days=30)


@pytest.mark.parametrize(
    ("source", "schema"), [("transactions", TRANSACTIONS_SCHEMA), ("interactions", INTERACTIONS_SCHEMA)]
)
def test_aggregations_over_no_events_give_what_a_customer_without_events_gets(
    source: str, schema: dict[str, pl.DataType]
) -> None:
    """One customer's plan aggregates without grouping, so over no events it must yield the absent values.

    A grouped plan has no group for such a customer: after the join its aggregates are null, then
    filled with `absent_value`. So every feature must be exactly its absent value (0, not -0, or null)
    and the intermediates, which derived features read unfilled, null.
    """
    no_events = events_before(pl.DataFrame(schema=schema).lazy(), source, datetime(2025, 1, 1))  # type: ignore[arg-type]
    row = no_events.select(*build._AGGREGATIONS[source]).collect().row(0, named=True)

    for spec in features_from(source):  # type: ignore[arg-type]
        assert row[spec.name] == spec.absent_value, spec.name
        assert row[spec.name] is None or not math.copysign(1.0, row[spec.name]) < 0, spec.name
    for intermediate in INTERMEDIATE_AGGREGATIONS[source]:  # type: ignore[index]
        assert row[intermediate.meta.output_name()] is None
