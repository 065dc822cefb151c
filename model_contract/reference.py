"""Reference statistics: what a typical customer of each tier looks like, fixed at training time.

Reason codes compare one customer with the median of their tier ("customers in tier A usually order
every 21 days"), so the medians must come from the population the model learned from and travel with
the model (`model_contract.bundle.BundleMetadata.reference_statistics`), never be recomputed at serving time.

Shape (JSON-serialisable, floats or null)::

    {"schema_version": 1,
     "statistics": ["p25", "median", "p75"],
     "overall": {"customers": 1000, "features": {"orders_365d": {"count": 990, "p25": 1.0,
                                                                 "median": 3.0, "p75": 6.0}, ...}},
     "tiers": {"A": {"customers": 120, "features": {...}}, ...}}

`count` is the number of non-missing values; when it is 0 the quantiles are null. Quantiles use
linear interpolation between order statistics (Hyndman & Fan 1996, definition 7, numpy's default),
so the median of an even count is the mean of the two middle values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from domain.errors import ReferenceInputError

SCHEMA_VERSION = 1
QUANTILES: dict[str, float] = {"p25": 0.25, "median": 0.5, "p75": 0.75}
_TIER_COLUMN = "__reference_tier__"


def compute_reference_statistics(
    features: pl.DataFrame, tiers: Sequence[str], feature_names: Sequence[str]
) -> dict[str, Any]:
    """Per tier and overall, per numeric feature: non-missing count, p25, median and p75.

    `tiers[i]` is the tier of row `i` of `features`. Non-numeric features (profile attributes) are
    skipped; NaN counts as missing. Tiers appear in sorted order.
    """
    if len(tiers) != features.height:
        raise ReferenceInputError(
            f"got {len(tiers)} tiers for {features.height} feature rows: pass one tier per row"
        )
    missing = [name for name in feature_names if name not in features.columns]
    if missing:
        raise ReferenceInputError(f"feature columns {missing} are not in the feature frame")
    numeric = [name for name in feature_names if features.schema[name].is_numeric()]
    frame = features.select([pl.col(name).cast(pl.Float64).fill_nan(None) for name in numeric]).with_columns(
        pl.Series(_TIER_COLUMN, list(tiers), dtype=pl.String)
    )

    overall = _summarise(frame, numeric).row(0, named=True)
    by_tier = _summarise(frame.group_by(_TIER_COLUMN), numeric).sort(_TIER_COLUMN)
    return {
        "schema_version": SCHEMA_VERSION,
        "statistics": list(QUANTILES),
        "overall": _section(overall, numeric),
        "tiers": {row[_TIER_COLUMN]: _section(row, numeric) for row in by_tier.iter_rows(named=True)},
    }


def _summarise(frame: pl.DataFrame | pl.dataframe.group_by.GroupBy, numeric: list[str]) -> pl.DataFrame:
    aggregations = [pl.len().alias("__customers__")]
    for name in numeric:
        aggregations.append(pl.col(name).count().alias(f"{name}__count"))
        for statistic, q in QUANTILES.items():
            aggregations.append(pl.col(name).quantile(q, "linear").alias(f"{name}__{statistic}"))
    if isinstance(frame, pl.DataFrame):
        return frame.select(aggregations)
    return frame.agg(aggregations)


def _section(row: dict[str, Any], numeric: list[str]) -> dict[str, Any]:
    features: dict[str, dict[str, Any]] = {}
    for name in numeric:
        statistics: dict[str, Any] = {"count": int(row[f"{name}__count"])}
        for statistic in QUANTILES:
            value = row[f"{name}__{statistic}"]
            statistics[statistic] = None if value is None else float(value)
        features[name] = statistics
    return {"customers": int(row["__customers__"]), "features": features}
