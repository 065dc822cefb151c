"""What the registry stores per model: a scorer plus everything serving needs with it.

The feature list, categorical levels, LightGBM parameters, tier cut-points and reference statistics
travel inside the logged MLflow model, so a registered version is self-contained: serving never
recomputes them and needs none of the training code. The class is an MLflow pyfunc, so
`mlflow models serve` can serve the same artifact.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from mlflow.pyfunc import PythonModel
from pydantic import BaseModel, Field

from domain.vocabulary import ReasonKind
from model_contract.matrix import ModelInput, to_model_frame
from model_contract.scoring import Scorer


class BundleMetadata(BaseModel):
    """Facts fixed at training time that serving and the model pages read back."""

    kind: ReasonKind
    feature_names: list[str]
    feature_descriptions: dict[str, str]
    categorical_levels: dict[str, list[str]]
    horizon_days: int
    trained_at: datetime
    validation_as_of: datetime
    validation_metrics: dict[str, float]
    model_family: str
    model_params: dict[str, Any] = Field(
        default_factory=dict, description="The estimator's parameters, LightGBM's included, as fitted."
    )
    tier_cutpoints: dict[str, Any] | None = None
    reference_statistics: dict[str, Any] = Field(default_factory=dict)


class ModelBundle(PythonModel):
    """A fitted scorer with its metadata, logged as one pyfunc model."""

    def __init__(self, scorer: Scorer, metadata: BundleMetadata) -> None:
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
        """Churn probability or expected value for each row of a feature table."""
        return np.asarray(self.scorer.predict(self.model_frame(features)))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        return self.predict_frame(model_input)
