"""Real champion models for the tests: a small synthetic base trained once per test session.

The engine, batch, route and page tests need real LightGBM boosters, calibration and tier cut-points,
so the session fixture `trained` (tests/conftest.py) trains the whole pipeline (`training.train.train`)
into a temporary MLflow store once, and every test that asks for it shares the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
from fastapi import FastAPI

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


def train_models(folder: Path) -> TrainedModels:
    """Train the champion pair on the session's synthetic base into an MLflow store in `folder`."""
    raw = generate(CUSTOMERS, SEED).raw
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    train(raw, TrainingConfig(n_jobs=1, seed=SEED), tracking_uri=uri)
    return TrainedModels(raw=raw, engine=load_engine(Settings(mlflow_tracking_uri=uri)), tracking_uri=uri)


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


def busiest_customer(models: TrainedModels, as_of: datetime = AS_OF) -> str:
    """The customer with the most transactions before `as_of` (ties: the smallest id)."""
    before = models.raw.transactions.filter(pl.col("timestamp") < as_of)
    counts = before.group_by("customer_id").len().sort(["len", "customer_id"], descending=[True, False])
    return str(counts["customer_id"][0])


def real_service(models: TrainedModels, folder: Path, api_key: str) -> FastAPI:
    """The service on the trained pair, with the base scored as of `AS_OF` into its snapshot."""
    from pydantic import SecretStr

    from serving.app import create_app
    from serving.batch import score_base
    from serving.events import events_path_for, timeline_events
    from serving.snapshot_store import write_snapshot

    settings = Settings(
        api_keys=[SecretStr(api_key)],
        api_key_file=None,
        mlflow_tracking_uri=models.tracking_uri,
        snapshot_path=folder / "scores.parquet",
        database_url=SecretStr(f"sqlite:///{folder / 'clvchurn.db'}"),
        reload_interval_s=0,
    )
    write_snapshot(score_base(models.raw, AS_OF, models.engine), settings.snapshot_path)
    timeline_events(models.raw, AS_OF).write_parquet(events_path_for(settings.snapshot_path))
    return create_app(settings, engine_loader=lambda _settings: models.engine)
