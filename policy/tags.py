"""Tags as policy: behaviour and need labels a playbook gives customers, from their features.

Small-customer practice sorts customers by behaviour ("browsing", "buying", "interacting" types) and
segment strategy by need ("price-sensitive", "service-dependent", "quality-oriented"), and expects a
CRM to tag automatically and keep tags current. A playbook's ``tags:`` section defines each tag as data:

- ``id`` (snake case, the code stored in snapshots and answered by the API) and ``kind`` (behaviour or
  need); its label and description are catalogue keys, ``tag.<id>.label`` and ``tag.<id>.description``
  by default, so the words exist in every language;
- ``when``: ``population`` and ``lifecycle_stage`` (lists of accepted codes, or ``any``, as in the
  rules), ``features`` (every threshold must hold) and ``any_features`` (at least one must hold);
- a threshold on a numeric feature is ``at_least`` / ``at_most`` (absolute, inclusive), or
  ``above_quantile`` / ``below_quantile`` (strictly beyond the base's quantile), or both: "well above
  the base" is ``{above_quantile: 0.9, at_least: 2}``, above nine customers in ten *and* at least two;
- ``requires``: feature columns that exist only when the data carry them (e.g. discount or coupon
  data); a tag whose required columns the model pair was not trained with is never given.

Relative thresholds are quantiles of the base *as the model pair saw it*: the deciles of every feature
over every customer at the data end, computed at training time and stored with the pair as its
reference distribution (`model_contract.distribution`, inverted-CDF quantiles, Hyndman & Fan 1996
definition 1). `resolve_tags` turns them into absolute numbers once, when a predictor is built, so one
API request and a whole base get the same tags, and a tag moves only when a new pair is trained.
Quantiles are therefore deciles (0.1 ... 0.9). Ratios to a base median were not chosen: the medians of
most interaction counts are 0, and a ratio to 0 says nothing.

A missing feature value (null) never meets a threshold. Tags are computed over arrays (`TagRules.assign`),
the same code for one customer or a million; rules may ask for tags in their ``when`` (`policy.playbook`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.errors import PlaybookError, UnknownFeatureError
from domain.vocabulary import LIFECYCLE_STAGES, POPULATIONS, TagKind
from features.definitions import describe

logger = logging.getLogger(__name__)

DECILES: Final = tuple(round(k / 10, 1) for k in range(1, 10))
"""The quantiles a relative threshold may use: those the pair's reference distribution stores."""
_QUANTILE_TOLERANCE: Final = 1e-9


def _codes(field: str, allowed: Sequence[str], value: Any) -> list[str] | None:
    """``any`` or None for every code, a code or a list of codes each checked against `allowed`."""
    if value is None or value == "any":
        return None
    values = [value] if isinstance(value, str) else value
    for code in values:
        if code not in allowed:
            raise ValueError(f"{field} {code!r} is not one of {', '.join(allowed)}")
    return list(values)


class Threshold(BaseModel):
    """Bounds on one numeric feature; every bound given must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at_least: float | None = None
    at_most: float | None = None
    above_quantile: float | None = None
    below_quantile: float | None = None

    @field_validator("above_quantile", "below_quantile")
    @classmethod
    def _decile(cls, value: float | None) -> float | None:
        if value is not None and not any(math.isclose(value, q) for q in DECILES):
            raise ValueError(
                f"quantile {value} is not a decile (0.1, 0.2, ... 0.9), the quantiles the model pair stores"
            )
        return value

    @model_validator(mode="after")
    def _some_bound(self) -> Threshold:
        if all(
            bound is None for bound in (self.at_least, self.at_most, self.above_quantile, self.below_quantile)
        ):
            raise ValueError("give at least one of at_least, at_most, above_quantile, below_quantile")
        return self

    @property
    def quantiles(self) -> tuple[float, ...]:
        return tuple(q for q in (self.above_quantile, self.below_quantile) if q is not None)


class TagConditions(BaseModel):
    """When a customer carries a tag: population and stage codes, and feature thresholds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    population: list[str] | None = None
    lifecycle_stage: list[str] | None = None
    features: dict[str, Threshold] = Field(default_factory=dict)
    any_features: dict[str, Threshold] = Field(default_factory=dict)

    @field_validator("population", mode="before")
    @classmethod
    def _populations(cls, value: Any) -> list[str] | None:
        return _codes("population", POPULATIONS, value)

    @field_validator("lifecycle_stage", mode="before")
    @classmethod
    def _stages(cls, value: Any) -> list[str] | None:
        return _codes("lifecycle_stage", LIFECYCLE_STAGES, value)

    @model_validator(mode="after")
    def _something(self) -> TagConditions:
        if not self.features and not self.any_features:
            raise ValueError("a tag needs features or any_features: which behaviour or need it describes")
        return self

    @property
    def feature_names(self) -> list[str]:
        return [*self.features, *(name for name in self.any_features if name not in self.features)]


