"""clvchurn as a benchmarked predictor, through its public entry points only.

The call trains the product's recipe on the history with `training.train.train` into a throwaway
MLflow store, loads the champion pair the way the service does (`serving.predictor.load_engine`) and
scores `features.build.build_features(history, cutoff)` with `engine.score`, so the benchmark measures
whatever recipe sits behind those three calls, and keeps working while the recipe changes.

This is the one module of `training` that reaches into `serving` (imported inside the call): the
benchmark judges the model as it is served, not the model as training sees it.

Schedule. With one year of history and a 91-day horizon for both models, `plan_cutoffs` puts the
validation cutoff 91 days before the data end and the calibration cutoff 91 days before that; the
training cutoffs step back `step_days` from there and must stay after the first event. For the
benchmark cutoff 2011-09-09 the defaults (4 snapshots, 30 days apart) give training cutoffs
2011-01-10 and 2011-02-09, calibration 2011-03-11 and validation 2011-06-10.
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
            n_jobs=self.recipe.n_jobs,
            seed=self.recipe.seed,
        )
        with tempfile.TemporaryDirectory(prefix="clvchurn-retail-") as store:
            uri = f"sqlite:///{Path(store) / 'mlflow.db'}"
            outcome = train(history, config, tracking_uri=uri, data_source="retail benchmark history")
            engine = load_engine(Settings(mlflow_tracking_uri=uri))
            scored = engine.score(build_features(history, cutoff))
        schedule = outcome.schedule
        self.diagnostics_: dict[str, Any] = {
            "recipe": asdict(self.recipe),
            "training_cutoffs": [moment.date().isoformat() for moment in schedule.training],
            "calibration_cutoff": schedule.calibration.date().isoformat(),
            "validation_cutoff": schedule.validation.date().isoformat(),
            "rows": dict(outcome.rows),
            "validation_churn": outcome.churn_table,
            "validation_value": outcome.value_table,
            "value_model_comparison": outcome.value_model_comparison,
            "notes": list(outcome.notes),
        }
        logger.info("clvchurn: trained on cutoffs %s, scored %d customers", schedule.all, scored.height)
        return pl.DataFrame(
            {
                "customer_id": scored.customer_ids.cast(pl.String),
                "churn_probability": np.asarray(scored.churn_probability, dtype=np.float64),
                "predicted_value": np.asarray(scored.predicted_value, dtype=np.float64),
            }
        )
