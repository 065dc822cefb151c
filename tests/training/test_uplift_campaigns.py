"""Synthetic campaigns with a known truth: the playbook assigns actions with random control groups at four
dates, customers respond as the synthetic world says, and the evaluation's measured uplift is checked
against the true effect of every action."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl
import pytest

from features.build import data_end
from features.synth import generate
from policy.evaluation import evaluate_actions
from policy.experiments import ControlAssigner
from policy.outcomes import window_outcomes, with_success_definitions
from policy.playbook import Playbook
from training.uplift.campaigns import SyntheticCampaigns, run_synthetic_campaigns

CUSTOMERS = 6_000
CONTROL_SHARE = 0.3
ASSIGNER = ControlAssigner(b"campaign-test-key", 90)


@pytest.fixture(scope="module")
def playbook() -> Playbook:
    return Playbook.load()


@pytest.fixture(scope="module")
def campaigns(playbook: Playbook) -> SyntheticCampaigns:
    return run_synthetic_campaigns(
        generate(CUSTOMERS, 5), playbook, ASSIGNER, seed=5, control_share=CONTROL_SHARE
    )


def test_the_campaigns_are_the_same_in_a_rerun(campaigns: SyntheticCampaigns, playbook: Playbook) -> None:
    again = run_synthetic_campaigns(
        generate(CUSTOMERS, 5), playbook, ASSIGNER, seed=5, control_share=CONTROL_SHARE
    )

    assert again.actions.equals(campaigns.actions)
    assert again.raw.transactions.equals(campaigns.raw.transactions)


def test_control_groups_are_near_their_share_and_follow_the_keyed_hash(
    campaigns: SyntheticCampaigns, playbook: Playbook
) -> None:
    actions = campaigns.actions
    with_control = actions.filter(pl.col("rule_id").is_in(["top_value_stable", "catch_all"]).not_())
    share = (with_control["group"] == "control").mean()
    assert isinstance(share, float)
    assert abs(share - CONTROL_SHARE) < 4 * np.sqrt(CONTROL_SHARE * (1 - CONTROL_SHARE) / with_control.height)
    assert set(actions.filter(pl.col("rule_id") == "top_value_stable")["group"]) == {"treatment"}

    sample = with_control.head(200)
    redrawn = ASSIGNER.assign(
        sample["customer_id"].to_list(),
        sample["rule_id"].to_list(),
        ASSIGNER.periods(sample["assigned_at"].to_numpy()),
        [CONTROL_SHARE] * sample.height,
    )
    assert redrawn.tolist() == sample["group"].to_list()


def test_the_truth_matches_the_data_in_the_world_each_customer_was_in(
    campaigns: SyntheticCampaigns, playbook: Playbook
) -> None:
    end = data_end(campaigns.raw)
    assert end is not None
    observed = window_outcomes(
        with_success_definitions(campaigns.actions, playbook), campaigns.raw.transactions, end
    )
    truth = campaigns.truth
    treated = (truth["group"] == "treatment").to_numpy()

    world = np.where(treated, truth["orders_with"].to_numpy(), truth["orders_without"].to_numpy())
    spend = np.where(treated, truth["net_spend_with"].to_numpy(), truth["net_spend_without"].to_numpy())
    assert (observed["orders_in_window"].to_numpy() == world).all()
    assert np.allclose(observed["net_spend_in_window"].to_numpy(), spend)
    changed = truth.filter(pl.col("success_with") != pl.col("success_without"))
    assert changed.height > 200 and (changed["won"] | changed["put_off"]).all()


def test_the_measured_uplift_of_every_action_covers_its_true_effect(
    campaigns: SyntheticCampaigns, playbook: Playbook
) -> None:
    end = data_end(campaigns.raw)
    assert end is not None
    evaluation = evaluate_actions(campaigns.actions, campaigns.raw.transactions, playbook, end, 90)
    closed = campaigns.truth.filter(pl.col("closed"))
    true_effects = dict(
        closed.group_by("action_id")
        .agg((pl.col("success_with").cast(pl.Float64) - pl.col("success_without").cast(pl.Float64)).mean())
        .iter_rows()
    )
    measured = {figures.action_id: figures for figures in evaluation.actions if figures.n_control >= 30}

    assert {"dormant_reactivation", "mid_value_growth", "vip_rescue_call", "win_back_campaign"} <= set(
        measured
    )
    for action_id, figures in measured.items():
        assert figures.uplift_ci_low is not None and figures.uplift_ci_high is not None
        assert figures.uplift_ci_low <= true_effects[action_id] <= figures.uplift_ci_high, action_id
    assert true_effects["mid_value_growth"] == 0.0
    assert measured["mid_value_growth"].significant is False
    assert measured["dormant_reactivation"].significant is True
    vip_care = evaluation.action("vip_care")
    assert vip_care is not None and vip_care.uplift is None and vip_care.n_control == 0


def test_some_customers_are_put_off_by_the_call(campaigns: SyntheticCampaigns) -> None:
    calls = campaigns.truth.filter(pl.col("action_id") == "vip_rescue_call")
    dislike = calls.filter(pl.col("backfire_probability") > 0)

    assert dislike.height > 20 and dislike["put_off"].sum() > 0
    assert (dislike["success_with"].cast(int) - dislike["success_without"].cast(int)).max() <= 0


def test_campaign_dates_after_the_data_end_are_refused(playbook: Playbook) -> None:
    from domain.errors import SyntheticDataError

    with pytest.raises(SyntheticDataError, match="before the data end"):
        run_synthetic_campaigns(generate(200, 1), playbook, ASSIGNER, dates=[datetime(2030, 1, 1).date()])
