"""Console output shared by the commands: one rich console for results and progress.

Errors are not printed here: commands raise `domain.errors.ClvchurnError` and `clvchurn.cli.main`
turns it into one line on stderr.
"""

from __future__ import annotations

from rich.console import Console

console = Console()
