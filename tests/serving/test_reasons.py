"""Reason codes from a contribution matrix: ranking, ties, zeros and NaNs, values and references."""

from __future__ import annotations

import numpy as np
import polars as pl

from serving.reasons import REASON_DTYPE, code_reasons, top_risk_drivers

CONTRIBUTIONS = np.array(
    [
        [0.1, -0.3, 0.3, 0.0],
        [0.0, 0.0, 0.2, 0.0],
        [np.nan, 0.5, 0.1, -0.2],
        [0.2, 0.2, -0.1, 0.05],
    ]
)
NAMES = ["days_since_last_order", "orders_90d", "profile_region", "net_spend_365d"]
FEATURES = pl.DataFrame(
    {
        "days_since_last_order": [10.0, None, 30.5, 4.0],
        "orders_90d": [1.0, 2.0, 3.0, 4.0],
        "profile_region": ["north", None, "south", "east"],
        "net_spend_365d": [100.0, 0.0, -5.0, 12.0],
    }
)
REFERENCE = {
    "overall": {"features": {"orders_90d": {"median": 2.0}}},
    "tiers": {
        "A": {"features": {"mean_days_between_orders": {"median": 21.0}, "orders_90d": {"median": 5.0}}}
    },
}


def _codes() -> list[list[dict[str, object]]]:
    codes = code_reasons(
        CONTRIBUTIONS, NAMES, FEATURES, np.array(["A", "A", "Z", "A"], dtype=object), REFERENCE
    )
    return [codes.row(i) for i in range(4)]


def test_top_three_by_absolute_contribution_ties_in_column_order_zeros_and_nans_skipped() -> None:
    rows = _codes()

    assert [[(c["feature"], c["contribution"]) for c in row] for row in rows] == [
        [("orders_90d", -0.3), ("profile_region", 0.3), ("days_since_last_order", 0.1)],
        [("profile_region", 0.2)],
        [("orders_90d", 0.5), ("net_spend_365d", -0.2), ("profile_region", 0.1)],
        [("days_since_last_order", 0.2), ("orders_90d", 0.2), ("profile_region", -0.1)],
    ]
    assert [c["direction"] for c in rows[0]] == ["decreases", "increases", "increases"]


def test_codes_carry_the_customers_value_and_the_reference_they_are_compared_with() -> None:
    first, second, third, _ = _codes()

    assert first[0] == {
        "feature": "orders_90d",
        "value": 1.0,
        "value_text": None,
        "contribution": -0.3,
        "direction": "decreases",
        "reference_value": 5.0,
        "reference_group": "A",
    }
    # An attribute's value is text; days since the last order compare with the usual gap.
    assert (first[1]["value"], first[1]["value_text"], first[1]["reference_value"]) == (None, "north", None)
    assert (first[2]["value"], first[2]["reference_value"]) == (10.0, 21.0)
    # A missing attribute stays missing; a tier the reference lacks compares with all customers.
    assert second[0]["value_text"] is None
    assert (third[0]["reference_group"], third[0]["reference_value"]) == ("all", 2.0)


def test_the_column_holds_the_same_codes_as_the_rows() -> None:
    codes = code_reasons(
        CONTRIBUTIONS, NAMES, FEATURES, np.array(["A", "A", "Z", "A"], dtype=object), REFERENCE
    )

    column = codes.to_series("churn_reasons")

    assert column.dtype == REASON_DTYPE
    assert column.to_list() == [codes.row(i) for i in range(4)]


def test_no_rows_give_no_codes() -> None:
    codes = code_reasons(np.empty((0, 4)), NAMES, FEATURES.head(0), np.array([], dtype=object), REFERENCE)

    assert codes.to_series("r").len() == 0


def test_top_risk_driver_is_the_largest_positive_contribution_ties_by_name() -> None:
    drivers = top_risk_drivers(CONTRIBUTIONS, ["a", "b", "c", "d"])

    assert drivers == ["c", "c", "b", "b"]
    assert top_risk_drivers(-np.abs(CONTRIBUTIONS[:2]), ["a", "b", "c", "d"]) == [None, None]
    assert top_risk_drivers(np.empty((0, 4)), ["a", "b", "c", "d"]) == []
