"""The words clvchurn's domain is spoken in, declared once and imported everywhere else.

Each vocabulary is a `Literal` type (for type hints and pydantic schemas) and the tuple of its values
in their natural order (for validation, loops and page filters); the tuple is derived from the type,
so the two cannot drift apart. Words are codes: what a reader sees is rendered from the catalogues
(`serving/catalogues/<lang>.yaml`) in the reader's language.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Tier = Literal["A", "B", "C", "D"]
"""Value tiers, highest value first (the account-management pyramid)."""
TIERS: Final[tuple[Tier, ...]] = get_args(Tier)

LifecycleStage = Literal["prospect", "intent", "new", "active", "loyal", "at_risk", "dormant", "lost"]
"""Where a customer stands in the relationship (`policy.lifecycle`)."""
LIFECYCLE_STAGES: Final[tuple[LifecycleStage, ...]] = get_args(LifecycleStage)

ChurnRisk = Literal["low", "medium", "high"]
"""Bands of the churn probability, cut at the playbook's thresholds."""
RISK_BANDS: Final[tuple[ChurnRisk, ...]] = get_args(ChurnRisk)

ModelName = Literal[
    "churn", "reactivation", "conversion", "value", "value_if_retained", "orders", "next_order", "value_range"
]
"""The models of a registered pair: a probability per population, the value, the value if retained, the
number of orders over the value horizon, the days to an active customer's next order, and the value's
range (`model_contract.value_range`)."""
MODEL_NAMES: Final[tuple[ModelName, ...]] = get_args(ModelName)

ReasonKind = Literal["churn", "reactivation", "conversion", "value"]
"""The predictions a reason can explain: each population's probability, and the value."""
REASON_KINDS: Final[tuple[ReasonKind, ...]] = get_args(ReasonKind)

Direction = Literal["increases", "decreases"]
"""Whether a reason pushes its prediction up or down."""
DIRECTIONS: Final[tuple[Direction, ...]] = get_args(Direction)

Language = Literal["en", "zh"]
"""Languages with a text catalogue: English and Simplified Chinese."""
LANGUAGES: Final[tuple[Language, ...]] = get_args(Language)
DEFAULT_LANGUAGE: Final[Language] = "en"

Population = Literal["active", "lapsed", "prospect"]
"""Who a customer is at a cutoff: ordered within the lookback (active), ordered only before it
(lapsed), or never ordered (prospect); each has its own model (churn, reactivation, conversion)."""
POPULATIONS: Final[tuple[Population, ...]] = get_args(Population)

ContractTable = Literal["transactions", "customers", "interactions"]
"""The tables of the raw-data contract, one file each in a data folder."""
CONTRACT_TABLES: Final[tuple[ContractTable, ...]] = get_args(ContractTable)

DriftLevel = Literal["stable", "watch", "flagged"]
"""How far a feature or prediction has moved from its reference (population stability index bands)."""
DRIFT_LEVELS: Final[tuple[DriftLevel, ...]] = get_args(DriftLevel)

MetricDirection = Literal["higher_is_better", "lower_is_better", "closer_to_zero_is_better"]
"""Which way a metric improves, so that "worse than the backtest" means the same for every metric."""
METRIC_DIRECTIONS: Final[tuple[MetricDirection, ...]] = get_args(MetricDirection)

MigrationDirection = Literal["up", "down"]
"""Whether a customer moved to a higher tier (A is the highest) or a lower one between two snapshots."""
MIGRATION_DIRECTIONS: Final[tuple[MigrationDirection, ...]] = get_args(MigrationDirection)

Assignment = Literal["treatment", "control"]
"""Which group of a retention experiment a customer was put in: given the action, or held out."""
ASSIGNMENTS: Final[tuple[Assignment, ...]] = get_args(Assignment)


Engine = Literal["local", "spark"]
"""Where a batch command runs: in this process (polars) or on Apache Spark (`spark_engine`)."""
ENGINES: Final[tuple[Engine, ...]] = get_args(Engine)
DEFAULT_ENGINE: Final[Engine] = "local"

PredictionAssignment = Literal["treatment", "control", "none"]
"""A prediction's place in its rule's experiment: in the treatment group, held out in the control
group (given the `hold_out` action), or none when the rule keeps no control group."""
PREDICTION_ASSIGNMENTS: Final[tuple[PredictionAssignment, ...]] = get_args(PredictionAssignment)
HOLD_OUT_ACTION: Final = "hold_out"
"""The action of a control customer (and of one no allowed action is expected to help): no retention
contact this period."""

SuccessMetric = Literal["order_within_days", "net_spend_within_days", "renewal"]
"""How an action's success is counted in the window after assignment: an order, net spend of at least
a minimum, or a renewal (net spend at least that of the same-length window before assignment)."""
SUCCESS_METRICS: Final[tuple[SuccessMetric, ...]] = get_args(SuccessMetric)

ChooseBy = Literal["rule", "value_saved"]
"""How a playbook picks a customer's action: the first matching rule, or among the actions its matching
rules allow, the one with the largest positive expected value saved (measured uplift x value if
retained - cost)."""
CHOOSE_BY: Final[tuple[ChooseBy, ...]] = get_args(ChooseBy)

UpliftLearner = Literal["t_learner", "x_learner"]
"""Meta-learners of an action's uplift (Kunzel et al. 2019, PNAS 116(10)): two outcome models (T), or
those plus effect models weighted by the treatment share (X)."""
UPLIFT_LEARNERS: Final[tuple[UpliftLearner, ...]] = get_args(UpliftLearner)


TagKind = Literal["behaviour", "need"]
"""What a playbook tag describes: how a customer behaves (browsing, buying, interacting) or what they
need (price, service, quality), after small-customer and segment-strategy practice (`policy.tags`)."""
TAG_KINDS: Final[tuple[TagKind, ...]] = get_args(TagKind)
