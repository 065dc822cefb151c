"""Append every served prediction to a local SQLite file, off the request path.

Requests only put their predictions on a `queue.Queue`; one writer thread owns the SQLite connection
(connections must stay on the thread that made them) and inserts in batches, one transaction per
batch, so logging adds no disk I/O to a request's latency. `close()` drains the queue and closes the
file at shutdown. The file is meant for audit and for monitoring drift of tiers, probabilities and
actions over time.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from domain.errors import PredictionLogError
from serving.schemas import Prediction

logger = logging.getLogger(__name__)

TABLE = "predictions"
COLUMNS = (
    "ts",
    "request_id",
    "customer_id",
    "as_of",
    "tier",
    "lifecycle_stage",
    "churn_probability",
    "predicted_value",
    "value_at_risk",
    "action_id",
    "churn_model_version",
    "value_model_version",
)
CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    ts TEXT NOT NULL,
    request_id TEXT,
    customer_id TEXT NOT NULL,
    as_of TEXT NOT NULL,
    tier TEXT NOT NULL,
    lifecycle_stage TEXT NOT NULL,
    churn_probability REAL,
    predicted_value REAL NOT NULL,
    value_at_risk REAL,
    action_id TEXT NOT NULL,
    churn_model_version TEXT NOT NULL,
    value_model_version TEXT NOT NULL
)
"""
INSERT = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"

_Entry = tuple[str, str | None, Sequence[Prediction]]
_STOP = None


def prediction_row(ts: str, request_id: str | None, prediction: Prediction) -> tuple[object, ...]:
    """One table row, in `COLUMNS` order."""
    return (
        ts,
        request_id,
        prediction.customer_id,
        prediction.as_of.isoformat(),
        prediction.tier,
        prediction.lifecycle_stage,
        prediction.churn_probability,
        prediction.predicted_value.amount,
        prediction.value_at_risk,
        prediction.recommended_action.id,
        prediction.model_versions.churn,
        prediction.model_versions.value,
    )


class PredictionLog:
    """Queue plus writer thread; `record` never blocks on disk."""

    def __init__(
        self, path: Path, max_queued: int = 100_000, batch_rows: int = 1_000, linger_s: float = 0.2
    ) -> None:
        self.path = path
        self.dropped = 0
        self._batch_rows = batch_rows
        self._linger_s = linger_s
        self._queue: queue.Queue[_Entry | None] = queue.Queue(maxsize=max_queued)
        self._thread = threading.Thread(
            target=self._write_forever, name="clvchurn-prediction-log", daemon=True
        )
        self._started = False

    def start(self) -> None:
        """Create the file and table now, so a bad path fails at start-up rather than silently later."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(self.path) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute(CREATE_TABLE)
            connection.close()
        except (OSError, sqlite3.Error) as error:
            raise PredictionLogError(
                f"Cannot open the prediction log {self.path} (CLVCHURN_PREDICTION_LOG_PATH): {error}; "
                "point the setting at a writable SQLite file"
            ) from error
        self._thread.start()
        self._started = True

    def record(self, predictions: Sequence[Prediction], request_id: str | None) -> None:
        """Queue `predictions` for writing; if the writer has fallen far behind, drop them and say so."""
        ts = datetime.now(UTC).replace(tzinfo=None).isoformat()
        try:
            self._queue.put_nowait((ts, request_id, predictions))
        except queue.Full:
            self.dropped += len(predictions)
            logger.warning("Prediction log %s is behind; dropped %d predictions", self.path, len(predictions))

    def flush(self) -> None:
        """Block until everything queued so far is committed."""
        if self._started:
            self._queue.join()

    def close(self) -> None:
        """Write what is queued, then stop the writer and close the file."""
        if not self._started:
            return
        self._queue.put(_STOP)
        self._thread.join()
        self._started = False

    def _write_forever(self) -> None:
        """Commit in batches: whatever arrives within `linger_s` of the first entry, up to `batch_rows`.

        One commit per request would cost a disk sync per prediction; with WAL and synchronous=NORMAL a
        commit survives a crash of the service (not of the machine) without a sync of its own.
        """
        connection = sqlite3.connect(self.path)
        connection.execute("PRAGMA synchronous=NORMAL")
        try:
            while True:
                entries = [self._queue.get()]
                deadline = time.monotonic() + self._linger_s
                while entries[-1] is not _STOP and len(entries) < self._batch_rows:
                    try:
                        entries.append(self._queue.get(timeout=max(deadline - time.monotonic(), 0.0)))
                    except queue.Empty:
                        break
                self._insert(connection, [entry for entry in entries if entry is not _STOP])
                for _ in entries:
                    self._queue.task_done()
                if entries[-1] is _STOP:
                    return
        finally:
            connection.close()

    def _insert(self, connection: sqlite3.Connection, entries: list[_Entry]) -> None:
        rows = [
            prediction_row(ts, request_id, prediction)
            for ts, request_id, predictions in entries
            for prediction in predictions
        ]
        if not rows:
            return
        try:
            with connection:
                connection.executemany(INSERT, rows)
        except sqlite3.Error:
            logger.exception("Could not write %d predictions to %s", len(rows), self.path)
