"""The training tables with the order labels too: `TrainingTables` whose labelled tables also carry
`future_orders`, `future_next_order_at` and `future_days_to_next_order` (`features.build.build_order_labels`).

The `orders` and `next_order` models learn from them; every other model ignores them, and they are
never features (`features.build.ORDER_LABEL_COLUMNS` is left out of the feature columns, and any
`future_*` column is refused by the model matrix). Each cutoff's order labels are built once and kept,
like its features.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from features.build import KEY_COLUMNS, build_order_labels
from features.contract import RawData
from training.tables import TrainingTables


class OrderLabelledTables(TrainingTables):
    """`TrainingTables` whose `at(as_of)` (with labels) joins the order labels of that cutoff."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._labelled: dict[datetime, pl.DataFrame] = {}

    def at(self, as_of: datetime, labels: bool = True) -> pl.DataFrame:
        table = super().at(as_of, labels)
        if not labels:
            return table
        if as_of not in self._labelled:
            orders = build_order_labels(
                self._with_customers_of(table), as_of, self.churn_horizon_days, self.value_horizon_days
            )
            self._labelled[as_of] = table.join(orders, on=list(KEY_COLUMNS), how="left")
        return self._labelled[as_of]

    def _with_customers_of(self, table: pl.DataFrame) -> RawData:
        """`raw` whose customers are the table's: a table builder (Spark) may hand `train` a history of
        transactions only, whose population would miss the table's prospects."""
        customers = table.select(
            pl.col("customer_id"),
            pl.lit(None, dtype=self.raw.customers.schema["signup_date"]).alias("signup_date"),
        ).unique()
        return RawData(self.raw.transactions, customers, self.raw.interactions.clear())
