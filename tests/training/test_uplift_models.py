"""Uplift models: the Qini coefficient on hand-made rankings, T- and X-learners on a known effect with
TreeSHAP that adds up, and on synthetic campaigns uplift targeting against churn and value-at-risk
targeting, judged by the truth."""

from __future__ import annotations

import pickle
from datetime import datetime

import numpy as np
import pandas as pd
import polars as pl
import pytest

from domain.errors import MetricInputError, UpliftTrainingError
from features.build import build_features, data_end
from features.synth import generate
from model_contract import to_model_frame
from model_contract.bundle import ModelPair, UpliftBundle
from policy.experiments import ControlAssigner
from policy.playbook import Playbook
from training.dataset import learn_categorical_levels
from training.uplift.campaigns import SyntheticCampaigns, run_synthetic_campaigns
from training.uplift.dataset import outcome_rows, with_features
from training.uplift.fit import UpliftFit, fit_uplift_models
from training.uplift.learners import TLearner, XLearner
from training.uplift.metrics import qini_coefficient, qini_curve, truth_curve, uplift_at


def test_the_qini_curve_counts_incremental_successes_scaled_to_the_treated() -> None:
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    treated = [True, False, True, True, False, False]
    outcomes = [1, 0, 1, 0, 1, 0]

    curve = qini_curve(scores, treated, outcomes)

    # k=1: 1 treated success, no control -> 1; k=2: 1 - 0 x 1/1; k=3: 2 - 0; k=4: 2 - 0;
    # k=5: 2 - 1 x 3/2 = 0.5; k=6: 2 - 1 x 3/3 = 1.
    assert curve.tolist() == [1.0, 1.0, 2.0, 2.0, 0.5, 1.0]
    fraction = np.arange(1, 7) / 6
    assert qini_coefficient(curve) == pytest.approx(np.mean(curve - 1.0 * fraction) / 6)
    assert uplift_at(scores, treated, outcomes, 0.5) == pytest.approx(1.0 - 0.0)
    assert uplift_at(scores, treated, outcomes, 1 / 6) is None


def test_against_the_truth_perfect_ranking_beats_random_and_reversed() -> None:
    effects = np.array([1, 0, 0, -1, 1, 0, 0, 0], dtype=float)

    perfect = qini_coefficient(truth_curve(effects, effects))
    reversed_ = qini_coefficient(truth_curve(-effects, effects))
    constant = qini_coefficient(truth_curve(np.zeros(8), effects))

    assert truth_curve(effects, effects).tolist() == [1, 2, 2, 2, 2, 2, 2, 1]
    assert perfect > constant > reversed_
    with pytest.raises(MetricInputError):
        qini_curve([1.0], [True, False], [1, 0])