class Tag(BaseModel):
    """One tag of the playbook (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    kind: TagKind
    label: str
    description: str
    requires: list[str] = Field(default_factory=list)
    when: TagConditions

    @model_validator(mode="before")
    @classmethod
    def _default_catalogue_keys(cls, data: Any) -> Any:
        """Missing texts default to ``tag.<id>.label`` and ``tag.<id>.description``."""
        if isinstance(data, dict) and isinstance(data.get("id"), str):
            defaults = {
                name: f"tag.{data['id']}.{name}" for name in ("label", "description") if not data.get(name)
            }
            return {**data, **defaults}
        return data

    @model_validator(mode="after")
    def _numeric_features(self) -> Tag:
        """A misspelt feature would silently never match: each must be a defined numeric feature, or a
        column the tag `requires` (one that only some data carry)."""
        for name in self.when.feature_names:
            if name in self.requires:
                continue
            try:
                spec = describe(name)
            except UnknownFeatureError:
                raise ValueError(
                    f"when feature {name!r} is not a feature (see features/definitions.py); a column only "
                    "some data carry must be listed in requires"
                ) from None
            if spec.kind != "numeric":
                raise ValueError(f"when feature {name!r} is not numeric, so it has no threshold")
        return self

    def catalogue_keys(self) -> list[tuple[str, str]]:
        """(field, key) of the tag's texts, to check against the catalogues."""
        return [("label", self.label), ("description", self.description)]


@dataclass(frozen=True)
class _Bound:
    feature: str
    operator: str  # ">=", "<=", ">", "<"
    value: float


@dataclass(frozen=True)
class ResolvedTag:
    """A tag with its quantiles turned into the pair's numbers; `enabled` is False when the pair's data
    lack a column the tag requires."""

    tag: Tag
    every: tuple[_Bound, ...]
    any: tuple[tuple[_Bound, ...], ...]
    enabled: bool

    @property
    def id(self) -> str:
        return self.tag.id

    @property
    def thresholds(self) -> dict[str, list[tuple[str, float]]]:
        """Every bound as (operator, value) per feature, for the model card and the tests."""
        found: dict[str, list[tuple[str, float]]] = {}
        for bound in (*self.every, *(b for group in self.any for b in group)):
            found.setdefault(bound.feature, []).append((bound.operator, bound.value))
        return found


def quantile_from_reference(entry: Mapping[str, Any], q: float) -> float | None:
    """The q-quantile of a numeric reference entry (`model_contract.distribution`), or None when the
    reference saw no value.

    The edges are the reference's inverted-CDF deciles with repeats collapsed, and the share of values
    at or below edge j is the sum of the shares of bins 0..j; the q-quantile is the smallest edge whose
    share among non-missing values reaches q (Hyndman & Fan 1996, definition 1).
    """
    edges = [float(edge) for edge in entry.get("edges", [])]
    if not edges:
        return None
    present = 1.0 - float(entry.get("missing_share", 0.0))
    shares = [float(share) for share in entry["shares"]]
    cumulative = 0.0
    for edge, share in zip(edges, shares, strict=False):
        cumulative += share
        if present > 0 and cumulative / present >= q - _QUANTILE_TOLERANCE:
            return edge
    return edges[-1]


def resolve_tags(
    tags: Sequence[Tag],
    reference_distribution: Mapping[str, Any],
    feature_names: Sequence[str],
    source: str = "the model pair",
) -> tuple[ResolvedTag, ...]:
    """Every tag with absolute bounds, its quantiles read from the pair's reference distribution.

    Raises
    ------
    PlaybookError: a tag asks for a quantile of a feature the pair has no numeric reference for
        (retrain, or give an absolute bound).
    """
    references: Mapping[str, Any] = (
        reference_distribution.get("features", {}) if reference_distribution else {}
    )
    available = set(feature_names)
    resolved = []
    for tag in tags:
        missing = [name for name in tag.requires if name not in available]
        if missing:
            logger.info(
                "tag %s: %s trained without %s (data the tag requires), so no customer gets it",
                tag.id,
                source,
                ", ".join(missing),
            )
            resolved.append(ResolvedTag(tag, (), (), enabled=False))
            continue

        def bounds(name: str, threshold: Threshold, tag: Tag = tag) -> tuple[_Bound, ...]:
            found = []
            if threshold.at_least is not None:
                found.append(_Bound(name, ">=", threshold.at_least))
            if threshold.at_most is not None:
                found.append(_Bound(name, "<=", threshold.at_most))
            for operator, q in ((">", threshold.above_quantile), ("<", threshold.below_quantile)):
                if q is None:
                    continue
                entry = references.get(name)
                if entry is None or entry.get("kind") != "numeric":
                    raise PlaybookError(
                        f"tag {tag.id!r} when feature {name!r}: {source} stores no reference distribution of "
                        f"{name}, so its {q} quantile is unknown; retrain (`clvchurn train`) or give at_least/at_most"
                    )
                value = quantile_from_reference(entry, q)
                # A feature the base never had: nobody is beyond its quantile.
                found.append(
                    _Bound(name, operator, math.inf if operator == ">" else -math.inf)
                    if value is None
                    else _Bound(name, operator, value)
                )
            return tuple(found)

        every = tuple(b for name, threshold in tag.when.features.items() for b in bounds(name, threshold))
        any_of = tuple(bounds(name, threshold) for name, threshold in tag.when.any_features.items())
        resolved.append(ResolvedTag(tag, every, any_of, enabled=True))
    return tuple(resolved)


