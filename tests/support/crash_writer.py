"""Run by the crash test: record batches from several threads and print each acknowledged commit.

`python crash_writer.py URL THREADS` records, from each thread, batches of three rows tagged
`<thread>-<n>` forever, and prints `ACK <request id>` after each `record` returns, that is after the
rows are committed, exactly as the API would send its 200. The test kills it with SIGKILL.
"""

from __future__ import annotations

import sys
import threading
from datetime import datetime

from serving.database import PredictionRecorder, open_database

ROWS_PER_BATCH = 3


def main(url: str, threads: int) -> None:
    recorder = PredictionRecorder(open_database(url))
    printing = threading.Lock()

    def serve(thread: int) -> None:
        number = 0
        while True:
            request_id = f"{thread}-{number}"
            recorder.record(
                [
                    {
                        "request_id": request_id,
                        "customer_id": f"C{row}",
                        "as_of": datetime(2025, 3, 1),
                        "model_pair": {"churn": {"version": "1"}, "value": {"version": "1"}},
                        "population": "customer",
                        "churn_probability": 0.5,
                        "predicted_value": 10.0,
                        "tier": "C",
                        "lifecycle_stage": "active",
                        "action_id": "thank_you_note",
                        "rule_id": "R1",
                    }
                    for row in range(ROWS_PER_BATCH)
                ]
            )
            with printing:
                sys.stdout.write(f"ACK {request_id}\n")
                sys.stdout.flush()
            number += 1

    workers = [threading.Thread(target=serve, args=(thread,), daemon=True) for thread in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
