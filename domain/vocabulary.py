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

LifecycleStage = Literal["prospect", "new", "active", "loyal", "at_risk", "dormant", "lost"]
"""Where a customer stands in the relationship (`policy.lifecycle`)."""
LIFECYCLE_STAGES: Final[tuple[LifecycleStage, ...]] = get_args(LifecycleStage)

ChurnRisk = Literal["low", "medium", "high"]
"""Bands of the churn probability, cut at the playbook's thresholds."""
RISK_BANDS: Final[tuple[ChurnRisk, ...]] = get_args(ChurnRisk)

ReasonKind = Literal["churn", "value"]
"""The predictions a reason can explain: one per model of the registered pair."""
REASON_KINDS: Final[tuple[ReasonKind, ...]] = get_args(ReasonKind)

Direction = Literal["increases", "decreases"]
"""Whether a reason pushes its prediction up or down."""
DIRECTIONS: Final[tuple[Direction, ...]] = get_args(Direction)

Language = Literal["en", "zh"]
"""Languages with a text catalogue: English and Simplified Chinese."""
LANGUAGES: Final[tuple[Language, ...]] = get_args(Language)
DEFAULT_LANGUAGE: Final[Language] = "en"

Engine = Literal["local", "spark"]
"""Where a batch command runs: in this process (polars) or on Apache Spark (`spark_engine`)."""
ENGINES: Final[tuple[Engine, ...]] = get_args(Engine)
DEFAULT_ENGINE: Final[Engine] = "local"
