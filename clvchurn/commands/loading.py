"""Loading a raw CRM folder from a command: validate, quarantine rejects, report counts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rich.table import Table

from clvchurn.commands.console import console
from domain.errors import CommandOptionError
from features.contract import RawData


def parse_cutoff(value: str, option: str = "--as-of") -> datetime:
    """An ISO date or datetime for a cutoff option, in naive UTC like the data (a time zone is converted,
    not dropped), with an error that names the option."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandOptionError(f"{option} '{value}' is not an ISO date such as 2025-07-01") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def load_data_folder(data_dir: Path, rejects_path: Path) -> RawData:
    """Load and validate `data_dir`; rejected rows go to `rejects_path`, counts go to the console."""
    from features.contract import load_raw, write_rejects

    with console.status(f"Loading {data_dir}..."):
        result = load_raw(data_dir)
    table = Table(title=f"Raw data in {data_dir}")
    table.add_column("file")
    table.add_column("accepted", justify="right")
    table.add_column("rejected", justify="right")
    for counts in result.counts.values():
        table.add_row(counts.file, f"{counts.accepted:,}", f"{counts.rejected:,}")
    console.print(table)
    written = write_rejects(result.rejects, rejects_path)
    if written is not None:
        console.print(f"[yellow]{result.rejects.height:,} rejected rows with reasons in {written}[/]")
    return result.raw
