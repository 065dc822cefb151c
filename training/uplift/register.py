"""Register uplift models with the model pair they serve beside: a new version of `clvchurn-pair`.

`clvchurn train` fits uplift models in the same run as the pair (`training.train.train` with actions).
`clvchurn train-uplift` adds them to the pair in service: the champion's models, tiers and references
unchanged, plus the uplift models fitted now (replacing older ones of the same actions), logged and
registered as a new version that takes over the alias the base pair had. The base pair passed its
promotion gate and is unchanged, so the gate has nothing new to judge; each uplift model carries its
own out-of-time backtest.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

import mlflow
import polars as pl

from features.contract import RawData
from model_contract import (
    CHAMPION,
    PAIR_MODEL_NAME,
    LoadedPair,
    ModelPair,
    PairMetadata,
    ensure_experiment,
    register,
    set_alias,
    tracking_to,
)
from policy.action_settings import load_action_settings
from policy.playbook import Playbook
from training.uplift.fit import UpliftFit, fit_uplift_models

if TYPE_CHECKING:
    from training.train import TrainingOutcome

logger = logging.getLogger(__name__)


def pair_with_uplift(pair: ModelPair, fit: UpliftFit) -> ModelPair:
    """The same pair with `fit`'s uplift models added (an action's newer model replaces the older)."""
    metadata = PairMetadata.model_validate(
        {**pair.metadata.model_dump(), "notes": [*pair.metadata.notes, *fit.notes]}
    )
    return ModelPair(dict(pair.models), metadata, {**pair.uplift, **fit.bundles})


def register_with_uplift(
    loaded: LoadedPair,
    fit: UpliftFit,
    example: pl.DataFrame,
    tracking_uri: str | None = None,
    alias: str = CHAMPION,
) -> str:
    """Log and register the loaded pair with `fit`'s uplift models as a new version carrying `alias`;
    returns the version. `example` holds a few feature rows for the model signature."""
    from training.train import _pip_requirements

    pair = pair_with_uplift(loaded.pair, fit)
    with tracking_to(tracking_uri) as uri:
        experiment_id = ensure_experiment(uri)
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=f"train-uplift-{datetime.now():%Y%m%d-%H%M%S}"
        ):
            mlflow.set_tags({"base_pair_version": loaded.version, "notes": "; ".join(fit.notes)[:5000]})
            for action_id, metrics in fit.backtests.items():
                mlflow.log_metrics({f"uplift_{action_id}_{name}": value for name, value in metrics.items()})
            inputs = example.select(pair["value"].metadata.feature_names)
            logged = mlflow.pyfunc.log_model(
                name="pair",
                python_model=pair,
                signature=mlflow.models.infer_signature(inputs.to_pandas(), pair.predict_frame(inputs)),
                input_example=inputs.to_pandas(),
                pip_requirements=_pip_requirements(),
            )
            version = register(logged.model_uri, PAIR_MODEL_NAME, uri)
            set_alias(PAIR_MODEL_NAME, alias, version, uri)
            mlflow.set_tags({"alias": alias, "registered_version": version})
    logger.info(
        "%s v%s: v%s with %d uplift models, now '%s'",
        PAIR_MODEL_NAME,
        version,
        loaded.version,
        len(fit.bundles),
        alias,
    )
    return version


def add_uplift_models(
    outcome: TrainingOutcome,
    raw: RawData,
    actions: pl.DataFrame,
    playbook: Playbook,
    *,
    min_per_group: int | None = None,
    seed: int = 0,
    n_jobs: int = 1,
) -> UpliftFit:
    """The train hook: fit uplift models on `actions`' closed outcomes with the pair's feature layout
    and put them into `outcome.pair` before it is logged, registered and gated (the models are loaded
    with the pair). `min_per_group` defaults to `CLVCHURN_ACTIONS_MIN_OUTCOMES_PER_GROUP`."""
    pair = outcome.pair
    layout = pair["value"].metadata
    minimum = min_per_group if min_per_group is not None else load_action_settings().min_outcomes_per_group
    fit = fit_uplift_models(
        actions,
        raw,
        playbook,
        pair.metadata.data_end,
        layout.feature_names,
        layout.categorical_levels,
        min_per_group=minimum,
        seed=seed,
        n_jobs=n_jobs,
    )
    outcome.pair = pair_with_uplift(pair, fit)
    outcome.notes.extend(fit.notes)
    logger.info("Uplift models for %d actions (%d skipped)", len(fit.bundles), len(fit.skipped))
    return fit
