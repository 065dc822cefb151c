"""`clvchurn features build`: the point-in-time feature table (and labels) for one or more cutoffs."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from clvchurn.commands.console import console
from clvchurn.commands.loading import load_data_folder, parse_cutoff

app = typer.Typer(no_args_is_help=True)


@app.command("build")
def build(
    data: Path = typer.Option(..., "--data", help="Raw CRM data folder."),
    as_of: str = typer.Option(..., "--as-of", help="Cutoff date: features use events strictly before it."),
    horizon_days: int | None = typer.Option(
        None, "--horizon-days", min=1, help="Also compute labels churned and future_value over this window."
    ),
    snapshots: int = typer.Option(1, "--snapshots", min=1, help="Number of cutoffs to stack."),
    step_days: int = typer.Option(90, "--step-days", min=1, help="Days between stacked cutoffs."),
    out: Path = typer.Option(..., "--out", help="Parquet file to write."),
) -> None:
    """Build one row per customer (and cutoff) from events strictly before the cutoff."""
    import polars as pl

    from features.build import build_features, build_training_table, snapshot_dates

    cutoff = parse_cutoff(as_of)
    raw = load_data_folder(data, out.with_name(f"{out.stem}.rejects.csv"))
    cutoffs = snapshot_dates(cutoff, snapshots, step_days)
    started = time.perf_counter()
    with console.status(f"Building features for {len(cutoffs)} cutoff(s)..."):
        if horizon_days is not None:
            table = build_training_table(
                raw, cutoffs, churn_horizon_days=horizon_days, value_horizon_days=horizon_days
            )
        else:
            table = pl.concat([build_features(raw, cutoff) for cutoff in cutoffs], how="vertical")
    out.parent.mkdir(parents=True, exist_ok=True)
    table.write_parquet(out)
    console.print(
        f"Wrote {table.height:,} rows x {table.width} columns to {out} "
        f"in {time.perf_counter() - started:.1f} s (cutoffs: {', '.join(c.date().isoformat() for c in cutoffs)})"
    )
