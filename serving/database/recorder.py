"""The durable prediction log: a prediction is committed before its response is sent, by group commit.

Why: the log is the audit record, so "served" must imply "on disk". Committing each request on its
own would cost one disk sync per request; group commit (Gray & Reuter, *Transaction Processing*,
1993, §9.4.7; DeWitt et al., "Implementation techniques for main memory database systems", SIGMOD
1984) shares one commit among every request that arrived while the previous commit was syncing.
Callers put their rows on a queue and wait on a future; one writer thread takes everything queued,
inserts it in one transaction, commits, then releases every caller of the group. Under load the
groups grow by themselves, so throughput follows the disk's commits per second times the group size;
an idle service pays one commit per request and no added wait (there is no linger timer).

Guarantees, as the API relies on them:

- `record` returns only after the rows are committed (SQLite WAL with synchronous=FULL, PostgreSQL
  with its default synchronous_commit), so a SIGKILL, or a crash of the machine, after the response
  left the server loses no row.
- Otherwise `record` raises `PredictionNotLoggedError` (the API answers 503) and the failure is
  counted. The converse is not promised: a caller that timed out may find its rows committed
  later, so the log can hold a prediction answered with 503, never lack one answered with 200.
- One bad request does not fail the others of its group: when a group's insert fails for a reason
  other than the database being unreachable, each request of the group is retried in a transaction
  of its own, and only the offending one fails.

Rows are plain dicts keyed by the columns of `serving.database.tables.predictions` (every column
but `id`); `as_of` is naive (UTC, as in the data contract), `served_at` aware and by default now.
Unknown or missing fields and timestamps of the wrong kind raise `PredictionRowError` at once,
before anything is queued.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from domain.errors import PredictionNotLoggedError, PredictionRowError
from serving.database.connection import describe_error, safe_url
from serving.database.tables import predictions, utc_now

logger = logging.getLogger(__name__)

COLUMNS: tuple[str, ...] = tuple(column.name for column in predictions.columns if column.name != "id")
"""Fields of a prediction row, in table order."""
REQUIRED: frozenset[str] = frozenset(
    column.name
    for column in predictions.columns
    if not column.nullable and column.name not in ("id", "served_at")
)
"""Fields a row must carry with a value; the others default to None (`served_at` to now)."""

Row = dict[str, Any]


@dataclass(frozen=True)
class RecorderCounts:
    """What the recorder did since it started; each row submitted ends in exactly one count.

    `committed_rows` are on disk; `failed_rows` were refused, could not be committed or were not
    committed in time (their callers got `PredictionRowError` or `PredictionNotLoggedError`);
    `withdrawn_rows` belonged to asyncio callers cancelled before the writer took them (a client
    gone), never written and never answered. `commits` counts transactions, so
    `committed_rows / commits` is the mean group size.
    """

    committed_rows: int = 0
    failed_rows: int = 0
    withdrawn_rows: int = 0
    commits: int = 0


@dataclass
class _Job:
    rows: list[Row]
    future: Future[None]


class _Stop:
    """Put on the queue by `close`: the writer commits what is ahead of it, then ends."""


class PredictionRecorder:
    """Group-committing writer of the `predictions` table; thread-safe, one writer thread per instance.

    Parameters
    ----------
    engine
        From `serving.database.open_database`, on a database migrated by `upgrade`.
    timeout_s
        Longest a caller waits for its commit before `PredictionNotLoggedError`.
    max_group_rows
        Rows above which the writer stops adding requests to a group (a group may exceed it by the
        last request taken, whose rows are never split).
    clock
        Gives `served_at` to rows without one; aware UTC.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        timeout_s: float = 10.0,
        max_group_rows: int = 10_000,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.timeout_s = timeout_s
        self.max_group_rows = max_group_rows
        self._clock = clock
        self._queue: queue.SimpleQueue[_Job | _Stop] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._counts = RecorderCounts()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def counts(self) -> RecorderCounts:
        with self._lock:
            return self._counts

    @property
    def queued_requests(self) -> int:
        """Requests waiting for the writer to take them (not counting the group being committed)."""
        return self._queue.qsize()

    def record(self, rows: Sequence[Mapping[str, Any]], timeout_s: float | None = None) -> None:
        """Commit `rows` to the log, blocking until they are on disk (at most `timeout_s`, default the
        recorder's).

        Raises
        ------
        PredictionRowError
            A row lacks a required field or carries an unknown one; nothing of `rows` is written.
        PredictionNotLoggedError
            The database refused or could not take the rows within `timeout_s`, or the recorder is
            closed.
        """
        wait_s = self.timeout_s if timeout_s is None else timeout_s
        future = self._submit(rows)
        if future is None:
            return
        try:
            future.result(timeout=wait_s)
        except FutureTimeoutError:
            raise self._timed_out(future, len(rows), wait_s) from None

    async def record_async(self, rows: Sequence[Mapping[str, Any]], timeout_s: float | None = None) -> None:
        """`record` for the event loop: waits for the commit without holding a thread.

        Raises as `record`; a cancelled caller withdraws its rows if the writer has not taken them yet.
        """
        wait_s = self.timeout_s if timeout_s is None else timeout_s
        future = self._submit(rows)
        if future is None:
            return
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), timeout=wait_s)
        except TimeoutError:
            raise self._timed_out(future, len(rows), wait_s) from None
        except asyncio.CancelledError:
            if future.cancel():
                self._add(withdrawn_rows=len(rows))
            raise

    def close(self) -> None:
        """Commit what is queued, stop the writer; later calls to `record` raise."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_Stop())
            thread.join()

    def _submit(self, rows: Sequence[Mapping[str, Any]]) -> Future[None] | None:
        if not rows:
            return None
        try:
            job = _Job([self._complete(row, position) for position, row in enumerate(rows)], Future())
        except PredictionRowError:
            self._add(failed_rows=len(rows))
            raise
        with self._lock:
            if self._closed:
                self._counts = _plus(self._counts, failed_rows=len(rows))
                raise PredictionNotLoggedError(
                    "The prediction log is closed (the service is stopping); the predictions were not served"
                )
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._write_forever, name="clvchurn-prediction-recorder", daemon=True
                )
                self._thread.start()
            self._queue.put(job)
        return job.future

    def _complete(self, row: Mapping[str, Any], position: int) -> Row:
        unknown = sorted(set(row) - set(COLUMNS))
        if unknown:
            raise PredictionRowError(
                f"prediction row {position}: unknown field(s) {', '.join(unknown)}; the predictions table "
                f"has {', '.join(COLUMNS)}"
            )
        missing = sorted(name for name in REQUIRED if row.get(name) is None)
        if missing:
            raise PredictionRowError(
                f"prediction row {position} (customer {row.get('customer_id')!r}): field(s) "
                f"{', '.join(missing)} need a value"
            )
        complete = {name: row.get(name) for name in COLUMNS}
        if complete["served_at"] is None:
            complete["served_at"] = self._clock()
        if not isinstance(complete["as_of"], datetime) or complete["as_of"].tzinfo is not None:
            raise PredictionRowError(
                f"prediction row {position}: as_of must be a naive datetime (UTC, as in the data contract), "
                f"got {complete['as_of']!r}"
            )
        if not isinstance(complete["served_at"], datetime) or complete["served_at"].tzinfo is None:
            raise PredictionRowError(
                f"prediction row {position}: served_at must be an aware datetime, got {complete['served_at']!r}"
            )
        return complete

    def _timed_out(self, future: Future[None], row_count: int, wait_s: float) -> PredictionNotLoggedError:
        if future.cancel():
            self._add(failed_rows=row_count)
            outcome = "withdrawn, so they are not in the log"
        else:
            outcome = "still being committed, so they may yet appear in the log"
        return PredictionNotLoggedError(
            f"The prediction log at {safe_url(self.engine.url)} did not commit {row_count} predictions "
            f"within {wait_s:g} s (they are {outcome}); the predictions were not served"
        )

    def _write_forever(self) -> None:
        while True:
            first = self._queue.get()
            if isinstance(first, _Stop):
                return
            group, stop = self._gather(first)
            self._commit(group)
            if stop:
                return

    def _gather(self, first: _Job) -> tuple[list[_Job], bool]:
        """`first` and whatever else is queued now, up to about `max_group_rows`; True if told to stop."""
        group, rows = [first], len(first.rows)
        while rows < self.max_group_rows:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, _Stop):
                return group, True
            group.append(job)
            rows += len(job.rows)
        return group, False

    def _commit(self, group: list[_Job]) -> None:
        # Jobs their callers cancelled are skipped; the callers counted them.
        live = [job for job in group if job.future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            self._insert([row for job in live for row in job.rows])
        except Exception as error:
            if len(live) > 1 and not _database_unreachable(error):
                logger.warning(
                    "A group of %d predictions failed to commit (%s); retrying each request alone",
                    len(live),
                    describe_error(error),
                )
                for job in live:
                    self._commit_alone(job)
                return
            self._fail(live, error)
            return
        self._succeed(live)

    def _commit_alone(self, job: _Job) -> None:
        try:
            self._insert(job.rows)
        except Exception as error:
            self._fail([job], error)
            return
        self._succeed([job])

    def _insert(self, rows: list[Row]) -> None:
        with self.engine.begin() as connection:
            connection.execute(insert(predictions), rows)

    def _succeed(self, jobs: list[_Job]) -> None:
        self._add(committed_rows=sum(len(job.rows) for job in jobs), commits=1)
        for job in jobs:
            job.future.set_result(None)

    def _fail(self, jobs: list[_Job], error: Exception) -> None:
        row_count = sum(len(job.rows) for job in jobs)
        self._add(failed_rows=row_count)
        reason = describe_error(error)
        logger.error("Could not commit %d predictions to the prediction log: %s", row_count, reason)
        for job in jobs:
            failure = PredictionNotLoggedError(
                f"Could not commit {len(job.rows)} predictions to the prediction log at "
                f"{safe_url(self.engine.url)} (CLVCHURN_DATABASE_URL): {reason}; the predictions were "
                "not served"
            )
            failure.__cause__ = error
            job.future.set_exception(failure)

    def _add(self, **increments: int) -> None:
        with self._lock:
            self._counts = _plus(self._counts, **increments)


def _plus(counts: RecorderCounts, **increments: int) -> RecorderCounts:
    return RecorderCounts(
        **{
            name: getattr(counts, name) + increments.get(name, 0)
            for name in RecorderCounts.__dataclass_fields__
        }
    )


def _database_unreachable(error: Exception) -> bool:
    """Whether `error` says the database itself is unavailable (then retrying row by row is pointless)."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, OperationalError | InterfaceError | DisconnectionError | PoolTimeoutError)
