"""`clvchurn export`: the snapshot as a CSV or JSON-lines file for a CRM, optionally pushed to a webhook."""

from __future__ import annotations

from pathlib import Path

import typer

from clvchurn.commands.console import console
from clvchurn.commands.loading import parse_cutoff


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def export(
    export_format: str = typer.Option(..., "--format", help="csv or jsonl."),
    out: Path = typer.Option(..., "--out", help="File to write."),
    snapshot: Path | None = typer.Option(
        None,
        "--snapshot",
        help="Snapshot to export (default: the one the service serves, CLVCHURN_SNAPSHOT_PATH).",
    ),
    changed_since: str | None = typer.Option(
        None,
        "--changed-since",
        help="Only customers whose tier, stage, tags or action changed since the snapshot of this cutoff "
        "in the snapshot history that clvchurn score files.",
    ),
    history: Path | None = typer.Option(
        None,
        "--history",
        help="Snapshot history folder (default CLVCHURN_MONITOR_HISTORY_PATH or artifacts/history).",
    ),
    lang: str = typer.Option("en", "--lang", help="Language of labels, action texts and reasons (en or zh)."),
    push: bool = typer.Option(
        True, "--push/--no-push", help="Also POST the rows to CLVCHURN_WEBHOOK_URL when it is set."
    ),
) -> None:
    """Write per customer tier, stage, population, tags, probabilities, value, value at risk, action,
    owner, account manager, due date and the top reasons in words; see serving/export.py."""
    from domain.errors import CommandOptionError
    from domain.vocabulary import LANGUAGES
    from monitoring.settings import load_monitoring_settings
    from serving.export import (
        EXPORT_FORMATS,
        export_rows,
        write_export,
    )
    from serving.export import (
        changed_since as changed_since_snapshot,
    )
    from serving.history import read_history_snapshot
    from serving.settings import load_settings
    from serving.snapshot_store import SnapshotStore
    from serving.text import Texts
    from serving.webhook import WebhookPusher

    if export_format not in EXPORT_FORMATS:
        raise CommandOptionError(f"--format {export_format!r}: give one of {', '.join(EXPORT_FORMATS)}")
    if lang not in LANGUAGES:
        raise CommandOptionError(f"--lang {lang!r}: give one of {', '.join(LANGUAGES)}")
    settings = load_settings()
    pusher = WebhookPusher.from_settings(settings) if push else None
    path = snapshot or settings.snapshot_path
    frame = SnapshotStore(path).frame()
    selected = frame
    if changed_since is not None:
        history_dir = history or load_monitoring_settings().history_path
        previous = read_history_snapshot(history_dir, parse_cutoff(changed_since, "--changed-since"))
        selected = changed_since_snapshot(frame, previous)
    rows = export_rows(selected, lang, Texts.load(settings.playbook_path))  # type: ignore[arg-type]
    written = write_export(rows, export_format, out)  # type: ignore[arg-type]
    since = f" changed since {changed_since}" if changed_since else ""
    console.print(f"Exported {written:,} of {frame.height:,} customers{since} to {out}")
    if pusher is not None:
        thread = pusher.push_in_background(rows, done=lambda report: _print_push(report, pusher.url))
        thread.join()


def _print_push(report: object, url: str) -> None:
    from serving.webhook import PushReport

    assert isinstance(report, PushReport)
    console.print(
        f"Pushed {report.delivered_rows:,} rows in {report.delivered_batches} of {report.batches} batches to {url}"
        + (f"; {report.failed_batches} given up: {report.failures[0]}" if report.failures else "")
    )
