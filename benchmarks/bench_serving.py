"""End-to-end serving speed: `clvchurn serve` under a real HTTP load generator, next to `mlflow models serve`.

Starts `clvchurn serve` as a subprocess on a free loopback port against an MLflow store (or trains a
small one first with --train), then measures with wrk (Lua scripts POST the JSON bodies):

- POST /v1/predict for one customer with 200 events: p50 and p99 latency at 1 client, requests/s
  at 8 concurrent clients;
- POST /v1/predict/batch with 1,000 customers of the synthetic base: wall time per request;
- `mlflow models serve -m models:/clvchurn-pair@champion --env-manager local` answering the same
  customer from its feature row (pyfunc `dataframe_split`): every model of the pair predicts it, the
  probabilities and the values, without reasons or policy; same load;
- optionally `clvchurn score` on --score-customers synthetic customers (wall time of the command).

Without wrk on the PATH a Python load generator (httpx, one thread per client, closed loop) stands
in and the table says so; its own overhead inflates latencies. Both servers log to files in a
temporary folder. Run it on an otherwise idle machine for figures worth quoting:

    .venv/bin/python benchmarks/bench_serving.py --tracking-uri sqlite:///mlruns/mlflow.db
    .venv/bin/python benchmarks/bench_serving.py --train --score-customers 100000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.build import build_features
from features.records import raw_from_records
from features.synth import generate, write_synthetic
from model_contract.registry import CHAMPION, PAIR_MODEL_NAME, load_pair
from training.train import TrainingConfig, train

API_KEY = "bench-key"
AS_OF = datetime(2025, 7, 1)
BIN = Path(sys.executable).parent
LUA_POST = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{headers}
local f = io.open("{body}", "rb")
wrk.body = f:read("*a")
f:close()
"""


def main() -> None:
    args = _arguments()
    work = Path(tempfile.mkdtemp(prefix="bench_serving_"))
    uri = args.tracking_uri or f"sqlite:///{work / 'mlflow.db'}"
    if args.train:
        print(f"Training on {args.train_customers:,} synthetic customers into {uri} ...", flush=True)
        train(generate(args.train_customers, seed=7).raw, TrainingConfig(seed=7), tracking_uri=uri)
    generator = "wrk" if shutil.which("wrk") and not args.python_load else "python (httpx)"
    rows: list[tuple[str, str]] = [("load generator", generator), ("duration per run", f"{args.seconds} s")]
    single = _single_customer_body()
    batch = _batch_body(args.batch_customers)
    # mlflow starts `uvicorn` by name, so the virtualenv's bin must be on the PATH.
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    with _Server(_clvchurn_serve_command(args.workers), env, work, "clvchurn", "/readyz", args) as server:
        _write(work / "single.json", single)
        _write(work / "batch.json", batch)
        headers = {"X-API-Key": API_KEY}
        url = f"{server.base}/v1/predict"
        _check(url, single, headers)
        one = _load(url, work / "single.json", headers, 1, args, generator)
        eight = _load(url, work / "single.json", headers, 8, args, generator)
        batch_times = _batch_latency(f"{server.base}/v1/predict/batch", batch, headers, args.batch_repeats)
    rows += [
        ("clvchurn /v1/predict p50, 1 client", f"{one['p50_ms']:.2f} ms"),
        ("clvchurn /v1/predict p99, 1 client", f"{one['p99_ms']:.2f} ms"),
        ("clvchurn /v1/predict req/s, 1 client", f"{one['rps']:.0f}"),
        ("clvchurn /v1/predict req/s, 8 clients", f"{eight['rps']:.0f}"),
        ("clvchurn /v1/predict p50 / p99, 8 clients", f"{eight['p50_ms']:.2f} / {eight['p99_ms']:.2f} ms"),
        (
            f"clvchurn batch of {args.batch_customers:,} (median of {args.batch_repeats})",
            f"{statistics.median(batch_times):.3f} s (min {min(batch_times):.3f})",
        ),
    ]
    if not args.skip_mlflow:
        mlflow_body = _pyfunc_body(single, uri)
        _write(work / "pyfunc.json", mlflow_body)
        with _Server(_mlflow_serve_command(), env, work, "mlflow", "/ping", args) as server:
            url = f"{server.base}/invocations"
            _check(url, mlflow_body, {})
            mlflow_one = _load(url, work / "pyfunc.json", {}, 1, args, generator)
            mlflow_eight = _load(url, work / "pyfunc.json", {}, 8, args, generator)
        rows += [
            (
                "mlflow models serve p50 / p99, 1 client",
                f"{mlflow_one['p50_ms']:.2f} / {mlflow_one['p99_ms']:.2f} ms",
            ),
            ("mlflow models serve req/s, 8 clients", f"{mlflow_eight['rps']:.0f}"),
            ("p50 ratio clvchurn / mlflow (1 client)", f"{one['p50_ms'] / mlflow_one['p50_ms']:.2f}"),
            ("req/s ratio clvchurn / mlflow (8 clients)", f"{eight['rps'] / mlflow_eight['rps']:.2f}"),
        ]
    if args.score_customers:
        seconds, scored = _time_score(args.score_customers, uri, work)
        rows.append((f"clvchurn score, {args.score_customers:,} customers ({scored})", f"{seconds:.1f} s"))
    _print_table(rows)
    print(f"Logs and bodies in {work}; load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tracking-uri", help="MLflow store with a champion model pair (default: MLFLOW_TRACKING_URI)"
    )
    parser.add_argument(
        "--train", action="store_true", help="train a small model pair into a temporary store first"
    )
    parser.add_argument("--train-customers", type=int, default=2_000)
    parser.add_argument("--seconds", type=int, default=10, help="duration of each load run")
    parser.add_argument("--batch-customers", type=int, default=1_000)
    parser.add_argument("--batch-repeats", type=int, default=5)
    parser.add_argument(
        "--score-customers", type=int, default=0, help="also time `clvchurn score` on N customers"
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="`clvchurn serve --workers` (default: cores)"
    )
    parser.add_argument("--skip-mlflow", action="store_true", help="do not measure `mlflow models serve`")
    parser.add_argument(
        "--python-load", action="store_true", help="use the Python load generator even with wrk"
    )
    args = parser.parse_args()
    if not args.train and not args.tracking_uri:
        args.tracking_uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not args.tracking_uri:
            parser.error("give --tracking-uri (or MLFLOW_TRACKING_URI), or --train")
    return args


