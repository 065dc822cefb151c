"""One MLflow run per `clvchurn monitor` call: the headline figures as metrics, the report and charts as files.

Monitoring runs live in their own experiment, `clvchurn-monitoring`, beside the training runs of
`clvchurn`, so that the registry's runs stay the training runs. Metrics are the latest closed figure
of each model (`churn_roc_auc`, `value_gini`, ...), the latest estimates (`churn_roc_auc_expected`),
drift (`drift_flagged`, `drift_flagged_share`, `drift_prediction_psi`), alerts and tier moves; the
run's tags say which snapshot and pair they describe.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import mlflow

from model_contract import client_for, local_artifact_root, tracking_to
from monitoring.plots import write_plots

logger = logging.getLogger(__name__)

EXPERIMENT: Final = "clvchurn-monitoring"
HEADLINE_METRICS: Final = {
    "churn": ("roc_auc", "pr_auc", "brier", "ece"),
    "reactivation": ("roc_auc", "ece"),
    "conversion": ("roc_auc", "ece"),
    "value": ("gini", "spearman", "mae", "total_error_pct"),
}


def log_monitoring_run(report: Mapping[str, Any], files: list[Path], tracking_uri: str | None = None) -> str:
    """Log `report` as a run of the monitoring experiment, with `files` and the charts; returns the run id."""
    with tracking_to(tracking_uri) as uri:
        experiment = _experiment(uri)
        with mlflow.start_run(experiment_id=experiment, run_name=f"monitor-{report['as_of']}") as run:
            mlflow.set_tags(
                {
                    "clvchurn.kind": "monitoring",
                    "as_of": report["as_of"],
                    "latest_snapshot": report["status"]["latest_snapshot"],
                    "scored_by": str(report["status"]["scored_by"]),
                }
            )
            mlflow.log_params(
                {"snapshots": len(report["history"]["cutoffs"]), "history": report["history"]["path"]}
            )
            mlflow.log_metrics(headline_metrics(report))
            for path in files:
                mlflow.log_artifact(str(path))
            with tempfile.TemporaryDirectory() as tmp:
                for chart in write_plots(report, Path(tmp)):
                    mlflow.log_artifact(str(chart), artifact_path="charts")
            run_id: str = run.info.run_id
    logger.info("Logged monitoring run %s to %s", run_id, uri)
    return run_id


def headline_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """The report's headline figures as MLflow metrics (finite numbers only)."""
    metrics: dict[str, Any] = {"alerts": report["status"]["alerts"]}
    for entry in report.get("realised") or []:  # oldest first: the latest closed figure wins
        for model, names in HEADLINE_METRICS.items():
            card = entry.get(model)
            if card:
                metrics.update({f"{model}_{name}": card.get(name) for name in names})
    estimated = (report.get("estimated") or [])[-1:]
    for entry in estimated:
        for model in ("churn", "reactivation", "conversion"):
            if entry.get(model):
                metrics[f"{model}_roc_auc_expected"] = entry[model]["roc_auc_expected"]
                metrics[f"{model}_ece_expected"] = entry[model]["ece_expected"]
    drift = report.get("drift")
    if drift:
        metrics["drift_flagged"] = float(drift["flagged"])
        metrics["drift_flagged_share"] = drift["flagged_share"]
        if drift.get("prediction"):
            metrics["drift_prediction_psi"] = drift["prediction"]["value"]
    moves = report.get("migration")
    if moves:
        metrics["tier_moved_up"] = moves["moved_up"]
        metrics["tier_moved_down"] = moves["moved_down"]
    return {
        name: float(value)
        for name, value in metrics.items()
        if isinstance(value, int | float) and math.isfinite(value)
    }


def _experiment(uri: str) -> str:
    client = client_for(uri)
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return str(found.experiment_id)
    root = local_artifact_root(uri)
    location = root.as_uri() if root is not None else None
    return str(client.create_experiment(EXPERIMENT, artifact_location=location))
