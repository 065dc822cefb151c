"""Each retention action against its control group and its target: what `clvchurn evaluate actions` reports.

For every action with at least one closed outcome window (`policy.outcomes`): customers in treatment
and control, the success rate of each, the uplift (treatment rate minus control rate) with a 95%
interval, net spend per customer in each group, the incremental value (the difference per customer
times the treated customers), the cost of the contacts made, the return ((incremental value - cost) /
cost) and the action's target against the observed treatment rate. The same figures are given by tier
and by lifecycle stage at assignment (the actions file's optional columns) and per assignment period
(the trend). An action whose rule keeps no control group gets its rates and `uplift: null`: without a
control group its effect cannot be known.

The interval is Newcombe's hybrid score interval for a difference of independent proportions (Newcombe,
"Interval estimation for the difference between independent proportions", Statistics in Medicine 17,
1998, method 10), built from the two groups' Wilson intervals: unlike the Wald interval it keeps its
coverage for small control groups and rates near 0 or 1, and never leaves [-1, 1].
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import polars as pl
from pydantic import BaseModel, Field, ValidationError

from domain.errors import ActionEvaluationError
from policy.experiments import EPOCH
from policy.outcomes import success_expr, window_outcomes, with_success_definitions
from policy.playbook import Playbook

SCHEMA_VERSION: Final = 1
CONFIDENCE: Final = 0.95
Z_95: Final = 1.959963984540054
INTERVAL_METHOD: Final = "Newcombe hybrid score interval (method 10) from Wilson intervals"
NO_CONTROL_NOTE: Final = "no control group: without one the effect of this action cannot be known"
UNKNOWN_SEGMENT: Final = "unknown"


class Figures(BaseModel):
    """Treatment against control for one action, overall or in one segment or period."""

    n_treatment: int
    n_control: int
    success_rate_treatment: float | None
    success_rate_control: float | None
    uplift: float | None
    uplift_ci_low: float | None
    uplift_ci_high: float | None
    value_per_customer_treatment: float | None
    value_per_customer_control: float | None
    incremental_value: float | None

    @property
    def significant(self) -> bool | None:
        """Whether the interval excludes zero (None without an uplift)."""
        if self.uplift_ci_low is None or self.uplift_ci_high is None:
            return None
        return self.uplift_ci_low > 0 or self.uplift_ci_high < 0


class Kpi(BaseModel):
    metric: str
    days: int
    target: float | None
    observed: float | None = Field(description="The treatment group's success rate.")
    met: bool | None


class Period(Figures):
    period: int
    period_start: date


class ActionFigures(Figures):
    """One action's evaluation: the JSON keys of issue 14, then the breakdowns."""

    action_id: str
    rule_id: str | None
    window_days: int
    cost: float
    roi: float | None
    kpi: Kpi
    note: str | None = None
    known_action: bool = True
    open_outcomes: int = 0
    by_tier: dict[str, Figures] = Field(default_factory=dict)
    by_lifecycle_stage: dict[str, Figures] = Field(default_factory=dict)
    periods: list[Period] = Field(default_factory=list)


