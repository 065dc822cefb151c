"""What the registry stores per model: the fitted estimator plus everything serving needs with it.

The feature list, categorical levels, tier cut-points and reference statistics travel inside the
logged MLflow model, so a registered version is self-contained: serving never recomputes them.
The class is an MLflow pyfunc, so `mlflow models serve` can serve the same artifact.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl
from mlflow.pyfunc import PythonModel
from pydantic import BaseModel, Field


class BundleMetadata(BaseModel):
    """Facts fixed at training time that serving and the model pages read back."""

    kind: Literal["churn", "value"]
    feature_names: list[str]
    feature_descriptions: dict[str, str]
    categorical_levels: dict[str, list[str]]
    horizon_days: int
    trained_at: datetime
    validation_as_of: datetime
    validation_metrics: dict[str, float]
    model_family: str
    tier_cutpoints: dict[str, Any] | None = None
    reference_statistics: dict[str, Any] = Field(default_factory=dict)


class ModelBundle(PythonModel):
    """A fitted churn or value estimator with its metadata, logged as one pyfunc model."""

    def __init__(self, estimator: Any, metadata: BundleMetadata) -> None:
        self.estimator = estimator
        self.metadata = metadata

    def model_frame(self, features: pd.DataFrame | pl.DataFrame) -> pd.DataFrame:
        """The estimator's input: training-time columns, order and categorical levels (pandas or polars in)."""
        from training.dataset import to_model_frame

        return to_model_frame(features, self.metadata.feature_names, self.metadata.categorical_levels)

    def predict_frame(self, features: pd.DataFrame | pl.DataFrame) -> np.ndarray:
        """Churn probability or expected value for each row of a feature table."""
        frame = self.model_frame(features)
        if self.metadata.kind == "churn":
            return np.asarray(self.estimator.predict_proba(frame))[:, 1]
        return np.asarray(self.estimator.predict(frame))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        return self.predict_frame(model_input)
