"""Where runs are tracked, where their files land, and how the registry answers before any training."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from domain.errors import ModelNotRegisteredError
from model_contract.registry import (
    CHAMPION,
    DEFAULT_TRACKING_URI,
    EXPERIMENT_NAME,
    PAIR_MODEL_NAME,
    aliased_version,
    champion_version,
    ensure_experiment,
    load_pair,
    local_artifact_root,
    resolve_tracking_uri,
    tracking_to,
)


@pytest.fixture(scope="module")
def store_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("registry")
    return f"sqlite:///{folder}/mlflow.db"


def test_explicit_uri_beats_the_environment_which_beats_the_local_default(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri() == DEFAULT_TRACKING_URI == "sqlite:///mlruns/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking:5000")
    assert resolve_tracking_uri() == "http://tracking:5000"
    assert resolve_tracking_uri("sqlite:///elsewhere.db") == "sqlite:///elsewhere.db"


def test_default_store_keeps_artifacts_under_mlruns_of_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    assert local_artifact_root(DEFAULT_TRACKING_URI) == tmp_path.resolve() / "mlruns" / "artifacts"
    assert local_artifact_root("sqlite:////srv/store/mlflow.db") == Path("/srv/store/artifacts")
    assert local_artifact_root("http://tracking:5000") is None


def test_tracking_block_creates_the_store_folder_and_restores_the_previous_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    store = f"sqlite:///{tmp_path}/fresh/mlflow.db"
    with tracking_to(store) as uri:
        assert uri == store
        assert mlflow.get_tracking_uri() == store
        assert mlflow.get_registry_uri() == store
        assert (tmp_path / "fresh").is_dir()
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert "MLFLOW_REGISTRY_URI" not in os.environ
    assert mlflow.get_tracking_uri() != store


def test_experiment_is_created_once_with_artifacts_beside_the_database_and_restored_if_deleted(
    store_uri: str,
):
    experiment_id = ensure_experiment(store_uri)
    assert ensure_experiment(store_uri) == experiment_id
    client = MlflowClient(store_uri)
    experiment = client.get_experiment(experiment_id)
    assert experiment.name == EXPERIMENT_NAME
    expected = Path(store_uri.removeprefix("sqlite:///")).parent / "artifacts"
    assert experiment.artifact_location == expected.as_uri()
    client.delete_experiment(experiment_id)
    assert ensure_experiment(store_uri) == experiment_id
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"


def test_before_any_training_there_is_no_champion_and_loading_says_how_to_get_one(store_uri: str):
    assert aliased_version(PAIR_MODEL_NAME, CHAMPION, store_uri) is None
    assert champion_version(store_uri) is None
    with pytest.raises(ModelNotRegisteredError, match=r"'champion'.*clvchurn-pair.*clvchurn train --data"):
        load_pair(CHAMPION, store_uri)
