"""Observability: Prometheus metrics per route and per prediction.

Each app owns its own `CollectorRegistry` (no process-wide state), exposed at GET /metrics in the
Prometheus text format (https://prometheus.io/docs/instrumenting/exposition_formats/). Routes are
labelled by their template (`/v1/customers/{customer_id}`), never by the raw path, to keep the number
of series bounded; `serving.middleware` counts and times the requests.

With several workers, one scrape reaches one worker, so each would show only its own share.
`clvchurn serve --workers N` therefore sets `PROMETHEUS_MULTIPROC_DIR` before the workers start:
prometheus-client then keeps every value in a memory-mapped file per process in that folder, and
`render` sums them all with its `MultiProcessCollector` (prometheus-client's "multiprocess mode",
https://prometheus.github.io/client_python/multiprocess/). `clvchurn_model_info` is per worker there
(a `pid` label, live workers only), which shows whether the workers agree on the pair in service.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from serving.engine import PredictionEngine
from serving.schemas import Prediction

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PROBABILITY_BUCKETS = tuple(round(0.1 * step, 1) for step in range(1, 11))
MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> Path | None:
    """The folder of multiprocess mode, None when the metrics are this process's alone."""
    folder = os.environ.get(MULTIPROC_DIR_VARIABLE)
    return Path(folder) if folder else None


def prepare_multiprocess_dir(folder: Path) -> None:
    """Create `folder` empty (files of a previous run would add to the new counts), before workers start."""
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob("*.db"):
        leftover.unlink()


class Telemetry:
    """The service's metrics, registered in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "clvchurn_http_requests",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "clvchurn_http_request_duration_seconds",
            "Time from request start to the last response byte, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.churn_probability = Histogram(
            "clvchurn_churn_probability",
            "Churn probability of every served prediction of an active customer.",
            buckets=PROBABILITY_BUCKETS,
            registry=self.registry,
        )
        self.predicted_value = Histogram(
            "clvchurn_predicted_value",
            "Predicted value over the horizon of every served prediction.",
            buckets=(0, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000),
            registry=self.registry,
        )
        self.tiers = Counter(
            "clvchurn_predictions", "Served predictions by tier.", ["tier"], registry=self.registry
        )
        self.actions = Counter(
            "clvchurn_recommended_actions",
            "Served predictions by recommended action id.",
            ["action"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "clvchurn_engine_reloads", "Engine reloads by outcome.", ["outcome"], registry=self.registry
        )
        self.model_info = Gauge(
            "clvchurn_model_info",
            "1 for the model pair version in service (per worker, label pid, with several workers).",
            ["pair_version"],
            registry=self.registry,
            multiprocess_mode="liveall",
        )
        self.prediction_log_rows = Counter(
            "clvchurn_prediction_log_rows",
            "Prediction rows by outcome: committed before their 200, or failed (answered 503, not served).",
            ["outcome"],
            registry=self.registry,
        )
        self.unlogged_predictions = Counter(
            "clvchurn_unlogged_predictions",
            "Predictions served without being logged: 0 by design, since a failed commit answers 503.",
            registry=self.registry,
        )
        self._pair_in_service: str | None = None
        self._forget_dead_workers()

    def observe_predictions(self, predictions: Sequence[Prediction]) -> None:
        for prediction in predictions:
            if prediction.churn_probability is not None:
                self.churn_probability.observe(prediction.churn_probability)
            self.predicted_value.observe(prediction.predicted_value.amount)
            self.tiers.labels(prediction.tier).inc()
            self.actions.labels(prediction.recommended_action.id).inc()

    def observe_engine(self, engine: PredictionEngine) -> None:
        """Point `clvchurn_model_info` at the engine just put in service."""
        previous, self._pair_in_service = self._pair_in_service, engine.model_versions.pair
        if previous is not None and previous != self._pair_in_service:
            self.model_info.labels(previous).set(0)  # what a multiprocess file keeps after `remove`
            self.model_info.remove(previous)
        self.model_info.labels(self._pair_in_service).set(1)

    def observe_prediction_log(self, committed: int, failed: int) -> None:
        """Count a commit's outcome (`PredictionLog`'s hook)."""
        if committed:
            self.prediction_log_rows.labels("committed").inc(committed)
        if failed:
            self.prediction_log_rows.labels("failed").inc(failed)

    def render(self) -> bytes:
        """The exposition: this app's registry, or every worker's files in multiprocess mode."""
        folder = multiprocess_dir()
        if folder is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(folder))
        return generate_latest(registry)

    def close(self) -> None:
        """At shutdown: drop this worker's per-process gauges from the shared folder."""
        folder = multiprocess_dir()
        if folder is not None:
            mark_process_dead(os.getpid(), str(folder))

    @staticmethod
    def _forget_dead_workers() -> None:
        """Remove per-process gauges of workers that died without `close` (e.g. SIGKILL)."""
        folder = multiprocess_dir()
        if folder is None:
            return
        for path in folder.glob("gauge_live*_*.db"):
            pid = int(path.stem.rsplit("_", 1)[1])
            if not _alive(pid):
                mark_process_dead(pid, str(folder))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
