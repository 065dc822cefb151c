"""`clvchurn serve`: CLVCHURN_* variables hold unless an option is given on the command line."""

from __future__ import annotations

import pytest
from support.cli import run_cli

from serving.settings import Settings


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """What `serving.app.run` was called with, instead of starting a server."""
    calls: list[Settings] = []
    monkeypatch.setattr("serving.app.run", calls.append)
    return calls


def test_host_and_port_come_from_the_environment(
    started: list[Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLVCHURN_HOST", "0.0.0.0")
    monkeypatch.setenv("CLVCHURN_PORT", "9123")
    monkeypatch.setenv("CLVCHURN_WORKERS", "3")

    assert run_cli(["serve"]).exit_code == 0

    assert [(s.host, s.port, s.workers) for s in started] == [("0.0.0.0", 9123, 3)]


def test_an_option_given_overrides_its_variable_only(
    started: list[Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLVCHURN_HOST", "0.0.0.0")
    monkeypatch.setenv("CLVCHURN_PORT", "9123")

    assert run_cli(["serve", "--port", "8111"]).exit_code == 0

    assert [(s.host, s.port) for s in started] == [("0.0.0.0", 8111)]


def test_defaults_without_variables_or_options(
    started: list[Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CLVCHURN_HOST", "CLVCHURN_PORT", "CLVCHURN_WORKERS"):
        monkeypatch.delenv(name, raising=False)

    assert run_cli(["serve"]).exit_code == 0

    assert [(s.host, s.port, s.workers) for s in started] == [("127.0.0.1", 8000, 1)]
