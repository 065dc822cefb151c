import json

import numpy as np
import pytest
from pydantic import ValidationError

from domain.errors import TierError
from model_contract.tiers import TierCutpoints, absolute_tiers, assign_tier, fit_tiers

SHARES = (0.10, 0.20, 0.40)


def test_quantile_shares_are_exact_on_100_distinct_values():
    values = np.random.default_rng(3).permutation(np.arange(1.0, 101.0))
    cutpoints = fit_tiers(values, SHARES)
    tiers = assign_tier(cutpoints, values)
    assert (cutpoints.a_threshold, cutpoints.b_threshold, cutpoints.c_threshold) == (91.0, 71.0, 31.0)
    assert {tier: int((tiers == tier).sum()) for tier in "ABCD"} == {"A": 10, "B": 20, "C": 40, "D": 30}
    assert sorted(values[tiers == "A"]) == list(np.arange(91.0, 101.0))


def test_custom_shares_and_rounding():
    cutpoints = fit_tiers(np.arange(1.0, 11.0), shares=(0.25, 0.25, 0.25))
    # round(2.5) -> 3 customers in A (half rounds up), round(5.0) -> 5 in A+B, round(7.5) -> 8 in A+B+C
    assert (cutpoints.a_threshold, cutpoints.b_threshold, cutpoints.c_threshold) == (8.0, 6.0, 3.0)
    assert cutpoints.shares == (0.25, 0.25, 0.25)


def test_absolute_thresholds_are_inclusive_lower_bounds():
    cutpoints = absolute_tiers(100.0, 50.0, 10.0)
    values = [150.0, 100.0, 99.99, 50.0, 10.0, 9.99, 0.0, -5.0]
    assert assign_tier(cutpoints, values).tolist() == ["A", "A", "B", "B", "C", "D", "D", "D"]
    assert cutpoints.method == "absolute" and cutpoints.shares is None


def test_ties_at_a_threshold_all_go_to_the_higher_tier():
    values = np.array([10.0, 10.0, 10.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.0])
    cutpoints = fit_tiers(values, SHARES)  # A = the top 1 value, but three customers share it
    assert cutpoints.a_threshold == 10.0
    assert assign_tier(cutpoints, values).tolist() == ["A", "A", "A", "C", "C", "C", "C", "D", "D", "D"]


def test_thresholds_must_be_ordered_and_finite():
    with pytest.raises(ValidationError, match="A >= B >= C"):
        absolute_tiers(10.0, 50.0, 1.0)
    with pytest.raises(ValidationError, match="finite"):
        absolute_tiers(float("inf"), 50.0, 1.0)


def test_too_few_values_or_missing_values_are_refused():
    with pytest.raises(TierError, match="fit on at least 5 customers"):
        fit_tiers([3.0, 2.0, 1.0, 0.0], SHARES)
    with pytest.raises(TierError, match="1 missing or infinite entries \\(first at position 1\\)"):
        assign_tier(absolute_tiers(3.0, 2.0, 1.0), [1.0, float("nan")])
    with pytest.raises(TierError, match="shares"):
        fit_tiers(np.arange(100.0), shares=(0.5, 0.4, 0.3))


@pytest.mark.parametrize(
    "cutpoints", [fit_tiers(np.arange(1.0, 101.0), SHARES), absolute_tiers(500000.0, 100000.0, 20000.0)]
)
def test_json_round_trip(cutpoints: TierCutpoints):
    restored = TierCutpoints.from_dict(json.loads(json.dumps(cutpoints.to_dict())))
    assert restored == cutpoints
    values = np.array([0.0, 25000.0, 95.0, 1e6])
    assert assign_tier(restored, values).tolist() == assign_tier(cutpoints, values).tolist()


def test_a_tier_minimum_of_orders_drops_a_customer_to_the_highest_tier_they_qualify_for():
    cutpoints = absolute_tiers(100.0, 50.0, 10.0, minimum_orders_365d={"A": 3, "B": 1})
    values = [150.0, 150.0, 150.0, 60.0, 60.0, 20.0]
    orders = [5, 2, 0, 1, float("nan"), 0]
    assert assign_tier(cutpoints, values, orders).tolist() == ["A", "B", "C", "B", "C", "C"]
    assert assign_tier(cutpoints, values).tolist() == ["A", "A", "A", "B", "B", "C"]
    restored = TierCutpoints.from_dict(json.loads(json.dumps(cutpoints.to_dict())))
    assert restored.minimum_orders_365d == {"A": 3, "B": 1}
