"""The `clvchurn` command: one entry point whose groups mirror the packages.

Heavy libraries (polars, LightGBM, MLflow) are imported inside each command so that `--help` is instant.
"""

from __future__ import annotations

import logging

import typer

from clvchurn.commands import data, database, features, serving, training

app = typer.Typer(
    name="clvchurn",
    help="Customer lifetime value, churn risk, explanations and retention actions from raw CRM data.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(data.app, name="data", help="Create or convert raw CRM data into the clvchurn contract.")
app.add_typer(features.app, name="features", help="Build point-in-time features and labels.")
app.add_typer(database.app, name="db", help="Create or migrate the service's database.")
training.register(app)
serving.register(app)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details.")) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
