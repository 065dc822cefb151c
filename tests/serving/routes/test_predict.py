"""POST /v1/predict and /v1/predict/batch on a fake engine: responses, languages, validation, limits."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from support.fake_engine import AUTH, FakeEngine, customer_body, loader_of, ready_client

from domain.errors import PredictionInputError
from serving.app import create_app
from serving.schemas import PredictRequest
from serving.settings import Settings


def test_predict_returns_the_engines_prediction(client: TestClient) -> None:
    response = client.post("/v1/predict", json=customer_body("C1", [60.0, 40.0]), headers=AUTH)

    assert response.status_code == 200
    assert response.json() == {
        "customer_id": "C1",
        "as_of": "2024-07-01T00:00:00",
        "population": "active",
        "tier": "C",
        "lifecycle_stage": "active",
        "churn_probability": 1 / 3,
        "churn_risk": "medium",
        "reactivation_probability": None,
        "conversion_probability": None,
        "predicted_value": {
            "amount": 100.0,
            "currency": "EUR",
            "horizon_days": 180,
            "low": None,  # a pair without the value range, the next order or the order count
            "high": None,
        },
        "predicted_orders": None,
        "expected_next_order_date": None,
        "value_if_retained": 100.0,
        "value_at_risk": 1 / 3 * 100.0,
        "explanations": {
            "churn": [
                {
                    "feature": "orders_lifetime",
                    "value": 2.0,
                    "contribution": -0.1,
                    "direction": "decreases",
                    "sentence": "Placed 2 orders",
                    "label": None,
                    "impact": None,
                }
            ],
            "reactivation": [],
            "conversion": [],
            "value": [],
        },
        "recommended_action": {
            "id": "thank_you_note",
            "title": "thank you note",
            "steps": ["look at the account", "act"],
            "owner": "account_manager",
            "owner_label": None,
            "due_within_days": 7,
            "due_date": "2024-07-08",
            "success_metric": "order within 30 days",
        },
        "model_versions": {"pair": "pair-1", "run_id": None, "churn": "pair-1", "value": "pair-1"},
        "rule_id": None,
        "assignment": "none",
        "expected_uplift": None,
        "expected_value_saved": None,
        "action_options": [],
        "tags": [],
        "tag_labels": [],
        "account_manager": None,
    }


def test_request_history_is_normalised_before_the_engine_sees_it(engine: FakeEngine) -> None:
    request = PredictRequest.model_validate(
        {
            "customer": {"customer_id": 1042, "attributes": {"floor": 3}},
            "transactions": [{"timestamp": "2024-01-01T12:00:00+02:00", "amount": "-5.5", "quantity": 0}],
            "interactions": [{"timestamp": "2024-01-02", "type": " Support_Ticket "}],
            "as_of": "2024-07-01T08:00:00+08:00",
        }
    )
    assert request.customer.customer_id == "1042"
    assert request.customer.attributes == {"floor": "3"}
    assert request.transactions[0].timestamp == datetime(2024, 1, 1, 10, 0)
    assert request.transactions[0].amount == -5.5
    assert request.interactions[0].type == "support_ticket"
    assert request.as_of == datetime(2024, 7, 1, 0, 0)


def test_as_of_defaults_to_now_in_naive_utc(client: TestClient) -> None:
    before = datetime.now(UTC).replace(tzinfo=None)
    response = client.post("/v1/predict", json=customer_body(as_of=None), headers=AUTH)
    after = datetime.now(UTC).replace(tzinfo=None)

    assert response.status_code == 200
    assert before <= datetime.fromisoformat(response.json()["as_of"]) <= after


@pytest.mark.parametrize(
    ("query", "header", "expected_sentence", "expected_lang"),
    [
        ("", None, "Placed 2 orders", "en"),
        ("?lang=zh", None, "下了 2 个订单", "zh"),
        ("", "zh-CN,zh;q=0.9,en;q=0.5", "下了 2 个订单", "zh"),
        ("?lang=en", "zh-CN", "Placed 2 orders", "en"),
    ],
)
def test_language_comes_from_query_then_accept_language(
    client: TestClient,
    engine: FakeEngine,
    query: str,
    header: str | None,
    expected_sentence: str,
    expected_lang: str,
) -> None:
    headers = {**AUTH, **({"Accept-Language": header} if header else {})}
    response = client.post(f"/v1/predict{query}", json=customer_body(), headers=headers)

    assert response.json()["explanations"]["churn"][0]["sentence"] == expected_sentence
    assert engine.languages == [expected_lang]


def test_batch_returns_predictions_in_request_order(client: TestClient) -> None:
    body = {"customers": [customer_body("B", [500.0]), customer_body("A", [])]}
    response = client.post("/v1/predict/batch", json=body, headers=AUTH)

    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert [(p["customer_id"], p["tier"], p["churn_risk"]) for p in predictions] == [
        ("B", "B", "medium"),
        ("A", "D", None),  # a prospect: no churn risk
    ]


def test_engine_input_error_is_a_422(settings: Settings) -> None:
    engine = FakeEngine(error=PredictionInputError("customer C1 has no usable history"))
    for client in ready_client(create_app(settings, engine_loader=loader_of(engine))):
        response = client.post("/v1/predict", json=customer_body(), headers=AUTH)

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["body"], "msg": "customer C1 has no usable history", "type": "unscorable"}
    ]


def test_unexpected_engine_error_is_a_json_500_with_request_id(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    engine = FakeEngine(error=RuntimeError("boom in the model"))
    app = create_app(settings, engine_loader=loader_of(engine))
    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        app.state.initial_load.join(timeout=10)
        response = client.post(
            "/v1/predict", json=customer_body(), headers={**AUTH, "X-Request-ID": "req-42"}
        )

    assert response.status_code == 500
    assert response.json() == {
        "detail": "Internal error; quote the request id when reporting it.",
        "request_id": "req-42",
    }
    assert response.headers["x-request-id"] == "req-42"
    assert "RuntimeError on POST /v1/predict (request req-42)" in caplog.text
    assert "boom in the model" in caplog.text  # the traceback is logged, not returned


# --- validation -------------------------------------------------------------------------------------


def _with(path: tuple[str | int, ...], value: object, body: dict | None = None) -> dict:
    body = json.loads(json.dumps(body or customer_body()))
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


@pytest.mark.parametrize(
    ("body", "loc", "message_part"),
    [
        (_with(("transactions", 0, "amount"), "abc"), ["body", "transactions", 0, "amount"], "valid number"),
        (
            _with(("transactions", 0, "timestamp"), "2024-13-45"),
            ["body", "transactions", 0, "timestamp"],
            "month",
        ),
        (
            _with(("transactions", 1, "quantity"), -1),
            ["body", "transactions", 1, "quantity"],
            "greater than or equal to 0",
        ),
        (_with(("customer", "customer_id"), "  "), ["body", "customer", "customer_id"], "at least 1"),
        (_with(("customer", "signup_date"), "yesterday"), ["body", "customer", "signup_date"], "datetime"),
        (_with(("interactions", 0, "type"), ""), ["body", "interactions", 0, "type"], "at least 1"),
        (_with(("interactions", 0, "value"), "x"), ["body", "interactions", 0, "value"], "valid number"),
        (_with(("as_of",), "2023-06-01"), ["body", "as_of"], "before the customer's first event 2023-12-01"),
        (_with(("customer", "nickname"), "Bob"), ["body", "customer", "nickname"], "Extra inputs"),
        (_with(("transactions",), {"amount": 1}), ["body", "transactions"], "valid list"),
        ({"transactions": []}, ["body", "customer"], "Field required"),
    ],
)
def test_bad_fields_give_422_with_their_path(
    client: TestClient, body: dict, loc: list, message_part: str
) -> None:
    response = client.post("/v1/predict", json=body, headers=AUTH)

    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [error["loc"] for error in errors] == [loc]
    assert message_part in errors[0]["msg"]
    assert response.json()["request_id"]


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_amounts_are_rejected(client: TestClient, literal: bytes) -> None:
    raw = b'{"customer": {"customer_id": "C1"}, "transactions": [{"timestamp": "2024-01-01", "amount": %s}]}'
    response = client.post(
        "/v1/predict", content=raw % literal, headers={**AUTH, "Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "transactions", 0, "amount"]
    assert response.json()["detail"][0]["msg"] == "Input should be a finite number"


def test_too_many_events_for_one_customer(client: TestClient) -> None:
    body = customer_body(amounts=[1.0, 2.0, 3.0, 4.0, 5.0])  # 5 transactions + 1 interaction > 5
    response = client.post("/v1/predict", json=body, headers=AUTH)

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["body", "transactions"],
            "msg": "6 events (transactions plus interactions) exceed the limit of 5 per customer "
            "(CLVCHURN_MAX_EVENTS_PER_CUSTOMER)",
            "type": "too_long",
        }
    ]


def test_batch_limits_and_field_paths(client: TestClient) -> None:
    too_many = client.post("/v1/predict/batch", json={"customers": [customer_body()] * 4}, headers=AUTH)
    empty = client.post("/v1/predict/batch", json={"customers": []}, headers=AUTH)
    second_bad = {"customers": [customer_body("a"), _with(("transactions", 0, "amount"), None)]}
    bad_item = client.post("/v1/predict/batch", json=second_bad, headers=AUTH)
    heavy = {"customers": [customer_body("a"), customer_body("b", amounts=[1.0] * 5)]}
    heavy_item = client.post("/v1/predict/batch", json=heavy, headers=AUTH)

    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["loc"] == ["body", "customers"]
    assert too_many.json()["detail"][0]["msg"].startswith("4 customers exceed the limit of 3 per request")
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["loc"] == ["body", "customers"]
    assert bad_item.json()["detail"][0]["loc"] == ["body", "customers", 1, "transactions", 0, "amount"]
    assert heavy_item.json()["detail"][0]["loc"] == ["body", "customers", 1, "transactions"]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"customer": ', "application/json"),
        (b"\xff\xfe\x00", "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b"", "application/json"),
        (b'{"customer": {"customer_id": "C1"}}', "text/plain"),
        (b"customer_id=C1", "application/x-www-form-urlencoded"),
        (b"[" * 1500 + b"]" * 1500, "application/json"),
        (b'{"customer": {"customer_id": "C1"}, "as_of": 1e400}', "application/json"),
    ],
)
def test_malformed_bodies_never_give_500(client: TestClient, content: bytes, content_type: str) -> None:
    response = client.post("/v1/predict", content=content, headers={**AUTH, "Content-Type": content_type})

    assert response.status_code in (400, 422)
    assert "detail" in response.json()


def test_declared_oversize_body_is_refused_before_reading(client: TestClient) -> None:
    response = client.post(
        "/v1/predict", content=b" " * 5000, headers={**AUTH, "Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json()["detail"] == (
        "Request body exceeds 4,096 bytes (CLVCHURN_MAX_BODY_BYTES); "
        "send fewer customers or fewer events per request."
    )


def test_streamed_oversize_body_is_refused_while_reading(client: TestClient) -> None:
    def chunks():
        for _ in range(5):
            yield b" " * 1000

    response = client.post(
        "/v1/predict", content=chunks(), headers={**AUTH, "Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert "CLVCHURN_MAX_BODY_BYTES" in response.json()["detail"]
