"""What the registry stores: the model pair of one training run, each model with what serving needs.

A `ModelBundle` is one fitted scorer with its metadata: the feature list and categorical levels of its
matrix, LightGBM parameters, the rows it was trained on and when (`trained_through`: the newest cutoff
whose labels it learned from, in its fit or its calibration), its backtest cutoff and metrics, and
the reference statistics its reasons compare with. A `ModelPair` holds every bundle of one training run
(churn, reactivation and conversion probabilities, the value and the value if retained) with the tier
cut-points and the reference distribution they share. It is logged, registered, gated and promoted as
one MLflow pyfunc, so the service can never pair one run's churn model with another run's value model
or tiers, and a reload swaps all or nothing. `mlflow models serve` can serve the same artifact: its
`predict` returns every model's prediction for every row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl
from mlflow.pyfunc import PythonModel
from pydantic import BaseModel, Field

from domain.errors import ModelNotRegisteredError
from domain.vocabulary import ModelName, Population
from model_contract.matrix import ModelInput, to_model_frame
from model_contract.scoring import Scorer

PROBABILITY_MODELS: dict[Population, ModelName] = {
    "active": "churn",
    "lapsed": "reactivation",
    "prospect": "conversion",
}
"""Which model gives each population its probability."""


class ModelMetadata(BaseModel):
    """Facts fixed at training time about one model of the pair."""

    name: ModelName
    populations: list[Population] = Field(description="The populations whose rows the model learned from.")
    target: str = Field(description="The label it predicts, e.g. churned or future_value.")
    feature_names: list[str]
    feature_descriptions: dict[str, str]
    categorical_levels: dict[str, list[str]]
    horizon_days: int
    model_family: str
    model_params: dict[str, Any] = Field(
        default_factory=dict, description="The estimator's parameters, LightGBM's included, as fitted."
    )
    fit_cutoffs: list[datetime]
    calibration_cutoff: datetime
    calibration_mode: Literal["out_of_time", "held_out_customers"] = Field(
        default="out_of_time",
        description="A later snapshot (out of time) or customers held out at the fit cutoffs (short histories).",
    )
    trained_through: datetime
    backtest_as_of: datetime | None = None
    backtest_metrics: dict[str, float] = Field(default_factory=dict)
    fallback: str | None = Field(default=None, description="Why a base rate stands in for a fitted model.")
    reference_statistics: dict[str, Any] = Field(default_factory=dict)


class ModelBundle:
    """A fitted scorer with its metadata."""

    def __init__(self, scorer: Scorer, metadata: ModelMetadata) -> None:
        self.scorer = scorer
        self.metadata = metadata

    def model_input(self) -> ModelInput:
        """How serving builds this model's matrix from a polars feature table (checked once per load)."""
        metadata = self.metadata
        return ModelInput.of(metadata.feature_names, metadata.categorical_levels, self.scorer.boosters)

    def model_frame(self, features: pd.DataFrame | pl.DataFrame) -> pd.DataFrame:
        """The scorer's input: training-time columns, order and categorical levels (pandas or polars in)."""
        return to_model_frame(features, self.metadata.feature_names, self.metadata.categorical_levels)

    def predict_frame(self, features: pd.DataFrame | pl.DataFrame) -> np.ndarray:
        """The model's probability or amount for each row of a feature table."""
        return np.asarray(self.scorer.predict(self.model_frame(features)))


class PairMetadata(BaseModel):
    """Facts fixed at training time that every model of the pair shares."""

    trained_at: datetime
    data_end: datetime
    lookback_days: int = Field(description="The silence that separates active from lapsed customers.")
    churn_horizon_days: int
    value_horizon_days: int
    tier_cutpoints: dict[str, Any]
    reference_distribution: dict[str, Any] = Field(
        default_factory=dict, description="Feature and prediction distributions at training time, for drift."
    )
    notes: list[str] = Field(
        default_factory=list, description="What the schedule and the recipe chose, and why."
    )


class ModelPair(PythonModel):
    """Every model of one training run, logged as one pyfunc model (see the module docstring)."""

    def __init__(self, models: dict[ModelName, ModelBundle], metadata: PairMetadata) -> None:
        self.models = models
        self.metadata = metadata

    def __getitem__(self, name: ModelName) -> ModelBundle:
        try:
            return self.models[name]
        except KeyError:
            raise ModelNotRegisteredError(
                f"the registered pair has no {name!r} model (it holds {sorted(self.models)}); retrain it "
                "with `clvchurn train`"
            ) from None

    def predict_frame(self, features: pd.DataFrame | pl.DataFrame) -> pd.DataFrame:
        """Every model's prediction for every row of a feature table, one column per model."""
        return pd.DataFrame({name: bundle.predict_frame(features) for name, bundle in self.models.items()})

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        return self.predict_frame(model_input)
