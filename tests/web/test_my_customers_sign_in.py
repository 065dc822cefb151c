"""A manager signs in with their own key and opens "my customers": the key is mapped to a manager name
(CLVCHURN_ACCOUNT_MANAGER_KEYS), the session remembers the name (never the key), and ``mine=1`` shows
only their customers. Runs once the sign-in keeps the manager (`serving.web.session.signed_in_manager`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from support.forms import sign_in
from support.web_sample import PortfolioEngine, record, write_sample

from serving.app import create_app
from serving.settings import Settings

WANG, LI = "key-of-wang", "key-of-li"


@pytest.fixture
def app_settings(tmp_path: Path) -> Settings:
    settings = Settings(
        api_keys=[SecretStr(WANG), SecretStr(LI), SecretStr("key-of-nobody")],
        api_key_file=None,
        snapshot_path=tmp_path / "scores.parquet",
        prediction_log_path=tmp_path / "prediction_log.sqlite",
        reload_interval_s=0,
        account_manager_keys=f"{WANG}=Wang Fang,{LI}=Li Lei",  # type: ignore[arg-type]
    )
    managers = {2: "Wang Fang", 3: "Li Lei", 4: "Wang Fang"}
    write_sample(
        settings.snapshot_path,
        [{**record(i), "tags": [], "account_manager": managers.get(i)} for i in (2, 3, 4, 9)],
    )
    return settings


def client_for(settings: Settings, key: str) -> Iterator[TestClient]:
    app = create_app(settings, engine_loader=lambda _settings: PortfolioEngine())
    with TestClient(app, follow_redirects=False) as client:
        app.state.initial_load.join(timeout=10)
        assert sign_in(client, key, "/portfolio").status_code == 303
        yield client


def customers(html: str) -> list[str]:
    return sorted(part.split('"')[0] for part in html.split('data-customer="')[1:])


@pytest.mark.parametrize(("key", "mine"), [(WANG, ["C002", "C004"]), (LI, ["C003"])])
def test_a_manager_sees_only_their_customers_under_my_customers(
    app_settings: Settings, key: str, mine: list[str]
) -> None:
    for client in client_for(app_settings, key):
        everyone = client.get("/portfolio").text
        own = client.get("/portfolio", params={"mine": "1"}).text

        assert customers(everyone) == ["C002", "C003", "C004", "C009"]
        assert 'id="my-customers"' in everyone
        assert customers(own) == mine
        assert key not in client.cookies.get("clvchurn_session", "")


def test_a_key_mapped_to_no_manager_has_no_my_customers(app_settings: Settings) -> None:
    for client in client_for(app_settings, "key-of-nobody"):
        html = client.get("/portfolio", params={"mine": "1"}).text

        assert 'id="my-customers"' not in html
        assert customers(html) == ["C002", "C003", "C004", "C009"]
