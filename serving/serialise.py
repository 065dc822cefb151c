"""One shape for a scored customer: the snapshot record, written by the scorer, read by every reader.

The engine (`serving.predictor`) returns a `ScoredTable`: numbers, tiers, stages, reason codes and the
decision (rule, action, owner, due date), column by column, all codes and no words. The same columns
are the snapshot file (`to_frame`, `SNAPSHOT_SCHEMA`) and one customer's record (`record`), and
`prediction_from_record` turns a record into the API's `Prediction` in the reader's language, whether
it came from POST /v1/predict a moment ago or from the snapshot written by `clvchurn score`. So the
online answer and the snapshot answer for one customer are the same, sentence for sentence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, cast

import numpy as np
import polars as pl
import pyarrow as pa

from domain.vocabulary import Language, ReasonKind
from model_contract import PROBABILITY_MODELS
from policy.tags import TagAssignment
from serving.reasons import REASON_DTYPE, ReasonCodes
from serving.schemas import (
    ActionOption,
    Explanations,
    ModelVersions,
    PredictedValue,
    Prediction,
    Reason,
    RecommendedAction,
)
from serving.text import Texts

SNAPSHOT_SCHEMA: Final[dict[str, pl.DataType]] = {
    "customer_id": pl.String(),
    "as_of": pl.Datetime("us"),
    "population": pl.String(),
    "tier": pl.String(),
    "lifecycle_stage": pl.String(),
    "churn_probability": pl.Float64(),
    "churn_risk": pl.String(),
    "reactivation_probability": pl.Float64(),
    "conversion_probability": pl.Float64(),
    "predicted_value": pl.Float64(),
    "currency": pl.String(),
    "horizon_days": pl.Int64(),
    "predicted_value_low": pl.Float64(),
    "predicted_value_high": pl.Float64(),
    "predicted_orders": pl.Float64(),
    "expected_next_order_date": pl.Date(),
    "value_if_retained": pl.Float64(),
    "value_at_risk": pl.Float64(),
    "probability_reasons": REASON_DTYPE,
    "value_reasons": REASON_DTYPE,
    "rule_id": pl.String(),
    "action_id": pl.String(),
    "action_owner": pl.String(),
    "action_due_date": pl.Date(),
    "pair_version": pl.String(),
    "run_id": pl.String(),
    "assignment": pl.String(),
    "expected_uplift": pl.Float64(),
    "expected_value_saved": pl.Float64(),
    "action_options": pl.List(
        pl.Struct(
            {
                "action_id": pl.String(),
                "rule_id": pl.String(),
                "expected_uplift": pl.Float64(),
                "expected_value_saved": pl.Float64(),
            }
        )
    ),
    "tags": pl.List(pl.String()),
    "account_manager": pl.String(),
}
"""The snapshot's columns, in order: scalar fields analysts can query, reason codes, the decision.

