"""The app as a whole: request ids, error mapping, and the OpenAPI document."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    echoed = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    generated = client.get("/healthz", headers={"X-Request-ID": "not sane; <script>"})

    assert echoed.headers["x-request-id"] == "abc-123"
    assert len(generated.headers["x-request-id"]) == 32


def test_openapi_documents_versioned_routes_and_the_key(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    assert {"/v1/predict", "/v1/predict/batch", "/v1/customers/{customer_id}", "/v1/models"} <= set(
        spec["paths"]
    )
    assert spec["paths"]["/v1/predict"]["post"]["summary"] == "Score one customer"
    assert spec["paths"]["/v1/predict"]["post"]["security"] == [{"APIKeyHeader": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    assert (
        spec["components"]["schemas"]["PredictRequest"]["examples"][0]["customer"]["customer_id"] == "C-1042"
    )
