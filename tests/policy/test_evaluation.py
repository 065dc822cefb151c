"""Actions against their control groups and targets, on a hand-made base whose figures are worked out
below; and Newcombe's interval against the values published with it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from domain.errors import ActionEvaluationError
from features.actions_contract import ACTIONS_SCHEMA
from policy.evaluation import NO_CONTROL_NOTE, evaluate_actions, newcombe_interval, read_evaluation
from policy.outcomes import window_outcomes, with_success_definitions
from policy.playbook import Playbook

PLAYBOOK = """
churn_risk: {high: 0.5, medium: 0.25}
rules:
  - id: dormant
    when: {lifecycle_stage: [dormant]}
    control_share: 0.2
    action: {id: coupon, owner: marketing, due_within_days: 30, title: Coupon, steps: [Send it],
             success_metric: An order, success: {metric: order_within_days, days: 30, target: 0.3}, cost: 4}
  - id: catch_all
    action: {id: letter, owner: marketing, due_within_days: 30, title: Letter, steps: [Write],
             success_metric: Renewal, success: {metric: renewal, days: 30, target: 0.9}}
"""
JAN = datetime(2024, 1, 1)
AS_OF = datetime(2024, 4, 1)


@pytest.fixture(scope="module")
def playbook(tmp_path_factory: pytest.TempPathFactory) -> Playbook:
    path = tmp_path_factory.mktemp("playbook") / "playbook.yaml"
    path.write_text(PLAYBOOK, encoding="utf-8")
    return Playbook.load(path)


def _actions(rows: list[tuple]) -> pl.DataFrame:
    columns = ("customer_id", "action_id", "assigned_at", "group", "rule_id", "cost", "tier")
    frame = pl.DataFrame([dict(zip(columns, row, strict=True)) for row in rows])
    return frame.with_columns(
        [
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in ACTIONS_SCHEMA.items()
            if name not in columns
        ]
    ).select([pl.col(name).cast(dtype) for name, dtype in ACTIONS_SCHEMA.items()])


ACTIONS = _actions(
    [
        ("C1", "coupon", JAN, "treatment", "dormant", 5.0, "A"),
        ("C2", "coupon", JAN, "treatment", "dormant", None, "B"),
        ("C3", "coupon", JAN, "treatment", None, None, None),
        ("C4", "coupon", JAN, "treatment", None, None, None),
        ("C5", "coupon", JAN, "control", "dormant", None, None),
        ("C6", "coupon", JAN, "control", None, None, "A"),
        ("C7", "coupon", JAN, "control", None, None, None),
        ("C8", "coupon", datetime(2024, 3, 20), "treatment", None, None, None),  # window open at AS_OF
        ("C1", "letter", JAN, "treatment", "catch_all", None, "A"),
        ("C2", "letter", JAN, "treatment", "catch_all", None, "B"),
        ("C9", "mystery", JAN, "treatment", None, None, None),
    ]
)
TRANSACTIONS = pl.DataFrame(
    [
        ("C1", datetime(2023, 12, 15), 40.0),  # before the letter's window: renewal needs 40 or more
        ("C1", datetime(2024, 1, 10), 50.0),
        ("C3", datetime(2024, 1, 5), -10.0),  # a refund is no order
        ("C3", datetime(2024, 2, 15), 80.0),  # after the 30-day window
        ("C4", datetime(2024, 1, 20), 30.0),
        ("C5", datetime(2024, 1, 2), 20.0),
        ("C8", datetime(2024, 3, 25), 99.0),
        ("C9", datetime(2024, 2, 20), 10.0),  # within the default 60 days
        ("C7", datetime(2024, 4, 2), 70.0),  # after the cutoff: never counted
    ],
    schema=["customer_id", "timestamp", "amount"],
    orient="row",
).with_columns(pl.lit(None, dtype=pl.String).alias("transaction_id"))


def test_window_sums_follow_each_actions_success_window(playbook: Playbook) -> None:
    outcomes = window_outcomes(with_success_definitions(ACTIONS, playbook), TRANSACTIONS, AS_OF)

    assert outcomes.select(
        "customer_id", "action_id", "orders_in_window", "net_spend_in_window", "net_spend_before", "closed"
    ).rows() == [
        ("C1", "coupon", 1, 50.0, 40.0, True),
        ("C2", "coupon", 0, 0.0, 0.0, True),
        ("C3", "coupon", 0, -10.0, 0.0, True),
        ("C4", "coupon", 1, 30.0, 0.0, True),
        ("C5", "coupon", 1, 20.0, 0.0, True),
        ("C6", "coupon", 0, 0.0, 0.0, True),
        ("C7", "coupon", 0, 0.0, 0.0, True),
        ("C8", "coupon", 1, 99.0, 0.0, False),
        ("C1", "letter", 1, 50.0, 40.0, True),
        ("C2", "letter", 0, 0.0, 0.0, True),
        ("C9", "mystery", 1, 10.0, 0.0, True),
    ]


def test_an_action_with_a_control_group_gets_rates_uplift_interval_value_cost_and_target(
    playbook: Playbook,
) -> None:
    evaluation = evaluate_actions(ACTIONS, TRANSACTIONS, playbook, AS_OF, period_days=30)
    coupon = evaluation.action("coupon")
    assert coupon is not None

    low, high = newcombe_interval(2, 4, 1, 3)
    incremental = (17.5 - 20 / 3) * 4
    assert coupon.model_dump(include={"action_id", "rule_id", "window_days", "n_treatment", "n_control"}) == {
        "action_id": "coupon",
        "rule_id": "dormant",
        "window_days": 30,
        "n_treatment": 4,
        "n_control": 3,
    }
    assert (coupon.success_rate_treatment, coupon.success_rate_control) == (0.5, pytest.approx(1 / 3))
    assert coupon.uplift == pytest.approx(0.5 - 1 / 3)
    assert (coupon.uplift_ci_low, coupon.uplift_ci_high) == (low, high)
    assert coupon.value_per_customer_treatment == 17.5
    assert coupon.value_per_customer_control == pytest.approx(20 / 3)
    assert coupon.incremental_value == pytest.approx(incremental)
    assert coupon.cost == 5 + 4 + 4 + 4  # the file's cost where given, else the playbook's per contact
    assert coupon.roi == pytest.approx((incremental - 17) / 17)
    assert coupon.kpi.model_dump() == {
        "metric": "order_within_days",
        "days": 30,
        "target": 0.3,
        "observed": 0.5,
        "met": True,
    }
    assert coupon.open_outcomes == 1 and coupon.note is None
    assert set(coupon.by_tier) == {"A", "B", "unknown"}
    assert (coupon.by_tier["A"].n_treatment, coupon.by_tier["A"].n_control) == (1, 1)
    assert coupon.by_tier["B"].uplift is None and coupon.by_tier["B"].success_rate_treatment == 0.0
    assert coupon.by_lifecycle_stage["unknown"].n_treatment == 4
    period = (date(2024, 1, 1) - date(1970, 1, 1)).days // 30
    assert [(p.period, p.period_start, p.n_treatment) for p in coupon.periods] == [
        (period, date(1970, 1, 1) + timedelta(days=period * 30), 4)
    ]


def test_an_action_without_a_control_group_has_rates_and_no_uplift(playbook: Playbook) -> None:
    letter = evaluate_actions(ACTIONS, TRANSACTIONS, playbook, AS_OF, period_days=30).action("letter")
    assert letter is not None

    assert (letter.n_treatment, letter.n_control, letter.success_rate_treatment) == (2, 0, 0.5)  # C1 renewed
    assert letter.uplift is letter.uplift_ci_low is letter.uplift_ci_high is letter.incremental_value is None
    assert letter.roi is None and letter.note == NO_CONTROL_NOTE
    assert letter.kpi.model_dump() == {
        "metric": "renewal",
        "days": 30,
        "target": 0.9,
        "observed": 0.5,
        "met": False,
    }


def test_an_action_the_playbook_does_not_know_is_judged_by_the_default_window_without_target(
    playbook: Playbook, tmp_path: Path
) -> None:
    evaluation = evaluate_actions(ACTIONS, TRANSACTIONS, playbook, AS_OF, period_days=30, evaluated_at=AS_OF)
    mystery = evaluation.action("mystery")
    assert mystery is not None

    assert (mystery.known_action, mystery.window_days, mystery.success_rate_treatment) == (False, 60, 1.0)
    assert mystery.kpi.target is None and mystery.kpi.met is None and mystery.rule_id is None
    assert read_evaluation(evaluation.write(tmp_path / "evaluation.json")) == evaluation


def test_no_actions_or_only_later_ones_are_refused_with_what_to_do(
    playbook: Playbook, tmp_path: Path
) -> None:
    with pytest.raises(ActionEvaluationError, match="holds no actions"):
        evaluate_actions(ACTIONS.clear(), TRANSACTIONS, playbook, AS_OF, 30)
    with pytest.raises(ActionEvaluationError, match="choose a later cutoff"):
        evaluate_actions(ACTIONS, TRANSACTIONS, playbook, datetime(2023, 1, 1), 30)
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ActionEvaluationError, match="run `clvchurn evaluate actions"):
        read_evaluation(tmp_path / "bad.json")


@pytest.mark.parametrize(
    ("counts", "published"),
    [
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.0582, 0.8062)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
        ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ],
)
def test_the_interval_is_newcombes_method_10(
    counts: tuple[int, int, int, int], published: tuple[float, float]
) -> None:
    low, high = newcombe_interval(*counts)

    assert (round(low, 4), round(high, 4)) == published
