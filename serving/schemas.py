"""What crosses the HTTP boundary: request bodies, prediction responses and model descriptions.

Requests mirror the raw-data contract (`features/contract.py`) for one customer: its profile, its
transactions and its interactions. Timestamps are normalised to naive UTC, the contract's convention,
so the feature code never sees time zones. Responses are what the engine returns, validated here so
that every client (HTTP, snapshot file, prediction log) sees one shape.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from domain.vocabulary import ChurnRisk, Direction, LifecycleStage, Population, PredictionAssignment, Tier
from features.contract import is_reserved_attribute
from features.limits import (
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    MAX_ABS_NUMBER,
    MAX_ATTRIBUTE_NAME_CHARS,
    MAX_ATTRIBUTE_VALUE_CHARS,
    MAX_ATTRIBUTES,
)


def utc_now_naive() -> datetime:
    """The current instant as a naive UTC datetime, the contract's timestamp convention."""
    return datetime.now(UTC).replace(tzinfo=None)


def _to_naive_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _naive_utc_within_limits(value: datetime) -> datetime:
    """Naive UTC inside the contract's range (`features.contract.EARLIEST_TIMESTAMP`..`LATEST_TIMESTAMP`).

    Checked here, at validation, so that a far date is a 422 naming the field rather than an overflow
    when a horizon or a due date is added to it (9999-12-31 plus 30 days).
    """
    try:
        naive = _to_naive_utc(value)
    except OverflowError:
        naive = None
    if naive is None or not EARLIEST_TIMESTAMP <= naive < LATEST_TIMESTAMP:
        raise ValueError(
            f"{value.isoformat()} is outside the accepted range {EARLIEST_TIMESTAMP:%Y-%m-%d} to "
            f"{LATEST_TIMESTAMP:%Y-%m-%d} (exclusive)"
        )
    return naive


def _now_if_missing(value: Any) -> Any:
    return utc_now_naive() if value is None else value


Timestamp = Annotated[datetime, AfterValidator(_naive_utc_within_limits)]
NonEmptyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
FiniteNumber = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_ABS_NUMBER, le=MAX_ABS_NUMBER)]
AttributeValue = Annotated[str, StringConstraints(max_length=MAX_ATTRIBUTE_VALUE_CHARS)]


class _Strict(BaseModel):
    """Rejects unknown fields so that a misspelt field name is a 422, not a silently ignored value."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class CustomerIn(_Strict):
    customer_id: NonEmptyText = Field(description="The customer's id in the CRM.", examples=["C-1042"])
    signup_date: Timestamp | None = Field(default=None, examples=["2023-03-14"])
    attributes: dict[str, AttributeValue] = Field(
        default_factory=dict,
        max_length=MAX_ATTRIBUTES,
        description="Profile attributes (strings), as in the customers file. Names may not be those of "
        "clvchurn's keys (customer_id, signup_date, as_of), features or labels, nor start with '_'.",
        examples=[{"country": "DE", "segment": "retail"}],
    )

    @field_validator("attributes")
    @classmethod
    def _names_are_free(cls, attributes: dict[str, str]) -> dict[str, str]:
        """An attribute may not stand in for a key, a feature or a label (it would overwrite it)."""
        for name in attributes:
            if is_reserved_attribute(name):
                raise ValueError(
                    f"attribute {name!r} is a name clvchurn reserves for its keys, features, labels and "
                    f"internal columns (those starting with '_'); rename it (e.g. to 'crm_{name.lstrip('_')}')"
                )
            if not name.strip() or len(name) > MAX_ATTRIBUTE_NAME_CHARS:
                raise ValueError(
                    f"attribute name {name[:MAX_ATTRIBUTE_NAME_CHARS]!r} must hold 1 to "
                    f"{MAX_ATTRIBUTE_NAME_CHARS} characters, not only spaces"
                )
        return attributes


class TransactionIn(_Strict):
    timestamp: Timestamp = Field(examples=["2024-05-02T14:03:00"])
    amount: FiniteNumber = Field(description="Order value; negative for a refund or return.", examples=[59.9])
    transaction_id: str | None = None
    quantity: FiniteNumber | None = Field(default=None, ge=0, examples=[2])
    category: str | None = Field(default=None, examples=["books"])
    channel: str | None = Field(default=None, examples=["web"])


class InteractionIn(_Strict):
    timestamp: Timestamp = Field(examples=["2024-05-10T09:00:00"])
    type: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1)] = Field(
        description="visit, email_open, email_click, call, meeting, inquiry, support_ticket, complaint, "
        "survey, or free text (lower-cased).",
        examples=["email_open"],
    )
    value: FiniteNumber | None = Field(
        default=None, description="Satisfaction 1-5 or NPS 0-10 for surveys.", examples=[None]
    )


class PredictRequest(_Strict):
    """One customer's history up to `as_of`; the engine scores it as of that instant."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer": {"customer_id": "C-1042", "signup_date": "2023-03-14"},
                    "transactions": [
                        {"timestamp": "2024-01-05T10:00:00", "amount": 59.9, "quantity": 2},
                        {"timestamp": "2024-04-19T16:30:00", "amount": 120.0, "category": "books"},
                    ],
                    "interactions": [{"timestamp": "2024-05-10T09:00:00", "type": "email_open"}],
                    "as_of": "2024-07-01T00:00:00",
                }
            ]
        }
    )

    customer: CustomerIn
    transactions: list[TransactionIn] = Field(default_factory=list)
    interactions: list[InteractionIn] = Field(default_factory=list)
    as_of: Annotated[Timestamp, BeforeValidator(_now_if_missing)] = Field(
        default_factory=utc_now_naive,
        description="Instant to score at (naive UTC); defaults to now.",
    )

    @field_validator("as_of")
    @classmethod
    def _not_before_first_event(cls, as_of: datetime, info: ValidationInfo) -> datetime:
        customer = info.data.get("customer")
        transactions, interactions = info.data.get("transactions"), info.data.get("interactions")
        first = first_event_time(customer, transactions, interactions)
        if first is not None and as_of < first:
            raise ValueError(
                f"as_of {as_of.isoformat()} is before the customer's first event {first.isoformat()}"
            )
        signup = customer.signup_date if customer is not None else None
        earliest_event = first_event_time(None, transactions, interactions)
        if signup is not None and signup > as_of and (earliest_event is None or earliest_event >= as_of):
            # Not yet a customer at as_of (`features.build.build_features`' population): nothing to score.
            raise ValueError(
                f"as_of {as_of.isoformat()} is before the customer's signup date {signup.isoformat()} and "
                "no event precedes it; score the customer from their signup date on"
            )
        return as_of


