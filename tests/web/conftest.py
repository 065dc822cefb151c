"""Fixtures for the page tests: an app on the sample portfolio, and a signed-in TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from web_sample import API_KEY, PortfolioEngine, challenger_lookup, write_sample

from serving.app import create_app
from serving.settings import Settings


def sample_app(folder: Path, with_snapshot: bool = True) -> FastAPI:
    settings = Settings(
        api_keys=[SecretStr(API_KEY)],
        api_key_file=None,
        snapshot_path=folder / "scores.parquet",
        prediction_log_path=folder / "prediction_log.sqlite",
        reload_interval_s=0,
    )
    if with_snapshot:
        write_sample(settings.snapshot_path)
    app = create_app(settings, engine_loader=lambda _settings: PortfolioEngine())
    app.state.web.challenger_lookup = challenger_lookup
    return app


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return sample_app(tmp_path)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """Not signed in; the models are loaded."""
    with TestClient(app, follow_redirects=False) as client:
        app.state.initial_load.join(timeout=10)
        yield client


@pytest.fixture
def signed_in(client: TestClient) -> TestClient:
    response = client.post("/sign-in", data={"api_key": API_KEY, "next": "/portfolio"})
    assert response.status_code == 303
    return client
