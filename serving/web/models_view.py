"""The models page's content: the champion pair from the engine, the challenger pair from the registry.

The engine knows the pair it serves (`PredictionEngine.model_info`). The challenger is whatever version
carries the registry's `challenger` alias; its metadata is read once per version (the pair is loaded
from MLflow the first time the page asks) and kept. Run links use the MLflow UI's `#/runs/<id>` route,
which opens the run without knowing its experiment.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from serving.schemas import ModelsInfo

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
MAX_METRICS_SHOWN: Final = 5


@dataclass(frozen=True)
class ModelRow:
    """One model of a pair as the page lists it."""

    name: str
    horizon_days: int
    trained_through: datetime
    backtest_as_of: datetime | None
    metrics: list[tuple[str, float]]
    fallback: str | None


@dataclass(frozen=True)
class PairCard:
    """The champion or the challenger pair."""

    role: Literal["champion", "challenger"]
    name: str
    version: str
    trained_at: datetime | None
    data_end: datetime | None
    run_id: str | None
    run_url: str | None
    models: list[ModelRow]


ChallengerLookup = Callable[[], ModelsInfo | None]


def mlflow_challenger_lookup(tracking_uri: str) -> ChallengerLookup:
    """Describes the pair with the registry's `challenger` alias, loading each version once."""
    cache: dict[str, ModelsInfo] = {}
    lock = threading.Lock()

    def lookup() -> ModelsInfo | None:
        from model_contract import CHALLENGER, PAIR_MODEL_NAME, aliased_version, load_pair
        from serving.model_info import describe_pair

        found = aliased_version(PAIR_MODEL_NAME, CHALLENGER, tracking_uri)
        if found is None:
            return None
        with lock:
            if found.version not in cache:
                cache[found.version] = describe_pair(load_pair(CHALLENGER, tracking_uri))
            return cache[found.version]

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


def pair_card(role: Literal["champion", "challenger"], info: ModelsInfo, mlflow_ui_url: str) -> PairCard:
    return PairCard(
        role=role,
        name=info.name,
        version=info.version,
        trained_at=info.trained_at,
        data_end=info.data_end,
        run_id=info.run_id,
        run_url=run_url(mlflow_ui_url, info.run_id),
        models=[
            ModelRow(
                name,
                model.horizon_days,
                model.trained_through,
                model.backtest_as_of,
                key_metrics(model.backtest_metrics),
                model.fallback,
            )
            for name, model in info.models.items()
        ],
    )


def challenger_card(lookup: ChallengerLookup, mlflow_ui_url: str) -> PairCard | None:
    """The challenger pair's card, or None; a registry that cannot be reached is logged and shown as
    no challenger, so the page stays usable."""
    try:
        found = lookup()
    except Exception:
        logger.warning("Could not look up the challenger pair in MLflow", exc_info=True)
        return None
    return None if found is None else pair_card("challenger", found, mlflow_ui_url)