# --- Request bodies ------------------------------------------------------------------------------


def _single_customer_body() -> dict[str, Any]:
    """One B2B customer with 200 events before the cutoff: 140 orders (a few refunds), 60 interactions."""
    start = AS_OF - timedelta(days=730)
    transactions = [
        {
            "timestamp": (start + timedelta(days=5 * i, hours=i % 9)).isoformat(),
            "amount": -35.0 if i % 23 == 7 else round(40 + (i * 37) % 260 + 0.5, 2),
            "transaction_id": f"T-{i:04d}",
            "quantity": float(1 + i % 4),
            "category": ("software", "hardware", "services")[i % 3],
            "channel": ("web", "sales_rep")[i % 2],
        }
        for i in range(140)
    ]
    kinds = ("visit", "email_open", "email_click", "call", "support_ticket", "survey")
    interactions = [
        {
            "timestamp": (start + timedelta(days=12 * i, hours=3)).isoformat(),
            "type": kinds[i % len(kinds)],
            "value": 4.0 if kinds[i % len(kinds)] == "survey" else None,
        }
        for i in range(60)
    ]
    return {
        "customer": {
            "customer_id": "BENCH-200",
            "signup_date": (start - timedelta(days=30)).isoformat(),
            "attributes": {"industry": "technology", "region": "europe", "company_size": "medium"},
        },
        "transactions": transactions,
        "interactions": interactions,
        "as_of": AS_OF.isoformat(),
    }


def _batch_body(customers: int) -> dict[str, Any]:
    """`customers` real-looking histories from the synthetic base, each with its events before the cutoff."""
    raw = generate(customers, seed=21).raw

    def by_customer(frame: pl.DataFrame) -> dict[str, list[dict[str, Any]]]:
        before = frame.filter(pl.col("timestamp") < AS_OF).with_columns(pl.col("timestamp").dt.to_string())
        grouped: dict[str, list[dict[str, Any]]] = {}
        for record in before.to_dicts():
            grouped.setdefault(record.pop("customer_id"), []).append(record)
        return grouped

    transactions, interactions = by_customer(raw.transactions), by_customer(raw.interactions)
    requests = []
    for profile in raw.customers.filter(pl.col("signup_date") < AS_OF).head(customers).to_dicts():
        customer_id = profile.pop("customer_id")
        signup = profile.pop("signup_date")
        requests.append(
            {
                "customer": {
                    "customer_id": customer_id,
                    "signup_date": signup.isoformat(),
                    "attributes": {k: v for k, v in profile.items() if v is not None},
                },
                "transactions": transactions.get(customer_id, []),
                "interactions": interactions.get(customer_id, []),
                "as_of": AS_OF.isoformat(),
            }
        )
    return {"customers": requests}


def _pyfunc_body(single: dict[str, Any], uri: str) -> dict[str, Any]:
    """The single customer's feature row as the pair pyfunc's `dataframe_split` input.

    Every model of a pair reads the same features (the service refuses a pair whose models differ),
    so the value model's list is the pyfunc's input.
    """
    names = load_pair(CHAMPION, tracking_uri=uri).pair["value"].metadata.feature_names
    customer = {
        "customer_id": "0",
        "signup_date": datetime.fromisoformat(single["customer"]["signup_date"]),
        **single["customer"]["attributes"],
    }
    raw = raw_from_records(
        [customer],
        [{"customer_id": "0", **event} for event in single["transactions"]],
        [{"customer_id": "0", **event} for event in single["interactions"]],
    )
    features = build_features(raw, AS_OF)
    for name in names:
        if name not in features.columns:
            features = features.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    row = features.select(names).row(0)
    return {"dataframe_split": {"columns": list(names), "data": [list(row)]}}


