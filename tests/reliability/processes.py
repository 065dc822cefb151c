"""Services in processes of their own, for the fault tests: start one, wait for it, count its log."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import select

from serving.database import open_database, predictions

TESTS = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start(
    command: list[str], folder: Path, environment: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `command` in `folder`, with the tests' helpers importable; output goes to `folder`/service.log."""
    env = {**os.environ, "PYTHONPATH": str(TESTS), **(environment or {})}
    log = (folder / "service.log").open("ab")
    return subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(base_url: str, process: subprocess.Popen[bytes], timeout_s: float = 180.0) -> None:
    """Wait until GET /readyz answers 200; fail early if the process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with {process.returncode} before it was ready")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the service at {base_url} was not ready within {timeout_s:g} s")


def logged_requests(database_url: str) -> Counter[str]:
    """How many rows of `predictions` each request id has."""
    engine = open_database(database_url)
    try:
        with engine.connect() as connection:
            return Counter(connection.execute(select(predictions.c.request_id)).scalars())
    finally:
        engine.dispose()