`churn_probability`, `reactivation_probability` and `conversion_probability` are null outside their
population; `probability_reasons` are the reasons of the population's probability. `assignment` is the
customer's group in its rule's experiment (`treatment`, `control` or `none`); `action_options` holds, for
every action the playbook allows the customer and the model pair has an uplift model of, the expected
uplift and the expected value saved (uplift x value if retained - cost), and `expected_uplift` /
`expected_value_saved` are those of the recommended action (null without an uplift model). `tags` are
the codes of the playbook's tags (`policy.tags`, an empty list without any), `account_manager` the
customer's named manager (null when the customers file names none). The value range
(`predicted_value_low`, `predicted_value_high`) and `predicted_orders` are null when the pair has no such
model; `expected_next_order_date` is null outside the active population."""
LOOP_COLUMNS: Final = ("assignment", "expected_uplift", "expected_value_saved", "action_options")
OPTION_FIELDS: Final = ("action_id", "rule_id", "expected_uplift", "expected_value_saved")
OPTION_ARROW_TYPES: Final = {
    "action_id": pa.string(),
    "rule_id": pa.string(),
    "expected_uplift": pa.float64(),
    "expected_value_saved": pa.float64(),
}

PROBABILITY_COLUMNS: Final = {
    "active": "churn_probability",
    "lapsed": "reactivation_probability",
    "prospect": "conversion_probability",
}


@dataclass
class ScoredTable:
    """Every row's prediction as codes, column by column (see the module docstring)."""

    customer_ids: pl.Series
    as_of: pl.Series
    populations: np.ndarray
    tiers: np.ndarray
    stages: np.ndarray
    probability: np.ndarray  # each row's population probability
    churn_risks: np.ndarray
    predicted_value: np.ndarray
    value_if_retained: np.ndarray
    horizon_days: int
    probability_reasons: ReasonCodes
    value_reasons: ReasonCodes
    rule_ids: Sequence[str]
    action_ids: Sequence[str]
    action_owners: Sequence[str]
    due_dates: Sequence[date]
    versions: ModelVersions
    assignments: Sequence[str] | None = None
    action_options: Sequence[Sequence[Mapping[str, Any]]] | None = None

    tags: TagAssignment | None = None
    account_managers: pl.Series | None = field(default=None)

    value_low: np.ndarray | None = None  # the value range; None when the pair has none
    value_high: np.ndarray | None = None
    predicted_orders: np.ndarray | None = None
    next_order_dates: Sequence[date | None] | None = None  # None outside the active population

    @property
    def height(self) -> int:
        return self.customer_ids.len()

    def probability_of(self, population: str) -> np.ndarray:
        """The probability column of `population` (NaN for every other row)."""
        return np.where(self.populations == population, self.probability, np.nan)

    def value_at_risk(self) -> np.ndarray:
        """Churn probability x value if retained, for active customers (NaN otherwise)."""
        return self.probability_of("active") * self.value_if_retained

    def to_frame(self) -> pl.DataFrame:
        """The rows in the snapshot format, in row order."""
        height = self.height
        columns: dict[str, Any] = {
            "customer_id": self.customer_ids,
            "as_of": self.as_of,
            "population": pl.Series(self.populations.tolist(), dtype=pl.String),
            "tier": pl.Series(self.tiers.tolist(), dtype=pl.String),
            "lifecycle_stage": pl.Series(self.stages.tolist(), dtype=pl.String),
            "churn_probability": _nullable(self.probability_of("active")),
            "churn_risk": pl.Series(self.churn_risks.tolist(), dtype=pl.String),
            "reactivation_probability": _nullable(self.probability_of("lapsed")),
            "conversion_probability": _nullable(self.probability_of("prospect")),
            "predicted_value": self.predicted_value,
            "currency": pl.repeat(None, height, dtype=pl.String, eager=True),
            "horizon_days": pl.repeat(self.horizon_days, height, dtype=pl.Int64, eager=True),
            "predicted_value_low": _optional(self.value_low, height),
            "predicted_value_high": _optional(self.value_high, height),
            "predicted_orders": _optional(self.predicted_orders, height),
            "expected_next_order_date": pl.Series(
                list(self.next_order_dates or [None] * height), dtype=pl.Date
            ),
            "value_if_retained": _nullable(self.value_if_retained),
            "value_at_risk": _nullable(self.value_at_risk()),
            "probability_reasons": self.probability_reasons.to_series("probability_reasons"),
            "value_reasons": self.value_reasons.to_series("value_reasons"),
            "rule_id": pl.Series(list(self.rule_ids), dtype=pl.String),
            "action_id": pl.Series(list(self.action_ids), dtype=pl.String),
            "action_owner": pl.Series(list(self.action_owners), dtype=pl.String),
            "action_due_date": pl.Series(list(self.due_dates), dtype=pl.Date),
            "pair_version": pl.repeat(self.versions.pair, height, dtype=pl.String, eager=True),
            "run_id": pl.repeat(self.versions.run_id, height, dtype=pl.String, eager=True),
            **self._loop_columns(),
            "tags": self._tags().to_series("tags"),
            "account_manager": self._account_managers(),
        }
        return pl.DataFrame(columns, schema=SNAPSHOT_SCHEMA)

    def _loop_columns(self) -> dict[str, Any]:
        """`assignment`, `expected_uplift`, `expected_value_saved` and `action_options` (issue 14).

        The options column is built as one Arrow list array (offsets over one struct array): polars
        builds a list of dicts row by row, which cost 30 s for 100k customers.
        """
        height = self.height
        assignments = list(self.assignments) if self.assignments is not None else ["none"] * height
        rows = self.action_options or [()] * height
        uplift: list[float | None] = [None] * height
        saved: list[float | None] = [None] * height
        offsets = [0]
        flat: dict[str, list[Any]] = {name: [] for name in OPTION_FIELDS}
        for index, options in enumerate(rows):
            for option in options:
                for name in OPTION_FIELDS:
                    flat[name].append(option[name])
                if option["action_id"] == self.action_ids[index] and uplift[index] is None:
                    uplift[index] = cast(float, option["expected_uplift"])
                    saved[index] = cast(float, option["expected_value_saved"])
            offsets.append(len(flat["action_id"]))
        struct = pa.StructArray.from_arrays(
            [pa.array(flat[name], type=OPTION_ARROW_TYPES[name]) for name in OPTION_FIELDS],
            names=list(OPTION_FIELDS),
        )
        options_column = pl.from_arrow(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), struct))
        return {
            "assignment": pl.Series(assignments, dtype=pl.String),
            "expected_uplift": pl.Series(uplift, dtype=pl.Float64),
            "expected_value_saved": pl.Series(saved, dtype=pl.Float64),
            "action_options": cast(pl.Series, options_column).cast(SNAPSHOT_SCHEMA["action_options"]),
        }

    def _loop_fields(self, index: int) -> dict[str, Any]:
        assignment = self.assignments[index] if self.assignments is not None else "none"
        options = [dict(option) for option in self.action_options[index]] if self.action_options else []
        chosen = next((option for option in options if option["action_id"] == self.action_ids[index]), None)
        return {
            "assignment": assignment,
            "expected_uplift": chosen["expected_uplift"] if chosen else None,
            "expected_value_saved": chosen["expected_value_saved"] if chosen else None,
            "action_options": options,
        }

    def record(self, index: int) -> dict[str, Any]:
        """Row `index` as a snapshot record (what `pl.DataFrame.row(index, named=True)` gives)."""
        population = str(self.populations[index])
        probability = float(self.probability[index])
        retained = _number(self.value_if_retained[index])
        probabilities: dict[str, float | None] = dict.fromkeys(PROBABILITY_COLUMNS.values())
        probabilities[PROBABILITY_COLUMNS[population]] = probability
        return {
            "customer_id": self.customer_ids[index],
            "as_of": self.as_of[index],
            "population": population,
            "tier": str(self.tiers[index]),
            "lifecycle_stage": str(self.stages[index]),
            "churn_probability": probabilities["churn_probability"],
            "churn_risk": self.churn_risks[index],
            "reactivation_probability": probabilities["reactivation_probability"],
            "conversion_probability": probabilities["conversion_probability"],
            "predicted_value": float(self.predicted_value[index]),
            "currency": None,
            "horizon_days": self.horizon_days,
            "predicted_value_low": _entry(self.value_low, index),
            "predicted_value_high": _entry(self.value_high, index),
            "predicted_orders": _entry(self.predicted_orders, index),
            "expected_next_order_date": None
            if self.next_order_dates is None
            else self.next_order_dates[index],
            "value_if_retained": retained,
            "value_at_risk": None if population != "active" or retained is None else probability * retained,
            "probability_reasons": self.probability_reasons.row(index),
            "value_reasons": self.value_reasons.row(index),
            "rule_id": self.rule_ids[index],
            "action_id": self.action_ids[index],
            "action_owner": self.action_owners[index],
            "action_due_date": self.due_dates[index],
            "pair_version": self.versions.pair,
            "run_id": self.versions.run_id,
            **self._loop_fields(index),
            "tags": self._tags().row(index),
            "account_manager": self._account_managers()[index],
        }

    def _tags(self) -> TagAssignment:
        return self.tags if self.tags is not None else TagAssignment.empty(self.height)

    def _account_managers(self) -> pl.Series:
        if self.account_managers is not None:
            return self.account_managers.alias("account_manager").cast(pl.String)
        return pl.repeat(None, self.height, dtype=pl.String, eager=True).alias("account_manager")

    def records(self) -> list[dict[str, Any]]:
        return [self.record(index) for index in range(self.height)]


