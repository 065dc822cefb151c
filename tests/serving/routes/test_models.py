"""GET /v1/models: the pair in service."""

from __future__ import annotations

from fastapi.testclient import TestClient
from support.fake_engine import AUTH


def test_models_describes_the_engine_in_service(client: TestClient) -> None:
    response = client.get("/v1/models", headers=AUTH)

    assert response.status_code == 200
    body = response.json()
    assert (body["churn"]["version"], body["value"]["version"]) == ("churn-1", "value-1")
    assert body["churn"]["trained_at"] == "2025-01-02T03:04:05"
    assert body["churn"]["validation_metrics"] == {"roc_auc": 0.8, "brier": 0.15}
    assert body["tier_cut_points"] == {"A": 1000.0, "B": 300.0, "C": 80.0}