def _known_effect(rows: int = 6000, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """x1 in {0, 1} doubles as the persuadable flag: the action adds 0.5 to the chance of success when
    x1 = 1 and nothing otherwise; x2 is noise."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.integers(0, 2, rows).astype(float), "x2": rng.random(rows)})
    treated = rng.random(rows) < 0.7
    base = 0.2
    success = rng.random(rows) < base + 0.5 * frame["x1"].to_numpy() * treated
    return frame, treated, success.astype(float), frame["x1"].to_numpy() * 0.5


@pytest.mark.parametrize("learner", [TLearner, XLearner])
def test_both_learners_find_a_known_effect_and_their_treeshap_adds_up(
    learner: type[TLearner] | type[XLearner],
) -> None:
    X, treated, y, truth = _known_effect()

    model = learner(seed=0).fit(X, treated, y)
    predicted = model.predict(X)
    base, contributions = model.scorer_.contributions(X)

    assert abs(predicted[truth > 0].mean() - 0.5) < 0.06
    assert abs(predicted[truth == 0].mean()) < 0.06
    assert np.allclose(base + contributions.sum(axis=1), predicted, atol=1e-9)
    assert np.abs(contributions[:, 0]).mean() > 5 * np.abs(contributions[:, 1]).mean()


def test_a_learner_refuses_rows_of_one_group_only() -> None:
    X, _, y, _ = _known_effect(rows=100)

    with pytest.raises(UpliftTrainingError, match="both the treatment and the control group"):
        TLearner().fit(X, np.ones(100, dtype=bool), y)


@pytest.fixture(scope="module")
def playbook() -> Playbook:
    return Playbook.load()


@pytest.fixture(scope="module")
def campaigns(playbook: Playbook) -> SyntheticCampaigns:
    return run_synthetic_campaigns(
        generate(8_000, 5), playbook, ControlAssigner(b"uplift-test", 90), seed=5, control_share=0.5
    )


@pytest.fixture(scope="module")
def layout(campaigns: SyntheticCampaigns) -> tuple[list[str], dict[str, list[str]], datetime]:
    end = data_end(campaigns.raw)
    assert end is not None
    features = build_features(campaigns.raw, end)
    names = [name for name in features.columns if name not in ("customer_id", "as_of")]
    return names, learn_categorical_levels(features, names), end


HETEROGENEOUS = ("dormant_reactivation", "vip_rescue_call")


@pytest.fixture(scope="module")
def fitted(
    campaigns: SyntheticCampaigns,
    playbook: Playbook,
    layout: tuple[list[str], dict[str, list[str]], datetime],
) -> UpliftFit:
    names, levels, end = layout
    chosen = campaigns.actions.filter(
        pl.col("action_id").is_in([*HETEROGENEOUS, "vip_care", "vip_service_recovery"])
    )
    return fit_uplift_models(chosen, campaigns.raw, playbook, end, names, levels, min_per_group=200)


def test_actions_with_enough_outcomes_in_both_groups_get_a_backtested_model(fitted: UpliftFit) -> None:
    assert set(fitted.bundles) == set(HETEROGENEOUS)
    assert fitted.skipped["vip_care"].startswith("238 treated and 0 control outcomes closed, fewer than 200")
    assert "fewer than 200 in a group" in fitted.skipped["vip_service_recovery"]
    for bundle in fitted.bundles.values():
        metadata = bundle.metadata
        assert metadata.backtest_as_of == datetime(2025, 8, 15)  # the last campaign is the validation one
        assert metadata.assigned_until < datetime(2025, 8, 16)
        assert {"qini", "qini_t_learner", "qini_x_learner", "uplift_top10", "uplift_top20"} <= set(
            metadata.backtest_metrics
        )
        assert metadata.backtest_metrics["qini"] == max(
            metadata.backtest_metrics["qini_t_learner"], metadata.backtest_metrics["qini_x_learner"]
        )


def test_uplift_targeting_beats_churn_and_value_at_risk_targeting_against_the_truth(
    fitted: UpliftFit,
    campaigns: SyntheticCampaigns,
    playbook: Playbook,
    layout: tuple[list[str], dict[str, list[str]], datetime],
) -> None:
    """On the validation campaign, which the models never saw, ranked by the true effect y1 - y0."""
    names, levels, end = layout
    rows = with_features(outcome_rows(campaigns.actions, campaigns.raw, playbook, end), campaigns.raw)
    truth = campaigns.truth.select(
        "customer_id",
        "action_id",
        "assigned_at",
        (pl.col("success_with").cast(pl.Float64) - pl.col("success_without").cast(pl.Float64)).alias(
            "effect"
        ),
        "oracle_churn_probability",
        (pl.col("oracle_churn_probability") * pl.col("oracle_value_if_retained")).alias("value_at_risk"),
    )
    rows = rows.join(truth, on=["customer_id", "action_id", "assigned_at"])
    for action_id in HETEROGENEOUS:
        bundle: UpliftBundle = fitted.bundles[action_id]
        part = rows.filter(
            (pl.col("action_id") == action_id) & (pl.col("cutoff") >= bundle.metadata.backtest_as_of)
        )
        uplift = bundle.scorer.predict(to_model_frame(part, names, levels))
        effect = part["effect"].to_numpy()

        by_uplift = qini_coefficient(truth_curve(uplift, effect))
        by_churn = qini_coefficient(truth_curve(part["oracle_churn_probability"].to_numpy(), effect))
        by_value_at_risk = qini_coefficient(truth_curve(part["value_at_risk"].to_numpy(), effect))

        assert by_uplift > by_value_at_risk, action_id
        assert by_uplift > by_churn, action_id


def test_a_pair_carries_its_uplift_models_and_an_old_pair_loads_with_none(fitted: UpliftFit) -> None:
    pair = ModelPair({}, None, fitted.bundles)  # type: ignore[arg-type]
    old = ModelPair({}, None)  # type: ignore[arg-type]
    del old.__dict__["uplift"]  # as pickled before uplift models existed

    restored = pickle.loads(pickle.dumps(pair))
    restored_old = pickle.loads(pickle.dumps(old))

    assert set(restored.uplift) == set(HETEROGENEOUS)
    assert restored.uplift["vip_rescue_call"].metadata == fitted.bundles["vip_rescue_call"].metadata
    assert restored_old.uplift == {}
