"""The monitor report as Prometheus gauges, read from the report file at every scrape.

A custom collector (https://prometheus.github.io/client_python/collector/custom/) rather than gauges
set in the process: the figures are the last `clvchurn monitor` run's, the same for every worker, so
each scrape re-reads the file (parsed again only when it changed, `serving.monitor_report`) and no
process holds state of its own. That also works unchanged when the service exposes its metrics in
Prometheus' multiprocess mode: register the collector in the registry the /metrics route builds.

Series (all gauges; labels bounded by the models, metrics, features and tiers):

- `clvchurn_monitor_report_up`: 1 when a report was read, 0 when none exists or it is unreadable;
- `clvchurn_monitor_report_as_of_timestamp_seconds`: the day the report's outcomes are known up to;
- `clvchurn_monitor_realised{model, metric}` and `clvchurn_monitor_backtest{model, metric}`: each
  model's latest closed snapshot and the backtest of the pair that scored it;
  `clvchurn_monitor_realised_snapshot_timestamp_seconds{model}` says which snapshot that is;
- `clvchurn_monitor_alerts{model}`: metrics of that snapshot worse than the backtest beyond tolerance;
- `clvchurn_monitor_estimated{model, metric}`: CBPE estimates of the latest snapshot;
- `clvchurn_monitor_drift_psi{feature}`, `clvchurn_monitor_drift_prediction_psi{prediction}`,
  `clvchurn_monitor_drift_flagged`, `clvchurn_monitor_drift_flagged_share`;
- `clvchurn_monitor_tier_migration_customers{from_tier, to_tier}` and `..._value{...}`,
  `clvchurn_monitor_tier_moves{direction}`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from domain.errors import MonitorReportError
from serving.monitor_report import MonitorReportStore

logger = logging.getLogger(__name__)

PREFIX: Final = "clvchurn_monitor"
REALISED_METRICS: Final = {
    "churn": ("roc_auc", "pr_auc", "brier", "ece"),
    "reactivation": ("roc_auc", "pr_auc", "brier", "ece"),
    "conversion": ("roc_auc", "pr_auc", "brier", "ece"),
    "value": ("gini", "spearman", "mae", "total_error_pct"),
}
ESTIMATED_METRICS: Final = ("roc_auc_expected", "pr_auc_expected", "brier_expected", "ece_expected")


class MonitorReportCollector(Collector):
    """Yields the gauges of the report at `path` whenever the registry is scraped."""

    def __init__(self, path: Path) -> None:
        self.store = MonitorReportStore(path)

    def describe(self) -> list[Metric]:
        """Nothing up front: the series depend on the report, which may not exist yet."""
        return []

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(f"{PREFIX}_report_up", "1 when the latest monitor report was read, else 0.")
        try:
            report = self.store.report()
        except MonitorReportError as error:
            logger.warning("Monitor report not exported: %s", error)
            report = None
        up.add_metric([], 0.0 if report is None else 1.0)
        yield up
        if report is not None:
            yield from report_families(report)


def register_monitor_gauges(registry: CollectorRegistry, path: Path | None = None) -> MonitorReportCollector:
    """Register the report's gauges in `registry`; `path` defaults to CLVCHURN_MONITOR_REPORT_PATH."""
    if path is None:
        from monitoring.settings import load_monitoring_settings

        path = load_monitoring_settings().report_path
    collector = MonitorReportCollector(path)
    registry.register(collector)
    return collector


def report_families(report: Mapping[str, Any]) -> Iterator[Metric]:
    """Every gauge family of one report (see the module docstring)."""
    as_of = GaugeMetricFamily(
        f"{PREFIX}_report_as_of_timestamp_seconds", "Day the report's outcomes are known up to (Unix time)."
    )
    as_of.add_metric([], _timestamp(report["as_of"]))
    yield as_of
    yield from _realised(report.get("realised") or [])
    yield from _estimated(report.get("estimated") or [])
    yield from _drift(report.get("drift"))
    yield from _migration(report.get("migration"))


