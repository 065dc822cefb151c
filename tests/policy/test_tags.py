"""Playbook tags: validation that names the tag and field, quantiles from the pair's reference, and the
tags of hand-made rows (every threshold, any-of groups, population and stage, missing values)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from domain.errors import PlaybookError
from policy.playbook import Playbook
from policy.tags import Tag, TagRules, quantile_from_reference, resolve_tags
from serving.text import Catalogues

HEADER = """
churn_risk: {high: 0.5, medium: 0.25}
lifecycle: {dormant_after_days: 180, lost_after_days: 365}
rules:
"""
CATCH_ALL = """
  - id: catch_all
    action: {id: standard_follow_up, owner: marketing, due_within_days: 30}
"""
REFERENCE = {
    "features": {
        # 61% at 0, 20% at 1, 12% at 3 and 7% above: deciles 0.7 -> 1, 0.9 -> 3.
        "orders_90d": {"kind": "numeric", "edges": [0.0, 1.0, 3.0], "shares": [0.61, 0.2, 0.12, 0.07],
                       "missing_share": 0.0},
        "visits_90d": {"kind": "numeric", "edges": [], "shares": [0.0], "missing_share": 1.0},
        "profile_region": {"kind": "categorical", "levels": ["north"], "shares": [1.0], "other_share": 0.0,
                           "missing_share": 0.0},
    }
}  # fmt: skip


def _write(tmp_path: Path, rules: str, tags: str) -> Path:
    path = tmp_path / "playbook.yaml"
    path.write_text(HEADER + rules + CATCH_ALL + "tags:\n" + tags, encoding="utf-8")
    return path


def _tag(document: dict[str, object]) -> Tag:
    return Tag.model_validate(document)


@pytest.mark.parametrize(("q", "expected"), [(0.1, 0.0), (0.6, 0.0), (0.7, 1.0), (0.8, 1.0), (0.9, 3.0)])
def test_a_quantile_is_the_smallest_reference_edge_whose_share_reaches_it(q: float, expected: float) -> None:
    assert quantile_from_reference(REFERENCE["features"]["orders_90d"], q) == expected


def test_a_quantile_among_present_values_ignores_the_missing_share() -> None:
    entry = {"kind": "numeric", "edges": [2.0, 5.0], "shares": [0.25, 0.25, 0.0], "missing_share": 0.5}

    assert quantile_from_reference(entry, 0.5) == 2.0
    assert quantile_from_reference(entry, 0.6) == 5.0
    assert quantile_from_reference(REFERENCE["features"]["visits_90d"], 0.9) is None


def test_resolved_bounds_take_the_reference_quantile_and_absolute_bounds_as_given() -> None:
    tag = _tag({"id": "busy", "kind": "behaviour", "when": {"features": {"orders_90d": {"above_quantile": 0.9,
                                                                                       "at_least": 2}}}})  # fmt: skip

    (resolved,) = resolve_tags([tag], REFERENCE, ["orders_90d"])

    assert resolved.enabled
    assert resolved.thresholds == {"orders_90d": [(">=", 2.0), (">", 3.0)]}


def test_a_quantile_of_a_feature_the_base_never_had_matches_nobody() -> None:
    tag = _tag(
        {"id": "v", "kind": "behaviour", "when": {"features": {"visits_90d": {"above_quantile": 0.9}}}}
    )

    (resolved,) = resolve_tags([tag], REFERENCE, ["visits_90d"])

    assert resolved.thresholds == {"visits_90d": [(">", math.inf)]}


def test_a_quantile_without_a_numeric_reference_is_refused_with_the_fix() -> None:
    tag = _tag({"id": "t", "kind": "need", "when": {"features": {"calls_90d": {"below_quantile": 0.5}}}})

    with pytest.raises(
        PlaybookError, match=r"tag 't' when feature 'calls_90d': pair v7 stores no reference.*retrain"
    ):
        resolve_tags([tag], REFERENCE, ["calls_90d"], source="pair v7")


def test_a_tag_whose_required_column_the_pair_lacks_is_given_to_nobody() -> None:
    tag = _tag({"id": "price_sensitive", "kind": "need", "requires": ["discount_share"],
                "when": {"features": {"discount_share": {"at_least": 0.5}}}})  # fmt: skip
    rules = TagRules(resolve_tags([tag], REFERENCE, ["orders_90d"]))
    features = pl.DataFrame({"discount_share": [0.9, 0.1]})

    assigned = rules.assign(features, np.array(["active", "active"]), np.array(["loyal", "loyal"]))

    assert assigned.row(0) == [] and assigned.row(1) == []


def test_tags_of_hand_made_rows_follow_every_condition() -> None:
    tags = [
        _tag({"id": "all_of", "kind": "behaviour", "when": {"features": {"orders_90d": {"at_least": 1},
                                                                          "calls_90d": {"at_most": 2}}}}),
        _tag({"id": "any_of", "kind": "need", "when": {"any_features": {"orders_90d": {"above_quantile": 0.9},
                                                                         "calls_90d": {"at_least": 5}}}}),
        _tag({"id": "active_only", "kind": "behaviour",
              "when": {"population": ["active"], "lifecycle_stage": "any", "features": {"orders_90d": {"at_least": 0}}}}),
    ]  # fmt: skip
    rules = TagRules(resolve_tags(tags, REFERENCE, ["orders_90d", "calls_90d"]))
    features = pl.DataFrame(
        {"orders_90d": [1.0, 4.0, 0.0, None, 3.0], "calls_90d": [2.0, 3.0, 6.0, 0.0, None]}
    )
    populations = np.array(["active", "active", "lapsed", "active", "prospect"], dtype=object)
    stages = np.array(["loyal", "loyal", "dormant", "new", "prospect"], dtype=object)

    assigned = rules.assign(features, populations, stages)

    assert [assigned.row(i) for i in range(5)] == [
        ["all_of", "active_only"],
        ["any_of", "active_only"],  # 4 orders > the 0.9 quantile (3); 3 calls break all_of's at_most 2
        ["any_of"],  # 6 calls; lapsed, so not active_only
        [],  # a missing order count meets no threshold, not even at_least 0
        [],  # 3 orders are not above the quantile 3; missing calls meet nothing
    ]
    assert assigned.to_series().to_list() == [assigned.row(i) for i in range(5)]
    assert assigned.sets()[1] == frozenset({"any_of", "active_only"})


def test_the_default_playbook_defines_the_practice_tags_with_texts_in_every_catalogue() -> None:
    playbook = Playbook.load(catalogue_keys=Catalogues.load().keys())

    assert [(tag.id, tag.kind) for tag in playbook.tags] == [
        ("browsing", "behaviour"),
        ("buying", "behaviour"),
        ("interacting", "behaviour"),
        ("price_sensitive", "need"),
        ("service_dependent", "need"),
        ("quality_oriented", "need"),
    ]
    assert playbook.tag("buying") is not None and playbook.tag("buying").label == "tag.buying.label"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (
            "  - {id: busy, kind: behaviour, when: {features: {orders_90d: {at_least: 1}}}}\n"
            "  - {id: busy, kind: need, when: {features: {orders_90d: {at_least: 2}}}}\n",
            "playbook.yaml tag 2 'busy': id is used by an earlier tag",
        ),
        (
            "  - {id: busy, kind: behaviour, when: {features: {order_90d: {at_least: 1}}}}\n",
            "playbook.yaml tag 1 'busy': when feature 'order_90d' is not a feature",
        ),
        (
            "  - {id: busy, kind: behaviour, when: {features: {orders_90d: {above_quantile: 0.95}}}}\n",
            "playbook.yaml tag 1 'busy': when.features.orders_90d.above_quantile: .*quantile 0.95 is not a decile",
        ),
        (
            "  - {id: busy, kind: behaviour, when: {population: [vip], features: {orders_90d: {at_least: 1}}}}\n",
            "playbook.yaml tag 1 'busy': population 'vip' is not one of active, lapsed, prospect",
        ),
        (
            "  - {id: busy, kind: mood, when: {features: {orders_90d: {at_least: 1}}}}\n",
            "playbook.yaml tag 1 'busy': kind: .*'behaviour' or 'need'",
        ),
        (
            "  - {id: busy, kind: behaviour, when: {}}\n",
            "playbook.yaml tag 1 'busy': when: .*a tag needs features or any_features",
        ),
        (
            "  - {id: busy, kind: behaviour, when: {features: {profile_region: {at_least: 1}}}}\n",
            "playbook.yaml tag 1 'busy': when feature 'profile_region' is not numeric",
        ),
    ],
)
def test_a_bad_tag_is_refused_naming_tag_number_id_and_field(tmp_path: Path, tags: str, message: str) -> None:
    with pytest.raises(PlaybookError, match=message):
        Playbook.load(_write(tmp_path, "", tags))


def test_a_rule_may_ask_only_for_tags_the_playbook_defines(tmp_path: Path) -> None:
    rules = """
  - id: for_browsers
    when: {tags: [browsers]}
    action: {id: send_offer, owner: marketing, due_within_days: 7}
