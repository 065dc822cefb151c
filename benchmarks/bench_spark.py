"""Features on Spark (`--engine spark`) against the in-process engine, at one and two cores, in one run.

The same base (by default 1M customers, 10M transactions, 5M interactions, drawn by
`bench_features.numpy_base`) is written once as Parquet; then each engine, in a fresh child process,
warms up on a 1,000-customer base, then reads the big one, checks it against the raw-data contract,
builds the features as of one cutoff and writes them:

- in process with polars limited to 1 and to 2 threads (`POLARS_MAX_THREADS`): `load_raw`,
  `build_features`, `write_parquet`;
- on Spark with `local[1]` and `local[2]`: `load_raw_spark` (the check), then `feature_table` +
  `write_dataset` (one job: shuffle by bucket, `build_features` per bucket, Parquet). The JVM's start
  and a first run on 1,000 customers (the JIT's and the Python workers' warm-up) are timed apart: an
  application pays them once, not per job.

It prints each engine's wall times, the speed-up from one to two cores, the overhead of Spark over in
process at the same core count, and a projection of the wall time for 50M customers on a cluster,
from the per-core throughput measured at `local[1]` and the parallel efficiency measured from
`local[1]` to `local[2]`. The projection is arithmetic, not a measurement: it assumes the work
stays per customer (it does) and that the cluster's shuffle and storage keep up.

    .venv/bin/python benchmarks/bench_spark.py                         # 1M customers
    .venv/bin/python benchmarks/bench_spark.py --customers 100000      # a quick check
    .venv/bin/python benchmarks/bench_spark.py --executors 10 50 --executor-cores 8
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_features import AS_OF, TABLES, numpy_base

PROJECTED_CUSTOMERS = 50_000_000
WARM_UP_CUSTOMERS = 1_000


def write_base(folder: Path, customers: int, seed: int) -> None:
    """Child: draw the base, and a 1,000-customer one to warm up on, as the contract's Parquet files."""
    started = time.perf_counter()
    for name, size in (("warm-up", WARM_UP_CUSTOMERS), ("base", customers)):
        raw = numpy_base(size, 10 * size, 5 * size, seed)
        (folder / name).mkdir()
        for table in TABLES:
            getattr(raw, table).write_parquet(folder / name / f"{table}.parquet")
    print(
        f"base: {customers:,} customers, {raw.transactions.height:,} transactions, "
        f"{raw.interactions.height:,} interactions ({time.perf_counter() - started:.0f} s to draw and write)"
    )


def run_in_process(folder: Path, out: Path) -> dict[str, float]:
    """Child (POLARS_MAX_THREADS set by the parent): check, build and write in this process."""
    from features.build import build_features
    from features.contract import load_raw

    def run(data: Path) -> dict[str, float]:
        started = time.perf_counter()
        raw = load_raw(data).raw
        checked = time.perf_counter()
        frame = build_features(raw, AS_OF)
        frame.write_parquet(out / "features.parquet")
        done = time.perf_counter()
        return {"check": checked - started, "features": done - checked, "rows": frame.height}

    warm_up = run(folder / "warm-up")
    return run(folder / "base") | {"warm_up": warm_up["check"] + warm_up["features"]}


def run_spark(folder: Path, out: Path, cores: int) -> dict[str, float]:
    """Child: start `local[cores]`, check, then build and write the feature dataset."""
    from spark_engine import (
        SparkSettings,
        bucket_count,
        create_session,
        feature_table,
        load_raw_spark,
        write_dataset,
    )

    settings = SparkSettings(master=f"local[{cores}]", ui=False, show_progress=False)
    started = time.perf_counter()
    spark = create_session(settings)
    ready = time.perf_counter()
    buckets = bucket_count(spark, settings)

    def run(data: Path) -> dict[str, float]:
        started = time.perf_counter()
        load = load_raw_spark(spark, str(data))
        checked = time.perf_counter()
        written = write_dataset(spark, feature_table(load, [AS_OF], buckets), str(out / "features.parquet"))
        load.release()
        done = time.perf_counter()
        return {"check": checked - started, "features": done - checked, "rows": written.rows}

    warm_up = run(folder / "warm-up")
    measured = run(folder / "base")
    spark.stop()
    return measured | {
        "start": ready - started,
        "warm_up": warm_up["check"] + warm_up["features"],
        "buckets": buckets,
    }


