"""Behavioural tests of the trained pair (Made-With-ML's tests/model): what must not matter changes nothing.

Invariance: a customer's id, the order in which their events arrive and an attribute the models never
saw do not change any number, reason or action.
"""

from __future__ import annotations

import pytest
from support.trained import TrainedModels, busiest_customer, request_for

from serving.schemas import Prediction, PredictRequest


@pytest.fixture(scope="module")
def request_(trained: TrainedModels) -> PredictRequest:
    return request_for(trained.raw, busiest_customer(trained))


def _without_id(prediction: Prediction) -> dict[str, object]:
    return prediction.model_dump(exclude={"customer_id"})


def test_the_customer_id_changes_nothing(trained: TrainedModels, request_: PredictRequest) -> None:
    renamed = request_.model_copy(
        update={"customer": request_.customer.model_copy(update={"customer_id": "someone-else-9"})}
    )

    [original], [other] = trained.engine.predict([request_], "en"), trained.engine.predict([renamed], "en")

    assert other.customer_id == "someone-else-9"
    assert _without_id(other) == _without_id(original)


def test_the_order_events_arrive_in_changes_nothing(trained: TrainedModels, request_: PredictRequest) -> None:
    shuffled = request_.model_copy(
        update={
            "transactions": list(reversed(request_.transactions)),
            "interactions": list(reversed(request_.interactions)),
        }
    )

    assert trained.engine.predict([shuffled], "en") == trained.engine.predict([request_], "en")


def test_an_attribute_the_models_never_saw_changes_nothing(
    trained: TrainedModels, request_: PredictRequest
) -> None:
    attributes = {**request_.customer.attributes, "favourite_colour": "teal"}
    extended = request_.model_copy(
        update={"customer": request_.customer.model_copy(update={"attributes": attributes})}
    )

    assert trained.engine.predict([extended], "zh") == trained.engine.predict([request_], "zh")
