"""Speed of `clvchurn train`: both models on a synthetic customer base, logged to a throwaway MLflow store.

Target (see the project brief): 100k customers with 4 snapshots in at most 3 minutes on 2 cores.

    .venv/bin/python benchmarks/bench_training.py --customers 100000 --seed 11

Times `training.train.train` (features, both models, baselines, artifacts, MLflow logging and
registration) into a SQLite store in a temporary folder, removed afterwards. Prints wall seconds per
phase (the phases are the progress messages `train` reports), the total, CPU seconds and the peak
RSS of this process (resource.getrusage). Generating the data is timed apart and not counted.
Like `clvchurn train`, it lets idle OpenMP threads sleep (OMP_WAIT_POLICY=PASSIVE) unless the
environment already sets OMP_WAIT_POLICY; run with OMP_WAIT_POLICY=ACTIVE to compare.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before LightGBM loads libgomp, as the CLI does

from features.synth import generate
from training.train import TrainingConfig, train


class PhaseClock:
    """Wall time between consecutive progress messages; the first phase starts at construction."""

    def __init__(self) -> None:
        self.phases: list[tuple[str, float]] = []
        self._current = "setting up MLflow"
        self._since = time.perf_counter()

    def __call__(self, message: str) -> None:
        self.stop()
        self._current = message

    def stop(self) -> None:
        now = time.perf_counter()
        self.phases.append((self._current, now - self._since))
        self._since = now


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--snapshots", type=int, default=4)
    parser.add_argument("--n-jobs", type=int, default=2, help="LightGBM threads per model")
    args = parser.parse_args()

    started = time.perf_counter()
    base = generate(args.customers, args.seed)
    print(
        f"{args.customers:,} customers, {base.raw.transactions.height:,} transactions, "
        f"{base.raw.interactions.height:,} interactions generated in {time.perf_counter() - started:.1f} s "
        "(not counted)"
    )
    config = TrainingConfig(snapshots=args.snapshots, n_jobs=args.n_jobs, seed=args.seed)
    clock = PhaseClock()
    cpu_started = time.process_time()
    with tempfile.TemporaryDirectory() as store:
        outcome = train(
            base.raw,
            config,
            ground_truth=base.ground_truth,
            tracking_uri=f"sqlite:///{store}/mlflow.db",
            data_source="synthetic",
            progress=clock,
        )
        clock.stop()
    cpu = time.process_time() - cpu_started

    for phase, seconds in clock.phases:
        print(f"  {seconds:7.1f} s  {phase}")
    total = sum(seconds for _, seconds in clock.phases)
    print(
        f"train() total {total:.1f} s wall, {cpu:.1f} s CPU ({args.n_jobs} LightGBM threads per model, "
        f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']})"
    )
    print("rows " + ", ".join(f"{part} {rows:,}" for part, rows in outcome.rows.items()))
    print(
        f"churn roc_auc {outcome.churn_table['clvchurn']['roc_auc']:.4f}, "
        f"value gini {outcome.value_table['clvchurn']['gini']:.4f}, "
        f"value model {outcome.value_model_comparison['selected']}"
    )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GiB")


if __name__ == "__main__":
    main()
