"""Swapping champions: atomic under load, failures keep the old engine, the CLI path fails early."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from support.fake_engine import AUTH, FakeEngine, customer_body, loader_of, ready_client

from domain.errors import ModelNotReadyError
from serving.app import create_app, run
from serving.engine import EngineHolder, StaleEngineWatcher
from serving.settings import Settings


def test_reload_swaps_in_the_next_champion(settings: Settings) -> None:
    app = create_app(settings, engine_loader=loader_of(FakeEngine("1"), FakeEngine("2")))
    for client in ready_client(app):
        reloaded = client.post("/v1/admin/reload", headers=AUTH)
        prediction = client.post("/v1/predict", json=customer_body(), headers=AUTH)
        models = client.get("/v1/models", headers=AUTH)
        metrics = client.get("/metrics").text

    assert reloaded.status_code == 200
    assert reloaded.json() == {
        "previous": {"pair": "pair-1", "run_id": None, "churn": "pair-1", "value": "pair-1"},
        "current": {"pair": "pair-2", "run_id": None, "churn": "pair-2", "value": "pair-2"},
    }
    assert prediction.json()["model_versions"] == {
        "pair": "pair-2",
        "run_id": None,
        "churn": "pair-2",
        "value": "pair-2",
    }
    assert models.json()["version"] == "pair-2"
    assert 'clvchurn_model_info{pair_version="pair-2"} 1.0' in metrics
    assert 'pair_version="pair-1"' not in metrics
    assert 'clvchurn_engine_reloads_total{outcome="succeeded"} 1.0' in metrics


def test_failed_reload_keeps_the_engine_in_service(settings: Settings) -> None:
    calls = iter([FakeEngine("1")])

    def loader(_settings: Settings) -> FakeEngine:
        engine = next(calls, None)
        if engine is None:
            raise ModelNotReadyError("alias 'champion' points at no version of clvchurn-pair")
        return engine

    app = create_app(settings, engine_loader=loader)
    for client in ready_client(app):
        reloaded = client.post("/v1/admin/reload", headers=AUTH)
        prediction = client.post("/v1/predict", json=customer_body(), headers=AUTH)
        ready = client.get("/readyz")

    assert reloaded.status_code == 503
    assert reloaded.json()["detail"] == (
        "Reload failed, the models in service stay: alias 'champion' points at no version of clvchurn-pair"
    )
    assert prediction.json()["model_versions"]["pair"] == "pair-1"
    assert ready.status_code == 200


def test_a_request_in_flight_finishes_on_the_engine_it_started_with(settings: Settings) -> None:
    gate = threading.Event()
    slow_old = FakeEngine("old", gate=gate)
    app = create_app(settings, engine_loader=loader_of(slow_old, FakeEngine("new")))
    for client in ready_client(app):
        with ThreadPoolExecutor(max_workers=1) as pool:
            in_flight = pool.submit(client.post, "/v1/predict", json=customer_body(), headers=AUTH)
            while not slow_old.languages:  # the old engine has started scoring
                threading.Event().wait(0.005)
            reloaded = client.post("/v1/admin/reload", headers=AUTH)
            after = client.post("/v1/predict", json=customer_body(), headers=AUTH)
            gate.set()
            finished = in_flight.result(timeout=10)

    assert reloaded.json()["current"]["pair"] == "pair-new"
    assert after.json()["model_versions"]["pair"] == "pair-new"
    assert finished.status_code == 200
    assert finished.json()["model_versions"] == {
        "pair": "pair-old",
        "run_id": None,
        "churn": "pair-old",
        "value": "pair-old",
    }


def test_twenty_reloads_under_concurrent_requests_lose_nothing(settings: Settings) -> None:
    engines = [FakeEngine(str(number)) for number in range(21)]
    next_engine = loader_of(*engines)
    stop = threading.Event()
    first_answer = threading.Barrier(5)

    def slow_loader(settings: Settings) -> FakeEngine:
        stop.wait(0.01)  # a real load takes a while; let requests overlap it
        return next_engine(settings)

    app = create_app(settings, engine_loader=slow_loader)

    def hammer(client: TestClient) -> list[tuple[int, str, str]]:
        seen: list[tuple[int, str, str]] = []
        while not stop.is_set():
            response = client.post("/v1/predict", json=customer_body(), headers=AUTH)
            versions = response.json().get("model_versions", {}) if response.status_code == 200 else {}
            seen.append((response.status_code, versions.get("churn", ""), versions.get("value", "")))
            if len(seen) == 1:
                first_answer.wait(timeout=10)
        return seen

    for client in ready_client(app):
        with ThreadPoolExecutor(max_workers=4) as pool:
            hammers = [pool.submit(hammer, client) for _ in range(4)]
            first_answer.wait(timeout=10)
            reloads = [client.post("/v1/admin/reload", headers=AUTH).status_code for _ in range(20)]
            stop.set()
            responses = [seen for future in hammers for seen in future.result(timeout=30)]

    assert reloads == [200] * 20
    assert {status for status, _, _ in responses} == {200}
    assert len({churn for _, churn, _ in responses}) > 1  # the requests did straddle reloads
    # every response came from one engine: its churn and value versions are the same pair's
    assert all(churn == value for _, churn, value in responses)
    assert app.state.engines.get() is engines[20]


def test_watcher_reloads_only_a_stale_engine() -> None:
    holder = EngineHolder()
    holder.swap(FakeEngine("1", stale=False))
    fresh = StaleEngineWatcher(holder, lambda: FakeEngine("2"), interval_s=60)
    assert fresh.check_once() is False
    assert holder.get().model_versions.pair == "pair-1"

    holder.swap(FakeEngine("1", stale=True))
    stale = StaleEngineWatcher(holder, lambda: FakeEngine("2"), interval_s=60)
    assert stale.check_once() is True
    assert holder.get().model_versions.pair == "pair-2"


def test_run_stops_before_serving_when_no_champion_exists(settings: Settings) -> None:
    def no_champion(_settings: Settings) -> FakeEngine:
        raise ModelNotReadyError("No champion registered: run `clvchurn train --data ...` first")

    with pytest.raises(ModelNotReadyError, match="run `clvchurn train"):
        run(settings, engine_loader=no_champion)


def test_after_a_reload_returns_every_worker_of_the_database_serves_the_new_pair(settings: Settings) -> None:
    champion = {"version": "1"}  # the registry both workers load from

    def registry(_settings: Settings) -> FakeEngine:
        return FakeEngine(champion["version"])

    first, second = create_app(settings, engine_loader=registry), create_app(settings, engine_loader=registry)
    for one in ready_client(first):
        for other in ready_client(second):
            while len(first.state.fleet.live_workers()) < 2:  # both have beaten once (every second)
                threading.Event().wait(0.05)
            before = other.post("/v1/predict", json=customer_body(), headers=AUTH)
            champion["version"] = "2"
            reloaded = one.post("/v1/admin/reload", headers=AUTH)
            after = other.post("/v1/predict", json=customer_body(), headers=AUTH)  # at once, no wait

    assert before.json()["model_versions"]["pair"] == "pair-1"
    assert reloaded.json()["current"]["pair"] == "pair-2"
    assert after.status_code == 200
    assert after.json()["model_versions"]["pair"] == "pair-2"


def test_a_worker_that_stopped_beating_does_not_hold_a_reload_up(settings: Settings) -> None:
    app = create_app(settings, engine_loader=loader_of(FakeEngine("1"), FakeEngine("2")))
    for client in ready_client(app):
        app.state.fleet.state.put(
            "worker.gone:1:dead", '{"pair": "pair-1", "token": null, "seen_at": "2020-01-01T00:00:00+00:00"}'
        )
        reloaded = client.post("/v1/admin/reload", headers=AUTH)

    assert reloaded.status_code == 200
    assert reloaded.json()["current"]["pair"] == "pair-2"
