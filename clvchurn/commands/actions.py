"""`clvchurn actions export` and `clvchurn evaluate actions`: the actions taken and what they achieved."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from clvchurn.commands.console import console
from clvchurn.commands.loading import load_data_folder, parse_cutoff

actions_app = typer.Typer(no_args_is_help=True, help="Retention actions reported to the service.")
evaluate_app = typer.Typer(no_args_is_help=True, help="Measure what the retention actions achieved.")


def register(app: typer.Typer) -> None:
    app.add_typer(actions_app, name="actions")
    app.add_typer(evaluate_app, name="evaluate")


@actions_app.command("export")
def export_command(
    out: Path = typer.Option(
        ..., "--out", help="Actions file to write (.csv or .parquet), e.g. data/actions.csv."
    ),
    since: str | None = typer.Option(None, "--since", help="Only actions assigned on or after this date."),
) -> None:
    """Write the actions reported by POST /v1/actions (CLVCHURN_DATABASE_URL) as a data folder's actions file."""
    from domain.errors import CommandOptionError
    from monitoring.action_records import ActionRecords, export_actions
    from serving.database import open_database, require_current_schema
    from serving.settings import load_settings

    if out.suffix not in (".csv", ".parquet"):
        raise CommandOptionError(f"--out {out} must end in .csv or .parquet (the actions file's formats)")
    engine = open_database(load_settings().database_url.get_secret_value())
    try:
        require_current_schema(engine)
        written = export_actions(
            ActionRecords(engine), out, parse_cutoff(since, "--since") if since else None
        )
    finally:
        engine.dispose()
    console.print(f"Wrote {written:,} actions to {out}")


@evaluate_app.command("actions")
def evaluate_actions_command(
    data: Path = typer.Option(..., "--data", help="Raw CRM data folder with an actions file."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Count outcome windows closed by this date (default: the data end)."
    ),
    json_path: Path = typer.Option(
        ..., "--json", help="Evaluation JSON to write (read by the /actions page)."
    ),
    html_path: Path | None = typer.Option(
        None, "--html", help="Also write the evaluation as an HTML report."
    ),
) -> None:
    """For every action with closed outcomes: treatment against control, uplift with a 95% interval, value,
    cost, return and the target."""
    from features.actions_contract import load_actions
    from features.build import data_end
    from features.contract import write_rejects
    from monitoring.actions_report import write_html_report
    from policy.action_settings import load_action_settings
    from policy.evaluation import evaluate_actions
    from policy.playbook import Playbook
    from serving.settings import load_settings

    raw = load_data_folder(data, Path("artifacts") / "evaluate.rejects.csv")
    loaded = load_actions(data)
    if loaded.counts is not None:
        console.print(
            f"{loaded.counts.file}: {loaded.counts.accepted:,} accepted, {loaded.counts.rejected:,} rejected"
        )
    written = write_rejects(loaded.rejects, Path("artifacts") / "actions.rejects.csv")
    if written is not None:
        console.print(f"[yellow]{loaded.rejects.height:,} rejected actions with reasons in {written}[/]")
    cutoff = parse_cutoff(as_of) if as_of else data_end(raw)
    assert cutoff is not None  # load_raw refuses a folder without transactions
    playbook = Playbook.load(load_settings().playbook_path)
    started = time.perf_counter()
    evaluation = evaluate_actions(
        loaded.actions, raw.transactions, playbook, cutoff, load_action_settings().period_days
    )
    seconds = time.perf_counter() - started
    evaluation.write(json_path)
    console.print(_table(evaluation))
    console.print(
        f"Evaluated {len(evaluation.actions)} actions as of {cutoff:%Y-%m-%d} in {seconds:.1f} s: {json_path}"
    )
    if html_path is not None:
        write_html_report(evaluation, html_path)
        console.print(f"HTML report: {html_path}")


def _table(evaluation: object) -> Table:
    from policy.evaluation import ActionsEvaluation

    assert isinstance(evaluation, ActionsEvaluation)
    table = Table(
        title=f"Actions as of {evaluation.as_of:%Y-%m-%d} (uplift: treatment - control, 95% interval)"
    )
    for column in (
        "action",
        "treated",
        "control",
        "rate T",
        "rate C",
        "uplift [95%]",
        "return",
        "target",
        "met",
    ):
        table.add_column(column, justify="left" if column == "action" else "right")
    for action in evaluation.actions:
        uplift = "n/a (no control)"
        if action.uplift is not None:
            uplift = f"{action.uplift:+.3f} [{action.uplift_ci_low:+.3f}, {action.uplift_ci_high:+.3f}]"
        table.add_row(
            action.action_id,
            f"{action.n_treatment:,}",
            f"{action.n_control:,}",
            _rate(action.success_rate_treatment),
            _rate(action.success_rate_control),
            uplift,
            "" if action.roi is None else f"{action.roi:+.2f}",
            _rate(action.kpi.target),
            "" if action.kpi.met is None else ("yes" if action.kpi.met else "no"),
        )
    return table


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"
