"""A scored customer put into the page language: reason bars, and the action with its steps.

Reason sentences are stored in the snapshot in the language `clvchurn score` wrote them in; feature
labels, contribution sizes, tier, risk, stage, owner and the playbook's action texts are looked up in
the page language's catalogue, falling back to the stored text when the catalogue has no entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from serving.explain import Catalogue
from serving.schemas import Prediction, Reason, RecommendedAction

BAR_HALF_WIDTH = 100.0


@dataclass(frozen=True)
class ReasonBar:
    """One reason as a bar pushing left (lowers) or right (raises) from the centre of a 200-wide chart."""

    label: str
    impact: str
    sentence: str
    direction: Literal["increases", "decreases"]
    x: float
    width: float


@dataclass(frozen=True)
class ActionView:
    id: str
    title: str
    steps: list[str]
    owner: str
    owner_label: str
    due_date: date
    due_within: str
    success_metric: str


def reason_bars(
    reasons: list[Reason], kind: Literal["churn", "value"], catalogue: Catalogue
) -> list[ReasonBar]:
    """Bars scaled so the largest contribution of the list spans half the chart."""
    largest = max((abs(reason.contribution) for reason in reasons), default=0.0) or 1.0
    bars = []
    for reason in reasons:
        width = round(abs(reason.contribution) / largest * BAR_HALF_WIDTH, 2)
        raises = reason.contribution > 0
        bars.append(
            ReasonBar(
                label=_feature_label(reason, catalogue),
                impact=_impact(reason.contribution, kind, catalogue),
                sentence=reason.sentence,
                direction="increases" if raises else "decreases",
                x=BAR_HALF_WIDTH if raises else BAR_HALF_WIDTH - width,
                width=width,
            )
        )
    return bars


def action_view(prediction: Prediction, catalogue: Catalogue) -> ActionView:
    """The recommended action in the page language when the catalogue knows the action id."""
    action: RecommendedAction = prediction.recommended_action
    prefix = f"action.{action.id}"
    steps = action.steps
    if isinstance(catalogue.entries.get(f"{prefix}.steps"), list):
        steps = catalogue.texts(f"{prefix}.steps")
    return ActionView(
        id=action.id,
        title=catalogue.text(f"{prefix}.title") if catalogue.has(f"{prefix}.title") else action.title,
        steps=steps,
        owner=action.owner,
        owner_label=_owner_label(action, catalogue),
        due_date=action.due_date,
        due_within=catalogue.plural("due_within_days", action.due_within_days, str(action.due_within_days)),
        success_metric=(
            catalogue.text(f"{prefix}.success_metric")
            if catalogue.has(f"{prefix}.success_metric")
            else action.success_metric
        ),
    )


def _owner_label(action: RecommendedAction, catalogue: Catalogue) -> str:
    key = f"owner.{action.owner}"
    return catalogue.text(key) if catalogue.has(key) else (action.owner_label or action.owner)


def _feature_label(reason: Reason, catalogue: Catalogue) -> str:
    key = f"feature.{reason.feature}"
    if catalogue.has(key):
        return catalogue.text(key)
    return reason.label or reason.feature.replace("_", " ").capitalize()


def _impact(contribution: float, kind: Literal["churn", "value"], catalogue: Catalogue) -> str:
    """Churn contributions in probability points (0.042 -> +4.2), value ones in currency."""
    signed = f"{contribution * 100:+.1f}" if kind == "churn" else f"{contribution:+,.2f}"
    return catalogue.text(f"impact.{kind}", signed=signed)
