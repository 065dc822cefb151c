"""The retention playbook: which action each kind of customer gets, kept as data in a YAML file.

Policy changes (a threshold, a new rule, who owns a segment) are edits to `playbook.yaml`, reviewed
like code and validated at start-up, never constants in the API. A playbook holds

- ``churn_risk``: probability thresholds of the bands (``p >= high`` is high, ``p >= medium`` medium);
- ``lifecycle``: the silences after which a customer is dormant or lost (`serving.lifecycle`);
- ``rules``: tried in order, the first whose conditions all hold gives the action. A condition on
  ``tier``, ``churn_risk``, ``lifecycle_stage`` or ``top_reason`` (the feature raising churn risk the
  most) is a list of accepted values or ``any`` (the default). The last rule must match everyone.

An action's title, steps and success metric are catalogue keys (``action.<id>.title`` by default, so
the text exists in every language) or literal text. Rules are numbered from 1 in error messages.
The default segments follow common value-tier x churn-risk retention practice (e.g. Kumar & Reinartz,
"Customer Relationship Management", 3rd ed., ch. 8-9: spend retention effort in proportion to value).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from domain.errors import PlaybookError, UnknownFeatureError
from domain.vocabulary import LIFECYCLE_STAGES, RISK_BANDS, TIERS
from features.definitions import describe
from serving.explain import Catalogue, Catalogues
from serving.lifecycle import lifecycle_stage

DEFAULT_PLAYBOOK: Final = Path(__file__).parent / "playbook.yaml"
OWNERS: Final = ("account_manager", "sales_representative", "customer_service", "marketing")
ANY: Final = "any"
_CATALOGUE_KEY = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")


def _one_of(field: str, allowed: Sequence[str], values: list[str]) -> list[str]:
    for value in values:
        if value not in allowed:
            raise ValueError(f"{field} {value!r} is not one of {', '.join(allowed)}")
    return values


class Conditions(BaseModel):
    """When a rule applies: each field is a list of accepted values, or None for 'any'."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tier: list[str] | None = None
    churn_risk: list[str] | None = None
    lifecycle_stage: list[str] | None = None
    top_reason: list[str] | None = None

    @field_validator("tier", "churn_risk", "lifecycle_stage", "top_reason", mode="before")
    @classmethod
    def _any_or_list(cls, value: Any) -> Any:
        if value is None or value == ANY:
            return None
        if isinstance(value, str):
            return [value]
        return value

    @field_validator("tier")
    @classmethod
    def _known_tiers(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _one_of("tier", TIERS, value)

    @field_validator("churn_risk")
    @classmethod
    def _known_risks(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _one_of("churn_risk", RISK_BANDS, value)

    @field_validator("lifecycle_stage")
    @classmethod
    def _known_stages(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _one_of("lifecycle_stage", LIFECYCLE_STAGES, value)

    @field_validator("top_reason")
    @classmethod
    def _known_features(cls, value: list[str] | None) -> list[str] | None:
        """A misspelt feature would silently never match, so every name must be a defined feature."""
        for name in value or []:
            try:
                describe(name)
            except UnknownFeatureError:
                raise ValueError(
                    f"top_reason {name!r} is not a feature; see features/definitions.py for the names"
                ) from None
        return value

    @property
    def matches_everyone(self) -> bool:
        return all(getattr(self, name) is None for name in type(self).model_fields)

    def match(self, tier: str, churn_risk: str, lifecycle_stage: str, top_reason: str | None) -> bool:
        return (
            (self.tier is None or tier in self.tier)
            and (self.churn_risk is None or churn_risk in self.churn_risk)
            and (self.lifecycle_stage is None or lifecycle_stage in self.lifecycle_stage)
            and (self.top_reason is None or top_reason in self.top_reason)
        )


class LocalisedAction(BaseModel):
    """An action in one language, ready for a response or a web page."""

    id: str
    title: str
    steps: list[str]
    owner: str
    owner_label: str
    due_within_days: int
    success_metric: str


class Action(BaseModel):
    """What to do for a customer, who does it and by when; texts are catalogue keys or literal text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    owner: str
    due_within_days: int = Field(ge=1)
    title: str
    steps: list[str] | str
    success_metric: str

    @field_validator("owner")
    @classmethod
    def _known_owner(cls, value: str) -> str:
        return _one_of("owner", OWNERS, [value])[0]

    @model_validator(mode="before")
    @classmethod
    def _default_catalogue_keys(cls, data: Any) -> Any:
        """Missing texts default to ``action.<id>.title``, ``.steps`` (a list) and ``.success_metric``."""
        if isinstance(data, dict) and isinstance(data.get("id"), str):
            texts = ("title", "steps", "success_metric")
            defaults = {name: f"action.{data['id']}.{name}" for name in texts if not data.get(name)}
            return {**data, **defaults}
        return data

    def catalogue_keys(self) -> list[tuple[str, str]]:
        """(field, key) of every text given as a catalogue key, to check against the catalogues."""
        texts: list[tuple[str, str]] = [("title", self.title), ("success_metric", self.success_metric)]
        if isinstance(self.steps, str):
            texts.append(("steps", self.steps))
        else:
            texts += [(f"steps[{i}]", step) for i, step in enumerate(self.steps, start=1)]
        return [(field, text) for field, text in texts if _CATALOGUE_KEY.match(text)]

    def localised(self, catalogue: Catalogue) -> LocalisedAction:
        """The action with every text in the catalogue's language."""
        if isinstance(self.steps, str):
            steps = catalogue.texts(self.steps) if self.steps in catalogue.entries else [self.steps]
        else:
            steps = [catalogue.resolve(step) for step in self.steps]
        return LocalisedAction(
            id=self.id,
            title=catalogue.resolve(self.title),
            steps=steps,
            owner=self.owner,
            owner_label=catalogue.text(f"owner.{self.owner}"),
            due_within_days=self.due_within_days,
            success_metric=catalogue.resolve(self.success_metric),
        )


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    description: str = ""
    when: Conditions = Field(default_factory=Conditions)
    action: Action


class ChurnRiskThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    medium: float = Field(gt=0, lt=1)
    high: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> ChurnRiskThresholds:
        if self.medium >= self.high:
            raise ValueError(f"churn_risk medium ({self.medium}) must be below high ({self.high})")
        return self


class LifecycleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dormant_after_days: int = Field(default=180, ge=1)
    lost_after_days: int = Field(default=365, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleSettings:
        if self.dormant_after_days >= self.lost_after_days:
            raise ValueError(
                f"lifecycle dormant_after_days ({self.dormant_after_days}) must be below "
                f"lost_after_days ({self.lost_after_days})"
            )
        return self


class Playbook(BaseModel):
    """A validated playbook; load once at start-up with `Playbook.load` and share (it is immutable)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    churn_risk_thresholds: ChurnRiskThresholds = Field(alias="churn_risk")
    lifecycle: LifecycleSettings = Field(default_factory=LifecycleSettings)
    rules: list[Rule] = Field(min_length=1)

    @classmethod
    def load(cls, path: Path = DEFAULT_PLAYBOOK, catalogues: Catalogues | None = None) -> Playbook:
        """Read and validate `path`; with `catalogues`, also check every text key exists in each language."""
        path = Path(path)
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise PlaybookError(f"cannot read playbook {path}: {error}") from error
        if not isinstance(document, dict):
            raise PlaybookError(f"{path.name}: a playbook is a mapping with churn_risk, lifecycle and rules")
        try:
            playbook = cls.model_validate(document)
        except ValidationError as error:
            raise PlaybookError(_describe_errors(path.name, document, error)) from None
        playbook._check_rule_order(path.name)
        if catalogues is not None:
            playbook.check_texts(catalogues, path.name)
        return playbook

    def _check_rule_order(self, file_name: str) -> None:
        seen: set[str] = set()
        for number, rule in enumerate(self.rules, start=1):
            if rule.id in seen:
                raise PlaybookError(f"{file_name} rule {number} {rule.id!r}: id is used by an earlier rule")
            seen.add(rule.id)
            if rule.when.matches_everyone and number < len(self.rules):
                raise PlaybookError(
                    f"{file_name} rule {number} {rule.id!r}: when matches every customer, so the rules "
                    "after it never apply; make it the last rule"
                )
        last = self.rules[-1]
        if not last.when.matches_everyone:
            raise PlaybookError(
                f"{file_name} rule {len(self.rules)} {last.id!r}: the last rule must be a catch-all "
                "(every condition 'any') so every customer gets an action; add one at the end"
            )

    def check_texts(self, catalogues: Catalogues, file_name: str = DEFAULT_PLAYBOOK.name) -> None:
        """Every catalogue key an action uses must exist in every language."""
        for number, rule in enumerate(self.rules, start=1):
            for field, key in rule.action.catalogue_keys():
                for catalogue in catalogues.by_language.values():
                    if key not in catalogue.entries:
                        raise PlaybookError(
                            f"{file_name} rule {number} {rule.id!r}: action {field} key {key!r} is missing "
                            f"from catalogue {catalogue.source.name}"
                        )

    def churn_risk(self, probability: float) -> str:
        """The risk band of a churn probability: high, medium or low."""
        if math.isnan(probability):
            raise ValueError("churn probability is NaN; the model returned no probability")
        if probability >= self.churn_risk_thresholds.high:
            return "high"
        if probability >= self.churn_risk_thresholds.medium:
            return "medium"
        return "low"

    def churn_risk_expr(self, probability: str | pl.Expr = "churn_probability") -> pl.Expr:
        """`churn_risk` as a polars expression over a probability column, for batch scoring."""
        p = pl.col(probability) if isinstance(probability, str) else probability
        thresholds = self.churn_risk_thresholds
        return (
            pl.when(p >= thresholds.high)
            .then(pl.lit("high"))
            .when(p >= thresholds.medium)
            .then(pl.lit("medium"))
            .when(p.is_not_null() & p.is_not_nan())
            .then(pl.lit("low"))
            .alias("churn_risk")
        )

    def lifecycle_stage(self, features: Any, churn_probability: float) -> str:
        """`serving.lifecycle.lifecycle_stage` with this playbook's risk bands and silences."""
        return lifecycle_stage(
            features,
            churn_probability,
            self.churn_risk(churn_probability),
            self.lifecycle.dormant_after_days,
            self.lifecycle.lost_after_days,
        )

    def recommend(
        self, tier: str, churn_risk: str, lifecycle_stage: str, top_reason: str | None = None
    ) -> Action:
        """The action of the first rule whose conditions all hold (the catch-all guarantees one)."""
        return self.matching_rule(tier, churn_risk, lifecycle_stage, top_reason).action

    def matching_rule(
        self, tier: str, churn_risk: str, lifecycle_stage: str, top_reason: str | None = None
    ) -> Rule:
        for rule in self.rules:
            if rule.when.match(tier, churn_risk, lifecycle_stage, top_reason):
                return rule
        return self.rules[-1]

    def action_ids(self, frame: pl.DataFrame) -> pl.Series:
        """Action id per row of a frame with tier, churn_risk, lifecycle_stage and top_reason columns.

        Each distinct combination is looked up once, so 100k rows cost a few hundred rule walks.
        """
        keys = ["tier", "churn_risk", "lifecycle_stage", "top_reason"]
        combinations = frame.select(keys).unique()
        lookup = combinations.with_columns(
            pl.Series(
                "action_id",
                [self.recommend(*row).id for row in combinations.iter_rows()],
                dtype=pl.String,
            )
        )
        return frame.select(keys).join(lookup, on=keys, how="left", nulls_equal=True)["action_id"]


def _describe_errors(file_name: str, document: dict[str, Any], error: ValidationError) -> str:
    """Pydantic's errors rewritten to name the rule (number and id) and the field, one per line."""
    raw_rules = document.get("rules")
    rules: list[Any] = raw_rules if isinstance(raw_rules, list) else []
    lines = []
    for detail in error.errors():
        location = list(detail["loc"])
        context = detail.get("ctx") or {}
        message = str(context["error"]) if "error" in context else detail["msg"]
        where = file_name
        if len(location) >= 2 and location[0] == "rules" and isinstance(location[1], int):
            index = location[1]
            raw = rules[index] if index < len(rules) else {}
            rule_id = raw.get("id", "?") if isinstance(raw, dict) else "?"
            where = f"{file_name} rule {index + 1} {rule_id!r}"
            location = location[2:]
        field = ".".join(str(part) for part in location)
        named = not location or message.startswith(str(location[-1]))
        lines.append(f"{where}: {message}" if named else f"{where}: {field}: {message}")
    return "\n".join(lines)
