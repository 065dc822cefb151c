"""Fixtures for the page tests: an app on the sample portfolio, and a signed-in TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from support.web_sample import API_KEY, sample_app


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
