"""One training run: features -> backtest -> refit -> one model pair -> MLflow, gated as a unit.

For each model of the pair (`training.recipe.SPECS`: churn, reactivation and conversion probabilities,
the value and the value if retained):

1. the **backtest** fits the recipe on its out-of-time schedule and judges it on the validation
   snapshot against the classic baselines (and, on synthetic data, the oracle): the figures reported;
2. the **refit** fits the same recipe moved forward to the most recent closed label windows
   (`training.schedule`): the model that is registered, trained through data end minus its horizon.

Then, on the features at the data end (what the next scoring run will see): tier cut-points fitted on
active customers' predicted value by the playbook's tier policy, reference statistics per tier for the
reasons, and the reference distribution for drift. Every model of the run goes into one `ModelPair`,
registered as one version of `clvchurn-pair` and promoted as one (`training.promotion`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import mlflow
import numpy as np
import polars as pl
from mlflow.data.polars_dataset import PolarsDataset, from_polars

from domain.errors import ScheduleError
from domain.vocabulary import ModelName
from features.build import data_end
from features.contract import RawData
from features.definitions import describe
from features.populations import POPULATION_COLUMN
from model_contract import (
    PAIR_MODEL_NAME,
    ModelBundle,
    ModelMetadata,
    ModelPair,
    PairMetadata,
    TierCutpoints,
    absolute_tiers,
    assign_tier,
    compute_reference_statistics,
    ensure_experiment,
    fit_tiers,
    register,
    set_alias,
    tracking_to,
)
from model_contract.distribution import reference_distribution
from policy.playbook import DEFAULT_PLAYBOOK, Playbook
from policy.tiers import RANKED_TIERS, TierPolicy
from training.artifacts import write_model_artifacts
from training.backtest import Backtest, finite, run_backtest
from training.dataset import learn_categorical_levels
from training.order_tables import OrderLabelledTables
from training.promotion import PromotionDecision, promote
from training.recipe import SPECS, VALUE_RANGE, FittedModel, ModelSpec, fit_model
from training.schedule import CalibrationChoice, Schedule, plan_model
from training.tables import TableBuilder, TrainingTables
from training.value_at_risk import ValueAtRiskCheck, check_value_at_risk
from training.value_range import backtest_value_range, fit_value_range

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainingConfig:
    """What one training run does; the CLI and the settings fill it, these are the defaults."""

    churn_horizon_days: int = 180
    value_horizon_days: int = 365
    snapshots: int = 4
    step_days: int = 90
    min_history_days: int = 180
    calibration: CalibrationChoice = "auto"  # see training.schedule: out of time unless history is short
    validation_as_of: datetime | None = None
    force: bool = False
    tier_cutpoints: TierCutpoints | None = None  # absolute thresholds; None = the playbook's tier policy
    excluded_attributes: tuple[str, ...] = ()
    n_jobs: int = 2
    seed: int = 0


@dataclass
class ModelRun:
    """One model's backtest and refit in this run."""

    spec: ModelSpec
    backtest: Backtest
    refit_schedule: Schedule
    refit: FittedModel

    @property
    def name(self) -> ModelName:
        return self.spec.name


@dataclass
class TrainingOutcome:
    models: dict[ModelName, ModelRun]
    pair: ModelPair
    notes: list[str]
    decision: PromotionDecision | None = None
    parent_run_id: str = ""
    experiment_id: str = ""
    tracking_uri: str = ""
    value_at_risk: ValueAtRiskCheck | None = None
    table_params: dict[str, str] = field(default_factory=dict)  # what a table builder recorded

    @property
    def tables(self) -> dict[ModelName, dict[str, dict[str, float]]]:
        """Each model's backtest table: clvchurn and every baseline on its validation snapshot."""
        return {name: run.backtest.table for name, run in self.models.items()}


def _quiet(_: str) -> None:
    return None


