"""The `clvchurn` command: one entry point whose groups mirror the packages.

Heavy libraries (polars, LightGBM, MLflow) are imported inside each command so that `--help` is instant.
Every error clvchurn raises on purpose (`domain.errors.ClvchurnError`) ends the command here, once: one
line on stderr naming what is wrong and how to fix it, exit code 2, no traceback. `--debug` (or
CLVCHURN_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from clvchurn.commands import actions, data, database, export, features, models, monitoring, serving, training
from domain.errors import ClvchurnError

DEBUG_VARIABLE = "CLVCHURN_DEBUG"

app = typer.Typer(
    name="clvchurn",
    help="Customer lifetime value, churn risk, explanations and retention actions from raw CRM data.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(data.app, name="data", help="Create or convert raw CRM data into the clvchurn contract.")
app.add_typer(features.app, name="features", help="Build point-in-time features and labels.")
app.add_typer(database.app, name="db", help="Create or migrate the service's database.")
app.add_typer(models.app, name="models", help="Look at the registered model pairs.")
training.register(app)
serving.register(app)
monitoring.register(app)
actions.register(app)
export.register(app)


@app.callback()
def configure(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details."),
    debug: bool = typer.Option(
        False, "--debug", help=f"Show the traceback of an error (or set {DEBUG_VARIABLE}=1)."
    ),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # MLflow sets up its own logger when imported (later, inside the commands) from this variable.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "INFO" if verbose else "ERROR")


def main(argv: list[str] | None = None) -> None:
    """Run the command line; a `ClvchurnError` becomes one line on stderr and exit code 2."""
    arguments = sys.argv[1:] if argv is None else argv
    try:
        app(args=arguments, prog_name="clvchurn")
    except ClvchurnError as error:
        if "--debug" in arguments or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0"):
            raise
        sys.stderr.write(f"error: {one_line(error)}\n")
        sys.exit(2)


def one_line(error: BaseException) -> str:
    """The error's message on one line (a multi-line message, like a playbook's, joined by '; ')."""
    return "; ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__


if __name__ == "__main__":
    main()
