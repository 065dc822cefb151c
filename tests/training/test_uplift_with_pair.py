"""Uplift models with the real trained pair: fitted by the train hook with the pair's feature layout,
registered and loaded with it; predictions then carry each allowed action's expected uplift and value
saved, `choose_by: value_saved` picks by it, and control customers get `hold_out`. An older pair loads
with none and its predictions carry no uplift."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from support.trained import AS_OF, TrainedModels, busiest_customer, request_for

from features.build import build_features
from features.synth import generate
from model_contract import load_champion_pair
from model_contract.registry import LoadedPair
from policy.experiments import ControlAssigner
from policy.playbook import DEFAULT_PLAYBOOK, Playbook
from serving.predictor import Predictor
from serving.text import Texts
from training.train import TrainingOutcome
from training.uplift.campaigns import SyntheticCampaigns, run_synthetic_campaigns
from training.uplift.fit import UpliftFit
from training.uplift.register import add_uplift_models, register_with_uplift

ACTIONS = ("dormant_reactivation", "vip_rescue_call", "mid_value_growth")


@pytest.fixture(scope="module")
def campaigns() -> SyntheticCampaigns:
    return run_synthetic_campaigns(
        generate(3_000, 21), Playbook.load(), ControlAssigner(b"pair-test", 90), seed=21, control_share=0.5
    )


@pytest.fixture(scope="module")
def with_uplift(
    trained: TrainedModels, campaigns: SyntheticCampaigns, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainingOutcome, LoadedPair]:
    """The hook run on the trained pair, then registered as a new version in a copy of its store."""
    outcome = TrainingOutcome(models={}, pair=trained.engine.pair, notes=[])
    actions = campaigns.actions.filter(pl.col("action_id").is_in(ACTIONS))
    add_uplift_models(outcome, campaigns.raw, actions, Playbook.load(), min_per_group=40, seed=1)
    store = tmp_path_factory.mktemp("uplift-store")
    source = Path(trained.tracking_uri.removeprefix("sqlite:///"))
    (store / "mlflow.db").write_bytes(source.read_bytes())
    uri = f"sqlite:///{store / 'mlflow.db'}"
    loaded = LoadedPair(outcome.pair, trained.engine.loaded.version, trained.engine.loaded.run_id)
    features = build_features(trained.raw, AS_OF).head(5)
    version = register_with_uplift(loaded, _fit_of(outcome), features, tracking_uri=uri)
    reloaded = load_champion_pair(uri)
    assert reloaded.version == version
    return outcome, reloaded


def _fit_of(outcome: TrainingOutcome) -> UpliftFit:
    return UpliftFit(bundles=dict(outcome.pair.uplift))


def _predictor(trained: TrainedModels, loaded: LoadedPair, playbook: Playbook | None = None) -> Predictor:
    texts = Texts.load(DEFAULT_PLAYBOOK)
    if playbook is not None:
        texts = Texts.of(texts.catalogues, playbook)
    return Predictor(loaded, texts, trained.tracking_uri, ControlAssigner(b"pair-test", 90))


def test_the_train_hook_adds_uplift_models_registered_and_loaded_with_the_pair(
    with_uplift: tuple[TrainingOutcome, LoadedPair], trained: TrainedModels
) -> None:
    outcome, reloaded = with_uplift
    assert set(outcome.pair.uplift) <= set(ACTIONS) and outcome.pair.uplift
    assert any(note.startswith("uplift model for ") for note in outcome.notes)
    assert set(reloaded.pair.uplift) == set(outcome.pair.uplift)
    assert set(reloaded.pair.models) == set(trained.engine.pair.models)
    for action, bundle in reloaded.pair.uplift.items():
        assert bundle.metadata.feature_names == trained.engine.pair["value"].metadata.feature_names
        assert bundle.metadata.action_id == action
        assert "qini" in bundle.metadata.backtest_metrics


def test_predictions_carry_expected_uplift_and_value_saved_of_the_allowed_actions(
    with_uplift: tuple[TrainingOutcome, LoadedPair], trained: TrainedModels
) -> None:
    _, reloaded = with_uplift
    engine = _predictor(trained, reloaded)
    scored = engine.score(build_features(trained.raw, AS_OF))
    frame = scored.to_frame()
    playbook = engine.playbook
    with_options = frame.filter(pl.col("action_options").list.len() > 0)
    assert with_options.height > 0
    for row in with_options.head(50).iter_rows(named=True):
        worth = row["value_if_retained"] if row["value_if_retained"] is not None else row["predicted_value"]
        for option in row["action_options"]:
            assert option["action_id"] in reloaded.pair.uplift
            cost = playbook.actions()[option["action_id"]].cost
            assert option["expected_value_saved"] == pytest.approx(option["expected_uplift"] * worth - cost)
        chosen = [o for o in row["action_options"] if o["action_id"] == row["action_id"]]
        assert row["expected_uplift"] == (chosen[0]["expected_uplift"] if chosen else None)
    # the API shape says the same as the snapshot record
    customer = busiest_customer(trained)
    [prediction] = engine.predict([request_for(trained.raw, customer)], "en")
    record = frame.filter(pl.col("customer_id") == customer).row(0, named=True)
    assert prediction.assignment == record["assignment"]
    assert [o.action_id for o in prediction.action_options] == [
        o["action_id"] for o in record["action_options"]
    ]


def test_choose_by_value_saved_picks_the_largest_positive_value_saved_or_holds_out(
    with_uplift: tuple[TrainingOutcome, LoadedPair], trained: TrainedModels
) -> None:
    _, reloaded = with_uplift
    base = Playbook.load()
    by_value = base.model_copy(
        update={
            "choose_by": "value_saved",
            "rules": [r.model_copy(update={"control_share": 0.0}) for r in base.rules],
        }
    )
    engine = _predictor(trained, reloaded, by_value)
    frame = engine.score(build_features(trained.raw, AS_OF)).to_frame()
    allowed_counts = 0
    for row in frame.filter(pl.col("action_options").list.len() > 0).iter_rows(named=True):
        best = max(row["action_options"], key=lambda o: o["expected_value_saved"])
        if best["expected_value_saved"] > 0:
            assert (row["action_id"], row["rule_id"]) == (best["action_id"], best["rule_id"])
        else:
            assert row["action_id"] in ("hold_out", *(r.action.id for r in base.rules))
        allowed_counts += 1
    assert allowed_counts > 0
    assert set(frame["assignment"].unique()) == {"none"}


def test_control_customers_get_hold_out_with_their_rule_named(
    with_uplift: tuple[TrainingOutcome, LoadedPair], trained: TrainedModels
) -> None:
    _, reloaded = with_uplift
    engine = _predictor(trained, reloaded)
    frame = engine.score(build_features(trained.raw, AS_OF)).to_frame()
    control = frame.filter(pl.col("assignment") == "control")
    assert control.height > 0
    assert set(control["action_id"]) == {"hold_out"}
    shares = {rule.id: rule.control_share for rule in engine.playbook.rules}
    assert all(shares[rule] > 0 for rule in control["rule_id"])
    share = control.height / frame.filter(pl.col("assignment") != "none").height
    assert abs(share - 0.1) < 0.05
    assigner = ControlAssigner(b"pair-test", 90)
    for row in control.head(5).iter_rows(named=True):
        assert (
            assigner.audit(row["customer_id"], row["rule_id"], AS_OF, shares[row["rule_id"]]).assignment
            == "control"
        )


def test_an_older_pair_loads_with_no_uplift_and_its_predictions_carry_none(trained: TrainedModels) -> None:
    engine = trained.engine
    assert engine.pair.uplift == {}
    frame = engine.score(build_features(trained.raw, AS_OF).head(30)).to_frame()
    assert frame["expected_uplift"].null_count() == 30
    assert frame["action_options"].list.len().to_list() == [0] * 30
    assert np.all(frame["assignment"].is_in(["treatment", "control", "none"]).to_numpy())