@dataclass(frozen=True)
class TagAssignment:
    """Which tags each row carries: a boolean column per tag, in the playbook's order."""

    ids: tuple[str, ...]
    masks: np.ndarray  # rows x tags, bool

    @classmethod
    def empty(cls, rows: int) -> TagAssignment:
        return cls((), np.zeros((rows, 0), dtype=bool))

    def row(self, index: int) -> list[str]:
        """The codes of row `index`, in the playbook's order."""
        return [tag for tag, has in zip(self.ids, self.masks[index], strict=True) if has]

    def sets(self) -> list[frozenset[str]]:
        """Each row's codes as a set (rows with the same tags share one object)."""
        if not self.ids:
            return [frozenset()] * self.masks.shape[0]
        bits = self.masks.astype(np.int64) @ (1 << np.arange(len(self.ids), dtype=np.int64))
        sets: dict[int, frozenset[str]] = {}
        found = []
        for value in bits.tolist():
            codes = sets.get(value)
            if codes is None:
                codes = sets[value] = frozenset(t for k, t in enumerate(self.ids) if value >> k & 1)
            found.append(codes)
        return found

    def to_series(self, name: str = "tags") -> pl.Series:
        """Every row's codes as a list column (an empty list for a row without tags)."""
        rows = self.masks.shape[0]
        if not self.ids:
            return pl.Series(name, [[]] * rows, dtype=pl.List(pl.String))
        flags = pl.DataFrame({tag: self.masks[:, k] for k, tag in enumerate(self.ids)})
        codes = flags.select(
            pl.concat_list([pl.when(pl.col(tag)).then(pl.lit(tag)) for tag in self.ids])
            .list.drop_nulls()
            .alias(name)
        )
        return codes.to_series()


class TagRules:
    """The playbook's tags resolved for one model pair; `assign` tags a feature table."""

    def __init__(self, resolved: Sequence[ResolvedTag]) -> None:
        self.resolved = tuple(resolved)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(tag.id for tag in self.resolved)

    def assign(self, features: pl.DataFrame, populations: np.ndarray, stages: np.ndarray) -> TagAssignment:
        """The tags of every row of `features` (with its population and stage), over whole columns."""
        rows = features.height
        masks = np.zeros((rows, len(self.resolved)), dtype=bool)
        columns: dict[str, np.ndarray] = {}

        def values(name: str) -> np.ndarray:
            if name not in columns:
                columns[name] = (
                    features.get_column(name).cast(pl.Float64).to_numpy()
                    if name in features.columns
                    else np.full(rows, np.nan)
                )
            return columns[name]

        def holds(bound: _Bound) -> np.ndarray:
            column = values(bound.feature)
            with np.errstate(invalid="ignore"):
                return _OPERATORS[bound.operator](column, bound.value)

        for k, resolved in enumerate(self.resolved):
            if not resolved.enabled or rows == 0:
                continue
            conditions = resolved.tag.when
            mask = np.ones(rows, dtype=bool)
            if conditions.population is not None:
                mask &= np.isin(populations, conditions.population)
            if conditions.lifecycle_stage is not None:
                mask &= np.isin(stages, conditions.lifecycle_stage)
            for bound in resolved.every:
                mask &= holds(bound)
            if resolved.any:
                either = np.zeros(rows, dtype=bool)
                for group in resolved.any:
                    met = np.ones(rows, dtype=bool)
                    for bound in group:
                        met &= holds(bound)
                    either |= met
                mask &= either
            masks[:, k] = mask
        return TagAssignment(self.ids, masks)


_OPERATORS = {
    ">=": np.greater_equal,
    "<=": np.less_equal,
    ">": np.greater,
    "<": np.less,
}