def train(
    raw: RawData,
    config: TrainingConfig,
    *,
    playbook: Playbook | None = None,
    ground_truth: pl.DataFrame | None = None,
    tracking_uri: str | None = None,
    data_source: str = "",
    progress: Progress = _quiet,
    actions: pl.DataFrame | None = None,
    min_uplift_outcomes: int | None = None,
    table_builder: TableBuilder | None = None,
) -> TrainingOutcome:
    """Backtest, refit, log and register the model pair; see the module docstring.

    `actions` (the data folder's actions file, `features.contract.load_actions`) adds an uplift model
    for every action with at least `min_uplift_outcomes` closed outcomes in each group (default
    `CLVCHURN_ACTIONS_MIN_OUTCOMES_PER_GROUP`) to the pair (`training.uplift.register.add_uplift_models`).

    `playbook` (default: the packaged one) gives the lookback that separates active from lapsed
    customers and the tier policy. `tracking_uri` (else MLFLOW_TRACKING_URI, else the local SQLite
    store) is used for this call only; MLflow's process-wide store is restored afterwards.
    `table_builder` builds the training tables somewhere else (see `fit_pair`).
    """
    playbook = playbook or Playbook.load(DEFAULT_PLAYBOOK)
    outcome = fit_pair(
        raw,
        config,
        playbook=playbook,
        ground_truth=ground_truth,
        progress=progress,
        table_builder=table_builder,
    )
    if actions is not None and actions.height:
        from training.uplift.register import add_uplift_models

        progress("Fitting uplift models on past campaigns")
        add_uplift_models(
            outcome,
            raw,
            actions,
            playbook,
            min_per_group=min_uplift_outcomes,
            seed=config.seed,
            n_jobs=config.n_jobs,
        )
    with tracking_to(tracking_uri) as uri:
        outcome.tracking_uri = uri
        outcome.experiment_id = ensure_experiment(uri)
        _log_and_register(outcome, config, data_source, progress)
    return outcome


def fit_pair(
    raw: RawData,
    config: TrainingConfig,
    *,
    playbook: Playbook,
    ground_truth: pl.DataFrame | None = None,
    progress: Progress = _quiet,
    table_builder: TableBuilder | None = None,
) -> TrainingOutcome:
    """Everything `train` does before MLflow: backtest and refit every model, assemble the pair.

    With `table_builder` (a `training.tables.TableBuilder`, e.g. `spark_engine.SparkTableBuilder`), the
    data span and every training table come from it, all cutoffs in one call, and `raw` only feeds
    the baselines (BG/NBD and RFM read its transactions' customer, time and amount).
    """
    start, end = _data_span(raw) if table_builder is None else table_builder.data_span()
    lookback = playbook.lifecycle.lookback_days
    tables = OrderLabelledTables(
        raw,
        config.churn_horizon_days,
        config.value_horizon_days,
        lookback,
        config.excluded_attributes,
        builder=table_builder,
    )
    schedules = _schedules(start, end, config)
    if table_builder is not None:
        progress("Building the training tables")
        tables.prefetch(
            [end, *(cutoff for plans in schedules.values() for plan in plans for cutoff in plan.all)]
        )
    notes = [note for backtest, refit in schedules.values() for note in (*backtest.notes, *refit.notes)]
    notes.insert(0, f"active customers ordered within {lookback} days (the playbook's dormant silence)")
    notes.extend(tables.notes)
    latest = tables.features(end)
    names = tables.feature_names
    levels = {
        horizon: (
            learn_categorical_levels(tables.stacked(backtest.training), names),
            learn_categorical_levels(tables.stacked(refit.training), names),
        )
        for horizon, (backtest, refit) in schedules.items()
    }
    runs: dict[ModelName, ModelRun] = {}
    for spec in SPECS.values():
        if spec.estimator == VALUE_RANGE:
            continue  # fitted on the value model's predictions and the tiers, below
        backtest_schedule, refit_schedule = schedules[spec.horizon]
        backtest_levels, refit_levels = levels[spec.horizon]
        progress(f"Backtesting the {spec.name} model")
        backtest = run_backtest(
            spec,
            tables,
            backtest_schedule,
            backtest_levels,
            raw=raw,
            ground_truth=ground_truth,
            n_jobs=config.n_jobs,
            seed=config.seed,
            notes=notes,
        )
        progress(f"Refitting the {spec.name} model on the newest labels")
        refit = fit_model(
            spec,
            *tables.folds(refit_schedule, config.seed),
            names,
            refit_levels,
            n_jobs=config.n_jobs,
            seed=config.seed,
            value_candidate=backtest.fitted.model_params.get("candidate"),
        )
        if refit.fallback:
            notes.append(refit.fallback)
        runs[spec.name] = ModelRun(spec, backtest, refit_schedule, refit)
    progress("Fitting tiers and references on the latest features")
    cutpoints = config.tier_cutpoints or _fit_tier_policy(
        playbook.tiers, _active_values(runs["value"].refit, latest)
    )
    progress("Backtesting and calibrating the value range")
    runs["value_range"] = _value_range_run(
        runs["value"], tables, schedules["value"], cutpoints, playbook.tiers, config, notes
    )
    pair = _assemble(runs, latest, end, lookback, cutpoints, config, notes)
    outcome = TrainingOutcome(models=runs, pair=pair, notes=notes, table_params=dict(tables.params))
    if ground_truth is not None:
        outcome.value_at_risk = check_value_at_risk(pair, latest, ground_truth, end)
    return outcome