class ActionsEvaluation(BaseModel):
    """Everything `clvchurn evaluate actions --json` writes."""

    schema_version: int = SCHEMA_VERSION
    as_of: datetime
    evaluated_at: datetime
    confidence: float = CONFIDENCE
    interval_method: str = INTERVAL_METHOD
    period_days: int
    actions: list[ActionFigures]

    def write(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_text(json.dumps(self.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
        partial.replace(path)
        return path

    def action(self, action_id: str) -> ActionFigures | None:
        return next((figures for figures in self.actions if figures.action_id == action_id), None)


def read_evaluation(path: Path) -> ActionsEvaluation:
    """The evaluation JSON at `path`.

    Raises
    ------
    ActionEvaluationError
        The file cannot be read or is not an evaluation of this format; the message says to rerun.
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        return ActionsEvaluation.model_validate(document)
    except (OSError, ValueError, ValidationError) as error:
        raise ActionEvaluationError(
            f"{path} is not an action evaluation clvchurn can read ({error.__class__.__name__}); run "
            "`clvchurn evaluate actions --data DIR --json FILE` again"
        ) from error


def evaluate_actions(
    actions: pl.DataFrame,
    transactions: pl.DataFrame,
    playbook: Playbook,
    as_of: datetime,
    period_days: int,
    evaluated_at: datetime | None = None,
) -> ActionsEvaluation:
    """The evaluation of every action with a closed outcome window by `as_of` (module docstring).

    Parameters
    ----------
    actions: validated actions (`features.contract.load_actions`).
    transactions: the data's transactions (`RawData.transactions`).
    playbook: gives each action's success definition, target and cost per contact.
    as_of: windows ending after it are open and not counted; events from it on are ignored.
    period_days: the length of the trend's periods (the control groups' assignment period).

    Raises
    ------
    ActionEvaluationError
        No action at all, or none assigned before `as_of`.
    """
    if actions.is_empty():
        raise ActionEvaluationError(
            "the data folder holds no actions to evaluate: add an actions.csv or actions.parquet "
            "(customer_id, action_id, assigned_at, group) or report them with POST /v1/actions and "
            "`clvchurn actions export`"
        )
    rows = actions.filter(pl.col("assigned_at") < as_of)
    if rows.is_empty():
        raise ActionEvaluationError(
            f"every action was assigned on or after --as-of {as_of:%Y-%m-%d}; choose a later cutoff"
        )
    costs = {action_id: action.cost for action_id, action in playbook.actions().items()}
    outcomes = window_outcomes(with_success_definitions(rows, playbook), transactions, as_of).with_columns(
        success_expr(),
        pl.coalesce(
            pl.col("cost"), pl.col("action_id").replace_strict(costs, default=0.0, return_dtype=pl.Float64)
        ).alias("contact_cost"),
        ((pl.col("assigned_at").dt.date() - EPOCH).dt.total_days() // period_days).alias("period"),
        pl.col("tier").fill_null(UNKNOWN_SEGMENT),
        pl.col("lifecycle_stage").fill_null(UNKNOWN_SEGMENT),
    )
    open_counts = dict(outcomes.filter(~pl.col("closed")).group_by("action_id").len().iter_rows())
    closed = outcomes.filter(pl.col("closed"))
    evaluated = [
        _action(action_id, part, playbook, period_days, open_counts.get(action_id, 0))
        for action_id, part in _by_action(closed)
    ]
    return ActionsEvaluation(
        as_of=as_of,
        evaluated_at=evaluated_at or datetime.now().replace(microsecond=0),
        period_days=period_days,
        actions=evaluated,
    )


def _by_action(closed: pl.DataFrame) -> list[tuple[str, pl.DataFrame]]:
    parts = closed.partition_by("action_id", as_dict=True, maintain_order=True)
    return sorted((str(key[0]), frame) for key, frame in parts.items())


def _action(
    action_id: str, rows: pl.DataFrame, playbook: Playbook, period_days: int, open_outcomes: int
) -> ActionFigures:
    overall = _figures(rows)
    first = rows.row(0, named=True)
    treated = rows.filter(pl.col("group") == "treatment")
    cost = float(treated["contact_cost"].sum())
    roi = None
    if overall.incremental_value is not None and cost > 0:
        roi = (overall.incremental_value - cost) / cost
    target = first["target"]
    observed = overall.success_rate_treatment
    return ActionFigures(
        action_id=action_id,
        rule_id=_rule_id(rows, action_id, playbook),
        window_days=int(first["window_days"]),
        **overall.model_dump(),
        cost=cost,
        roi=roi,
        kpi=Kpi(
            metric=first["metric"],
            days=int(first["window_days"]),
            target=target,
            observed=observed,
            met=None if target is None or observed is None else observed >= target,
        ),
        note=NO_CONTROL_NOTE if overall.n_control == 0 else None,
        known_action=bool(first["known_action"]),
        open_outcomes=open_outcomes,
        by_tier=_segments(rows, "tier"),
        by_lifecycle_stage=_segments(rows, "lifecycle_stage"),
        periods=[
            Period(
                period=int(key[0]),
                period_start=EPOCH + timedelta(days=int(key[0]) * period_days),
                **_figures(part).model_dump(),
            )
            for key, part in sorted(rows.partition_by("period", as_dict=True).items())
        ],
    )


def _rule_id(rows: pl.DataFrame, action_id: str, playbook: Playbook) -> str | None:
    """The rule most rows name (ties: the first in name order), else the playbook's first rule giving it."""
    named = rows["rule_id"].drop_nulls()
    if named.len():
        counts = named.value_counts().sort(["count", "rule_id"], descending=[True, False])
        return str(counts["rule_id"][0])
    return next((rule.id for rule in playbook.rules if rule.action.id == action_id), None)


def _segments(rows: pl.DataFrame, column: str) -> dict[str, Figures]:
    return {
        str(key[0]): _figures(part) for key, part in sorted(rows.partition_by(column, as_dict=True).items())
    }


def _figures(rows: pl.DataFrame) -> Figures:
    groups: Mapping[str, Mapping[str, Any]] = {
        row["group"]: row
        for row in rows.group_by("group")
        .agg(
            pl.len().alias("n"),
            pl.col("success").sum().alias("successes"),
            pl.col("net_spend_in_window").mean().alias("value"),
        )
        .iter_rows(named=True)
    }
    treatment, control = groups.get("treatment"), groups.get("control")
    n_t = int(treatment["n"]) if treatment else 0
    n_c = int(control["n"]) if control else 0
    rate_t = int(treatment["successes"]) / n_t if treatment else None
    rate_c = int(control["successes"]) / n_c if control else None
    value_t = float(treatment["value"]) if treatment else None
    value_c = float(control["value"]) if control else None
    uplift = low = high = incremental = None
    if treatment and control:
        low, high = newcombe_interval(int(treatment["successes"]), n_t, int(control["successes"]), n_c)
        uplift = rate_t - rate_c  # type: ignore[operator]
        incremental = (value_t - value_c) * n_t  # type: ignore[operator]
    return Figures(
        n_treatment=n_t,
        n_control=n_c,
        success_rate_treatment=rate_t,
        success_rate_control=rate_c,
        uplift=uplift,
        uplift_ci_low=low,
        uplift_ci_high=high,
        value_per_customer_treatment=value_t,
        value_per_customer_control=value_c,
        incremental_value=incremental,
    )


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson's score interval for a proportion (Wilson, JASA 22, 1927)."""
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(
    successes_1: int, n_1: int, successes_2: int, n_2: int, z: float = Z_95
) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 - p2 (method 10 of Newcombe 1998)."""
    p1, p2 = successes_1 / n_1, successes_2 / n_2
    l1, u1 = wilson_interval(successes_1, n_1, z)
    l2, u2 = wilson_interval(successes_2, n_2, z)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return low, high
