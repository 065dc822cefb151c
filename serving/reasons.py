"""Reason codes: which features moved each prediction, stored as codes and put into words when read.

A model's SHAP contributions (`model_contract.scoring`) rank the features of every customer; the
`REASONS_PER_MODEL` largest in absolute value (zero and non-finite ones skipped, ties in column order)
become the customer's reason codes: the feature, the customer's value, the contribution and its
direction, and the reference a sentence compares the value with (the median of the customer's tier
at training time, or of all customers when the tier has none; `model_contract.reference`). The same
array code serves one API request and a whole base. `serving.text.reasons` renders a code in any
language; the snapshot stores the codes, never the sentences.

The feature that raises churn risk the most is the `top_reason` the playbook's rules match on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import polars as pl
import pyarrow as pa

from serving.text.reasons import ALL_CUSTOMERS

REASONS_PER_MODEL: Final = 3
# Which feature's tier median a sentence compares with, when it is not the feature itself:
# how long since the last order means most next to how often the tier usually orders.
COMPARED_WITH: Final[Mapping[str, str]] = {"days_since_last_order": "mean_days_between_orders"}
REASON_FIELDS: Final = (
    "feature",
    "value",
    "value_text",
    "contribution",
    "direction",
    "reference_value",
    "reference_group",
)
REASON_DTYPE: Final = pl.List(
    pl.Struct(
        {
            "feature": pl.String(),
            "value": pl.Float64(),
            "value_text": pl.String(),
            "contribution": pl.Float64(),
            "direction": pl.String(),
            "reference_value": pl.Float64(),
            "reference_group": pl.String(),
        }
    )
)


@dataclass(frozen=True)
class ReasonCodes:
    """One model's reason codes for every row, as n x k arrays; `present` marks the filled slots."""

    features: np.ndarray  # str, n x k
    present: np.ndarray  # bool, n x k
    contributions: np.ndarray  # float, n x k
    values: np.ndarray  # float, n x k (NaN when missing or textual)
    value_texts: np.ndarray  # object, n x k (None unless the feature is an attribute)
    reference_values: np.ndarray  # float, n x k (NaN without a reference)
    reference_groups: np.ndarray  # str, n x k

    @classmethod
    def combined(
        cls, parts: Sequence[tuple[np.ndarray, ReasonCodes]], rows: int, top_n: int = REASONS_PER_MODEL
    ) -> ReasonCodes:
        """The codes of several row subsets (row indices, their codes) as one table of `rows` rows;
        rows in no subset have no codes."""
        combined = cls(
            features=np.full((rows, top_n), "", dtype=object),
            present=np.zeros((rows, top_n), dtype=bool),
            contributions=np.full((rows, top_n), np.nan),
            values=np.full((rows, top_n), np.nan),
            value_texts=np.full((rows, top_n), None, dtype=object),
            reference_values=np.full((rows, top_n), np.nan),
            reference_groups=np.full((rows, top_n), ALL_CUSTOMERS, dtype=object),
        )
        for indices, codes in parts:
            for name in (
                "features",
                "present",
                "contributions",
                "values",
                "value_texts",
                "reference_values",
                "reference_groups",
            ):
                getattr(combined, name)[indices] = getattr(codes, name)
        return combined

    def row(self, index: int) -> list[dict[str, Any]]:
        """Row `index`'s codes as dictionaries of `REASON_FIELDS`, largest first."""
        codes = []
        for slot in np.flatnonzero(self.present[index]).tolist():
            contribution = float(self.contributions[index, slot])
            codes.append(
                {
                    "feature": str(self.features[index, slot]),
                    "value": _number(self.values[index, slot]),
                    "value_text": self.value_texts[index, slot],
                    "contribution": contribution,
                    "direction": "increases" if contribution > 0 else "decreases",
                    "reference_value": _number(self.reference_values[index, slot]),
                    "reference_group": str(self.reference_groups[index, slot]),
                }
            )
        return codes

    def to_series(self, name: str) -> pl.Series:
        """Every row's codes as one list-of-struct column (`REASON_DTYPE`), built from the arrays."""
        flat = self.present.ravel()
        offsets = np.concatenate([[0], np.cumsum(self.present.sum(axis=1))]).astype(np.int32)
        contributions = self.contributions.ravel()[flat]
        texts = self.value_texts.ravel()[flat]
        fields = [
            pa.array(self.features.ravel()[flat].astype(str), pa.string()),
            _nullable(self.values.ravel()[flat]),
            pa.array(texts.tolist(), pa.string()),
            pa.array(contributions),
            pa.array(np.where(contributions > 0, "increases", "decreases"), pa.string()),
            _nullable(self.reference_values.ravel()[flat]),
            pa.array(self.reference_groups.ravel()[flat].astype(str), pa.string()),
        ]
        structs = pa.StructArray.from_arrays(fields, names=list(REASON_FIELDS))
        series = pl.from_arrow(pa.ListArray.from_arrays(pa.array(offsets), structs))
        assert isinstance(series, pl.Series)
        return series.alias(name).cast(REASON_DTYPE)


