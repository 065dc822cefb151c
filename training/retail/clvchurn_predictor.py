"""clvchurn as a benchmarked predictor, through its public entry points only.

The call trains the product's recipe on the history with `training.train.train` into a throwaway
MLflow store, loads the champion pair the way the service does (`serving.predictor.load_engine`) and
scores `features.build.build_features(history, cutoff)` with `engine.score`, so the benchmark measures
whatever recipe sits behind those three calls, and keeps working while the recipe changes.

This is the one module of `training` that reaches into `serving` (imported inside the call): the
benchmark judges the model as it is served, not the model as training sees it.

Populations. The protocol's population (an order in the 365 days before the cutoff) spans two of
clvchurn's: active customers (an order within the playbook's lookback) get the churn model's
probability, lapsed ones 1 - the reactivation model's, so each number comes from the model trained on
that population. The value is the unconditional `predicted_value`.

Schedule. One year of history and 91-day horizons leave little room: the recipe's
`min_history_days` is lowered to 60 days here (the product default is 180) and the schedule's notes
say which fit cutoffs it kept.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from features.build import build_features
from features.contract import RawData

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClvchurnRecipe:
    """The `TrainingConfig` options the benchmark chooses; horizons come from the benchmark itself."""

    snapshots: int = 4
    step_days: int = 30
    min_history_days: int = 60
    n_jobs: int = 2
    seed: int = 0


class ClvchurnPredictor:
    """Train, register, load and score clvchurn on the history; see the module docstring."""

    def __init__(self, recipe: ClvchurnRecipe | None = None) -> None:
        self.recipe = recipe or ClvchurnRecipe()

    def __call__(self, history: RawData, cutoff: datetime, horizon_days: int) -> pl.DataFrame:
        from serving.predictor import load_engine
        from serving.settings import Settings
        from training.train import TrainingConfig, train

        config = TrainingConfig(
            churn_horizon_days=horizon_days,
            value_horizon_days=horizon_days,
            snapshots=self.recipe.snapshots,
            step_days=self.recipe.step_days,
            min_history_days=self.recipe.min_history_days,
            n_jobs=self.recipe.n_jobs,
            seed=self.recipe.seed,
        )
        with tempfile.TemporaryDirectory(prefix="clvchurn-retail-") as store:
            uri = f"sqlite:///{Path(store) / 'mlflow.db'}"
            outcome = train(history, config, tracking_uri=uri, data_source="retail benchmark history")
            engine = load_engine(Settings(mlflow_tracking_uri=uri))
            scored = engine.score(build_features(history, cutoff))
        self.diagnostics_: dict[str, Any] = {
            "recipe": asdict(self.recipe),
            "models": {
                name: {
                    "backtest_fit_cutoffs": [c.date().isoformat() for c in run.backtest.schedule.training],
                    "backtest_validation": run.backtest.validation_as_of.date().isoformat(),
                    "refit_fit_cutoffs": [c.date().isoformat() for c in run.refit_schedule.training],
                    "trained_through": run.refit_schedule.trained_through.date().isoformat(),
                    "backtest": run.backtest.table,
                    "fallback": run.refit.fallback,
                }
                for name, run in outcome.models.items()
            },
            "notes": list(outcome.notes),
        }
        populations = scored.populations
        no_order = np.where(populations == "active", scored.probability, 1.0 - scored.probability)
        logger.info("clvchurn: scored %d customers", scored.height)
        return pl.DataFrame(
            {
                "customer_id": scored.customer_ids.cast(pl.String),
                "churn_probability": np.asarray(no_order, dtype=np.float64),
                "predicted_value": np.asarray(scored.predicted_value, dtype=np.float64),
            }
        )
