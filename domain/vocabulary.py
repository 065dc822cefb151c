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