def empty_snapshot() -> pl.DataFrame:
    return pl.DataFrame(schema=SNAPSHOT_SCHEMA)


def prediction_from_record(
    record: Mapping[str, Any],
    lang: Language,
    texts: Texts,
    sentences: dict[tuple[Any, ...], str] | None = None,
) -> Prediction:
    """The API's `Prediction` for one snapshot record, its words in `lang`.

    Assembled with `model_construct`: every value already has the schema's type, and validating
    again would cost more than the whole rendering.
    """
    as_of: datetime = record["as_of"]
    population = record["population"]
    probability_kind = cast(ReasonKind, PROBABILITY_MODELS[population])
    reasons: dict[str, list[Reason]] = {kind: [] for kind in ("churn", "reactivation", "conversion")}
    reasons[probability_kind] = _reasons(
        record["probability_reasons"], probability_kind, lang, texts, sentences
    )
    explanations = Explanations.model_construct(
        churn=reasons["churn"],
        reactivation=reasons["reactivation"],
        conversion=reasons["conversion"],
        value=_reasons(record["value_reasons"], "value", lang, texts, sentences),
    )
    action = texts.actions.fields(
        record["action_id"], record["action_owner"], as_of, record["action_due_date"], lang
    )
    return Prediction.model_construct(
        customer_id=record["customer_id"],
        as_of=as_of,
        population=population,
        tier=record["tier"],
        lifecycle_stage=record["lifecycle_stage"],
        churn_probability=record["churn_probability"],
        churn_risk=record["churn_risk"],
        reactivation_probability=record["reactivation_probability"],
        conversion_probability=record["conversion_probability"],
        predicted_value=PredictedValue.model_construct(
            amount=record["predicted_value"],
            currency=record["currency"],
            horizon_days=record["horizon_days"],
            low=record.get("predicted_value_low"),
            high=record.get("predicted_value_high"),
        ),
        predicted_orders=record.get("predicted_orders"),
        expected_next_order_date=record.get("expected_next_order_date"),
        value_if_retained=record["value_if_retained"],
        value_at_risk=record["value_at_risk"],
        explanations=explanations,
        recommended_action=RecommendedAction.model_construct(**action),  # type: ignore[arg-type]
        model_versions=ModelVersions.model_construct(
            pair=record["pair_version"],
            run_id=record["run_id"],
            churn=record["pair_version"],
            value=record["pair_version"],
        ),
        rule_id=record.get("rule_id"),
        assignment=record.get("assignment") or "none",
        expected_uplift=record.get("expected_uplift"),
        expected_value_saved=record.get("expected_value_saved"),
        action_options=[
            ActionOption.model_construct(**option) for option in record.get("action_options") or []
        ],
        tags=list(record.get("tags") or []),
        tag_labels=tag_labels(record.get("tags") or [], lang, texts),
        account_manager=record.get("account_manager"),
    )


