"""Fit an uplift model per action from past campaigns: backtest out of time, choose the learner, refit.

An action qualifies when it has at least `min_per_group` closed outcomes in its treatment group and in
its control group (`CLVCHURN_ACTIONS_MIN_OUTCOMES_PER_GROUP`). Its rows are split by assignment day:
the latest days holding at least `VALIDATION_SHARE` of the rows are the validation campaign, the earlier
days the training campaigns, so no model is judged on a campaign it learned from. Both learners are fitted
on the training campaigns and judged on the validation campaign by the Qini coefficient and the uplift in
the top 10% and 20% (`training.uplift.metrics`); the better Qini wins and is refitted on every closed
outcome, the model that is registered. The models read the model pair's features with the pair's
categorical levels, so serving builds one matrix for every model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import numpy as np
import polars as pl

from features.contract import RawData
from model_contract import to_model_frame
from model_contract.bundle import UpliftBundle, UpliftMetadata
from policy.playbook import Playbook
from training.uplift.dataset import outcome_rows, with_features
from training.uplift.learners import BOOSTING_PARAMS, LEARNERS, ROUNDS
from training.uplift.metrics import qini_coefficient, qini_curve, uplift_at

logger = logging.getLogger(__name__)

VALIDATION_SHARE: Final = 0.2
MIN_VALIDATION_PER_GROUP: Final = 10


@dataclass
class UpliftFit:
    """What fitting did for every action: the registered bundles and, for the others, why not."""

    bundles: dict[str, UpliftBundle] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    backtests: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def notes(self) -> list[str]:
        fitted = [
            f"uplift model for {action}: {bundle.metadata.learner}, backtest Qini "
            f"{bundle.metadata.backtest_metrics.get('qini', float('nan')):.4f}"
            for action, bundle in self.bundles.items()
        ]
        return fitted + [f"no uplift model for {action}: {reason}" for action, reason in self.skipped.items()]


def fit_uplift_models(
    actions: pl.DataFrame,
    raw: RawData,
    playbook: Playbook,
    as_of: datetime,
    feature_names: Sequence[str],
    categorical_levels: Mapping[str, Sequence[str]],
    *,
    min_per_group: int,
    seed: int = 0,
    n_jobs: int = 1,
) -> UpliftFit:
    """An uplift bundle for every action that qualifies (module docstring), and why the others do not."""
    result = UpliftFit()
    rows = outcome_rows(actions, raw, playbook, as_of)
    counts = rows.group_by("action_id", "group").len()
    eligible = []
    for action_id in sorted(rows["action_id"].unique().to_list()):
        groups = dict(counts.filter(pl.col("action_id") == action_id).select("group", "len").iter_rows())
        treated, control = groups.get("treatment", 0), groups.get("control", 0)
        if min(treated, control) < min_per_group:
            result.skipped[action_id] = (
                f"{treated} treated and {control} control outcomes closed, fewer than {min_per_group} in a group"
            )
        else:
            eligible.append(action_id)
    if not eligible:
        return result
    table = with_features(rows.filter(pl.col("action_id").is_in(eligible)), raw)
    for action_id in eligible:
        part = table.filter(pl.col("action_id") == action_id)
        fitted = _fit_action(action_id, part, feature_names, categorical_levels, seed, n_jobs)
        if isinstance(fitted, str):
            result.skipped[action_id] = fitted
        else:
            result.bundles[action_id] = fitted
            result.backtests[action_id] = fitted.metadata.backtest_metrics
    return result


def _fit_action(
    action_id: str,
    rows: pl.DataFrame,
    feature_names: Sequence[str],
    categorical_levels: Mapping[str, Sequence[str]],
    seed: int,
    n_jobs: int,
) -> UpliftBundle | str:
    days = rows["cutoff"].unique().sort()
    if days.len() < 2:
        return "all its outcomes come from one assignment day, so it cannot be backtested out of time"
    validation_from = _validation_start(rows["cutoff"], days)
    training = rows.filter(pl.col("cutoff") < validation_from)
    validation = rows.filter(pl.col("cutoff") >= validation_from)
    problem = _too_few(training, "training", "fit it") or _too_few(validation, "validation", "judge it")
    if problem:
        return problem
    metrics: dict[str, float] = {}
    scores: dict[str, float] = {}
    for name, learner in LEARNERS.items():
        model = learner(seed, n_jobs).fit(*_xy(training, feature_names, categorical_levels))
        X, treated, y = _xy(validation, feature_names, categorical_levels)
        predicted = model.predict(X)
        scores[name] = qini_coefficient(qini_curve(predicted, treated, y))
        metrics[f"qini_{name}"] = scores[name]
        for share in (0.1, 0.2):
            top = uplift_at(predicted, treated, y, share)
            if top is not None:
                metrics[f"uplift_top{int(share * 100)}_{name}"] = top
    chosen = max(scores, key=lambda name: scores[name])
    metrics["qini"] = scores[chosen]
    for share in (10, 20):
        if f"uplift_top{share}_{chosen}" in metrics:
            metrics[f"uplift_top{share}"] = metrics[f"uplift_top{share}_{chosen}"]
    metrics["rows_training"], metrics["rows_validation"] = float(training.height), float(validation.height)
    X, treated, y = _xy(rows, feature_names, categorical_levels)
    final = LEARNERS[chosen](seed, n_jobs).fit(X, treated, y)
    first = rows.row(0, named=True)
    metadata = UpliftMetadata(
        action_id=action_id,
        learner=final.learner,
        metric=first["metric"],
        window_days=int(first["window_days"]),
        feature_names=list(feature_names),
        categorical_levels={name: list(levels) for name, levels in categorical_levels.items()},
        treatment_share=float(treated.mean()),
        n_treatment=int(treated.sum()),
        n_control=int((~treated).sum()),
        assigned_from=rows["assigned_at"].min(),  # type: ignore[arg-type]
        assigned_until=rows["assigned_at"].max(),  # type: ignore[arg-type]
        backtest_as_of=validation_from,
        backtest_metrics=metrics,
        model_params={**BOOSTING_PARAMS, "rounds": ROUNDS, "seed": seed},
    )
    logger.info("Uplift model for %s: %s, backtest Qini %.4f", action_id, chosen, scores[chosen])
    return UpliftBundle(final.scorer_, metadata)


def _validation_start(cutoffs: pl.Series, days: pl.Series) -> datetime:
    """The earliest day such that it and the later days hold at least `VALIDATION_SHARE` of the rows,
    never the first day."""
    per_day = cutoffs.value_counts().sort("cutoff", descending=True)
    needed, seen = VALIDATION_SHARE * cutoffs.len(), 0
    for day, count in per_day.iter_rows():
        seen += count
        if seen >= needed:
            return day if day != days[0] else days[1]  # type: ignore[no-any-return]
    return days[-1]  # type: ignore[no-any-return]


def _too_few(rows: pl.DataFrame, what: str, purpose: str) -> str | None:
    treated = int((rows["group"] == "treatment").sum())
    control = rows.height - treated
    if min(treated, control) < MIN_VALIDATION_PER_GROUP:
        return f"its {what} campaigns hold {treated} treated and {control} control outcomes, too few to {purpose}"
    return None


def _xy(
    rows: pl.DataFrame, feature_names: Sequence[str], categorical_levels: Mapping[str, Sequence[str]]
) -> tuple[object, np.ndarray, np.ndarray]:
    present = rows.with_columns(
        [pl.lit(None, dtype=pl.String).alias(name) for name in categorical_levels if name not in rows.columns]
    )
    frame = to_model_frame(present, feature_names, categorical_levels)
    return frame, (rows["group"] == "treatment").to_numpy(), rows["success"].cast(pl.Float64).to_numpy()
