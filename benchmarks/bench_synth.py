"""Speed and size of `features.synth`: generate a customer base and write it to parquet.

Target (see the project brief): 1M customers in under 2 minutes on 2 cores, with at least 10M
transactions and 5M interactions.

    .venv/bin/python benchmarks/bench_synth.py --customers 1000000 --seed 7

Prints wall seconds for generation and for writing, peak RSS of this process (resource.getrusage)
and the row count and size of every file written (to a temporary folder, removed afterwards).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.synth import generate, oracle_churn_probability, oracle_expected_spend, write_synthetic

ORACLE_AS_OF = datetime(2025, 7, 1)
ORACLE_HORIZON_DAYS = 180


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(
        f"polars {pl.__version__}, {pl.thread_pool_size()} threads, "
        f"{args.customers:,} customers, seed {args.seed}"
    )

    started = time.perf_counter()
    base = generate(args.customers, args.seed)
    generated = time.perf_counter()
    with tempfile.TemporaryDirectory() as out_dir:
        paths = write_synthetic(base, Path(out_dir))
        written = time.perf_counter()
        for name, path in paths.items():
            rows = pl.scan_parquet(path).select(pl.len()).collect().item()
            print(f"  {name:<13} {rows:>12,} rows {path.stat().st_size / 1024**2:>9.1f} MiB")

    customers = base.raw.customers.height
    print(
        f"  per customer: {base.raw.transactions.height / customers:.2f} transactions, "
        f"{base.raw.interactions.height / customers:.2f} interactions"
    )
    print(
        f"generate {generated - started:.1f} s, write {written - generated:.1f} s, "
        f"total {written - started:.1f} s wall"
    )
    oracle_started = time.perf_counter()
    oracle_expected_spend(base.ground_truth, ORACLE_AS_OF, ORACLE_HORIZON_DAYS)
    oracle_churn_probability(base.ground_truth, ORACLE_AS_OF, ORACLE_HORIZON_DAYS)
    print(
        f"both oracles ({ORACLE_HORIZON_DAYS} days from {ORACLE_AS_OF:%Y-%m-%d}) "
        f"{time.perf_counter() - oracle_started:.1f} s"
    )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GiB")


if __name__ == "__main__":
    main()
