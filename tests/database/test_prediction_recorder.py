"""The prediction log: rows committed before `record` returns, grouped, isolated, failures raised and counted."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text

from domain.errors import PredictionNotLoggedError, PredictionRowError
from serving.database import PredictionRecorder, RecorderCounts, predictions

SERVED_AT = datetime(2025, 3, 1, 9, 30, 15, 250_000, tzinfo=UTC)


def prediction_row(request_id: str, customer_id: str = "C1", **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "request_id": request_id,
        "customer_id": customer_id,
        "as_of": datetime(2025, 3, 1),
        "model_pair": {
            "churn": {"version": "3", "run_id": "r-churn"},
            "value": {"version": "5", "run_id": "r-v"},
        },
        "population": "customer",
        "churn_probability": 0.25,
        "predicted_value": 400.0,
        "value_at_risk": 100.0,
        "tier": "B",
        "lifecycle_stage": "active",
        "action_id": "thank_you_note",
        "rule_id": "R7",
    }
    row.update(changes)
    return row


def logged(engine: Engine, column: str = "request_id") -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(predictions.c[column]).order_by(predictions.c.id)).scalars())


@pytest.fixture
def recorder(engine: Engine) -> Iterator[PredictionRecorder]:
    recorder = PredictionRecorder(engine, clock=lambda: SERVED_AT)
    yield recorder
    recorder.close()


class InsertGate:
    """Holds the writer inside its first insert until `open()`, so that requests pile up behind it."""

    def __init__(self, engine: Engine) -> None:
        self.entered = threading.Event()
        self._release = threading.Event()
        event.listen(engine, "before_cursor_execute", self._hold)

    def _hold(self, *args: Any) -> None:
        statement: str = args[2]
        if statement.startswith("INSERT INTO predictions") and not self._release.is_set():
            self.entered.set()
            assert self._release.wait(timeout=60), "the test never opened the gate"

    def open(self) -> None:
        self._release.set()


def wait_until(condition: Callable[[], bool]) -> None:
    """Poll `condition` (a state, not a duration, is asserted); give up after a minute."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.005)


def test_recorded_rows_are_in_the_table_exactly_as_given(
    engine: Engine, recorder: PredictionRecorder
) -> None:
    recorder.record(
        [prediction_row("req-1", "C1"), prediction_row("req-1", "C2", value_at_risk=None, tier="D")]
    )

    with engine.connect() as connection:
        rows = [row._asdict() for row in connection.execute(select(predictions).order_by(predictions.c.id))]
    assert [row.pop("id") for row in rows] == [1, 2]
    assert rows == [
        {**prediction_row("req-1", "C1"), "reactivation_probability": None, "conversion_probability": None,
         "assignment": None, "served_at": SERVED_AT},
        {**prediction_row("req-1", "C2", value_at_risk=None, tier="D"), "reactivation_probability": None,
         "conversion_probability": None, "assignment": None, "served_at": SERVED_AT},
    ]  # fmt: skip
    assert recorder.counts == RecorderCounts(committed_rows=2, failed_rows=0, withdrawn_rows=0, commits=1)


