"""`clvchurn db ...`: the service's database (prediction log, sessions, throttle, actions)."""

from __future__ import annotations

import typer

from clvchurn.commands.console import console

app = typer.Typer(no_args_is_help=True, help="Create or migrate the service's database.")


@app.command("upgrade")
def upgrade_command(
    url: str | None = typer.Option(
        None,
        "--url",
        help="SQLAlchemy URL of the database (default: CLVCHURN_DATABASE_URL, else "
        "sqlite:///artifacts/clvchurn.db). Prefer the variable for URLs holding a password.",
    ),
) -> None:
    """Create the tables or migrate them to this version's schema; safe to run again and from many hosts."""
    from serving.database import safe_url, upgrade
    from serving.settings import load_settings

    target = url if url is not None else load_settings().database_url.get_secret_value()
    revision = upgrade(target)
    console.print(f"Database at {safe_url(target)} is at schema revision {revision}.")
