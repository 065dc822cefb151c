"""Fixtures for the service tests: settings in a temporary folder, an app on a fake engine, a client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from support.fake_engine import API_KEY, FakeEngine, loader_of, ready_client

from serving.app import create_app
from serving.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        api_keys=[SecretStr(API_KEY)],
        api_key_file=None,
        snapshot_path=tmp_path / "scores.parquet",
        prediction_log_path=tmp_path / "prediction_log.sqlite",
        max_batch=3,
        max_events_per_customer=5,
        max_body_bytes=4096,
        reload_interval_s=0,
    )


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine("1")


@pytest.fixture
def app(settings: Settings, engine: FakeEngine) -> FastAPI:
    return create_app(settings, engine_loader=loader_of(engine))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    yield from ready_client(app)
