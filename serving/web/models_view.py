"""The models page's content: champion models from the engine, challengers from the MLflow registry.

The engine knows the champions it serves (`PredictionEngine.model_info`). Challengers are whatever
version carries the registry's `challenger` alias (`model_contract.registry`); their training date and
metrics come from the MLflow run that registered them. Run links use the MLflow UI's `#/runs/<id>`
route, which opens the run without knowing its experiment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from serving.schemas import ModelInfo

logger = logging.getLogger(__name__)

KEY_METRICS: Final = (
    "roc_auc",
    "pr_auc",
    "brier",
    "ece",
    "lift_top10",
    "gini",
    "spearman",
    "mae",
    "rmse",
    "total_error_pct",
    "top10_share",
)
MAX_METRICS_SHOWN: Final = 6


@dataclass(frozen=True)
class RegisteredVersion:
    """One model version as the registry tells it."""

    name: str
    version: str
    run_id: str | None
    trained_at: datetime | None
    metrics: Mapping[str, float]


@dataclass(frozen=True)
class ModelCard:
    """One row of the models page: a champion or a challenger of one kind."""

    kind: Literal["churn", "value"]
    role: Literal["champion", "challenger"]
    name: str
    version: str
    trained_at: datetime | None
    metrics: list[tuple[str, float]]
    run_id: str | None
    run_url: str | None


ChallengerLookup = Callable[[str], RegisteredVersion | None]


def mlflow_challenger_lookup(tracking_uri: str) -> ChallengerLookup:
    """Looks up the `challenger` alias of a registered model, and its run, in the MLflow store."""

    def lookup(name: str) -> RegisteredVersion | None:
        from model_contract.registry import CHALLENGER, aliased_version, client_for

        found = aliased_version(name, CHALLENGER, tracking_uri)
        if found is None:
            return None
        trained_at, metrics = None, {}
        if found.run_id:
            run = client_for(tracking_uri).get_run(found.run_id)
            trained_at = datetime.fromtimestamp(run.info.start_time / 1000, UTC).replace(tzinfo=None)
            metrics = dict(run.data.metrics)
        return RegisteredVersion(found.name, found.version, found.run_id, trained_at, metrics)

    return lookup


def run_url(mlflow_ui_url: str, run_id: str | None) -> str | None:
    return f"{mlflow_ui_url.rstrip('/')}/#/runs/{run_id}" if run_id else None


def key_metrics(
    metrics: Mapping[str, float], wanted: tuple[str, ...] = KEY_METRICS
) -> list[tuple[str, float]]:
    """The report-card metrics present, in report-card order; others only when none of those is."""
    chosen = [(name, float(metrics[name])) for name in wanted if name in metrics]
    if not chosen:
        chosen = sorted((name, float(value)) for name, value in metrics.items())
    return chosen[:MAX_METRICS_SHOWN]


def champion_card(kind: Literal["churn", "value"], info: ModelInfo, mlflow_ui_url: str) -> ModelCard:
    return ModelCard(
        kind=kind,
        role="champion",
        name=info.name,
        version=info.version,
        trained_at=info.trained_at,
        metrics=key_metrics(info.validation_metrics),
        run_id=info.run_id,
        run_url=run_url(mlflow_ui_url, info.run_id),
    )


def challenger_card(
    kind: Literal["churn", "value"], champion: ModelInfo, lookup: ChallengerLookup, mlflow_ui_url: str
) -> ModelCard | None:
    """The challenger of `champion`'s model, its metrics on the champion's report card; None if none.

    A registry that cannot be reached is logged and shown as no challenger: the page stays usable.
    """
    try:
        found = lookup(champion.name)
    except Exception:
        logger.warning("Could not look up the challenger of %s in MLflow", champion.name, exc_info=True)
        return None
    if found is None:
        return None
    same_card = tuple(name for name in KEY_METRICS if name in champion.validation_metrics)
    return ModelCard(
        kind=kind,
        role="challenger",
        name=found.name,
        version=found.version,
        trained_at=found.trained_at,
        metrics=key_metrics(found.metrics, same_card or KEY_METRICS),
        run_id=found.run_id,
        run_url=run_url(mlflow_ui_url, found.run_id),
    )
