"""The reference distribution: how each feature and prediction was spread when the model was trained.

Drift is a comparison with the population the model learned from, so the bins and their shares are
fixed at training time and travel with the model pair (JSON-ready), never recomputed from later data.

Numbers are cut at the reference's quantiles (deciles by default) taken by the inverted empirical CDF
(Hyndman & Fan 1996, definition 1: the smallest value with at least that share of customers at or
below it), so every edge is a value seen in the data. Bins are closed on the right, (e_{k-1}, e_k],
with an open bin on each side; repeated quantiles collapse into one edge, so a value shared by many
customers (0 orders in 30 days) fills one bin instead of several empty ones. Missing values (null or
NaN) are a bin of their own. Strings keep their most frequent levels, the rest pooled as "other",
plus a missing bin; a level first seen later counts as "other".

Shape::

    {"schema_version": 1, "customers": 5000, "as_of": "2025-01-01" | null, "bins": 10,
     "features": {"orders_90d": {"kind": "numeric", "edges": [0.0, 1.0, 3.0],
                                 "shares": [0.61, 0.2, 0.12, 0.07], "missing_share": 0.0},
                  "profile_region": {"kind": "categorical", "levels": ["europe", ...],
                                     "shares": [0.32, ...], "other_share": 0.0, "missing_share": 0.02}},
     "predictions": {"churn_probability": {"kind": "numeric", ...}}}

`shares` has one entry per bin (len(edges) + 1) or level; with `missing_share` (and `other_share`)
the shares of an entry sum to 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import polars as pl

from domain.errors import DriftInputError, ReferenceDistributionError

SCHEMA_VERSION: Final = 1
_KINDS: Final = ("numeric", "categorical")


def reference_distribution(
    features: pl.DataFrame,
    names: Sequence[str],
    *,
    predictions: Sequence[str] = (),
    bins: int = 10,
    max_levels: int = 20,
    as_of: str | None = None,
) -> dict[str, Any]:
    """Bins and shares per feature in `names` and per prediction column in `predictions`.

    Parameters
    ----------
    features
        One row per customer of the reference population (for instance the training snapshots).
    names, predictions
        Columns to describe; numeric columns get quantile bins, strings, categoricals and booleans
        get levels.
    bins
        Quantile bins per numeric column before ties collapse them (10: deciles).
    max_levels
        Most frequent levels kept per categorical column; the others are pooled as "other".
    as_of
        Free text recorded with the reference, usually the cutoff (or range of cutoffs) it describes.

    Raises
    ------
    ReferenceDistributionError
        The frame is empty, a column is missing or holds neither numbers nor strings, or an option
        is out of range.
    """
    if features.height == 0:
        raise ReferenceDistributionError("the reference frame has no rows: pass the training population")
    if bins < 2:
        raise ReferenceDistributionError(f"bins must be at least 2, got {bins}")
    if max_levels < 1:
        raise ReferenceDistributionError(f"max_levels must be at least 1, got {max_levels}")
    missing = [name for name in [*names, *predictions] if name not in features.columns]
    if missing:
        raise ReferenceDistributionError(f"columns {missing} are not in the reference frame")
    return {
        "schema_version": SCHEMA_VERSION,
        "customers": features.height,
        "as_of": as_of,
        "bins": bins,
        "features": {name: _describe(features[name], bins, max_levels) for name in names},
        "predictions": {name: _describe(features[name], bins, max_levels) for name in predictions},
    }


def reference_shares(entry: Mapping[str, Any]) -> np.ndarray:
    """An entry's shares in bin order, the missing bin (and "other" before it) last."""
    kind = entry_kind(entry)
    shares = [float(share) for share in entry["shares"]]
    if kind == "categorical":
        shares.append(float(entry["other_share"]))
    shares.append(float(entry["missing_share"]))
    return np.asarray(shares, dtype=np.float64)


