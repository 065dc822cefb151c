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

A pair may also carry uplift models (`ModelPair.uplift`, one `UpliftBundle` per action id): for each
action with enough past outcomes in its treatment and control groups, the expected change in the
chance of the action's success if the customer gets it. They read the same features with the same
categorical levels as the pair's models, so serving builds one matrix for all. A pair registered
before uplift models existed loads with none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl
from mlflow.pyfunc import PythonModel
from pydantic import BaseModel, Field
from scipy.special import expit

from domain.errors import ModelNotRegisteredError
from domain.vocabulary import ModelName, Population, UpliftLearner
from model_contract.matrix import ModelInput, ModelMatrix, to_model_frame
from model_contract.scoring import Scorer, raw_contributions, raw_score, rescale_to_output

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


@dataclass(frozen=True)
class UpliftScorer:
    """An action's uplift, P(success | action) - P(success | no action), from a meta-learner's boosters.

    T-learner (`first`, `second`: outcome classifiers of the treated and of the control customers):
    uplift = sigmoid(first) - sigmoid(second); contributions are each classifier's TreeSHAP in
    probability points (`rescale_to_output`), treated minus control. X-learner (`first`, `second`:
    effect regressors fitted on the control and on the treated customers' imputed effects; Kunzel,
    Sekhon, Bickel & Yu 2019, "Metalearners for estimating heterogeneous treatment effects", PNAS
    116(10)): uplift = weight x first + (1 - weight) x second, weight the treatment share; the boosters
    have an identity link, so the same combination of their TreeSHAP is exact. Either way a customer's
    contributions sum to their uplift minus the base.
    """

    learner: UpliftLearner
    first: lgb.Booster
    second: lgb.Booster
    weight: float = 1.0

    @property
    def boosters(self) -> tuple[lgb.Booster, ...]:
        return (self.first, self.second)

    def predict(self, X: ModelMatrix) -> np.ndarray:
        first, second = raw_score(self.first, X), raw_score(self.second, X)
        if self.learner == "t_learner":
            return np.asarray(expit(first) - expit(second), dtype=np.float64)
        return self.weight * first + (1.0 - self.weight) * second

    def contributions(self, X: ModelMatrix) -> tuple[float, np.ndarray]:
        """(base uplift, per-feature contributions in probability points)."""
        base_1, raw_1 = raw_contributions(self.first, X)
        base_2, raw_2 = raw_contributions(self.second, X)
        if self.learner == "t_learner":
            p0_1, p0_2 = float(expit(base_1)), float(expit(base_2))
            share_1 = rescale_to_output(raw_1, base_1, expit(base_1 + raw_1.sum(axis=1)), p0_1)
            share_2 = rescale_to_output(raw_2, base_2, expit(base_2 + raw_2.sum(axis=1)), p0_2)
            return p0_1 - p0_2, share_1 - share_2
        weight = self.weight
        return weight * base_1 + (1 - weight) * base_2, weight * raw_1 + (1 - weight) * raw_2


class UpliftMetadata(BaseModel):
    """Facts fixed at training time about one action's uplift model."""

    action_id: str
    learner: UpliftLearner
    metric: str = Field(description="The success the model predicts the change of (the playbook's metric).")
    window_days: int
    feature_names: list[str]
    categorical_levels: dict[str, list[str]]
    treatment_share: float = Field(description="Share of the training rows in the treatment group.")
    n_treatment: int
    n_control: int
    assigned_from: datetime
    assigned_until: datetime = Field(description="The latest assignment whose outcome it learned from.")
    backtest_as_of: datetime | None = Field(
        default=None, description="Validation rows were assigned on or after this day, training rows before."
    )
    backtest_metrics: dict[str, float] = Field(default_factory=dict)
    model_params: dict[str, Any] = Field(default_factory=dict)


class UpliftBundle:
    """One action's fitted uplift scorer with its metadata."""

    def __init__(self, scorer: UpliftScorer, metadata: UpliftMetadata) -> None:
        self.scorer = scorer
        self.metadata = metadata

    def model_input(self) -> ModelInput:
        metadata = self.metadata
        return ModelInput.of(metadata.feature_names, metadata.categorical_levels, self.scorer.boosters)

    def predict_frame(self, features: pd.DataFrame | pl.DataFrame) -> np.ndarray:
        frame = to_model_frame(features, self.metadata.feature_names, self.metadata.categorical_levels)
        return np.asarray(self.scorer.predict(frame))


class ModelPair(PythonModel):
    """Every model of one training run, logged as one pyfunc model (see the module docstring)."""

    def __init__(
        self,
        models: dict[ModelName, ModelBundle],
        metadata: PairMetadata,
        uplift: dict[str, UpliftBundle] | None = None,
    ) -> None:
        self.models = models
        self.metadata = metadata
        self.uplift: dict[str, UpliftBundle] = dict(uplift or {})

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A pair pickled before uplift models existed has no `uplift`: it loads with none."""
        self.__dict__.update({"uplift": {}, **state})

    def __getitem__(self, name: ModelName) -> ModelBundle:
        try:
            return self.models[name]
        except KeyError:
            raise ModelNotRegisteredError(
                f"the registered pair has no {name!r} model (it holds {sorted(self.models)}); retrain it "
                "with `clvchurn train`"
            ) from None

    def predict_frame(self, features: pd.DataFrame | pl.DataFrame) -> pd.DataFrame:
        """Every model's prediction for every row of a feature table, one column per model (and one
        `uplift_<action id>` column per uplift model)."""
        columns: dict[str, np.ndarray] = {
            name: bundle.predict_frame(features) for name, bundle in self.models.items()
        }
        columns |= {
            f"uplift_{action}": bundle.predict_frame(features) for action, bundle in self.uplift.items()
        }
        return pd.DataFrame(columns)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        return self.predict_frame(model_input)