def first_event_time(
    customer: CustomerIn | None,
    transactions: list[TransactionIn] | None,
    interactions: list[InteractionIn] | None,
) -> datetime | None:
    """Earliest of signup date, first transaction and first interaction; None without any."""
    times = [event.timestamp for event in (transactions or [])]
    times += [event.timestamp for event in (interactions or [])]
    if customer is not None and customer.signup_date is not None:
        times.append(customer.signup_date)
    return min(times, default=None)


class BatchPredictRequest(_Strict):
    customers: list[PredictRequest] = Field(
        min_length=1, description="Up to `max_batch` (default 1,000) customers."
    )


class PredictedValue(BaseModel):
    amount: float = Field(description="Expected spend over the horizon.", examples=[412.5])
    currency: str | None = Field(default=None, examples=["EUR"])
    horizon_days: int = Field(examples=[180])
    low: float | None = Field(
        default=None,
        ge=0.0,
        description="Low end of the value range: with `high`, an interval that holds the actual spend over the "
        "horizon for 80% of the customers of each tier (split conformal prediction, calibrated out of time); "
        "low <= amount <= high. Null when the model pair has no value range.",
        examples=[60.0],
    )
    high: float | None = Field(
        default=None, ge=0.0, description="High end of the value range (see `low`).", examples=[1350.0]
    )


class Reason(BaseModel):
    """One feature's share of a prediction (a SHAP value), told in a sentence."""

    feature: str = Field(examples=["days_since_last_order"])
    value: float | str | None = Field(description="The customer's value of the feature.", examples=[97])
    contribution: float = Field(
        description="The feature's exact TreeSHAP value in the booster's margin (log-odds for a probability, "
        "log for value), scaled by one factor per customer so that the customer's contributions sum to the "
        "prediction minus the baseline: probability points (0.042 = +4.2 points) or currency."
    )
    direction: Direction = Field(
        description="Whether the feature pushes the probability (or the value) up or down."
    )
    sentence: str = Field(examples=["No order for 97 days, longer than usual for this customer."])
    label: str | None = Field(default=None, description="The feature's name in the response language.")
    impact: str | None = Field(default=None, description="The contribution formatted for people.")


class Explanations(BaseModel):
    """The reasons of each prediction; only the customer's population has probability reasons."""

    churn: list[Reason] = Field(default_factory=list)
    reactivation: list[Reason] = Field(default_factory=list)
    conversion: list[Reason] = Field(default_factory=list)
    value: list[Reason] = Field(default_factory=list)


