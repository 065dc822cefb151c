"""GET /healthz, /readyz and /metrics: no key needed, readiness follows the engine, metrics by route."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient
from support.fake_engine import AUTH, FakeEngine, customer_body, ready_client
from support.web_sample import sample_frame

from domain.errors import ModelNotReadyError
from serving.app import create_app
from serving.routes.health import LOAD_FAILED
from serving.settings import Settings
from serving.snapshot_store import write_snapshot


def test_healthz_answers_without_a_key(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_503_until_the_engine_is_loaded(settings: Settings) -> None:
    release = threading.Event()

    def slow_loader(_settings: Settings) -> FakeEngine:
        release.wait(timeout=10)
        return FakeEngine("7")

    app = create_app(settings, engine_loader=slow_loader)
    with TestClient(app) as client:
        loading = client.get("/readyz")
        predict_while_loading = client.post("/v1/predict", json=customer_body(), headers=AUTH)
        release.set()
        app.state.initial_load.join(timeout=10)
        ready = client.get("/readyz")

    assert loading.status_code == 503
    assert loading.json()["status"] == "loading"
    assert predict_while_loading.status_code == 503
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "model_versions": {"pair": "pair-7", "run_id": None, "churn": "pair-7", "value": "pair-7"},
        "detail": None,
    }


def test_readyz_says_loading_failed_without_revealing_configuration(settings: Settings) -> None:
    message = "No champion model registered in postgresql://ml:pw@db/x: run `clvchurn train` first"

    def no_champion(_settings: Settings) -> FakeEngine:
        raise ModelNotReadyError(message)

    app = create_app(settings, engine_loader=no_champion)
    for client in ready_client(app):
        readiness = client.get("/readyz")
        prediction = client.post("/v1/predict", json=customer_body(), headers=AUTH)

    assert readiness.status_code == 503
    assert readiness.json() == {"status": "failed", "model_versions": None, "detail": LOAD_FAILED}
    assert "postgresql" not in readiness.text and "pw" not in readiness.text
    assert prediction.status_code == 503  # an authenticated caller reads why
    assert prediction.json()["detail"] == message


def test_metrics_count_requests_and_predictions(client: TestClient) -> None:
    client.post("/v1/predict", json=customer_body("C1", [60.0, 40.0]), headers=AUTH)
    client.post("/v1/predict/batch", json={"customers": [customer_body("C2", [])]}, headers=AUTH)
    client.post("/v1/predict", json={"customer": {}}, headers=AUTH)

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'clvchurn_http_requests_total{method="POST",route="/v1/predict",status="200"} 1.0' in text
    assert 'clvchurn_http_requests_total{method="POST",route="/v1/predict",status="422"} 1.0' in text
    assert 'clvchurn_http_requests_total{method="POST",route="/v1/predict/batch",status="200"} 1.0' in text
    assert 'clvchurn_http_request_duration_seconds_count{method="POST",route="/v1/predict"} 2.0' in text
    assert 'clvchurn_predictions_total{tier="C"} 1.0' in text
    assert 'clvchurn_predictions_total{tier="D"} 1.0' in text
    assert 'clvchurn_recommended_actions_total{action="thank_you_note"} 1.0' in text
    assert 'clvchurn_recommended_actions_total{action="winback_call"} 1.0' in text
    # C1's churn probability 1/3; C2 is a prospect, with no churn probability to count
    assert 'clvchurn_churn_probability_bucket{le="0.4"} 1.0' in text
    assert 'clvchurn_churn_probability_bucket{le="1.0"} 1.0' in text
    assert "clvchurn_churn_probability_count 1.0" in text
    assert 'clvchurn_model_info{pair_version="pair-1"} 1.0' in text


def test_metrics_label_customer_routes_by_template(client: TestClient, settings: Settings) -> None:
    write_snapshot(sample_frame([]), settings.snapshot_path)
    client.get("/v1/customers/abc", headers=AUTH)
    client.get("/v1/customers/xyz", headers=AUTH)
    client.get("/no/such/path")

    text = client.get("/metrics").text

    assert 'route="/v1/customers/{customer_id}",status="404"} 2.0' in text
    assert 'clvchurn_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert "/v1/customers/abc" not in text
