"""The probability and value estimators: calibration, monotonicity, contributions, selection, scikit-learn's contract."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from domain.errors import CalibrationDataError, InsufficientBuyersError
from model_contract.matrix import booster_input
from training.models import ProbabilityModel, TweedieValueModel, TwoPartValueModel, select_value_model
from training.models.boosting import (
    DEFAULT_LIGHTGBM_PARAMS,
    SMALL_TABLE_LEARNING_RATE,
    SMALL_TABLE_ROWS,
    lightgbm_params,
)
from training.models.value import choose_candidate

REGIONS = ["north", "south", "east"]


def features(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    recency = rng.uniform(0.0, 1.0, n)
    frequency = rng.uniform(0.0, 1.0, n)
    region = rng.choice([*REGIONS, "west"], n)
    region = np.where(region == "west", None, region)  # a level unseen in training, NaN as at serving
    return pd.DataFrame(
        {
            "days_since_last_order": recency,
            "orders_last_365_days": frequency,
            "noise": rng.normal(size=n),
            "profile_region": pd.Categorical(region, categories=REGIONS),
        }
    )


def true_churn_probability(X: pd.DataFrame) -> np.ndarray:
    margin = -1.0 + 3.0 * X["days_since_last_order"] - 2.0 * X["orders_last_365_days"]
    margin = margin + 0.5 * (X["profile_region"] == "north").to_numpy()
    return 1.0 / (1.0 + np.exp(-margin.to_numpy()))


def churn_sample(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    X = features(n, seed)
    y = (np.random.default_rng(seed + 100).uniform(size=n) < true_churn_probability(X)).astype(int)
    return X, y


@pytest.fixture(scope="module")
def churn_model() -> ProbabilityModel:
    X_train, y_train = churn_sample(4000, 1)
    X_cal, y_cal = churn_sample(4000, 2)
    return ProbabilityModel(n_jobs=1, random_state=0).fit(
        X_train, y_train, X_calibration=X_cal, y_calibration=y_cal
    )


def test_calibrated_probabilities_match_the_known_truth(churn_model: ProbabilityModel):
    X_test = features(20000, 3)
    truth = true_churn_probability(X_test)
    predicted = churn_model.predict_proba(X_test)[:, 1]
    bins = np.digitize(predicted, np.linspace(0.1, 0.9, 9))
    for bin_id in np.unique(bins):
        in_bin = bins == bin_id
        if in_bin.sum() >= 200:
            assert abs(predicted[in_bin].mean() - truth[in_bin].mean()) < 0.03, bin_id
    expected_calibration_error = sum(
        (bins == b).mean() * abs(predicted[bins == b].mean() - truth[bins == b].mean())
        for b in np.unique(bins)
    )
    assert expected_calibration_error < 0.02
    assert np.mean(np.abs(predicted - truth)) < 0.06


def test_probability_is_a_monotone_map_of_the_raw_margin(churn_model: ProbabilityModel):
    X = features(500, 4)
    raw = churn_model.booster_.predict(X, raw_score=True)
    probability = churn_model.predict_proba(X)
    np.testing.assert_allclose(probability.sum(axis=1), 1.0)
    np.testing.assert_array_equal(probability[:, 1], churn_model.scorer_.calibrated_from_raw(raw))
    via_sklearn = churn_model.calibrator_.predict_proba(raw.reshape(-1, 1))[:, 1]
    np.testing.assert_allclose(probability[:, 1], via_sklearn, rtol=0, atol=1e-12)
    order = np.argsort(raw)
    assert (np.diff(probability[order, 1]) >= 0).all()
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(churn_model)).predict_proba(X), probability)
    assert churn_model.lgbm_params_.get("monotone_constraints") is None  # none asked for


def test_the_sigmoid_applies_exactly_what_scikit_learn_fitted(churn_model: ProbabilityModel):
    raw = churn_model.booster_.predict(features(500, 6), raw_score=True)
    sigmoid = churn_model.calibrator_.calibrated_classifiers_[0].calibrators[0]
    np.testing.assert_allclose(churn_model.scorer_.calibrated_from_raw(raw), sigmoid.predict(raw), atol=1e-15)
    # strictly increasing: customers the booster tells apart keep different probabilities
    assert len(np.unique(churn_model.probability(features(500, 6)))) == len(np.unique(raw))


def test_monotone_constraints_hold_for_every_customer_not_only_on_average() -> None:
    X_train, y_train = churn_sample(3000, 51)
    X_cal, y_cal = churn_sample(3000, 52)
    model = ProbabilityModel(
        monotone_increasing=("days_since_last_order",), monotone_decreasing=("orders_last_365_days",)
    ).fit(X_train, y_train, X_calibration=X_cal, y_calibration=y_cal)
    assert model.lgbm_params_["monotone_constraints"] == [1, -1, 0, 0]
    customers = features(200, 53)
    for column, sign in (("days_since_last_order", 1), ("orders_last_365_days", -1)):
        grid = np.linspace(0.0, 1.0, 11)
        curves = np.column_stack([model.probability(customers.assign(**{column: value})) for value in grid])
        assert (sign * np.diff(curves, axis=1) >= -1e-12).all(), column
    with pytest.raises(ValueError, match="lacks"):
        ProbabilityModel(monotone_increasing=("tenure",)).fit(
            X_train, y_train, X_calibration=X_cal, y_calibration=y_cal
        )


def test_fast_matrix_path_matches_lightgbm_pandas_conversion(churn_model: ProbabilityModel):
    X = features(500, 7)
    reordered = X.assign(profile_region=X["profile_region"].cat.reorder_categories(REGIONS[::-1]))
    assert isinstance(booster_input(churn_model.booster_, X), np.ndarray)
    assert booster_input(churn_model.booster_, reordered) is reordered  # LightGBM remaps it itself
    expected = churn_model.booster_.predict(X, raw_score=True)
    np.testing.assert_array_equal(churn_model.scorer_.raw_margin(X), expected)
    np.testing.assert_array_equal(churn_model.scorer_.raw_margin(reordered), expected)


def test_churn_contributions_sum_to_probability_minus_base(churn_model: ProbabilityModel):
    X = features(300, 5)
    base, contributions = churn_model.contributions(X)
    assert contributions.shape == (300, 4)
    np.testing.assert_allclose(
        base + contributions.sum(axis=1), churn_model.predict_proba(X)[:, 1], atol=1e-9
    )
    # recency raises churn risk: its contribution grows with days since the last order
    recency_effect = np.corrcoef(X["days_since_last_order"], contributions[:, 0])[0, 1]
    assert recency_effect > 0.8


def test_calibration_fold_without_enough_churners_is_refused():
    X, y = churn_sample(300, 6)
    y_cal = np.zeros(300, dtype=int)
    y_cal[:5] = 1
    with pytest.raises(CalibrationDataError, match="5 positives and 295 negatives"):
        ProbabilityModel().fit(X, y, X_calibration=X, y_calibration=y_cal)
    with pytest.raises(ValueError, match="1 missing labels"):
        ProbabilityModel().fit(X, np.where(np.arange(300) == 7, np.nan, y), X_calibration=X, y_calibration=y)


def spend_sample(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    X = features(n, seed)
    rng = np.random.default_rng(seed + 200)
    buys = rng.uniform(size=n) < 1.0 - 0.8 * X["days_since_last_order"].to_numpy()
    mean_spend = 50.0 * np.exp(1.5 * X["orders_last_365_days"].to_numpy())
    spend = rng.gamma(2.0, mean_spend / 2.0)
    refunds = rng.uniform(size=n) < 0.03  # net refunders: negative targets, clipped to 0
    return X, np.where(refunds, -20.0, np.where(buys, spend, 0.0))


@pytest.fixture(scope="module")
def value_selection():
    X_train, y_train = spend_sample(2500, 11)
    X_cal, y_cal = spend_sample(2500, 12)
    return select_value_model(
        X_train, y_train, X_calibration=X_cal, y_calibration=y_cal, variance_powers=(1.2, 1.8), n_jobs=1
    )


def test_value_selection_is_deterministic(value_selection):
    X_train, y_train = spend_sample(2500, 11)
    X_cal, y_cal = spend_sample(2500, 12)
    again, comparison = select_value_model(
        X_train, y_train, X_calibration=X_cal, y_calibration=y_cal, variance_powers=(1.2, 1.8)
    )
    model, first_comparison = value_selection
    assert comparison == first_comparison
    assert set(comparison["candidates"]) == {"tweedie_1.2", "tweedie_1.8", "two_part"}
    assert comparison["selected"] == model.name == again.name
    X_test, _ = spend_sample(200, 13)
    np.testing.assert_array_equal(model.predict(X_test), again.predict(X_test))


def test_selected_model_follows_the_rule_and_ranks_customers(value_selection):
    model, comparison = value_selection
    assert comparison["selected"] == choose_candidate(comparison["candidates"])
    assert comparison["candidates"][model.name]["normalized_gini"] > 0.3


@pytest.mark.parametrize("model_class", [TweedieValueModel, TwoPartValueModel])
def test_value_predictions_are_non_negative_and_contributions_add_up(model_class):
    X_train, y_train = spend_sample(1500, 21)
    X_cal, y_cal = spend_sample(1500, 22)
    model = model_class(n_jobs=1).fit(X_train, y_train, X_calibration=X_cal, y_calibration=y_cal)
    X_test, _ = spend_sample(300, 23)
    predicted = model.predict(X_test)
    assert (predicted >= 0).all()
    base, contributions = model.contributions(X_test)
    assert base > 0
    np.testing.assert_allclose(base + contributions.sum(axis=1), predicted, rtol=1e-9)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X_test), predicted)
    # more orders last year means a bigger basket: positive currency contribution
    assert np.corrcoef(X_test["orders_last_365_days"], contributions[:, 1])[0, 1] > 0.5


def test_two_part_needs_buyers_and_selection_skips_it_with_the_reason():
    X, _ = spend_sample(400, 31)
    y = np.zeros(400)
    y[:10] = 100.0
    with pytest.raises(InsufficientBuyersError, match="10 customers with positive spend"):
        TwoPartValueModel().fit(X, y, X_calibration=X, y_calibration=y)
    model, comparison = select_value_model(X, y, X_calibration=X, y_calibration=y, variance_powers=(1.5,))
    assert model.name == "tweedie_1.5"
    assert "at least 20" in comparison["candidates"]["two_part"]["skipped"]


def test_candidate_choice_uses_gini_then_mae_within_tolerance():
    scores = {
        "tweedie_1.2": {"normalized_gini": 0.500, "mae": 10.0},
        "tweedie_1.5": {"normalized_gini": 0.497, "mae": 8.0},
        "two_part": {"normalized_gini": 0.400, "mae": 1.0},
        "tweedie_1.8": {"skipped": "no buyers"},
    }
    assert choose_candidate(scores) == "tweedie_1.5"
    scores["tweedie_1.5"]["normalized_gini"] = 0.494
    assert choose_candidate(scores) == "tweedie_1.2"
    scores["tweedie_1.5"] = {"normalized_gini": 0.500, "mae": 10.0}
    assert choose_candidate(scores) == "tweedie_1.2"  # full tie: first in candidate order


@pytest.mark.parametrize("estimator", [ProbabilityModel(), TweedieValueModel(), TwoPartValueModel()])
def test_unfitted_estimators_say_so_as_scikit_learn_does(estimator) -> None:
    with pytest.raises(NotFittedError):
        estimator.predict(features(3, 0))


@pytest.mark.parametrize(
    "estimator",
    [
        ProbabilityModel(n_jobs=0),
        ProbabilityModel(lgbm_params=[1]),
        TweedieValueModel(variance_power=2.5),
        TwoPartValueModel(random_state=-1),
    ],
)
def test_bad_parameters_are_refused_when_fitting(estimator) -> None:
    X, y = churn_sample(300, 8)
    with pytest.raises(InvalidParameterError):
        estimator.fit(X, y, X_calibration=X, y_calibration=y)


def test_lightgbm_defaults_can_be_overridden_and_are_recorded():
    X_train, y_train = churn_sample(1500, 41)
    X_cal, y_cal = churn_sample(1500, 42)

    model = ProbabilityModel(lgbm_params={"num_leaves": 7, "learning_rate": 0.3}).fit(
        X_train, y_train, X_calibration=X_cal, y_calibration=y_cal
    )

    assert model.lgbm_params_ == {
        **DEFAULT_LIGHTGBM_PARAMS,
        "random_state": 0,
        "n_jobs": 1,
        "num_leaves": 7,
        "learning_rate": 0.3,
    }
    assert model.classifier_.get_params()["num_leaves"] == 7
    assert model.get_params()["lgbm_params"] == {"num_leaves": 7, "learning_rate": 0.3}


def test_a_small_training_table_boosts_at_the_small_table_rate_and_a_large_one_at_the_default():
    assert (
        lightgbm_params(0, 1, training_rows=SMALL_TABLE_ROWS - 1)["learning_rate"]
        == SMALL_TABLE_LEARNING_RATE
    )
    assert (
        lightgbm_params(0, 1, training_rows=SMALL_TABLE_ROWS)["learning_rate"]
        == DEFAULT_LIGHTGBM_PARAMS["learning_rate"]
    )
    assert lightgbm_params(0, 1)["learning_rate"] == DEFAULT_LIGHTGBM_PARAMS["learning_rate"]
    overridden = lightgbm_params(0, 1, {"learning_rate": 0.3}, training_rows=10)
    assert overridden["learning_rate"] == 0.3


def test_the_rate_a_model_boosted_at_is_recorded_with_it():
    X_train, y_train = churn_sample(1500, 41)
    X_cal, y_cal = churn_sample(1500, 42)

    model = ProbabilityModel().fit(X_train, y_train, X_calibration=X_cal, y_calibration=y_cal)

    assert model.lgbm_params_["learning_rate"] == SMALL_TABLE_LEARNING_RATE
    assert model.classifier_.get_params()["learning_rate"] == SMALL_TABLE_LEARNING_RATE
