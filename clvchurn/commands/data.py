"""`clvchurn data ...`: produce raw CRM folders that follow the contract."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from clvchurn.commands.console import console

app = typer.Typer(no_args_is_help=True)


@app.command("synth")
def synth(
    customers: int = typer.Option(10_000, "--customers", min=1, help="Number of customers to generate."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives identical files."),
    out: Path = typer.Option(..., "--out", help="Folder to write the contract files into."),
) -> None:
    """Write a realistic synthetic customer base (contract files plus a ground-truth file)."""
    from features.synth import generate, write_synthetic

    started = time.perf_counter()
    with console.status(f"Generating {customers:,} customers..."):
        base = generate(n_customers=customers, seed=seed)
        paths = write_synthetic(base, out)
    console.print(
        f"Wrote {base.raw.transactions.height:,} transactions, {base.raw.interactions.height:,} "
        f"interactions and {base.raw.customers.height:,} customers to {out} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    for name, path in paths.items():
        console.print(f"  {name}: {path}")


@app.command("import-cdnow")
def import_cdnow_command(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CDNOW_master.txt"),
    out: Path = typer.Option(..., "--out", help="Folder to write the contract files into."),
) -> None:
    """Convert the CDNOW purchase log (Fader & Hardie) into the raw-data contract."""
    from features.sources.cdnow import import_cdnow

    paths = import_cdnow(path, out)
    for name, written in paths.items():
        console.print(f"{name}: {written}")
