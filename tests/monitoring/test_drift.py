"""Drift: exact PSI on hand-made shares, the overall rule, quiet on resampled data, loud on a real shift."""

from __future__ import annotations

import json
import math
from datetime import date, datetime

import numpy as np
import polars as pl
import pytest

from domain.errors import DriftInputError, ReferenceDistributionError
from features.build import build_features, feature_columns
from features.synth import SyntheticBase, SyntheticShift, generate, oracle_churn_probability
from model_contract.distribution import reference_distribution
from monitoring.drift import drift_level, drift_report, population_stability_index
from monitoring.settings import MonitoringSettings

TRAINED_AT = datetime(2025, 1, 1)
SHIFT_DATE = date(2025, 1, 1)
CHECKED_AT = datetime(2025, 7, 1)
CUSTOMERS, SEED = 10_000, 5


def test_psi_of_hand_made_shares() -> None:
    assert population_stability_index(np.array([0.5, 0.5]), np.array([0.25, 0.75])) == pytest.approx(
        0.25 * math.log(2.0) + 0.25 * math.log(1.5)
    )
    assert population_stability_index(np.array([0.2, 0.3, 0.5]), np.array([0.2, 0.3, 0.5])) == 0.0


def test_an_empty_bin_is_smoothed_to_the_minimum_share_and_empty_on_both_sides_adds_nothing() -> None:
    value = population_stability_index(np.array([0.5, 0.5, 0.0, 0.0]), np.array([0.5, 0.4, 0.1, 0.0]))

    assert value == pytest.approx(-0.1 * math.log(0.8) + (0.1 - 1e-4) * math.log(0.1 / 1e-4))
    assert population_stability_index(
        np.array([0.5, 0.5, 0.0]), np.array([0.5, 0.4, 0.1]), min_share=0.01
    ) == pytest.approx(-0.1 * math.log(0.8) + 0.09 * math.log(10.0))


def test_levels_follow_the_settings() -> None:
    settings = MonitoringSettings(psi_watch=0.05, psi_flagged=0.2)

    assert [drift_level(v, settings) for v in (0.0, 0.049, 0.05, 0.199, 0.2, 3.0)] == [
        "stable",
        "stable",
        "watch",
        "watch",
        "flagged",
        "flagged",
    ]


@pytest.fixture
def reference() -> dict:
    frame = pl.DataFrame(
        {
            "orders": [0, 0, 1, 1] * 25,
            "region": ["eu", "us"] * 50,
            "visits": [0, 1, 2, 3] * 25,
            "churn_probability": [0.1, 0.2, 0.8, 0.9] * 25,
        }
    )
    return reference_distribution(
        frame, ["orders", "region", "visits"], predictions=["churn_probability"], bins=2, as_of="2025-01-01"
    )


