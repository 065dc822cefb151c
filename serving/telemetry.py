"""Observability: Prometheus metrics per route and per prediction.

Each app owns its own `CollectorRegistry` (no process-wide state), exposed at GET /metrics in the
Prometheus text format (https://prometheus.io/docs/instrumenting/exposition_formats/). Routes are
labelled by their template (`/v1/customers/{customer_id}`), never by the raw path, to keep the number
of series bounded; `serving.middleware` counts and times the requests.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from serving.engine import PredictionEngine
from serving.schemas import Prediction

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PROBABILITY_BUCKETS = tuple(round(0.1 * step, 1) for step in range(1, 11))


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
            "1 for the model pair version in service.",
            ["pair_version"],
            registry=self.registry,
        )

    def observe_predictions(self, predictions: Sequence[Prediction]) -> None:
        for prediction in predictions:
            if prediction.churn_probability is not None:
                self.churn_probability.observe(prediction.churn_probability)
            self.predicted_value.observe(prediction.predicted_value.amount)
            self.tiers.labels(prediction.tier).inc()
            self.actions.labels(prediction.recommended_action.id).inc()

    def observe_engine(self, engine: PredictionEngine) -> None:
        """Point `clvchurn_model_info` at the engine just put in service."""
        self.model_info.clear()
        self.model_info.labels(engine.model_versions.pair).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
