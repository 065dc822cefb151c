"""`clvchurn data ...`: produce raw CRM folders that follow the contract."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path

import typer

from clvchurn.commands.console import console, fail
from clvchurn.commands.loading import parse_cutoff

app = typer.Typer(no_args_is_help=True)


class ShiftKindOption(StrEnum):
    """The drift scenarios of `--shift-kind` (`features.synth.shift.ShiftKind`)."""

    price = "price"
    engagement = "engagement"
    hazard = "hazard"


@app.command("synth")
def synth(
    customers: int = typer.Option(10_000, "--customers", min=1, help="Number of customers to generate."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives identical files."),
    out: Path = typer.Option(..., "--out", help="Folder to write the contract files into."),
    shift_after: str | None = typer.Option(
        None,
        "--shift-after",
        help="Drift scenario: from this date (YYYY-MM-DD) on, change what --shift-kind says; "
        "events before it stay as without the option.",
    ),
    shift_kind: ShiftKindOption = typer.Option(
        ShiftKindOption.price,
        "--shift-kind",
        help="price: orders cost 0.8x; engagement: visits, email opens and clicks, calls and meetings "
        "fall to a quarter; hazard: churn hazard of small companies doubled (features/synth/shift.py).",
    ),
    shift_factor: float | None = typer.Option(
        None,
        "--shift-factor",
        help="Size of the change instead of the kind's default (price 0.8, engagement 0.25, hazard 2).",
    ),
) -> None:
    """Write a realistic synthetic customer base (contract files plus a ground-truth file)."""
    from domain.errors import SyntheticDataError
    from features.synth import SyntheticShift, generate, write_synthetic

    shift = None
    if shift_after is not None:
        after = parse_cutoff(shift_after, "--shift-after").date()
        shift = SyntheticShift(kind=shift_kind.value, after=after, factor=shift_factor)
    elif shift_factor is not None:
        fail("--shift-factor needs --shift-after DATE: the date from which the change applies")

    started = time.perf_counter()
    with console.status(f"Generating {customers:,} customers..."):
        try:
            base = generate(n_customers=customers, seed=seed, shift=shift)
        except SyntheticDataError as error:
            fail(str(error))
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