def tag_labels(codes: Sequence[str], lang: Language, texts: Texts) -> list[str]:
    """Each tag code's label in `lang`: the playbook's label key, else ``tag.<code>.label`` (a tag the
    playbook no longer defines), else the code itself."""
    catalogue = texts.catalogues[lang]
    labels = []
    for code in codes:
        tag = texts.playbook.tag(code)
        labels.append(
            catalogue.resolve(tag.label) if tag is not None else catalogue.text_or(f"tag.{code}.label", code)
        )
    return labels


def _reasons(
    codes: Sequence[Mapping[str, Any]] | None,
    kind: ReasonKind,
    lang: Language,
    texts: Texts,
    sentences: dict[tuple[Any, ...], str] | None,
) -> list[Reason]:
    return [
        Reason.model_construct(**_reason_fields(texts.reasons.render(code, kind, lang, sentences)))
        for code in codes or []
    ]


def _reason_fields(reason: Any) -> dict[str, Any]:
    """A rendered reason's fields in the order of `serving.schemas.Reason`."""
    return {
        "feature": reason.feature,
        "value": reason.value,
        "contribution": reason.contribution,
        "direction": reason.direction,
        "sentence": reason.sentence,
        "label": reason.label,
        "impact": reason.impact,
    }


def _nullable(values: np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.Float64).fill_nan(None)


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _optional(values: np.ndarray | None, height: int) -> pl.Series:
    """A Float64 column of `values`, or of nulls when the pair has no such model."""
    return pl.repeat(None, height, dtype=pl.Float64, eager=True) if values is None else _nullable(values)


def _entry(values: np.ndarray | None, index: int) -> float | None:
    return None if values is None else _number(values[index])
