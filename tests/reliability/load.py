"""The load scenario of the reliability test and of `benchmarks/bench_load.py`, on loopback only.

`clvchurn serve --workers 2` on a trained pair; `clients` closed-loop clients POST /v1/predict for
`seconds`; at `reload_at_s` the registry's champion moves to a new pair version and
POST /v1/admin/reload is called; at `kill_at_s` one worker is SIGKILLed (uvicorn starts another).
Every request carries its own X-Request-ID, so afterwards each 200 is looked up in `predictions`.

A request *in flight on the killed worker* is one that failed with a transport error (no HTTP
answer) and had started before the kill plus `KILL_GRACE_S`, which covers a kept-alive connection
to the dead worker used right after the kill; any other failure counts against the service.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import polars as pl
from reliability.processes import free_port, logged_requests, start, wait_ready
from support.trained import AS_OF

from features.contract import RawData
from model_contract.registry import PAIR_MODEL_NAME, client_for, set_alias, tracking_to

KILL_GRACE_S = 1.0
CHAMPION = "champion"


@dataclass(frozen=True)
class Outcome:
    request_id: str
    started: float
    ended: float
    status: int | None  # None: no HTTP answer (transport error)
    pair: str | None


@dataclass
class LoadReport:
    outcomes: list[Outcome]
    reload_started: float
    reload_ended: float
    reload_status: int
    killed_at: float
    killed_pid: int
    new_pair: str
    metrics: list[str] = field(default_factory=list)
    logged: dict[str, int] = field(default_factory=dict)

    @property
    def committed_in_metrics(self) -> list[float]:
        """`clvchurn_prediction_log_rows_total{outcome="committed"}` in each final scrape (all workers summed)."""
        wanted = 'clvchurn_prediction_log_rows_total{outcome="committed"} '
        return [
            float(line.removeprefix(wanted))
            for text in self.metrics
            for line in text.splitlines()
            if line.startswith(wanted)
        ]

    def in_flight_on_killed(self, outcome: Outcome) -> bool:
        return (
            outcome.status is None
            and self.killed_at <= outcome.ended
            and (outcome.started <= self.killed_at + KILL_GRACE_S)
        )

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != 200 and not self.in_flight_on_killed(o)]

    @property
    def killed_in_flight(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != 200 and self.in_flight_on_killed(o)]

    @property
    def oks(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == 200]

    @property
    def unlogged(self) -> list[str]:
        return [o.request_id for o in self.oks if self.logged.get(o.request_id, 0) != 1]

    @property
    def old_pair_after_reload(self) -> list[Outcome]:
        """200s of requests started after the reload returned that still came from the old pair."""
        return [o for o in self.oks if o.started > self.reload_ended and o.pair != self.new_pair]

    def phase(self, name: str) -> list[float]:
        """Latencies (s) of the 200s started before, during and after the reload call."""
        chosen = {
            "before": lambda o: o.started < self.reload_started,
            "during": lambda o: self.reload_started <= o.started <= self.reload_ended,
            "after": lambda o: o.started > self.reload_ended,
        }[name]
        return [o.ended - o.started for o in self.oks if chosen(o)]

    def lines(self) -> list[str]:
        lines = [
            f"requests {len(self.outcomes):,}; 200s {len(self.oks):,}; failures {len(self.failures)}; "
            f"in flight on the killed worker {len(self.killed_in_flight)}; 200s not logged {len(self.unlogged)}",
            f"reload: {self.reload_status} in {self.reload_ended - self.reload_started:.2f} s, new pair "
            f"{self.new_pair}; 200s from the old pair after it returned: {len(self.old_pair_after_reload)}",
            f"rows in the log {sum(self.logged.values()):,}; committed rows in /metrics (4 scrapes) "
            f"{sorted(set(self.committed_in_metrics))}",
        ]
        for name in ("before", "during", "after"):
            latencies = sorted(self.phase(name))
            if latencies:
                p50 = statistics.median(latencies) * 1000
                p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000
                lines.append(
                    f"{name:>6} reload: {len(latencies):6,} 200s, p50 {p50:7.1f} ms, p99 {p99:7.1f} ms"
                )
        return lines


def busiest_customers(raw: RawData, count: int = 8) -> list[str]:
    """The `count` customers with the most transactions before the trained pair's AS_OF: bodies to send."""
    before = raw.transactions.filter(pl.col("timestamp") < AS_OF)
    counts = before.group_by("customer_id").len().sort(["len", "customer_id"], descending=[True, False])
    return [str(customer) for customer in counts["customer_id"].head(count)]


def copy_registry(tracking_uri: str, folder: Path) -> str:
    """A copy of a SQLite MLflow store's database (artifacts stay where they are), to move its alias freely."""
    source = Path(tracking_uri.removeprefix("sqlite:///"))
    target = folder / "mlflow.db"
    target.write_bytes(source.read_bytes())
    return f"sqlite:///{target}"


