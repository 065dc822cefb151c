"""The prediction log: every served prediction lands in SQLite, written off the request path."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.fake_engine import AUTH, FakeEngine, customer_body, fake_prediction, loader_of

from domain.errors import PredictionLogError
from serving.app import create_app
from serving.prediction_log import COLUMNS, PredictionLog
from serving.schemas import PredictRequest
from serving.settings import Settings


def _rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute(f"SELECT {', '.join(COLUMNS)} FROM predictions ORDER BY rowid").fetchall()


def _prediction(customer_id: str, amounts: list[float]):
    request = PredictRequest.model_validate(customer_body(customer_id, amounts))
    return fake_prediction(request, "en", FakeEngine("4").model_versions)


def test_close_writes_everything_recorded(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log" / "predictions.sqlite", batch_rows=2)
    log.start()
    log.record([_prediction("C1", [60.0, 40.0]), _prediction("C2", [])], request_id="r1")
    log.record([_prediction("C3", [500.0, 500.0])], request_id="r2")
    log.close()

    rows = _rows(tmp_path / "log" / "predictions.sqlite")
    as_of, versions, third = "2024-07-01T00:00:00", ("pair-4", "pair-4"), 1 / 3
    assert [row[1:] for row in rows] == [
        ("r1", "C1", as_of, "C", "active", third, 100.0, third * 100.0, "thank_you_note", *versions),
        ("r1", "C2", as_of, "D", "prospect", None, 0.0, None, "winback_call", *versions),
        ("r2", "C3", as_of, "A", "active", third, 1000.0, third * 1000.0, "thank_you_note", *versions),
    ]  # fmt: skip
    assert all(row[0] for row in rows)  # a timestamp on every row


def test_flush_makes_rows_visible_while_running(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "predictions.sqlite")
    log.start()
    log.record([_prediction("C1", [1.0])], request_id=None)
    log.flush()

    assert [row[2] for row in _rows(tmp_path / "predictions.sqlite")] == ["C1"]
    log.close()


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "predictions.sqlite", max_queued=1)  # writer not started: queue fills
    log.record([_prediction("C1", [1.0])], request_id=None)
    log.record([_prediction("C2", [1.0]), _prediction("C3", [1.0])], request_id=None)

    assert log.dropped == 2


def test_every_served_prediction_is_logged_with_its_request_id(settings: Settings) -> None:
    app = create_app(settings, engine_loader=loader_of(FakeEngine("9")))
    with TestClient(app) as client:
        app.state.initial_load.join(timeout=10)
        one = client.post("/v1/predict", json=customer_body("C1"), headers=AUTH)
        batch = client.post(
            "/v1/predict/batch",
            json={"customers": [customer_body("C2", [5.0]), customer_body("C3", [])]},
            headers=AUTH,
        )
        client.post("/v1/predict", json={"customer": {}}, headers=AUTH)  # invalid: nothing to log

    rows = _rows(settings.prediction_log_path)  # the lifespan closed the log: all rows are on disk
    assert [(row[1], row[2], row[4], row[9], row[10]) for row in rows] == [
        (one.headers["x-request-id"], "C1", "C", "thank_you_note", "pair-9"),
        (batch.headers["x-request-id"], "C2", "D", "thank_you_note", "pair-9"),
        (batch.headers["x-request-id"], "C3", "D", "winback_call", "pair-9"),
    ]


def test_an_unwritable_path_fails_at_start_naming_the_setting(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("not a folder", encoding="utf-8")
    log = PredictionLog(tmp_path / "a_file" / "predictions.sqlite")

    with pytest.raises(PredictionLogError, match="CLVCHURN_PREDICTION_LOG_PATH"):
        log.start()
