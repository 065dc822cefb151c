"""The CRM fields (tags, their labels, the named account manager) are part of the documented API."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_openapi_documents_tags_and_the_account_manager_on_every_prediction(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    prediction = schemas["Prediction"]["properties"]

    assert prediction["tags"]["type"] == "array" and prediction["tags"]["items"] == {"type": "string"}
    assert prediction["tag_labels"]["items"] == {"type": "string"}
    assert {"type": "string"} in prediction["account_manager"]["anyOf"]
    assert "CLVCHURN_ACCOUNT_MANAGER_ATTRIBUTE" in prediction["account_manager"]["description"]
