"""The prediction log: every served prediction is a row of `predictions` before its 200 leaves."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient
from sqlalchemy import select
from support.fake_engine import AUTH, FakeEngine, customer_body, fake_prediction, loader_of

from serving.app import create_app
from serving.database import PredictionRecorder, open_database, predictions, upgrade
from serving.prediction_log import PredictionLog, prediction_row
from serving.schemas import PredictRequest
from serving.settings import Settings


def _rows(url: str) -> list[tuple]:
    engine = open_database(url)
    try:
        with engine.connect() as connection:
            columns = (
                predictions.c.request_id,
                predictions.c.customer_id,
                predictions.c.tier,
                predictions.c.action_id,
                predictions.c.model_pair,
            )
            return [tuple(row) for row in connection.execute(select(*columns).order_by(predictions.c.id))]
    finally:
        engine.dispose()


def _prediction(customer_id: str, amounts: list[float]):
    request = PredictRequest.model_validate(customer_body(customer_id, amounts))
    return fake_prediction(request, "en", FakeEngine("4").model_versions)


def test_a_prediction_becomes_one_row_of_the_table() -> None:
    row = prediction_row(_prediction("C1", [60.0, 40.0]), "r1")

    assert row == {
        "request_id": "r1",
        "customer_id": "C1",
        "as_of": datetime(2024, 7, 1),
        "model_pair": {
            "pair": "pair-4",
            "run_id": None,
            "churn": {"version": "pair-4"},
            "value": {"version": "pair-4"},
        },
        "population": "active",
        "churn_probability": 1 / 3,
        "reactivation_probability": None,
        "conversion_probability": None,
        "predicted_value": 100.0,
        "value_at_risk": (1 / 3) * 100.0,
        "tier": "C",
        "lifecycle_stage": "active",
        "action_id": "thank_you_note",
        "rule_id": "thank_you_note",
        "assignment": None,
    }


def test_outside_a_request_record_commits_at_once(database_in_tmp: str) -> None:
    upgrade(database_in_tmp)
    log = PredictionLog(PredictionRecorder(open_database(database_in_tmp)))
    log.record([_prediction("C1", [1.0]), _prediction("C2", [])], request_id="r1")

    assert [row[:2] for row in _rows(database_in_tmp)] == [("r1", "C1"), ("r1", "C2")]  # before close
    log.close()


def test_every_served_prediction_is_logged_with_its_request_id(settings: Settings) -> None:
    app = create_app(settings, engine_loader=loader_of(FakeEngine("9")))
    url = settings.database_url.get_secret_value()
    with TestClient(app) as client:
        app.state.initial_load.join(timeout=10)
        one = client.post("/v1/predict", json=customer_body("C1"), headers=AUTH)
        rows_after_one = _rows(url)  # committed before the response: visible now, not only at close
        batch = client.post(
            "/v1/predict/batch",
            json={"customers": [customer_body("C2", [5.0]), customer_body("C3", [])]},
            headers=AUTH,
        )
        client.post("/v1/predict", json={"customer": {}}, headers=AUTH)  # invalid: nothing to log
        metrics = client.get("/metrics").text

    pair = {"pair": "pair-9", "run_id": None, "churn": {"version": "pair-9"}, "value": {"version": "pair-9"}}
    assert rows_after_one == [(one.headers["x-request-id"], "C1", "C", "thank_you_note", pair)]
    assert _rows(url) == [
        (one.headers["x-request-id"], "C1", "C", "thank_you_note", pair),
        (batch.headers["x-request-id"], "C2", "D", "thank_you_note", pair),
        (batch.headers["x-request-id"], "C3", "D", "winback_call", pair),
    ]
    assert 'clvchurn_prediction_log_rows_total{outcome="committed"} 3.0' in metrics
    assert "clvchurn_unlogged_predictions_total 0.0" in metrics


def test_a_failed_commit_answers_503_and_serves_nothing(settings: Settings) -> None:
    app = create_app(settings, engine_loader=loader_of(FakeEngine("9")))
    with TestClient(app) as client:
        app.state.initial_load.join(timeout=10)
        app.state.prediction_log.recorder.close()  # every later commit fails, as in an outage
        response = client.post(
            "/v1/predict", json=customer_body("C1"), headers={**AUTH, "X-Request-ID": "r-9"}
        )
        metrics = client.get("/metrics").text

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["request_id"] == "r-9"
    assert "customer_id" not in response.text  # the prediction itself never left
    assert _rows(settings.database_url.get_secret_value()) == []
    assert 'clvchurn_prediction_log_rows_total{outcome="failed"} 1.0' in metrics
