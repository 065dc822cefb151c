"""`clvchurn serve` and `clvchurn score`: the prediction API and the batch scorer."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from clvchurn.commands.console import console
from clvchurn.commands.engine_options import ENGINE, SPARK_CONF, SPARK_MASTER, refuse_spark_options
from clvchurn.commands.loading import load_data_folder, parse_cutoff
from domain.vocabulary import Engine

if TYPE_CHECKING:
    from serving.settings import Settings


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("score")(score)


def serve(
    host: str | None = typer.Option(
        None, "--host", help="Interface to listen on (default CLVCHURN_HOST or 127.0.0.1)."
    ),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="TCP port (default CLVCHURN_PORT or 8000)."
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        help="Server processes (default CLVCHURN_WORKERS or 1); one per core for throughput.",
    ),
) -> None:
    """Serve the champion models over HTTP (FastAPI under uvicorn); settings from CLVCHURN_* variables.

    An option given here overrides its variable; an option left out leaves the variable in force.
    """
    from serving.app import run
    from serving.settings import load_settings

    given = {"host": host, "port": port, "workers": workers}
    run(load_settings(**{name: value for name, value in given.items() if value is not None}))


def score(
    data_option: str = typer.Option(
        ..., "--data", help="Raw CRM data folder (with --engine spark: any path Spark reads, e.g. s3a://...)."
    ),
    as_of: str = typer.Option(..., "--as-of", help="Cutoff date: scores use events strictly before it."),
    out_option: str = typer.Option(
        ...,
        "--out",
        help="Snapshot Parquet file (what GET /v1/customers/{id} serves); with --engine spark a Parquet "
        "dataset folder, which the service reads too.",
    ),
    engine: Engine = ENGINE,
    spark_master: str | None = SPARK_MASTER,
    spark_conf: list[str] = SPARK_CONF,
    history: Path | None = typer.Option(
        None,
        "--history",
        help="Snapshot history folder that monitoring reads: the snapshot is also filed under "
        "as_of=YYYY-MM-DD/ with the pair that scored it and the features it was scored from (default "
        "CLVCHURN_MONITOR_HISTORY_PATH or artifacts/history).",
    ),
) -> None:
    """Score the whole customer base with the champion models and write the snapshot.

    The snapshot stores reason and action codes; the API, the pages and exports render them in the
    reader's language. It is also filed in the snapshot history (`serving.history`), replacing an
    earlier scoring of the same cutoff.
    """
    from features.build import build_features
    from monitoring.settings import load_monitoring_settings
    from serving.batch import score_features
    from serving.events import events_path_for, timeline_events
    from serving.history import pair_description, write_history_entry
    from serving.predictor import load_engine
    from serving.settings import load_settings
    from serving.snapshot_store import write_snapshot

    cutoff = parse_cutoff(as_of)
    settings = load_settings()
    if engine == "spark":
        history_uri = str(history) if history is not None else None
        _score_on_spark(data_option, cutoff, out_option, settings, spark_master, spark_conf, history_uri)
        return
    refuse_spark_options(spark_master, spark_conf)
    data, out = Path(data_option), Path(out_option)
    history_dir = history or load_monitoring_settings().history_path
    raw = load_data_folder(data, out.with_name(f"{out.stem}.rejects.csv"))
    with console.status("Loading the champion models..."):
        predictor = load_engine(settings)
    started = time.perf_counter()
    with console.status("Building the features...") as status:
        features = build_features(raw, cutoff)
        status.update("Scoring...")
        scored = score_features(
            features,
            predictor,
            progress=lambda done, total: status.update(f"Scored {done:,} of {total:,} customers..."),
        )
        write_snapshot(scored, out)
        timeline_events(raw, cutoff).write_parquet(events_path_for(out))
        filed = (
            write_history_entry(history_dir, scored, pair_description(predictor.loaded), features=features)
            if scored.height
            else None
        )
    tiers = dict(scored["tier"].value_counts().sort("tier").iter_rows())
    console.print(
        f"Scored {scored.height:,} customers as of {cutoff.date()} in {time.perf_counter() - started:.1f} s "
        f"with model pair v{predictor.loaded.version}; tiers {tiers}. Snapshot: {out}"
    )
    if filed is not None:
        console.print(f"Filed in the snapshot history: {filed}")


def _score_on_spark(
    data: str,
    cutoff: datetime,
    out: str,
    settings: Settings,
    spark_master: str | None,
    spark_conf: list[str],
    history: str | None = None,
) -> None:
    """`score --engine spark`: the same snapshot, scored per bucket of customers on Spark; with
    `history`, also kept as that history's entry for the cutoff (`DIR/as_of=YYYY-MM-DD/`)."""
    from spark_engine.commands import score_on_spark, settings_from_options

    started = time.perf_counter()
    spark_settings = settings_from_options(spark_master, spark_conf)
    console.print(f"Starting Spark on {spark_settings.master}...")
    scored = score_on_spark(
        spark_settings,
        data,
        cutoff,
        out,
        tracking_uri=settings.mlflow_tracking_uri,
        playbook_path=settings.playbook_path,
        history_uri=history,
        report=console.print,
    )
    console.print(
        f"Scored {scored.snapshot.rows:,} customers as of {cutoff.date()} in {time.perf_counter() - started:.1f} s "
        f"with model pair v{scored.version}; tiers {scored.tiers}. Snapshot: {out}"
    )
