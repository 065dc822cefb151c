"""Training end to end on a small synthetic base, into a throwaway MLflow store.

Three runs share one store, in order: a first training (becomes champion), a training on shuffled
labels (worse, so it must stay challenger) and the same worse training forced to champion.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlflow
import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient

import training.evaluation as evaluation
import training.train as train_module
from domain.errors import ModelFitError
from features.synth import SyntheticBase, generate
from model_contract.registry import (
    CHALLENGER,
    CHAMPION,
    CHURN_MODEL_NAME,
    VALUE_MODEL_NAME,
    load_bundle,
    tracking_to,
)
from training.train import TrainingConfig, TrainingOutcome, train

pytestmark = pytest.mark.slow

CUSTOMERS = 1_500
SEED = 3
CHURN_ARTIFACTS = {
    "model_card.md",
    "shap_summary.png",
    "calibration_curve.png",
    "cumulative_gain.png",
    "feature_list.json",
    "reference_statistics.json",
    "validation_metrics.json",
}
VALUE_ARTIFACTS = {
    "model_card.md",
    "shap_summary.png",
    "cumulative_gain.png",
    "decile_table.csv",
    "tier_cutpoints.json",
    "feature_list.json",
    "reference_statistics.json",
    "validation_metrics.json",
    "value_model_candidates.json",
}


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


def _with_shuffled_training_labels(build: object) -> object:
    """`build_training_table`, but labels shuffled in every snapshot except the validation one."""

    def shuffled(*args: object, **kwargs: object) -> pl.DataFrame:
        table: pl.DataFrame = build(*args, **kwargs)  # type: ignore[operator]
        validation = table["as_of"].max()
        rng = np.random.default_rng(0)
        earlier = table.filter(pl.col("as_of") < validation)
        order = rng.permutation(earlier.height)
        noise = earlier.with_columns(earlier["churned"].gather(order), earlier["future_value"].gather(order))
        return pl.concat([noise, table.filter(pl.col("as_of") == validation)])

    return shuffled


def _unfittable(self: object, summary: object) -> object:
    raise ModelFitError("Gamma-Gamma fitted q=0.900 <= 1")


def _train_on_noise(base: SyntheticBase, uri: str, *, force: bool) -> TrainingOutcome:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            train_module,
            "build_training_table",
            _with_shuffled_training_labels(train_module.build_training_table),
        )
        if force:  # also: a baseline that cannot be fitted is reported, not fatal
            patch.setattr(evaluation.BgNbdGammaGamma, "fit", _unfittable)
        return train(base.raw, TrainingConfig(n_jobs=1, force=force), tracking_uri=uri)


@pytest.fixture(scope="module")
def worse(first: TrainingOutcome, base: SyntheticBase, uri: str) -> TrainingOutcome:
    return _train_on_noise(base, uri, force=False)


@pytest.fixture(scope="module")
def forced(worse: TrainingOutcome, base: SyntheticBase, uri: str) -> TrainingOutcome:
    return _train_on_noise(base, uri, force=True)


def _version_with(client: MlflowClient, name: str, alias: str) -> str:
    return str(client.get_model_version_by_alias(name, alias).version)


def test_first_training_registers_both_models_as_champion(first: TrainingOutcome, client: MlflowClient):
    assert [(d.model_name, d.version, d.alias, d.forced) for d in first.decisions] == [
        (CHURN_MODEL_NAME, "1", CHAMPION, False),
        (VALUE_MODEL_NAME, "1", CHAMPION, False),
    ]
    for name in (CHURN_MODEL_NAME, VALUE_MODEL_NAME):
        assert _version_with(client, name, CHAMPION) == "1"
        version = client.get_model_version(name, "1")
        assert version.run_id is not None
    assert set(first.churn_table) == {
        "clvchurn",
        "bgnbd_gamma_gamma",
        "rfm_rules",
        "logistic_regression",
        "oracle",
    }
    assert set(first.value_table) == {"clvchurn", "bgnbd_gamma_gamma", "rfm_rules", "oracle"}
    assert first.churn_table["clvchurn"]["roc_auc"] > 0.7
    assert first.value_table["clvchurn"]["gini"] > 0.5


def test_parent_and_child_runs_hold_metrics_artifacts_and_the_dataset(
    first: TrainingOutcome, client: MlflowClient, store: Path
):
    parent = client.get_run(first.parent_run_id)
    assert parent.data.params["validation_cutoff"] == first.schedule.validation.date().isoformat()
    assert parent.data.metrics["rows_validation"] == first.rows["validation"]
    assert parent.data.metrics["churn_clvchurn_roc_auc"] == pytest.approx(
        first.churn_table["clvchurn"]["roc_auc"]
    )
    assert parent.inputs is not None
    [dataset] = parent.inputs.dataset_inputs
    assert dataset.dataset.name == "training_table"
    assert json.loads(str(dataset.dataset.profile))["num_rows"] == sum(first.rows.values())

    children = client.search_runs(
        [first.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{first.parent_run_id}'"
    )
    by_name = {run.info.run_name: run for run in children}
    assert set(by_name) == {"churn", "value"}
    churn, value = by_name["churn"], by_name["value"]
    assert {
        "roc_auc",
        "pr_auc",
        "brier",
        "ece",
        "bgnbd_gamma_gamma_roc_auc",
        "logistic_regression_roc_auc",
    } <= set(churn.data.metrics)
    assert "rfm_rules_brier" not in churn.data.metrics  # ranking-only baseline: undefined, not logged
    assert {"gini", "mae", "bgnbd_gamma_gamma_gini", "rfm_rules_gini", "oracle_gini"} <= set(
        value.data.metrics
    )
    assert churn.data.tags["alias"] == CHAMPION
    assert {a.path for a in client.list_artifacts(churn.info.run_id)} == CHURN_ARTIFACTS
    assert {a.path for a in client.list_artifacts(value.info.run_id)} == VALUE_ARTIFACTS
    assert all(run.inputs is not None and run.inputs.dataset_inputs for run in children)
    # With a SQLite store every file lives in `artifacts/` beside the database.
    assert len(list((store / "artifacts").rglob("model_card.md"))) == 2
    assert len(list((store / "artifacts").rglob("MLmodel"))) == 2


def test_registered_model_carries_signature_example_and_metadata(first: TrainingOutcome, uri: str):
    bundle = load_bundle(CHURN_MODEL_NAME, CHAMPION, uri)
    metadata = bundle.metadata
    assert metadata.validation_as_of == first.schedule.validation
    assert metadata.validation_metrics == first.churn_table["clvchurn"]
    assert set(metadata.reference_statistics["tiers"]) == {"A", "B", "C", "D"}
    assert not {"churned", "future_value", "customer_id", "as_of"} & set(metadata.feature_names)
    with tracking_to(uri):
        info = mlflow.models.get_model_info(f"models:/{CHURN_MODEL_NAME}/1")
    assert info.signature is not None and info.saved_input_example_info is not None


def test_worse_models_become_challengers_and_champions_stay(worse: TrainingOutcome, client: MlflowClient):
    for decision in worse.decisions:
        assert (decision.version, decision.alias, decision.champion_version, decision.forced) == (
            "2",
            CHALLENGER,
            "1",
            False,
        )
        assert decision.champion_score is not None and decision.new_score < decision.champion_score
        assert _version_with(client, decision.model_name, CHAMPION) == "1"
        assert _version_with(client, decision.model_name, CHALLENGER) == "2"
    # The previous champion is scored on the same validation snapshot and shown beside the new model.
    assert worse.churn_table["previous_champion"]["roc_auc"] == worse.decisions[0].champion_score


def test_force_promotes_the_worse_models_and_says_so(forced: TrainingOutcome, client: MlflowClient):
    for decision in forced.decisions:
        assert (decision.version, decision.alias, decision.forced) == ("3", CHAMPION, True)
        assert _version_with(client, decision.model_name, CHAMPION) == "3"
        assert _version_with(client, decision.model_name, CHALLENGER) == "2"
    assert forced.notes == ["baseline bgnbd_gamma_gamma left out: Gamma-Gamma fitted q=0.900 <= 1"]
    assert np.isnan(forced.churn_table["bgnbd_gamma_gamma"]["roc_auc"])
    assert np.isnan(forced.value_table["bgnbd_gamma_gamma"]["gini"])
