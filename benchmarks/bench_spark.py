"""Features and scoring on Spark (`--engine spark`) against the in-process engine, at one and two cores.

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

With `--steps score` (or both), each engine also scores the base with a champion pair trained
beforehand, once, on a 1,500-customer `features.synth` base (`training.train.train`, its own MLflow
store in the work folder), as `clvchurn score` does:

- in process (polars and LightGBM limited to 1 and 2 threads): `load_raw`, `load_engine`,
  `serving.batch.score_base`, `write_snapshot`;
- on Spark: `load_raw_spark`, `champion_loader` (the driver resolves the version, loads nothing),
  `snapshot_table` + `write_snapshot_dataset` (features and the predictor per bucket; each Python
  worker loads the pair once, in the warm-up).

It prints each engine's wall times, the speed-up from one to two cores, the overhead of Spark over in
process at the same core count, and a projection of the wall time for 50M customers on a cluster,
from the per-core throughput measured at `local[1]` and the parallel efficiency measured from
`local[1]` to `local[2]`. The projection is arithmetic, not a measurement: it assumes the work
stays per customer (it does) and that the cluster's shuffle and storage keep up.

    .venv/bin/python benchmarks/bench_spark.py                         # 1M customers, features and score
    .venv/bin/python benchmarks/bench_spark.py --customers 100000      # a quick check
    .venv/bin/python benchmarks/bench_spark.py --customers 20000 --steps score --workdir /tmp/bench-spark
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
TRAINING_CUSTOMERS = 1_500
STEPS = ("features", "score")


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


def store_uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"


def train_pair(folder: Path, seed: int) -> None:
    """Child: train the champion pair the scoring step uses, on a small `features.synth` base."""
    from features.synth import generate
    from training.train import TrainingConfig, train

    started = time.perf_counter()
    (folder / "mlruns").mkdir()
    train(generate(TRAINING_CUSTOMERS, seed).raw, TrainingConfig(seed=seed), tracking_uri=store_uri(folder))
    print(
        f"champion pair trained on {TRAINING_CUSTOMERS:,} synthetic customers "
        f"({time.perf_counter() - started:.0f} s)"
    )


def run_in_process(folder: Path, out: Path, step: str) -> dict[str, float]:
    """Child (POLARS_MAX_THREADS set by the parent): check, then build (or score) and write here."""
    from features.build import build_features
    from features.contract import load_raw
    from serving.batch import score_base
    from serving.predictor import load_engine
    from serving.settings import Settings
    from serving.snapshot_store import write_snapshot

    predictor = load_engine(Settings(mlflow_tracking_uri=store_uri(folder))) if step == "score" else None

    def run(data: Path) -> dict[str, float]:
        started = time.perf_counter()
        raw = load_raw(data).raw
        checked = time.perf_counter()
        if predictor is None:
            frame = build_features(raw, AS_OF)
            frame.write_parquet(out / "features.parquet")
        else:
            frame = score_base(raw, AS_OF, predictor)
            write_snapshot(frame, out / "scores.parquet")
        done = time.perf_counter()
        return {"check": checked - started, step: done - checked, "rows": frame.height}

    warm_up = run(folder / "warm-up")
    return run(folder / "base") | {"warm_up": warm_up["check"] + warm_up[step]}


def run_spark(folder: Path, out: Path, cores: int, step: str) -> dict[str, float]:
    """Child: start `local[cores]`, check, then build the feature dataset (or score) and write it."""
    from policy.playbook import DEFAULT_PLAYBOOK
    from spark_engine import (
        SparkSettings,
        bucket_count,
        champion_loader,
        create_session,
        feature_table,
        load_raw_spark,
        snapshot_table,
        write_dataset,
        write_snapshot_dataset,
    )

    settings = SparkSettings(master=f"local[{cores}]", ui=False, show_progress=False)
    started = time.perf_counter()
    spark = create_session(settings)
    ready = time.perf_counter()
    buckets = bucket_count(spark, settings)
    loader = champion_loader(store_uri(folder), DEFAULT_PLAYBOOK) if step == "score" else None

    def run(data: Path) -> dict[str, float]:
        started = time.perf_counter()
        load = load_raw_spark(spark, str(data))
        checked = time.perf_counter()
        if loader is None:
            written = write_dataset(
                spark, feature_table(load, [AS_OF], buckets), str(out / "features.parquet")
            )
        else:
            scored = snapshot_table(load, AS_OF, loader, buckets)
            written = write_snapshot_dataset(spark, scored, str(out / "scores.parquet"))
        load.release()
        done = time.perf_counter()
        return {"check": checked - started, step: done - checked, "rows": written.rows}

    warm_up = run(folder / "warm-up")
    measured = run(folder / "base")
    spark.stop()
    return measured | {
        "start": ready - started,
        "warm_up": warm_up["check"] + warm_up[step],
        "buckets": buckets,
    }


def child(args: argparse.Namespace) -> None:
    out = Path(tempfile.mkdtemp(prefix="bench_spark_out_", dir=args.folder))
    if args.child == "local":
        result = run_in_process(args.folder, out, args.step)
    else:
        result = run_spark(args.folder, out, args.cores, args.step)
    print("RESULT " + json.dumps(result))


def measure(folder: Path, engine: str, cores: int, step: str) -> dict[str, float]:
    env = dict(os.environ)
    if engine == "local":
        env["POLARS_MAX_THREADS"] = str(cores)
        env["OMP_NUM_THREADS"] = str(cores)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    command = [
        *[sys.executable, __file__, "--child", engine, "--cores", str(cores)],
        *["--folder", str(folder), "--step", step],
    ]
    completed = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    line = next(line for line in completed.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    total = result["check"] + result[step]
    start = f"JVM start {result['start']:.1f} s, " if "start" in result else ""
    print(
        f"  {engine:5} {cores} core(s): check {result['check']:6.1f} s, {step} {result[step]:6.1f} s, "
        f"total {total:6.1f} s ({result['rows']:,} rows; apart: {start}"
        f"warm-up on {WARM_UP_CUSTOMERS:,} customers {result['warm_up']:.1f} s)"
    )
    return result


def report(
    results: dict[tuple[str, int], dict[str, float]], customers: int, step: str, args: argparse.Namespace
) -> None:
    def total(engine: str, cores: int) -> float:
        result = results[(engine, cores)]
        return result["check"] + result[step]

    print(f"{step}:")

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
        f"(check and {step}), parallel efficiency {efficiency:.0%} from 1 to 2 cores"
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
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    parser.add_argument(
        "--workdir", type=Path, help="keep the base and the trained pair here, and reuse them on the next run"
    )
    parser.add_argument("--child", choices=("write", "train", "local", "spark"), help=argparse.SUPPRESS)
    parser.add_argument("--step", choices=STEPS, default="features", help=argparse.SUPPRESS)
    parser.add_argument("--cores", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "write":
        write_base(args.folder, args.customers, args.seed)
        return
    if args.child == "train":
        train_pair(args.folder, args.seed)
        return
    if args.child is not None:
        child(args)
        return
    print(f"{os.cpu_count()} cores, 1-minute load average {Path('/proc/loadavg').read_text().split()[0]}")
    with tempfile.TemporaryDirectory(prefix="bench_spark_") as scratch:
        folder = args.workdir / f"base-{args.customers}-{args.seed}" if args.workdir else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        name = str(folder)
        sizing = ["--customers", str(args.customers), "--seed", str(args.seed)]
        if not (folder / "base").exists():
            subprocess.run(
                [sys.executable, __file__, "--child", "write", "--folder", name, *sizing], check=True
            )
        if "score" in args.steps and not (folder / "mlruns").exists():
            subprocess.run(
                [sys.executable, __file__, "--child", "train", "--folder", name, *sizing], check=True
            )
        measured = {
            step: {
                (engine, cores): measure(folder, engine, cores, step)
                for cores in (1, 2)
                for engine in ("local", "spark")
            }
            for step in args.steps
        }
    for step, results in measured.items():
        report(results, args.customers, step, args)
    print(f"1-minute load average after the run {Path('/proc/loadavg').read_text().split()[0]}")


if __name__ == "__main__":
    main()
