"""Lifecycle stages: each rule's edges, rule precedence, missing values, and thresholds from the caller."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import polars as pl
import pytest

from policy.lifecycle import DEFAULT_THRESHOLDS, StageThresholds, lifecycle_stages

ACTIVE_BASE: dict[str, Any] = {
    "days_since_last_order": 20.0,
    "days_since_first_order": 400.0,
    "orders_lifetime": 6.0,
    "orders_365d": 3.0,
    "tenure_days": 400.0,
}


def _stage(risk: str = "low", thresholds: StageThresholds = DEFAULT_THRESHOLDS, **changes: Any) -> str:
    row = {**ACTIVE_BASE, **changes}
    return str(lifecycle_stages({name: [value] for name, value in row.items()}, [risk], thresholds)[0])


@pytest.mark.parametrize(
    ("changes", "risk", "expected"),
    [
        ({}, "low", "active"),
        ({"days_since_last_order": None, "orders_lifetime": 0.0}, "high", "prospect"),
        ({"orders_lifetime": 0.0}, "low", "prospect"),
        ({"days_since_last_order": float("nan")}, "low", "prospect"),
        ({"days_since_last_order": 365.0}, "high", "lost"),
        ({"days_since_last_order": 364.9}, "low", "dormant"),
        ({"days_since_last_order": 180.0}, "low", "dormant"),
        ({"days_since_last_order": 179.9}, "low", "active"),
        ({}, "high", "at_risk"),
        ({}, "medium", "active"),
        ({"days_since_first_order": 89.9, "tenure_days": 89.9}, "low", "new"),
        ({"days_since_first_order": 90.0, "tenure_days": 90.0}, "low", "active"),
        ({"days_since_first_order": 30.0}, "high", "at_risk"),
        ({"orders_365d": 4.0}, "low", "loyal"),
        ({"orders_365d": 4.0, "tenure_days": 364.0}, "low", "active"),
        ({"orders_365d": 4.0, "tenure_days": None}, "low", "loyal"),
        ({"orders_365d": 4.0, "tenure_days": None, "days_since_first_order": 300.0}, "low", "active"),
        ({"orders_365d": None}, "low", "active"),
    ],
)
def test_stage_rules_and_edges(changes: dict[str, Any], risk: str, expected: str) -> None:
    assert _stage(risk, **changes) == expected


def test_absent_feature_columns_count_as_missing() -> None:
    assert lifecycle_stages({}, ["high"]).tolist() == ["prospect"]
    assert lifecycle_stages({"days_since_last_order": [10.0]}, ["low"]).tolist() == ["active"]
    frame = pl.DataFrame({"days_since_last_order": [10.0, None, 200.0]})
    assert lifecycle_stages(frame, ["low", "low", "low"]).tolist() == ["active", "prospect", "dormant"]


def test_every_threshold_comes_from_the_caller() -> None:
    assert _stage("low", StageThresholds(dormant_after_days=10, lost_after_days=30)) == "dormant"
    assert _stage("low", StageThresholds(dormant_after_days=5, lost_after_days=20)) == "lost"
    assert _stage("low", StageThresholds(new_customer_days=500)) == "new"
    assert _stage("low", StageThresholds(loyal_orders_365d=3)) == "loyal"
    assert _stage("low", StageThresholds(loyal_orders_365d=3, loyal_tenure_days=401)) == "active"


def test_a_whole_frame_gets_what_each_row_gets_alone() -> None:
    grid = {
        "days_since_last_order": [None, 5.0, 179.9, 180.0, 364.0, 365.0, float("nan")],
        "days_since_first_order": [None, 10.0, 89.9, 90.0, 364.0, 500.0],
        "orders_lifetime": [None, 0.0, 1.0, 8.0],
        "orders_365d": [None, 3.0, 4.0],
        "tenure_days": [None, 100.0, 365.0],
        "churn_risk": ["low", "medium", "high", None],
    }
    rows = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    frame = pl.DataFrame(rows, schema={**{name: pl.Float64 for name in grid}, "churn_risk": pl.String})

    together = lifecycle_stages(frame, frame["churn_risk"].to_numpy()).tolist()
    alone = [
        lifecycle_stages(frame.slice(i, 1), np.asarray([row["churn_risk"]], dtype=object))[0]
        for i, row in enumerate(rows)
    ]

    assert together == alone
    assert set(together) == {"prospect", "new", "active", "loyal", "at_risk", "dormant", "lost"}
