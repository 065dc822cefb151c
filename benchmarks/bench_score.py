"""Time `clvchurn score` on a synthetic base, for this checkout and optionally another one, interleaved.

Usage:
    uv run python benchmarks/bench_score.py --customers 100000 --workdir /tmp/bench-score \
        [--other /path/to/older/checkout --other-label before] [--runs 3]

Each checkout trains its own champion pair on the same data (once; the store is kept in the work
folder) with its own `.venv`, then the score command of each runs `--runs` times, alternating between
the checkouts so that both see the same machine. Prints the wall time of every run and the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
AS_OF = "2025-07-01"


def clvchurn(checkout: Path, store: Path, *args: str) -> float:
    """Run `clvchurn ARGS` of `checkout` against the MLflow store in `store`; the wall time in seconds."""
    environment = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}/mlflow.db"}
    started = time.perf_counter()
    subprocess.run(
        [str(checkout / ".venv" / "bin" / "clvchurn"), *args],
        cwd=store,
        env=environment,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/clvchurn-bench-score"))
    parser.add_argument("--other", type=Path, help="another checkout (with its own .venv) to time too")
    parser.add_argument("--other-label", default="other")
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()

    work = options.workdir.resolve()
    data = work / f"synth-{options.customers}-{options.seed}"
    if not (data / "transactions.parquet").exists():
        seconds = clvchurn(
            HERE,
            work.parent,
            "data",
            "synth",
            "--customers",
            str(options.customers),
            "--seed",
            str(options.seed),
            "--out",
            str(data),
        )
        print(f"synthetic data: {options.customers:,} customers in {seconds:.1f} s")
    checkouts = {"this": HERE}
    if options.other is not None:
        checkouts[options.other_label] = options.other.resolve()
    for label, checkout in checkouts.items():
        store = work / label
        store.mkdir(parents=True, exist_ok=True)
        if not (store / "mlflow.db").exists():
            seconds = clvchurn(checkout, store, "train", "--data", str(data))
            print(f"{label}: trained the champion pair in {seconds:.1f} s")
    times: dict[str, list[float]] = {label: [] for label in checkouts}
    for run in range(options.runs):
        for label, checkout in checkouts.items():
            store = work / label
            seconds = clvchurn(
                checkout,
                store,
                "score",
                "--data",
                str(data),
                "--as-of",
                AS_OF,
                "--out",
                str(store / "scores.parquet"),
            )
            times[label].append(seconds)
            print(f"run {run + 1} {label}: clvchurn score {seconds:.1f} s", flush=True)
    for label, seconds in times.items():
        print(
            f"{label}: median {statistics.median(seconds):.1f} s over {len(seconds)} runs "
            f"({', '.join(f'{s:.1f}' for s in seconds)})"
        )


if __name__ == "__main__":
    sys.exit(main())
