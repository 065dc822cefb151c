"""`clvchurn serve` and `clvchurn score`: the prediction API and the batch scorer."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Serving commands arrive with the serving issue."""
