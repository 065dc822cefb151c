"""No request fails another, and every well-formed body gets a prediction or a 422 naming the field.

On the trained pair (the session fixture `trained`): each case below was a 500 for the whole
micro-batch, or a silently wrong answer, before the fixes of issue 12.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from support.trained import AS_OF, TrainedModels, busiest_customer, real_service, request_for

from domain.errors import PredictionInputError
from features.build import LABEL_COLUMNS, build_features
from features.definitions import FEATURES
from serving.app import create_app
from serving.microbatch import MicroBatcher
from serving.predictor import Predictor
from serving.schemas import Prediction, PredictRequest
from serving.settings import Settings

API_KEY = "isolation-key-41c7"
AUTH = {"X-API-Key": API_KEY}


@pytest.fixture(scope="module")
def client(trained: TrainedModels, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = real_service(trained, tmp_path_factory.mktemp("isolation"), API_KEY)
    with TestClient(app) as client:
        app.state.initial_load.join(timeout=30)
        yield client


def first_day_body(customer_id: str = "NEW-1") -> dict[str, Any]:
    """A customer scored on the day they signed up, before any event: a normal call from a CRM."""
    return {
        "customer": {"customer_id": customer_id, "signup_date": "2025-07-01"},
        "transactions": [],
        "interactions": [],
        "as_of": "2025-07-01",
    }


def known_body(trained: TrainedModels, customer_id: str | None = None) -> dict[str, Any]:
    chosen = customer_id or busiest_customer(trained)
    body: dict[str, Any] = request_for(trained.raw, chosen).model_dump(mode="json")
    return body


def test_a_customer_scored_on_their_signup_day_is_a_prospect(client: TestClient) -> None:
    response = client.post("/v1/predict", json=first_day_body(), headers=AUTH)

    assert response.status_code == 200, response.text
    body = response.json()
    identity = (body["customer_id"], body["population"], body["lifecycle_stage"])
    assert identity == ("NEW-1", "prospect", "prospect")
    assert 0.0 <= body["conversion_probability"] <= 1.0
    active_only = (body["churn_probability"], body["reactivation_probability"], body["value_at_risk"])
    assert active_only == (None, None, None)


def test_the_signup_day_customer_in_a_batch_leaves_the_others_their_answers(
    trained: TrainedModels, client: TestClient
) -> None:
    known = known_body(trained)
    alone = client.post("/v1/predict", json=known, headers=AUTH).json()

    response = client.post(
        "/v1/predict/batch", json={"customers": [known, first_day_body(), known]}, headers=AUTH
    )

    assert response.status_code == 200, response.text
    first, new, last = response.json()["predictions"]
    assert first == last == alone
    assert (new["customer_id"], new["population"]) == ("NEW-1", "prospect")


def test_a_micro_batch_with_a_signup_day_customer_answers_everyone(trained: TrainedModels) -> None:
    """Queued together, as concurrent POST /v1/predict calls are: each gets its own prediction."""
    batcher = MicroBatcher(lambda: trained.engine)
    ids = build_features(trained.raw, AS_OF)["customer_id"].to_list()[:3]
    requests = [request_for(trained.raw, ids[0]), PredictRequest.model_validate(first_day_body())]
    requests += [request_for(trained.raw, customer_id) for customer_id in ids[1:]]

    async def together() -> list[Prediction | BaseException]:
        return await asyncio.gather(*(batcher.predict(r, "en") for r in requests), return_exceptions=True)

    answers = asyncio.run(together())

    assert [type(answer).__name__ for answer in answers] == ["Prediction"] * 4
    assert [answer.customer_id for answer in answers] == [ids[0], "NEW-1", *ids[1:]]  # type: ignore[union-attr]
    alone = [trained.engine.predict([request], "en")[0] for request in requests]
    assert answers == alone


@pytest.mark.parametrize(
    ("path", "value", "loc"),
    [
        (("as_of",), "9999-12-31", ["body", "as_of"]),
        (("as_of",), "0001-01-01T00:00:00+01:00", ["body", "as_of"]),
        (("customer", "signup_date"), "9999-12-31", ["body", "customer", "signup_date"]),
        (("transactions", 0, "timestamp"), "1066-10-14", ["body", "transactions", 0, "timestamp"]),
        (("transactions", 0, "amount"), 1e32, ["body", "transactions", 0, "amount"]),
        (("transactions", 0, "amount"), -1e13, ["body", "transactions", 0, "amount"]),
        (("transactions", 0, "quantity"), 1e300, ["body", "transactions", 0, "quantity"]),
        (("interactions", 0, "value"), 1e32, ["body", "interactions", 0, "value"]),
    ],
)
def test_values_beyond_the_documented_limits_are_a_422_naming_the_field(
    trained: TrainedModels, client: TestClient, path: tuple[str | int, ...], value: object, loc: list[object]
) -> None:
    body = known_body(trained)
    body["transactions"][0]["quantity"] = 1.0
    body["interactions"] = [{"timestamp": "2025-01-02T00:00:00", "type": "survey", "value": 4.0}]
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value

    response = client.post("/v1/predict", json=body, headers=AUTH)

    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [loc]


RESERVED = [
    "customer_id",
    "signup_date",
    "as_of",
    "orders_365d",
    "tenure_days",
    "_signup_age_days",
    *LABEL_COLUMNS,
]


@pytest.mark.parametrize("name", RESERVED)
def test_an_attribute_named_like_a_reserved_column_is_a_422_naming_it(
    trained: TrainedModels, client: TestClient, name: str
) -> None:
    body = known_body(trained)
    body["customer"]["attributes"] = {**body["customer"]["attributes"], name: "C-other"}

    single = client.post("/v1/predict", json=body, headers=AUTH)
    batch = client.post("/v1/predict/batch", json={"customers": [known_body(trained), body]}, headers=AUTH)

    assert single.status_code == batch.status_code == 422, (single.text, batch.text)
    assert single.json()["detail"][0]["loc"] == ["body", "customer", "attributes"]
    assert batch.json()["detail"][0]["loc"] == ["body", "customers", 1, "customer", "attributes"]
    assert repr(name) in single.json()["detail"][0]["msg"]


def test_every_feature_and_label_name_is_reserved() -> None:
    from features.contract import reserved_attribute_names

    keys = {"customer_id", "signup_date", "as_of"}
    assert {spec.name for spec in FEATURES} | set(LABEL_COLUMNS) | keys <= reserved_attribute_names()


def test_a_first_event_at_as_of_with_a_later_signup_is_refused_not_dropped(client: TestClient) -> None:
    """The customer would not exist yet at as_of (signed up later, nothing strictly before it)."""
    body = {
        "customer": {"customer_id": "EDGE", "signup_date": "2025-07-02"},
        "transactions": [{"timestamp": "2025-07-01T00:00:00", "amount": 10.0}],
        "as_of": "2025-07-01T00:00:00",
    }

    response = client.post("/v1/predict", json=body, headers=AUTH)

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "as_of"]


def test_a_repeated_transaction_id_is_a_422_naming_the_repeat(
    trained: TrainedModels, client: TestClient
) -> None:
    body = known_body(trained)
    body["transactions"][0]["transaction_id"] = "T-1"
    body["transactions"][1]["transaction_id"] = "T-1"

    response = client.post("/v1/predict", json=body, headers=AUTH)

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "transactions", 1, "transaction_id"]


def test_attributes_named_customer_id_or_signup_date_cannot_swap_or_rewrite_batched_profiles(
    trained: TrainedModels, client: TestClient
) -> None:
    """The issue's cases: `attributes.customer_id` naming another position of the batch took that
    customer's key, and `attributes.signup_date` turned a customer with six orders into a tier-D
    prospect with status 200. Both are now a 422 at the attribute, and the profile scores as it should."""
    features = build_features(trained.raw, AS_OF)
    frequent = str(features.sort(["orders_365d", "customer_id"], descending=[True, False])["customer_id"][0])
    others = [str(customer_id) for customer_id in features["customer_id"][:2]]
    swapping = known_body(trained, others[1])
    swapping["customer"]["attributes"] = {**swapping["customer"]["attributes"], "customer_id": "0"}
    rewriting = known_body(trained, frequent)
    rewriting["customer"]["attributes"] = {**rewriting["customer"]["attributes"], "signup_date": "2025-06-30"}

    refused = client.post(
        "/v1/predict/batch",
        json={"customers": [known_body(trained, others[0]), swapping, rewriting]},
        headers=AUTH,
    )

    assert refused.status_code == 422, refused.text
    assert [error["loc"] for error in refused.json()["detail"]] == [
        ["body", "customers", 1, "customer", "attributes"],
        ["body", "customers", 2, "customer", "attributes"],
    ]
    alone = client.post("/v1/predict", json=known_body(trained, frequent), headers=AUTH).json()
    batch = client.post(
        "/v1/predict/batch",
        json={"customers": [known_body(trained, others[0]), known_body(trained, frequent)]},
        headers=AUTH,
    ).json()
    assert batch["predictions"][1] == alone
    assert (alone["population"], alone["tier"] != "D") == ("active", True)


def test_the_as_of_default_is_now_and_inside_the_limits(client: TestClient) -> None:
    body = first_day_body()
    del body["as_of"]

    response = client.post("/v1/predict", json=body, headers=AUTH)

    assert response.status_code == 200, response.text
    assert datetime.fromisoformat(response.json()["as_of"]).year >= 2025


# --- a request that cannot be scored fails alone ----------------------------------------------------

BROKEN = "BROKEN-7"


class FailingFor:
    """The real engine, except that any call holding customer `BROKEN` fails in the way chosen.

    `raise` raises what a bug deep in the feature code would (a polars error), `drop` returns one
    prediction too few (what the engine did for a customer missing from the feature population) and
    `refuse` raises `PredictionInputError`, the engine's word for a request it cannot score.
    """

    def __init__(self, engine: Predictor, how: str) -> None:
        self.engine, self.how, self.calls = engine, how, 0

    def predict(self, requests: Sequence[PredictRequest], lang: str) -> list[Prediction]:
        self.calls += 1
        broken = [r.customer.customer_id == BROKEN for r in requests]
        if any(broken) and self.how == "raise":
            raise pl.exceptions.InvalidOperationError("conversion from `str` to `i64` failed")
        if any(broken) and self.how == "refuse":
            raise PredictionInputError(f"customer {BROKEN!r} cannot be scored")
        kept = [request for request, is_broken in zip(requests, broken, strict=True) if not is_broken]
        return self.engine.predict(kept, lang)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)


def broken_request(trained: TrainedModels) -> PredictRequest:
    body = known_body(trained)
    body["customer"]["customer_id"] = BROKEN
    return PredictRequest.model_validate(body)


@pytest.mark.parametrize("how", ["raise", "drop", "refuse"])
def test_a_request_the_engine_cannot_score_fails_alone_in_its_micro_batch(
    trained: TrainedModels, how: str
) -> None:
    engine = FailingFor(trained.engine, how)
    batcher = MicroBatcher(lambda: engine)
    ids = build_features(trained.raw, AS_OF)["customer_id"].to_list()[:3]
    requests = [request_for(trained.raw, ids[0]), broken_request(trained)]
    requests += [request_for(trained.raw, customer_id) for customer_id in ids[1:]]

    async def together() -> list[Prediction | BaseException]:
        return await asyncio.gather(*(batcher.predict(r, "en") for r in requests), return_exceptions=True)

    answers = asyncio.run(together())

    expected_error = {
        "raise": "InvalidOperationError",
        "drop": "RuntimeError",
        "refuse": "PredictionInputError",
    }
    assert [type(answer).__name__ for answer in answers] == [
        "Prediction",
        expected_error[how],
        *["Prediction"] * 2,
    ]
    alone = [trained.engine.predict([request], "en")[0] for request in requests if request is not requests[1]]
    assert [answer for answer in answers if isinstance(answer, Prediction)] == alone


@pytest.mark.parametrize(("how", "status"), [("refuse", 422), ("drop", 500)])
def test_a_batch_with_a_customer_that_cannot_be_scored_names_it_and_only_it(
    trained: TrainedModels, tmp_path: Path, how: str, status: int
) -> None:
    """The batch is one answer: a 422 naming the customer the engine refused (a 500 for a bug), after
    every other customer was scored alone."""
    engine = FailingFor(trained.engine, how)
    settings = Settings(
        api_keys=[SecretStr(API_KEY)],
        api_key_file=None,
        mlflow_tracking_uri=trained.tracking_uri,
        snapshot_path=tmp_path / "scores.parquet",
        database_url=SecretStr(f"sqlite:///{tmp_path / 'clvchurn.db'}"),
        reload_interval_s=0,
    )
    app = create_app(settings, engine_loader=lambda _settings: engine)  # type: ignore[arg-type,return-value]
    customers = [known_body(trained), broken_request(trained).model_dump(mode="json"), known_body(trained)]
    with TestClient(app, raise_server_exceptions=False) as client:
        app.state.initial_load.join(timeout=30)
        response = client.post("/v1/predict/batch", json={"customers": customers}, headers=AUTH)

    assert response.status_code == status, response.text
    assert engine.calls == 4  # together, then each of the three alone
    if status == 422:
        assert response.json()["detail"] == [
            {
                "loc": ["body", "customers", 1],
                "msg": f"customer {BROKEN!r} cannot be scored",
                "type": "unscorable",
            }
        ]
