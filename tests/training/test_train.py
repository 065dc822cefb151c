"""Training end to end on a small synthetic base, into a throwaway MLflow store.

Three runs share one store, in order: a first training (becomes champion), a training on shuffled
labels (its backtest is worse on the same validation cutoffs, so it must stay challenger) and the same
worse training forced to champion. Every run registers one model pair.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import mlflow
import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient

import training.evaluation as evaluation
import training.tables as tables_module
from domain.errors import ModelFitError
from domain.vocabulary import MODEL_NAMES
from features.synth import SyntheticBase, generate
from model_contract.registry import CHALLENGER, CHAMPION, PAIR_MODEL_NAME, load_pair, tracking_to
from training.order_baselines import NAIVE_NEXT_ORDER, NAIVE_ORDERS
from training.train import TrainingConfig, TrainingOutcome, train
from training.value_range import ABSOLUTE_RESIDUAL, ONE_OFFSET

pytestmark = pytest.mark.slow

CUSTOMERS = 1_500
SEED = 3
COMMON_ARTIFACTS = {
    "model_card.md",
    "feature_list.json",
    "reference_statistics.json",
    "validation_metrics.json",
}
FITTED_PROBABILITY_ARTIFACTS = COMMON_ARTIFACTS | {
    "shap_summary.png",
    "calibration_curve.png",
    "cumulative_gain.png",
}
VALUE_ARTIFACTS = COMMON_ARTIFACTS | {
    "shap_summary.png",
    "cumulative_gain.png",
    "decile_table.csv",
    "value_model_candidates.json",
}
OWN_ARTIFACTS = {
    "orders": COMMON_ARTIFACTS | {"shap_summary.png", "decile_table.csv"},
    "next_order": COMMON_ARTIFACTS | {"shap_summary.png", "predicted_vs_actual_days.png"},
    "value_range": COMMON_ARTIFACTS | {"coverage_by_tier.png"},
}
LABELS = ("ordered_within_horizon", "future_value")


@pytest.fixture(scope="module")
def base() -> SyntheticBase:
    return generate(CUSTOMERS, seed=SEED)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mlruns")


@pytest.fixture(scope="module")
def uri(store: Path) -> str:
    return f"sqlite:///{store}/mlflow.db"


@pytest.fixture(scope="module")
def client(uri: str) -> MlflowClient:
    return MlflowClient(uri, registry_uri=uri)


@pytest.fixture(scope="module")
def first(base: SyntheticBase, uri: str) -> TrainingOutcome:
    tracking_before = os.environ.get("MLFLOW_TRACKING_URI")
    outcome = train(
        base.raw,
        TrainingConfig(n_jobs=1),
        ground_truth=base.ground_truth,
        tracking_uri=uri,
        data_source="synth",
    )
    assert os.environ.get("MLFLOW_TRACKING_URI") == tracking_before  # the process's store is restored
    return outcome


def _validation_cutoffs(outcome: TrainingOutcome) -> set[datetime]:
    return {run.backtest.validation_as_of for run in outcome.models.values()}


def _labels_shuffled_except_at(keep: set[datetime], build: object) -> object:
    """`build_labels`, but each customer gets another's labels at every cutoff not in `keep`."""

    def shuffled(raw: object, as_of: datetime, *args: object, **kwargs: object) -> pl.DataFrame:
        labels: pl.DataFrame = build(raw, as_of, *args, **kwargs)  # type: ignore[operator]
        if as_of in keep:
            return labels
        order = np.random.default_rng(0).permutation(labels.height)
        return labels.with_columns(labels[name].gather(order) for name in LABELS)

    return shuffled


def _unfittable(self: object, summary: object) -> object:
    raise ModelFitError("Gamma-Gamma fitted q=0.900 <= 1")