def _schedules(
    start: datetime, end: datetime, config: TrainingConfig
) -> dict[str, tuple[Schedule, Schedule]]:
    """The backtest and refit schedules of the probability models (churn horizon) and the value ones."""
    if config.churn_horizon_days > config.value_horizon_days:
        raise ScheduleError(
            f"--churn-horizon-days ({config.churn_horizon_days}) must not exceed --value-horizon-days "
            f"({config.value_horizon_days}): the value if retained is conditioned on an order within the churn horizon"
        )
    plans = {}
    for horizon, days, what in (
        ("churn", config.churn_horizon_days, "churn, reactivation and conversion"),
        ("value", config.value_horizon_days, "value and value if retained"),
    ):
        plans[horizon] = plan_model(
            start,
            end,
            days,
            config.snapshots,
            config.step_days,
            config.min_history_days,
            config.validation_as_of,
            config.calibration,
            what=what,
        )
    return plans


def _active_values(value: FittedModel, table: pl.DataFrame) -> np.ndarray:
    """The value model's predictions for the active customers of a feature table: what tiers are cut on."""
    return value.predict(table.filter(pl.col(POPULATION_COLUMN) == "active"))


def _value_range_run(
    value: ModelRun,
    tables: TrainingTables,
    schedules: tuple[Schedule, Schedule],
    cutpoints: TierCutpoints,
    tier_policy: TierPolicy,
    config: TrainingConfig,
    notes: list[str],
) -> ModelRun:
    """The value range around the value model: backtested with the tiers of its validation day, refitted
    with the pair's (`training.value_range`)."""
    spec = SPECS["value_range"]
    backtest_schedule, refit_schedule = schedules
    backtest_cutpoints = config.tier_cutpoints or _fit_tier_policy(
        tier_policy, _active_values(value.backtest.fitted, value.backtest.validation)
    )
    backtest = backtest_value_range(
        spec,
        value.backtest,
        tables,
        backtest_schedule,
        backtest_cutpoints,
        n_jobs=config.n_jobs,
        seed=config.seed,
        notes=notes,
    )
    refit = fit_value_range(
        spec,
        value.refit,
        tables.stacked(refit_schedule.training),
        tables.at(refit_schedule.calibration),
        cutpoints,
        n_jobs=config.n_jobs,
        seed=config.seed,
    )
    return ModelRun(spec, backtest, refit_schedule, refit)


def _assemble(
    runs: dict[ModelName, ModelRun],
    latest: pl.DataFrame,
    end: datetime,
    lookback: int,
    cutpoints: TierCutpoints,
    config: TrainingConfig,
    notes: list[str],
) -> ModelPair:
    """The refit models as one pair, with tiers, references and the drift reference on `latest`."""
    value = runs["value"].refit.predict(latest)
    active = (latest[POPULATION_COLUMN] == "active").to_numpy()
    tiers = assign_tier(cutpoints, value, latest["orders_365d"].to_numpy())
    bundles: dict[ModelName, ModelBundle] = {}
    for name, run in runs.items():
        rows = np.isin(latest[POPULATION_COLUMN].to_numpy(), run.spec.populations)
        fitted, backtest = run.refit, run.backtest
        metadata = ModelMetadata(
            name=name,
            populations=list(run.spec.populations),
            target=run.spec.target,
            feature_names=fitted.feature_names,
            feature_descriptions={feature: describe(feature).description for feature in fitted.feature_names},
            categorical_levels=fitted.categorical_levels,
            horizon_days=run.refit_schedule.horizon_days,
            model_family=fitted.model_family,
            model_params=fitted.model_params,
            fit_cutoffs=list(run.refit_schedule.training),
            calibration_cutoff=run.refit_schedule.calibration,
            calibration_mode=run.refit_schedule.calibration_mode,
            trained_through=run.refit_schedule.trained_through,
            backtest_as_of=backtest.schedule.validation,
            backtest_metrics=finite(backtest.metrics),
            fallback=fitted.fallback,
            reference_statistics=compute_reference_statistics(
                latest.filter(pl.Series(rows)), list(tiers[rows]), fitted.feature_names
            ),
        )
        bundles[name] = ModelBundle(fitted.scorer, metadata)
    feature_names = runs["churn"].refit.feature_names
    churn = np.where(active, runs["churn"].refit.predict(latest), np.nan)
    predictions = latest.select(feature_names).with_columns(
        pl.Series("predicted_value", value), pl.Series("churn_probability", churn).fill_nan(None)
    )
    pair_metadata = PairMetadata(
        trained_at=datetime.now().replace(microsecond=0),
        data_end=end,
        lookback_days=lookback,
        churn_horizon_days=config.churn_horizon_days,
        value_horizon_days=config.value_horizon_days,
        tier_cutpoints=cutpoints.to_dict(),
        reference_distribution=reference_distribution(
            predictions,
            feature_names,
            predictions=["churn_probability", "predicted_value"],
            as_of=end.date().isoformat(),
        ),
        notes=notes,
    )
    return ModelPair(bundles, pair_metadata)


