"""Speed of `features.build.build_features`: a whole customer base, and one customer as the API sees it.

Targets (see the project brief): 1M customers, 10M transactions, 5M interactions in <= 60 s wall and
<= 8 GB peak RSS on 2 cores; one customer with a 200-event history in <= 2 ms median in-process.

    .venv/bin/python benchmarks/bench_features.py --customers 1000000

The whole-base run happens in a child process so that its peak RSS (resource.getrusage of the
children) covers generation plus the build and nothing else.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.build import build_features
from features.contract import (
    INTERACTIONS_SCHEMA,
    TRANSACTIONS_SCHEMA,
    RawData,
)

AS_OF = datetime(2025, 7, 1)
HISTORY_DAYS = 3 * 365
INTERACTION_TYPES = np.array(
    [
        "visit",
        "email_open",
        "email_click",
        "call",
        "meeting",
        "inquiry",
        "support_ticket",
        "complaint",
        "survey",
    ]
)


def synthetic_base(customers: int, transactions: int, interactions: int, seed: int) -> RawData:
    """A base drawn with numpy alone (used when `features.synth` is not available)."""
    rng = np.random.default_rng(seed)
    ids = np.char.add("C", np.char.zfill(np.arange(customers).astype(str), 8))
    start = AS_OF - timedelta(days=HISTORY_DAYS)
    start_us = (
        int(start.timestamp() * 1e6)
        if start.tzinfo
        else int((start - datetime(1970, 1, 1)).total_seconds() * 1e6)
    )
    span_us = int(HISTORY_DAYS * 1.2 * 86_400e6)

    def timestamps(n: int) -> pl.Series:
        return pl.Series(start_us + rng.integers(0, span_us, n), dtype=pl.Int64).cast(pl.Datetime("us"))

    n_tx = transactions
    amounts = np.round(rng.lognormal(3.5, 0.8, n_tx), 2)
    amounts[rng.random(n_tx) < 0.05] *= -1
    tx = pl.DataFrame(
        {
            "customer_id": ids[rng.integers(0, customers, n_tx)],
            "timestamp": timestamps(n_tx),
            "amount": amounts,
            "transaction_id": None,
            "quantity": rng.integers(1, 5, n_tx).astype(float),
            "category": np.array(["books", "music", "video", "games", "toys"])[rng.integers(0, 5, n_tx)],
            "channel": np.array(["web", "store", "phone"])[rng.integers(0, 3, n_tx)],
        },
        schema=TRANSACTIONS_SCHEMA,
    )
    types = INTERACTION_TYPES[rng.integers(0, len(INTERACTION_TYPES), interactions)]
    values = np.where(types == "survey", rng.integers(1, 6, interactions).astype(float), np.nan)
    ix = pl.DataFrame(
        {
            "customer_id": ids[rng.integers(0, customers, interactions)],
            "timestamp": timestamps(interactions),
            "type": types,
            "value": values,
        },
        schema=INTERACTIONS_SCHEMA,
    ).with_columns(pl.col("value").fill_nan(None))
    signup = pl.Series(start_us + rng.integers(-span_us // 2, span_us, customers), dtype=pl.Int64).cast(
        pl.Datetime("us")
    )
    profile = pl.DataFrame(
        {
            "customer_id": ids,
            "signup_date": signup,
            "region": np.array(["north", "south", "east", "west"])[rng.integers(0, 4, customers)],
            "segment": np.array(["b2b", "b2c"])[rng.integers(0, 2, customers)],
        }
    )
    return RawData(transactions=tx, customers=profile, interactions=ix)


def base(customers: int, seed: int) -> RawData:
    """`features.synth` when another part of the project provides it, else the numpy base above."""
    try:
        from features.synth import generate  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return synthetic_base(customers, 10 * customers, 5 * customers, seed)
    return generate(customers, seed).raw


def time_whole_base(customers: int, seed: int) -> None:
    """Child-process entry: generate, build once, print timings and peak RSS."""
    started = time.perf_counter()
    raw = base(customers, seed)
    generated = time.perf_counter()
    frame = build_features(raw, AS_OF)
    built = time.perf_counter()
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(
        f"whole base: {frame.height:,} customers x {frame.width} columns from "
        f"{raw.transactions.height:,} transactions and {raw.interactions.height:,} interactions"
    )
    print(f"  generation {generated - started:.1f} s, build_features {built - generated:.1f} s wall")
    print(f"  peak RSS (generation + build) {peak_gib:.2f} GiB")


def one_customer_history(transactions: int, interactions: int, seed: int) -> RawData:
    raw = synthetic_base(1, transactions, interactions, seed)
    return raw


def time_one_customer(calls: int, seed: int) -> None:
    raw = one_customer_history(150, 50, seed)
    build_features(raw, AS_OF)
    durations = []
    for _ in range(calls):
        started = time.perf_counter()
        build_features(raw, AS_OF)
        durations.append(time.perf_counter() - started)
    durations_ms = [d * 1000 for d in durations]
    print(
        f"one customer (150 transactions, 50 interactions), {calls} calls: median "
        f"{statistics.median(durations_ms):.2f} ms, p95 {np.percentile(durations_ms, 95):.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--calls", type=int, default=1000, help="single-customer calls to time")
    parser.add_argument("--skip-base", action="store_true", help="only time the single-customer path")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        time_whole_base(args.customers, args.seed)
        return
    print(f"polars {pl.__version__}, {pl.thread_pool_size()} threads")
    time_one_customer(args.calls, args.seed)
    if not args.skip_base:
        command = [
            sys.executable,
            __file__,
            "--child",
            "--customers",
            str(args.customers),
            "--seed",
            str(args.seed),
        ]
        started = time.perf_counter()
        subprocess.run(command, check=True)
        print(f"  child process total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