def _train_on_noise(base: SyntheticBase, uri: str, keep: set[datetime], *, force: bool) -> TrainingOutcome:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            tables_module, "build_labels", _labels_shuffled_except_at(keep, tables_module.build_labels)
        )
        if force:  # also: a baseline that cannot be fitted is reported, not fatal
            patch.setattr(evaluation.BgNbdGammaGamma, "fit", _unfittable)
        return train(base.raw, TrainingConfig(n_jobs=1, force=force), tracking_uri=uri)


@pytest.fixture(scope="module")
def worse(first: TrainingOutcome, base: SyntheticBase, uri: str) -> TrainingOutcome:
    return _train_on_noise(base, uri, _validation_cutoffs(first), force=False)


@pytest.fixture(scope="module")
def forced(worse: TrainingOutcome, base: SyntheticBase, uri: str) -> TrainingOutcome:
    return _train_on_noise(base, uri, _validation_cutoffs(worse), force=True)


def _version_with(client: MlflowClient, alias: str) -> str:
    return str(client.get_model_version_by_alias(PAIR_MODEL_NAME, alias).version)


def test_first_training_registers_one_pair_of_every_model_as_champion(
    first: TrainingOutcome, client: MlflowClient
) -> None:
    assert first.decision is not None
    assert (first.decision.version, first.decision.alias, first.decision.forced) == ("1", CHAMPION, False)
    assert _version_with(client, CHAMPION) == "1"
    assert client.get_model_version(PAIR_MODEL_NAME, "1").run_id == first.parent_run_id
    assert set(first.models) == set(MODEL_NAMES)
    churn, value = first.tables["churn"], first.tables["value"]
    assert {"clvchurn", "bgnbd_gamma_gamma", "rfm_rules", "logistic_regression", "oracle"} <= set(churn)
    assert {"clvchurn", "bgnbd_gamma_gamma", "rfm_rules", "oracle"} <= set(value)
    assert churn["clvchurn"]["roc_auc"] > 0.7
    assert value["clvchurn"]["gini"] > 0.5


def test_every_model_is_judged_out_of_time_and_refit_on_the_newest_labels(first: TrainingOutcome) -> None:
    for name, run in first.models.items():
        backtest, refit = run.backtest.schedule, run.refit_schedule
        assert backtest.validation is not None and refit.validation is None
        assert max(backtest.training) < backtest.calibration < backtest.validation, name
        assert refit.trained_through > backtest.trained_through, name
        assert refit.trained_through <= first.pair.metadata.data_end, name
    assert any("refit" in note for note in first.notes)


