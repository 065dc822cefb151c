"""The retention playbook: which action each kind of customer gets, kept as data in a YAML file.

Policy changes (a threshold, a new rule, who owns a segment) are edits to `playbook.yaml`, reviewed
like code and validated at start-up, never constants in the API. A playbook holds

- ``churn_risk``: probability thresholds of the bands (``p >= high`` is high, ``p >= medium`` medium),
  for active customers (the only ones with a churn probability);
- ``tiers``: the shares of active customers in tiers A, B and C (or thresholds in currency) that
  training fits the cut-points with, and minimum orders in the last 365 days per tier (`policy.tiers`);
- ``lifecycle``: the silences and counts of the lifecycle stages (`policy.lifecycle`);
  ``dormant_after_days`` is also the lookback that separates active from lapsed customers
  (`features.populations`), so the populations and the stages agree;
- ``rules``: tried in order, the first whose conditions all hold gives the action. A condition on
  ``tier``, ``population``, ``churn_risk``, ``lifecycle_stage`` or ``top_reason`` (the feature that
  pushes the customer away the most: raising churn, or lowering reactivation or conversion) is a list
  of accepted values or ``any`` (the default); ``min_probability`` asks for the population's probability
  (churn, reactivation or conversion) to be at least a value; ``tags`` asks for at least one of the
  listed tags (`policy.tags`). The last rule must match everyone.
- ``tags``: behaviour and need tags, each a condition over features, population and stage
  (`policy.tags`), validated here with errors that name the tag (numbered from 1) and field.

A rule may keep a random control group (``control_share``, `policy.experiments`): those customers get the
playbook's ``hold_out`` action instead, so that the action's effect can be measured. An action may say
how its success is counted and the target rate (``success``) and what one contact costs (``cost``);
``choose_by: value_saved`` picks, among the actions of every rule a customer matches, the one with the
largest positive expected value saved by its uplift model (`serving.predictor`).

An action's title, steps and success metric are catalogue keys (``action.<id>.title`` by default, so
the text exists in every language) or literal text; the serving layer renders them in the reader's
language (`serving.text`). Decisions are codes: a rule id and an action id per customer. Every rule is
evaluated by one implementation over arrays, for one API request and a whole base alike. Rules are
numbered from 1 in error messages.
The default segments follow common value-tier x churn-risk retention practice (e.g. Kumar & Reinartz,
"Customer Relationship Management", 3rd ed., ch. 8-9: spend retention effort in proportion to value).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from domain.errors import PlaybookError, UnknownFeatureError
from domain.vocabulary import (
    HOLD_OUT_ACTION,
    LIFECYCLE_STAGES,
    POPULATIONS,
    RISK_BANDS,
    TIERS,
    ChooseBy,
    SuccessMetric,
)
from features.definitions import describe
from policy.lifecycle import INTENT_WINDOWS_DAYS, StageThresholds, lifecycle_stages
from policy.tags import Tag
from policy.tiers import TierPolicy

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
    population: list[str] | None = None
    churn_risk: list[str] | None = None
    lifecycle_stage: list[str] | None = None
    top_reason: list[str] | None = None
    min_probability: float | None = Field(default=None, ge=0, le=1)
    tags: list[str] | None = None

    @field_validator(
        "tier", "population", "churn_risk", "lifecycle_stage", "top_reason", "tags", mode="before"
    )
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

    @field_validator("population")
    @classmethod
    def _known_populations(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _one_of("population", POPULATIONS, value)

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

    def match(self, situation: Situation, probability_at_least: Mapping[float, bool]) -> bool:
        """Whether every condition holds; `probability_at_least[t]` says whether the probability is >= t."""
        return (
            (self.tier is None or situation.tier in self.tier)
            and (self.population is None or situation.population in self.population)
            and (self.churn_risk is None or situation.churn_risk in self.churn_risk)
            and (self.lifecycle_stage is None or situation.lifecycle_stage in self.lifecycle_stage)
            and (self.top_reason is None or situation.top_reason in self.top_reason)
            and (self.min_probability is None or probability_at_least[self.min_probability])
            and (self.tags is None or not situation.tags.isdisjoint(self.tags))
        )


@dataclass(frozen=True)
class Situation:
    """What the rules of one customer read, besides the probability (codes only)."""

    tier: str
    population: str
    churn_risk: str | None
    lifecycle_stage: str
    top_reason: str | None
    tags: frozenset[str] = frozenset()


class Success(BaseModel):
    """How an action's success is counted in the window after assignment, and the rate it aims for.

    `order_within_days`: an order in the `days` after assignment; `net_spend_within_days`: net spend of
    at least `min_amount` in them; `renewal`: net spend in them at least that of the same-length window
    before assignment, and positive (`policy.outcomes`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: SuccessMetric = "order_within_days"
    days: int = Field(default=60, ge=1, le=730)
    target: float | None = Field(default=None, ge=0, le=1)
    min_amount: float = Field(default=0.0, ge=0)


class Action(BaseModel):
    """What to do for a customer, who does it and by when; texts are catalogue keys or literal text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    owner: str
    due_within_days: int = Field(ge=1)
    title: str
    steps: list[str] | str
    success_metric: str
    success: Success | None = None
    cost: float = Field(default=0.0, ge=0, description="What one contact costs, in the data's currency.")

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


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    description: str = ""
    when: Conditions = Field(default_factory=Conditions)
    action: Action
    control_share: float = Field(
        default=0.0, ge=0, lt=1, description="Share of the rule's customers held out as a control group."
    )


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
    """The thresholds of the lifecycle stages (`policy.lifecycle`), in days and orders."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dormant_after_days: int = Field(default=180, ge=1)
    lost_after_days: int = Field(default=365, ge=1)
    new_customer_days: int = Field(default=90, ge=1)
    loyal_tenure_days: int = Field(default=365, ge=1)
    loyal_orders_365d: int = Field(default=4, ge=1)
    intent_window_days: int = 90
    intent_min_inquiries: int = Field(default=1, ge=1)
    intent_min_contacts: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleSettings:
        if self.dormant_after_days >= self.lost_after_days:
            raise ValueError(
                f"lifecycle dormant_after_days ({self.dormant_after_days}) must be below "
                f"lost_after_days ({self.lost_after_days})"
            )
        if self.intent_window_days not in INTENT_WINDOWS_DAYS:
            raise ValueError(
                f"lifecycle intent_window_days ({self.intent_window_days}) must be one of "
                f"{', '.join(map(str, INTENT_WINDOWS_DAYS))}, the windows interactions are counted over"
            )
        return self

    @property
    def lookback_days(self) -> int:
        """The silence that separates active from lapsed customers: the dormant stage's."""
        return self.dormant_after_days

    def thresholds(self) -> StageThresholds:
        return StageThresholds(
            dormant_after_days=self.dormant_after_days,
            lost_after_days=self.lost_after_days,
            new_customer_days=self.new_customer_days,
            loyal_tenure_days=self.loyal_tenure_days,
            loyal_orders_365d=self.loyal_orders_365d,
            intent_window_days=self.intent_window_days,
            intent_min_inquiries=self.intent_min_inquiries,
            intent_min_contacts=self.intent_min_contacts,
        )


@dataclass(frozen=True)
class Decisions:
    """The rule that applied to each customer and the action it gives, as codes in row order."""

    rule_ids: list[str]
    action_ids: list[str]


def _default_hold_out() -> Action:
    return Action(
        id=HOLD_OUT_ACTION,
        owner="account_manager",
        due_within_days=1,
        title="loop.hold_out.title",
        steps="loop.hold_out.steps",
        success_metric="loop.hold_out.success_metric",
    )


class Playbook(BaseModel):
    """A validated playbook; load once at start-up with `Playbook.load` and share (it is immutable)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 2
    churn_risk_thresholds: ChurnRiskThresholds = Field(alias="churn_risk")
    tiers: TierPolicy = Field(default_factory=TierPolicy)
    lifecycle: LifecycleSettings = Field(default_factory=LifecycleSettings)
    rules: list[Rule] = Field(min_length=1)
    choose_by: ChooseBy = "rule"
    hold_out: Action = Field(default_factory=_default_hold_out)

    tags: list[Tag] = Field(default_factory=list)

    @classmethod
    def load(
        cls, path: Path = DEFAULT_PLAYBOOK, catalogue_keys: Mapping[str, Collection[str]] | None = None
    ) -> Playbook:
        """Read and validate `path`; with `catalogue_keys` (catalogue file name -> its keys), also check
        that every text key exists in each catalogue."""
        path = Path(path)
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise PlaybookError(f"cannot read playbook {path}: {error}") from error
        if not isinstance(document, dict):
            raise PlaybookError(
                f"{path.name}: a playbook is a mapping with churn_risk, tiers, lifecycle and rules"
            )
        try:
            playbook = cls.model_validate(document)
        except ValidationError as error:
            raise PlaybookError(_describe_errors(path.name, document, error)) from None
        playbook._check_rule_order(path.name)
        playbook._check_actions(path.name)
        playbook._check_hold_out(path.name)

        playbook._check_tags(path.name)
        if catalogue_keys is not None:
            playbook.check_texts(catalogue_keys, path.name)
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

    def _check_actions(self, file_name: str) -> None:
        """An action id names one action: rules that share it must define it the same way."""
        seen: dict[str, tuple[int, Rule]] = {}
        for number, rule in enumerate(self.rules, start=1):
            first = seen.setdefault(rule.action.id, (number, rule))
            if first[1].action != rule.action:
                raise PlaybookError(
                    f"{file_name} rule {number} {rule.id!r}: action {rule.action.id!r} is defined differently "
                    f"in rule {first[0]} {first[1].id!r}; give one of them another id"
                )

    def _check_hold_out(self, file_name: str) -> None:
        """`hold_out` is the control group's action: no rule may give it, and it keeps its id."""
        if self.hold_out.id != HOLD_OUT_ACTION:
            raise PlaybookError(
                f"{file_name} hold_out: its id must be {HOLD_OUT_ACTION!r}, not {self.hold_out.id!r}"
            )
        for number, rule in enumerate(self.rules, start=1):
            if rule.action.id == HOLD_OUT_ACTION:
                raise PlaybookError(
                    f"{file_name} rule {number} {rule.id!r}: action id {HOLD_OUT_ACTION!r} is the control "
                    "group's; hold customers out with control_share instead"
                )

    def _check_tags(self, file_name: str) -> None:
        """Tag ids are unique, and a rule asks only for tags this playbook defines."""
        seen: set[str] = set()
        for number, tag in enumerate(self.tags, start=1):
            if tag.id in seen:
                raise PlaybookError(f"{file_name} tag {number} {tag.id!r}: id is used by an earlier tag")
            seen.add(tag.id)
        for number, rule in enumerate(self.rules, start=1):
            for tag_id in rule.when.tags or []:
                if tag_id not in seen:
                    defined = ", ".join(sorted(seen)) or "none"
                    raise PlaybookError(
                        f"{file_name} rule {number} {rule.id!r}: tags {tag_id!r} is not a tag of this playbook "
                        f"(defined: {defined})"
                    )

    def check_texts(self, catalogue_keys: Mapping[str, Collection[str]], file_name: str = "") -> None:
        """Every catalogue key an action uses must exist in every catalogue (file name -> its keys)."""
        file_name = file_name or DEFAULT_PLAYBOOK.name
        for number, rule in enumerate(self.rules, start=1):
            for field, key in rule.action.catalogue_keys():
                for catalogue, keys in catalogue_keys.items():
                    if key not in keys:
                        raise PlaybookError(
                            f"{file_name} rule {number} {rule.id!r}: action {field} key {key!r} is missing "
                            f"from catalogue {catalogue}"
                        )
        for field, key in self.hold_out.catalogue_keys():
            for catalogue, keys in catalogue_keys.items():
                if key not in keys:
                    raise PlaybookError(
                        f"{file_name} hold_out: {field} key {key!r} is missing from catalogue {catalogue}"
                    )

        for number, tag in enumerate(self.tags, start=1):
            for field, key in tag.catalogue_keys():
                for catalogue, keys in catalogue_keys.items():
                    if _CATALOGUE_KEY.match(key) and key not in keys:
                        raise PlaybookError(
                            f"{file_name} tag {number} {tag.id!r}: {field} key {key!r} is missing from "
                            f"catalogue {catalogue}"
                        )

    def churn_risks(self, probabilities: npt.ArrayLike) -> np.ndarray:
        """The risk band (high, medium or low) of each churn probability, as an object array; None
        where there is no churn probability (NaN: a lapsed customer or a prospect)."""
        p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
        thresholds = self.churn_risk_thresholds
        bands = np.where(p >= thresholds.high, 2, np.where(p >= thresholds.medium, 1, 0))
        risks = _RISK_NAMES[bands]
        risks[np.isnan(p)] = None
        return risks

    def lifecycle_stages(self, features: pl.DataFrame | Mapping[str, Any], churn_risks: Any) -> np.ndarray:
        """`policy.lifecycle.lifecycle_stages` with this playbook's thresholds."""
        return lifecycle_stages(features, churn_risks, self.lifecycle.thresholds())

    def decide(
        self,
        tiers: Sequence[str] | np.ndarray,
        populations: Sequence[str] | np.ndarray,
        churn_risks: Sequence[str | None] | np.ndarray,
        lifecycle_stages: Sequence[str] | np.ndarray,
        top_reasons: Sequence[str | None] | np.ndarray,
        probabilities: npt.ArrayLike,
        tags: Sequence[frozenset[str]] | None = None,
    ) -> Decisions:
        """For each customer, the first rule whose conditions all hold and its action (the catch-all
        guarantees one). `probabilities` is each customer's population probability, `tags` each
        customer's tag codes (`policy.tags.TagAssignment.sets`). Each distinct combination of codes,
        tags and thresholds met is matched once, so a base costs a few hundred rule walks."""
        thresholds = sorted(
            {rule.when.min_probability for rule in self.rules if rule.when.min_probability is not None}
        )
        p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
        met = [tuple(bool(value >= t) for t in thresholds) for value in p.tolist()] if thresholds else None
        # Tags join the key only when a rule reads them, so a playbook without tag rules pays nothing.
        row_tags = tags if tags is not None and any(rule.when.tags for rule in self.rules) else None
        found: dict[tuple[object, ...], Rule] = {}
        rule_ids: list[str] = []
        action_ids: list[str] = []
        rows = zip(tiers, populations, churn_risks, lifecycle_stages, top_reasons, strict=True)
        for index, codes in enumerate(rows):
            customer_tags = _NO_TAGS if row_tags is None else row_tags[index]
            key = (*codes, customer_tags) if met is None else (*codes, customer_tags, met[index])
            rule = found.get(key)
            if rule is None:
                situation = Situation(*codes, tags=customer_tags)  # type: ignore[arg-type]
                at_least = dict(zip(thresholds, met[index] if met is not None else (), strict=True))
                rule = found[key] = self._first_match(situation, at_least)
            rule_ids.append(rule.id)
            action_ids.append(rule.action.id)
        return Decisions(rule_ids, action_ids)

    def allowed(
        self,
        tiers: Sequence[str] | np.ndarray,
        populations: Sequence[str] | np.ndarray,
        churn_risks: Sequence[str | None] | np.ndarray,
        lifecycle_stages: Sequence[str] | np.ndarray,
        top_reasons: Sequence[str | None] | np.ndarray,
        probabilities: npt.ArrayLike,
    ) -> list[tuple[tuple[str, str], ...]]:
        """For each customer, (rule id, action id) of every rule whose conditions all hold, in rule
        order, each action once (its first rule): the actions `choose_by: value_saved` chooses among.
        The first pair is `decide`'s."""
        thresholds = sorted(
            {rule.when.min_probability for rule in self.rules if rule.when.min_probability is not None}
        )
        p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
        found: dict[tuple[object, ...], tuple[tuple[str, str], ...]] = {}
        allowed = []
        rows = zip(tiers, populations, churn_risks, lifecycle_stages, top_reasons, strict=True)
        for index, codes in enumerate(rows):
            met = tuple(bool(p[index] >= t) for t in thresholds)
            key = (*codes, met)
            pairs = found.get(key)
            if pairs is None:
                situation = Situation(*codes)  # type: ignore[arg-type]
                at_least = dict(zip(thresholds, met, strict=True))
                matching = [rule for rule in self.rules if rule.when.match(situation, at_least)]
                first: dict[str, str] = {}
                for rule in matching or [self.rules[-1]]:
                    first.setdefault(rule.action.id, rule.id)
                pairs = found[key] = tuple((rule_id, action_id) for action_id, rule_id in first.items())
            allowed.append(pairs)
        return allowed

    def control_shares(self, rule_ids: Sequence[str]) -> np.ndarray:
        """The control share of each row's rule (0 for a rule this playbook no longer has)."""
        shares = {rule.id: rule.control_share for rule in self.rules}
        return np.asarray([shares.get(rule_id, 0.0) for rule_id in rule_ids], dtype=np.float64)

    @property
    def keeps_control_groups(self) -> bool:
        return any(rule.control_share > 0 for rule in self.rules)

    def rule(self, rule_id: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)

    def tag(self, tag_id: str) -> Tag | None:
        """The tag of that id, or None when this playbook does not define it."""
        return next((tag for tag in self.tags if tag.id == tag_id), None)

    def action(self, action_id: str) -> Action | None:
        """The action of that id (`hold_out` included), or None when this playbook no longer defines it."""
        if action_id == HOLD_OUT_ACTION:
            return self.hold_out
        return next((rule.action for rule in self.rules if rule.action.id == action_id), None)

    def actions(self) -> dict[str, Action]:
        """Every action the rules give, by id, in rule order (without `hold_out`)."""
        found: dict[str, Action] = {}
        for rule in self.rules:
            found.setdefault(rule.action.id, rule.action)
        return found

    def _first_match(self, situation: Situation, probability_at_least: Mapping[float, bool]) -> Rule:
        for rule in self.rules:
            if rule.when.match(situation, probability_at_least):
                return rule
        return self.rules[-1]


_RISK_NAMES = np.asarray(RISK_BANDS, dtype=object)
_NO_TAGS: Final[frozenset[str]] = frozenset()


def _describe_errors(file_name: str, document: dict[str, Any], error: ValidationError) -> str:
    """Pydantic's errors rewritten to name the rule (number and id) and the field, one per line."""
    raw_rules = document.get("rules")
    rules: list[Any] = raw_rules if isinstance(raw_rules, list) else []
    raw_tags = document.get("tags")
    tags: list[Any] = raw_tags if isinstance(raw_tags, list) else []
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
        elif len(location) >= 2 and location[0] == "tags" and isinstance(location[1], int):
            index = location[1]
            raw = tags[index] if index < len(tags) else {}
            tag_id = raw.get("id", "?") if isinstance(raw, dict) else "?"
            where = f"{file_name} tag {index + 1} {tag_id!r}"
            location = location[2:]
        field = ".".join(str(part) for part in location)
        named = not location or message.startswith(str(location[-1]))
        lines.append(f"{where}: {message}" if named else f"{where}: {field}: {message}")
    return "\n".join(lines)
