"""The prediction engine: features -> model pair -> reason codes -> policy, for one customer or a base.

One `Predictor` holds the champion model pair loaded from the registry and the texts (catalogues and
playbook); it is built whole at start-up (or reload) and never mutated. `score` is the one
orchestration, in order: the model matrices of a feature table, the pair's predictions and TreeSHAP
contributions (`model_contract`), tiers, reason codes (`serving.reasons`), then risk bands, stages and
the playbook's decision (`policy`). Its `ScoredTable` holds codes only; `serving.serialise` renders
them. POST /v1/predict runs `predict` (request adapter, `features.build.build_features`, `score`,
render) and `clvchurn score` runs `score` on chunks of the whole base (`serving.batch`), so a customer
gets the same prediction from both.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from domain.errors import ModelNotReadyError, ModelNotRegisteredError
from domain.vocabulary import Language
from features.build import build_features
from model_contract import (
    CHAMPION,
    CHURN_MODEL_NAME,
    VALUE_MODEL_NAME,
    LoadedModel,
    ModelMatrix,
    ModelPair,
    TierCutpoints,
    assign_tier,
    champion_versions,
    load_champion_pair,
)
from serving.reasons import code_reasons, top_risk_drivers
from serving.request_adapter import raw_from_requests
from serving.schemas import ModelInfo, ModelsInfo, ModelVersions, Prediction, PredictRequest
from serving.serialise import ScoredTable, prediction_from_record
from serving.settings import Settings
from serving.text import Texts

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelOutputs:
    """What the model pair says about a feature table: predictions and TreeSHAP, before any policy."""

    features: pl.DataFrame
    churn_probability: np.ndarray
    predicted_value: np.ndarray
    churn_contributions: np.ndarray
    value_contributions: np.ndarray


class Predictor:
    """Scores customers with one fixed champion model pair (see the module docstring)."""

    def __init__(self, pair: ModelPair, texts: Texts, tracking_uri: str) -> None:
        self.pair = pair
        self.texts = texts
        self.playbook = texts.playbook
        self.tracking_uri = tracking_uri
        self.cutpoints = TierCutpoints.from_dict(pair.value.bundle.metadata.tier_cutpoints or {})
        self._churn_input = pair.churn.bundle.model_input()
        self._value_input = pair.value.bundle.model_input()
        self.loaded_at = datetime.now().replace(microsecond=0)
        self._versions = ModelVersions(churn=pair.churn.version, value=pair.value.version)

    @property
    def churn(self) -> LoadedModel:
        return self.pair.churn

    @property
    def value(self) -> LoadedModel:
        return self.pair.value

    @property
    def model_versions(self) -> ModelVersions:
        return self._versions

    def predict(self, requests: Sequence[PredictRequest], lang: str) -> list[Prediction]:
        """One prediction per request, in order; requests sharing an `as_of` are scored together."""
        by_cutoff: dict[datetime, list[int]] = defaultdict(list)
        for position, request in enumerate(requests):
            by_cutoff[request.as_of].append(position)
        results: list[Prediction | None] = [None] * len(requests)
        language: Language = self.texts.catalogues[lang].language
        for as_of, positions in by_cutoff.items():
            group = [requests[i] for i in positions]
            scored = self.score(build_features(raw_from_requests(group), as_of))
            # Inside a group customers are keyed by position, so duplicate ids in a batch stay apart.
            for row, key in enumerate(scored.customer_ids.cast(pl.Int64).to_list()):
                record = {**scored.record(row), "customer_id": group[key].customer.customer_id}
                results[positions[key]] = prediction_from_record(record, language, self.texts)
        return [prediction for prediction in results if prediction is not None]

    def score(self, features: pl.DataFrame) -> ScoredTable:
        """Every row of a feature table built by `build_features` (one cutoff), as codes."""
        return self.decide(self.model_outputs(features))

    def model_outputs(self, features: pl.DataFrame) -> ModelOutputs:
        """The pair's predictions and contributions; LightGBM releases the GIL while this runs."""
        features = self._with_absent_attributes(features)
        if features.height == 0:  # LightGBM cannot predict on no rows
            return ModelOutputs(
                features=features,
                churn_probability=np.empty(0),
                predicted_value=np.empty(0),
                churn_contributions=np.empty((0, len(self._churn_input.feature_names))),
                value_contributions=np.empty((0, len(self._value_input.feature_names))),
            )
        churn_matrix: ModelMatrix = self._churn_input.matrix(features)
        value_matrix = (
            churn_matrix if self._value_input == self._churn_input else self._value_input.matrix(features)
        )
        churn_scorer, value_scorer = self.churn.bundle.scorer, self.value.bundle.scorer
        return ModelOutputs(
            features=features,
            churn_probability=np.asarray(churn_scorer.predict(churn_matrix), dtype=np.float64),
            predicted_value=np.maximum(np.asarray(value_scorer.predict(value_matrix), dtype=np.float64), 0.0),
            churn_contributions=churn_scorer.contributions(churn_matrix)[1],
            value_contributions=value_scorer.contributions(value_matrix)[1],
        )

    def decide(self, outputs: ModelOutputs) -> ScoredTable:
        """Tiers, reason codes, risk bands, stages and the playbook's decision for model outputs."""
        features = outputs.features
        tiers = assign_tier(self.cutpoints, outputs.predicted_value).astype(object)
        churn_names = self.churn.bundle.metadata.feature_names
        value_names = self.value.bundle.metadata.feature_names
        churn_reasons = code_reasons(
            outputs.churn_contributions,
            churn_names,
            features,
            tiers,
            self.churn.bundle.metadata.reference_statistics,
        )
        value_reasons = code_reasons(
            outputs.value_contributions,
            value_names,
            features,
            tiers,
            self.value.bundle.metadata.reference_statistics,
        )
        risks = self.playbook.churn_risks(outputs.churn_probability)
        stages = self.playbook.lifecycle_stages(features, risks)
        drivers = top_risk_drivers(outputs.churn_contributions, churn_names)
        decisions = self.playbook.decide(tiers, risks, stages, drivers)
        as_of = features.get_column("as_of")
        return ScoredTable(
            customer_ids=features.get_column("customer_id"),
            as_of=as_of,
            tiers=tiers,
            stages=stages,
            churn_probability=outputs.churn_probability,
            churn_risks=risks,
            predicted_value=outputs.predicted_value,
            horizon_days=self.value.bundle.metadata.horizon_days,
            churn_reasons=churn_reasons,
            value_reasons=value_reasons,
            rule_ids=decisions.rule_ids,
            action_ids=decisions.action_ids,
            action_owners=[self._owner(action_id) for action_id in decisions.action_ids],
            due_dates=self._due_dates(as_of, decisions.action_ids),
            versions=self._versions,
        )

    def _owner(self, action_id: str) -> str:
        action = self.playbook.action(action_id)
        return action.owner if action is not None else ""

    def _due_dates(self, as_of: pl.Series, action_ids: Sequence[str]) -> list:
        """The day each action is due: the cutoff's date plus the action's `due_within_days`."""
        due_days = {rule.action.id: rule.action.due_within_days for rule in self.playbook.rules}
        days = np.asarray([due_days[action_id] for action_id in action_ids], dtype="timedelta64[D]")
        dates = as_of.dt.date().to_numpy().astype("datetime64[D]") + days
        return dates.astype(object).tolist()

    def _with_absent_attributes(self, features: pl.DataFrame) -> pl.DataFrame:
        """Profile features the models read but the customers carry no attribute for, as missing values.

        A request without `attributes` (or a customers file without that column) is a customer whose
        attribute is unknown, exactly like a null in the customers file.
        """
        present = set(features.columns)
        absent = [
            name
            for name in dict.fromkeys(self._churn_input.categorical + self._value_input.categorical)
            if name not in present
        ]
        if not absent:
            return features
        # An eager hstack: a lazy with_columns would plan a query for a few null columns.
        return features.hstack(
            [pl.Series(name, [None] * features.height, dtype=pl.String) for name in absent]
        )

    def model_info(self) -> ModelsInfo:
        return ModelsInfo(
            churn=_model_info(CHURN_MODEL_NAME, self.churn),
            value=_model_info(VALUE_MODEL_NAME, self.value),
            tier_cut_points={
                "A": self.cutpoints.a_threshold,
                "B": self.cutpoints.b_threshold,
                "C": self.cutpoints.c_threshold,
            },
            tier_method=self.cutpoints.method,
            horizon_days=self.value.bundle.metadata.horizon_days,
            loaded_at=self.loaded_at,
        )

    def is_stale(self) -> bool:
        churn, value = champion_versions(self.tracking_uri)
        return (churn is not None and churn != self.churn.version) or (
            value is not None and value != self.value.version
        )


def load_engine(settings: Settings, texts: Texts | None = None) -> Predictor:
    """The registry's champion pair with the configured playbook; raises if none is registered."""
    uri = settings.mlflow_tracking_uri
    try:
        pair = load_champion_pair(uri)
    except ModelNotRegisteredError as error:
        raise ModelNotReadyError(str(error)) from error
    logger.info("Loaded the %s pair from %s", CHAMPION, uri)
    return Predictor(pair, texts or Texts.load(settings.playbook_path), uri)


def _model_info(name: str, loaded: LoadedModel) -> ModelInfo:
    metadata = loaded.bundle.metadata
    return ModelInfo(
        name=name,
        version=loaded.version,
        trained_at=metadata.trained_at,
        validation_metrics={k: v for k, v in metadata.validation_metrics.items() if np.isfinite(v)},
        run_id=loaded.run_id,
    )
