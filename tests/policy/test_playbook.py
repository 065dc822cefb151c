"""The playbook: validation errors that name rule and field, and the default playbook's segments."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.errors import PlaybookError
from policy.playbook import Decisions, Playbook
from serving.text import Catalogues, localise

HEADER = """
churn_risk: {high: 0.5, medium: 0.25}
lifecycle: {dormant_after_days: 180, lost_after_days: 365}
rules:
"""
CATCH_ALL = """
  - id: catch_all
    action: {id: standard_follow_up, owner: marketing, due_within_days: 30}
"""


def _write(tmp_path: Path, rules: str) -> Path:
    path = tmp_path / "playbook.yaml"
    path.write_text(HEADER + rules, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def catalogues() -> Catalogues:
    return Catalogues.load()


@pytest.fixture(scope="module")
def default(catalogues: Catalogues) -> Playbook:
    return Playbook.load(catalogue_keys=catalogues.keys())


def test_bad_owner_names_rule_number_id_and_allowed_owners(tmp_path: Path) -> None:
    rules = (
        """
  - id: first
    when: {tier: [A]}
    action: {id: a, owner: marketing, due_within_days: 1}
  - id: second
    when: {tier: [B]}
    action: {id: b, owner: marketing, due_within_days: 1}
  - id: vip_at_risk
    when: {tier: [A], churn_risk: high}
    action: {id: call, owner: boss, due_within_days: 1}
"""
        + CATCH_ALL
    )
    with pytest.raises(PlaybookError) as error:
        Playbook.load(_write(tmp_path, rules))

    assert str(error.value) == (
        "playbook.yaml rule 3 'vip_at_risk': owner 'boss' is not one of "
        "account_manager, sales_representative, customer_service, marketing"
    )


def test_unknown_stage_names_rule_and_field(tmp_path: Path) -> None:
    rules = (
        """
  - id: sleepy
    when: {lifecycle_stage: [asleep]}
    action: {id: wake, owner: marketing, due_within_days: 5}
"""
        + CATCH_ALL
    )
    with pytest.raises(PlaybookError) as error:
        Playbook.load(_write(tmp_path, rules))

    assert str(error.value) == (
        "playbook.yaml rule 1 'sleepy': lifecycle_stage 'asleep' is not one of "
        "prospect, intent, new, active, loyal, at_risk, dormant, lost"
    )


def test_unknown_top_reason_feature_names_rule_and_field(tmp_path: Path) -> None:
    rules = (
        """
  - id: complainers
    when: {top_reason: [complaints_90d, interactions_complaint_90d]}
    action: {id: recover, owner: customer_service, due_within_days: 2}
"""
        + CATCH_ALL
    )
    with pytest.raises(PlaybookError) as error:
        Playbook.load(_write(tmp_path, rules))

    assert str(error.value) == (
        "playbook.yaml rule 1 'complainers': top_reason 'interactions_complaint_90d' is not a feature; "
        "see features/definitions.py for the names"
    )


def test_missing_catch_all_is_rejected(tmp_path: Path) -> None:
    rules = """
  - id: only_a
    when: {tier: [A]}
    action: {id: a, owner: marketing, due_within_days: 1}
"""
    with pytest.raises(PlaybookError, match=r"rule 1 'only_a': the last rule must be a catch-all"):
        Playbook.load(_write(tmp_path, rules))


def test_catch_all_before_other_rules_is_rejected(tmp_path: Path) -> None:
    rules = (
        CATCH_ALL.replace("catch_all", "early")
        + """
  - id: only_a
    when: {tier: [A]}
    action: {id: a, owner: marketing, due_within_days: 1}
"""
        + CATCH_ALL
    )
    with pytest.raises(PlaybookError, match=r"rule 1 'early': when matches every customer"):
        Playbook.load(_write(tmp_path, rules))


def test_duplicate_rule_ids_are_rejected(tmp_path: Path) -> None:
    rule = """
  - id: twice
    when: {tier: [A]}
    action: {id: a, owner: marketing, due_within_days: 1}
"""
    with pytest.raises(PlaybookError, match=r"rule 2 'twice': id is used by an earlier rule"):
        Playbook.load(_write(tmp_path, rule + rule + CATCH_ALL))


def test_missing_field_and_bad_due_days_are_named(tmp_path: Path) -> None:
    rules = """
  - id: no_owner
    action: {id: x, due_within_days: 0}
