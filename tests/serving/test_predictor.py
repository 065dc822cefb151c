"""The prediction engine on real trained models, and the model matrix it builds for LightGBM."""

from __future__ import annotations

import re

import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl
import pytest
from trained_models import AS_OF, TrainedModels, request_for, trained_models

from domain.errors import PredictionInputError
from serving.explain import top_risk_driver
from serving.predictor import _top_contributions, _top_risk_drivers
from serving.schemas import Prediction, PredictRequest
from training.dataset import to_model_frame
from training.models.boosting import booster_input, categories_match, model_matrix

CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> TrainedModels:
    return trained_models(tmp_path_factory)


def busiest_customer(models: TrainedModels) -> str:
    before = models.raw.transactions.filter(pl.col("timestamp") < AS_OF)
    counts = before.group_by("customer_id").len().sort(["len", "customer_id"], descending=[True, False])
    return str(counts["customer_id"][0])


def test_duplicate_customer_ids_in_one_batch_are_scored_independently(models: TrainedModels) -> None:
    full = request_for(models.raw, busiest_customer(models))
    early = full.model_copy(update={"transactions": full.transactions[:3], "interactions": []})

    together = models.engine.predict([full, early, full], "en")

    assert together[0] == models.engine.predict([full], "en")[0]
    assert together[1] == models.engine.predict([early], "en")[0]
    assert together[2] == together[0]
    # Different histories under one id get different predictions (value and tier; with a small test
    # base both histories can reach the calibration's ceiling, so churn may tie).
    assert together[0].predicted_value != together[1].predicted_value
    assert {p.customer_id for p in together} == {full.customer.customer_id}


def test_requests_with_different_cutoffs_come_back_in_request_order(models: TrainedModels) -> None:
    full = request_for(models.raw, busiest_customer(models))
    later = full.model_copy(update={"as_of": AS_OF.replace(year=2025, month=9)})

    mixed = models.engine.predict([later, full, later], "en")

    assert [p.as_of for p in mixed] == [later.as_of, AS_OF, later.as_of]
    assert mixed[1] == models.engine.predict([full], "en")[0]


def test_a_prospect_without_events_is_scored(models: TrainedModels) -> None:
    prospect = PredictRequest.model_validate({"customer": {"customer_id": "P-1"}, "as_of": AS_OF})

    [prediction] = models.engine.predict([prospect], "en")

    assert prediction.customer_id == "P-1"
    assert prediction.lifecycle_stage == "prospect"
    assert 0.0 <= prediction.churn_probability <= 1.0
    assert prediction.value_at_risk == prediction.churn_probability * prediction.predicted_value.amount


def test_a_customer_with_only_refunds_is_scored_as_a_prospect(models: TrainedModels) -> None:
    refunder = PredictRequest.model_validate(
        {
            "customer": {"customer_id": "R-1", "signup_date": "2024-01-01"},
            "transactions": [
                {"timestamp": "2024-02-01T10:00:00", "amount": -40.0},
                {"timestamp": "2024-03-01T10:00:00", "amount": -15.5, "quantity": 1},
            ],
            "as_of": AS_OF,
        }
    )

    [prediction] = models.engine.predict([refunder], "en")

    assert prediction.lifecycle_stage == "prospect"
    assert Prediction.model_validate(prediction.model_dump()) == prediction


def test_chinese_reasons_and_actions_are_in_chinese(models: TrainedModels) -> None:
    request = request_for(models.raw, busiest_customer(models))

    [english] = models.engine.predict([request], "en")
    [chinese] = models.engine.predict([request], "zh")

    reasons = chinese.explanations.churn + chinese.explanations.value
    assert reasons
    assert all(CHINESE.search(reason.sentence) for reason in reasons)
    assert CHINESE.search(chinese.recommended_action.title)
    assert not CHINESE.search(" ".join(reason.sentence for reason in english.explanations.churn))
    assert chinese.churn_probability == english.churn_probability
    assert [r.contribution for r in chinese.explanations.churn] == [
        r.contribution for r in english.explanations.churn
    ]


def test_a_customer_without_attributes_scores_like_one_with_unseen_attributes(models: TrainedModels) -> None:
    request = request_for(models.raw, busiest_customer(models))
    unknown = {name: "never-seen" for name in request.customer.attributes}
    without = request.model_copy(update={"customer": request.customer.model_copy(update={"attributes": {}})})
    unseen = request.model_copy(
        update={"customer": request.customer.model_copy(update={"attributes": unknown})}
    )

    [bare], [odd] = models.engine.predict([without], "en"), models.engine.predict([unseen], "en")

    assert unknown
    assert bare.churn_probability == odd.churn_probability
    assert bare.predicted_value == odd.predicted_value


# --- The model matrix: what `model_matrix` builds from polars equals LightGBM's own pandas input ----

LEVELS = {"profile_region": ["asia", "europe"]}
NAMES = ["orders_90d", "profile_region", "net_spend_365d"]


def tiny_booster() -> lgb.Booster:
    """Six hand-made rows; region decides the target, so the trees split on the categorical."""
    training = pl.DataFrame(
        {
            "orders_90d": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] * 5,
            "profile_region": ["asia", "europe", "asia", "europe", "asia", None] * 5,
            "net_spend_365d": [10.0, 0.0, 30.0, None, 50.0, 60.0] * 5,
        }
    )
    frame = to_model_frame(training, NAMES, LEVELS)
    target = np.array([1.0, 5.0, 1.5, 6.0, 2.0, 3.0] * 5)
    params = {"min_data_in_leaf": 1, "min_data_in_bin": 1, "verbose": -1, "num_threads": 1}
    return lgb.train(params, lgb.Dataset(frame, target), num_boost_round=5)


