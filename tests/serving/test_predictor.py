"""The prediction engine on real trained models: batches, cutoffs, populations, languages, attributes."""

from __future__ import annotations

import re

import pytest
from support.trained import AS_OF, TrainedModels, busiest_customer, request_for

from domain.errors import PredictionInputError
from serving.schemas import Prediction, PredictRequest

CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def models(trained: TrainedModels) -> TrainedModels:
    return trained


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
    assert (prediction.population, prediction.lifecycle_stage) == ("prospect", "prospect")
    assert prediction.conversion_probability is not None and 0.0 <= prediction.conversion_probability <= 1.0
    # no probability for a model that never saw prospects, and nothing at risk for a non-customer
    assert (prediction.churn_probability, prediction.churn_risk, prediction.reactivation_probability) == (
        None,
        None,
        None,
    )
    assert (prediction.value_if_retained, prediction.value_at_risk) == (None, None)
    assert prediction.explanations.churn == prediction.explanations.reactivation == []


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
