"""`clvchurn serve` and `clvchurn score`: the prediction API and the batch scorer."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from clvchurn.commands.console import console, fail
from clvchurn.commands.loading import load_data_folder, parse_cutoff


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("score")(score)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        help="Server processes (default CLVCHURN_WORKERS or 1); one per core for throughput.",
    ),
) -> None:
    """Serve the champion models over HTTP (FastAPI under uvicorn); settings from CLVCHURN_* variables."""
    from domain.errors import ModelNotReadyError
    from serving.app import run
    from serving.settings import Settings

    settings = Settings(host=host, port=port)
    if workers is not None:
        settings = settings.model_copy(update={"workers": workers})
    try:
        run(settings)
    except ModelNotReadyError as error:
        fail(str(error))


def score(
    data: Path = typer.Option(..., "--data", exists=True, file_okay=False, help="Raw CRM data folder."),
    as_of: str = typer.Option(..., "--as-of", help="Cutoff date: scores use events strictly before it."),
    out: Path = typer.Option(
        ..., "--out", help="Snapshot Parquet file (what GET /v1/customers/{id} serves)."
    ),
) -> None:
    """Score the whole customer base with the champion models and write the snapshot.

    The snapshot holds the reasons and actions in every supported language (en and zh); the API and
    the pages serve the one each request asks for.
    """
    from domain.errors import ModelNotReadyError
    from domain.vocabulary import LANGUAGES
    from serving.batch import events_path_for, score_base, timeline_events
    from serving.predictor import load_engine
    from serving.settings import Settings
    from serving.snapshot_store import write_snapshot_frame

    cutoff = parse_cutoff(as_of)
    raw = load_data_folder(data, out.with_name(f"{out.stem}.rejects.csv"))
    try:
        with console.status("Loading the champion models..."):
            predictor = load_engine(Settings())
    except ModelNotReadyError as error:
        fail(str(error))
    started = time.perf_counter()
    with console.status("Scoring...") as status:
        scored = score_base(
            raw,
            cutoff,
            predictor,
            LANGUAGES,
            progress=lambda done, total: status.update(f"Scored {done:,} of {total:,} customers..."),
        )
        write_snapshot_frame(scored, out)
        timeline_events(raw, cutoff).write_parquet(events_path_for(out))
    tiers = dict(scored["tier"].value_counts().sort("tier").iter_rows())
    console.print(
        f"Scored {scored.height:,} customers as of {cutoff.date()} in {time.perf_counter() - started:.1f} s "
        f"with churn model v{predictor.churn.version} and value model v{predictor.value.version}; "
        f"tiers {tiers}. Snapshot with reasons and actions in "
        f"{' and '.join(LANGUAGES)}: {out}"
    )