def test_model_matrix_holds_floats_and_category_positions() -> None:
    table = pl.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "net_spend_365d": [12.5, None, 0.0, -3.0],
            "profile_region": ["europe", "asia", "mars", None],
            "orders_90d": [1.0, 2.0, None, 0.0],
        }
    )

    matrix = model_matrix(table, NAMES, LEVELS)

    expected = np.array([[1.0, 1.0, 12.5], [2.0, 0.0, np.nan], [np.nan, np.nan, 0.0], [0.0, np.nan, -3.0]])
    assert matrix.dtype == np.float64
    assert np.array_equal(matrix, expected, equal_nan=True)


def test_model_matrix_casts_other_numeric_types_and_leaves_an_absent_attribute_missing() -> None:
    table = pl.DataFrame(
        {
            "orders_90d": pl.Series([1, None, 3], dtype=pl.Int64),
            "net_spend_365d": pl.Series([True, False, None], dtype=pl.Boolean),
        }
    )

    matrix = model_matrix(table, NAMES, LEVELS)

    expected = np.array([[1.0, np.nan, 1.0], [np.nan, np.nan, 0.0], [3.0, np.nan, np.nan]])
    assert np.array_equal(matrix, expected, equal_nan=True)
    with pytest.raises(pl.exceptions.ColumnNotFoundError):
        model_matrix(table.drop("orders_90d"), NAMES, LEVELS)


def test_model_matrix_equals_lightgbms_input_and_predictions() -> None:
    booster = tiny_booster()
    table = pl.DataFrame(
        {
            "orders_90d": [0.0, 3.0, None, 5.0],
            "profile_region": ["asia", "europe", "mars", None],
            "net_spend_365d": [10.0, None, 30.0, 60.0],
        }
    )
    frame = to_model_frame(table, NAMES, LEVELS)
    matrix = model_matrix(table, NAMES, LEVELS)

    assert categories_match(booster, list(LEVELS.values()))
    assert np.array_equal(matrix, booster_input(booster, frame), equal_nan=True)
    assert np.array_equal(booster.predict(matrix), booster.predict(frame))
    assert np.array_equal(
        booster.predict(matrix, pred_contrib=True), booster.predict(frame, pred_contrib=True)
    )
    assert len(np.unique(np.asarray(booster.predict(matrix)))) > 1


def test_categories_match_only_the_training_levels_in_order() -> None:
    booster = tiny_booster()

    assert not categories_match(booster, [["europe", "asia"]])
    assert not categories_match(booster, [])
    assert booster_input(booster, pd.DataFrame({"x": [1.0]})).shape == (1, 1)


def test_a_transaction_id_repeated_inside_one_history_is_refused_alone_and_in_a_batch(
    models: TrainedModels,
) -> None:
    repeated = PredictRequest.model_validate(
        {
            "customer": {"customer_id": "D-1"},
            "transactions": [
                {"timestamp": "2024-02-01T10:00:00", "amount": 40.0, "transaction_id": "T-9"},
                {"timestamp": "2024-03-01T10:00:00", "amount": 15.5, "transaction_id": "T-9"},
            ],
            "as_of": AS_OF,
        }
    )
    fine = repeated.model_copy(update={"transactions": repeated.transactions[:1]})

    with pytest.raises(PredictionInputError, match="T-9"):
        models.engine.predict([repeated], "en")
    with pytest.raises(PredictionInputError, match="1/T-9"):
        models.engine.predict([fine, repeated], "en")
    assert len(models.engine.predict([fine, fine], "en")) == 2


CONTRIBUTIONS = np.array(
    [
        [0.1, -0.3, 0.3, 0.0],
        [0.0, 0.0, 0.2, 0.0],
        [np.nan, 0.5, 0.1, -0.2],
        [0.2, 0.2, -0.1, 0.05],
    ]
)
CONTRIBUTION_NAMES = ["a", "b", "c", "d"]


def test_reasons_are_ranked_once_per_matrix_as_the_reason_coder_ranks_them() -> None:
    top = _top_contributions(CONTRIBUTIONS, CONTRIBUTION_NAMES)

    assert [list(row.items()) for row in (top[0], top[1], top[3])] == [
        [("b", -0.3), ("c", 0.3), ("a", 0.1)],
        [("c", 0.2)],
        [("a", 0.2), ("b", 0.2), ("c", -0.1)],
    ]
    assert list(top[2]) == ["a", "b", "c", "d"]


def test_top_risk_drivers_match_the_reason_coder_on_ties_zeros_and_nans() -> None:
    drivers = _top_risk_drivers(CONTRIBUTIONS, CONTRIBUTION_NAMES)
    negative = _top_risk_drivers(-np.abs(CONTRIBUTIONS[:2]), CONTRIBUTION_NAMES)

    assert drivers[0] == "c" and drivers[1] == "c" and drivers[3] == "b"
    assert drivers[2] == top_risk_driver(
        dict(zip(CONTRIBUTION_NAMES, CONTRIBUTIONS[2].tolist(), strict=True))
    )
    assert negative == [None, None]
