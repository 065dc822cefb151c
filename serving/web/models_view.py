"""The models page's content: the champion pair from the engine, the challenger pair from the registry.

The engine knows the pair it serves (`PredictionEngine.model_info`). The challenger is whatever version
carries the registry's `challenger` alias; its metadata is read once per version (the pair is loaded
from MLflow the first time the page asks) and kept. Run links use the MLflow UI's `#/runs/<id>` route,
which opens the run without knowing its experiment.

The comparison of the latest `clvchurn retrain` (champion and challenger on the same window, and the
gate) is read from the tag it stored on the challenger's version, or on the champion's once promoted.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

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


COMPARISON_TAG: Final = "clvchurn.retrain.comparison"
"""The version tag `clvchurn retrain` stores its comparison in (`training.retrain.COMPARISON_TAG`)."""
ComparisonLookup = Callable[[str], dict[str, Any] | None]
"""The comparison `clvchurn retrain` stored on a registered version (None when it has none)."""


@dataclass(frozen=True)
class ComparisonCheck:
    """One check of the retrain gate, as the models page lists it."""

    model: str
    metric: str
    kind: str  # "drop": not worse than the champion by more than `limit`; "max": at most `limit`
    limit: float
    champion: float | None
    challenger: float | None
    passed: bool
    comparable: bool
    learned_until: str | None
    comparable_from: str | None


@dataclass(frozen=True)
class ComparisonWindow:
    model: str
    as_of: str
    to: str
    customers: int
    method: str | None


@dataclass(frozen=True)
class ComparisonView:
    """The latest retrain's comparison of champion and challenger on the same window."""

    decision: str
    challenger_version: str | None
    champion_version: str | None
    retrained_at: str | None
    data_end: str | None
    passed: bool
    checks: list[ComparisonCheck]
    windows: list[ComparisonWindow]


def mlflow_comparison_lookup(tracking_uri: str) -> ComparisonLookup:
    """Reads the comparison tag of a version of the pair (not cached: a promotion rewrites it)."""

    def lookup(version: str) -> dict[str, Any] | None:
        from model_contract import PAIR_MODEL_NAME, client_for

        tags = client_for(tracking_uri).get_model_version(PAIR_MODEL_NAME, version).tags
        stored = tags.get(COMPARISON_TAG)
        found: dict[str, Any] | None = json.loads(stored) if stored else None
        return found

    return lookup


def comparison_view(lookup: ComparisonLookup | None, version: str) -> ComparisonView | None:
    """The comparison stored on `version` (the challenger's, else the champion's) for the page, or None.

    A registry that cannot be reached, or a tag that is not a comparison, is logged and shown as none."""
    if lookup is None:
        return None
    try:
        stored = lookup(version)
        return None if not stored else _comparison(stored)
    except Exception:
        logger.warning("Could not read the retrain comparison of version %s", version, exc_info=True)
        return None


def _comparison(stored: Mapping[str, Any]) -> ComparisonView:
    models = stored.get("models", {})
    checks = [
        ComparisonCheck(
            model=check["model"],
            metric=check["metric"],
            kind=check["kind"],
            limit=float(check["limit"]),
            champion=check.get("champion"),
            challenger=check.get("challenger"),
            passed=bool(check["passed"]),
            comparable=bool(models.get(check["model"], {}).get("comparable")),
            learned_until=models.get(check["model"], {}).get("learned_until"),
            comparable_from=models.get(check["model"], {}).get("comparable_from"),
        )
        for check in stored["gate"]["checks"]
    ]
    windows = [
        ComparisonWindow(
            name,
            entry["window"]["as_of"],
            entry["window"]["to"],
            int(entry["window"]["customers"]),
            entry.get("method"),
        )
        for name, entry in models.items()
        if name in ("churn", "value")
    ]
    champion, challenger = stored.get("champion") or {}, stored.get("challenger") or {}
    return ComparisonView(
        decision=str(stored.get("decision", "kept")),
        challenger_version=challenger.get("version"),
        champion_version=champion.get("version"),
        retrained_at=stored.get("retrained_at"),
        data_end=challenger.get("data_end"),
        passed=bool(stored["gate"]["passed"]),
        checks=checks,
        windows=windows,
    )
