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


@pytest.fixture(autouse=True)
def database_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every app of these tests keeps its database in the test's folder, never in artifacts/."""
    url = f"sqlite:///{tmp_path / 'clvchurn.db'}"
    monkeypatch.setenv("CLVCHURN_DATABASE_URL", url)
    return url


@pytest.fixture
def settings(tmp_path: Path, database_in_tmp: str) -> Settings:
    return Settings(
        api_keys=[SecretStr(API_KEY)],
        admin_api_keys=[SecretStr(API_KEY)],
        api_key_file=None,
        snapshot_path=tmp_path / "scores.parquet",
        database_url=SecretStr(database_in_tmp),
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
