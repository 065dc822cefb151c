"""Reliability under load: `clvchurn serve --workers 2` through a reload and a SIGKILLed worker.

The scenario of tests/reliability/test_load.py (`tests/reliability/load.py`), with figures printed:
8 closed-loop clients POST /v1/predict for 30 s on loopback; at 10 s the champion alias moves to a new
pair version and POST /v1/admin/reload is called; at 20 s one worker is killed with SIGKILL. Printed:
requests, failures (other than those in flight on the killed worker), 200s missing from the
prediction log, and p50/p99 latency of the 200s started before, during and after the reload.

    .venv/bin/python benchmarks/bench_load.py --train            # trains a small pair first (~1 min)
    .venv/bin/python benchmarks/bench_load.py --tracking-uri sqlite:///mlruns/mlflow.db  # trained on the synthetic base

The registry is copied to a temporary folder first (its artifacts are shared, read-only), so the
alias move does not touch the store you point at.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from reliability.load import busiest_customers, copy_registry, run_load
from support.trained import request_for, train_models

from features.synth import generate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", action="store_true", help="Train a small pair on synthetic data first.")
    parser.add_argument("--tracking-uri", help="SQLite MLflow store with a champion pair (sqlite:///...).")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not args.train and not args.tracking_uri:
        parser.error("give --train or --tracking-uri")

    with tempfile.TemporaryDirectory(prefix="clvchurn-load-") as work:
        folder = Path(work)
        if args.train:
            print("Training a small pair...", flush=True)
            models = train_models(folder / "mlruns")
            raw, tracking_uri = models.raw, models.tracking_uri
        else:
            raw, tracking_uri = generate(1_500, 11).raw, args.tracking_uri
        bodies = [
            request_for(raw, customer).model_dump_json().encode() for customer in busiest_customers(raw)
        ]
        run_folder = folder / "run"
        run_folder.mkdir()
        report = run_load(
            bodies,
            copy_registry(tracking_uri, run_folder),
            run_folder,
            clients=args.clients,
            seconds=args.seconds,
            reload_at_s=args.seconds / 3,
            kill_at_s=2 * args.seconds / 3,
            workers=args.workers,
        )
    print(
        f"{args.clients} clients, {args.seconds:g} s, {args.workers} workers; reload at "
        f"{args.seconds / 3:g} s, one worker SIGKILLed at {2 * args.seconds / 3:g} s"
    )
    for line in report.lines():
        print(line)


if __name__ == "__main__":
    main()
