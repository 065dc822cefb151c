"""Fixtures for the page tests: an app on the sample portfolio, a signed-in TestClient, and for the
browser tests (each module serves its own `base_url`) Chromium and a page that fetches only locally."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from support.browser import chromium, local_only_page
from support.forms import sign_in
from support.web_sample import API_KEY, sample_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    with local_only_page(browser, base_url) as page:
        yield page