def _write(path: Path, body: dict[str, Any]) -> None:
    path.write_text(json.dumps(body), encoding="utf-8")


# --- Servers -------------------------------------------------------------------------------------


def _clvchurn_serve_command(workers: int) -> Callable[[int], list[str]]:
    return lambda port: [
        str(BIN / "clvchurn"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def _mlflow_serve_command() -> Callable[[int], list[str]]:
    return lambda port: [
        str(BIN / "mlflow"),
        "models",
        "serve",
        "-m",
        f"models:/{PAIR_MODEL_NAME}@{CHAMPION}",
        "--env-manager",
        "local",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


class _Server:
    """A server subprocess on a free loopback port, ready once `ready_path` answers 200."""

    def __init__(
        self,
        command: Callable[[int], list[str]],
        env: dict[str, str],
        work: Path,
        name: str,
        ready_path: str,
        args: argparse.Namespace,
    ) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = work / f"{name}.log"
        self.env = {
            **env,
            "CLVCHURN_API_KEYS": API_KEY,
            "CLVCHURN_DATABASE_URL": f"sqlite:///{work / 'clvchurn.db'}",
            "CLVCHURN_SNAPSHOT_PATH": str(work / "scores.parquet"),
        }
        self.command = command(self.port)
        self.ready_path = ready_path
        self.name = name

    def __enter__(self) -> _Server:
        with self.log.open("w") as log:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log}")
            try:
                if httpx.get(self.base + self.ready_path, timeout=2).status_code == 200:
                    print(f"{self.name} ready on port {self.port}", flush=True)
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.process.terminate()
        raise RuntimeError(f"{self.name} not ready after 180 s; see {self.log}")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _check(url: str, body: dict[str, Any], headers: dict[str, str], ready_within_s: float = 120) -> None:
    """Fail unless `url` answers 200; 503s are retried while worker processes finish loading models.

    Twenty successes in a row are required, so that every worker has loaded before the load starts.
    """
    deadline = time.monotonic() + ready_within_s
    successes = 0
    while successes < 20:
        response = httpx.post(url, json=body, headers=headers, timeout=60)
        if response.status_code == 200:
            successes += 1
            continue
        successes = 0
        if response.status_code != 503 or time.monotonic() > deadline:
            raise RuntimeError(f"POST {url} answered {response.status_code}: {response.text[:500]}")
        time.sleep(0.5)


# --- Load ----------------------------------------------------------------------------------------


def _load(
    url: str, body: Path, headers: dict[str, str], clients: int, args: argparse.Namespace, generator: str
) -> dict[str, float]:
    """p50, p99 (ms) and requests/s of `clients` closed-loop clients POSTing `body` for `--seconds`."""
    if generator == "wrk":
        return _wrk(url, body, headers, clients, args.seconds)
    return _python_load(url, body.read_bytes(), headers, clients, args.seconds)


def _wrk(url: str, body: Path, headers: dict[str, str], clients: int, seconds: int) -> dict[str, float]:
    script = body.with_suffix(".lua")
    lines = "\n".join(f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items())
    script.write_text(LUA_POST.format(headers=lines, body=body), encoding="utf-8")
    command = [
        "wrk",
        f"-t{min(clients, 2)}",
        f"-c{clients}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in output:
        raise RuntimeError(f"wrk saw error responses from {url}:\n{output}")
    return {
        "p50_ms": _wrk_ms(output, "50%"),
        "p99_ms": _wrk_ms(output, "99%"),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
    }


def _wrk_ms(output: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def _python_load(
    url: str, body: bytes, headers: dict[str, str], clients: int, seconds: int
) -> dict[str, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        mine = []
        with httpx.Client(headers={**headers, "Content-Type": "application/json"}, timeout=60) as session:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                session.post(url, content=body).raise_for_status()
                mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "p50_ms": latencies[len(latencies) // 2] * 1e3,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3,
        "rps": len(latencies) / elapsed,
    }


def _batch_latency(url: str, body: dict[str, Any], headers: dict[str, str], repeats: int) -> list[float]:
    content = json.dumps(body).encode()
    times = []
    with httpx.Client(headers={**headers, "Content-Type": "application/json"}, timeout=300) as session:
        session.post(url, content=content).raise_for_status()
        for _ in range(repeats):
            started = time.perf_counter()
            session.post(url, content=content).raise_for_status()
            times.append(time.perf_counter() - started)
    return times


# --- Batch scoring -------------------------------------------------------------------------------


def _time_score(customers: int, uri: str, work: Path) -> tuple[float, str]:
    data = work / f"synth_{customers}"
    write_synthetic(generate(customers, seed=5), data)
    out = work / "scores.parquet"
    command = [str(BIN / "clvchurn"), "score", "--data", str(data), "--as-of", AS_OF.date().isoformat()]
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    started = time.perf_counter()
    subprocess.run([*command, "--out", str(out)], env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    return seconds, f"{pl.scan_parquet(out).select(pl.len()).collect().item():,} scored"


def _print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
