"""`clvchurn train` and `clvchurn benchmark ...`: fit, backtest and register the models."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from clvchurn.commands.console import console
from clvchurn.commands.engine_options import SPARK_CONF, SPARK_MASTER, refuse_spark_options
from clvchurn.commands.loading import load_data_folder, parse_cutoff
from domain.vocabulary import DEFAULT_ENGINE, Engine

if TYPE_CHECKING:
    from policy.playbook import Playbook
    from training.train import TrainingConfig, TrainingOutcome

if TYPE_CHECKING:
    from features.contract import RawData
    from training.train import TrainingConfig

benchmark_app = typer.Typer(no_args_is_help=True, help="Measure clvchurn against published baselines.")

GROUND_TRUTH_FILE = "ground_truth.parquet"


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.add_typer(benchmark_app, name="benchmark")


def train_command(
    data_option: str = typer.Option(
        ..., "--data", help="Raw CRM data folder (with --engine spark: any path Spark reads, e.g. s3a://...)."
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Validation cutoff (default: the latest whose label windows close in the data)."
    ),
    churn_horizon_days: int | None = typer.Option(
        None, "--churn-horizon-days", min=1, help="Churn label window in days (default 180)."
    ),
    value_horizon_days: int | None = typer.Option(
        None, "--value-horizon-days", min=1, help="Value label window in days (default 365)."
    ),
    snapshots: int | None = typer.Option(
        None, "--snapshots", min=1, help="Fit cutoffs per model at most, the most recent first (default 4)."
    ),
    step_days: int | None = typer.Option(
        None, "--step-days", min=1, help="Days between fit cutoffs (default 90)."
    ),
    min_history_days: int | None = typer.Option(
        None, "--min-history-days", min=0, help="History a fit cutoff needs before it (default 180)."
    ),
    calibration: str | None = typer.Option(
        None,
        "--calibration",
        help="Calibration fold: auto (default: a later snapshot unless the history is too short), "
        "out_of_time, or held_out_customers.",
    ),
    tier_thresholds: str | None = typer.Option(
        None,
        "--tier-thresholds",
        help="Absolute tier thresholds in currency over the value horizon, 'A,B,C' (e.g. 500000,100000,20000); "
        "default: the playbook's tier policy (shares of active customers).",
    ),
    exclude_attributes: str | None = typer.Option(
        None,
        "--exclude-attributes",
        help="Customer attributes never to use as features, comma-separated (adds to CLVCHURN_EXCLUDED_ATTRIBUTES).",
    ),
    force: bool = typer.Option(
        False, "--force", help="Make the new pair champion even if it does not pass the gate."
    ),
    engine: Engine = typer.Option(
        DEFAULT_ENGINE,
        "--engine",
        help="Build the training tables in this process (local) or on Apache Spark (spark, collected "
        "to this process for LightGBM).",
    ),
    max_training_rows: int | None = typer.Option(
        None,
        "--max-training-rows",
        min=1,
        help="With --engine spark: collect at most this many training rows (all cutoffs together), a "
        "stratified sample by cutoff, population and label when there are more.",
    ),
    spark_master: str | None = SPARK_MASTER,
    spark_conf: list[str] = SPARK_CONF,
) -> None:
    """Backtest and refit the model pair (churn, reactivation, conversion, value) and register it.

    Options left out take the defaults of `training.train.TrainingConfig`; the lookback and the tier
    policy come from the playbook (CLVCHURN_PLAYBOOK_PATH).
    """
    _prefer_sleeping_openmp_threads()
    import polars as pl

    from domain.errors import CommandOptionError
    from model_contract.tiers import absolute_tiers
    from policy.playbook import Playbook
    from serving.settings import load_settings
    from training.settings import load_training_settings
    from training.train import TrainingConfig, train

    cutpoints = None
    if tier_thresholds:
        try:
            a, b, c = (float(part) for part in tier_thresholds.split(","))
        except ValueError:
            raise CommandOptionError(
                f"--tier-thresholds '{tier_thresholds}' must be three numbers 'A,B,C'"
            ) from None
        cutpoints = absolute_tiers(a, b, c)
    given: dict[str, Any] = {
        "churn_horizon_days": churn_horizon_days,
        "value_horizon_days": value_horizon_days,
        "snapshots": snapshots,
        "step_days": step_days,
        "min_history_days": min_history_days,
        "calibration": _calibration_choice(calibration),
        "validation_as_of": parse_cutoff(as_of) if as_of else None,
        "tier_cutpoints": cutpoints,
    }
    # The named account manager is who looks after a customer, not a trait of theirs: never a feature.
    manager = load_settings().account_manager_attribute
    excluded = [
        *load_training_settings().excluded_attributes,
        manager,
        *(exclude_attributes or "").split(","),
    ]
    given["excluded_attributes"] = tuple(dict.fromkeys(name.strip() for name in excluded if name.strip()))
    playbook = Playbook.load(load_settings().playbook_path)
    config = TrainingConfig(
        force=force, **{name: value for name, value in given.items() if value is not None}
    )
    if engine == "spark":
        outcome = _train_on_spark(data_option, config, playbook, max_training_rows, spark_master, spark_conf)
    else:
        refuse_spark_options(spark_master, spark_conf, max_training_rows=max_training_rows)
        data = Path(data_option)
        raw = load_data_folder(data, Path("artifacts") / "train.rejects.csv")
        _check_data_first(raw, config, playbook.lifecycle.lookback_days)
        truth_path = data / GROUND_TRUTH_FILE
        ground_truth = pl.read_parquet(truth_path) if truth_path.exists() else None
        from features.actions_contract import load_actions

        actions = load_actions(data).actions
        with console.status("Training...") as status:
            outcome = train(
                raw,
                config,
                playbook=playbook,
                ground_truth=ground_truth,
                data_source=str(data),
                progress=lambda message: status.update(f"{message}..."),
                actions=actions,
            )
    for note in outcome.notes:
        console.print(f"[dim]{note}[/]")
    for name, run in outcome.models.items():
        title = (
            f"{name}: backtest as of {run.backtest.schedule.validation:%Y-%m-%d}, "
            f"{run.refit_schedule.horizon_days}-day labels; registered refit trained through "
            f"{run.refit_schedule.trained_through:%Y-%m-%d}"
        )
        if run.backtest.table:
            console.print(_metrics_table(title, run.backtest.table))
        else:
            console.print(f"{title}: no backtest figures")
    if outcome.value_at_risk is not None:
        check = outcome.value_at_risk
        console.print(
            f"Value at risk against the true value lost to churn ({check.customers:,} active customers): "
            f"Spearman {check.spearman:.3f}, top decile found {check.top_decile_found:.1%} "
            f"(churn x predicted value: {check.spearman_churn_times_value:.3f}, "
            f"{check.top_decile_found_churn_times_value:.1%})"
        )
    decision = outcome.decision
    if decision is not None:
        console.print(
            f"[bold]clvchurn-pair[/] v{decision.version}: now '{decision.alias}' ({decision.reason})"
        )
    console.print(
        f"MLflow: experiment 'clvchurn' (id {outcome.experiment_id}), parent run {outcome.parent_run_id} in "
        f"{outcome.tracking_uri}. Browse with: mlflow ui --backend-store-uri {outcome.tracking_uri}"
    )


def _check_data_first(raw: RawData, config: TrainingConfig, lookback_days: int) -> None:
    """Run `clvchurn data check` on the data and options of this run; stop with its advice (one
    line, exit 2, through `InsufficientDataError`) when a model without a fallback cannot be trained
    honestly, and print what does not stop training (fallbacks, reject shares) as notes.

    Here rather than in `training.train.train`: the minimums are the product's promise to a user
    training on their own data, while the library function also trains the deliberately tiny bases of
    tests, notebooks and benchmarks, which would fail them.
    """
    from training.data_check import CheckSettings, check_data, require_trainable

    with console.status("Checking the data (clvchurn data check)..."):
        check = check_data(raw, settings=CheckSettings.for_training(config, lookback_days))
    for note in check.notes:
        console.print(f"[yellow]note:[/] {note}")
    require_trainable(check)


def _train_on_spark(
    data: str,
    config: TrainingConfig,
    playbook: Playbook,
    max_training_rows: int | None,
    spark_master: str | None,
    spark_conf: list[str],
) -> TrainingOutcome:
    """`train --engine spark`: check the data and build the training tables on Spark, train here."""
    from spark_engine.commands import settings_from_options, train_on_spark

    spark_settings = settings_from_options(spark_master, spark_conf)
    console.print(f"Starting Spark on {spark_settings.master}...")
    with console.status("Training...") as status:
        return train_on_spark(
            spark_settings,
            data,
            config,
            playbook=playbook,
            max_training_rows=max_training_rows,
            report=console.print,
            progress=lambda message: status.update(f"{message}..."),
        )


def _prefer_sleeping_openmp_threads() -> None:
    """Let LightGBM's idle OpenMP threads sleep instead of spinning, unless the user chose otherwise.

    With busy-waiting threads, two-thread training on a 2-core machine that is also running anything
    else spends most of its time waiting at barriers: measured 7x slower per boosting round under
    shared load (benchmarks/bench_training.py). Must be set before LightGBM loads libgomp.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _calibration_choice(value: str | None) -> str | None:
    from domain.errors import CommandOptionError
    from training.schedule import CALIBRATION_CHOICES

    if value is not None and value not in CALIBRATION_CHOICES:
        raise CommandOptionError(f"--calibration {value!r} is not one of {', '.join(CALIBRATION_CHOICES)}")
    return value