def test_a_row_keeps_its_own_served_at_and_nothing_is_written_for_no_rows(
    engine: Engine, recorder: PredictionRecorder
) -> None:
    own = datetime(2025, 3, 2, 8, 0, tzinfo=UTC)
    recorder.record([])
    recorder.record([prediction_row("req-1", served_at=own)])

    assert logged(engine, "served_at") == [own]
    assert recorder.counts.commits == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"churn_prob": 0.2}, r"prediction row 1: unknown field\(s\) churn_prob; the predictions table has"),
        ({"tier": None}, r"prediction row 1 \(customer 'C2'\): field\(s\) tier need a value"),
        ({"population": None, "rule_id": None}, r"field\(s\) population, rule_id need a value"),
        ({"as_of": SERVED_AT}, r"prediction row 1: as_of must be a naive datetime \(UTC"),
        ({"as_of": "2025-03-01"}, r"as_of must be a naive datetime .* got '2025-03-01'"),
        ({"served_at": datetime(2025, 3, 1)}, r"served_at must be an aware datetime, got datetime"),
    ],
)
def test_a_malformed_row_is_refused_before_anything_is_written(
    engine: Engine, recorder: PredictionRecorder, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(PredictionRowError, match=message):
        recorder.record([prediction_row("req-1", "C1"), {**prediction_row("req-1", "C2"), **changes}])

    assert logged(engine) == []
    assert recorder.counts == RecorderCounts(committed_rows=0, failed_rows=2, withdrawn_rows=0, commits=0)


def test_concurrent_requests_are_all_committed_exactly_once(
    engine: Engine, recorder: PredictionRecorder
) -> None:
    def serve(thread: int) -> None:
        for request in range(25):
            recorder.record(
                [prediction_row(f"{thread}-{request}", "A"), prediction_row(f"{thread}-{request}", "B")]
            )

    threads = [threading.Thread(target=serve, args=(thread,)) for thread in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    expected = sorted(f"{thread}-{request}" for thread in range(8) for request in range(25) for _ in range(2))
    assert sorted(logged(engine)) == expected
    counts = recorder.counts
    assert (counts.committed_rows, counts.failed_rows, counts.withdrawn_rows) == (400, 0, 0)
    assert 1 <= counts.commits <= 200


def test_requests_arriving_during_a_commit_share_the_next_one(
    engine: Engine, recorder: PredictionRecorder
) -> None:
    gate = InsertGate(engine)
    callers = [threading.Thread(target=recorder.record, args=([prediction_row("first")],))]
    callers[0].start()
    gate.entered.wait(timeout=60)
    for number in range(4):
        callers.append(threading.Thread(target=recorder.record, args=([prediction_row(f"next-{number}")],)))
        callers[-1].start()
    wait_until(lambda: recorder.queued_requests == 4)

    gate.open()
    for caller in callers:
        caller.join()

    assert sorted(logged(engine)) == ["first", "next-0", "next-1", "next-2", "next-3"]
    assert recorder.counts == RecorderCounts(committed_rows=5, failed_rows=0, withdrawn_rows=0, commits=2)


def test_a_request_the_database_refuses_fails_alone(engine: Engine, recorder: PredictionRecorder) -> None:
    """A probability of 1.5 breaks a CHECK constraint: its caller gets the error, its group-mates commit."""
    gate = InsertGate(engine)
    outcomes: dict[str, str] = {}

    def serve(request_id: str, **changes: Any) -> None:
        try:
            recorder.record([prediction_row(request_id, **changes)])
            outcomes[request_id] = "logged"
        except PredictionNotLoggedError as error:
            outcomes[request_id] = str(error)

    callers = [threading.Thread(target=serve, args=("first",))]
    callers[0].start()
    gate.entered.wait(timeout=60)
    callers += [
        threading.Thread(target=serve, args=("good-1",)),
        threading.Thread(target=serve, args=("bad",), kwargs={"churn_probability": 1.5}),
        threading.Thread(target=serve, args=("good-2",), kwargs={"assignment": "treatment"}),
    ]
    for caller in callers[1:]:
        caller.start()
    wait_until(lambda: recorder.queued_requests == 3)
    gate.open()
    for caller in callers:
        caller.join()

    assert sorted(logged(engine)) == ["first", "good-1", "good-2"]
    assert {key: value for key, value in outcomes.items() if value == "logged"} == {
        "first": "logged",
        "good-1": "logged",
        "good-2": "logged",
    }
    assert outcomes["bad"].startswith("Could not commit 1 predictions to the prediction log at ")
    assert "IntegrityError" in outcomes["bad"] or "CheckViolation" in outcomes["bad"]
    assert outcomes["bad"].endswith("; the predictions were not served")
    assert recorder.counts == RecorderCounts(committed_rows=3, failed_rows=1, withdrawn_rows=0, commits=3)


def test_a_database_error_reaches_the_caller_and_is_counted(
    engine: Engine, recorder: PredictionRecorder
) -> None:
    recorder.record([prediction_row("before")])
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE predictions"))

    with pytest.raises(PredictionNotLoggedError, match="Could not commit 2 predictions") as raised:
        recorder.record([prediction_row("after", "C1"), prediction_row("after", "C2")])

    assert "CLVCHURN_DATABASE_URL" in str(raised.value)
    assert "C1" not in str(raised.value)  # no parameters in the message
    assert recorder.counts == RecorderCounts(committed_rows=1, failed_rows=2, withdrawn_rows=0, commits=1)


def test_a_caller_that_times_out_withdraws_its_rows(engine: Engine, recorder: PredictionRecorder) -> None:
    gate = InsertGate(engine)
    first = threading.Thread(target=recorder.record, args=([prediction_row("first")],))
    first.start()
    gate.entered.wait(timeout=60)

    with pytest.raises(
        PredictionNotLoggedError, match=r"within 0.05 s \(they are withdrawn, so they are not in"
    ):
        recorder.record([prediction_row("late", "C1"), prediction_row("late", "C2")], timeout_s=0.05)

    gate.open()
    first.join()
    recorder.record([prediction_row("after")])
    assert logged(engine) == ["first", "after"]
    assert recorder.counts == RecorderCounts(committed_rows=2, failed_rows=2, withdrawn_rows=0, commits=2)


def test_the_asyncio_variant_commits_before_returning(engine: Engine, recorder: PredictionRecorder) -> None:
    async def serve_all() -> None:
        await asyncio.gather(*(recorder.record_async([prediction_row(f"async-{n}")]) for n in range(20)))

    asyncio.run(serve_all())

    assert sorted(logged(engine)) == sorted(f"async-{n}" for n in range(20))
    assert recorder.counts.committed_rows == 20


def test_a_cancelled_asyncio_caller_withdraws_rows_the_writer_has_not_taken(
    engine: Engine, recorder: PredictionRecorder
) -> None:
    gate = InsertGate(engine)
    first = threading.Thread(target=recorder.record, args=([prediction_row("first")],))
    first.start()
    gate.entered.wait(timeout=60)

    async def give_up() -> None:
        task = asyncio.create_task(recorder.record_async([prediction_row("gone")]))
        await asyncio.to_thread(wait_until, lambda: recorder.queued_requests == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(give_up())
    gate.open()
    first.join()
    recorder.record([prediction_row("after")])

    assert logged(engine) == ["first", "after"]
    assert recorder.counts == RecorderCounts(committed_rows=2, failed_rows=0, withdrawn_rows=1, commits=2)


def test_close_commits_what_is_queued_then_refuses(engine: Engine) -> None:
    recorder = PredictionRecorder(engine)
    gate = InsertGate(engine)
    callers = [threading.Thread(target=recorder.record, args=([prediction_row(f"r{n}")],)) for n in range(3)]
    callers[0].start()
    gate.entered.wait(timeout=60)
    for caller in callers[1:]:
        caller.start()
    wait_until(lambda: recorder.queued_requests == 2)
    closing = threading.Thread(target=recorder.close)
    closing.start()
    wait_until(lambda: recorder.queued_requests == 3)  # the stop sign is behind the two requests

    gate.open()
    closing.join()
    for caller in callers:
        caller.join()

    assert sorted(logged(engine)) == ["r0", "r1", "r2"]
    with pytest.raises(PredictionNotLoggedError, match="The prediction log is closed"):
        recorder.record([prediction_row("too-late")])
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(predictions)).scalar() == 3
