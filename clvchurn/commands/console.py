"""Console output shared by the commands: one rich console and the way errors end a command."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

console = Console()
error_console = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """End the command with a readable message instead of a traceback."""
    error_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=2)