def _metrics_table(title: str, table: dict[str, dict[str, float]]) -> Table:
    names = list(next(iter(table.values())))
    view = Table(title=title)
    view.add_column("model")
    for name in names:
        view.add_column(name, justify="right")
    for model_name, metrics in table.items():
        view.add_row(model_name, *(_fmt(metrics.get(name)) for name in names))
    return view


def _fmt(value: float | None) -> str:
    """Scores with 4 decimals; currency amounts (1,000 and more) in whole units so the table stays narrow."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4f}"


@benchmark_app.command("cdnow")
def benchmark_cdnow(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CDNOW_master.txt"),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the table as JSON."),
    predictions: Path | None = typer.Option(
        None, "--predictions", help="Write each customer's predictions (Parquet or CSV)."
    ),
) -> None:
    """CDNOW benchmark: clvchurn vs BG/NBD + Gamma-Gamma under the protocol of ../shared/data/README.md."""
    from training.cdnow.benchmark import run_cdnow_benchmark

    with console.status("Running the CDNOW benchmark..."):
        result = run_cdnow_benchmark(path)
    console.print(_metrics_table("CDNOW holdout (1997-10-01 .. 1998-06-30)", result.table))
    if json_path is not None:
        json_path.write_text(json.dumps(result.table, indent=2))
        console.print(f"Wrote {json_path}")
    if predictions is not None:
        if predictions.suffix == ".csv":
            result.predictions.write_csv(predictions)
        else:
            result.predictions.write_parquet(predictions)
        console.print(f"Wrote {predictions}")


@benchmark_app.command("retail")
def benchmark_retail(
    path: Path = typer.Argument(
        ...,
        exists=True,
        help="online_retail.csv.gz (an invoice-line export) or a folder it was imported into.",
    ),
    json_path: Path | None = typer.Option(
        None, "--json", help="Also write the table, timings and diagnostics as JSON."
    ),
) -> None:
    """Retail benchmark: clvchurn vs BG/NBD + Gamma-Gamma and a plain RFM LightGBM (../shared/data/README.md)."""
    _prefer_sleeping_openmp_threads()
    from datetime import timedelta

    from training.retail import CLVCHURN, load_retail, run_retail_benchmark
    from training.retail.scoring import CHURN_METRIC_KEYS, SIX_METRIC_KEYS

    with console.status(f"Loading {path}..."):
        loaded = load_retail(path)
    if loaded.rejects.height:
        console.print(
            f"[yellow]{loaded.rejects.height:,} rows of {path} break the data contract and were left out[/]"
        )
    with console.status("Running the retail benchmark (clvchurn trains into a temporary MLflow store)..."):
        result = run_retail_benchmark(loaded.raw)
    last_day = (result.holdout_end - timedelta(days=1)).date()
    console.print(
        f"Population: {result.population:,} customers with an order in the 365 days before {result.cutoff.date()}; "
        f"{result.churn_rate:.1%} placed no order in the holdout {result.cutoff.date()} .. {last_day}, "
        f"whose net spend was {result.holdout_net_spend:,.0f}"
    )
    title = f"Retail holdout ({result.cutoff.date()} .. {last_day})"
    for heading, keys in (("value and activity", SIX_METRIC_KEYS), ("churn probability", CHURN_METRIC_KEYS)):
        console.print(_metrics_table(f"{title}: {heading}", _columns(result.table, keys)))
    console.print(
        "Seconds: " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in result.seconds.items())
    )
    clvchurn = result.diagnostics.get(CLVCHURN, {})
    if "training_cutoffs" in clvchurn:
        console.print(
            f"clvchurn's schedule: training {', '.join(clvchurn['training_cutoffs'])}; calibration "
            f"{clvchurn.get('calibration_cutoff')}; validation {clvchurn.get('validation_cutoff')}"
        )
    for kind in ("churn", "value"):
        if clvchurn.get(f"validation_{kind}"):
            console.print(
                _metrics_table(f"clvchurn's own validation: {kind}", clvchurn[f"validation_{kind}"])
            )
    if json_path is not None:
        json_path.write_text(json.dumps(result.to_json(), indent=2))
        console.print(f"Wrote {json_path}")


def _columns(table: dict[str, dict[str, float]], keys: tuple[str, ...]) -> dict[str, dict[str, float]]:
    return {model: {key: metrics[key] for key in keys} for model, metrics in table.items()}
