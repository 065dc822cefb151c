"""Admin scope: /v1/admin takes keys of CLVCHURN_ADMIN_API_KEYS; 401 without a known key, 403 for a scoring key.

On a tiny app of its own (the service's app is wired to it separately): the dependency reads the two
verifiers from `app.state`, as `create_app` will put them there.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from serving.security import ApiKeyVerifier, hash_api_key, require_admin_key
from serving.settings import Settings

SCORING_KEY = "scoring-key-7f1c"
ADMIN_KEY = "admin-key-02d9"


def admin_app(settings: Settings) -> FastAPI:
    app = FastAPI()
    app.state.api_keys = ApiKeyVerifier.from_settings(settings)
    app.state.admin_api_keys = ApiKeyVerifier.admin_from_settings(settings)

    @app.post("/v1/admin/reload", dependencies=[Depends(require_admin_key)])
    def reload() -> dict[str, str]:
        return {"status": "reloaded"}

    return app


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = Settings(
        api_keys=[SecretStr(SCORING_KEY)], admin_api_keys=[SecretStr(ADMIN_KEY)], api_key_file=None
    )
    with TestClient(admin_app(settings)) as client:
        yield client


def test_an_admin_key_is_let_in(client: TestClient) -> None:
    response = client.post("/v1/admin/reload", headers={"X-API-Key": ADMIN_KEY})

    assert (response.status_code, response.json()) == (200, {"status": "reloaded"})


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": ""}, {"X-API-Key": "guess"}])
def test_no_key_or_an_unknown_one_gets_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/v1/admin/reload", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'APIKey realm="clvchurn", header="X-API-Key"'
    assert response.json() == {
        "detail": "Missing or invalid API key: send an admin key (CLVCHURN_ADMIN_API_KEYS) in the X-API-Key header."
    }


def test_a_scoring_key_gets_403(client: TestClient) -> None:
    response = client.post("/v1/admin/reload", headers={"X-API-Key": SCORING_KEY})

    assert response.status_code == 403
    assert response.json() == {
        "detail": "This key may score but not administer: admin endpoints need a key in CLVCHURN_ADMIN_API_KEYS."
    }
    assert SCORING_KEY not in response.text


def test_without_admin_keys_nobody_administers() -> None:
    settings = Settings(api_keys=[SecretStr(SCORING_KEY)], admin_api_keys=[], api_key_file=None)
    with TestClient(admin_app(settings)) as client:
        assert client.post("/v1/admin/reload", headers={"X-API-Key": SCORING_KEY}).status_code == 403
        assert client.post("/v1/admin/reload", headers={"X-API-Key": ADMIN_KEY}).status_code == 401


def test_admin_keys_come_comma_separated_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLVCHURN_ADMIN_API_KEYS", f" {ADMIN_KEY} ,second-admin,,")

    settings = Settings()

    assert [key.get_secret_value() for key in settings.admin_api_keys] == [ADMIN_KEY, "second-admin"]
    assert ADMIN_KEY not in repr(settings)
    assert ApiKeyVerifier.admin_from_settings(settings).hex_digests == {
        hash_api_key(ADMIN_KEY),
        hash_api_key("second-admin"),
    }