"""
    with pytest.raises(PlaybookError) as error:
        Playbook.load(_write(tmp_path, rules))

    lines = str(error.value).splitlines()
    assert lines == [
        "playbook.yaml rule 1 'no_owner': action.owner: Field required",
        "playbook.yaml rule 1 'no_owner': action.due_within_days: Input should be greater than or equal to 1",
    ]


def test_thresholds_must_be_ordered(tmp_path: Path) -> None:
    path = tmp_path / "playbook.yaml"
    path.write_text(HEADER.replace("medium: 0.25", "medium: 0.6") + CATCH_ALL, encoding="utf-8")

    with pytest.raises(PlaybookError, match=r"churn_risk medium \(0.6\) must be below high \(0.5\)"):
        Playbook.load(path)


def test_missing_catalogue_key_is_named(tmp_path: Path, catalogues: Catalogues) -> None:
    rules = """
  - id: catch_all
    action: {id: brand_new, owner: marketing, due_within_days: 3, steps: [Send a postcard.]}
"""
    with pytest.raises(PlaybookError) as error:
        Playbook.load(_write(tmp_path, rules), catalogues.keys())

    assert str(error.value) == (
        "playbook.yaml rule 1 'catch_all': action title key 'action.brand_new.title' is missing "
        "from catalogue en.yaml"
    )


def test_literal_texts_are_used_as_they_are(tmp_path: Path, catalogues: Catalogues) -> None:
    rules = """
  - id: catch_all
    action:
      id: postcard
      owner: marketing
      due_within_days: 3
      title: Send a postcard
      steps: [Write it by hand., action.vip_care.title]
      success_metric: A reply
"""
    playbook = Playbook.load(_write(tmp_path, rules), catalogues.keys())
    action = playbook.action(_decide(playbook, "A", "low", "active").action_ids[0])
    assert action is not None

    localised = localise(action, catalogues["zh"])
    assert localised.title == "Send a postcard"
    assert localised.steps == ["Write it by hand.", "维系重点客户关系"]


@pytest.mark.parametrize(
    ("probability", "band"),
    [(0.0, "low"), (0.2499, "low"), (0.25, "medium"), (0.4999, "medium"), (0.5, "high"), (1.0, "high")],
)
def test_churn_risk_bands(default: Playbook, probability: float, band: str) -> None:
    assert default.churn_risks([probability]).tolist() == [band]


def test_churn_risk_bands_of_many_equal_each_alone(default: Playbook) -> None:
    probabilities = [0.0, 0.2499, 0.25, 0.4999, 0.5, 1.0]

    together = default.churn_risks(probabilities).tolist()

    assert together == [default.churn_risks([p])[0] for p in probabilities]
    # a lapsed customer or a prospect has no churn probability, hence no churn risk band
    assert default.churn_risks([0.2, float("nan")]).tolist() == ["low", None]


@pytest.mark.parametrize(
    ("tier", "risk", "stage", "top_reason", "action_id"),
    [
        ("A", "low", "loyal", None, "vip_care"),
        ("A", "medium", "active", None, "vip_check_in"),
        ("A", "high", "at_risk", "days_since_last_order", "vip_rescue_call"),
        ("B", "high", "at_risk", None, "vip_rescue_call"),
        ("A", "high", "at_risk", "complaints_365d", "vip_service_recovery"),
        ("B", "high", "at_risk", "support_tickets_90d", "vip_service_recovery"),
        ("B", "low", "active", None, "mid_value_growth"),
        ("B", "medium", "new", None, "mid_value_growth"),
        ("C", "high", "at_risk", None, "mid_value_growth"),
        ("D", "low", "active", None, "low_value_nurture"),
        ("A", "low", "dormant", None, "dormant_reactivation"),
        ("C", "medium", "dormant", None, "dormant_reactivation"),
        ("A", "high", "lost", None, "win_back_campaign"),
        ("D", "low", "intent", "inquiries_90d", "prospect_case_studies"),
        ("D", "low", "prospect", None, "prospect_welcome"),
        ("?", "low", "active", None, "standard_follow_up"),
    ],
)
def test_default_playbook_segments(
    default: Playbook, tier: str, risk: str, stage: str, top_reason: str | None, action_id: str
) -> None:
    assert _decide(default, tier, risk, stage, top_reason).action_ids == [action_id]


def test_default_high_value_call_is_due_within_a_day(default: Playbook, catalogues: Catalogues) -> None:
    action = default.action(_decide(default, "A", "high", "at_risk").action_ids[0])

    assert action is not None
    assert (action.owner, action.due_within_days) == ("account_manager", 1)
    assert localise(action, catalogues["en"]).title == "Call the high-value customer within 24 hours"
    assert localise(action, catalogues["zh"]).title == "24 小时内致电高价值客户"


def test_default_lifecycle_uses_playbook_silences(default: Playbook) -> None:
    features = {"days_since_last_order": 200.0, "orders_lifetime": 3.0, "days_since_first_order": 500.0}

    columns = {name: [value] for name, value in features.items()}
    assert default.lifecycle_stages(columns, ["low"]).tolist() == ["dormant"]


def test_decisions_for_many_customers_equal_each_alone_with_rule_ids(default: Playbook) -> None:
    rows = [
        ("A", "high", "at_risk", "complaints_365d"),
        ("A", "high", "at_risk", None),
        ("D", "low", "active", None),
        ("A", "high", "at_risk", None),
        ("C", "low", "lost", None),
    ]

    tiers, risks, stages, reasons = (list(column) for column in zip(*rows, strict=True))
    decisions = default.decide(
        tiers, [_population(stage) for stage in stages], risks, stages, reasons, [0.5] * len(rows)
    )

    assert decisions.action_ids == [
        "vip_service_recovery",
        "vip_rescue_call",
        "low_value_nurture",
        "vip_rescue_call",
        "win_back_campaign",
    ]
    assert decisions.rule_ids == [
        "high_value_service_recovery",
        "high_value_at_risk",
        "low_value_nurture",
        "high_value_at_risk",
        "lost_win_back",
    ]
    assert decisions.action_ids == [_decide(default, *row).action_ids[0] for row in rows]


def test_one_action_id_has_one_definition(tmp_path: Path) -> None:
    rules = (
        """
  - id: first
    when: {tier: [A]}
    action: {id: call, owner: marketing, due_within_days: 1}
  - id: second
    when: {tier: [B]}
    action: {id: call, owner: marketing, due_within_days: 7}
