"""Lifecycle stages: each rule's edges, rule precedence, and the scalar and polars versions agreeing."""

from __future__ import annotations

import itertools
from typing import Any

import polars as pl
import pytest

from serving.lifecycle import lifecycle_stage, lifecycle_stages

ACTIVE_BASE: dict[str, Any] = {
    "days_since_last_order": 20.0,
    "days_since_first_order": 400.0,
    "orders_lifetime": 6.0,
    "orders_365d": 3.0,
    "tenure_days": 400.0,
}


def _stage(risk: str = "low", **changes: Any) -> str:
    return lifecycle_stage({**ACTIVE_BASE, **changes}, 0.1, risk)


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


def test_missing_feature_names_count_as_missing() -> None:
    assert lifecycle_stage({}, 0.9, "high") == "prospect"
    assert lifecycle_stage({"days_since_last_order": 10.0}, 0.1, "low") == "active"


def test_thresholds_come_from_the_caller() -> None:
    features = {**ACTIVE_BASE, "days_since_last_order": 100.0}
    assert lifecycle_stage(features, 0.1, "low", dormant_after_days=90, lost_after_days=120) == "dormant"
    assert lifecycle_stage(features, 0.1, "low", dormant_after_days=60, lost_after_days=100) == "lost"


def test_polars_version_agrees_with_scalar_version_on_every_combination() -> None:
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

    vectorised = lifecycle_stages(frame, dormant_after_days=180, lost_after_days=365).to_list()
    scalar = [lifecycle_stage(row, 0.5, row["churn_risk"] or "") for row in rows]

    assert vectorised == scalar
    assert set(scalar) == {"prospect", "new", "active", "loyal", "at_risk", "dormant", "lost"}


def test_polars_version_treats_absent_columns_as_missing() -> None:
    frame = pl.DataFrame({"days_since_last_order": [10.0, None, 200.0], "churn_risk": ["low", "low", "low"]})

    assert lifecycle_stages(frame).to_list() == ["active", "prospect", "dormant"]