class RecommendedAction(BaseModel):
    id: str = Field(examples=["winback_call"])
    title: str = Field(examples=["Personal win-back call"])
    steps: list[str] = Field(default_factory=list)
    owner: str = Field(examples=["account_manager"])
    owner_label: str | None = Field(default=None, description="The owner in the response language.")
    due_within_days: int = Field(ge=0, examples=[7])
    due_date: date
    success_metric: str = Field(examples=["order within 30 days"])


class ActionOption(BaseModel):
    """One action the playbook allows a customer, with what its uplift model expects of it."""

    action_id: str
    rule_id: str = Field(description="The first rule that allows the action for this customer.")
    expected_uplift: float = Field(ge=-1.0, le=1.0)
    expected_value_saved: float


class ModelVersions(BaseModel):
    """The registered model pair that answered: every model of it comes from one training run."""

    pair: str = Field(description="Version of the registered model pair (clvchurn-pair).", examples=["3"])
    run_id: str | None = Field(default=None, description="The MLflow run that trained the pair.")
    churn: str = Field(description="Version of the churn model: the pair's.", examples=["3"])
    value: str = Field(description="Version of the value model: the pair's.", examples=["3"])


class Prediction(BaseModel):
    customer_id: str
    as_of: datetime
    population: Population = Field(
        description="active (an order within the lookback), lapsed (ordered before) or prospect (never ordered)."
    )
    tier: Tier
    lifecycle_stage: LifecycleStage
    churn_probability: float | None = Field(
        ge=0.0, le=1.0, description="P(no order in the churn horizon), for active customers; null otherwise."
    )
    churn_risk: ChurnRisk | None = Field(description="The churn probability's band; null unless active.")
    reactivation_probability: float | None = Field(
        default=None, ge=0.0, le=1.0, description="P(an order in the churn horizon), for lapsed customers."
    )
    conversion_probability: float | None = Field(
        default=None, ge=0.0, le=1.0, description="P(a first order in the churn horizon), for prospects."
    )
    predicted_value: PredictedValue
    predicted_orders: float | None = Field(
        default=None,
        ge=0.0,
        description="Expected number of orders over the value horizon (`predicted_value.horizon_days`); null "
        "when the model pair has no order model.",
        examples=[3.4],
    )
    expected_next_order_date: date | None = Field(
        default=None,
        description="For active customers: the date of the next order if the customer orders within the churn "
        "horizon (the median among customers like them; `churn_probability` says how likely that order is). "
        "Null for lapsed customers and prospects.",
        examples=["2025-08-14"],
    )
    value_if_retained: float | None = Field(
        default=None,
        description="Expected net spend over the value horizon if the customer stays (active) or comes back "
        "(lapsed); null for prospects.",
    )
    value_at_risk: float | None = Field(
        description="churn_probability x value_if_retained: the value lost if the customer churns, over the value "
        "horizon; null unless active."
    )
    explanations: Explanations
    recommended_action: RecommendedAction
    model_versions: ModelVersions
    rule_id: str | None = Field(
        default=None,
        description="The playbook rule that chose the action (for a control customer, the rule that would "
        "have applied).",
    )
    assignment: PredictionAssignment = Field(
        default="none",
        description="The customer's group in its rule's experiment: treatment, control (given the hold_out "
        "action; rule_id names the rule that would have applied) or none when the rule keeps no control group.",
    )
    expected_uplift: float | None = Field(
        default=None,
        description="The recommended action's expected change in the chance of its success, from its uplift "
        "model; null when the model pair has no uplift model for it.",
    )
    expected_value_saved: float | None = Field(
        default=None,
        description="expected_uplift x value_if_retained - the action's cost; null without an uplift model.",
    )
    action_options: list[ActionOption] = Field(
        default_factory=list,
        description="Every action the playbook allows the customer that has an uplift model, with its "
        "expected uplift and value saved (what `choose_by: value_saved` chooses among).",
    )
    tags: list[str] = Field(
        default_factory=list,
        description="Codes of the playbook's behaviour and need tags the customer carries (policy/playbook.yaml "
        "`tags:`), in the playbook's order.",
        examples=[["buying", "quality_oriented"]],
    )
    tag_labels: list[str] = Field(
        default_factory=list,
        description="The same tags in the response language, in the order of `tags`.",
        examples=[["Buying type", "Quality-oriented"]],
    )
    account_manager: str | None = Field(
        default=None,
        description="The customer's named account manager: the customers-file attribute set by "
        "CLVCHURN_ACCOUNT_MANAGER_ATTRIBUTE (default account_manager); null when none is named.",
        examples=["Wang Fang"],
    )


class BatchPredictResponse(BaseModel):
    predictions: list[Prediction]


