"""POST /v1/actions: one action or a list into the database, a prediction's keys accepted, a repeated
assignment updated, bad reports refused with the field named, a database not migrated a 503."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from support.fake_engine import API_KEY, AUTH, FakeEngine, loader_of, ready_client

from monitoring.action_records import ActionRecords
from serving.app import create_app
from serving.database import open_database, upgrade
from serving.settings import Settings


def _settings(tmp_path: Path, url: str) -> Settings:
    return Settings(
        api_keys=[SecretStr(API_KEY)],
        api_key_file=None,
        snapshot_path=tmp_path / "scores.parquet",
        database_url=SecretStr(url),
        reload_interval_s=0,
    )


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'clvchurn.db'}"
    upgrade(url)
    return url


@pytest.fixture
def client(tmp_path: Path, database: str) -> Iterator[TestClient]:
    yield from ready_client(
        create_app(_settings(tmp_path, database), engine_loader=loader_of(FakeEngine("1")))
    )


def _recorded(url: str) -> list[tuple[object, ...]]:
    engine = open_database(url)
    try:
        frame = ActionRecords(engine).frame()
    finally:
        engine.dispose()
    return frame.select("customer_id", "action_id", "assigned_at", "group", "taken_at", "cost", "tier").rows()


def test_one_action_and_a_list_are_stored(client: TestClient, database: str) -> None:
    one = {
        "customer_id": "C1",
        "action_id": "vip_rescue_call",
        "assigned_at": "2025-07-01T00:00:00",
        "group": "treatment",
    }
    many = [
        {
            "customer_id": "C2",
            "action_id": "hold_out",
            "assigned_at": "2025-07-01T00:00:00",
            "group": "control",
        },
        {
            "customer_id": "C3",
            "action_id": "vip_rescue_call",
            "assigned_at": "2025-07-01T00:00:00+02:00",
            "group": "treatment",
            "taken_at": "2025-07-02T09:30:00",
            "cost": 25,
            "tier": "A",
        },
    ]

    assert client.post("/v1/actions", json=one, headers=AUTH).json() == {"recorded": 1}
    response = client.post("/v1/actions", json=many, headers=AUTH)

    assert response.status_code == 201 and response.json() == {"recorded": 2}
    assert _recorded(database) == [
        (
            "C3",
            "vip_rescue_call",
            datetime(2025, 6, 30, 22),
            "treatment",
            datetime(2025, 7, 2, 9, 30),
            25.0,
            "A",
        ),
        ("C1", "vip_rescue_call", datetime(2025, 7, 1), "treatment", None, None, None),
        ("C2", "hold_out", datetime(2025, 7, 1), "control", None, None, None),
    ]


def test_a_prediction_s_keys_are_accepted_and_a_repeated_assignment_is_updated(
    client: TestClient, database: str
) -> None:
    prediction = {
        "customer_id": "C9",
        "as_of": "2025-07-01T00:00:00",
        "tier": "B",
        "lifecycle_stage": "at_risk",
        "churn_probability": 0.7,
        "assignment": "treatment",
        "recommended_action": {"id": "vip_rescue_call", "title": "Call", "owner": "account_manager"},
    }
    assert client.post("/v1/actions", json=prediction, headers=AUTH).status_code == 201
    taken = {**prediction, "taken_at": "2025-07-03T10:00:00", "channel": "phone"}
    assert client.post("/v1/actions", json=taken, headers=AUTH).status_code == 201

    assert _recorded(database) == [
        ("C9", "vip_rescue_call", datetime(2025, 7, 1), "treatment", datetime(2025, 7, 3, 10), None, "B")
    ]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"group": "none"}, "group", "'treatment' or 'control'"),
        ({"taken_at": "2025-06-01T00:00:00"}, "taken_at", "before assigned_at"),
        ({"cost": -1}, "cost", "greater than or equal to 0"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ],
)
def test_a_bad_report_is_a_422_naming_the_field(
    client: TestClient, database: str, change: dict[str, object], field: str, message: str
) -> None:
    body = {
        "customer_id": "C1",
        "action_id": "a",
        "assigned_at": "2025-07-01T00:00:00",
        "group": "treatment",
        **change,
    }

    response = client.post("/v1/actions", json=body, headers=AUTH)

    assert response.status_code == 422
    assert field in response.text and message in response.text
    assert _recorded(database) == []


def test_without_the_api_key_nothing_is_stored(client: TestClient, database: str) -> None:
    body = {"customer_id": "C1", "action_id": "a", "assigned_at": "2025-07-01", "group": "treatment"}
    assert client.post("/v1/actions", json=body).status_code == 401
    assert _recorded(database) == []


def test_a_database_never_migrated_is_migrated_at_start_up_and_takes_the_action(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    app = create_app(_settings(tmp_path, url), engine_loader=loader_of(FakeEngine("1")))
    body = {"customer_id": "C1", "action_id": "a", "assigned_at": "2025-07-01", "group": "treatment"}
    for client in ready_client(app):
        response = client.post("/v1/actions", json=body, headers=AUTH)
        assert response.status_code == 201, response.text
    assert [row[0] for row in _recorded(url)] == ["C1"]


def test_a_control_prediction_s_hold_out_is_stored_under_its_rule_s_action(
    client: TestClient, database: str
) -> None:
    control = {
        "customer_id": "C4",
        "as_of": "2025-07-01T00:00:00",
        "rule_id": "high_value_at_risk",
        "assignment": "control",
        "recommended_action": {"id": "hold_out"},
    }
    assert client.post("/v1/actions", json=control, headers=AUTH).status_code == 201
    assert _recorded(database) == [
        ("C4", "vip_rescue_call", datetime(2025, 7, 1), "control", None, None, None)
    ]
