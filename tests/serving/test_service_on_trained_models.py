"""The whole service on the trained pair: what POST /v1/predict answers is what GET /v1/customers serves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from support.trained import AS_OF, TrainedModels, real_service, request_for

from domain.vocabulary import MODEL_NAMES
from features.build import build_features

API_KEY = "real-service-key-5e2a"
AUTH = {"X-API-Key": API_KEY}
CUSTOMERS = 12


@pytest.fixture(scope="module")
def client(trained: TrainedModels, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = real_service(trained, tmp_path_factory.mktemp("service"), API_KEY)
    with TestClient(app) as client:
        app.state.initial_load.join(timeout=30)
        yield client


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_snapshot_answers_what_the_online_endpoint_answers(
    trained: TrainedModels, client: TestClient, lang: str
) -> None:
    ids = build_features(trained.raw, AS_OF)["customer_id"].to_list()
    step = len(ids) // CUSTOMERS
    for customer_id in ids[::step][:CUSTOMERS]:
        body = request_for(trained.raw, customer_id).model_dump(mode="json")
        online = client.post(f"/v1/predict?lang={lang}", json=body, headers=AUTH)
        stored = client.get(f"/v1/customers/{customer_id}", headers={**AUTH, "Accept-Language": lang})
        assert online.status_code == stored.status_code == 200, (online.text, stored.text)
        assert online.json() == stored.json(), customer_id


def test_the_models_route_shows_the_pair_in_service(trained: TrainedModels, client: TestClient) -> None:
    body = client.get("/v1/models", headers=AUTH).json()

    loaded = trained.engine.loaded
    assert (body["name"], body["version"], body["run_id"]) == ("clvchurn-pair", loaded.version, loaded.run_id)
    assert set(body["models"]) == set(MODEL_NAMES)
    assert {model["version"] for model in body["models"].values()} == {loaded.version}
    assert body["models"]["churn"]["populations"] == ["active"]
    assert body["data_end"] == loaded.pair.metadata.data_end.isoformat()
    assert body["tier_method"] == "quantile"


def test_a_model_whose_features_no_longer_exist_is_a_503_with_its_message(
    trained: TrainedModels, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    churn_input = trained.engine._inputs["value"]  # every model of the pair reads the same matrix
    changed = type(churn_input)(
        (*churn_input.feature_names, "feature_removed_since_training"),
        churn_input.categorical_levels,
        churn_input.direct,
        churn_input.layout,
    )
    monkeypatch.setitem(trained.engine._inputs, "value", changed)
    customer_id = build_features(trained.raw, AS_OF)["customer_id"][0]
    body = request_for(trained.raw, customer_id).model_dump(mode="json")

    response = client.post("/v1/predict/batch", json={"customers": [body]}, headers=AUTH)

    assert response.status_code == 503
    assert "feature_removed_since_training" in response.json()["detail"]
    assert "retrain" in response.json()["detail"]