def promote_new_version(tracking_uri: str) -> str:
    """Register the champion pair's model again as a new version and move the champion alias to it."""
    with tracking_to(tracking_uri):  # MLflow resolves the version's models:/ source with the global URI
        client = client_for(tracking_uri)
        current = client.get_model_version_by_alias(PAIR_MODEL_NAME, CHAMPION)
        created = client.create_model_version(PAIR_MODEL_NAME, current.source, current.run_id)
    set_alias(PAIR_MODEL_NAME, CHAMPION, str(created.version), tracking_uri)
    return str(created.version)


def worker_pids(server_pid: int) -> list[int]:
    """The uvicorn workers: children of the server started by multiprocessing's spawn."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    workers = []
    for child in children:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"spawn_main" in command:
            workers.append(int(child))
    return workers


def run_load(
    bodies: Sequence[bytes],
    tracking_uri: str,
    folder: Path,
    *,
    clients: int = 8,
    seconds: float = 30.0,
    reload_at_s: float = 10.0,
    kill_at_s: float = 20.0,
    workers: int = 2,
) -> LoadReport:
    """Serve, load, reload, kill, stop; then look every request up in the prediction log."""
    api_key, admin_key = f"score-{uuid.uuid4().hex}", f"admin-{uuid.uuid4().hex}"
    database_url = f"sqlite:///{folder / 'clvchurn.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        str(Path(sys.executable).with_name("clvchurn")),
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    environment = {
        "CLVCHURN_API_KEYS": api_key,
        "CLVCHURN_ADMIN_API_KEYS": admin_key,
        "CLVCHURN_MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "CLVCHURN_DATABASE_URL": database_url,
        "CLVCHURN_STATE_DIR": str(folder / "state"),
        "CLVCHURN_SNAPSHOT_PATH": str(folder / "scores.parquet"),
        "CLVCHURN_HOST": "127.0.0.1",
    }
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = start(command, folder, environment)
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    stop = threading.Event()
    try:
        wait_ready(base, server, timeout_s=600)
        while len(worker_pids(server.pid)) < workers:
            time.sleep(0.2)
        _wait_all_workers_ready(base, workers)

        def client(number: int) -> None:
            with httpx.Client(base_url=base, timeout=60, headers={"X-API-Key": api_key}) as http:
                sent = 0
                while not stop.is_set():
                    request_id = f"c{number}-{sent}"
                    body = bodies[(number + sent) % len(bodies)]
                    sent += 1
                    started = time.monotonic()
                    try:
                        response = http.post(
                            "/v1/predict",
                            content=body,
                            headers={"X-Request-ID": request_id, "Content-Type": "application/json"},
                        )
                        status: int | None = response.status_code
                        pair = response.json()["model_versions"]["pair"] if status == 200 else None
                    except httpx.TransportError:
                        status, pair = None, None
                    with lock:
                        outcomes.append(Outcome(request_id, started, time.monotonic(), status, pair))

        threads = [threading.Thread(target=client, args=(number,), daemon=True) for number in range(clients)]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(max(0.0, began + reload_at_s - time.monotonic()))
        new_pair = promote_new_version(tracking_uri)
        reload_started = time.monotonic()
        reloaded = httpx.post(f"{base}/v1/admin/reload", headers={"X-API-Key": admin_key}, timeout=120)
        reload_ended = time.monotonic()
        time.sleep(max(0.0, began + kill_at_s - time.monotonic()))
        victim = worker_pids(server.pid)[0]
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        time.sleep(max(0.0, began + seconds - time.monotonic()))
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        scrapes = [httpx.get(f"{base}/metrics", timeout=10).text for _ in range(4)]  # reaching either worker
    finally:
        stop.set()
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
    report = LoadReport(
        outcomes=sorted(outcomes, key=lambda o: o.started),
        reload_started=reload_started,
        reload_ended=reload_ended,
        reload_status=reloaded.status_code,
        killed_at=killed_at,
        killed_pid=victim,
        new_pair=new_pair,
        metrics=scrapes,
    )
    report.logged = dict(logged_requests(database_url))
    return report


def _wait_all_workers_ready(base: str, workers: int, timeout_s: float = 600.0) -> None:
    """Wait until the metrics show every worker with a pair in service (each loads its own)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = httpx.get(f"{base}/metrics", timeout=10).text
        serving = {
            line
            for line in text.splitlines()
            if line.startswith("clvchurn_model_info{") and line.endswith(" 1.0")
        }
        if len(serving) >= workers:
            return
        time.sleep(0.5)
    raise RuntimeError(f"not every one of {workers} workers loaded the models within {timeout_s:g} s")
