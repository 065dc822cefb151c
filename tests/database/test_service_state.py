"""Shared values: the first worker to create one wins, and every worker reads the winner's value."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from serving.database import WEB_SESSION_SECRET, ServiceState, open_database, service_state

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def test_put_replaces_and_get_reads(engine: Engine) -> None:
    state = ServiceState(engine, clock=lambda: NOW)

    assert state.get("models_generation") is None
    state.put("models_generation", "1")
    state.put("models_generation", "2")

    assert state.get("models_generation") == "2"
    with engine.connect() as connection:
        assert connection.execute(select(service_state)).all() == [("models_generation", "2", NOW)]


def test_the_first_value_created_is_the_one_everyone_gets(engine: Engine, database_url: str) -> None:
    engines = [open_database(database_url) for _ in range(4)]
    start = threading.Barrier(8)
    got: list[str] = []

    def ask(number: int) -> None:
        state = ServiceState(engines[number % 4])
        start.wait()
        got.append(state.get_or_create("secret", lambda: f"made-by-{number}"))

    askers = [threading.Thread(target=ask, args=(number,)) for number in range(8)]
    for thread in askers:
        thread.start()
    for thread in askers:
        thread.join()
    for each in engines:
        each.dispose()

    assert len(got) == 8
    assert len(set(got)) == 1
    assert ServiceState(engine).get("secret") == got[0]


def test_the_shared_secret_is_random_once_then_fixed(engine: Engine) -> None:
    state = ServiceState(engine)
    secret = state.shared_secret()

    assert len(secret) == 43
    assert state.shared_secret() == secret
    assert state.get(WEB_SESSION_SECRET) == secret
    assert state.shared_secret("another") != secret