class ModelInfo(BaseModel):
    """One model of the pair in service."""

    version: str = Field(description="The pair's version: every model of a pair shares it.", examples=["3"])
    horizon_days: int
    populations: list[Population]
    trained_through: datetime = Field(
        description="The newest cutoff whose labels the model learned from, in its fit or its calibration."
    )
    backtest_as_of: datetime | None = Field(description="The validation cutoff of its out-of-time backtest.")
    backtest_metrics: dict[str, float] = Field(default_factory=dict, examples=[{"roc_auc": 0.81}])
    model_family: str | None = None
    fallback: str | None = Field(default=None, description="Why a base rate stands in for a fitted model.")


class ModelsInfo(BaseModel):
    """The model pair in service, as `clvchurn models show` prints it."""

    name: str = Field(examples=["clvchurn-pair"])
    version: str = Field(examples=["3"])
    run_id: str | None = None
    trained_at: datetime | None = None
    data_end: datetime | None = None
    models: dict[str, ModelInfo]
    tier_cut_points: dict[str, float] = Field(
        description="Lowest predicted value of tiers A, B and C (currency over the horizon), fitted at "
        "training time on active customers; below C is D.",
        examples=[{"A": 850.0, "B": 300.0, "C": 80.0}],
    )
    tier_method: str | None = Field(default=None, examples=["quantile"])
    tier_minimum_orders_365d: dict[str, int] = Field(default_factory=dict)
    horizon_days: int | None = None
    loaded_at: datetime | None = None


class ReloadResult(BaseModel):
    previous: ModelVersions | None
    current: ModelVersions


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: Literal["ready", "loading", "failed"]
    model_versions: ModelVersions | None = None
    detail: str | None = None


class ErrorBody(BaseModel):
    detail: Any
    request_id: str | None = None


class ActionIn(_Strict):
    """One retention action assigned to a customer, as the CRM reports it (a row of the actions file).

    A prediction's own keys are accepted too, so the CRM can send back what it was told: `assignment`
    for `group`, `as_of` for `assigned_at`, `recommended_action: {id}` for `action_id`; its other
    fields (probabilities, reasons, ...) are ignored. Any other unknown field is a 422.
    """

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "C-1042",
                    "action_id": "vip_rescue_call",
                    "assigned_at": "2025-07-01T00:00:00",
                    "group": "treatment",
                    "rule_id": "high_value_at_risk",
                    "taken_at": "2025-07-01T15:20:00",
                    "channel": "phone",
                    "cost": 25,
                }
            ]
        },
    )

    customer_id: NonEmptyText
    action_id: NonEmptyText = Field(
        description="The playbook action; for a control customer the action held back (a prediction's "
        "hold_out with its rule_id is taken as that rule's action)."
    )
    assigned_at: Timestamp = Field(
        validation_alias=AliasChoices("assigned_at", "as_of"),
        description="When the action was assigned (the prediction's as_of); naive UTC.",
    )
    group: Literal["treatment", "control"] = Field(
        validation_alias=AliasChoices("group", "assignment"),
        description="treatment (given the action) or control (held out); the prediction's assignment.",
    )
    rule_id: str | None = Field(default=None, max_length=128)
    taken_at: Timestamp | None = Field(default=None, description="When the contact happened, if it did.")
    channel: str | None = Field(default=None, max_length=64)
    owner: str | None = Field(default=None, max_length=128)
    cost: FiniteNumber | None = Field(default=None, ge=0, description="What this contact cost.")
    tier: Tier | None = None
    lifecycle_stage: LifecycleStage | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_prediction(cls, data: Any) -> Any:
        """A prediction's keys: the recommended action's id, without the fields actions do not keep."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        recommended = data.pop("recommended_action", None)
        if isinstance(recommended, dict) and "action_id" not in data:
            data["action_id"] = recommended.get("id")
        for name in PREDICTION_ONLY_FIELDS:
            data.pop(name, None)
        return data

    @field_validator("taken_at")
    @classmethod
    def _not_before_assignment(cls, taken_at: datetime | None, info: ValidationInfo) -> datetime | None:
        assigned = info.data.get("assigned_at")
        if taken_at is not None and assigned is not None and taken_at < assigned:
            raise ValueError(f"taken_at {taken_at.isoformat()} is before assigned_at {assigned.isoformat()}")
        return taken_at


PREDICTION_ONLY_FIELDS: frozenset[str] = frozenset(Prediction.model_fields) - frozenset(
    {"customer_id", "as_of", "assignment", "rule_id", "tier", "lifecycle_stage"}
)


class ActionsRecorded(BaseModel):
    """What POST /v1/actions stored."""

    recorded: int = Field(
        description="Actions stored or updated (one row per customer, action and assigned_at)."
    )
