"""Fixtures for the page tests: an app on the sample portfolio, and a signed-in TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from support.forms import sign_in
from support.web_sample import API_KEY, sample_app


@pytest.fixture(autouse=True)
def database_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every app of these tests keeps its database (sessions, throttle) in the test's folder."""
    url = f"sqlite:///{tmp_path / 'clvchurn.db'}"
    monkeypatch.setenv("CLVCHURN_DATABASE_URL", url)
    return url


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
    response = sign_in(client, API_KEY)
    assert response.status_code == 303
    return client
