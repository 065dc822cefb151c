"""What the customers of a past snapshot went on to do, from the raw data: the outcome each model predicted.

A snapshot scored as of T gave each customer the probability of their population (`features.populations`):
churn for active customers (no order in [T, T + churn horizon)), reactivation for lapsed ones and
conversion for prospects (an order in that window), and everyone a predicted value (net spend in
[T, T + value horizon)). The outcomes come from `features.build.build_labels`, the labels training
learned from, so a snapshot is judged on exactly the definition its model was fitted to. The population
is the snapshot's own (decided at scoring with the pair's lookback), not recomputed.

A window is closed when it ends on or before the day outcomes are known up to; only then is an outcome
final. A customer of the snapshot the labels do not know (deleted from the CRM since) gets null.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

import polars as pl

from domain.errors import OutcomeInputError
from features.build import build_labels
from features.contract import RawData
from features.populations import ORDERED_COLUMN, POPULATION_LABELS

OUTCOME: Final = "outcome"
FUTURE_VALUE: Final = "future_value"


def window_end(as_of: datetime, horizon_days: int) -> datetime:
    """The first moment after a label window [as_of, as_of + horizon)."""
    return as_of + timedelta(days=horizon_days)


def is_closed(as_of: datetime, horizon_days: int, known_until: datetime) -> bool:
    """Whether the window of a snapshot at `as_of` has ended by `known_until` (its outcomes are final)."""
    return window_end(as_of, horizon_days) <= known_until


def snapshot_outcomes(
    raw: RawData,
    snapshot: pl.DataFrame,
    as_of: datetime,
    churn_horizon_days: int,
    value_horizon_days: int,
) -> pl.DataFrame:
    """`snapshot` with `outcome` (Int8, the population's label: churned, reactivated or converted) and
    `future_value` (net spend over the value horizon), null for customers the labels do not know.

    Raises
    ------
    OutcomeInputError
        The snapshot lacks `customer_id` or `population`, or holds a population without a label.
    """
    missing = [column for column in ("customer_id", "population") if column not in snapshot.columns]
    if missing:
        raise OutcomeInputError(f"the snapshot as of {as_of.date()} lacks columns {missing}")
    unknown = set(snapshot["population"].drop_nulls().unique().to_list()) - set(POPULATION_LABELS)
    if unknown or snapshot["population"].null_count():
        raise OutcomeInputError(
            f"the snapshot as of {as_of.date()} holds populations {sorted(unknown) or [None]}; "
            f"expected one of {', '.join(POPULATION_LABELS)}"
        )
    labels = build_labels(raw, as_of, churn_horizon_days, value_horizon_days).select(
        "customer_id", ORDERED_COLUMN, FUTURE_VALUE
    )
    ordered = pl.col(ORDERED_COLUMN)
    outcome: Any = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.Int8))
    for population, (_, positive_when_ordered) in POPULATION_LABELS.items():
        outcome = outcome.when(pl.col("population") == population).then(
            ordered if positive_when_ordered else 1 - ordered
        )
    return (
        snapshot.join(labels, on="customer_id", how="left")
        .with_columns(outcome.cast(pl.Int8).alias(OUTCOME))
        .drop(ORDERED_COLUMN)
    )
