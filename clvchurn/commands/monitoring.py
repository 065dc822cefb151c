"""`clvchurn monitor` and `clvchurn retrain`: how past scores fared, and a challenger judged against the champion."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from clvchurn.commands.console import console
from clvchurn.commands.engine_options import SPARK_CONF, SPARK_MASTER, refuse_spark_options
from clvchurn.commands.loading import load_data_folder, parse_cutoff
from domain.errors import ClvchurnError, RetrainFailedError
from domain.vocabulary import DEFAULT_ENGINE, Engine

if TYPE_CHECKING:
    from training.retrain import RetrainOutcome

EXIT_PROMOTED = 0
EXIT_KEPT = 3


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor_command)
    app.command("retrain")(retrain_command)


def monitor_command(
    data: str = typer.Option(
        ...,
        "--data",
        help="Raw CRM data folder: the outcomes of past snapshots (with --engine spark: any path Spark reads).",
    ),
    history: str | None = typer.Option(
        None,
        "--history",
        help="Snapshot history (default CLVCHURN_MONITOR_HISTORY_PATH or artifacts/history; with --engine "
        "spark any path Spark reads).",
    ),
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="Outcomes known up to this date (default: the data end); later snapshots are left out.",
    ),
    json_path: Path | None = typer.Option(
        None,
        "--json",
        help="Report file (default CLVCHURN_MONITOR_REPORT_PATH, which the service's /monitoring page reads).",
    ),
    html_path: Path | None = typer.Option(None, "--html", help="Also write the report as one HTML page."),
    lang: str = typer.Option("en", "--lang", help="Language of the HTML page: en or zh."),
    log_to_mlflow: bool = typer.Option(
        True, "--mlflow/--no-mlflow", help="Log a monitoring run (figures, report, charts) to MLflow."
    ),
    engine: Engine = typer.Option(
        DEFAULT_ENGINE,
        "--engine",
        help="Judge the history in this process (local) or on Apache Spark (spark): the same report.",
    ),
    spark_master: str | None = SPARK_MASTER,
    spark_conf: list[str] = SPARK_CONF,
) -> None:
    """Realised and estimated accuracy of every snapshot in the history, drift of the latest, tier migration.

    Writes the JSON report, a Parquet file of every tier mover beside it, the HTML page if asked, and
    a run of the MLflow experiment clvchurn-monitoring.
    """
    from monitoring.report import monitor
    from monitoring.settings import load_monitoring_settings
    from serving.monitor_report import write_report
    from serving.settings import load_settings

    settings = load_monitoring_settings()
    history_dir = history or str(settings.history_path)
    report_path = json_path or settings.report_path
    tracking_uri = load_settings().mlflow_tracking_uri
    known_until = parse_cutoff(as_of) if as_of else None
    champion = _champion(tracking_uri)
    if engine == "spark":
        from spark_engine.commands import monitor_on_spark, settings_from_options

        spark_settings = settings_from_options(spark_master, spark_conf)
        console.print(f"Starting Spark on {spark_settings.master}...")
        started = time.perf_counter()  # Spark reads and checks the data inside the job
        result = monitor_on_spark(
            spark_settings,
            data,
            history_dir,
            tracking_uri=tracking_uri,
            as_of=known_until,
            monitoring=settings,
            champion=champion,
            rejects_at=str(report_path.with_suffix(".parquet")),
            report=console.print,
        )
    else:
        refuse_spark_options(spark_master, spark_conf)
        raw = load_data_folder(Path(data), report_path.with_name(f"{report_path.stem}.rejects.csv"))
        started = time.perf_counter()
        with console.status("Judging the snapshots..."):
            result = monitor(raw, Path(history_dir), as_of=known_until, settings=settings, champion=champion)
    report = result.report
    files = []
    if result.movers is not None:
        movers_path = report_path.with_name(f"{report_path.stem}.movers.parquet")
        movers_path.parent.mkdir(parents=True, exist_ok=True)
        result.movers.write_parquet(movers_path)
        report["migration"]["movers_file"] = str(movers_path)
        files.append(movers_path)
    write_report(report, report_path)
    files.insert(0, report_path)
    if html_path is not None:
        from serving.web.monitoring_html import render_report_html

        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(render_report_html(report, lang), encoding="utf-8")
        files.append(html_path)
    _print_summary(report, time.perf_counter() - started)
    if log_to_mlflow:
        from monitoring.tracking import log_monitoring_run

        run_id = log_monitoring_run(report, files, tracking_uri)
        console.print(f"MLflow: monitoring run {run_id} in {tracking_uri}")
    for path in files:
        console.print(f"Wrote {path}")


def _champion(tracking_uri: str) -> dict[str, Any] | None:
    from model_contract import CHAMPION, PAIR_MODEL_NAME, aliased_version

    found = aliased_version(PAIR_MODEL_NAME, CHAMPION, tracking_uri)
    return None if found is None else {"name": found.name, "version": found.version, "run_id": found.run_id}


def _print_summary(report: dict[str, Any], seconds: float) -> None:
    status = report["status"]
    console.print(
        f"Monitored {len(report['history']['cutoffs'])} snapshots with outcomes up to {report['as_of']} in "
        f"{seconds:.1f} s: {len(report['realised'])} with closed windows, {status['alerts']} alerts"
    )
    for entry in report["realised"]:
        parts = []
        for model, metric in (("churn", "roc_auc"), ("churn", "ece"), ("value", "gini")):
            card = entry.get(model)
            if card and card.get(metric) is not None:
                stored = entry["backtest"].get(model, {}).get(metric)
                backtest = f" (backtest {stored:.3f})" if stored is not None else ""
                parts.append(f"{model} {metric} {card[metric]:.3f}{backtest}")
        console.print(
            f"  {entry['snapshot_as_of']}: " + (", ".join(parts) or "no closed churn or value window")
        )
        for alert in entry["alerts"]:
            console.print(
                f"  [yellow]alert[/] {alert['model']} {alert['metric']} {alert['realised']:.4f} is worse than the "
                f"backtest {alert['backtest']:.4f} by {alert['worse_by']:.4f} (allowed {alert['allowed']:.4f})"
            )
    drift = report["drift"]
    if drift is not None:
        moved = [record["name"] for record in drift["features"] if record["flagged"]]
        console.print(
            f"Drift of {drift['snapshot_as_of']} against the reference of {drift['reference']['as_of']}: "
            + ("[red]flagged[/]" if drift["flagged"] else "not flagged")
            + (f" ({', '.join(moved)})" if moved else "")
        )
    moves = report["migration"]
    if moves is not None:
        console.print(
            f"Tier migration {moves['from']} -> {moves['to']}: {moves['customers']:,} customers in both, "
            f"{moves['moved_up']:,} moved up, {moves['moved_down']:,} down"
        )


def retrain_command(
    data: Path = typer.Option(..., "--data", help="Raw CRM data folder, up to now."),
    promote_if_better: bool = typer.Option(
        False,
        "--promote-if-better",
        help="Move the champion alias to the challenger when it passes the gate.",
    ),
    json_path: Path = typer.Option(
        Path("artifacts/retrain/comparison.json"), "--json", help="Where to write the comparison."
    ),
) -> None:
    """Train a challenger pair, compare it with the champion on a window neither learned, gate, maybe promote.

    Exit code 0: the challenger became champion; 3: the champion stays; 2: an error. Safe from cron:
    a lock keeps two runs from overlapping, and a run on unchanged data and settings trains nothing.
    """
    try:
        outcome = _retrain(data, promote_if_better, json_path)
    except (ClvchurnError, typer.Exit, typer.Abort):
        raise
    except Exception as error:  # cron reads the exit code: any failure is 2, said in one line
        raise RetrainFailedError(
            f"`clvchurn retrain --data {data}` failed: {type(error).__name__}: {error}; the champion is "
            "unchanged. Run it again with --debug for the traceback"
        ) from error
    sys.exit(EXIT_PROMOTED if outcome.promoted else EXIT_KEPT)


def _retrain(data: Path, promote_if_better: bool, json_path: Path) -> RetrainOutcome:
    """The retrain under the lock, its comparison written to `json_path` and printed."""
    import json

    import polars as pl

    from monitoring.settings import load_monitoring_settings
    from policy.playbook import Playbook
    from serving.settings import load_settings
    from training.retrain import PromotionGate, retrain, retrain_lock
    from training.settings import load_training_settings
    from training.train import TrainingConfig

    settings = load_monitoring_settings()
    service = load_settings()
    gate = PromotionGate(
        max_roc_auc_drop=settings.retrain_max_roc_auc_drop,
        max_ece=settings.retrain_max_ece,
        max_gini_drop=settings.retrain_max_gini_drop,
    )
    excluded = tuple(name.strip() for name in load_training_settings().excluded_attributes if name.strip())
    config = TrainingConfig(excluded_attributes=excluded)
    with retrain_lock(settings.retrain_lock_path):
        raw = load_data_folder(data, json_path.with_name(f"{json_path.stem}.rejects.csv"))
        truth_path = data / "ground_truth.parquet"
        with console.status("Retraining...") as status:
            outcome = retrain(
                raw,
                config,
                data_dir=data,
                playbook=Playbook.load(service.playbook_path),
                playbook_path=service.playbook_path,
                gate=gate,
                promote_if_better=promote_if_better,
                tracking_uri=service.mlflow_tracking_uri,
                ground_truth=pl.read_parquet(truth_path) if truth_path.exists() else None,
                progress=lambda message: status.update(f"{message}..."),
            )
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(outcome.comparison, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    for check in outcome.comparison["gate"]["checks"]:
        verdict = "[green]pass[/]" if check["passed"] else "[red]fail[/]"
        console.print(f"  {verdict} {check['model']} {check['metric']}: {check['rule']} ({check['detail']})")
    console.print(f"[bold]{outcome.comparison['decision']}[/]: {outcome.comparison['reason']}")
    console.print(f"Wrote {json_path}")
    return outcome
