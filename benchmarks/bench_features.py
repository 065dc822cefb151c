"""Speed of `features.build.build_features`: a whole customer base, and one customer as the API sees it.

Targets: 1M customers, 10M transactions, 5M interactions in <= 60 s wall and <= 8 GB peak RSS on 2
cores; one customer with a 200-event history (150 transactions, 50 interactions) in <= 2 ms median
in-process.

    .venv/bin/python benchmarks/bench_features.py                      # both, 1M customers
    .venv/bin/python benchmarks/bench_features.py --customers 100000   # smaller base
    .venv/bin/python benchmarks/bench_features.py --skip-base          # the API path only

The base comes from `features.synth.generate` when available (about 13 transactions and 7
interactions per customer), else, or with `--generator numpy`, from a plain numpy draw with exactly
10 transactions and 5 interactions per customer. It is written to parquet by one child process and
built by another, so the reported peak RSS (resource.getrusage in that child) is the loaded history
plus the build, not the generator.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from features.definitions import INTERACTION_TYPES as DEFINED_INTERACTION_TYPES

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.build import build_features
from features.contract import INTERACTIONS_SCHEMA, TRANSACTIONS_SCHEMA, RawData

AS_OF = datetime(2025, 7, 1)
HISTORY_DAYS = 3 * 365
INTERACTION_TYPES = np.array(DEFINED_INTERACTION_TYPES)
TABLES = ("transactions", "customers", "interactions")


def numpy_base(customers: int, transactions: int, interactions: int, seed: int) -> RawData:
    """A base drawn with numpy alone: events uniform over three years and a bit past the cutoff."""
    rng = np.random.default_rng(seed)
    ids = np.char.add("C", np.char.zfill(np.arange(customers).astype(str), 8))
    start_us = int((AS_OF - timedelta(days=HISTORY_DAYS) - datetime(1970, 1, 1)).total_seconds() * 1e6)
    span_us = int(HISTORY_DAYS * 1.2 * 86_400e6)

    def moments(n: int, low: int = 0) -> pl.Series:
        return pl.Series(start_us + rng.integers(low, span_us, n), dtype=pl.Int64).cast(pl.Datetime("us"))

    amounts = np.round(rng.lognormal(3.5, 0.8, transactions), 2)
    amounts[rng.random(transactions) < 0.05] *= -1
    tx = pl.DataFrame(
        {
            "customer_id": ids[rng.integers(0, customers, transactions)],
            "timestamp": moments(transactions),
            "amount": amounts,
            "transaction_id": None,
            "quantity": rng.integers(1, 5, transactions).astype(float),
            "category": np.array(["books", "music", "video", "games", "toys"])[
                rng.integers(0, 5, transactions)
            ],
            "channel": np.array(["web", "store", "phone"])[rng.integers(0, 3, transactions)],
        },
        schema=TRANSACTIONS_SCHEMA,
    )
    types = INTERACTION_TYPES[rng.integers(0, len(INTERACTION_TYPES), interactions)]
    scores = np.where(types == "survey", rng.integers(1, 6, interactions).astype(float), np.nan)
    ix = pl.DataFrame(
        {
            "customer_id": ids[rng.integers(0, customers, interactions)],
            "timestamp": moments(interactions),
            "type": types,
            "value": scores,
        },
        schema=INTERACTIONS_SCHEMA,
    ).with_columns(pl.col("value").fill_nan(None))
    profiles = pl.DataFrame(
        {
            "customer_id": ids,
            "signup_date": moments(customers, low=-span_us // 2),
            "region": np.array(["north", "south", "east", "west"])[rng.integers(0, 4, customers)],
            "segment": np.array(["b2b", "b2c"])[rng.integers(0, 2, customers)],
        }
    )
    return RawData(transactions=tx, customers=profiles, interactions=ix)


def generate_base(customers: int, seed: int, generator: str) -> RawData:
    if generator in ("auto", "synth"):
        try:
            from features.synth import generate
        except ImportError:
            if generator == "synth":
                raise
        else:
            return generate(customers, seed).raw
    return numpy_base(customers, 10 * customers, 5 * customers, seed)


def write_base(folder: Path, customers: int, seed: int, generator: str) -> None:
    """Child 1: draw the base and store it, so that the build child starts from files."""
    started = time.perf_counter()
    raw = generate_base(customers, seed, generator)
    for table in TABLES:
        getattr(raw, table).write_parquet(folder / f"{table}.parquet")
    print(
        f"base: {customers:,} customers, {raw.transactions.height:,} transactions, "
        f"{raw.interactions.height:,} interactions ({generator} generator, {time.perf_counter() - started:.0f} s)"
    )


def build_base(folder: Path) -> None:
    """Child 2: load the stored base, build its features once, report wall and CPU time and peak RSS."""
    raw = RawData(**{table: pl.read_parquet(folder / f"{table}.parquet") for table in TABLES})
    loaded_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    frame = build_features(raw, AS_OF)
    wall = time.perf_counter() - started
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"whole base: {frame.height:,} rows x {frame.width} columns")
    print(f"  build_features {wall:.1f} s wall, {_cpu_seconds() - cpu_before:.1f} s CPU (all threads)")
    print(f"  peak RSS {peak_gib:.2f} GiB (of which {loaded_gib:.2f} GiB after loading the history)")


def time_one_customer(calls: int, seed: int) -> None:
    """The API path: one customer's 150 transactions and 50 interactions, `calls` times in a row."""
    raw = numpy_base(1, 150, 50, seed)
    build_features(raw, AS_OF)
    durations_ms = []
    cpu_before = _cpu_seconds()
    for _ in range(calls):
        started = time.perf_counter()
        build_features(raw, AS_OF)
        durations_ms.append((time.perf_counter() - started) * 1000)
    cpu_ms = (_cpu_seconds() - cpu_before) * 1000 / calls
    durations_ms.sort()
    print(
        f"one customer (150 transactions, 50 interactions), {calls} calls: "
        f"median {statistics.median(durations_ms):.2f} ms, p10 {durations_ms[calls // 10]:.2f} ms, "
        f"p95 {durations_ms[int(calls * 0.95)]:.2f} ms wall; {cpu_ms:.2f} ms CPU per call"
    )


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--generator", choices=("auto", "synth", "numpy"), default="auto")
    parser.add_argument("--calls", type=int, default=1000, help="single-customer calls to time")
    parser.add_argument("--skip-base", action="store_true", help="only time the single-customer path")
    parser.add_argument("--child", choices=("write", "build"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "write":
        write_base(args.folder, args.customers, args.seed, args.generator)
        return
    if args.child == "build":
        build_base(args.folder)
        return
    print(
        f"polars {pl.__version__}, {pl.thread_pool_size()} threads, 1-minute load average {_load_average()}"
    )
    time_one_customer(args.calls, args.seed)
    if args.skip_base:
        return
    with tempfile.TemporaryDirectory(prefix="bench_features_") as folder:
        common = [sys.executable, __file__, "--folder", folder]
        sizing = ["--customers", str(args.customers), "--seed", str(args.seed), "--generator", args.generator]
        subprocess.run([*common, "--child", "write", *sizing], check=True)
        subprocess.run([*common, "--child", "build"], check=True)
    print(f"1-minute load average after the run {_load_average()}")


if __name__ == "__main__":
    main()
