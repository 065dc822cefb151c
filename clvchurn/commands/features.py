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
        None,
        "--horizon-days",
        min=1,
        help="Also compute the labels (population, churned/reactivated/converted, future_value) over this window.",
    ),
    allow_open_labels: bool = typer.Option(
        False,
        "--allow-open-labels",
        help="Build labels whose window ends after the data anyway: warn and mark them (label_window_open).",
    ),
    snapshots: int = typer.Option(1, "--snapshots", min=1, help="Number of cutoffs to stack."),
    step_days: int = typer.Option(90, "--step-days", min=1, help="Days between stacked cutoffs."),
    out: Path = typer.Option(..., "--out", help="Parquet file to write."),
) -> None:
    """Build one row per customer (and cutoff) from events strictly before the cutoff.

    With `--horizon-days`, a label window that ends after the data would count customers as churned (or
    worth nothing) only because their future is not recorded yet: the command refuses it unless
    `--allow-open-labels`, which keeps those rows with `label_window_open` true.
    """
    from datetime import timedelta

    import polars as pl

    from domain.errors import LabelWindowOpenError
    from features.build import build_features, build_training_table, data_end, snapshot_dates
    from policy.playbook import Playbook
    from serving.settings import load_settings

    cutoff = parse_cutoff(as_of)
    raw = load_data_folder(data, out.with_name(f"{out.stem}.rejects.csv"))
    cutoffs = snapshot_dates(cutoff, snapshots, step_days)
    started = time.perf_counter()
    open_windows: list[str] = []
    if horizon_days is not None:
        end = data_end(raw)
        open_windows = [
            c.date().isoformat() for c in cutoffs if end is None or c + timedelta(days=horizon_days) > end
        ]
        if open_windows and not allow_open_labels:
            raise LabelWindowOpenError(
                f"--horizon-days {horizon_days} from the cutoffs {', '.join(open_windows)} ends after the data "
                f"({end.date() if end else 'no events'}): those labels are not known yet; choose an earlier "
                "--as-of or a shorter --horizon-days, or pass --allow-open-labels to keep them marked"
            )
    with console.status(f"Building features for {len(cutoffs)} cutoff(s)..."):
        if horizon_days is not None:
            lookback = Playbook.load(load_settings().playbook_path).lifecycle.lookback_days
            table = build_training_table(
                raw,
                cutoffs,
                churn_horizon_days=horizon_days,
                value_horizon_days=horizon_days,
                lookback_days=lookback,
            ).with_columns(
                pl.col("as_of").dt.date().cast(pl.String).is_in(open_windows).alias("label_window_open")
            )
        else:
            table = pl.concat([build_features(raw, cutoff) for cutoff in cutoffs], how="vertical")
    if open_windows:
        console.print(
            f"[yellow]warning:[/] labels from {', '.join(open_windows)} have open windows "
            "(label_window_open is true on those rows)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    table.write_parquet(out)
    console.print(
        f"Wrote {table.height:,} rows x {table.width} columns to {out} "
        f"in {time.perf_counter() - started:.1f} s (cutoffs: {', '.join(c.date().isoformat() for c in cutoffs)})"
    )
