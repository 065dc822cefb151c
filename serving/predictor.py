"""The prediction engine: raw history -> features -> models -> reasons -> playbook action.

One `Predictor` holds the champion bundles loaded from the registry, the playbook and the reason
writer; it is built whole at start-up (or reload) and never mutated. The online endpoint and the batch
scorer both end in `score_features`, after the one feature function `features.build.build_features`,
so a customer gets the same prediction from `clvchurn score` as from POST /v1/predict.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from features.build import build_features
from features.contract import DataContractError, RawData, raw_from_records
from serving.engine import ModelNotReadyError, PredictionInputError
from serving.explain import Catalogues, ReasonCoder, top_risk_driver
from serving.explain import Reason as ExplainedReason
from serving.playbook import Playbook
from serving.schemas import (
    Explanations,
    ModelInfo,
    ModelsInfo,
    ModelVersions,
    PredictedValue,
    Prediction,
    PredictRequest,
    Reason,
    RecommendedAction,
)
from serving.settings import Settings
from training.bundle import ModelBundle
from training.registry import (
    CHAMPION,
    CHURN_MODEL_NAME,
    VALUE_MODEL_NAME,
    ModelNotRegisteredError,
    aliased_version,
    load_bundle,
)
from training.tiers import TierCutpoints, assign_tier

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    bundle: ModelBundle
    version: str
    run_id: str | None


class Predictor:
    """Scores customers with one fixed pair of champion models (see the module docstring)."""

    def __init__(
        self,
        churn: LoadedModel,
        value: LoadedModel,
        playbook: Playbook,
        catalogues: Catalogues,
        tracking_uri: str,
    ) -> None:
        self.churn = churn
        self.value = value
        self.playbook = playbook
        self.catalogues = catalogues
        self.reasons = ReasonCoder(catalogues)
        self.tracking_uri = tracking_uri
        self.cutpoints = TierCutpoints.from_dict(value.bundle.metadata.tier_cutpoints or {})
        self.loaded_at = datetime.now().replace(microsecond=0)
        self._versions = ModelVersions(churn=churn.version, value=value.version)

    @property
    def model_versions(self) -> ModelVersions:
        return self._versions

    def predict(self, requests: Sequence[PredictRequest], lang: str) -> list[Prediction]:
        """One prediction per request, in order; requests sharing an `as_of` are scored together."""
        by_cutoff: dict[datetime, list[int]] = defaultdict(list)
        for position, request in enumerate(requests):
            by_cutoff[request.as_of].append(position)
        results: list[Prediction | None] = [None] * len(requests)
        for as_of, positions in by_cutoff.items():
            group = [requests[i] for i in positions]
            features = build_features(_raw_from_requests(group), as_of)
            # Inside a group customers are keyed by position, so duplicate ids in a batch stay apart.
            order = features["customer_id"].cast(pl.Int64).to_list()
            scored = self.score_features(features, lang)
            for key, prediction in zip(order, scored, strict=True):
                original = group[key]
                results[positions[key]] = prediction.model_copy(
                    update={"customer_id": original.customer.customer_id}
                )
        return [prediction for prediction in results if prediction is not None]

    def score_features(self, features: pl.DataFrame, lang: str) -> list[Prediction]:
        """Predictions for every row of a feature table built by `build_features` (one cutoff)."""
        if features.height == 0:
            return []
        churn_frame = self.churn.bundle.model_frame(features)
        value_frame = self.value.bundle.model_frame(features)
        churn_probability = self.churn.bundle.estimator.predict_proba(churn_frame)[:, 1]
        predicted_value = np.maximum(self.value.bundle.estimator.predict(value_frame), 0.0)
        _, churn_contributions = self.churn.bundle.estimator.contributions(churn_frame)
        _, value_contributions = self.value.bundle.estimator.contributions(value_frame)
        tiers = assign_tier(self.cutpoints, predicted_value)
        catalogue = self.catalogues[lang]
        churn_names = self.churn.bundle.metadata.feature_names
        value_names = self.value.bundle.metadata.feature_names
        churn_reference = self.churn.bundle.metadata.reference_statistics
        value_reference = self.value.bundle.metadata.reference_statistics
        horizon = self.value.bundle.metadata.horizon_days
        predictions = []
        for row_number, values in enumerate(features.iter_rows(named=True)):
            probability = float(churn_probability[row_number])
            amount = float(predicted_value[row_number])
            tier = str(tiers[row_number])
            churn_by_feature = dict(zip(churn_names, churn_contributions[row_number].tolist(), strict=True))
            value_by_feature = dict(zip(value_names, value_contributions[row_number].tolist(), strict=True))
            risk = self.playbook.churn_risk(probability)
            stage = self.playbook.lifecycle_stage(values, probability)
            action = self.playbook.recommend(tier, risk, stage, top_risk_driver(churn_by_feature))
            localised = action.localised(catalogue)
            as_of: datetime = values["as_of"]
            predictions.append(
                Prediction(
                    customer_id=values["customer_id"],
                    as_of=as_of,
                    tier=tier,  # type: ignore[arg-type]
                    lifecycle_stage=stage,  # type: ignore[arg-type]
                    churn_probability=probability,
                    churn_risk=risk,  # type: ignore[arg-type]
                    predicted_value=PredictedValue(amount=amount, horizon_days=horizon),
                    value_at_risk=probability * amount,
                    explanations=Explanations(
                        churn=_reasons(
                            self.reasons.reason_codes(
                                churn_by_feature,
                                values,
                                tier,
                                churn_reference,
                                "churn",
                                lang,  # type: ignore[arg-type]
                            )
                        ),
                        value=_reasons(
                            self.reasons.reason_codes(
                                value_by_feature,
                                values,
                                tier,
                                value_reference,
                                "value",
                                lang,  # type: ignore[arg-type]
                            )
                        ),
                    ),
                    recommended_action=RecommendedAction(
                        id=localised.id,
                        title=localised.title,
                        steps=localised.steps,
                        owner=localised.owner,
                        owner_label=localised.owner_label,
                        due_within_days=localised.due_within_days,
                        due_date=(as_of + timedelta(days=localised.due_within_days)).date(),
                        success_metric=localised.success_metric,
                    ),
                    model_versions=self._versions,
                )
            )
        return predictions

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
        churn = aliased_version(CHURN_MODEL_NAME, CHAMPION, self.tracking_uri)
        value = aliased_version(VALUE_MODEL_NAME, CHAMPION, self.tracking_uri)
        return (churn is not None and churn.version != self.churn.version) or (
            value is not None and value.version != self.value.version
        )


def load_engine(settings: Settings) -> Predictor:
    """The registry's champion models with the configured playbook; raises if none is registered."""
    catalogues = Catalogues.load()
    playbook = Playbook.load(settings.playbook_path, catalogues)
    uri = settings.mlflow_tracking_uri
    return Predictor(
        churn=_load_champion(CHURN_MODEL_NAME, uri),
        value=_load_champion(VALUE_MODEL_NAME, uri),
        playbook=playbook,
        catalogues=catalogues,
        tracking_uri=uri,
    )