"""
        + CATCH_ALL
    )
    with pytest.raises(PlaybookError) as error:
        Playbook.load(_write(tmp_path, rules))

    assert str(error.value) == (
        "playbook.yaml rule 2 'second': action 'call' is defined differently in rule 1 'first'; "
        "give one of them another id"
    )


def test_rules_can_ask_for_a_population_and_a_minimum_probability(tmp_path: Path) -> None:
    rules = (
        """
  - id: likely_comeback
    when: {population: [lapsed], min_probability: 0.4}
    action: {id: comeback_call, owner: sales_representative, due_within_days: 7}
  - id: likely_buyer
    when: {population: [prospect], min_probability: 0.3}
    action: {id: first_offer, owner: marketing, due_within_days: 7}
"""
        + CATCH_ALL
    )
    playbook = Playbook.load(_write(tmp_path, rules))
    decisions = playbook.decide(
        ["C"] * 5,
        ["lapsed", "lapsed", "prospect", "prospect", "active"],
        [None, None, None, None, "high"],
        ["dormant", "lost", "prospect", "intent", "at_risk"],
        [None] * 5,
        [0.4, 0.39, 0.9, 0.1, 0.99],
    )
    assert decisions.rule_ids == ["likely_comeback", "catch_all", "likely_buyer", "catch_all", "catch_all"]
    with pytest.raises(PlaybookError, match="population 'sleeping' is not one of active, lapsed, prospect"):
        Playbook.load(_write(tmp_path, rules.replace("[lapsed]", "[sleeping]")))


def _population(stage: str) -> str:
    return (
        "prospect"
        if stage in ("prospect", "intent")
        else "lapsed"
        if stage in ("dormant", "lost")
        else "active"
    )


def _decide(playbook: Playbook, tier: str, risk: str, stage: str, top_reason: str | None = None) -> Decisions:
    population = _population(stage)
    return playbook.decide(
        [tier], [population], [risk if population == "active" else None], [stage], [top_reason], [0.5]
    )