def _fit_tier_policy(policy: TierPolicy, active_values: np.ndarray) -> TierCutpoints:
    minimums = dict(policy.minimum_orders_365d)
    if policy.thresholds is not None:
        a, b, c = (policy.thresholds[tier] for tier in RANKED_TIERS)
        return absolute_tiers(a, b, c, minimums)
    assert policy.shares is not None
    return fit_tiers(active_values, [policy.shares[tier] for tier in RANKED_TIERS], minimums)


def _data_span(raw: RawData) -> tuple[datetime, datetime]:
    """First event, and the midnight after the last event (the first cutoff that sees everything)."""
    end = data_end(raw)
    if end is None:
        raise ScheduleError("the data holds no transactions or interactions to train on")
    firsts = [frame["timestamp"].min() for frame in (raw.transactions, raw.interactions) if frame.height]
    return min(value for value in firsts if isinstance(value, datetime)), end


def _log_and_register(
    outcome: TrainingOutcome, config: TrainingConfig, data_source: str, progress: Progress
) -> None:
    """One parent run for the training, one child run per model; register the pair, then gate it."""
    progress("Logging the training run to MLflow")
    pair = outcome.pair
    run_name = f"train-{pair.metadata.trained_at:%Y%m%d-%H%M%S}"
    with mlflow.start_run(experiment_id=outcome.experiment_id, run_name=run_name) as parent:
        outcome.parent_run_id = parent.info.run_id
        dataset = _training_dataset(outcome, data_source)
        mlflow.log_input(dataset, context="training")
        mlflow.log_params(_run_params(config, data_source))
        if outcome.table_params:
            mlflow.log_params(outcome.table_params)
        mlflow.set_tag("notes", "; ".join(outcome.notes)[:5000])
        for name, run in outcome.models.items():
            for model, metrics in run.backtest.table.items():
                mlflow.log_metrics(finite({f"{name}_{model}_{key}": value for key, value in metrics.items()}))
            progress(f"Logging the {name} model (charts, SHAP summary, model card)")
            with mlflow.start_run(experiment_id=outcome.experiment_id, run_name=name, nested=True):
                mlflow.log_params(
                    {"model_family": run.refit.model_family, "horizon_days": run.refit_schedule.horizon_days}
                )
                mlflow.log_metrics(finite(run.backtest.metrics))
                write_model_artifacts(pair[name], run.backtest)
        if outcome.value_at_risk is not None:
            mlflow.log_metrics(finite(outcome.value_at_risk.as_metrics()))
        example = (
            outcome.models["value"].backtest.validation.head(5).select(pair["value"].metadata.feature_names)
        )
        logged = mlflow.pyfunc.log_model(
            name="pair",
            python_model=pair,
            signature=mlflow.models.infer_signature(example.to_pandas(), pair.predict_frame(example)),
            input_example=example.to_pandas(),
            pip_requirements=_pip_requirements(),
        )
        version = register(logged.model_uri, PAIR_MODEL_NAME, outcome.tracking_uri)
        decision = promote(outcome, version, force=config.force)
        set_alias(PAIR_MODEL_NAME, decision.alias, version, outcome.tracking_uri)
        mlflow.set_tags(
            {"alias": decision.alias, "registered_version": version, "forced": str(decision.forced)}
        )
        outcome.decision = decision
        log.info("%s v%s: %s", PAIR_MODEL_NAME, version, decision.alias)


def _run_params(config: TrainingConfig, data_source: str) -> dict[str, Any]:
    return {
        "churn_horizon_days": config.churn_horizon_days,
        "value_horizon_days": config.value_horizon_days,
        "snapshots": config.snapshots,
        "step_days": config.step_days,
        "min_history_days": config.min_history_days,
        "calibration": config.calibration,
        "excluded_attributes": ",".join(config.excluded_attributes) or "none",
        "data_source": data_source or "in-memory",
        "force": config.force,
        "n_jobs": config.n_jobs,
        "seed": config.seed,
    }


def _training_dataset(outcome: TrainingOutcome, data_source: str) -> PolarsDataset:
    """The churn backtest's validation rows as an MLflow dataset: schema, row count and digest."""
    table = outcome.models["churn"].backtest.validation
    with warnings.catch_warnings():
        # MLflow registers two identical local-file source classes and warns that a path is ambiguous.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        return from_polars(table, source=data_source or None, name="validation_rows")


def _pip_requirements() -> list[str]:
    """Pinned from the running environment so `mlflow models serve` rebuilds the same stack."""
    from importlib.metadata import version

    return [
        f"{package}=={version(package)}"
        for package in (
            "lightgbm",
            "scikit-learn",
            "polars",
            "pandas",
            "numpy",
            "pyarrow",
            "shap",
            "pydantic",
        )
    ]


__all__ = ["TrainingConfig", "TrainingOutcome", "fit_pair", "train"]
