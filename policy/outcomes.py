"""What happened after each action: orders and net spend in its success window, and whether it succeeded.

An action assigned at t is judged on the window [t, t + days) of its playbook `success` definition, for
the treatment and the control group alike: the comparison is by intention to treat (Gerber & Green,
"Field Experiments", 2012, ch. 5), so a contact made late (`taken_at`) or not at all still counts for
its group, and the two groups are compared over the same days. A window is closed when it ends on or
before the evaluation cutoff; only closed windows have an outcome.

Per action row: `orders_in_window` (orders, i.e. positive amounts), `net_spend_in_window` (orders minus
refunds) and `net_spend_before` (net spend in the same number of days before t). Success is
- `order_within_days`: at least one order in the window;
- `net_spend_within_days`: net spend in the window positive and at least `min_amount`;
- `renewal`: net spend in the window positive and at least `net_spend_before`.
The synthetic campaigns' ground truth records the same three numbers with and without the action, so
`success` judges the truth exactly as it judges the data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import polars as pl

from policy.playbook import Playbook, Success

DEFAULT_SUCCESS: Final = Success(metric="order_within_days", days=60)
"""How an action the playbook does not define (any more) is judged: an order within 60 days, no target."""
WINDOW_COLUMNS: Final = ("orders_in_window", "net_spend_in_window", "net_spend_before")


def with_success_definitions(actions: pl.DataFrame, playbook: Playbook) -> pl.DataFrame:
    """`actions` with each row's `metric`, `window_days`, `min_amount`, `target` and `known_action`
    (whether the playbook defines it) from its action's success definition."""
    definitions = {
        action_id: action.success or DEFAULT_SUCCESS for action_id, action in playbook.actions().items()
    }
    ids = sorted(set(actions["action_id"].unique().to_list()))
    table = pl.DataFrame(
        {
            "action_id": ids,
            "metric": [definitions.get(i, DEFAULT_SUCCESS).metric for i in ids],
            "window_days": [definitions.get(i, DEFAULT_SUCCESS).days for i in ids],
            "min_amount": [definitions.get(i, DEFAULT_SUCCESS).min_amount for i in ids],
            "target": [definitions[i].target if i in definitions else None for i in ids],
            "known_action": [i in definitions for i in ids],
        },
        schema={
            "action_id": pl.String,
            "metric": pl.String,
            "window_days": pl.Int64,
            "min_amount": pl.Float64,
            "target": pl.Float64,
            "known_action": pl.Boolean,
        },
    )
    return actions.join(table, on="action_id", how="left", maintain_order="left")


def window_outcomes(actions: pl.DataFrame, transactions: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """`actions` (with `window_days`, from `with_success_definitions`) plus `window_end`, `closed` and
    the `WINDOW_COLUMNS`, in row order; events at or after `as_of` are never counted."""
    numbered = actions.with_row_index("_action_row").with_columns(
        (pl.col("assigned_at") + pl.duration(days=pl.col("window_days"))).alias("window_end"),
        (pl.col("assigned_at") - pl.duration(days=pl.col("window_days"))).alias("_window_before"),
    )
    customers = numbered["customer_id"].unique()
    events = transactions.lazy().filter(
        pl.col("customer_id").is_in(customers.implode()) & (pl.col("timestamp") < as_of)
    )
    moment, amount = pl.col("timestamp"), pl.col("amount")
    in_window = (moment >= pl.col("assigned_at")) & (moment < pl.col("window_end"))
    before = (moment >= pl.col("_window_before")) & (moment < pl.col("assigned_at"))
    sums = (
        numbered.lazy()
        .select("_action_row", "customer_id", "assigned_at", "window_end", "_window_before")
        .join(events.select("customer_id", "timestamp", "amount"), on="customer_id", how="inner")
        .filter(in_window | before)
        .group_by("_action_row")
        .agg(
            (in_window & (amount > 0)).sum().cast(pl.Int64).alias("orders_in_window"),
            pl.when(in_window).then(amount).otherwise(0.0).sum().alias("net_spend_in_window"),
            pl.when(before).then(amount).otherwise(0.0).sum().alias("net_spend_before"),
        )
    )
    return (
        numbered.lazy()
        .join(sums, on="_action_row", how="left")
        .with_columns(
            pl.col("orders_in_window").fill_null(0),
            pl.col("net_spend_in_window").fill_null(0.0),
            pl.col("net_spend_before").fill_null(0.0),
            (pl.col("window_end") <= as_of).alias("closed"),
        )
        .sort("_action_row")
        .drop("_action_row", "_window_before")
        .collect()
    )


def success_expr(
    metric: pl.Expr | str = "metric",
    orders: pl.Expr | str = "orders_in_window",
    net_spend: pl.Expr | str = "net_spend_in_window",
    net_spend_before: pl.Expr | str = "net_spend_before",
    min_amount: pl.Expr | str = "min_amount",
) -> pl.Expr:
    """Whether each row succeeded by its metric (module docstring), from columns or expressions."""
    metric, orders, net_spend, net_spend_before, min_amount = (
        pl.col(value) if isinstance(value, str) else value
        for value in (metric, orders, net_spend, net_spend_before, min_amount)
    )
    return (
        pl.when(metric == "order_within_days")
        .then(orders > 0)
        .when(metric == "net_spend_within_days")
        .then((net_spend > 0) & (net_spend >= min_amount))
        .otherwise((net_spend > 0) & (net_spend >= net_spend_before))
        .alias("success")
    )
