"""Durability: every prediction acknowledged before a SIGKILL is in the log afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sqlalchemy import select
from support.crash_writer import ROWS_PER_BATCH

from serving.database import open_database, predictions, upgrade

WRITER = Path(__file__).parents[1] / "support" / "crash_writer.py"
ACKS_BEFORE_KILL = 300


def test_every_acknowledged_prediction_survives_sigkill(database_url: str) -> None:
    upgrade(database_url)
    writer = subprocess.Popen(
        [sys.executable, str(WRITER), database_url, "8"], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    acknowledged: list[str] = []
    try:
        assert writer.stdout is not None
        for line in writer.stdout:
            acknowledged.append(line.split()[1])
            if len(acknowledged) == ACKS_BEFORE_KILL:
                os.kill(writer.pid, signal.SIGKILL)
                break
        acknowledged += [line.split()[1] for line in writer.stdout]  # printed before the kill landed
    finally:
        writer.kill()
        writer.wait(timeout=60)

    assert writer.returncode == -signal.SIGKILL
    engine = open_database(database_url)
    try:
        with engine.connect() as connection:
            rows = Counter(connection.execute(select(predictions.c.request_id)).scalars())
    finally:
        engine.dispose()
    assert len(acknowledged) >= ACKS_BEFORE_KILL
    assert [request for request in acknowledged if rows[request] != ROWS_PER_BATCH] == []
    assert set(rows.values()) == {ROWS_PER_BATCH}  # no half-written batch either
