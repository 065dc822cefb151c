"""A database outage: /readyz says 503 and predictions answer 503 rather than succeed unlogged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from support.fake_engine import API_KEY, AUTH, FakeEngine, customer_body, loader_of, ready_client
from support.postgres_server import ThrowawayPostgres, postgres_or_skip

from serving.app import create_app
from serving.settings import Settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def server() -> Iterator[ThrowawayPostgres]:
    with postgres_or_skip() as server:
        yield server


def _pg_ctl(server: ThrowawayPostgres, *arguments: str) -> None:
    server._run("pg_ctl", "-D", str(server.data), *arguments)


def stop(server: ThrowawayPostgres) -> None:
    _pg_ctl(server, "-m", "immediate", "-w", "stop")


def restart(server: ThrowawayPostgres) -> None:
    options = f"-p {server.port} -c listen_addresses=127.0.0.1 -k {server.folder}"
    _pg_ctl(server, "-o", options, "-l", str(server.folder / "log"), "-w", "start")


def test_an_outage_answers_503_and_the_service_recovers_by_itself(
    server: ThrowawayPostgres, tmp_path: Path
) -> None:
    url = server.create_database()
    settings = Settings(
        api_keys=[SecretStr(API_KEY)],
        api_key_file=None,
        snapshot_path=tmp_path / "scores.parquet",
        database_url=SecretStr(url),
        reload_interval_s=0,
    )
    app = create_app(settings, engine_loader=loader_of(FakeEngine("1")))
    for client in ready_client(app):
        before = client.post("/v1/predict", json=customer_body(), headers=AUTH)
        stop(server)
        try:
            ready_down = client.get("/readyz")
            predict_down = client.post("/v1/predict", json=customer_body(), headers=AUTH)
            batch_down = client.post("/v1/predict/batch", json={"customers": [customer_body()]}, headers=AUTH)
            metrics = client.get("/metrics").text
        finally:
            restart(server)
        ready_again = client.get("/readyz")
        predict_again = client.post("/v1/predict", json=customer_body(), headers=AUTH)

    assert before.status_code == 200
    assert ready_down.status_code == 503
    assert ready_down.json()["status"] == "failed"
    assert str(server.port) not in ready_down.text and "postgresql" not in ready_down.text
    assert (predict_down.status_code, batch_down.status_code) == (503, 503)
    assert "customer_id" not in predict_down.text
    assert 'clvchurn_prediction_log_rows_total{outcome="failed"} 2.0' in metrics
    assert (ready_again.status_code, predict_again.status_code) == (200, 200)
