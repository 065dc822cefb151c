"""`clvchurn data ...`: produce raw CRM folders that follow the contract, and check what one holds."""

from __future__ import annotations

import time
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from clvchurn.commands.console import console
from clvchurn.commands.loading import parse_cutoff

if TYPE_CHECKING:
    from features.contract import FileCounts
    from features.synth import SyntheticBase
    from training.data_check import DataCheck, Readiness

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
    campaigns: bool = typer.Option(
        False,
        "--campaigns",
        help="Also simulate past retention campaigns: the playbook assigns actions with random control groups "
        "at four dates and customers respond by who they are; writes actions.parquet and campaign_truth.parquet "
        "(each assigned customer's outcome with and without the action).",
    ),
) -> None:
    """Write a realistic synthetic customer base (contract files plus a ground-truth file)."""
    from domain.errors import CommandOptionError
    from features.synth import SyntheticShift, generate, write_synthetic

    shift = None
    if shift_after is not None:
        after = parse_cutoff(shift_after, "--shift-after").date()
        shift = SyntheticShift(kind=shift_kind.value, after=after, factor=shift_factor)
    elif shift_factor is not None:
        raise CommandOptionError(
            "--shift-factor needs --shift-after DATE: the date from which the change applies"
        )

    started = time.perf_counter()
    with console.status(f"Generating {customers:,} customers..."):
        base = generate(n_customers=customers, seed=seed, shift=shift)
        paths = write_synthetic(base, out)
    if campaigns:
        paths |= _write_campaigns(base, out, seed)
    console.print(
        f"Wrote {base.raw.transactions.height:,} transactions, {base.raw.interactions.height:,} "
        f"interactions and {base.raw.customers.height:,} customers to {out} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    for name, path in paths.items():
        console.print(f"  {name}: {path}")


def _write_campaigns(base: SyntheticBase, out: Path, seed: int) -> dict[str, Path]:
    """Run the synthetic campaigns on `base` with the configured playbook and control-group key."""
    from policy.experiments import ControlAssigner
    from policy.playbook import Playbook
    from serving.settings import load_settings
    from training.uplift.campaigns import run_synthetic_campaigns, write_campaigns

    with console.status("Simulating retention campaigns..."):
        result = run_synthetic_campaigns(
            base, Playbook.load(load_settings().playbook_path), ControlAssigner.from_settings(), seed=seed
        )
        paths = write_campaigns(result, out)
    console.print(
        f"Simulated campaigns on {', '.join(f'{day:%Y-%m-%d}' for day in result.dates)}: "
        f"{result.actions.height:,} actions, {(result.actions['group'] == 'control').sum():,} in control groups"
    )
    return paths


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


@app.command("import-csv")
def import_csv_command(
    path: Path = typer.Argument(..., help="CSV (also .csv.gz) or Excel (.xlsx, .xls, ...) export."),
    kind: str = typer.Option(
        ..., "--kind", help="The contract table it holds: transactions, interactions or customers."
    ),
    column_map: list[str] = typer.Option(
        [],
        "--map",
        help="contract_column=source_column pairs, comma-separated or repeated "
        "(e.g. customer_id=Client,timestamp=trans_date,amount=tran_amount).",
    ),
    date_format: str | None = typer.Option(
        None, "--date-format", help="strftime pattern of text dates, e.g. %m/%d/%Y (ISO dates always pass)."
    ),
    decimal_comma: bool = typer.Option(False, "--decimal-comma", help="Text numbers are written 1.234,56."),
    out: Path = typer.Option(..., "--out", help="Data folder to write <kind>.csv into."),
) -> None:
    """Turn any CSV or Excel export into one contract file, with the contract's validation and rejects."""
    from features.sources.csv_export import import_csv, parse_column_map

    started = time.perf_counter()
    with console.status(f"Importing {path}..."):
        result = import_csv(
            path,
            kind,  # type: ignore[arg-type]  # checked by import_csv, which names --kind
            out,
            parse_column_map(column_map),
            date_format=date_format,
            decimal_comma=decimal_comma,
        )
    console.print(_counts_table(f"{path.name} as {result.table}", [result.counts]))
    console.print(f"Wrote {result.path} in {time.perf_counter() - started:.1f} s")
    if result.ignored_columns:
        console.print(
            f"Columns not written (not in the {result.table} contract): {', '.join(result.ignored_columns)}"
        )
    if result.rejects_path is not None:
        console.print(
            f"[yellow]{result.counts.rejected:,} rejected rows with reasons in {result.rejects_path}[/]"
        )


@app.command("import-invoices")
def import_invoices_command(
    path: Path = typer.Argument(..., help="Invoice-line export, e.g. ../shared/data/online_retail.csv.gz."),
    out: Path = typer.Option(
        ..., "--out", help="Data folder to write transactions.csv and customers.csv into."
    ),
    column_map: list[str] = typer.Option(
        [],
        "--map",
        help="field=source_column over the UCI Online Retail defaults (invoice=InvoiceNo, customer_id=CustomerID, "
        "timestamp=InvoiceDate, quantity=Quantity, unit_price=UnitPrice, country=Country).",
    ),
    date_format: str | None = typer.Option(
        None, "--date-format", help="strftime pattern of text invoice dates."
    ),
    decimal_comma: bool = typer.Option(False, "--decimal-comma", help="Text numbers are written 1.234,56."),
) -> None:
    """Invoice lines to one transaction per invoice and customer (cancellations as refunds) plus customers."""
    from features.sources.csv_export import parse_column_map
    from features.sources.invoices import import_invoices

    started = time.perf_counter()
    with console.status(f"Importing invoice lines from {path}..."):
        result = import_invoices(
            path, out, parse_column_map(column_map), date_format=date_format, decimal_comma=decimal_comma
        )
    console.print(_counts_table(f"Invoice lines in {path.name}", [result.lines, *result.tables.values()]))
    console.print(
        f"Wrote {result.tables['transactions'].accepted:,} transactions ({result.refunds:,} refunds) of "
        f"{result.tables['customers'].accepted:,} customers to {out} in {time.perf_counter() - started:.1f} s"
    )
    if result.guest_lines:
        console.print(
            f"{result.guest_lines:,} guest lines (no customer id) cannot be attributed and were rejected"
        )
    if result.rejects_path is not None:
        console.print(
            f"[yellow]{result.lines.rejected:,} rejected lines with reasons in {result.rejects_path}[/]"
        )


@app.command("check")
def check_command(
    data: Path = typer.Argument(..., help="Raw CRM data folder."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Cutoff for populations and tiers (default: the day after the last event)."
    ),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the report as JSON."),
    lookback_days: int | None = typer.Option(
        None,
        "--lookback-days",
        min=1,
        help="Active = ordered within this many days (default: the playbook's dormant_after_days).",
    ),
    churn_horizon_days: int | None = typer.Option(
        None, "--churn-horizon-days", min=1, help="As for `clvchurn train` (default 180)."
    ),
    value_horizon_days: int | None = typer.Option(
        None, "--value-horizon-days", min=1, help="As for `clvchurn train` (default 365)."
    ),
    snapshots: int | None = typer.Option(
        None, "--snapshots", min=1, help="Fit cutoffs training would use (default 4)."
    ),
    step_days: int | None = typer.Option(
        None, "--step-days", min=1, help="Days between training cutoffs (default 90)."
    ),
    min_history_days: int | None = typer.Option(
        None, "--min-history-days", min=0, help="History a fit cutoff needs before it (default 180)."
    ),
    rejects: Path | None = typer.Option(None, "--rejects", help="Write the rejected rows with reasons here."),
) -> None:
    """Say, before anyone trains, what the data hold and whether each model can be trained honestly.

    Options left out take the defaults of `clvchurn train`; the lookback comes from the playbook
    (CLVCHURN_PLAYBOOK_PATH).
    """
    import json
    from dataclasses import replace

    from features.contract import load_raw, write_rejects
    from policy.playbook import Playbook
    from serving.settings import load_settings
    from training.data_check import CheckSettings, check_data

    defaults = CheckSettings(
        lookback_days=lookback_days or Playbook.load(load_settings().playbook_path).lifecycle.lookback_days
    )
    settings = replace(
        defaults,
        churn_horizon_days=_given(churn_horizon_days, defaults.churn_horizon_days),
        value_horizon_days=_given(value_horizon_days, defaults.value_horizon_days),
        snapshots=_given(snapshots, defaults.snapshots),
        step_days=_given(step_days, defaults.step_days),
        min_history_days=_given(min_history_days, defaults.min_history_days),
    )
    cutoff = parse_cutoff(as_of) if as_of else None
    started = time.perf_counter()
    with console.status(f"Checking {data}..."):
        loaded = load_raw(data)
        report = check_data(loaded.raw, cutoff, counts=loaded.counts, settings=settings)
    print_check(report)
    console.print(f"[dim]Checked in {time.perf_counter() - started:.1f} s[/]")
    if rejects is not None and write_rejects(loaded.rejects, rejects) is not None:
        console.print(f"Rejected rows with reasons: {rejects}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report.to_dict(), indent=2))
        console.print(f"Wrote {json_path}")


def _given(value: int | None, default: int) -> int:
    return default if value is None else value


def _counts_table(title: str, counts: Sequence[FileCounts]) -> Table:
    """Accepted and rejected rows per file, as the commands that load a data folder show them."""
    table = Table(title=title)
    table.add_column("file")
    table.add_column("accepted", justify="right")
    table.add_column("rejected", justify="right")
    for row in counts:
        table.add_row(row.file, f"{row.accepted:,}", f"{row.rejected:,}")
    return table


def print_check(report: DataCheck) -> None:
    """The report as four tables (data, files, models, tiers) and the advice, blocking first."""
    console.print(_overview_table(report))
    if report.files:
        files = Table(title="Files")
        for column in ("file", "accepted", "rejected", "rejected share"):
            files.add_column(column, justify="left" if column == "file" else "right")
        for f in report.files:
            files.add_row(f.file, f"{f.accepted:,}", f"{f.rejected:,}", f"{f.reject_share:.1%}")
        console.print(files)
    windows = ", ".join(
        f"{w.label} {w.horizon_days} days {'fits' if w.fits else 'does not fit'}" for w in report.windows
    )
    console.print(f"Label windows: {windows}.")
    for schedule in report.schedules.values():
        placed = (
            f"calibration {schedule.calibration.date()}, validation {schedule.validation.date()}, "
            f"{len(schedule.training)} fit cutoffs"
            if schedule.fits and schedule.calibration and schedule.validation
            else "does not fit"
        )
        console.print(
            f"Backtest of the {', '.join(schedule.models)} models ({schedule.horizon_days}-day labels): {placed}"
        )
    console.print(_readiness_table("Models: positives / negatives per snapshot", report.models))
    console.print(_readiness_table("Per approximate value tier", report.tier_models))
    for line in report.blocking:
        console.print(f"[bold red]blocking:[/] {line}")
    for readiness in (*report.models, *report.tier_models):
        if readiness.snapshots and (readiness.blocks_training or readiness.tier is not None):
            for line in readiness.advice:
                console.print(f"[{'bold red' if readiness.blocks_training else 'yellow'}]advice:[/] {line}")
    for line in report.notes:
        console.print(f"[yellow]note:[/] {line}")


def _overview_table(report: DataCheck) -> Table:
    span = report.span
    table = Table(title=f"Data as of {report.as_of.date() if report.as_of else 'n/a'}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    if span.first_event is not None and span.last_event is not None:
        table.add_row(
            "history", f"{span.first_event.date()} to {span.last_event.date()} ({span.days:.0f} days)"
        )
    table.add_row("customers", f"{report.customers:,}")
    for population, count in report.populations.items():
        table.add_row(f"  {population}", f"{count:,}")
    table.add_row("customers who ordered", f"{report.customers_who_ordered:,}")
    table.add_row("buyers with 2+ orders", f"{report.repeat_buyers:,}")
    for name, spread in (
        ("transactions", report.transactions_per_customer),
        ("interactions", report.interactions_per_customer),
    ):
        table.add_row(f"{name} per customer", f"median {spread.median:g}, p90 {spread.p90:g}")
    table.add_row(
        "tiers (approximate)", ", ".join(f"{tier} {count:,}" for tier, count in report.tiers.items())
    )
    return table


def _readiness_table(title: str, rows: Sequence[Readiness]) -> Table:
    table = Table(title=title)
    table.add_column("model")
    table.add_column("population")
    table.add_column("calibration", justify="right")
    table.add_column("validation", justify="right")
    table.add_column("minimum", justify="right")
    table.add_column("ready")
    table.add_column("if short")
    for row in rows:
        counts = {c.snapshot: f"{c.positives:,} / {c.negatives:,}" for c in row.snapshots}
        table.add_row(
            row.model if row.tier is None else f"{row.tier}: {row.model}",
            "/".join(row.populations) if len(row.populations) < 3 else "all",
            counts.get("calibration", "n/a"),
            counts.get("validation", "n/a"),
            str(row.minimum),
            "[green]yes[/]" if row.ready else "[red]no[/]",
            "stops training" if row.blocks_training else "base rate" if row.tier is None else "reported",
        )
    return table