def code_reasons(
    contributions: np.ndarray,
    names: Sequence[str],
    features: pl.DataFrame,
    tiers: Sequence[str] | np.ndarray,
    reference: Mapping[str, Any],
    top_n: int = REASONS_PER_MODEL,
) -> ReasonCodes:
    """The `top_n` reason codes of every row of `contributions` (rows of `features`, columns `names`)."""
    contributions = np.asarray(contributions, dtype=np.float64)
    if contributions.shape[1] != len(names):
        raise ValueError(
            f"the model gave {contributions.shape[1]} contributions per row for {len(names)} features"
        )
    rows = contributions.shape[0]
    usable = np.isfinite(contributions) & (contributions != 0)
    ranking_key = np.where(usable, np.abs(np.nan_to_num(contributions)), -1.0)
    order = np.argsort(-ranking_key, axis=1, kind="stable")[:, :top_n]
    present = np.take_along_axis(usable, order, axis=1)
    chosen = np.take_along_axis(contributions, order, axis=1)
    values = np.full(order.shape, np.nan)
    texts = np.full(order.shape, None, dtype=object)
    for column in np.unique(order[present]).tolist():
        selected = present & (order == column)
        row_index = np.nonzero(selected)[0]
        series = features.get_column(names[column])
        if series.dtype == pl.String:
            texts[selected] = np.asarray(series.to_list(), dtype=object)[row_index]
        else:
            values[selected] = series.cast(pl.Float64).to_numpy()[row_index]
    reference_values, groups = _references(order, present, names, np.asarray(tiers, dtype=object), reference)
    return ReasonCodes(
        features=np.asarray(names, dtype=object)[order] if rows else np.empty((0, top_n), dtype=object),
        present=present,
        contributions=np.where(present, chosen, np.nan),
        values=values,
        value_texts=texts,
        reference_values=reference_values,
        reference_groups=groups,
    )


def top_risk_drivers(contributions: np.ndarray, names: Sequence[str]) -> list[str | None]:
    """Per row, the feature with the largest positive churn contribution (ties: the last name in
    alphabetical order), or None when nothing raises the risk; non-finite contributions are ignored."""
    contributions = np.asarray(contributions, dtype=np.float64)
    if contributions.shape[0] == 0:
        return []
    finite = np.where(np.isfinite(contributions), contributions, -np.inf)
    largest = finite.max(axis=1)
    name_rank = np.argsort(np.argsort(np.asarray(names, dtype=str), kind="stable"), kind="stable")
    tied = np.where(finite == largest[:, None], name_rank[None, :], -1)
    leader = tied.argmax(axis=1)
    labels = np.asarray(names, dtype=object)[leader]
    return [str(name) if value > 0 else None for name, value in zip(labels, largest.tolist(), strict=True)]


def _references(
    order: np.ndarray,
    present: np.ndarray,
    names: Sequence[str],
    tiers: np.ndarray,
    reference: Mapping[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """The median each reason is compared with, and whose median it is (a tier, or all customers)."""
    by_tier = reference.get("tiers") or {}
    overall = (reference.get("overall") or {}).get("features", {})
    medians = np.full(order.shape, np.nan)
    groups = np.full(order.shape, ALL_CUSTOMERS, dtype=object)
    for tier in np.unique(tiers).tolist() if len(tiers) else []:
        in_tier = (tiers == tier)[:, None] & present
        stats = by_tier[tier].get("features", {}) if tier in by_tier else overall
        if tier in by_tier:
            groups[in_tier] = tier
        for column in np.unique(order[in_tier]).tolist():
            compared = COMPARED_WITH.get(names[column], names[column])
            median = (stats.get(compared) or {}).get("median")
            if median is not None:
                medians[in_tier & (order == column)] = float(median)
    return medians, groups


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _nullable(values: np.ndarray) -> pa.Array:
    return pa.array(values, mask=np.isnan(values))