"""
    tags = "  - {id: browsing, kind: behaviour, when: {features: {visits_90d: {at_least: 2}}}}\n"

    with pytest.raises(PlaybookError, match="rule 1 'for_browsers': tags 'browsers' is not a tag of this playbook "
                       r"\(defined: browsing\)"):  # fmt: skip
        Playbook.load(_write(tmp_path, rules, tags))


def test_a_rule_with_tags_matches_customers_carrying_any_of_them(tmp_path: Path) -> None:
    rules = """
  - id: for_service
    when: {tags: [service_dependent, browsing], tier: [A, B]}
    action: {id: send_offer, owner: marketing, due_within_days: 7}
"""
    tags = (
        "  - {id: browsing, kind: behaviour, when: {features: {visits_90d: {at_least: 2}}}}\n"
        "  - {id: service_dependent, kind: need, when: {features: {calls_90d: {at_least: 2}}}}\n"
    )
    playbook = Playbook.load(_write(tmp_path, rules, tags))
    customer_tags = [
        frozenset({"browsing"}),
        frozenset(),
        frozenset({"service_dependent"}),
        frozenset({"browsing"}),
    ]

    decisions = playbook.decide(
        ["A", "A", "B", "C"],
        ["active"] * 4,
        ["low"] * 4,
        ["loyal"] * 4,
        [None] * 4,
        [0.1] * 4,
        customer_tags,
    )

    assert decisions.rule_ids == ["for_service", "catch_all", "for_service", "catch_all"]
