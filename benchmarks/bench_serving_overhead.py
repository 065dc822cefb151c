"""HTTP overhead of the prediction service around the engine, and which dispatch of the engine is fastest.

The engine is a stand-in that burns a fixed amount of CPU (`--engine-ms`) and returns a fixed
prediction, so the figures are the service's own cost: uvicorn, middleware (request id, metrics, body
limit), API-key check, validation of a 200-event body, serialisation, metrics and prediction log.
Three ways of calling the CPU-bound engine are compared on one app:

- `threadpool`: `async def` endpoint awaiting `run_in_threadpool(engine.predict, ...)` (what
  serving/routes/predict.py does);
- `def`: a plain `def` endpoint (FastAPI runs it, and the response validation, in the thread pool);
- `inline`: `async def` calling the engine directly (blocks the event loop while it runs).

    .venv/bin/python benchmarks/bench_serving_overhead.py --requests 400 --engine-ms 3
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi import FastAPI, Request

from serving.app import create_app
from serving.routes.deps import EngineDep, LanguageDep
from serving.schemas import (
    Explanations,
    ModelInfo,
    ModelsInfo,
    ModelVersions,
    PredictedValue,
    Prediction,
    PredictRequest,
    Reason,
    RecommendedAction,
)
from serving.settings import Settings

API_KEY = "bench-key"


class BusyEngine:
    """Spends `cpu_s` of CPU per customer, then returns a fixed-shape prediction."""

    def __init__(self, cpu_s: float) -> None:
        self.cpu_s = cpu_s
        self.model_versions = ModelVersions(churn="1", value="1")

    def predict(self, requests: Sequence[PredictRequest], lang: str) -> list[Prediction]:
        predictions = []
        for request in requests:
            deadline = time.thread_time() + self.cpu_s
            while time.thread_time() < deadline:
                pass
            reason = Reason(
                feature="days_since_last_order",
                value=12,
                contribution=0.04,
                direction="increases",
                sentence="No order for 12 days.",
            )
            predictions.append(
                Prediction(
                    customer_id=request.customer.customer_id,
                    as_of=request.as_of,
                    tier="B",
                    lifecycle_stage="active",
                    churn_probability=0.2,
                    churn_risk="low",
                    predicted_value=PredictedValue(amount=420.0, currency="EUR", horizon_days=180),
                    value_at_risk=84.0,
                    explanations=Explanations(churn=[reason] * 3, value=[reason] * 3),
                    recommended_action=RecommendedAction(
                        id="thank_you_note",
                        title="Thank you note",
                        steps=["write", "send"],
                        owner="crm",
                        due_within_days=7,
                        due_date=date(2024, 7, 8),
                        success_metric="order in 30 days",
                    ),
                    model_versions=self.model_versions,
                )
            )
        return predictions

    def model_info(self) -> ModelsInfo:
        info = ModelInfo(name="bench", version="1")
        return ModelsInfo(churn=info, value=info, tier_cut_points={"A": 3.0, "B": 2.0, "C": 1.0})

    def is_stale(self) -> bool:
        return False


def body_with_events(events: int) -> dict[str, object]:
    start = datetime(2022, 1, 1)
    transactions = [
        {"timestamp": (start + timedelta(days=3 * n)).isoformat(), "amount": 20.0 + n % 7, "quantity": 1}
        for n in range(events * 3 // 4)
    ]
    interactions = [
        {"timestamp": (start + timedelta(days=4 * n)).isoformat(), "type": "email_open"}
        for n in range(events - len(transactions))
    ]
    return {
        "customer": {"customer_id": "C-1", "signup_date": "2021-12-01"},
        "transactions": transactions,
        "interactions": interactions,
        "as_of": "2024-07-01T00:00:00",
    }


def add_comparison_routes(app: FastAPI) -> None:
    """The same work as POST /v1/predict, with the engine called in the two other ways."""

    @app.post("/bench/def")
    def predict_def(
        body: PredictRequest, request: Request, engine: EngineDep, lang: LanguageDep
    ) -> Prediction:
        predictions = engine.predict([body], lang)
        request.app.state.telemetry.observe_predictions(predictions)
        request.app.state.prediction_log.record(predictions, None)
        return predictions[0]

    @app.post("/bench/inline")
    async def predict_inline(
        body: PredictRequest, request: Request, engine: EngineDep, lang: LanguageDep
    ) -> Prediction:
        predictions = engine.predict([body], lang)
        request.app.state.telemetry.observe_predictions(predictions)
        request.app.state.prediction_log.record(predictions, None)
        return predictions[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def latencies(url: str, body: dict[str, object], count: int, clients: int) -> tuple[list[float], float]:
    """Per-request latencies (ms) and requests per second, `clients` keep-alive connections in parallel."""

    def one_client(share: int) -> list[float]:
        timings = []
        with httpx.Client(headers={"X-API-Key": API_KEY}, timeout=30) as client:
            for _ in range(share):
                started = time.perf_counter()
                response = client.post(url, json=body)
                timings.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
        return timings

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(one_client, [count // clients] * clients))
    elapsed = time.perf_counter() - started
    timings = [timing for result in results for timing in result]
    return timings, len(timings) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--engine-ms", type=float, default=3.0, help="CPU the stand-in engine burns")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="clvchurn-bench-"))
    settings = Settings(
        api_keys=[SecretStr(API_KEY)],
        snapshot_path=folder / "scores.parquet",
        database_url=SecretStr(f"sqlite:///{folder / 'clvchurn.db'}"),
        port=free_port(),
    )
    app = create_app(settings, engine_loader=lambda _settings: BusyEngine(args.engine_ms / 1000))
    add_comparison_routes(app)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{settings.port}"
    while not (server.started and httpx.get(f"{base}/readyz").status_code == 200):
        time.sleep(0.05)

    body = body_with_events(args.events)
    size = len(httpx.Request("POST", base, json=body).content)
    print(f"one customer, {args.events} events ({size:,} bytes), stand-in engine {args.engine_ms} ms CPU")
    print(f"{'dispatch':<11} {'clients':>7} {'p50 ms':>7} {'p95 ms':>7} {'req/s':>7}")
    for name, path in [("threadpool", "/v1/predict"), ("def", "/bench/def"), ("inline", "/bench/inline")]:
        latencies(f"{base}{path}", body, 20, 1)  # warm-up
        for clients in (1, 4):
            timings, throughput = latencies(f"{base}{path}", body, args.requests, clients)
            p50 = statistics.median(timings)
            p95 = statistics.quantiles(timings, n=20)[-1]
            print(f"{name:<11} {clients:>7} {p50:>7.2f} {p95:>7.2f} {throughput:>7.0f}")
    server.should_exit = True
    thread.join(timeout=10)


if __name__ == "__main__":
    main()