def test_parent_and_child_runs_hold_metrics_artifacts_and_the_dataset(
    first: TrainingOutcome, client: MlflowClient, store: Path
) -> None:
    parent = client.get_run(first.parent_run_id)
    assert parent.data.params["min_history_days"] == "180"
    assert parent.data.metrics["churn_clvchurn_roc_auc"] == pytest.approx(
        first.tables["churn"]["clvchurn"]["roc_auc"]
    )
    assert parent.inputs is not None
    [dataset] = parent.inputs.dataset_inputs
    assert (
        json.loads(str(dataset.dataset.profile))["num_rows"]
        == first.models["churn"].backtest.validation.height
    )

    children = client.search_runs(
        [first.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{first.parent_run_id}'"
    )
    by_name = {run.info.run_name: run for run in children}
    assert set(by_name) == set(MODEL_NAMES)
    churn = by_name["churn"]
    assert {"roc_auc", "pr_auc", "brier", "ece"} <= set(churn.data.metrics)
    for name, run in by_name.items():
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        if first.pair[name].metadata.fallback is not None:
            assert artifacts == COMMON_ARTIFACTS, name
        elif name in OWN_ARTIFACTS:
            assert artifacts == OWN_ARTIFACTS[name], name
        elif first.models[name].spec.is_probability:
            assert artifacts == FITTED_PROBABILITY_ARTIFACTS, name
        else:
            assert artifacts == VALUE_ARTIFACTS, name
    # With a SQLite store every file lives in `artifacts/` beside the database; one MLmodel: the pair.
    assert len(list((store / "artifacts").rglob("model_card.md"))) == len(MODEL_NAMES)
    assert len(list((store / "artifacts").rglob("MLmodel"))) == 1


def test_the_registered_pair_carries_what_serving_needs(first: TrainingOutcome, uri: str) -> None:
    loaded = load_pair(CHAMPION, uri)
    assert loaded.version == "1" and loaded.run_id == first.parent_run_id
    pair = loaded.pair
    assert set(pair.metadata.tier_cutpoints) >= {"a_threshold", "b_threshold", "c_threshold"}
    assert pair.metadata.lookback_days == 180
    assert set(pair.metadata.reference_distribution["predictions"]) == {
        "churn_probability",
        "predicted_value",
    }
    for name, run in first.models.items():
        metadata = pair[name].metadata
        assert metadata.backtest_as_of == run.backtest.validation_as_of
        assert metadata.trained_through == run.refit_schedule.trained_through
        assert metadata.fit_cutoffs == list(run.refit_schedule.training)
        assert not {"churned", "future_value", "customer_id", "as_of", "population"} & set(
            metadata.feature_names
        )
    assert set(pair["churn"].metadata.reference_statistics["tiers"]) == {"A", "B", "C", "D"}
    with tracking_to(uri):
        info = mlflow.models.get_model_info(f"models:/{PAIR_MODEL_NAME}/1")
    assert info.signature is not None and info.saved_input_example_info is not None


def test_a_worse_pair_becomes_challenger_and_the_champion_stays(
    worse: TrainingOutcome, client: MlflowClient
) -> None:
    decision = worse.decision
    assert decision is not None
    assert (decision.version, decision.alias, decision.champion_version, decision.forced) == (
        "2",
        CHALLENGER,
        "1",
        False,
    )
    churn = decision.comparison["churn"]
    assert churn["new_roc_auc"] < churn["champion_roc_auc"] - 0.005
    assert "below the champion" in decision.reason
    assert _version_with(client, CHAMPION) == "1"
    assert _version_with(client, CHALLENGER) == "2"


def test_force_promotes_the_worse_pair_and_says_so(forced: TrainingOutcome, client: MlflowClient) -> None:
    decision = forced.decision
    assert decision is not None
    assert (decision.version, decision.alias, decision.forced) == ("3", CHAMPION, True)
    assert decision.reason.endswith("(forced)")
    assert _version_with(client, CHAMPION) == "3"
    assert _version_with(client, CHALLENGER) == "2"
    assert "baseline bgnbd_gamma_gamma left out: Gamma-Gamma fitted q=0.900 <= 1" in forced.notes
    assert np.isnan(forced.tables["churn"]["bgnbd_gamma_gamma"]["roc_auc"])
    assert np.isnan(forced.tables["value"]["bgnbd_gamma_gamma"]["gini"])


def test_next_order_and_value_range_are_backtested_against_naive_forecasts(first: TrainingOutcome) -> None:
    next_order, orders, value_range = (
        first.tables["next_order"],
        first.tables["orders"],
        first.tables["value_range"],
    )
    assert set(next_order) == {"clvchurn", NAIVE_NEXT_ORDER}
    assert next_order["clvchurn"]["naive_mae_days"] == next_order[NAIVE_NEXT_ORDER]["mae_days"]
    assert next_order["clvchurn"]["mae_days"] < next_order[NAIVE_NEXT_ORDER]["mae_days"]
    assert set(orders) == {"clvchurn", NAIVE_ORDERS}
    assert set(value_range) == {"clvchurn", ONE_OFFSET, ABSOLUTE_RESIDUAL}
    assert {f"coverage_{tier}" for tier in ("A", "B", "C", "D")} <= set(value_range["clvchurn"])
    assert any(note.startswith("value range: the 80% interval covered") for note in first.notes)