def _current(orders: list[int], probability: list[float]) -> pl.DataFrame:
    n = len(orders)
    return pl.DataFrame(
        {
            "orders": orders,
            "region": ["eu", "us"] * (n // 2),
            "visits": [0, 1, 2, 3] * (n // 4),
            "churn_probability": probability,
        }
    )


def test_report_has_the_issue_shape_and_exact_values(reference: dict) -> None:
    report = drift_report(_current([0, 1, 1, 1] * 25, [0.1, 0.2, 0.8, 0.9] * 25), reference)

    assert json.loads(json.dumps(report, allow_nan=False)) == report
    assert report["reference"] == {"as_of": "2025-01-01", "customers": 100}
    assert report["customers"] == 100
    assert report["thresholds"] == {"watch": 0.1, "flagged": 0.25}
    orders, region, visits = report["features"]
    # orders: bins (-inf, 0], (0, inf), missing with shares 0.5, 0.5, 0 -> 0.25, 0.75, 0
    assert orders["value"] == pytest.approx(0.25 * math.log(2.0) + 0.25 * math.log(1.5))
    assert {key: orders[key] for key in ("name", "statistic", "flagged", "level")} == {
        "name": "orders",
        "statistic": "psi",
        "flagged": True,
        "level": "flagged",
    }
    assert set(orders) == {"name", "statistic", "value", "flagged", "level", "p_value"}
    assert orders["p_value"] < 0.05
    assert region["value"] == visits["value"] == 0.0 and region["p_value"] == 1.0
    assert report["prediction"]["name"] == "churn_probability"
    assert report["prediction"]["value"] == 0.0
    assert report["predictions"] == [report["prediction"]]
    assert report["flagged_share"] == pytest.approx(1 / 3)
    assert report["flagged"] is True


def test_overall_flag_rule(reference: dict) -> None:
    unchanged = _current([0, 0, 1, 1] * 25, [0.1, 0.2, 0.8, 0.9] * 25)
    orders_moved = _current([0, 1, 1, 1] * 25, [0.1, 0.2, 0.8, 0.9] * 25)
    prediction_moved = _current([0, 0, 1, 1] * 25, [0.1, 0.8, 0.8, 0.9] * 25)
    strict_share = MonitoringSettings(drift_flagged_share=0.5)

    assert drift_report(unchanged, reference)["flagged"] is False
    # one feature of three flagged: enough at the default share (5%), not at 50%...
    assert drift_report(orders_moved, reference)["flagged"] is True
    assert drift_report(orders_moved, reference, settings=strict_share)["flagged"] is False
    # ...unless it is a key feature
    assert drift_report(orders_moved, reference, settings=strict_share, key_features=["orders"])["flagged"]
    # a flagged prediction flags the population even when no feature is flagged
    moved = drift_report(prediction_moved, reference, settings=strict_share)
    assert moved["prediction"]["flagged"] and not any(f["flagged"] for f in moved["features"])
    assert moved["flagged"] is True


def test_inputs_that_cannot_be_compared_are_refused(reference: dict) -> None:
    current = _current([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])

    with pytest.raises(
        DriftInputError, match=r"columns \['visits'\] of the reference distribution are missing"
    ):
        drift_report(current.drop("visits"), reference)
    with pytest.raises(DriftInputError, match="no rows"):
        drift_report(current.clear(), reference)
    with pytest.raises(DriftInputError, match=r"key features \['tenure'\] are not among"):
        drift_report(current, reference, key_features=["tenure"])
    with pytest.raises(DriftInputError, match="prediction 'predicted_value' has no reference"):
        drift_report(current, reference, prediction="predicted_value")
    with pytest.raises(ReferenceDistributionError, match="lacks 'features' or 'customers'"):
        drift_report(current, {"schema_version": 1})


# --- on the synthetic base ---------------------------------------------------------------------------


def _features(base: SyntheticBase, as_of: datetime) -> pl.DataFrame:
    """Features as of the cutoff and, as the prediction, the oracle's churn probability."""
    churn = oracle_churn_probability(base.ground_truth, as_of, 180)
    return build_features(base.raw, as_of).join(churn, on="customer_id", how="left")


@pytest.fixture(scope="module")
def trained_on() -> tuple[pl.DataFrame, dict]:
    """The population a model would be trained on before the shift, and its reference distribution."""
    population = _features(generate(CUSTOMERS, seed=SEED), TRAINED_AT)
    names = [name for name in feature_columns(population) if name != "churn_probability"]
    reference = reference_distribution(
        population, names, predictions=["churn_probability"], as_of="2025-01-01"
    )
    return population, reference


def test_false_alarm_rate_on_bootstrap_samples_of_5000_customers_is_at_most_5_percent(
    trained_on: tuple[pl.DataFrame, dict],
) -> None:
    population, reference = trained_on
    rng = np.random.default_rng(20250101)
    reports = [
        drift_report(population[rng.integers(0, population.height, 5_000)], reference) for _ in range(100)
    ]

    false_alarm_rate = np.mean([report["flagged"] for report in reports])
    assert false_alarm_rate <= 0.05
    assert (
        len(reference["features"]) == len(feature_columns(population)) - 1
    )  # every feature but the prediction


def _flagged(report: dict) -> set[str]:
    return {feature["name"] for feature in report["features"] if feature["flagged"]}


@pytest.fixture(scope="module")
def without_shift(trained_on: tuple[pl.DataFrame, dict]) -> dict:
    return drift_report(_features(generate(CUSTOMERS, seed=SEED), CHECKED_AT), trained_on[1])


def test_half_a_year_later_without_a_shift_nothing_is_flagged(without_shift: dict) -> None:
    assert _flagged(without_shift) == set()
    assert without_shift["flagged"] is False


def test_an_engagement_shift_is_flagged_on_the_interaction_features(
    trained_on: tuple[pl.DataFrame, dict], without_shift: dict
) -> None:
    shifted = generate(CUSTOMERS, seed=SEED, shift=SyntheticShift("engagement", SHIFT_DATE))

    report = drift_report(_features(shifted, CHECKED_AT), trained_on[1])

    moved = {"interactions_90d", "days_since_last_interaction", "email_opens_90d"}
    interaction_features = moved | {"visits_90d", "email_clicks_90d", "interactions_trend_90d"}
    assert moved <= _flagged(report) <= interaction_features
    assert report["flagged"] is True
    assert not moved & _flagged(without_shift)


def test_a_spend_shift_is_flagged_on_the_spend_features(
    trained_on: tuple[pl.DataFrame, dict], without_shift: dict
) -> None:
    shifted = generate(CUSTOMERS, seed=SEED, shift=SyntheticShift("price", SHIFT_DATE, factor=0.3))

    report = drift_report(_features(shifted, CHECKED_AT), trained_on[1])

    moved = {"net_spend_90d", "net_spend_trend_90d"}
    spend_features = moved | {"net_spend_30d", "net_spend_180d", "net_spend_365d", "average_order_value"}
    assert moved <= _flagged(report) <= spend_features
    assert report["flagged"] is True
    assert not moved & _flagged(without_shift)
