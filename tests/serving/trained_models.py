"""Real champion models for the engine tests: 1,500 synthetic customers trained once per test session.

The engine tests need real LightGBM boosters, calibration and tier cut-points, so they train the
whole pipeline (`training.train.train`) into a temporary MLflow store. Training takes most of a
minute on a shared machine, so the first caller trains and every later one gets the same models.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
import pytest

from features.contract import RawData
from features.synth import generate
from serving.predictor import Predictor, load_engine
from serving.schemas import PredictRequest
from serving.settings import Settings
from training.train import TrainingConfig, train

CUSTOMERS = 1_500
SEED = 11
AS_OF = datetime(2025, 7, 1)


@dataclass(frozen=True)
class TrainedModels:
    raw: RawData
    engine: Predictor
    tracking_uri: str


_trained: dict[str, TrainedModels] = {}


def trained_models(tmp_path_factory: pytest.TempPathFactory) -> TrainedModels:
    """The session's synthetic base and an engine on its champion models (trained on first use)."""
    if "models" not in _trained:
        raw = generate(CUSTOMERS, SEED).raw
        uri = f"sqlite:///{tmp_path_factory.mktemp('mlruns') / 'mlflow.db'}"
        train(raw, TrainingConfig(n_jobs=1, seed=SEED), tracking_uri=uri)
        engine = load_engine(Settings(mlflow_tracking_uri=uri))
        _trained["models"] = TrainedModels(raw=raw, engine=engine, tracking_uri=uri)
    return _trained["models"]


def request_for(raw: RawData, customer_id: str, as_of: datetime = AS_OF) -> PredictRequest:
    """What a CRM would POST for one customer: its profile and every event strictly before `as_of`."""

    def events(frame: pl.DataFrame) -> list[dict[str, Any]]:
        mine = frame.filter((pl.col("customer_id") == customer_id) & (pl.col("timestamp") < as_of))
        return mine.drop("customer_id").to_dicts()

    profile = raw.customers.filter(pl.col("customer_id") == customer_id).row(0, named=True)
    attributes = {
        name: value for name, value in profile.items() if name not in ("customer_id", "signup_date") and value
    }
    return PredictRequest.model_validate(
        {
            "customer": {
                "customer_id": customer_id,
                "signup_date": profile["signup_date"],
                "attributes": attributes,
            },
            "transactions": events(raw.transactions),
            "interactions": events(raw.interactions),
            "as_of": as_of,
        }
    )
