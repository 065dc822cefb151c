"""The /actions page's view of an action evaluation (`policy.evaluation`, written by `clvchurn evaluate
actions --json` to CLVCHURN_ACTIONS_EVALUATION_PATH): per action the rates of both groups and the target
as bars on one 0-100% scale, the uplift with its interval on a scale shared by every action, value,
cost and return, the breakdowns by tier and stage, and the uplift per assignment period (the trend).
Numbers only: the template puts them into words in the reader's language.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitoring.actions_report import IntervalBar, interval_bar, uplift_scale
from policy.evaluation import ActionFigures, ActionsEvaluation, Figures


@dataclass(frozen=True)
class FiguresView:
    """One row of figures (an action, a segment or a period) with its interval placed for drawing."""

    label: str
    figures: Figures
    bar: IntervalBar | None

    @property
    def significant(self) -> bool | None:
        return self.figures.significant


@dataclass(frozen=True)
class ActionView:
    action: ActionFigures
    overall: FiguresView
    rate_treatment: float | None  # percent of the bar's width
    rate_control: float | None
    target: float | None
    segments: dict[str, list[FiguresView]] = field(default_factory=dict)
    trend: list[FiguresView] = field(default_factory=list)


def action_views(evaluation: ActionsEvaluation) -> list[ActionView]:
    """Every evaluated action, in the evaluation's order (by action id)."""
    limit = uplift_scale(evaluation)
    views = []
    for action in evaluation.actions:
        views.append(
            ActionView(
                action=action,
                overall=FiguresView(action.action_id, action, interval_bar(action, limit)),
                rate_treatment=_percent(action.success_rate_treatment),
                rate_control=_percent(action.success_rate_control),
                target=_percent(action.kpi.target),
                segments={
                    "tier": [
                        FiguresView(name, figures, interval_bar(figures, limit))
                        for name, figures in action.by_tier.items()
                    ],
                    "lifecycle_stage": [
                        FiguresView(name, figures, interval_bar(figures, limit))
                        for name, figures in action.by_lifecycle_stage.items()
                    ],
                },
                trend=[
                    FiguresView(f"{period.period_start:%Y-%m-%d}", period, interval_bar(period, limit))
                    for period in action.periods
                ],
            )
        )
    return views


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(100.0 * max(0.0, min(1.0, rate)), 2)
