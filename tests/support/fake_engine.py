"""A fake prediction engine with hand-checkable arithmetic, request bodies and client helpers.

FakeEngine rules (so tests can state exact expected values):
- orders = transactions with a positive amount; without orders the customer is a prospect (stage too)
  with conversion probability 0.2 and no churn figures, else active with churn probability
  1 / (1 + orders);
- predicted value = sum of all amounts (refunds subtract), also the value if retained of an active
  customer; value at risk = churn probability x value; tier A >= 1000, B >= 300, C >= 80, else D;
- churn risk high >= 0.6, medium >= 0.3, else low;
- action `winback_call` for prospects and high risk, else `thank_you_note`, due 7 days after as_of;
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
        self.model_versions = ModelVersions(
            pair=f"pair-{version}", run_id=None, churn=f"pair-{version}", value=f"pair-{version}"
        )
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
        trained = datetime(2025, 1, 2, 3, 4, 5)
        return ModelsInfo(
            name="clvchurn-pair",
            version=self.model_versions.pair,
            run_id="run-1",
            trained_at=trained,
            models={
                "churn": ModelInfo(
                    version=self.model_versions.pair,
                    horizon_days=180,
                    populations=["active"],
                    trained_through=datetime(2024, 7, 1),
                    backtest_as_of=datetime(2024, 1, 1),
                    backtest_metrics={"roc_auc": 0.8, "brier": 0.15},
                ),
                "value": ModelInfo(
                    version=self.model_versions.pair,
                    horizon_days=180,
                    populations=["active", "lapsed", "prospect"],
                    trained_through=datetime(2024, 7, 1),
                    backtest_as_of=datetime(2024, 1, 1),
                    backtest_metrics={"mae": 12.5},
                ),
            },
            tier_cut_points={"A": 1000.0, "B": 300.0, "C": 80.0},
            tier_method="absolute",
            horizon_days=180,
        )

    def is_stale(self) -> bool:
        return self._stale


def fake_prediction(request: PredictRequest, lang: str, versions: ModelVersions) -> Prediction:
    orders = sum(1 for transaction in request.transactions if transaction.amount > 0)
    value = sum(transaction.amount for transaction in request.transactions)
    prospect = orders == 0
    churn = None if prospect else 1 / (1 + orders)
    risk: ChurnRisk | None = (
        None if churn is None else "high" if churn >= 0.6 else "medium" if churn >= 0.3 else "low"
    )
    tier: Tier = "A" if value >= 1000 else "B" if value >= 300 else "C" if value >= 80 else "D"
    action = "winback_call" if prospect or risk == "high" else "thank_you_note"
    return Prediction(
        customer_id=request.customer.customer_id,
        as_of=request.as_of,
        population="prospect" if prospect else "active",
        tier=tier,
        lifecycle_stage="prospect" if prospect else "active",
        churn_probability=churn,
        churn_risk=risk,
        conversion_probability=0.2 if prospect else None,
        predicted_value=PredictedValue(amount=value, currency="EUR", horizon_days=180),
        value_if_retained=None if prospect else value,
        value_at_risk=None if churn is None else churn * value,
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