def binned_counts(column: pl.Series, entry: Mapping[str, Any]) -> np.ndarray:
    """Customers of `column` per bin of `entry`, in the order of `reference_shares`.

    Raises
    ------
    DriftInputError
        The column holds strings where the reference has numbers, or the other way round.
    """
    kind = entry_kind(entry)
    if kind == "numeric":
        if not _is_numeric(column.dtype):
            raise DriftInputError(
                f"column {column.name!r} holds {column.dtype} values but its reference has numeric bins"
            )
        edges = np.asarray(entry["edges"], dtype=np.float64)
        values = _numeric_values(column)
        missing = np.isnan(values)
        codes = np.where(missing, len(edges) + 1, np.searchsorted(edges, values, side="left"))
        return np.bincount(codes, minlength=len(edges) + 2)
    if not _is_categorical(column.dtype):
        raise DriftInputError(
            f"column {column.name!r} holds {column.dtype} values but its reference has levels (strings)"
        )
    levels = list(entry["levels"])
    codes = (
        pl.select(
            pl.when(column.is_null())
            .then(pl.lit(len(levels) + 1, dtype=pl.Int64))
            .otherwise(
                column.cast(pl.String).replace_strict(
                    levels, list(range(len(levels))), default=len(levels), return_dtype=pl.Int64
                )
            )
        )
        .to_series()
        .to_numpy()
    )
    return np.bincount(codes, minlength=len(levels) + 2)


def entry_kind(entry: Mapping[str, Any]) -> str:
    """ "numeric" or "categorical", checking that the stored entry has the fields its kind needs."""
    kind = entry.get("kind")
    needed = {
        "numeric": ("edges", "shares", "missing_share"),
        "categorical": ("levels", "shares", "other_share", "missing_share"),
    }
    if kind not in _KINDS or any(field not in entry for field in needed[kind]):
        raise ReferenceDistributionError(
            f"reference entry {dict(entry)!r} is malformed: expected kind 'numeric' with edges, shares "
            "and missing_share, or kind 'categorical' with levels, shares, other_share and missing_share"
        )
    return str(kind)


def _describe(column: pl.Series, bins: int, max_levels: int) -> dict[str, Any]:
    if _is_numeric(column.dtype):
        return _numeric_entry(column, bins)
    if _is_categorical(column.dtype):
        return _categorical_entry(column, max_levels)
    raise ReferenceDistributionError(
        f"column {column.name!r} holds {column.dtype} values: reference bins need numbers or strings"
    )


def _numeric_entry(column: pl.Series, bins: int) -> dict[str, Any]:
    values = _numeric_values(column)
    present = values[~np.isnan(values)]
    edges = np.empty(0)
    if len(present):
        quantiles = np.quantile(present, np.arange(1, bins) / bins, method="inverted_cdf")
        edges = np.unique(quantiles[np.isfinite(quantiles)])
    entry = {"kind": "numeric", "edges": edges.tolist(), "shares": [], "missing_share": 0.0}
    shares = binned_counts(column, entry) / len(values)
    entry["shares"] = shares[:-1].tolist()
    entry["missing_share"] = float(shares[-1])
    return entry


def _categorical_entry(column: pl.Series, max_levels: int) -> dict[str, Any]:
    counts = (
        column.cast(pl.String)
        .drop_nulls()
        .value_counts(name="customers")
        .sort(["customers", column.name], descending=[True, False])
    )
    kept = counts.head(max_levels)
    total = column.len()
    return {
        "kind": "categorical",
        "levels": kept[column.name].to_list(),
        "shares": (kept["customers"] / total).to_list(),
        "other_share": int(counts["customers"].slice(max_levels).sum()) / total,
        "missing_share": column.null_count() / total,
    }


def _numeric_values(column: pl.Series) -> np.ndarray:
    """Float values with null and NaN both as NaN (polars turns float nulls into NaN on the way out)."""
    floats = column if column.dtype == pl.Float64 else column.cast(pl.Float64)
    return np.asarray(floats.to_numpy(), dtype=np.float64)


def _is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric()


def _is_categorical(dtype: pl.DataType) -> bool:
    return dtype in (pl.String, pl.Categorical, pl.Boolean) or isinstance(dtype, pl.Enum)
