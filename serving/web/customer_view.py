"""A scored customer as the customer page draws it: reason bars, and the action with its steps.

The prediction arrives rendered in the page language (`serving.serialise.prediction_from_record`);
this module only lays it out: bar geometry and the due period in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from serving.schemas import Prediction, Reason, RecommendedAction
from serving.text import Catalogue

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


def reason_bars(reasons: list[Reason]) -> list[ReasonBar]:
    """Bars scaled so the largest contribution of the list spans half the chart."""
    largest = max((abs(reason.contribution) for reason in reasons), default=0.0) or 1.0
    bars = []
    for reason in reasons:
        width = round(abs(reason.contribution) / largest * BAR_HALF_WIDTH, 2)
        raises = reason.contribution > 0
        bars.append(
            ReasonBar(
                label=reason.label or reason.feature,
                impact=reason.impact or "",
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
        owner_label=action.owner_label or action.owner,
        due_date=action.due_date,
        due_within=catalogue.plural("due_within_days", action.due_within_days, str(action.due_within_days)),
        success_metric=action.success_metric,
    )
