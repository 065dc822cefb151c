"""Reference statistics on a tiny hand-made frame: exact quantiles per tier and overall."""

from __future__ import annotations

import json

import polars as pl
import pytest

from domain.errors import ReferenceInputError
from model_contract.reference import compute_reference_statistics


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "orders_365d": [1.0, 3.0, 2.0, 10.0, None],
            "days_since_last_order": [10.0, 20.0, float("nan"), 40.0, 50.0],
            "profile_region": ["north", "south", "north", "east", "west"],
        }
    )


def test_quantiles_per_tier_and_overall_are_exact() -> None:
    reference = compute_reference_statistics(
        _frame(), ["A", "A", "B", "A", "B"], ["orders_365d", "days_since_last_order", "profile_region"]
    )

    assert reference["statistics"] == ["p25", "median", "p75"]
    assert reference["overall"]["customers"] == 5
    # overall orders: 1, 2, 3, 10 -> linear quantiles
    assert reference["overall"]["features"]["orders_365d"] == {
        "count": 4,
        "p25": 1.75,
        "median": 2.5,
        "p75": 4.75,
    }
    assert reference["tiers"]["A"]["customers"] == 3
    assert reference["tiers"]["A"]["features"]["orders_365d"] == {
        "count": 3,
        "p25": 2.0,
        "median": 3.0,
        "p75": 6.5,
    }
    # tier B: NaN recency counts as missing, leaving the single value 50
    assert reference["tiers"]["B"]["features"]["days_since_last_order"] == {
        "count": 1,
        "p25": 50.0,
        "median": 50.0,
        "p75": 50.0,
    }
    assert reference["tiers"]["B"]["features"]["orders_365d"] == {
        "count": 1,
        "p25": 2.0,
        "median": 2.0,
        "p75": 2.0,
    }
    assert list(reference["tiers"]) == ["A", "B"]


def test_categorical_features_are_skipped_and_result_is_json() -> None:
    reference = compute_reference_statistics(_frame(), ["A"] * 5, ["orders_365d", "profile_region"])

    assert list(reference["overall"]["features"]) == ["orders_365d"]
    assert json.loads(json.dumps(reference)) == reference


def test_all_missing_feature_has_null_quantiles() -> None:
    frame = pl.DataFrame({"satisfaction_last": [None, None]}, schema={"satisfaction_last": pl.Float64})

    reference = compute_reference_statistics(frame, ["C", "C"], ["satisfaction_last"])

    assert reference["tiers"]["C"]["features"]["satisfaction_last"] == {
        "count": 0,
        "p25": None,
        "median": None,
        "p75": None,
    }


def test_misaligned_tiers_are_rejected() -> None:
    with pytest.raises(ReferenceInputError, match="got 2 tiers for 5 feature rows"):
        compute_reference_statistics(_frame(), ["A", "B"], ["orders_365d"])


def test_unknown_feature_is_named() -> None:
    with pytest.raises(ReferenceInputError, match="nope"):
        compute_reference_statistics(_frame(), ["A"] * 5, ["nope"])
