"""The reference distribution: quantile bins with ties and nulls, levels with "other", JSON-ready."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import polars as pl
import pytest

from domain.errors import DriftInputError, ReferenceDistributionError
from model_contract.distribution import binned_counts, entry_kind, reference_distribution, reference_shares


@pytest.fixture
def frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "orders": [0, 0, 0, 0, 0, 0, 1, 1, 2, None],
            "spend": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, float("nan")],
            "region": ["eu", "eu", "us", None, "apac", "eu", "us", "eu", "latam", "mea"],
            "key_account": [True, False] * 5,
            "churn_probability": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95],
        }
    )


def test_numeric_bins_collapse_ties_and_keep_nulls_apart(frame: pl.DataFrame) -> None:
    reference = reference_distribution(frame, ["orders", "spend"], bins=4)

    # quartiles of 0,0,0,0,0,0,1,1,2 by the inverted CDF: 0, 0, 1 -> edges 0 and 1
    assert reference["features"]["orders"] == {
        "kind": "numeric",
        "edges": [0.0, 1.0],
        "shares": [0.6, 0.2, 0.1],
        "missing_share": 0.1,
    }
    # 1..9: the smallest values with at least 25%, 50%, 75% at or below them; NaN is missing
    assert reference["features"]["spend"] == {
        "kind": "numeric",
        "edges": [3.0, 5.0, 7.0],
        "shares": [0.3, 0.2, 0.2, 0.2],
        "missing_share": 0.1,
    }


def test_categorical_levels_by_frequency_then_name_with_other_and_missing(frame: pl.DataFrame) -> None:
    reference = reference_distribution(frame, ["region", "key_account"], max_levels=2)

    assert reference["features"]["region"] == {
        "kind": "categorical",
        "levels": ["eu", "us"],
        "shares": [0.4, 0.2],
        "other_share": 0.3,
        "missing_share": 0.1,
    }
    assert reference["features"]["key_account"]["levels"] == ["false", "true"]
    assert reference["features"]["key_account"]["other_share"] == 0.0


def test_constant_and_all_missing_columns() -> None:
    frame = pl.DataFrame({"constant": [3.0] * 4, "empty": pl.Series([None] * 4, dtype=pl.Float64)})

    reference = reference_distribution(frame, ["constant", "empty"])

    assert reference["features"]["constant"] == {
        "kind": "numeric",
        "edges": [3.0],
        "shares": [1.0, 0.0],
        "missing_share": 0.0,
    }
    assert reference["features"]["empty"] == {
        "kind": "numeric",
        "edges": [],
        "shares": [0.0],
        "missing_share": 1.0,
    }


def test_predictions_are_described_beside_the_features_and_everything_is_json(frame: pl.DataFrame) -> None:
    reference = reference_distribution(
        frame, ["orders", "region"], predictions=["churn_probability"], as_of="2025-01-01"
    )

    assert reference["schema_version"] == 1
    assert reference["customers"] == 10
    assert reference["as_of"] == "2025-01-01"
    assert reference["bins"] == 10
    assert list(reference["predictions"]) == ["churn_probability"]
    assert reference["predictions"]["churn_probability"]["edges"] == [
        0.1,
        0.2,
        0.3,
        0.4,
        0.5,
        0.6,
        0.7,
        0.8,
        0.9,
    ]
    assert json.loads(json.dumps(reference, allow_nan=False)) == reference
    for entry in [*reference["features"].values(), *reference["predictions"].values()]:
        assert reference_shares(entry).sum() == pytest.approx(1.0)


def test_deciles_of_a_continuous_column_hold_a_tenth_each() -> None:
    values = np.random.default_rng(0).lognormal(size=10_000)

    entry = reference_distribution(pl.DataFrame({"x": values}), ["x"])["features"]["x"]

    assert len(entry["edges"]) == 9
    assert entry["shares"] == pytest.approx([0.1] * 10)


def test_new_values_fall_in_the_bins_of_the_reference(frame: pl.DataFrame) -> None:
    reference = reference_distribution(frame, ["orders", "region"], bins=4, max_levels=2)
    later = pl.DataFrame(
        {
            "orders": [-5.0, 0.0, 0.5, 1.0, 1.5, 99.0, None],
            "region": ["eu", "us", "antarctica", None, "eu", "apac", "us"],
        }
    )

    # bins (-inf, 0], (0, 1], (1, inf), missing: an edge value belongs to the bin it closes
    assert binned_counts(later["orders"], reference["features"]["orders"]).tolist() == [2, 2, 2, 1]
    # eu, us, other (a level never seen counts as other), missing
    assert binned_counts(later["region"], reference["features"]["region"]).tolist() == [2, 2, 2, 1]


def test_a_column_of_the_wrong_kind_is_refused(frame: pl.DataFrame) -> None:
    reference = reference_distribution(frame, ["orders", "region"])

    with pytest.raises(DriftInputError, match="'orders' holds String values but its reference has numeric"):
        binned_counts(pl.Series("orders", ["1"]), reference["features"]["orders"])
    with pytest.raises(DriftInputError, match="'region' holds Int64 values but its reference has levels"):
        binned_counts(pl.Series("region", [1]), reference["features"]["region"])


def test_malformed_entries_and_impossible_requests_are_refused(frame: pl.DataFrame) -> None:
    with pytest.raises(ReferenceDistributionError, match="malformed"):
        entry_kind({"kind": "numeric", "shares": [1.0]})
    with pytest.raises(ReferenceDistributionError, match="no rows"):
        reference_distribution(frame.clear(), ["orders"])
    with pytest.raises(ReferenceDistributionError, match=r"columns \['tenure'\] are not in the reference"):
        reference_distribution(frame, ["orders", "tenure"])
    with pytest.raises(ReferenceDistributionError, match="bins must be at least 2"):
        reference_distribution(frame, ["orders"], bins=1)
    with pytest.raises(ReferenceDistributionError, match="'signed_up' holds Datetime"):
        reference_distribution(pl.DataFrame({"signed_up": [datetime(2025, 1, 1)]}), ["signed_up"])