def child(args: argparse.Namespace) -> None:
    out = Path(tempfile.mkdtemp(prefix="bench_spark_out_", dir=args.folder))
    if args.child == "local":
        result = run_in_process(args.folder, out)
    else:
        result = run_spark(args.folder, out, args.cores)
    print("RESULT " + json.dumps(result))


def measure(folder: Path, engine: str, cores: int) -> dict[str, float]:
    env = dict(os.environ)
    if engine == "local":
        env["POLARS_MAX_THREADS"] = str(cores)
    command = [sys.executable, __file__, "--child", engine, "--cores", str(cores), "--folder", str(folder)]
    completed = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    line = next(line for line in completed.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    total = result["check"] + result["features"]
    start = f"JVM start {result['start']:.1f} s, " if "start" in result else ""
    print(
        f"  {engine:5} {cores} core(s): check {result['check']:6.1f} s, features {result['features']:6.1f} s, "
        f"total {total:6.1f} s ({result['rows']:,} rows; apart: {start}"
        f"warm-up on {WARM_UP_CUSTOMERS:,} customers {result['warm_up']:.1f} s)"
    )
    return result


def report(
    results: dict[tuple[str, int], dict[str, float]], customers: int, args: argparse.Namespace
) -> None:
    def total(engine: str, cores: int) -> float:
        result = results[(engine, cores)]
        return result["check"] + result["features"]

    spark_1, spark_2 = total("spark", 1), total("spark", 2)
    speed_up = spark_1 / spark_2
    print(
        f"speed-up from local[1] to local[2]: {speed_up:.2f}x (in process: {total('local', 1) / total('local', 2):.2f}x)"
    )
    for cores in (1, 2):
        ratio = total("spark", cores) / total("local", cores)
        print(f"Spark over in process at {cores} core(s): {ratio:.2f}x the wall time")
    per_core = customers / spark_1
    efficiency = speed_up / 2
    print(
        f"measured throughput: {per_core:,.0f} customers per core-second at local[1] "
        f"(check and features), parallel efficiency {efficiency:.0%} from 1 to 2 cores"
    )
    print(f"PROJECTION (not a measurement) for {PROJECTED_CUSTOMERS:,} customers (same events per customer):")
    for executors in args.executors:
        cores = executors * args.executor_cores
        seconds = PROJECTED_CUSTOMERS / (per_core * cores * efficiency)
        print(
            f"  {executors:4} executors x {args.executor_cores} cores: about {seconds / 60:5.1f} min "
            f"({PROJECTED_CUSTOMERS / cores:,.0f} customers per core)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--executors", type=int, nargs="+", default=[10, 25, 50, 100])
    parser.add_argument("--executor-cores", type=int, default=4)
    parser.add_argument("--child", choices=("write", "local", "spark"), help=argparse.SUPPRESS)
    parser.add_argument("--cores", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "write":
        write_base(args.folder, args.customers, args.seed)
        return
    if args.child is not None:
        child(args)
        return
    print(f"{os.cpu_count()} cores, 1-minute load average {Path('/proc/loadavg').read_text().split()[0]}")
    with tempfile.TemporaryDirectory(prefix="bench_spark_") as name:
        folder = Path(name)
        sizing = ["--customers", str(args.customers), "--seed", str(args.seed)]
        subprocess.run([sys.executable, __file__, "--child", "write", "--folder", name, *sizing], check=True)
        results = {
            (engine, cores): measure(folder, engine, cores)
            for cores in (1, 2)
            for engine in ("local", "spark")
        }
    report(results, args.customers, args)
    print(f"1-minute load average after the run {Path('/proc/loadavg').read_text().split()[0]}")


if __name__ == "__main__":
    main()
