"""Tier and stage migration between two snapshots: exact matrices, movers, and sums over both snapshots."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import polars as pl
import pytest

from domain.errors import MigrationInputError
from domain.vocabulary import LIFECYCLE_STAGES, TIERS
from monitoring.migration import migration, tier_movers


@pytest.fixture
def earlier() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3", "C4", "C5"],
            "tier": ["A", "B", "C", "D", "B"],
            "lifecycle_stage": ["loyal", "active", "active", "at_risk", "new"],
            "predicted_value": [900.0, 300.0, 100.0, 20.0, 250.0],
        }
    )


@pytest.fixture
def later() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": ["C2", "C1", "C3", "C4", "C6"],
            "tier": ["A", "B", "C", "D", "A"],
            "lifecycle_stage": ["loyal", "at_risk", "active", "dormant", "new"],
            "predicted_value": [800.0, 400.0, 120.0, None, 700.0],
        }
    )


def _zeros(levels: tuple[str, ...], zero: float = 0) -> dict[str, dict[str, float]]:
    return {row: dict.fromkeys(levels, zero) for row in levels}


def test_matrices_by_hand(earlier: pl.DataFrame, later: pl.DataFrame) -> None:
    result = migration(earlier, later, from_as_of="2025-04-01", to_as_of="2025-07-01")

    tiers = _zeros(TIERS)
    tiers["A"]["B"] = tiers["B"]["A"] = tiers["C"]["C"] = tiers["D"]["D"] = 1
    tier_values = _zeros(TIERS, 0.0)
    tier_values["A"]["B"], tier_values["B"]["A"], tier_values["C"]["C"] = 400.0, 800.0, 120.0
    stages = _zeros(LIFECYCLE_STAGES)
    stages["loyal"]["at_risk"] = stages["active"]["loyal"] = stages["active"]["active"] = 1
    stages["at_risk"]["dormant"] = 1
    assert result == {
        "from": "2025-04-01",
        "to": "2025-07-01",
        "customers": 4,
        "entered": 1,
        "left": 1,
        "tiers": tiers,
        "tier_values": tier_values,
        "stages": stages,
        "stage_values": result["stage_values"],
        "moved_up": 1,
        "moved_down": 1,
    }
    assert result["stage_values"]["active"]["loyal"] == 800.0
    assert result["stage_values"]["at_risk"]["dormant"] == 0.0  # a null value counts as nothing
    assert json.dumps(result, allow_nan=False)


def test_movers_up_first_then_by_value(earlier: pl.DataFrame, later: pl.DataFrame) -> None:
    movers = tier_movers(earlier, later)

    assert movers.to_dicts() == [
        {
            "customer_id": "C2",
            "direction": "up",
            "tier_from": "B",
            "tier_to": "A",
            "lifecycle_stage_from": "active",
            "lifecycle_stage_to": "loyal",
            "value_from": 300.0,
            "value_to": 800.0,
        },
        {
            "customer_id": "C1",
            "direction": "down",
            "tier_from": "A",
            "tier_to": "B",
            "lifecycle_stage_from": "loyal",
            "lifecycle_stage_to": "at_risk",
            "value_from": 900.0,
            "value_to": 400.0,
        },
    ]


def test_matrices_sum_to_the_customers_in_both_snapshots_on_a_larger_base() -> None:
    rng = np.random.default_rng(4)

    def snapshot(ids: np.ndarray) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "customer_id": [f"C{i:06d}" for i in ids],
                "tier": rng.choice(TIERS, len(ids)),
                "lifecycle_stage": rng.choice(LIFECYCLE_STAGES, len(ids)),
                "predicted_value": rng.gamma(1.0, 500.0, len(ids)),
            }
        )

    earlier, later = snapshot(rng.permutation(20_000)[:15_000]), snapshot(rng.permutation(20_000)[:16_000])
    both = earlier.join(later, on="customer_id", suffix="_to")

    result = migration(earlier, later)

    assert result["customers"] == both.height
    assert sum(sum(row.values()) for row in result["tiers"].values()) == both.height
    assert sum(sum(row.values()) for row in result["stages"].values()) == both.height
    assert sum(sum(row.values()) for row in result["tier_values"].values()) == pytest.approx(
        both["predicted_value_to"].sum()
    )
    pairs = Counter(zip(both["tier"], both["tier_to"], strict=True))
    assert all(result["tiers"][a][b] == n for (a, b), n in pairs.items())
    movers = tier_movers(earlier, later)
    assert (
        movers.height
        == result["moved_up"] + result["moved_down"]
        == both.filter(pl.col("tier") != pl.col("tier_to")).height
    )
    assert (result["entered"], result["left"]) == (later.height - both.height, earlier.height - both.height)


def test_snapshots_that_cannot_be_compared_are_refused(earlier: pl.DataFrame, later: pl.DataFrame) -> None:
    with pytest.raises(MigrationInputError, match="the later snapshot holds customer 'C2' more than once"):
        migration(earlier, pl.concat([later, later.head(1)]))
    with pytest.raises(
        MigrationInputError, match=r"the earlier snapshot lacks columns \['lifecycle_stage'\]"
    ):
        migration(earlier.drop("lifecycle_stage"), later)
    with pytest.raises(MigrationInputError, match="gives customer 'C1' tier 'E'; expected one of A, B, C, D"):
        migration(earlier.with_columns(pl.col("tier").replace("A", "E")), later)
    with pytest.raises(MigrationInputError, match="gives customer 'C6' lifecycle_stage None"):
        migration(earlier, later.with_columns(pl.col("lifecycle_stage").replace("new", None)))
