"""Throughput of the durable prediction log: group commit against one commit per request.

Each of `--threads` callers records one-row requests back to back for `--seconds`, as concurrent API
requests would, through `PredictionRecorder` (group commit), then through a plain "one transaction
per request" writer for comparison. Every commit is durable in both (SQLite WAL synchronous=FULL,
PostgreSQL synchronous_commit=on). Printed per backend and thread count: requests per second, the
mean group size (rows per commit) and the p50/p99 time a caller waits for its commit.

    .venv/bin/python benchmarks/bench_prediction_log.py --seconds 3 --threads 1 8 32
    .venv/bin/python benchmarks/bench_prediction_log.py --postgres   # also on a throwaway server
    .venv/bin/python benchmarks/bench_prediction_log.py --url postgresql+psycopg://u:pw@host/db
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from serving.database import PredictionRecorder, open_database, predictions, safe_url, upgrade
from serving.database.tables import utc_now


def row(request_id: str) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "customer_id": "C0000001",
        "as_of": datetime(2025, 3, 1),
        "model_pair": {
            "churn": {"version": "3", "run_id": "a" * 32},
            "value": {"version": "5", "run_id": "b" * 32},
        },
        "population": "customer",
        "churn_probability": 0.31,
        "predicted_value": 412.5,
        "value_at_risk": 127.9,
        "tier": "B",
        "lifecycle_stage": "active",
        "action_id": "thank_you_note",
        "rule_id": "R7",
    }


def run(
    threads: int, seconds: float, record: Callable[[list[dict[str, Any]]], None]
) -> tuple[int, list[float]]:
    """Requests completed and every caller's wait, with `threads` callers for `seconds`."""
    stop_at = time.perf_counter() + seconds
    waits: list[list[float]] = [[] for _ in range(threads)]

    def caller(number: int) -> None:
        sequence = 0
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            record([row(f"{number}-{sequence}")])
            waits[number].append(time.perf_counter() - started)
            sequence += 1

    workers = [threading.Thread(target=caller, args=(number,)) for number in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    flat = [wait for per_thread in waits for wait in per_thread]
    return len(flat), flat


def commit_per_request(engine: Engine) -> Callable[[list[dict[str, Any]]], None]:
    def record(rows: list[dict[str, Any]]) -> None:
        with engine.begin() as connection:
            connection.execute(insert(predictions), [{**each, "served_at": utc_now()} for each in rows])

    return record


def report(label: str, threads: int, seconds: float, requests: int, waits: list[float], group: float) -> None:
    cuts = statistics.quantiles(waits, n=100) if len(waits) > 1 else [waits[0]] * 99
    print(
        f"{label:<22} {threads:>7} {requests / seconds:>10,.0f} {group:>9.1f} "
        f"{cuts[49] * 1000:>9.2f} {cuts[98] * 1000:>9.2f}"
    )


def bench(url: str, threads_list: list[int], seconds: float) -> None:
    upgrade(url)
    engine = open_database(url)
    try:
        print(f"\n{safe_url(url)}")
        print(f"{'writer':<22} {'threads':>7} {'req/s':>10} {'rows/com':>9} {'p50 ms':>9} {'p99 ms':>9}")
        for threads in threads_list:
            recorder = PredictionRecorder(engine)
            requests, waits = run(threads, seconds, recorder.record)
            recorder.close()
            counts = recorder.counts
            report("group commit", threads, seconds, requests, waits, counts.committed_rows / counts.commits)
            requests, waits = run(threads, seconds, commit_per_request(engine))
            report("commit per request", threads, seconds, requests, waits, 1.0)
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM predictions"))
    finally:
        engine.dispose()


@contextmanager
def throwaway_postgres_url() -> Iterator[str]:
    from tests.database.postgres_server import throwaway_postgres

    with throwaway_postgres() as server:
        yield server.create_database()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="Duration of each measurement.")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 8, 32], help="Concurrent callers.")
    parser.add_argument("--url", action="append", default=[], help="Database URL (repeatable).")
    parser.add_argument("--postgres", action="store_true", help="Also run on a throwaway PostgreSQL server.")
    arguments = parser.parse_args()
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-log-")))
        urls = arguments.url or [f"sqlite:///{folder / 'clvchurn.db'}"]
        if arguments.postgres:
            urls.append(stack.enter_context(throwaway_postgres_url()))
        for url in urls:
            bench(url, arguments.threads, arguments.seconds)


if __name__ == "__main__":
    main()
