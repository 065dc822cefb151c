"""Time `clvchurn monitor` on a synthetic base with two snapshots in the history.

A champion pair is trained once on a small base (`--train-customers`, its MLflow store kept in the
work folder), the large base (`--customers`) is scored at two cutoffs half a year apart into the
history as `clvchurn score` files them (the snapshot and the features it was scored from), then the
monitor runs `--runs` times two ways:

- in process, `monitoring.report.monitor` alone (realised and estimated figures, drift, migration),
  on data already in memory;
- as a user runs it, `clvchurn monitor --data DIR --history DIR --json FILE --no-mlflow` in a fresh
  process: loading and validating the raw files, the report, the movers file.

Prints the time of every run, the medians and the peak memory of the command. The issue's target is
at most 60 s for 1M customers with two snapshots on the 2-core machine.

    .venv/bin/python benchmarks/bench_monitor.py --customers 100000
    .venv/bin/python benchmarks/bench_monitor.py --customers 1000000 --runs 1
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.build import build_features
from features.contract import load_raw
from features.synth import generate, write_synthetic
from monitoring.report import monitor
from monitoring.settings import MonitoringSettings
from serving.batch import score_features
from serving.history import FEATURES_FILE, pair_description, write_history_entry
from serving.predictor import load_engine
from serving.settings import Settings
from training.train import TrainingConfig, train

HERE = Path(__file__).resolve().parents[1]
CUTOFFS = (datetime(2025, 7, 1), datetime(2025, 12, 31))


def timed(label: str, action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    seconds = time.perf_counter() - started
    print(f"{label}: {seconds:.1f} s", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--train-customers", type=int, default=3_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/clvchurn-bench-monitor"))
    options = parser.parse_args()

    work = options.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    if not (work / "mlflow.db").exists():
        small = generate(options.train_customers, options.seed + 1).raw
        timed(
            f"trained the champion on {options.train_customers:,} customers",
            lambda: train(small, TrainingConfig(n_jobs=1, seed=options.seed), tracking_uri=uri),
        )
    data = work / f"synth-{options.customers}-{options.seed}"
    if not (data / "transactions.parquet").exists():
        timed(
            f"synthetic data: {options.customers:,} customers",
            lambda: write_synthetic(generate(options.customers, options.seed), data),
        )
    raw = load_raw(data).raw
    history = work / f"history-{options.customers}"
    engine = load_engine(Settings(mlflow_tracking_uri=uri))
    for cutoff in CUTOFFS:
        if not (history / f"as_of={cutoff.date()}" / FEATURES_FILE).exists():

            def file_entry(cutoff: datetime = cutoff) -> None:
                features = build_features(raw, cutoff)
                scored = score_features(features, engine)
                write_history_entry(history, scored, pair_description(engine.loaded), features=features)

            timed(
                f"scored {options.customers:,} customers as of {cutoff.date()} into the history", file_entry
            )
    print(
        f"base: {raw.customers.height:,} customers, {raw.transactions.height:,} transactions, "
        f"{raw.interactions.height:,} interactions; two snapshots ({', '.join(str(c.date()) for c in CUTOFFS)})"
    )

    settings = MonitoringSettings()
    in_process, command = [], []
    for run in range(options.runs):
        in_process.append(
            timed(f"run {run + 1}: monitor() in process", lambda: monitor(raw, history, settings=settings))
        )
        environment = {**os.environ, "MLFLOW_TRACKING_URI": uri, "OMP_WAIT_POLICY": "PASSIVE"}
        arguments = ["monitor", "--data", str(data), "--history", str(history)]
        arguments += ["--json", str(work / "monitor.json"), "--no-mlflow"]
        started = time.perf_counter()
        subprocess.run(
            [str(HERE / ".venv" / "bin" / "clvchurn"), *arguments],
            cwd=work,
            env=environment,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        command.append(time.perf_counter() - started)
        print(f"run {run + 1}: clvchurn monitor command {command[-1]:.1f} s", flush=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"{options.customers:,} customers, two snapshots: monitor() median {statistics.median(in_process):.1f} s, "
        f"clvchurn monitor median {statistics.median(command):.1f} s over {options.runs} runs; "
        f"peak memory of the command {peak:,.0f} MiB"
    )


if __name__ == "__main__":
    sys.exit(main())
