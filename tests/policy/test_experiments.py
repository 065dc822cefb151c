"""Control groups: a keyed hash of (customer, rule, period), stable across reruns and workers, near its
share, auditable by hand; and the playbook fields that set them up (control_share, hold_out, success)."""

from __future__ import annotations

import hashlib
import multiprocessing
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr

from domain.errors import ActionSettingsError, PlaybookError
from policy.action_settings import ActionSettings, load_action_settings
from policy.experiments import ControlAssigner
from policy.playbook import Playbook

KEY = b"test-key"
IDS = [f"C{i:06d}" for i in range(100_000)]


def _assigner(key: bytes = KEY, period_days: int = 90) -> ControlAssigner:
    return ControlAssigner(key, period_days)


def _groups(assigner: ControlAssigner, share: float, period: int = 222, rule: str = "r") -> np.ndarray:
    return assigner.assign(IDS, [rule] * len(IDS), [period] * len(IDS), [share] * len(IDS))


def _groups_in_a_worker(arguments: tuple[bytes, int]) -> list[str]:
    key, period = arguments
    return list(ControlAssigner(key, 90).assign(IDS[:2000], ["r"] * 2000, [period] * 2000, [0.1] * 2000))


def test_the_draw_is_the_documented_keyed_hash_so_anyone_with_the_key_can_recompute_it() -> None:
    assigner = _assigner()
    audit = assigner.audit("C-17", "dormant_reactivation", datetime(2025, 7, 1, 15, 30), 0.1)

    period = (date(2025, 7, 1) - date(1970, 1, 1)).days // 90
    message = f"C-17\x1fdormant_reactivation\x1f{period}".encode()
    digest = hashlib.blake2b(message, digest_size=8, key=KEY).digest()
    expected = int.from_bytes(digest, "big") / 2**64
    assert audit.period == period == 225
    assert audit.period_start == date(2025, 6, 11)
    assert audit.period_end == date(2025, 9, 8)
    assert audit.message.encode() == message
    assert audit.draw == pytest.approx(expected, abs=0, rel=1e-15)
    assert audit.assignment == ("control" if expected < 0.1 else "treatment")
    assert assigner.assign(["C-17"], ["dormant_reactivation"], [period], [0.1])[0] == audit.assignment


def test_the_same_customers_get_the_same_groups_in_every_rerun_and_every_worker() -> None:
    first = _groups(_assigner(), 0.1)
    again = _groups(ControlAssigner.from_settings(ActionSettings(assignment_key=SecretStr("test-key"))), 0.1)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        workers = pool.map(_groups_in_a_worker, [(KEY, 222), (KEY, 222)])

    assert (first == again).all()
    assert workers[0] == workers[1] == list(first[:2000])


def test_the_control_share_is_met_within_sampling_error() -> None:
    for share in (0.05, 0.1, 0.3):
        observed = (_groups(_assigner(), share) == "control").mean()
        tolerance = 4 * np.sqrt(share * (1 - share) / len(IDS))

        assert abs(observed - share) < tolerance, (share, observed)


def test_a_customer_keeps_the_group_for_the_whole_period_and_is_drawn_again_in_the_next() -> None:
    assigner = _assigner(period_days=30)
    days = [datetime(2025, 1, 12), datetime(2025, 1, 30), datetime(2025, 2, 10, 23, 59)]
    periods = {assigner.period(day) for day in days}
    assert periods == {670}
    next_period = assigner.period(datetime(2025, 2, 11))
    assert next_period == 671

    this, following = _groups(assigner, 0.5, 670), _groups(assigner, 0.5, next_period)
    both = ((this == "control") & (following == "control")).mean()

    assert abs(both - 0.25) < 0.01  # independent draws: 0.5 x 0.5


def test_groups_depend_on_the_rule_and_the_key_and_rules_without_a_share_have_none() -> None:
    base = _groups(_assigner(), 0.5)

    assert (base != _groups(_assigner(), 0.5, rule="other")).mean() == pytest.approx(0.5, abs=0.01)
    assert (base != _groups(_assigner(key=b"another key"), 0.5)).mean() == pytest.approx(0.5, abs=0.01)
    groups = _assigner().assign(["a", "b", "c"], ["r", "r", "r"], [1, 1, 1], [0.0, 0.999999, 0.0])
    assert list(groups) == ["none", "control", "none"]


