"""The prediction engine: features -> model pair -> reason codes -> policy, for one customer or a base.

One `Predictor` holds the champion model pair loaded from the registry and the texts (catalogues and
playbook); it is built whole at start-up (or reload) and never mutated. `score` is the one
orchestration, in order: each customer's population (`features.populations`, with the lookback the pair
was trained with), the pair's predictions and TreeSHAP contributions (`model_contract`) - each
population's probability from its own model, the value and the value if retained for everyone it
applies to - then tiers, reason codes (`serving.reasons`), and the risk band, stage and playbook
decision (`policy`), with the playbook's tags (`policy.tags`, their quantiles resolved once per pair) before
the decision so that rules may read them, and the customer's named account manager (the customers-file
attribute `Settings.account_manager_attribute`). Its `ScoredTable` holds codes only; `serving.serialise`
renders them. POST
/v1/predict runs `predict` (request adapter, `features.build.build_features`, `score`, render) and
`clvchurn score` runs `score` on chunks of the whole base (`serving.batch`), so a customer gets the same
prediction from both.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import polars as pl

from domain.errors import ModelNotReadyError, ModelNotRegisteredError, PlaybookError
from domain.vocabulary import HOLD_OUT_ACTION, POPULATIONS, Language, ModelName
from features.build import build_features
from features.definitions import profile_column
from features.populations import population_expr
from model_contract import (
    PAIR_MODEL_NAME,
    PROBABILITY_MODELS,
    ConformalRangeScorer,
    LoadedPair,
    ModelBundle,
    TierCutpoints,
    assign_tier,
    champion_version,
    load_champion_pair,
)
from policy.experiments import ControlAssigner
from policy.playbook import Decisions, Playbook
from policy.tags import TagRules, resolve_tags
from serving.model_info import describe_pair
from serving.reasons import ReasonCodes, code_reasons, top_risk_drivers
from serving.request_adapter import raw_from_requests
from serving.schemas import ModelsInfo, ModelVersions, Prediction, PredictRequest
from serving.serialise import ScoredTable, prediction_from_record
from serving.settings import Settings
from serving.text import Texts

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelOutputs:
    """What the model pair says about a feature table: predictions and TreeSHAP, before any policy."""

    features: pl.DataFrame
    populations: np.ndarray
    probability: np.ndarray  # each row's population probability
    probability_contributions: np.ndarray  # from that population's model
    predicted_value: np.ndarray
    value_contributions: np.ndarray
    value_if_retained: np.ndarray  # NaN for prospects
    uplift: Mapping[str, np.ndarray] = field(default_factory=dict)  # action id -> each row's uplift

    predicted_orders: np.ndarray | None = None  # None when the pair has no order model
    days_to_next_order: np.ndarray | None = None  # NaN outside the active population
    value_range_quantiles: tuple[np.ndarray, np.ndarray] | None = None  # log1p quantiles, before offsets


class Predictor:
    """Scores customers with one fixed champion model pair (see the module docstring)."""

    def __init__(
        self,
        loaded: LoadedPair,
        texts: Texts,
        tracking_uri: str,
        assigner: ControlAssigner | None = None,
        account_manager_attribute: str = Settings.model_fields["account_manager_attribute"].default,
    ) -> None:
        self.loaded = loaded
        self.assigner = assigner or ControlAssigner.from_settings()
        self.pair = loaded.pair
        self.texts = texts
        self.playbook = texts.playbook
        self.tracking_uri = tracking_uri
        metadata = self.pair.metadata
        playbook_lookback = self.playbook.lifecycle.lookback_days
        if playbook_lookback != metadata.lookback_days:
            raise ModelNotReadyError(
                f"the playbook's lifecycle dormant_after_days ({playbook_lookback}) differs from the lookback the "
                f"model pair v{loaded.version} was trained with ({metadata.lookback_days}): populations and stages "
                "would disagree; retrain (`clvchurn train`) or restore the playbook's value"
            )
        self.cutpoints = TierCutpoints.from_dict(metadata.tier_cutpoints)
        self._inputs = {name: bundle.model_input() for name, bundle in self.pair.models.items()}
        names = {tuple(model_input.feature_names) for model_input in self._inputs.values()}
        if len(names) != 1:
            raise ModelNotReadyError(
                f"the models of pair v{loaded.version} read different features; retrain (`clvchurn train`)"
            )
        self._uplift_inputs = {action: bundle.model_input() for action, bundle in self.pair.uplift.items()}
        self._population = population_expr(metadata.lookback_days)
        self.account_manager_column = profile_column(account_manager_attribute)
        try:
            self.tag_rules = TagRules(
                resolve_tags(
                    self.playbook.tags,
                    metadata.reference_distribution,
                    next(iter(names)),
                    source=f"model pair v{loaded.version}",
                )
            )
        except PlaybookError as error:
            raise ModelNotReadyError(str(error)) from error
        self.loaded_at = datetime.now().replace(microsecond=0)
        self._versions = ModelVersions(
            pair=loaded.version, run_id=loaded.run_id, churn=loaded.version, value=loaded.version
        )

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
            outputs = self.model_outputs(build_features(raw_from_requests(group), as_of))
            positions_in_group = outputs.features["customer_id"].cast(pl.Int64).to_list()
            scored = self.decide(outputs, [group[key].customer.customer_id for key in positions_in_group])
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
        populations = features.select(self._population).to_series().to_numpy().astype(object)
        rows, width = features.height, len(self._inputs["value"].feature_names)
        probability = np.full(rows, np.nan)
        contributions = np.zeros((rows, width))
        value_if_retained = np.full(rows, np.nan)
        predicted_value, value_contributions = np.zeros(rows), np.zeros((rows, width))
        if rows:
            matrix = self._inputs["value"].matrix(features)
            predicted_value, value_contributions = self._predict("value", matrix, contributions=True)
            predicted_value = np.maximum(predicted_value, 0.0)
            for population in POPULATIONS:
                members = np.flatnonzero(populations == population)
                if members.size == 0:
                    continue
                subset = matrix[members] if isinstance(matrix, np.ndarray) else matrix.iloc[members]
                probability[members], contributions[members] = self._predict(
                    PROBABILITY_MODELS[population], subset, contributions=True
                )
                if population != "prospect":
                    value_if_retained[members] = np.maximum(
                        self._predict("value_if_retained", subset)[0], 0.0
                    )
        return ModelOutputs(
            features,
            populations,
            probability,
            contributions,
            predicted_value,
            value_contributions,
            value_if_retained,
            self._uplift(features) if rows else {},
            **self._order_and_range_outputs(features, populations, matrix if rows else None),
        )

    def _uplift(self, features: pl.DataFrame) -> dict[str, np.ndarray]:
        """Each uplift model's prediction for every row (none for a pair without uplift models)."""
        return {
            action: np.asarray(self.pair.uplift[action].scorer.predict(model_input.matrix(features)))
            for action, model_input in self._uplift_inputs.items()
        }

    def _order_and_range_outputs(
        self, features: pl.DataFrame, populations: np.ndarray, value_matrix: Any
    ) -> dict[str, Any]:
        """Orders for everyone, days to the next order for active customers and the value range's two
        quantiles: predictions only, no TreeSHAP (none of them has reasons). Absent models are skipped."""
        models, rows = self.pair.models, features.height
        everyone, active = np.arange(rows), np.flatnonzero(populations == "active")
        outputs: dict[str, Any] = {}
        if "orders" in models:
            outputs["predicted_orders"] = np.zeros(0)
            if rows:
                matrix = self._matrix("orders", features, everyone, value_matrix)
                outputs["predicted_orders"] = np.maximum(self._predict("orders", matrix)[0], 0.0)
        if "next_order" in models:
            outputs["days_to_next_order"] = np.full(rows, np.nan)
            if active.size:
                matrix = self._matrix("next_order", features, active, value_matrix)
                outputs["days_to_next_order"][active] = self._predict("next_order", matrix)[0]
        scorer = models["value_range"].scorer if "value_range" in models else None
        if isinstance(scorer, ConformalRangeScorer):
            outputs["value_range_quantiles"] = (np.zeros(0), np.zeros(0))
            if rows:
                matrix = self._matrix("value_range", features, everyone, value_matrix)
                outputs["value_range_quantiles"] = scorer.quantiles(matrix)  # type: ignore[arg-type]
        return outputs

    def _matrix(
        self, name: ModelName, features: pl.DataFrame, members: np.ndarray, value_matrix: Any
    ) -> object:
        """Model `name`'s input for the rows `members`: the value model's matrix when both are coded
        alike (one copy of the features for every model), else its own."""
        if value_matrix is not None and self._inputs[name] == self._inputs["value"]:
            if members.size == features.height:
                return value_matrix
            return (
                value_matrix[members] if isinstance(value_matrix, np.ndarray) else value_matrix.iloc[members]
            )
        return self._inputs[name].matrix(features if members.size == features.height else features[members])

    def _predict(
        self, name: str, matrix: object, contributions: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        scorer = self.pair[name].scorer  # type: ignore[index]
        predicted = np.asarray(scorer.predict(matrix), dtype=np.float64)  # type: ignore[arg-type]
        return predicted, (scorer.contributions(matrix)[1] if contributions else np.empty((0, 0)))  # type: ignore[arg-type]

    def decide(self, outputs: ModelOutputs, customer_ids: Sequence[str] | None = None) -> ScoredTable:
        """Tiers, reason codes, risk bands, stages and the playbook's decision for model outputs.

        `customer_ids` (default: the features') are the ids the control groups are drawn for.
        """
        features, populations = outputs.features, outputs.populations
        tiers = assign_tier(
            self.cutpoints, outputs.predicted_value, features["orders_365d"].to_numpy()
        ).astype(object)
        names = list(self._inputs["value"].feature_names)
        active = populations == "active"
        churn = np.where(active, outputs.probability, np.nan)
        risks = self.playbook.churn_risks(churn)
        stages = self.playbook.lifecycle_stages(features, risks)
        tags = self.tag_rules.assign(features, populations, stages)
        # The reason a customer drifts away: what raises churn, or what lowers a comeback or a first order.
        away = np.where(
            active[:, None], outputs.probability_contributions, -outputs.probability_contributions
        )
        top_reasons = top_risk_drivers(away, names)
        decisions = self.playbook.decide(
            tiers, populations, risks, stages, top_reasons, outputs.probability, tags.sets()
        )
        as_of = features.get_column("as_of")
        options = None
        if outputs.uplift:
            allowed = self.playbook.allowed(
                tiers, populations, risks, stages, top_reasons, outputs.probability
            )
            options = action_options(allowed, outputs, self.playbook)
            if self.playbook.choose_by == "value_saved":
                decisions = choose_by_value_saved(decisions, allowed, options)
        ids = list(customer_ids) if customer_ids is not None else features["customer_id"].to_list()
        assignments = self.assigner.assign(
            ids,
            decisions.rule_ids,
            self.assigner.periods(as_of.to_numpy()),
            np.where(
                np.asarray(decisions.action_ids, dtype=object) == HOLD_OUT_ACTION,
                0.0,
                self.playbook.control_shares(decisions.rule_ids),
            ),
        )
        decisions = Decisions(
            decisions.rule_ids,
            [
                HOLD_OUT_ACTION if group == "control" else action
                for group, action in zip(assignments, decisions.action_ids, strict=True)
            ],
        )
        return ScoredTable(
            customer_ids=features.get_column("customer_id"),
            as_of=as_of,
            populations=populations,
            tiers=tiers,
            stages=stages,
            probability=outputs.probability,
            churn_risks=risks,
            predicted_value=outputs.predicted_value,
            value_if_retained=outputs.value_if_retained,
            horizon_days=self.pair.metadata.value_horizon_days,
            probability_reasons=self._probability_reasons(outputs, tiers, names),
            value_reasons=code_reasons(
                outputs.value_contributions,
                names,
                features,
                tiers,
                self.pair["value"].metadata.reference_statistics,
            ),
            rule_ids=decisions.rule_ids,
            action_ids=decisions.action_ids,
            action_owners=[self._owner(action_id) for action_id in decisions.action_ids],
            due_dates=self._due_dates(as_of, decisions.action_ids),
            versions=self._versions,
            assignments=assignments.tolist(),
            action_options=options,
            tags=tags,
            account_managers=self._account_managers(features),
            **self._order_and_range_fields(outputs, tiers, as_of),
        )

    def _order_and_range_fields(
        self, outputs: ModelOutputs, tiers: np.ndarray, as_of: pl.Series
    ) -> dict[str, Any]:
        """The `ScoredTable` fields of the value range (its offsets need the tiers), the orders and the
        next order's date."""
        fields: dict[str, Any] = {"predicted_orders": outputs.predicted_orders}
        if outputs.value_range_quantiles is not None:
            scorer = self.pair["value_range"].scorer
            assert isinstance(scorer, ConformalRangeScorer)
            fields["value_low"], fields["value_high"] = scorer.bounds_from_quantiles(
                *outputs.value_range_quantiles, outputs.predicted_value, tiers
            )
        if outputs.days_to_next_order is not None:
            fields["next_order_dates"] = next_order_dates(as_of, outputs.days_to_next_order)
        return fields

    def _probability_reasons(self, outputs: ModelOutputs, tiers: np.ndarray, names: list[str]) -> ReasonCodes:
        """Each row's reasons from its population's model, compared with that model's references."""
        parts = []
        for population in POPULATIONS:
            members = np.flatnonzero(outputs.populations == population)
            if members.size:
                bundle: ModelBundle = self.pair[PROBABILITY_MODELS[population]]
                codes = code_reasons(
                    outputs.probability_contributions[members],
                    names,
                    outputs.features[members],
                    tiers[members],
                    bundle.metadata.reference_statistics,
                )
                parts.append((members, codes))
        return ReasonCodes.combined(parts, outputs.features.height)

    def _owner(self, action_id: str) -> str:
        action = self.playbook.action(action_id)
        return action.owner if action is not None else ""

    def _due_dates(self, as_of: pl.Series, action_ids: Sequence[str]) -> list:
        """The day each action is due: the cutoff's date plus the action's `due_within_days`."""
        due_days = {rule.action.id: rule.action.due_within_days for rule in self.playbook.rules}
        due_days[HOLD_OUT_ACTION] = self.playbook.hold_out.due_within_days
        days = np.asarray([due_days[action_id] for action_id in action_ids], dtype="timedelta64[D]")
        dates = as_of.dt.date().to_numpy().astype("datetime64[D]") + days
        return dates.astype(object).tolist()

    def _account_managers(self, features: pl.DataFrame) -> pl.Series:
        """The named account manager of each row (the profile attribute), null where none is named."""
        if self.account_manager_column not in features.columns:
            return pl.repeat(None, features.height, dtype=pl.String, eager=True)
        names = features.get_column(self.account_manager_column).cast(pl.String).str.strip_chars()
        return pl.select(pl.when(names != "").then(names)).to_series()

    def _with_absent_attributes(self, features: pl.DataFrame) -> pl.DataFrame:
        """Profile features the models read but the customers carry no attribute for, as missing values.

        A request without `attributes` (or a customers file without that column) is a customer whose
        attribute is unknown, exactly like a null in the customers file.
        """
        present = set(features.columns)
        absent = [name for name in self._inputs["value"].categorical if name not in present]
        if not absent:
            return features
        # An eager hstack: a lazy with_columns would plan a query for a few null columns.
        return features.hstack(
            [pl.Series(name, [None] * features.height, dtype=pl.String) for name in absent]
        )

    def model_info(self) -> ModelsInfo:
        return describe_pair(self.loaded, self.loaded_at)

    def is_stale(self) -> bool:
        version = champion_version(self.tracking_uri)
        return version is not None and version != self.loaded.version


def action_options(
    allowed: Sequence[Sequence[tuple[str, str]]], outputs: ModelOutputs, playbook: Playbook
) -> list[list[dict[str, object]]]:
    """For each row, every allowed (rule id, action id) that has an uplift model: the expected uplift
    and the expected value saved, uplift x value if retained - the action's cost (for a prospect, who
    has no value if retained, its predicted value). Radcliffe & Surry (2011), "Real-world uplift
    modelling with significance-based uplift trees": target by the change an action makes, not by risk."""
    worth = np.where(np.isnan(outputs.value_if_retained), outputs.predicted_value, outputs.value_if_retained)
    costs = {action_id: action.cost for action_id, action in playbook.actions().items()}
    rows: list[list[dict[str, object]]] = []
    for index, pairs in enumerate(allowed):
        options = []
        for rule_id, action_id in pairs:
            uplift = outputs.uplift.get(action_id)
            if uplift is None:
                continue
            expected = float(uplift[index])
            options.append(
                {
                    "action_id": action_id,
                    "rule_id": rule_id,
                    "expected_uplift": expected,
                    "expected_value_saved": expected * float(worth[index]) - costs.get(action_id, 0.0),
                }
            )
        rows.append(options)
    return rows


def choose_by_value_saved(
    decisions: Decisions,
    allowed: Sequence[Sequence[tuple[str, str]]],
    options: Sequence[Sequence[Mapping[str, object]]],
) -> Decisions:
    """`choose_by: value_saved`: among the actions a customer's rules allow, the one with the largest
    positive expected value saved, with its rule; `hold_out` (under the first rule) when uplift models
    cover every allowed action and none is positive; the rule's action when none has an uplift model."""
    rule_ids, action_ids = list(decisions.rule_ids), list(decisions.action_ids)
    for index, row in enumerate(options):
        if not row:
            continue
        best = max(row, key=lambda option: float(option["expected_value_saved"]))  # type: ignore[arg-type]
        if float(best["expected_value_saved"]) > 0:  # type: ignore[arg-type]
            rule_ids[index], action_ids[index] = str(best["rule_id"]), str(best["action_id"])
        elif len(row) == len(allowed[index]):
            action_ids[index] = HOLD_OUT_ACTION
    return Decisions(rule_ids, action_ids)


def next_order_dates(as_of: pl.Series, days: np.ndarray) -> list[date | None]:
    """The calendar day of each cutoff plus its days to the next order (None where the days are NaN)."""
    known = ~np.isnan(days)
    moments = as_of.to_numpy().astype("datetime64[us]")
    offsets = np.where(known, days, 0.0) * 86_400_000_000
    days_of = (moments + offsets.astype("timedelta64[us]")).astype("datetime64[D]").astype(object)
    return [day if keep else None for day, keep in zip(days_of.tolist(), known.tolist(), strict=True)]


def load_engine(settings: Settings, texts: Texts | None = None) -> Predictor:
    """The registry's champion pair with the configured playbook; raises if none is registered."""
    uri = settings.mlflow_tracking_uri
    try:
        loaded = load_champion_pair(uri)
    except ModelNotRegisteredError as error:
        raise ModelNotReadyError(str(error)) from error
    logger.info("Loaded %s v%s from %s", PAIR_MODEL_NAME, loaded.version, uri)
    return Predictor(
        loaded,
        texts or Texts.load(settings.playbook_path),
        uri,
        account_manager_attribute=settings.account_manager_attribute,
    )
