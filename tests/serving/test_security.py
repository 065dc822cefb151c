"""API keys: who gets in, where keys come from, and that keys never reach logs or responses."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from support.fake_engine import API_KEY, AUTH, FakeEngine, customer_body, loader_of, ready_client

from domain.errors import ApiKeyFileError
from serving.app import create_app
from serving.security import ApiKeyVerifier, hash_api_key, read_key_file
from serving.settings import Settings

OTHER_KEY = "other-key-93b2-do-not-log"


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": ""}, {"X-API-Key": "wrong-key"}])
def test_v1_refuses_requests_without_a_valid_key(client: TestClient, headers: dict[str, str]) -> None:
    for method, path in [("POST", "/v1/predict"), ("GET", "/v1/models")]:
        response = client.request(method, path, json=customer_body(), headers=headers)

        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'APIKey realm="clvchurn", header="X-API-Key"'
        assert response.json()["detail"] == (
            "Missing or invalid API key: send a valid key in the X-API-Key header."
        )
        assert "wrong-key" not in response.text


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong-key"}])
def test_admin_refuses_unknown_keys_with_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/v1/admin/reload", headers=headers)

    assert response.status_code == 401
    assert "CLVCHURN_ADMIN_API_KEYS" in response.json()["detail"]
    assert "wrong-key" not in response.text


def test_a_scoring_key_gets_403_on_admin_and_an_admin_key_reloads(settings: Settings) -> None:
    admin_key = "admin-key-5c1e-do-not-log"
    settings = settings.model_copy(update={"admin_api_keys": [SecretStr(admin_key)]})
    app = create_app(settings, engine_loader=loader_of(FakeEngine("1"), FakeEngine("2")))
    for client in ready_client(app):
        as_scorer = client.post("/v1/admin/reload", headers=AUTH)
        as_admin = client.post("/v1/admin/reload", headers={"X-API-Key": admin_key})
        admin_scoring = client.post("/v1/predict", json=customer_body(), headers={"X-API-Key": admin_key})

    assert as_scorer.status_code == 403
    assert "CLVCHURN_ADMIN_API_KEYS" in as_scorer.json()["detail"]
    assert as_admin.status_code == 200
    assert as_admin.json()["current"]["pair"] == "pair-2"
    assert admin_scoring.status_code == 401  # scopes are separate lists: an admin key does not score


def test_v1_accepts_a_configured_key(client: TestClient) -> None:
    assert client.post("/v1/predict", json=customer_body(), headers=AUTH).status_code == 200
    assert client.get("/v1/models", headers=AUTH).status_code == 200


def test_authentication_runs_before_body_validation(client: TestClient) -> None:
    response = client.post("/v1/predict", json={"customer": "not an object"})

    assert response.status_code == 401


def test_operations_endpoints_are_open(client: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code == 200


def test_keys_from_the_environment_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLVCHURN_API_KEYS", f" {API_KEY} ,{OTHER_KEY},,")

    settings = Settings()

    assert [key.get_secret_value() for key in settings.api_keys] == [API_KEY, OTHER_KEY]
    assert API_KEY not in repr(settings)
    verifier = ApiKeyVerifier.from_settings(settings)
    assert (verifier.is_valid(API_KEY), verifier.is_valid(OTHER_KEY), verifier.is_valid("x")) == (
        True,
        True,
        False,
    )


def test_key_file_holds_digests_comments_and_blank_lines(tmp_path: Path, settings: Settings) -> None:
    key_file = tmp_path / "keys.sha256"
    key_file.write_text(
        f"# team analytics\n{hash_api_key(OTHER_KEY).upper()}  # rotated 2025-01\n\n",
        encoding="utf-8",
    )
    settings = settings.model_copy(update={"api_keys": [], "api_key_file": key_file})
    app = create_app(settings, engine_loader=loader_of(FakeEngine()))

    for client in ready_client(app):
        with_file_key = client.get("/v1/models", headers={"X-API-Key": OTHER_KEY})
        with_digest_itself = client.get("/v1/models", headers={"X-API-Key": hash_api_key(OTHER_KEY)})

    assert read_key_file(key_file) == [hashlib.sha256(OTHER_KEY.encode()).digest()]
    assert with_file_key.status_code == 200
    assert with_digest_itself.status_code == 401


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("# ok\nnot-a-digest\n", "keys.sha256 line 2: expected a SHA-256 hex digest (64 hex characters)"),
        ("z" * 64 + "\n", "keys.sha256 line 1: expected a SHA-256 hex digest"),
    ],
)
def test_malformed_key_file_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    key_file = tmp_path / "keys.sha256"
    key_file.write_text(content, encoding="utf-8")

    with pytest.raises(ApiKeyFileError, match=re.escape(message)):
        read_key_file(key_file)


def test_missing_key_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ApiKeyFileError, match="CLVCHURN_API_KEY_FILE"):
        read_key_file(tmp_path / "absent")


def test_without_any_key_everything_is_refused_and_a_warning_logged(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="serving.security"):
        app = create_app(settings.model_copy(update={"api_keys": []}), engine_loader=loader_of(FakeEngine()))
    for client in ready_client(app):
        response = client.get("/v1/models", headers=AUTH)

    assert response.status_code == 401
    assert "No API keys configured" in caplog.text


def test_keys_never_appear_in_logs(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    engine = FakeEngine(error=RuntimeError("model failed"))
    settings = settings.model_copy(update={"api_keys": [SecretStr(API_KEY)]})
    with caplog.at_level(logging.DEBUG):
        app = create_app(settings, engine_loader=loader_of(engine))
        with TestClient(app, raise_server_exceptions=False) as client:
            app.state.initial_load.join(timeout=10)
            failed = client.post("/v1/predict", json=customer_body(), headers=AUTH)
            refused = client.get("/v1/models", headers={"X-API-Key": OTHER_KEY})
            client.get("/v1/models", headers=AUTH)
            client.post("/v1/admin/reload", headers=AUTH)

    assert (failed.status_code, refused.status_code) == (500, 401)
    assert "model failed" in caplog.text  # the error was logged, with its traceback
    assert API_KEY not in caplog.text
    assert OTHER_KEY not in caplog.text
    assert hash_api_key(API_KEY) not in caplog.text
