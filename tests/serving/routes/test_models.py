"""GET /v1/models: the pair in service."""

from __future__ import annotations

from fastapi.testclient import TestClient
from support.fake_engine import AUTH


def test_models_describes_the_engine_in_service(client: TestClient) -> None:
    response = client.get("/v1/models", headers=AUTH)

    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["version"], body["run_id"]) == ("clvchurn-pair", "pair-1", "run-1")
    assert body["trained_at"] == "2025-01-02T03:04:05"
    churn = body["models"]["churn"]
    assert (churn["version"], churn["horizon_days"], churn["trained_through"], churn["backtest_as_of"]) == (
        "pair-1",
        180,
        "2024-07-01T00:00:00",
        "2024-01-01T00:00:00",
    )
    assert churn["backtest_metrics"] == {"roc_auc": 0.8, "brier": 0.15}
    assert body["tier_cut_points"] == {"A": 1000.0, "B": 300.0, "C": 80.0}
