"""A reload swaps the whole model pair: versions, models, tiers and references come from one run.

The session's trained pair is registered twice in a fresh store: version 1 as trained, version 2 with
other tier cut-points (as a later run would have). Whatever is loaded, every number it serves comes
from one version.
"""

from __future__ import annotations

import copy
from pathlib import Path

import mlflow
import polars as pl
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from support.trained import AS_OF, TrainedModels, busiest_customer, request_for

from features.build import build_features
from model_contract import CHAMPION, PAIR_MODEL_NAME, ModelPair, register, set_alias, tracking_to
from model_contract.tiers import TierCutpoints, absolute_tiers
from serving.app import create_app
from serving.predictor import load_engine
from serving.settings import Settings

KEY = "pair-swap-key-77c1"


def _register(pair: ModelPair, uri: str) -> str:
    with tracking_to(uri), mlflow.start_run():
        logged = mlflow.pyfunc.log_model(name="pair", python_model=pair, pip_requirements=[])
    version = register(logged.model_uri, PAIR_MODEL_NAME, uri)
    set_alias(PAIR_MODEL_NAME, CHAMPION, version, uri)
    return version


@pytest.fixture(scope="module")
def store(trained: TrainedModels, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, TierCutpoints]:
    """A store whose champion is version 2 (other cut-points) after version 1 (as trained)."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('swap') / 'mlflow.db'}"
    first = trained.engine.pair
    assert _register(first, uri) == "1"
    later = copy.deepcopy(first)
    cutpoints = absolute_tiers(1_000_000.0, 500_000.0, 1.0, {})  # almost everyone in C
    later.metadata = later.metadata.model_copy(update={"tier_cutpoints": cutpoints.to_dict()})
    return uri, cutpoints


def test_loading_after_the_alias_moves_serves_only_the_new_pair(
    trained: TrainedModels, store: tuple[str, TierCutpoints]
) -> None:
    uri, cutpoints = store
    before = load_engine(Settings(mlflow_tracking_uri=uri))
    later = copy.deepcopy(trained.engine.pair)
    later.metadata = later.metadata.model_copy(update={"tier_cutpoints": cutpoints.to_dict()})
    assert _register(later, uri) == "2"
    assert before.is_stale()

    after = load_engine(Settings(mlflow_tracking_uri=uri))
    features = build_features(trained.raw, AS_OF)
    old, new = before.score(features).to_frame(), after.score(features).to_frame()

    assert (before.model_versions.pair, after.model_versions.pair) == ("1", "2")
    assert set(new["pair_version"]) == {"2"} and set(old["pair_version"]) == {"1"}
    info = after.model_info()
    assert info.version == "2" and {model.version for model in info.models.values()} == {"2"}
    assert after.cutpoints == cutpoints and info.tier_cut_points["C"] == 1.0
    positive = new.filter(pl.col("predicted_value") >= 1.0)
    assert set(positive["tier"]) == {"C"}  # the new pair's cut-points, not the old ones
    assert old["tier"].n_unique() == 4
    # the models themselves are the same: probabilities do not move, only the tiers
    assert new["churn_probability"].equals(old["churn_probability"])


def test_a_reload_over_http_moves_every_field_to_the_new_pair(
    trained: TrainedModels, store: tuple[str, TierCutpoints], tmp_path: Path
) -> None:
    uri, _ = store
    settings = Settings(
        api_keys=[SecretStr(KEY)],
        admin_api_keys=[SecretStr(KEY)],
        api_key_file=None,
        mlflow_tracking_uri=uri,
        snapshot_path=tmp_path / "scores.parquet",
        database_url=SecretStr(f"sqlite:///{tmp_path / 'clvchurn.db'}"),
        reload_interval_s=0,
    )
    body = request_for(trained.raw, busiest_customer(trained)).model_dump(mode="json")
    app = create_app(settings)
    with TestClient(app) as client:
        app.state.initial_load.join(timeout=60)
        served = client.post("/v1/predict", json=body, headers={"X-API-Key": KEY}).json()
        version = served["model_versions"]["pair"]
        later = copy.deepcopy(trained.engine.pair)
        later.metadata = later.metadata.model_copy(
            update={"tier_cutpoints": absolute_tiers(0.0, 0.0, 0.0, {}).to_dict()}  # everyone in A
        )
        new_version = _register(later, uri)
        reloaded = client.post("/v1/admin/reload", headers={"X-API-Key": KEY})
        after = client.post("/v1/predict", json=body, headers={"X-API-Key": KEY}).json()
        models = client.get("/v1/models", headers={"X-API-Key": KEY}).json()

    assert reloaded.status_code == 200, reloaded.text
    assert reloaded.json()["previous"]["pair"] == version
    assert after["model_versions"] == {
        "pair": new_version,
        "run_id": reloaded.json()["current"]["run_id"],
        "churn": new_version,
        "value": new_version,
    }
    assert after["tier"] == "A"
    assert models["version"] == new_version
    assert {model["version"] for model in models["models"].values()} == {new_version}
    assert after["churn_probability"] == served["churn_probability"]
