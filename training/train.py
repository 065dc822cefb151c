"""One training run: features -> out-of-time split -> churn and value models -> backtest -> MLflow.

Both models are validated on the same later snapshot as the classic baselines (and, on synthetic data,
the oracle); the `champion` alias moves only when the new version beats the current champion on that
snapshot (`force` overrides), otherwise the new version becomes the `challenger`.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import polars as pl

from features.build import build_training_table, feature_columns
from features.contract import RawData
from features.definitions import describe
from training.artifacts import write_churn_artifacts, write_value_artifacts
from training.bundle import BundleMetadata, ModelBundle
from training.dataset import learn_categorical_levels, out_of_time_split, to_model_frame
from training.evaluation import Backtest, evaluate_baselines
from training.metrics import churn_metrics, value_metrics
from training.models import ChurnModel, select_value_model
from training.reference import compute_reference_statistics
from training.registry import (
    CHALLENGER,
    CHAMPION,
    CHURN_MODEL_NAME,
    VALUE_MODEL_NAME,
    ModelNotRegisteredError,
    configure_tracking,
    ensure_experiment,
    load_bundle,
    register,
    set_alias,
)
from training.schedule import CutoffSchedule, plan_cutoffs
from training.tiers import TierCutpoints, assign_tier, fit_tiers

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

# The metric each promotion gate compares; both are "higher is better".
GATE_METRIC = {"churn": "roc_auc", "value": "gini"}


@dataclass(frozen=True)
class TrainingConfig:
    churn_horizon_days: int = 180
    value_horizon_days: int = 365
    snapshots: int = 4
    step_days: int = 90
    validation_as_of: datetime | None = None
    force: bool = False
    tier_cutpoints: TierCutpoints | None = None  # absolute thresholds; None = fitted quantile shares
    n_jobs: int = 2
    seed: int = 0


@dataclass(frozen=True)
class PromotionDecision:
    model_name: str
    version: str
    alias: str
    new_score: float
    champion_version: str | None
    champion_score: float | None
    forced: bool

    @property
    def promoted(self) -> bool:
        return self.alias == CHAMPION


@dataclass
class TrainingOutcome:
    schedule: CutoffSchedule
    rows: dict[str, int]
    churn_table: dict[str, dict[str, float]]
    value_table: dict[str, dict[str, float]]
    decisions: list[PromotionDecision] = field(default_factory=list)
    parent_run_id: str = ""
    experiment_id: str = ""
    tracking_uri: str = ""
    value_model_comparison: dict[str, Any] = field(default_factory=dict)


def _quiet(_: str) -> None:
    return None


def train(
    raw: RawData,
    config: TrainingConfig,
    *,
    ground_truth: pl.DataFrame | None = None,
    tracking_uri: str | None = None,
    data_source: str = "",
    progress: Progress = _quiet,
) -> TrainingOutcome:
    """Fit, backtest, log and register both models; see the module docstring for the promotion rule."""
    uri = configure_tracking(tracking_uri)
    experiment_id = ensure_experiment(uri)
    start, end = _data_span(raw)
    schedule = plan_cutoffs(
        start,
        end,
        max(config.churn_horizon_days, config.value_horizon_days),
        config.snapshots,
        config.step_days,
        config.validation_as_of,
    )
    progress(f"Building features for {len(schedule.all)} cutoffs")
    table = build_training_table(
        raw,
        schedule.all,
        churn_horizon_days=config.churn_horizon_days,
        value_horizon_days=config.value_horizon_days,
    )
    train_part, calibration_part, validation_part = out_of_time_split(table)
    names = feature_columns(table)
    levels = learn_categorical_levels(train_part, names)

    def matrix(part: pl.DataFrame) -> pd.DataFrame:
        return to_model_frame(part, names, levels)

    progress("Fitting the churn classifier")
    churn_train = train_part.filter(pl.col("churned").is_not_null())
    churn_cal = calibration_part.filter(pl.col("churned").is_not_null())
    churn_val = validation_part.filter(pl.col("churned").is_not_null())
    churn_model = ChurnModel(n_jobs=config.n_jobs, random_state=config.seed).fit(
        matrix(churn_train),
        churn_train["churned"].to_numpy(),
        matrix(churn_cal),
        churn_cal["churned"].to_numpy(),
    )
    churn_probability = churn_model.predict_proba(matrix(churn_val))[:, 1]

    progress("Fitting and comparing the value regressors (Tweedie vs two-part)")
    value_model, comparison = select_value_model(
        matrix(train_part),
        train_part["future_value"].to_numpy(),
        matrix(calibration_part),
        calibration_part["future_value"].to_numpy(),
        n_jobs=config.n_jobs,
        random_state=config.seed,
    )
    predicted_value = value_model.predict(matrix(validation_part))

    progress("Backtesting against the baselines on the validation snapshot")
    backtest: Backtest = evaluate_baselines(
        raw=raw,
        schedule=schedule,
        train_part=train_part,
        validation_part=validation_part,
        feature_names=names,
        churn_horizon_days=config.churn_horizon_days,
        value_horizon_days=config.value_horizon_days,
        ground_truth=ground_truth,
    )
    churn_actual = churn_val["churned"].to_numpy()
    value_actual = validation_part["future_value"].to_numpy()
    churn_table = {"clvchurn": churn_metrics(churn_actual, churn_probability), **backtest.churn}
    value_table = {"clvchurn": value_metrics(value_actual, predicted_value), **backtest.value}

    cutpoints = config.tier_cutpoints or fit_tiers(predicted_value)
    tiers = assign_tier(cutpoints, predicted_value)
    reference = compute_reference_statistics(validation_part, list(tiers), names)
    trained_at = datetime.now().replace(microsecond=0)
    common: dict[str, Any] = {
        "feature_names": names,
        "feature_descriptions": {name: describe(name).description for name in names},
        "categorical_levels": levels,
        "trained_at": trained_at,
        "validation_as_of": schedule.validation,
        "tier_cutpoints": cutpoints.to_dict(),
        "reference_statistics": reference,
    }
    churn_bundle = ModelBundle(
        churn_model,
        BundleMetadata(
            kind="churn",
            horizon_days=config.churn_horizon_days,
            validation_metrics=churn_table["clvchurn"],
            model_family="LightGBM classifier, calibrated out of time",
            **common,
        ),
    )
    value_bundle = ModelBundle(
        value_model,
        BundleMetadata(
            kind="value",
            horizon_days=config.value_horizon_days,
            validation_metrics=value_table["clvchurn"],
            model_family=f"LightGBM value regressor ({value_model.name})",
            **common,
        ),
    )

    outcome = TrainingOutcome(
        schedule=schedule,
        rows={
            "training": train_part.height,
            "calibration": calibration_part.height,
            "validation": validation_part.height,
        },
        churn_table=churn_table,
        value_table=value_table,
        experiment_id=experiment_id,
        tracking_uri=uri,
        value_model_comparison=comparison,
    )
    progress("Logging runs, artifacts and models to MLflow")
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"train-{trained_at:%Y%m%d-%H%M%S}"
    ) as parent:
        outcome.parent_run_id = parent.info.run_id
        _log_parent(config, schedule, table, outcome, data_source)
        for kind, bundle, validation_frame, predictions, actual in (
            ("churn", churn_bundle, churn_val, churn_probability, churn_actual),
            ("value", value_bundle, validation_part, predicted_value, value_actual),
        ):
            with mlflow.start_run(experiment_id=experiment_id, run_name=kind, nested=True):
                decision = _log_and_promote(
                    kind,
                    bundle,
                    validation_frame,
                    predictions,
                    actual,
                    outcome,
                    config,
                    tiers=tiers,
                )
                outcome.decisions.append(decision)
    return outcome


def _data_span(raw: RawData) -> tuple[datetime, datetime]:
    """First event, and the midnight after the last event (the first cutoff that sees everything)."""
    stamps = [frame["timestamp"] for frame in (raw.transactions, raw.interactions) if frame.height]
    if not stamps:
        raise ValueError("the data holds no transactions or interactions to train on")
    first = min(s.min() for s in stamps)
    last = max(s.max() for s in stamps)
    assert isinstance(first, datetime) and isinstance(last, datetime)
    return first, datetime.combine(last.date(), datetime.min.time()) + timedelta(days=1)


def _log_parent(
    config: TrainingConfig,
    schedule: CutoffSchedule,
    table: pl.DataFrame,
    outcome: TrainingOutcome,
    data_source: str,
) -> None:
    mlflow.log_params(
        {
            "churn_horizon_days": config.churn_horizon_days,
            "value_horizon_days": config.value_horizon_days,
            "snapshots": config.snapshots,
            "step_days": config.step_days,
            "training_cutoffs": ",".join(c.date().isoformat() for c in schedule.training),
            "calibration_cutoff": schedule.calibration.date().isoformat(),
            "validation_cutoff": schedule.validation.date().isoformat(),
            "data_source": data_source or "in-memory",
            "seed": config.seed,
        }
    )
    mlflow.log_metrics({f"rows_{part}": float(n) for part, n in outcome.rows.items()})
    dataset = mlflow.data.from_pandas(
        table.select("customer_id", "as_of").to_pandas(),
        source=data_source or "in-memory",
        name="training_table",
    )
    mlflow.log_input(dataset, context="training")
    for model_name, metrics in outcome.churn_table.items():
        mlflow.log_metrics({f"churn_{model_name}_{k}": v for k, v in metrics.items() if np.isfinite(v)})
    for model_name, metrics in outcome.value_table.items():
        mlflow.log_metrics({f"value_{model_name}_{k}": v for k, v in metrics.items() if np.isfinite(v)})


def _log_and_promote(
    kind: str,
    bundle: ModelBundle,
    validation_frame: pl.DataFrame,
    predictions: np.ndarray,
    actual: np.ndarray,
    outcome: TrainingOutcome,
    config: TrainingConfig,
    *,
    tiers: np.ndarray,
) -> PromotionDecision:
    metadata = bundle.metadata
    table = outcome.churn_table if kind == "churn" else outcome.value_table
    mlflow.log_params({"model_family": metadata.model_family, "horizon_days": metadata.horizon_days})
    mlflow.log_metrics({k: v for k, v in table["clvchurn"].items() if np.isfinite(v)})
    for baseline, metrics in table.items():
        if baseline != "clvchurn":
            mlflow.log_metrics({f"{baseline}_{k}": v for k, v in metrics.items() if np.isfinite(v)})
    features_pandas = validation_frame.select(metadata.feature_names).to_pandas()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if kind == "churn":
            write_churn_artifacts(folder, bundle, features_pandas, actual, predictions, table)
        else:
            write_value_artifacts(
                folder, bundle, features_pandas, actual, predictions, table, outcome.value_model_comparison
            )
        mlflow.log_artifacts(str(folder))
    example = features_pandas.head(5)
    signature = mlflow.models.infer_signature(example, bundle.predict_frame(example))
    model_name = CHURN_MODEL_NAME if kind == "churn" else VALUE_MODEL_NAME
    logged = mlflow.pyfunc.log_model(
        name="model",
        python_model=bundle,
        signature=signature,
        input_example=example,
        pip_requirements=_pip_requirements(),
    )
    version = register(logged.model_uri, model_name, outcome.tracking_uri)
    new_score = table["clvchurn"][GATE_METRIC[kind]]
    champion = _champion_metrics(model_name, kind, validation_frame, actual, outcome)
    champion_version, champion_score = None, None
    if champion is not None:
        champion_version, champion_metrics_found = champion
        champion_score = champion_metrics_found[GATE_METRIC[kind]]
        table["previous_champion"] = champion_metrics_found
    beats = champion_score is None or new_score > champion_score
    alias = CHAMPION if beats or config.force else CHALLENGER
    set_alias(model_name, alias, version, outcome.tracking_uri)
    mlflow.set_tag("alias", alias)
    return PromotionDecision(
        model_name=model_name,
        version=version,
        alias=alias,
        new_score=new_score,
        champion_version=champion_version,
        champion_score=champion_score,
        forced=config.force and not beats,
    )


def _champion_predictions(
    model_name: str, validation_frame: pl.DataFrame, outcome: TrainingOutcome
) -> tuple[str, np.ndarray] | None:
    from training.registry import aliased_version

    current = aliased_version(model_name, CHAMPION, outcome.tracking_uri)
    if current is None:
        return None
    try:
        champion = load_bundle(model_name, CHAMPION, outcome.tracking_uri)
    except ModelNotRegisteredError:
        return None
    missing = set(champion.metadata.feature_names) - set(validation_frame.columns)
    if missing:
        log.warning("champion %s needs features this table lacks (%s): not comparable", model_name, missing)
        return None
    return current.version, champion.predict_frame(validation_frame.to_pandas())


def _champion_metrics(
    model_name: str, kind: str, validation_frame: pl.DataFrame, actual: np.ndarray, outcome: TrainingOutcome
) -> tuple[str, dict[str, float]] | None:
    """The current champion's version and its metrics on this run's validation snapshot."""
    found = _champion_predictions(model_name, validation_frame, outcome)
    if found is None:
        return None
    version, predictions = found
    metrics = churn_metrics(actual, predictions) if kind == "churn" else value_metrics(actual, predictions)
    return version, metrics


def _pip_requirements() -> list[str]:
    """Pinned from the running environment so `mlflow models serve` rebuilds the same stack."""
    from importlib.metadata import version

    return [
        f"{package}=={version(package)}"
        for package in ("lightgbm", "scikit-learn", "polars", "pandas", "numpy", "pyarrow", "shap")
    ]
