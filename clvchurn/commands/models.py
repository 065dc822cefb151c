"""`clvchurn models show`: the champion model pair, as GET /v1/models describes it."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from clvchurn.commands.console import console

app = typer.Typer(no_args_is_help=True, help="Look at the registered model pairs.")


@app.command("show")
def show(
    as_json: bool = typer.Option(
        False, "--json", help="Print the description as JSON (GET /v1/models' keys)."
    ),
    alias: str = typer.Option("champion", "--alias", help="Which pair: champion or challenger."),
) -> None:
    """The pair's run id, version, and per model its horizon, `trained_through` and backtest."""
    from model_contract import load_pair
    from serving.model_info import describe_pair
    from serving.settings import load_settings

    info = describe_pair(load_pair(alias, load_settings().mlflow_tracking_uri))
    if as_json:
        typer.echo(json.dumps(info.model_dump(mode="json", exclude_none=False), indent=2))
        return
    console.print(
        f"{info.name} v{info.version} ({alias}), run {info.run_id}, trained {info.trained_at:%Y-%m-%d %H:%M} "
        f"on data up to {info.data_end:%Y-%m-%d}"
    )
    table = Table()
    for column in ("model", "horizon", "trained through", "backtest as of", "backtest metrics"):
        table.add_column(column)
    for name, model in info.models.items():
        metrics = ", ".join(f"{key} {value:.4f}" for key, value in list(model.backtest_metrics.items())[:4])
        table.add_row(
            name,
            f"{model.horizon_days} days",
            f"{model.trained_through:%Y-%m-%d}",
            f"{model.backtest_as_of:%Y-%m-%d}" if model.backtest_as_of else "-",
            model.fallback or metrics,
        )
    console.print(table)
    cuts = ", ".join(f"{tier} >= {value:,.2f}" for tier, value in info.tier_cut_points.items())
    console.print(
        f"Tiers ({info.tier_method}): {cuts}; minimum orders in 365 days: {info.tier_minimum_orders_365d or 'none'}"
    )
