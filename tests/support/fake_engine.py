"""A fake prediction engine with hand-checkable arithmetic, request bodies and client helpers.

FakeEngine rules (so tests can state exact expected values):
- orders = transactions with a positive amount; churn_probability = 1 / (1 + orders);
- predicted value = sum of all amounts (refunds subtract); tier A >= 1000, B >= 300, C >= 80, else D;
- churn risk high >= 0.6, medium >= 0.3, else low; stage prospect without orders, else active;
- action `winback_call` when risk is high, else `thank_you_note`, due 7 days after as_of;
- the one churn reason's sentence and the action's title are in the requested language.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from serving.schemas import (
    ChurnRisk,
    Explanations,
    ModelInfo,
    ModelsInfo,
    ModelVersions,
    PredictedValue,
    Prediction,
    PredictRequest,
    Reason,
    RecommendedAction,
    Tier,
)
from serving.settings import Settings

API_KEY = "test-key-6f1d0c-do-not-log"
AUTH = {"X-API-Key": API_KEY}
SENTENCES = {"en": "Placed {orders} orders", "zh": "下了 {orders} 个订单"}
ACTION_TITLES = {
    "en": {"winback_call": "winback call", "thank_you_note": "thank you note"},
    "zh": {"winback_call": "挽回电话", "thank_you_note": "感谢便条"},
}


class FakeEngine:
    """Implements `serving.engine.PredictionEngine` with the rules in this module's docstring."""

    def __init__(
        self,
        version: str = "1",
        gate: threading.Event | None = None,
        stale: bool = False,
        error: Exception | None = None,
    ) -> None:
        self.model_versions = ModelVersions(churn=f"churn-{version}", value=f"value-{version}")
        self.languages: list[str] = []
        self._gate = gate
        self._stale = stale
        self._error = error

    def predict(self, requests: Sequence[PredictRequest], lang: str) -> list[Prediction]:
        self.languages.append(lang)
        if self._gate is not None:
            self._gate.wait(timeout=10)
        if self._error is not None:
            raise self._error
        return [fake_prediction(request, lang, self.model_versions) for request in requests]

    def model_info(self) -> ModelsInfo:
        return ModelsInfo(
            churn=ModelInfo(
                name="clvchurn-churn",
                version=self.model_versions.churn,
                trained_at=datetime(2025, 1, 2, 3, 4, 5),
                validation_metrics={"roc_auc": 0.8, "brier": 0.15},
            ),
            value=ModelInfo(
                name="clvchurn-value",
                version=self.model_versions.value,
                validation_metrics={"mae": 12.5},
            ),
            tier_cut_points={"A": 1000.0, "B": 300.0, "C": 80.0},
            tier_method="absolute",
            horizon_days=180,
        )

    def is_stale(self) -> bool:
        return self._stale


def fake_prediction(request: PredictRequest, lang: str, versions: ModelVersions) -> Prediction:
    orders = sum(1 for transaction in request.transactions if transaction.amount > 0)
    value = sum(transaction.amount for transaction in request.transactions)
    churn = 1 / (1 + orders)
    risk: ChurnRisk = "high" if churn >= 0.6 else "medium" if churn >= 0.3 else "low"
    tier: Tier = "A" if value >= 1000 else "B" if value >= 300 else "C" if value >= 80 else "D"
    action = "winback_call" if risk == "high" else "thank_you_note"
    return Prediction(
        customer_id=request.customer.customer_id,
        as_of=request.as_of,
        tier=tier,
        lifecycle_stage="prospect" if orders == 0 else "active",
        churn_probability=churn,
        churn_risk=risk,
        predicted_value=PredictedValue(amount=value, currency="EUR", horizon_days=180),
        value_at_risk=churn * value,
        explanations=Explanations(
            churn=[
                Reason(
                    feature="orders_lifetime",
                    value=orders,
                    contribution=-0.1,
                    direction="decreases",
                    sentence=SENTENCES[lang].format(orders=orders),
                )
            ],
            value=[],
        ),
        recommended_action=RecommendedAction(
            id=action,
            title=ACTION_TITLES[lang][action],
            steps=["look at the account", "act"],
            owner="account_manager",
            due_within_days=7,
            due_date=(request.as_of + timedelta(days=7)).date(),
            success_metric="order within 30 days",
        ),
        model_versions=versions,
    )


def customer_body(
    customer_id: str = "C1",
    amounts: Sequence[float] = (60.0, 40.0),
    as_of: str | None = "2024-07-01T00:00:00",
) -> dict[str, object]:
    """A valid /v1/predict body: one transaction per amount, on the 1st of consecutive months of 2024."""
    body: dict[str, object] = {
        "customer": {"customer_id": customer_id, "signup_date": "2023-12-01"},
        "transactions": [
            {"timestamp": f"2024-{month:02d}-01T10:00:00", "amount": amount}
            for month, amount in enumerate(amounts, start=1)
        ],
        "interactions": [{"timestamp": "2024-02-15T09:00:00", "type": "Email_Open"}],
    }
    if as_of is not None:
        body["as_of"] = as_of
    return body


def loader_of(*engines: FakeEngine) -> Callable[[Settings], FakeEngine]:
    """A loader handing out `engines` one per call, then repeating the last."""
    remaining = list(engines)

    def load(_settings: Settings) -> FakeEngine:
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return load


def ready_client(app: FastAPI) -> Iterator[TestClient]:
    """A client whose app has finished its initial engine load."""
    with TestClient(app) as client:
        app.state.initial_load.join(timeout=10)
        yield client
