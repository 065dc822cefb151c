"""A registered model pair described for people and programs: what GET /v1/models, the models page and
`clvchurn models show` report (versions, when each model was trained through, its backtest)."""

from __future__ import annotations

from datetime import datetime

from model_contract import PAIR_MODEL_NAME, LoadedPair, TierCutpoints
from serving.schemas import ModelInfo, ModelsInfo


def describe_pair(loaded: LoadedPair, loaded_at: datetime | None = None) -> ModelsInfo:
    """The pair's run, version and, per model, horizon, populations, `trained_through` and backtest."""
    metadata = loaded.pair.metadata
    cutpoints = TierCutpoints.from_dict(metadata.tier_cutpoints)
    return ModelsInfo(
        name=PAIR_MODEL_NAME,
        version=loaded.version,
        run_id=loaded.run_id,
        trained_at=metadata.trained_at,
        data_end=metadata.data_end,
        models={
            name: ModelInfo(
                version=loaded.version,
                horizon_days=bundle.metadata.horizon_days,
                populations=bundle.metadata.populations,
                trained_through=bundle.metadata.trained_through,
                backtest_as_of=bundle.metadata.backtest_as_of,
                backtest_metrics=bundle.metadata.backtest_metrics,
                model_family=bundle.metadata.model_family,
                fallback=bundle.metadata.fallback,
            )
            for name, bundle in loaded.pair.models.items()
        },
        tier_cut_points={"A": cutpoints.a_threshold, "B": cutpoints.b_threshold, "C": cutpoints.c_threshold},
        tier_method=cutpoints.method,
        tier_minimum_orders_365d=cutpoints.minimum_orders_365d,
        horizon_days=metadata.value_horizon_days,
        loaded_at=loaded_at,
    )
