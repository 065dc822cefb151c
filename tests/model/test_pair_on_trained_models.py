"""The trained pair as served: populations, directions, reasons and value at risk on the real engine.

Every test scores the session's synthetic base (tests/support/trained.py) with the real `Predictor`.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from support.trained import AS_OF, TrainedModels

from features.build import build_features
from features.populations import population_expr
from model_contract import PROBABILITY_MODELS

ROUNDING = 5e-4  # half a tenth of a percentage point: what a page shows as a different probability


@pytest.fixture(scope="module")
def features(trained: TrainedModels) -> pl.DataFrame:
    return build_features(trained.raw, AS_OF)


def test_every_customer_gets_exactly_the_probability_of_their_population(
    trained: TrainedModels, features: pl.DataFrame
) -> None:
    scored = trained.engine.score(features).to_frame()
    expected = features.select(population_expr(trained.engine.pair.metadata.lookback_days))["population"]
    assert scored["population"].to_list() == expected.to_list()
    assert set(expected.unique()) == {"active", "lapsed", "prospect"}
    columns = {
        "active": "churn_probability",
        "lapsed": "reactivation_probability",
        "prospect": "conversion_probability",
    }
    for population, column in columns.items():
        rows = scored.filter(pl.col("population") == population)
        assert rows[column].null_count() == 0, population
        assert rows[column].is_between(0.0, 1.0).all(), population
        for other in set(columns.values()) - {column}:
            assert rows[other].null_count() == rows.height, (population, other)
    active = scored.filter(pl.col("population") == "active")
    others = scored.filter(pl.col("population") != "active")
    assert active["churn_risk"].null_count() == 0 and others["churn_risk"].null_count() == others.height
    assert others["value_at_risk"].null_count() == others.height


def test_value_at_risk_is_churn_probability_times_value_if_retained(
    trained: TrainedModels, features: pl.DataFrame
) -> None:
    scored = trained.engine.score(features).to_frame().filter(pl.col("population") == "active")
    np.testing.assert_allclose(
        scored["value_at_risk"].to_numpy(),
        scored["churn_probability"].to_numpy() * scored["value_if_retained"].to_numpy(),
        rtol=1e-12,
    )
    assert (scored["value_if_retained"] >= 0).all()
    # value if retained is what an active customer is worth when they stay: above the unconditional
    # expectation for customers likely to churn
    likely = scored.filter(pl.col("churn_probability") > 0.5)
    assert likely.height > 20
    assert (likely["value_if_retained"] >= likely["predicted_value"]).mean() > 0.8


@pytest.mark.parametrize(
    ("feature", "increase"),
    [
        ("days_since_last_order", 30.0),
        ("recency_vs_usual_interval", 0.5),
        ("complaints_90d", 1.0),
        ("complaints_365d", 1.0),
    ],
)
def test_a_longer_silence_or_another_complaint_never_lowers_churn_risk(
    trained: TrainedModels, features: pl.DataFrame, feature: str, increase: float
) -> None:
    engine = trained.engine
    active = features.filter(population_expr(engine.pair.metadata.lookback_days) == "active")
    if feature == "days_since_last_order":  # stay active: the population is decided by this feature
        limit = engine.pair.metadata.lookback_days - increase
        active = active.filter(pl.col(feature) < limit)
    active = active.filter(pl.col(feature).is_not_null())  # missing is its own branch, not a small value
    before = engine.model_outputs(active).probability
    moved = active.with_columns(pl.col(feature) + increase)
    after = engine.model_outputs(moved).probability
    assert active.height > 100
    assert (after >= before - 1e-12).all(), feature


def test_a_longer_silence_never_raises_a_lapsed_customers_comeback(
    trained: TrainedModels, features: pl.DataFrame
) -> None:
    engine = trained.engine
    lapsed = features.filter(population_expr(engine.pair.metadata.lookback_days) == "lapsed")
    before = engine.model_outputs(lapsed).probability
    after = engine.model_outputs(lapsed.with_columns(pl.col("days_since_last_order") + 60.0)).probability
    assert lapsed.height > 20
    assert (after <= before + 1e-12).all()


def test_a_prediction_away_from_the_baseline_always_has_reasons_that_add_up(
    trained: TrainedModels, features: pl.DataFrame
) -> None:
    engine = trained.engine
    outputs = engine.model_outputs(features)
    scored = engine.decide(outputs)
    present = scored.probability_reasons.present.any(axis=1)
    for population, name in PROBABILITY_MODELS.items():
        rows = outputs.populations == population
        bundle = engine.pair[name]
        if bundle.metadata.fallback is not None or not rows.any():
            continue
        matrix = bundle.model_frame(features.filter(pl.Series(rows)))
        base, contributions = bundle.scorer.contributions(matrix)
        # the parts sum to the prediction minus the model's baseline, in probability points
        np.testing.assert_allclose(base + contributions.sum(axis=1), outputs.probability[rows], atol=1e-9)
        away = np.abs(outputs.probability[rows] - base) > ROUNDING
        assert present[rows][away].all(), population
    value_present = scored.value_reasons.present.any(axis=1)
    base, contributions = engine.pair["value"].scorer.contributions(
        engine.pair["value"].model_frame(features)
    )
    np.testing.assert_allclose(
        base + contributions.sum(axis=1), outputs.predicted_value, rtol=1e-9, atol=1e-6
    )
    assert value_present[np.abs(outputs.predicted_value - base) > 0.01].all()


def test_tiers_are_cut_on_active_customers_value_and_respect_the_order_minimum(
    trained: TrainedModels, features: pl.DataFrame
) -> None:
    engine = trained.engine
    scored = engine.score(features).to_frame().with_columns(features["orders_365d"])
    cutpoints = engine.cutpoints
    assert cutpoints.method == "quantile" and cutpoints.shares == (0.10, 0.20, 0.40)
    active = scored.filter(pl.col("population") == "active")
    shares = active["tier"].value_counts(normalize=True).sort("tier")
    a_share = shares.filter(pl.col("tier") == "A")["proportion"].item()
    assert a_share <= 0.10 + 0.02  # A customers who order less than twice a year fall to B
    a_customers = scored.filter(pl.col("tier") == "A")
    assert (a_customers["orders_365d"] >= cutpoints.minimum_orders_365d["A"]).all()