def _realised(entries: list[Mapping[str, Any]]) -> Iterator[Metric]:
    realised = GaugeMetricFamily(
        f"{PREFIX}_realised",
        "Realised metric of each model's latest closed snapshot.",
        labels=["model", "metric"],
    )
    backtest = GaugeMetricFamily(
        f"{PREFIX}_backtest",
        "Backtest metric of the pair that scored that snapshot.",
        labels=["model", "metric"],
    )
    when = GaugeMetricFamily(
        f"{PREFIX}_realised_snapshot_timestamp_seconds",
        "Cutoff of each model's latest closed snapshot (Unix time).",
        labels=["model"],
    )
    alerts = GaugeMetricFamily(
        f"{PREFIX}_alerts",
        "Metrics of that snapshot worse than the backtest beyond their tolerance.",
        labels=["model"],
    )
    for model, names in REALISED_METRICS.items():
        closed = [entry for entry in entries if entry.get(model)]
        if not closed:
            continue
        entry = closed[-1]
        when.add_metric([model], _timestamp(entry["snapshot_as_of"]))
        alerts.add_metric(
            [model], float(sum(1 for alert in entry.get("alerts", []) if alert["model"] == model))
        )
        stored = entry.get("backtest", {}).get(model, {})
        for name in names:
            _add(realised, [model, name], entry[model].get(name))
            _add(backtest, [model, name], stored.get(name))
    yield from (realised, backtest, when, alerts)


def _estimated(entries: list[Mapping[str, Any]]) -> Iterator[Metric]:
    estimated = GaugeMetricFamily(
        f"{PREFIX}_estimated",
        "CBPE estimate of each probability model on the latest snapshot.",
        labels=["model", "metric"],
    )
    if entries:
        latest = entries[-1]
        for model in ("churn", "reactivation", "conversion"):
            for name in ESTIMATED_METRICS if latest.get(model) else ():
                _add(estimated, [model, name], latest[model].get(name))
    yield estimated


def _drift(drift: Mapping[str, Any] | None) -> Iterator[Metric]:
    psi = GaugeMetricFamily(
        f"{PREFIX}_drift_psi",
        "PSI of each feature of the latest snapshot against the reference.",
        labels=["feature"],
    )
    prediction = GaugeMetricFamily(
        f"{PREFIX}_drift_prediction_psi",
        "PSI of each prediction against the reference.",
        labels=["prediction"],
    )
    flagged = GaugeMetricFamily(f"{PREFIX}_drift_flagged", "1 when the latest snapshot's drift is flagged.")
    share = GaugeMetricFamily(f"{PREFIX}_drift_flagged_share", "Share of the features flagged.")
    if drift:
        for record in drift.get("features", []):
            _add(psi, [record["name"]], record["value"])
        for record in drift.get("predictions", []):
            _add(prediction, [record["name"]], record["value"])
        flagged.add_metric([], float(bool(drift["flagged"])))
        _add(share, [], drift.get("flagged_share"))
    yield from (psi, prediction, flagged, share)


def _migration(moves: Mapping[str, Any] | None) -> Iterator[Metric]:
    customers = GaugeMetricFamily(
        f"{PREFIX}_tier_migration_customers",
        "Customers by tier in the earlier and the later of the two latest snapshots.",
        labels=["from_tier", "to_tier"],
    )
    value = GaugeMetricFamily(
        f"{PREFIX}_tier_migration_value",
        "Later predicted value of those customers.",
        labels=["from_tier", "to_tier"],
    )
    direction = GaugeMetricFamily(
        f"{PREFIX}_tier_moves", "Customers who moved up (towards A) or down a tier.", labels=["direction"]
    )
    if moves:
        for origin, row in moves["tiers"].items():
            for target, count in row.items():
                customers.add_metric([origin, target], float(count))
                _add(value, [origin, target], moves["tier_values"][origin][target])
        direction.add_metric(["up"], float(moves["moved_up"]))
        direction.add_metric(["down"], float(moves["moved_down"]))
    yield from (customers, value, direction)


def _add(family: GaugeMetricFamily, labels: list[str], value: Any) -> None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        family.add_metric(labels, float(value))


def _timestamp(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()
