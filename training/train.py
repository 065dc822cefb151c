"""One training run: features -> out-of-time split -> churn and value models -> backtest -> MLflow.

Both models are validated on the same later snapshot as the classic baselines (and, on synthetic data,
the oracle); the `champion` alias moves only when the new version beats the current champion on that
snapshot (`force` overrides), otherwise the new version becomes the `challenger`.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import polars as pl
from mlflow.data.polars_dataset import PolarsDataset, from_polars
from mlflow.exceptions import MlflowException

from domain.errors import ModelNotRegisteredError
from features.build import build_training_table, feature_columns
from features.contract import RawData
from features.definitions import describe
from model_contract.bundle import BundleMetadata, ModelBundle
from model_contract.matrix import to_model_frame
from model_contract.reference import compute_reference_statistics
from model_contract.registry import (
    CHALLENGER,
    CHAMPION,
    CHURN_MODEL_NAME,
    VALUE_MODEL_NAME,
    aliased_version,
    ensure_experiment,
    load_bundle,
    register,
    set_alias,
    tracking_to,
)
from model_contract.tiers import TierCutpoints, assign_tier, fit_tiers
from training.artifacts import write_churn_artifacts, write_value_artifacts
from training.dataset import OutOfTimeSplit, learn_categorical_levels, out_of_time_split
from training.evaluation import Backtest, ChurnRows, evaluate_baselines
from training.metrics import churn_metrics, value_metrics
from training.models import ChurnModel, select_value_model
from training.schedule import CutoffSchedule, plan_cutoffs

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

# The metric each promotion gate compares; both are "higher is better".
GATE_METRIC = {"churn": "roc_auc", "value": "gini"}
GATE_METRIC_BY_MODEL = {CHURN_MODEL_NAME: GATE_METRIC["churn"], VALUE_MODEL_NAME: GATE_METRIC["value"]}


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
    note: str = ""

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
    notes: list[str] = field(default_factory=list)  # e.g. a baseline refitted with a penalty


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
    """Fit, backtest, log and register both models; see the module docstring for the promotion rule.

    `tracking_uri` (else MLFLOW_TRACKING_URI, else the local SQLite store) is used for this call only;
    MLflow's process-wide store is restored afterwards.
    """
    with tracking_to(tracking_uri) as uri:
        experiment_id = ensure_experiment(uri)
        fitted = _fit(raw, config, ground_truth, progress)
        outcome = TrainingOutcome(
            schedule=fitted.schedule,
            rows={
                "training": fitted.parts.train.height,
                "calibration": fitted.parts.calibration.height,
                "validation": fitted.parts.validation.height,
            },
            churn_table=fitted.churn_table,
            value_table=fitted.value_table,
            experiment_id=experiment_id,
            tracking_uri=uri,
            value_model_comparison=fitted.value_comparison,
            notes=fitted.notes,
        )
        _log_and_register(fitted, outcome, config, data_source, progress)
    return outcome


@dataclass
class _Fitted:
    """Everything one training run learned and measured, before anything is logged."""

    schedule: CutoffSchedule
    table: pl.DataFrame
    parts: OutOfTimeSplit
    churn_validation: pl.DataFrame
    churn_bundle: ModelBundle
    value_bundle: ModelBundle
    churn_probability: np.ndarray
    predicted_value: np.ndarray
    churn_table: dict[str, dict[str, float]]
    value_table: dict[str, dict[str, float]]
    value_comparison: dict[str, Any]
    tiers: np.ndarray
    notes: list[str]


def _fit(
    raw: RawData, config: TrainingConfig, ground_truth: pl.DataFrame | None, progress: Progress
) -> _Fitted:
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
    parts = out_of_time_split(table)
    names = feature_columns(table)
    levels = learn_categorical_levels(parts.train, names)
    # Each part's matrix is built once; the churn rows (churned not null) are a mask on it.
    matrices = [to_model_frame(part, names, levels) for part in parts]
    train_x, calibration_x, validation_x = matrices
    train_churn, calibration_churn, validation_churn = (
        _churn_rows(part, matrix) for part, matrix in zip(parts, matrices, strict=True)
    )

    progress(f"Fitting the churn classifier on {len(train_churn.churned):,} rows")
    churn_model = ChurnModel(n_jobs=config.n_jobs, random_state=config.seed).fit(
        train_churn.features,
        train_churn.churned,
        X_calibration=calibration_churn.features,
        y_calibration=calibration_churn.churned,
    )
    churn_probability = churn_model.predict_proba(validation_churn.features)[:, 1]

    progress(f"Fitting and comparing the value regressors (Tweedie vs two-part) on {len(train_x):,} rows")
    value_model, comparison = select_value_model(
        train_x,
        parts.train["future_value"].to_numpy(),
        X_calibration=calibration_x,
        y_calibration=parts.calibration["future_value"].to_numpy(),
        n_jobs=config.n_jobs,
        random_state=config.seed,
    )
    predicted_value = value_model.predict(validation_x)

    progress("Backtesting against the baselines on the validation snapshot")
    backtest: Backtest = evaluate_baselines(
        raw=raw,
        schedule=schedule,
        validation_part=parts.validation,
        churn_train=train_churn,
        churn_validation=validation_churn,
        churn_horizon_days=config.churn_horizon_days,
        value_horizon_days=config.value_horizon_days,
        ground_truth=ground_truth,
    )
    value_actual = parts.validation["future_value"].to_numpy()
    churn_table = {"clvchurn": churn_metrics(validation_churn.churned, churn_probability), **backtest.churn}
    value_table = {"clvchurn": value_metrics(value_actual, predicted_value), **backtest.value}

    cutpoints = config.tier_cutpoints or fit_tiers(predicted_value)
    tiers = assign_tier(cutpoints, predicted_value)
    common: dict[str, Any] = {
        "feature_names": names,
        "feature_descriptions": {name: describe(name).description for name in names},
        "categorical_levels": levels,
        "trained_at": datetime.now().replace(microsecond=0),
        "validation_as_of": schedule.validation,
        "tier_cutpoints": cutpoints.to_dict(),
        "reference_statistics": compute_reference_statistics(parts.validation, list(tiers), names),
    }
    churn_bundle = ModelBundle(
        churn_model.scorer_,
        BundleMetadata(
            kind="churn",
            horizon_days=config.churn_horizon_days,
            validation_metrics=churn_table["clvchurn"],
            model_family="LightGBM classifier, calibrated out of time",
            model_params={**churn_model.lgbm_params_, "calibration": churn_model.calibration_method_},
            **common,
        ),
    )
    value_bundle = ModelBundle(
        value_model.scorer_,
        BundleMetadata(
            kind="value",
            horizon_days=config.value_horizon_days,
            validation_metrics=value_table["clvchurn"],
            model_family=f"LightGBM value regressor ({value_model.name})",
            model_params={**value_model.lgbm_params_, "candidate": value_model.name},
            **common,
        ),
    )
    return _Fitted(
        schedule=schedule,
        table=table,
        parts=parts,
        churn_validation=parts.validation.filter(pl.col("churned").is_not_null()),
        churn_bundle=churn_bundle,
        value_bundle=value_bundle,
        churn_probability=churn_probability,
        predicted_value=predicted_value,
        churn_table=churn_table,
        value_table=value_table,
        value_comparison=comparison,
        tiers=tiers,
        notes=backtest.notes,
    )


def _churn_rows(part: pl.DataFrame, matrix: pd.DataFrame) -> ChurnRows:
    """The rows of one part that carry a churn label (customers who ordered in the last year)."""
    labelled = part["churned"].is_not_null().to_numpy()
    return ChurnRows(
        features=matrix[labelled].reset_index(drop=True),
        churned=part["churned"].to_numpy()[labelled].astype(np.int64),
    )


def _log_and_register(
    fitted: _Fitted, outcome: TrainingOutcome, config: TrainingConfig, data_source: str, progress: Progress
) -> None:
    """One parent run for the training, one child run per model; register, then gate the aliases."""
    progress("Logging the training run to MLflow")
    run_name = f"train-{fitted.churn_bundle.metadata.trained_at:%Y%m%d-%H%M%S}"
    dataset = _training_dataset(fitted.table, data_source)
    with mlflow.start_run(experiment_id=outcome.experiment_id, run_name=run_name) as parent:
        outcome.parent_run_id = parent.info.run_id
        _log_parent(config, fitted.schedule, dataset, outcome, data_source)
        for kind, bundle, validation_frame, predictions in (
            ("churn", fitted.churn_bundle, fitted.churn_validation, fitted.churn_probability),
            ("value", fitted.value_bundle, fitted.parts.validation, fitted.predicted_value),
        ):
            progress(f"Logging and registering the {kind} model (charts, SHAP summary, model card)")
            with mlflow.start_run(experiment_id=outcome.experiment_id, run_name=kind, nested=True):
                mlflow.log_input(dataset, context="training")
                outcome.decisions.append(
                    _log_and_promote(
                        kind, bundle, validation_frame, predictions, outcome, config, fitted.schedule
                    )
                )


def _data_span(raw: RawData) -> tuple[datetime, datetime]:
    """First event, and the midnight after the last event (the first cutoff that sees everything)."""
    stamps = pl.concat(
        [frame.select("timestamp") for frame in (raw.transactions, raw.interactions) if frame.height]
        or [pl.DataFrame(schema={"timestamp": pl.Datetime("us")})]
    )["timestamp"]
    first, last = stamps.min(), stamps.max()
    if not isinstance(first, datetime) or not isinstance(last, datetime):
        raise ValueError("the data holds no transactions or interactions to train on")
    return first, datetime.combine(last.date(), datetime.min.time()) + timedelta(days=1)


def _training_dataset(table: pl.DataFrame, data_source: str) -> PolarsDataset:
    """The stacked feature and label table as an MLflow dataset: schema, row count and digest."""
    with warnings.catch_warnings():
        # MLflow registers two identical local-file source classes and warns that a path is ambiguous.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        return from_polars(table, source=data_source or None, name="training_table")


def _log_parent(
    config: TrainingConfig,
    schedule: CutoffSchedule,
    dataset: PolarsDataset,
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
            "force": config.force,
            "n_jobs": config.n_jobs,
            "seed": config.seed,
        }
    )
    mlflow.log_metrics({f"rows_{part}": float(n) for part, n in outcome.rows.items()})
    mlflow.log_input(dataset, context="training")
    if outcome.notes:
        mlflow.set_tag("notes", "; ".join(outcome.notes))
    for kind, table in (("churn", outcome.churn_table), ("value", outcome.value_table)):
        for model_name, metrics in table.items():
            mlflow.log_metrics(_finite({f"{kind}_{model_name}_{k}": v for k, v in metrics.items()}))


def _log_and_promote(
    kind: str,
    bundle: ModelBundle,
    validation_frame: pl.DataFrame,
    predictions: np.ndarray,
    outcome: TrainingOutcome,
    config: TrainingConfig,
    schedule: CutoffSchedule,
) -> PromotionDecision:
    """Log one model's metrics, artifacts and pyfunc model; register it and move the gate's alias."""
    metadata = bundle.metadata
    table = outcome.churn_table if kind == "churn" else outcome.value_table
    actual = validation_frame["churned" if kind == "churn" else "future_value"].to_numpy()
    mlflow.log_params({"model_family": metadata.model_family, "horizon_days": metadata.horizon_days})
    mlflow.log_metrics(_finite(table["clvchurn"]))
    for baseline, metrics in table.items():
        if baseline != "clvchurn":
            mlflow.log_metrics(_finite({f"{baseline}_{k}": v for k, v in metrics.items()}))
    features = validation_frame.select(metadata.feature_names)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if kind == "churn":
            write_churn_artifacts(folder, bundle, features, actual, predictions, table)
        else:
            write_value_artifacts(
                folder, bundle, features, actual, predictions, table, outcome.value_model_comparison
            )
        mlflow.log_artifacts(str(folder))
    example = features.head(5).to_pandas()
    signature = mlflow.models.infer_signature(example, bundle.predict_frame(example))
    model_name = CHURN_MODEL_NAME if kind == "churn" else VALUE_MODEL_NAME
    logged = mlflow.pyfunc.log_model(
        name="model",
        python_model=bundle,
        signature=signature,
        input_example=example,
        pip_requirements=_pip_requirements(),
    )
    champion = _score_champion(model_name, kind, validation_frame, actual, schedule, outcome.tracking_uri)
    version = register(logged.model_uri, model_name, outcome.tracking_uri)
    decision = _gate(model_name, version, table["clvchurn"][GATE_METRIC[kind]], champion, config.force)
    if champion is not None and champion.metrics is not None:
        table["previous_champion"] = champion.metrics
        mlflow.log_metrics(_finite({f"previous_champion_{k}": v for k, v in champion.metrics.items()}))
    set_alias(model_name, decision.alias, version, outcome.tracking_uri)
    mlflow.set_tags({"alias": decision.alias, "registered_version": version, "forced": str(decision.forced)})
    log.info("%s v%s: %s", model_name, version, decision.alias)
    return decision


def _gate(
    model_name: str, version: str, new_score: float, champion: ChampionScore | None, force: bool
) -> PromotionDecision:
    """Champion if there is none, if it cannot be scored here, if the new score is higher, or if forced."""
    champion_score = None
    if champion is not None and champion.metrics is not None:
        champion_score = champion.metrics[GATE_METRIC_BY_MODEL[model_name]]
    if champion_score is None or not np.isfinite(champion_score):
        beats = True
    else:
        beats = bool(np.isfinite(new_score) and new_score > champion_score)
    return PromotionDecision(
        model_name=model_name,
        version=version,
        alias=CHAMPION if beats or force else CHALLENGER,
        new_score=new_score,
        champion_version=champion.version if champion is not None else None,
        champion_score=champion_score,
        forced=force and not beats,
        note=champion.note if champion is not None else "",
    )


@dataclass(frozen=True)
class ChampionScore:
    """The current champion's metrics on this run's validation snapshot (None when not comparable)."""

    version: str
    metrics: dict[str, float] | None
    note: str = ""


def _score_champion(
    model_name: str,
    kind: str,
    validation_frame: pl.DataFrame,
    actual: np.ndarray,
    schedule: CutoffSchedule,
    tracking_uri: str,
) -> ChampionScore | None:
    """Score the current champion on exactly the rows and labels the new model was validated on."""
    current = aliased_version(model_name, CHAMPION, tracking_uri)
    if current is None:
        return None
    try:
        champion = load_bundle(model_name, CHAMPION, tracking_uri)
    except (ModelNotRegisteredError, MlflowException, OSError) as error:
        log.warning("champion %s v%s could not be loaded: %s", model_name, current.version, error)
        return ChampionScore(current.version, None, f"champion v{current.version} could not be loaded")
    missing = sorted(set(champion.metadata.feature_names) - set(validation_frame.columns))
    if missing:
        log.warning("champion %s needs features this table lacks: %s", model_name, missing)
        return ChampionScore(
            current.version, None, f"champion v{current.version} needs features no longer built: {missing}"
        )
    predictions = champion.predict_frame(validation_frame)
    metrics = churn_metrics(actual, predictions) if kind == "churn" else value_metrics(actual, predictions)
    note = ""
    if champion.metadata.validation_as_of > schedule.validation:
        note = (
            f"champion v{current.version} was validated as of {champion.metadata.validation_as_of:%Y-%m-%d}, "
            f"after this snapshot ({schedule.validation:%Y-%m-%d}): it may have trained on these labels"
        )
        log.warning("%s: %s", model_name, note)
    return ChampionScore(current.version, metrics, note)


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    """MLflow rejects NaN; undefined metrics (ranking-only baselines) are left out of the run."""
    return {name: float(value) for name, value in metrics.items() if np.isfinite(value)}


def _pip_requirements() -> list[str]:
    """Pinned from the running environment so `mlflow models serve` rebuilds the same stack."""
    from importlib.metadata import version

    return [
        f"{package}=={version(package)}"
        for package in ("lightgbm", "scikit-learn", "polars", "pandas", "numpy", "pyarrow", "shap")
    ]