def test_array_periods_are_whole_period_days_since_1970() -> None:
    assigner = _assigner(period_days=7)
    moments = np.array(["1970-01-07T23:00", "1970-01-08", "2025-07-01T12:00"], dtype="datetime64[us]")

    assert assigner.periods(moments).tolist() == [0, 1, 20270 // 7]
    assert assigner.period(datetime(2025, 7, 1, 12)) == 20270 // 7


def test_settings_name_the_variable_of_a_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLVCHURN_ACTIONS_PERIOD_DAYS", "0")

    with pytest.raises(ActionSettingsError, match="CLVCHURN_ACTIONS_PERIOD_DAYS"):
        load_action_settings()


PLAYBOOK = """
churn_risk: {high: 0.5, medium: 0.25}
rules:
  - id: dormant
    when: {lifecycle_stage: [dormant]}
    control_share: 0.2
    action: {id: coupon, owner: marketing, due_within_days: 30, title: Coupon, steps: [Send it],
             success_metric: An order, success: {metric: order_within_days, days: 30, target: 0.3}, cost: 4}
  - id: catch_all
    action: {id: follow_up, owner: marketing, due_within_days: 30, title: Follow up, steps: [Write],
             success_metric: An order}
"""


def test_a_rule_keeps_a_control_share_and_an_action_its_success_and_cost(tmp_path: Path) -> None:
    path = tmp_path / "playbook.yaml"
    path.write_text(PLAYBOOK, encoding="utf-8")
    playbook = Playbook.load(path)

    assert playbook.control_shares(["dormant", "catch_all", "gone"]).tolist() == [0.2, 0.0, 0.0]
    coupon = playbook.action("coupon")
    assert coupon is not None and coupon.cost == 4.0
    assert coupon.success is not None and (coupon.success.metric, coupon.success.days) == (
        "order_within_days",
        30,
    )
    assert playbook.action("hold_out") is playbook.hold_out
    assert playbook.choose_by == "rule"


def test_every_rule_a_customer_matches_is_allowed_in_rule_order(tmp_path: Path) -> None:
    path = tmp_path / "playbook.yaml"
    path.write_text(PLAYBOOK, encoding="utf-8")
    playbook = Playbook.load(path)

    allowed = playbook.allowed(
        ["C", "C"], ["lapsed", "active"], [None, "low"], ["dormant", "active"], [None, None], [0.2, 0.9]
    )

    assert allowed == [(("dormant", "coupon"), ("catch_all", "follow_up")), (("catch_all", "follow_up"),)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("    control_share: 1.0\n", "control_share: Input should be less than 1"),
        (
            "    action: {id: hold_out, owner: marketing, due_within_days: 1}\n",
            "action id 'hold_out' is the control group's",
        ),
    ],
)
def test_a_full_control_share_and_a_rule_giving_hold_out_are_refused(
    tmp_path: Path, change: str, message: str
) -> None:
    lines = PLAYBOOK.splitlines(keepends=True)
    index = lines.index("    control_share: 0.2\n")
    if change.startswith("    action"):
        lines[index + 1 : index + 3] = [change]
    else:
        lines[index] = change
    path = tmp_path / "playbook.yaml"
    path.write_text("".join(lines), encoding="utf-8")

    with pytest.raises(PlaybookError, match=message):
        Playbook.load(path)


def test_the_default_playbook_sets_the_practice_targets_and_holds_out_a_tenth() -> None:
    playbook = Playbook.load()
    actions = playbook.actions()
    targets = {
        name: (a.success.metric, a.success.days, a.success.target) for name, a in actions.items() if a.success
    }

    assert targets["vip_rescue_call"] == ("order_within_days", 60, 0.80)
    assert targets["mid_value_growth"] == ("renewal", 90, 0.90)
    assert targets["dormant_reactivation"] == ("order_within_days", 30, 0.30)
    assert targets["prospect_case_studies"] == ("order_within_days", 90, 0.25)
    assert set(targets) == set(actions)
    shares = {rule.id: rule.control_share for rule in playbook.rules}
    assert shares["dormant_reactivation"] == 0.1
    assert shares["top_value_stable"] == shares["catch_all"] == 0.0
