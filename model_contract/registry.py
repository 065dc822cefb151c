"""MLflow in one place: where runs are tracked, how models are registered and loaded, and the aliases.

Default store: `sqlite:///mlruns/mlflow.db` with artifacts under `mlruns/` (MLflow 3's file store is in
maintenance mode). The standard `MLFLOW_TRACKING_URI` overrides it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from domain.errors import ModelNotRegisteredError
from model_contract.bundle import ModelPair

log = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
EXPERIMENT_NAME = "clvchurn"
PAIR_MODEL_NAME = "clvchurn-pair"
"""The one registered model: every version is a whole model pair (`model_contract.bundle.ModelPair`)."""
CHAMPION = "champion"
CHALLENGER = "challenger"


def resolve_tracking_uri(explicit: str | None = None) -> str:
    """Explicit setting, else MLFLOW_TRACKING_URI, else the local SQLite store."""
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def configure_tracking(explicit: str | None = None) -> str:
    """Point MLflow at the store and make sure a local SQLite store's folder exists."""
    uri = resolve_tracking_uri(explicit)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


@contextmanager
def tracking_to(explicit: str | None = None) -> Iterator[str]:
    """`configure_tracking` for the duration of a block, then MLflow's previous store again.

    MLflow keeps the store in module globals mirrored in the MLFLOW_TRACKING_URI and MLFLOW_REGISTRY_URI
    environment variables; restoring those leaves the process (a test session, a notebook) as it was.
    """
    previous = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    try:
        yield configure_tracking(explicit)
    finally:
        mlflow.set_tracking_uri(previous["MLFLOW_TRACKING_URI"])  # type: ignore[arg-type]  # None unsets
        mlflow.set_registry_uri(previous["MLFLOW_REGISTRY_URI"])  # type: ignore[arg-type]
        for name, value in previous.items():  # set_registry_uri(None) leaves the variable behind
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def local_artifact_root(tracking_uri: str) -> Path | None:
    """Where a local SQLite store keeps run and model files: `artifacts/` beside the database file.

    A relative store (the default `sqlite:///mlruns/mlflow.db`) resolves against the working
    directory, so training from the repository root writes under `mlruns/`. Other stores (a tracking
    server, Databricks) choose their own artifact location: None.
    """
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///")).resolve().parent / "artifacts"


def client_for(tracking_uri: str | None = None) -> MlflowClient:
    """A client whose tracking and registry stores are both `tracking_uri`.

    Naming the registry explicitly matters: otherwise MLflow takes it from the process-wide
    MLFLOW_REGISTRY_URI, which an earlier call in the same process may have pointed elsewhere.
    """
    uri = resolve_tracking_uri(tracking_uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(tracking_uri: str) -> str:
    """The clvchurn experiment, created (or restored from MLflow's trash) on first use."""
    client = client_for(tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            log.warning("experiment '%s' was deleted in %s; restoring it", EXPERIMENT_NAME, tracking_uri)
            client.restore_experiment(experiment.experiment_id)
        return str(experiment.experiment_id)
    root = local_artifact_root(tracking_uri)
    artifact_location = root.as_uri() if root is not None else None
    return str(client.create_experiment(EXPERIMENT_NAME, artifact_location=artifact_location))


@dataclass(frozen=True)
class AliasedVersion:
    name: str
    version: str
    run_id: str | None


def aliased_version(name: str, alias: str, tracking_uri: str | None = None) -> AliasedVersion | None:
    """The version that carries `alias`, or None when the model or alias does not exist yet."""
    client = client_for(tracking_uri)
    try:
        found: ModelVersion = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    return AliasedVersion(name=name, version=str(found.version), run_id=found.run_id)


def register(model_uri: str, name: str, tracking_uri: str | None = None) -> str:
    """Register a logged model as a new version of `name`; returns the version number."""
    with tracking_to(tracking_uri):
        version = mlflow.register_model(model_uri, name)
    return str(version.version)


def set_alias(name: str, alias: str, version: str, tracking_uri: str | None = None) -> None:
    client_for(tracking_uri).set_registered_model_alias(name, alias, version)


def load_pair(alias: str = CHAMPION, tracking_uri: str | None = None) -> LoadedPair:
    """The model pair that carries `alias`, with its version and run; `ModelNotRegisteredError` if none."""
    uri = resolve_tracking_uri(tracking_uri)
    found = aliased_version(PAIR_MODEL_NAME, alias, uri)
    if found is None:
        raise ModelNotRegisteredError(
            f"no '{alias}' version of model '{PAIR_MODEL_NAME}' in {uri}. Train one first: "
            "`clvchurn train --data DIR` (or `make demo`), or point MLFLOW_TRACKING_URI at the registry."
        )
    return _load_pair_version(found.version, found.run_id, uri)


def load_pair_version(version: str, tracking_uri: str | None = None) -> LoadedPair:
    """Version `version` of the model pair, whatever alias it carries now.

    For a job that resolves the champion once and then loads it in many processes (Spark's Python
    workers, `spark_engine.scoring`): a version never changes, so every process scores with the same
    models even if the alias moves meanwhile.

    Raises
    ------
    ModelNotRegisteredError: the registry has no such version, or it was saved by another clvchurn.
    """
    uri = resolve_tracking_uri(tracking_uri)
    try:
        found: ModelVersion = client_for(uri).get_model_version(PAIR_MODEL_NAME, version)
    except MlflowException:
        raise ModelNotRegisteredError(
            f"no version {version} of model '{PAIR_MODEL_NAME}' in {uri}; list the versions with "
            "`mlflow ui`, or train one with `clvchurn train --data DIR`"
        ) from None
    return _load_pair_version(str(found.version), found.run_id, uri)


def _load_pair_version(version: str, run_id: str | None, uri: str) -> LoadedPair:
    model_uri = f"models:/{PAIR_MODEL_NAME}/{version}"
    try:
        with tracking_to(uri):
            loaded = mlflow.pyfunc.load_model(model_uri)
    except (ImportError, AttributeError) as error:  # pickled by an older clvchurn whose classes moved
        raise ModelNotRegisteredError(
            f"{PAIR_MODEL_NAME} version {version} in {uri} was saved by another clvchurn version "
            f"({error}); train a new one with `clvchurn train --data DIR`"
        ) from error
    pair = loaded.unwrap_python_model()
    if not isinstance(pair, ModelPair):
        raise ModelNotRegisteredError(
            f"{PAIR_MODEL_NAME} version {version} in {uri} is not a model pair of this clvchurn "
            "version; train a new one with `clvchurn train --data DIR`"
        )
    return LoadedPair(pair=pair, version=version, run_id=run_id)


@dataclass(frozen=True)
class LoadedPair:
    """One registered pair as served: the models, the version and the run that logged it."""

    pair: ModelPair
    version: str
    run_id: str | None


def load_champion_pair(tracking_uri: str | None = None) -> LoadedPair:
    """The champion pair of the registry at `tracking_uri`."""
    return load_pair(CHAMPION, tracking_uri)


def champion_version(tracking_uri: str | None = None) -> str | None:
    """The version the champion alias names now, or None when there is none (a cheap lookup)."""
    found = aliased_version(PAIR_MODEL_NAME, CHAMPION, tracking_uri)
    return found.version if found else None
