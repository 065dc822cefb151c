"""A scored customer put into the page language: reason bars, and the action with its steps.

The snapshot holds the reasons (sentences, feature labels, formatted contributions) and the action
(title, steps, owner label, success metric) in every language, and the page asks it for the page
language's; only what a stored prediction may lack (a label, an impact, an owner label) and the due
period are filled in from the page language's catalogue.
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
                impact=reason.impact or _impact(reason.contribution, kind, catalogue),
                sentence=reason.sentence,
                direction="increases" if raises else "decreases",
                x=BAR_HALF_WIDTH if raises else BAR_HALF_WIDTH - width,
                width=width,
            )
        )
    return bars


def action_view(prediction: Prediction, catalogue: Catalogue) -> ActionView:
    """The recommended action as stored in the snapshot in the page language (that of `catalogue`)."""
    action: RecommendedAction = prediction.recommended_action
    return ActionView(
        id=action.id,
        title=action.title,
        steps=action.steps,
        owner=action.owner,
        owner_label=action.owner_label or _owner_label(action, catalogue),
        due_date=action.due_date,
        due_within=catalogue.plural("due_within_days", action.due_within_days, str(action.due_within_days)),
        success_metric=action.success_metric,
    )


def _owner_label(action: RecommendedAction, catalogue: Catalogue) -> str:
    key = f"owner.{action.owner}"
    return catalogue.text(key) if catalogue.has(key) else action.owner


def _feature_label(reason: Reason, catalogue: Catalogue) -> str:
    if reason.label:
        return reason.label
    key = f"feature.{reason.feature}"
    return catalogue.text(key) if catalogue.has(key) else reason.feature.replace("_", " ").capitalize()


def _impact(contribution: float, kind: Literal["churn", "value"], catalogue: Catalogue) -> str:
    """Churn contributions in probability points (0.042 -> +4.2), value ones in currency."""
    signed = f"{contribution * 100:+.1f}" if kind == "churn" else f"{contribution:+,.2f}"
    return catalogue.text(f"impact.{kind}", signed=signed)