def _load_champion(name: str, tracking_uri: str) -> LoadedModel:
    found = aliased_version(name, CHAMPION, tracking_uri)
    if found is None:
        raise ModelNotReadyError(
            f"no '{CHAMPION}' version of model '{name}' in {tracking_uri}. Train one first: "
            "`clvchurn train --data DIR` (or `make demo`), or point MLFLOW_TRACKING_URI at the registry."
        )
    try:
        bundle = load_bundle(name, CHAMPION, tracking_uri)
    except ModelNotRegisteredError as error:
        raise ModelNotReadyError(str(error)) from error
    return LoadedModel(bundle=bundle, version=found.version, run_id=found.run_id)


def _raw_from_requests(requests: Sequence[PredictRequest]) -> RawData:
    """Canonical frames for a group of requests, each customer keyed by its position in the group."""
    customers: list[dict[str, Any]] = []
    transactions: list[dict[str, Any]] = []
    interactions: list[dict[str, Any]] = []
    for position, request in enumerate(requests):
        key = str(position)
        customers.append(
            {"customer_id": key, "signup_date": request.customer.signup_date, **request.customer.attributes}
        )
        transactions += [{"customer_id": key, **event.model_dump()} for event in request.transactions]
        interactions += [{"customer_id": key, **event.model_dump()} for event in request.interactions]
    try:
        return raw_from_records(customers, transactions, interactions)
    except DataContractError as error:
        raise PredictionInputError(str(error)) from error


def _reasons(explained: list[ExplainedReason]) -> list[Reason]:
    return [
        Reason(
            feature=reason.feature,
            label=reason.label,
            value=reason.value,
            contribution=reason.contribution,
            direction=reason.direction,
            impact=reason.impact,
            sentence=reason.sentence,
        )
        for reason in explained
    ]


def _model_info(name: str, loaded: LoadedModel) -> ModelInfo:
    metadata = loaded.bundle.metadata
    return ModelInfo(
        name=name,
        version=loaded.version,
        trained_at=metadata.trained_at,
        validation_metrics={k: v for k, v in metadata.validation_metrics.items() if np.isfinite(v)},
        run_id=loaded.run_id,
    )
